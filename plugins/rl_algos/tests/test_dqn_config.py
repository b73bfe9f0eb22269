"""DQN's algorithm-level wiring: documented defaults, config validation, clear wiring errors."""

from __future__ import annotations

import pytest

import rlcore
from rl_algos.dqn import DEFAULT_CONFIG, DQN
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.testing.envs import make_corridor
from rlcore.trainer import COMMON_CONFIG


def test_defaults_cover_common_loss_and_replay_keys():
    loss_keys = {"lr", "adam_epsilon", "hiddens", "dueling", "double_q", "n_step", "grad_clip", "huber_delta"}
    assert set(COMMON_CONFIG) | loss_keys <= set(DEFAULT_CONFIG)
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
    with pytest.raises(UnknownNameError, match=r"DQN/torch.*rlcore-torch.*pip install .*./plugins/rl_torch"):
        DQN({}, env="Corridor-v0")


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("n_step", 0, "out of range"),
        ("grad_clip", 0.0, "out of range"),
        ("huber_delta", -1.0, "out of range"),
        ("huber_delta", 0.0, "out of range"),
        ("lr", 0.0, "out of range"),
        ("adam_epsilon", -1.0, "out of range"),
        ("hiddens", [64, 0], "positive ints"),
        ("hiddens", 64, "not a list"),
        ("exploration_final_eps", 1.5, "out of range"),
        ("buffer_size", 0, "out of range"),
        ("prioritized_replay_beta", 2.0, "out of range"),
        ("training_intensity", 0, "out of range"),
        ("dueling", 1, "not True or False"),
    ],
)
def test_bad_values_are_refused_at_construction_naming_the_key(rlcore_registry, key, value, why):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError, match=rf"DQN config key '{key}' .*{why}"):
        DQN({key: value}, env="Corridor-v0")


def test_a_train_batch_larger_than_the_buffer_is_refused_before_anything_is_built(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError, match=r"DQN config: train_batch_size \(64\) exceeds buffer_size \(32\)"):
        DQN({"train_batch_size": 64, "buffer_size": 32, "learning_starts": 0}, env="Corridor-v0")
