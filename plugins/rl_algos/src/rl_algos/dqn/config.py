"""DQN's config schema: every key with its default, type, range and meaning.

Defaults follow RLlib 2018's DQN (``dqn.py`` DEFAULT_CONFIG, "Rainbow-lite"): double Q (van
Hasselt et al. 2016), dueling heads (Wang et al. 2016), n-step returns, proportional prioritized
replay (Schaul et al. 2016) and a periodically copied target network (Mnih et al. 2015).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    )
)

#: DQN's defaults (``SCHEMA.defaults()``).
DEFAULT_CONFIG = SCHEMA.defaults()
