"""The ``PG`` algorithm: config schema, numpy postprocessing and trainer (REINFORCE with baseline).

A third-party algorithm plugs in exactly like rl_algos' PPO and DQN: a :class:`~rlcore.trainer.Trainer`
subclass that names its config schema, its postprocessing function, the policy it needs (by
registry key: ``("PG", framework)``) and the optimizer (by registry key: ``LocalSyncOptimizer``
from rlcore-optimizers). No core change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlcore.config_schema import COMMON_SCHEMA, Field, Schema
from rlcore.policy import Policy
from rlcore.rollout_evaluator import postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment, postprocess_gae
from rlcore.trainer import Trainer

#: PG's config: the common keys plus its own.
SCHEMA: Schema = COMMON_SCHEMA | Schema(
    {
        "framework": Field("numpy", "framework of the policy (a registered one)", str),
        "num_envs_per_worker": Field(4, "vectorized envs per evaluator", int, min=1),
        "rollout_fragment_length": Field(32, "env steps per env per sample() call", int, min=1),
        "train_batch_size": Field(256, "rows per SGD step (gathered from all workers)", int, min=1),
        "lr": Field(0.5, "SGD step size", float, min=0, min_exclusive=True),
        "vf_coeff": Field(0.5, "weight of the value loss", float, min=0),
    }
)


@postprocessing(needs_next_obs=False)
def postprocess_pg(fragment: Fragment, policy: Policy, config: Mapping[str, Any]) -> SampleBatch:
    """Monte-Carlo returns with the value baseline: GAE with lambda = 1 (bootstrapped from
    ``policy.compute_values`` on truncation and at the fragment's end, not on termination)."""
    return postprocess_gae(fragment, policy.compute_values, gamma=float(config["gamma"]), lambda_=1.0)


#: The batch columns PG's loss reads (the policy's ``loss_columns``; the kit compares them).
LOSS_COLUMNS: tuple[str, ...] = ("obs", "actions", "advantages", "value_targets")


def pg_loss(policy: Policy, batch: SampleBatch) -> dict[str, float]:
    """PG's loss in float64 from the Policy contract alone (the reference the kit checks policies
    against): ``policy_loss = -mean(logp(a|s) * A_norm)`` with advantages standardized over the
    batch, ``vf_loss = 0.5 * mean((V(s) - G)^2)``, ``loss = policy_loss + vf_coeff * vf_loss``."""
    _, _, extras = policy.compute_actions(np.asarray(batch["obs"]), None, False)
    logits = np.asarray(extras["action_dist_inputs"], np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    adv = np.asarray(batch["advantages"], np.float64)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(adv) > 1 else adv
    policy_loss = -np.mean(logp[np.arange(len(adv)), batch["actions"]] * adv)
    vf_loss = 0.5 * np.mean((np.asarray(extras["vf_preds"], np.float64) - batch["value_targets"]) ** 2)
    entropy = -(np.exp(logp) * logp).sum(axis=1).mean()
    return {
        "loss": float(policy_loss + float(policy.config["vf_coeff"]) * vf_loss),
        "policy_loss": float(policy_loss),
        "vf_loss": float(vf_loss),
        "entropy": float(entropy),
    }


class PG(Trainer):
    """Vanilla policy gradient: sample ``train_batch_size`` rows, one SGD step on them."""

    name = "PG"
    config_schema = SCHEMA
    default_config = SCHEMA.defaults()
    postprocessing = "rlcore_numpy_example.algorithm:postprocess_pg"
    reference_loss = "rlcore_numpy_example.algorithm:pg_loss"

    def setup(self) -> None:
        """The policy of ``("PG", config["framework"])`` in rollout evaluators, and LocalSyncOptimizer."""
        self.build_evaluators("PG")
        self.build_optimizer(
            "LocalSyncOptimizer",
            {"train_batch_size": self.config["train_batch_size"], "num_sgd_iter": 1, "seed": self.config["seed"]},
        )
