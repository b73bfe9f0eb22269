"""DQN's algorithm-level wiring: documented defaults, config validation, clear wiring errors."""

from __future__ import annotations

import pytest

import rlcore
from rl_algos.dqn import DEFAULT_CONFIG, DQN
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.loss_config import DQN_LOSS_DEFAULTS
from rlcore.testing.envs import make_corridor
from rlcore.trainer import COMMON_CONFIG


def test_defaults_cover_common_loss_and_replay_keys():
    assert set(COMMON_CONFIG) | set(DQN_LOSS_DEFAULTS) <= set(DEFAULT_CONFIG)
    assert DEFAULT_CONFIG["dueling"] and DEFAULT_CONFIG["double_q"] and DEFAULT_CONFIG["prioritized_replay"]
    assert DEFAULT_CONFIG["hiddens"] == [256]


def test_learning_starts_beyond_buffer_is_rejected_at_construction(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError, match=r"learning_starts \(2000\) exceeds buffer_size \(1000\)"):
        DQN({"learning_starts": 2000, "buffer_size": 1000}, env="Corridor-v0")


def test_unknown_key_and_missing_framework(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError, match="Did you mean 'target_network_update_freq'"):
        DQN({"target_network_update_frequency": 3}, env="Corridor-v0")
    with pytest.raises(UnknownNameError, match=r"DQN/torch.*pip install rlcore-torch"):
        DQN({}, env="Corridor-v0")
