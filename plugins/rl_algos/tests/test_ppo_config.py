"""PPO's algorithm-level logic: documented defaults, the adaptive KL rule, clear wiring errors."""

from __future__ import annotations

import pytest

import rlcore
from rl_algos.ppo import DEFAULT_CONFIG, PPO, update_kl_coeff
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.testing.envs import make_corridor
from rlcore.trainer import COMMON_CONFIG


def test_defaults_cover_common_and_loss_keys():
    loss_keys = {"lr", "lr_schedule", "adam_epsilon", "clip_param", "vf_clip_param", "vf_loss_coeff", "entropy_coeff"}
    assert set(COMMON_CONFIG) | loss_keys | {"kl_coeff", "grad_clip", "lambda"} <= set(DEFAULT_CONFIG)
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
    with pytest.raises(UnknownNameError, match=r"PPO/tf.*rlcore-tf.*pip install -c constraints.txt ./plugins/rl_tf"):
        PPO({"framework": "tf"}, env="Corridor-v0")


def test_every_key_is_documented_typed_and_its_default_valid():
    from rl_algos.ppo import SCHEMA

    assert set(SCHEMA.fields) == set(DEFAULT_CONFIG)
    for key, field in SCHEMA.fields.items():
        assert field.doc, key
        assert field.error(field.default) is None, key
    SCHEMA.validate(DEFAULT_CONFIG)


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("lr", 0.0, "out of range"),
        ("lr", "fast", "not a number"),
        ("clip_param", -0.1, "out of range"),
        ("vf_clip_param", 0.0, "out of range"),
        ("grad_clip", -1.0, "out of range"),
        ("num_cpu_towers", 0, "out of range"),
        ("num_cpu_towers", 1.5, "not an int"),
        ("adam_epsilon", 0.0, "out of range"),
        ("num_sgd_iter", 2.5, "not an int"),
        ("sgd_minibatch_size", True, "not an int"),
        ("lambda", 1.5, "out of range"),
        ("gamma", -0.1, "out of range"),
        ("lr_schedule", [[10, 0.1], [0, 0.0]], "non-decreasing timesteps"),
        ("lr_schedule", "0.1", "not a list"),
        ("simple_optimizer", "yes", "not True or False"),
        ("observation_filter", "Mean", "one of"),
        ("entropy_coeff", float("nan"), "not finite"),
        ("num_workers", -1, "out of range"),
    ],
)
def test_bad_values_are_refused_at_construction_naming_the_key(rlcore_registry, key, value, why):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError, match=rf"PPO config key '{key}' .*{why}"):
        PPO({key: value}, env="Corridor-v0")


def test_a_minibatch_larger_than_the_train_batch_is_refused(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(
        ConfigError, match=r"PPO config: sgd_minibatch_size \(100000\) exceeds train_batch_size \(4000\)"
    ):
        PPO({"sgd_minibatch_size": 100000}, env="Corridor-v0")


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [  # PPO's own keys among the issue's cases (the common keys' are in core/tests/test_config_values.py)
        ("lr", "0.001", "is not a number"),
        ("lambda", -1, "is out of range"),
        ("kl_coeff", -1, "is out of range"),
        ("num_sgd_iter", 0, "is out of range"),
        ("entropy_coeff", "high", "is not a number"),
        ("lr_schedule", [[0.5, 1e-3]], "must have timesteps that are ints >= 0"),
        ("num_gpus", -1, "is out of range"),
        ("vf_loss_coeff", None, "is not optional"),
    ],
)
def test_the_issue_cases_name_key_value_and_range(rlcore_registry, key, value, why):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError) as info:
        PPO({key: value}, env="Corridor-v0")
    assert str(info.value).startswith(f"PPO config key {key!r} {why}"), str(info.value)
    assert f"got {value!r}; allowed: " in str(info.value)


def test_the_gamma_message_reads_as_a_range(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError) as info:
        PPO({"gamma": 2.0}, env="Corridor-v0")
    assert str(info.value) == (
        "PPO config key 'gamma' is out of range: got 2.0; allowed: a number, 0 <= gamma <= 1 (discount factor)"
    )


def test_model_keys_are_checked_by_ppo_too(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError, match=r"^PPO config key 'model\.fcnet_activation' is not one of the choices"):
        PPO({"model": {"fcnet_activation": "Relu"}}, env="Corridor-v0")
    with pytest.raises(ConfigError, match=r"^PPO config key 'model\.fcnet_hiddens' must hold positive ints: got \[0\]"):
        PPO({"model": {"fcnet_hiddens": [0]}}, env="Corridor-v0")


def test_num_gpus_above_the_visible_gpus_is_refused(rlcore_registry, monkeypatch):
    rlcore.register_env("Corridor-v0", make_corridor)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ConfigError, match=r"^PPO config key 'num_gpus' asks for more GPUs .*got 1; .*0 visible"):
        PPO({"num_gpus": 1}, env="Corridor-v0")
