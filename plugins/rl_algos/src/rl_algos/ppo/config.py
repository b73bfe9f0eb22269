"""PPO's config schema: every key with its default, type, range and meaning.

Defaults follow RLlib 2018's PPO (``ppo.py`` DEFAULT_CONFIG) where it had the key; the loss is
Schulman et al. 2017 ("Proximal Policy Optimization Algorithms"): clipped surrogate (eq. 7),
value loss, entropy bonus and an adaptive KL penalty (section 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlcore.config_schema import COMMON_SCHEMA, Field, Schema, model_policy_schema


def _minibatch_fits(c: Mapping[str, Any]) -> str | None:
    if c["sgd_minibatch_size"] <= c["train_batch_size"]:
        return None
    return (
        f"sgd_minibatch_size ({c['sgd_minibatch_size']}) exceeds train_batch_size ({c['train_batch_size']}): "
        "a minibatch is a part of the train batch; lower sgd_minibatch_size or raise train_batch_size"
    )


#: PPO's config schema (the common keys plus PPO's own).
SCHEMA: Schema = (
    COMMON_SCHEMA
    | model_policy_schema(lr=3e-4, adam_epsilon=1e-5)
    | Schema(
        {
            # loss
            "clip_param": Field(
                0.2, "surrogate clip epsilon: the ratio is clipped to [1 - c, 1 + c]", float, min=0, min_exclusive=True
            ),
            "vf_clip_param": Field(
                None,
                "clip of the value change from vf_preds in the value loss (None: unclipped)",
                float,
                min=0,
                min_exclusive=True,
                nullable=True,
            ),
            "vf_loss_coeff": Field(0.5, "weight of the value loss", float, min=0),
            "entropy_coeff": Field(0.0, "weight of the entropy bonus", float, min=0),
            "kl_coeff": Field(
                0.2, "initial coefficient of the KL penalty (0: no penalty, no adaptation)", float, min=0
            ),
            "kl_target": Field(
                0.01,
                "KL target: the coefficient x1.5 above 2x target, x0.5 below half",
                float,
                min=0,
                min_exclusive=True,
            ),
            "grad_clip": Field(
                None, "global-norm gradient clip (None: off)", float, min=0, min_exclusive=True, nullable=True
            ),
            # postprocessing
            "lambda": Field(0.95, "GAE lambda (1.0: Monte-Carlo returns with a value baseline)", float, min=0, max=1),
            # SGD
            "train_batch_size": Field(4000, "rows per training iteration, gathered from all workers", int, min=1),
            "num_sgd_iter": Field(10, "SGD epochs over each train batch", int, min=1),
            "sgd_minibatch_size": Field(128, "rows per SGD step (over all devices)", int, min=1),
            "simple_optimizer": Field(
                False, "True: LocalSyncOptimizer; False: LocalMultiGPUOptimizer (batch loaded once per device)", bool
            ),
            # devices
            "num_gpus": Field(0, "GPUs for the learner (LocalMultiGPUOptimizer towers)", float, min=0),
            "num_cpu_towers": Field(1, "CPU towers when no GPU is used", int, min=1),
        },
        checks=[_minibatch_fits],
    )
)

#: PPO's defaults (``SCHEMA.defaults()``).
DEFAULT_CONFIG = SCHEMA.defaults()
