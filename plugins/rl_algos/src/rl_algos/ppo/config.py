"""PPO's config schema: every key with its default, type, range and meaning.

Defaults follow RLlib 2018's PPO (``ppo.py`` DEFAULT_CONFIG) where it had the key; the loss is
Schulman et al. 2017 ("Proximal Policy Optimization Algorithms"): clipped surrogate (eq. 7),
value loss, entropy bonus and an adaptive KL penalty (section 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlcore.config_aliases import Alias
from rlcore.config_schema import COMMON_SCHEMA, Field, Schema, model_policy_schema


def _minibatch_fits(c: Mapping[str, Any]) -> str | None:
    if c["sgd_minibatch_size"] <= c["train_batch_size"]:
        return None
    return (
        f"sgd_minibatch_size ({c['sgd_minibatch_size']}) exceeds train_batch_size ({c['train_batch_size']}): "
        "a minibatch is a part of the train batch; lower sgd_minibatch_size or raise train_batch_size"
    )


_TF_DEBUG = (
    "rlcore has no TensorFlow timeline or debugger hooks (a non-finite loss raises NonFiniteLossError); remove it"
)

#: RLlib 2018 names of PPO's keys (ray 0.4 ``ppo/ppo.py``, ray 0.5-0.6 ``agents/ppo/ppo.py``).
ALIASES_2018: dict[str, Alias] = {
    "sgd_batchsize": Alias("sgd_minibatch_size"),
    "sgd_stepsize": Alias("lr"),
    "timesteps_per_batch": Alias("train_batch_size"),
    "min_steps_per_task": Alias(
        "rollout_fragment_length",
        "ray 0.4 sampled whole episodes of at least this many steps per task: add batch_mode: complete_episodes",
    ),
    "vf_share_layers": Alias("model.vf_share_layers"),
    "use_gae": Alias(
        None,
        "rlcore's PPO always uses GAE with a value function (lambda: 1.0 gives Monte-Carlo returns with the "
        "value baseline); remove the key",
        no_effect=(True,),
    ),
    "devices": Alias(
        None,
        "rlcore places the SGD towers itself: num_gpus GPUs, else num_cpu_towers CPU towers; remove the key",
        no_effect=(["/cpu:0"],),
    ),
    "straggler_mitigation": Alias(
        None, "rlcore waits for every worker's samples each iteration; remove the key", no_effect=(False,)
    ),
    "write_logs": Alias(None, "rlcore always writes its results folder; remove the key", no_effect=(True,)),
    "extra_frameskip": Alias(
        None, "wrap the env in a frame-skip wrapper (register it with rlcore) instead", no_effect=(1,)
    ),
    "rollout_batchsize": Alias(
        None, "rlcore batches one forward pass over the num_envs_per_worker envs; remove the key", no_effect=(1,)
    ),
    "full_trace_nth_sgd_batch": Alias(None, _TF_DEBUG, no_effect=(-1,)),
    "full_trace_data_load": Alias(None, _TF_DEBUG, no_effect=(False,)),
    "tf_debug_iteration": Alias(None, _TF_DEBUG, no_effect=(-1,)),
    "tf_debug_inf_or_nan": Alias(None, _TF_DEBUG, no_effect=(False,)),
}

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
            "sgd_minibatch_size": Field(
                128,
                "rows per SGD step (over all devices); a recurrent model's minibatches are whole sequences, "
                "grouped up to about this many rows",
                int,
                min=1,
            ),
            "simple_optimizer": Field(
                False,
                "True: LocalSyncOptimizer; False: LocalMultiGPUOptimizer (batch loaded once per device). A recurrent "
                "model (model.use_lstm) always uses the LocalSyncOptimizer, whose minibatches are whole sequences",
                bool,
            ),
            # devices
            "num_gpus": Field(0, "GPUs for the learner (LocalMultiGPUOptimizer towers)", float, min=0),
            "num_cpu_towers": Field(1, "CPU towers when no GPU is used", int, min=1),
        },
        checks=[_minibatch_fits],
        aliases=ALIASES_2018,
    )
)

#: PPO's defaults (``SCHEMA.defaults()``).
DEFAULT_CONFIG = SCHEMA.defaults()
