"""DQN's config schema: every key with its default, type, range and meaning.

Defaults follow RLlib 2018's DQN (``dqn.py`` DEFAULT_CONFIG, "Rainbow-lite"): double Q (van
Hasselt et al. 2016), dueling heads (Wang et al. 2016), n-step returns, proportional prioritized
replay (Schaul et al. 2016) and a periodically copied target network (Mnih et al. 2015).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from rlcore.config_aliases import Alias, int_at_least, number_between
from rlcore.config_schema import COMMON_SCHEMA, Field, Schema, model_policy_schema, positive_int_list


def _replay_sizes_fit(c: Mapping[str, Any]) -> str | None:
    if c["learning_starts"] > c["buffer_size"]:
        return (
            f"learning_starts ({c['learning_starts']}) exceeds buffer_size ({c['buffer_size']}): learning would "
            "never start. Lower learning_starts or raise buffer_size."
        )
    if c["train_batch_size"] > c["buffer_size"]:
        return (
            f"train_batch_size ({c['train_batch_size']}) exceeds buffer_size ({c['buffer_size']}): a replayed "
            "batch cannot be larger than the buffer. Lower train_batch_size or raise buffer_size."
        )
    return None


def _exploration_timesteps(v: Mapping[str, Any]) -> int:
    """RLlib 2018 annealed epsilon over ``exploration_fraction x schedule_max_timesteps`` steps."""
    return max(1, round(v["exploration_fraction"] * v["schedule_max_timesteps"]))


_EXPLORATION = Alias(
    "exploration_timesteps",
    "exploration_timesteps = exploration_fraction x schedule_max_timesteps (2018 defaults 0.1 and 100000)",
    together=("exploration_fraction", "schedule_max_timesteps"),
    defaults={"exploration_fraction": 0.1, "schedule_max_timesteps": 100000},
    fold=_exploration_timesteps,
)
_DISTRIBUTIONAL = "rlcore's DQN has no distributional (C51) or noisy-net head; remove the key"
_APEX = (
    "an Ape-X key: DQN has one replay buffer and one annealed epsilon; for per-worker epsilons and priorities "
    "computed on the workers run APEX (rlcore train --run APEX), or remove the key"
)

#: RLlib 2018 names of DQN's keys (ray 0.4 ``dqn/dqn.py``, ray 0.5-0.6 ``agents/dqn/dqn.py``).
ALIASES_2018: dict[str, Alias] = {
    "grad_norm_clipping": Alias("grad_clip"),
    "exploration_fraction": replace(
        _EXPLORATION, check=number_between(0, 1), allowed="a number, 0 <= exploration_fraction <= 1"
    ),
    "schedule_max_timesteps": replace(
        _EXPLORATION, check=int_at_least(1), allowed="an int, schedule_max_timesteps >= 1"
    ),
    "prioritized_replay_beta0": Alias(
        "prioritized_replay_beta", "ray 0.4 annealed beta from this value to 1.0; rlcore keeps it constant"
    ),
    "prioritized_replay_beta_iters": Alias(
        None, "rlcore keeps prioritized_replay_beta constant (no annealing to 1.0); remove the key"
    ),
    "beta_annealing_fraction": Alias(
        None, "rlcore keeps prioritized_replay_beta constant (no annealing); remove the key"
    ),
    "final_prioritized_replay_beta": Alias(
        None, "rlcore keeps prioritized_replay_beta constant (no annealing); remove the key"
    ),
    "sgd_batch_size": Alias(
        None,
        "ray 0.4 split each replayed train_batch_size into minibatches of this size; rlcore takes one SGD step "
        "per replayed batch of train_batch_size rows (training_intensity sets how many)",
    ),
    "num_atoms": Alias(None, _DISTRIBUTIONAL, no_effect=(1,)),
    "v_min": Alias(None, _DISTRIBUTIONAL, no_effect=(-10.0,)),
    "v_max": Alias(None, _DISTRIBUTIONAL, no_effect=(10.0,)),
    "noisy": Alias(None, _DISTRIBUTIONAL, no_effect=(False,)),
    "sigma0": Alias(None, _DISTRIBUTIONAL, no_effect=(0.5,)),
    "parameter_noise": Alias(None, "rlcore's DQN explores epsilon-greedily only; remove the key", no_effect=(False,)),
    "per_worker_exploration": Alias(None, _APEX, no_effect=(False,)),
    "worker_side_prioritization": Alias(None, _APEX, no_effect=(False,)),
    "gpu": Alias(None, "rlcore's DQN learns on the CPU; remove the key", no_effect=(False,)),
    "use_gpu_for_workers": Alias(None, "rlcore's workers act on the CPU; remove the key", no_effect=(False,)),
    "async_updates": Alias(
        None, "rlcore's DQN learns in the trainer from one replay buffer; remove the key", no_effect=(False,)
    ),
    "multi_gpu_optimize": Alias(None, "rlcore's DQN learns on the CPU; remove the key", no_effect=(False,)),
    "num_sgd_iter": Alias(
        None, "ray 0.4 DQN read it in multi-GPU mode only; set training_intensity instead", no_effect=(1,)
    ),
    "devices": Alias(
        None, "ray 0.4 DQN read it in multi-GPU mode only; remove the key", no_effect=(["/gpu:0"], ["/cpu:0"])
    ),
    "optimizer_class": Alias(
        None,
        "rlcore's DQN uses its LocalSyncReplayOptimizer; remove the key",
        no_effect=("LocalSyncReplayOptimizer", "SyncLocalOptimizer"),
    ),
}

#: DQN's config schema (the common keys plus DQN's own).
SCHEMA: Schema = (
    COMMON_SCHEMA
    | model_policy_schema(lr=5e-4, adam_epsilon=1e-8)
    | Schema(
        {
            # loss and model
            "hiddens": Field(
                [256],
                "hidden ReLU layers of the Q head, after the model's fcnet_hiddens trunk",
                list,
                check=positive_int_list,
                what="a list of positive ints",
            ),
            "dueling": Field(True, "dueling head: Q = V + A - mean_a A", bool),
            "double_q": Field(True, "double Q: the online network picks the target's action", bool),
            "n_step": Field(1, "steps summed into each TD target", int, min=1),
            "grad_clip": Field(
                40.0, "global-norm gradient clip (None: off)", float, min=0, min_exclusive=True, nullable=True
            ),
            "huber_delta": Field(1.0, "Huber loss threshold on the TD error", float, min=0, min_exclusive=True),
            # exploration
            "exploration_initial_eps": Field(
                1.0, "epsilon of epsilon-greedy acting at timestep 0", float, min=0, max=1
            ),
            "exploration_final_eps": Field(0.02, "epsilon after exploration_timesteps", float, min=0, max=1),
            "exploration_timesteps": Field(10000, "sampled steps over which epsilon anneals linearly", int, min=1),
            # sampling and replay
            "rollout_fragment_length": Field(4, "env steps per env per sample() call", int, min=1),
            "timesteps_per_iteration": Field(1000, "sampled steps per train() iteration, at least", int, min=1),
            "buffer_size": Field(50000, "replay capacity (transitions)", int, min=1),
            "learning_starts": Field(1000, "sampled steps before learning starts", int, min=0),
            "train_batch_size": Field(32, "rows per SGD step, replayed", int, min=1),
            "training_intensity": Field(
                None,
                "replayed rows per sampled row (None: one SGD step per sampling round)",
                float,
                min=0,
                min_exclusive=True,
                nullable=True,
            ),
            "prioritized_replay": Field(True, "proportional prioritized replay", bool),
            "prioritized_replay_alpha": Field(0.6, "priority exponent alpha", float, min=0),
            "prioritized_replay_beta": Field(0.4, "importance-sampling exponent beta", float, min=0, max=1),
            "prioritized_replay_eps": Field(
                1e-6, "added to |TD error| to make a priority", float, min=0, min_exclusive=True
            ),
            "target_network_update_freq": Field(500, "sampled steps between target network copies", int, min=1),
        },
        checks=[_replay_sizes_fit],
        aliases=ALIASES_2018,
    )
)

#: DQN's defaults (``SCHEMA.defaults()``).
DEFAULT_CONFIG = SCHEMA.defaults()
