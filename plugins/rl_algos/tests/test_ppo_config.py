"""PPO's algorithm-level logic: documented defaults, the adaptive KL rule, clear wiring errors."""

from __future__ import annotations

import pytest

import rlcore
from rl_algos.ppo import DEFAULT_CONFIG, PPO, update_kl_coeff
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.loss_config import PPO_LOSS_DEFAULTS
from rlcore.testing.envs import make_corridor
from rlcore.trainer import COMMON_CONFIG


def test_defaults_cover_common_and_loss_keys():
    assert set(COMMON_CONFIG) | set(PPO_LOSS_DEFAULTS) <= set(DEFAULT_CONFIG)
    assert DEFAULT_CONFIG["metrics_smoothing_episodes"] == 100
    assert DEFAULT_CONFIG["framework"] == "torch" and DEFAULT_CONFIG["num_workers"] == 0


@pytest.mark.parametrize(
    ("kl", "expected"),
    [(0.05, 0.3), (0.021, 0.3), (0.02, 0.2), (0.01, 0.2), (0.005, 0.2), (0.0049, 0.1)],
)
def test_kl_coefficient_rule(kl, expected):
    assert update_kl_coeff(0.2, kl, 0.01) == pytest.approx(expected)


def test_unknown_key_suggests(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError, match="Did you mean 'num_sgd_iter'"):
        PPO({"num_sgd_iters": 3}, env="Corridor-v0")


def test_missing_framework_plugin_names_the_distribution(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(UnknownNameError, match=r"PPO/tf.*pip install rlcore-tf"):
        PPO({"framework": "tf"}, env="Corridor-v0")
