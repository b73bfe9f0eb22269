"""PPO's trainer (Schulman et al. 2017), RLlib's 2018 layout.

The rollout evaluator samples with the framework's PPO policy and postprocesses with GAE
(:mod:`rl_algos.ppo.postprocessing`); the optimizer (``LocalMultiGPUOptimizer`` by default,
``LocalSyncOptimizer`` with ``simple_optimizer``, and always for a recurrent model: ``model.use_lstm``,
whose minibatches are whole sequences) standardizes advantages over the train batch and runs SGD
epochs; this trainer adapts the KL coefficient after every iteration.
"""

from __future__ import annotations

from typing import Any

from rl_algos.ppo.config import DEFAULT_CONFIG, SCHEMA
from rlcore.trainer import Trainer


class PPO(Trainer):
    """PPO: on-policy actor-critic with a clipped surrogate objective and adaptive KL penalty."""

    name = "PPO"
    config_schema = SCHEMA
    default_config = DEFAULT_CONFIG
    postprocessing = "rl_algos.ppo.postprocessing:postprocess_ppo"
    reference_loss = "rl_algos.ppo.reference_loss:ppo_loss"

    def setup(self) -> None:
        """Build the evaluators of ``config["framework"]`` and the optimizer."""
        cfg = self.config
        self.build_evaluators("PPO")
        self.kl_coeff = float(cfg["kl_coeff"])
        # a recurrent model's batch is minibatched in whole sequences (SampleBatch.minibatches with
        # seq_lens), which the LocalSyncOptimizer keeps; the multi-GPU one splits rows per device
        recurrent = bool(cfg["model"].get("use_lstm"))
        optimizer = "LocalSyncOptimizer" if cfg["simple_optimizer"] or recurrent else "LocalMultiGPUOptimizer"
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
