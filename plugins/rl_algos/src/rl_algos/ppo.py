"""Proximal Policy Optimization (Schulman et al. 2017), RLlib's 2018 layout.

The evaluator of the chosen framework samples and computes the clipped-surrogate loss; the
optimizer (``LocalMultiGPUOptimizer`` by default, ``LocalSyncOptimizer`` with
``simple_optimizer``) standardizes advantages over the train batch and runs SGD epochs; this
trainer adapts the KL coefficient after every iteration.
"""

from __future__ import annotations

from typing import Any

from rlcore.loss_config import PPO_LOSS_DEFAULTS
from rlcore.trainer import COMMON_CONFIG, Trainer

#: PPO's config: every key with its default. Loss keys come from ``rlcore.loss_config``.
DEFAULT_CONFIG: dict[str, Any] = {
    **COMMON_CONFIG,
    **PPO_LOSS_DEFAULTS,
    # GAE lambda (1.0 = Monte-Carlo returns with a value baseline).
    "lambda": 0.95,
    # Target of the adaptive KL penalty: kl_coeff grows x1.5 above 2x target, shrinks x0.5 below half.
    "kl_target": 0.01,
    # Rows per training iteration (gathered from all workers), epochs over them, rows per SGD step.
    "train_batch_size": 4000,
    "num_sgd_iter": 10,
    "sgd_minibatch_size": 128,
    # True: LocalSyncOptimizer (minibatches converted per step); False: LocalMultiGPUOptimizer
    # (batch loaded once onto each device: GPUs when num_gpus > 0, else num_cpu_towers CPU towers).
    "simple_optimizer": False,
    "rollout_fragment_length": 200,
}


class PPO(Trainer):
    """PPO: on-policy actor-critic with a clipped surrogate objective and adaptive KL penalty."""

    name = "PPO"
    default_config = DEFAULT_CONFIG

    def setup(self) -> None:
        """Build the evaluators of ``config["framework"]`` and the optimizer."""
        cfg = self.config
        self.build_evaluators("PPO")
        self.kl_coeff = float(cfg["kl_coeff"])
        optimizer = "LocalSyncOptimizer" if cfg["simple_optimizer"] else "LocalMultiGPUOptimizer"
        self.build_optimizer(
            optimizer,
            {
                "train_batch_size": cfg["train_batch_size"],
                "num_sgd_iter": cfg["num_sgd_iter"],
                "sgd_minibatch_size": cfg["sgd_minibatch_size"],
                "standardize_fields": ["advantages"],
                "seed": cfg["seed"],
            },
        )

    def step(self) -> dict[str, Any]:
        """One optimizer round, then the KL coefficient update (sent to every evaluator)."""
        info = self.optimizer.step()
        kl = info.get("kl")
        if kl is not None and self.config["kl_coeff"] > 0:
            self.kl_coeff = update_kl_coeff(self.kl_coeff, float(kl), float(self.config["kl_target"]))
            self.set_global_vars({"kl_coeff": self.kl_coeff})
        info["kl_coeff"] = self.kl_coeff
        return info

    def extra_state(self) -> dict[str, Any]:
        """The adaptive KL coefficient (checkpointed with the trainer)."""
        return {"kl_coeff": self.kl_coeff}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""
        self.kl_coeff = float(state.get("kl_coeff", self.kl_coeff))


def update_kl_coeff(coeff: float, kl: float, target: float) -> float:
    """RLlib's adaptive KL rule: x1.5 when ``kl > 2 * target``, x0.5 when ``kl < target / 2``."""
    if kl > 2.0 * target:
        return coeff * 1.5
    if kl < 0.5 * target:
        return coeff * 0.5
    return coeff
