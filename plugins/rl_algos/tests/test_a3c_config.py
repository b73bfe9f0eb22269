"""A3C's and A2C's config: RLlib 2018's defaults where kept, every key documented, bad values refused
before an env is built (grads_per_step above all), every 2018 alias of theirs, the trainers' wiring
(registered names, the A3C policy behind A2C) without a framework installed."""

from __future__ import annotations

import warnings

import pytest

import rlcore
from rl_algos.a3c import A2C, A2C_DEFAULT_CONFIG, A2C_SCHEMA, A3C, DEFAULT_CONFIG, SCHEMA
from rl_algos.a3c.config import A3C_ONLY_KEYS
from rlcore.config import merge_config
from rlcore.config_aliases import RLlib2018Warning, forget_said
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.registration import get_algorithm_class, resolve_evaluator
from rlcore.testing.envs import make_corridor
from rlcore.trainer import COMMON_CONFIG

SCHEMAS = {"A3C": SCHEMA, "A2C": A2C_SCHEMA}


def merged(algo: str, config: dict) -> dict:
    """``config`` translated, merged over the defaults and validated, as the trainer does first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        return SCHEMAS[algo].merge(config, owner=algo)


# -- defaults and documentation ---------------------------------------------------------------------


def test_defaults_are_rllib_2018s_a3c_where_kept():
    expected = {
        "rollout_fragment_length": 10,  # sample_batch_size (0.4 batch_size)
        "lambda": 1.0,
        "gamma": 0.99,
        "lr": 1e-4,
        "lr_schedule": None,
        "adam_epsilon": 1e-8,  # tf.train.AdamOptimizer's
        "grad_clip": 40.0,
        "vf_loss_coeff": 0.5,
        "entropy_coeff": 0.01,  # 0.6's sign; 0.4-0.5's -0.01 is translated
        "grads_per_step": 100,  # optimizer.grads_per_step
        "observation_filter": "NoFilter",
        "ignore_worker_failures": False,
    }
    assert {k: DEFAULT_CONFIG[k] for k in expected} == expected
    assert DEFAULT_CONFIG["num_workers"] == 0 and DEFAULT_CONFIG["model"] == {}  # rlcore's (documented)
    assert set(COMMON_CONFIG) <= set(DEFAULT_CONFIG)


def test_a2c_is_a3c_without_the_async_optimizer_keys():
    assert set(A2C_DEFAULT_CONFIG) == set(DEFAULT_CONFIG) - set(A3C_ONLY_KEYS)
    assert A2C_DEFAULT_CONFIG["rollout_fragment_length"] == 20 and A2C_DEFAULT_CONFIG["train_batch_size"] == 200
    same = set(A2C_DEFAULT_CONFIG) - {"rollout_fragment_length", "train_batch_size"}
    assert {k: A2C_DEFAULT_CONFIG[k] for k in same} == {k: DEFAULT_CONFIG[k] for k in same}


@pytest.mark.parametrize("algo", ["A3C", "A2C"])
def test_every_key_is_documented_typed_and_its_default_valid(algo):
    schema = SCHEMAS[algo]
    for key, field in schema.fields.items():
        assert field.doc and field.type is not None, key
        assert field.error(field.default) is None, key
    schema.validate(schema.defaults(), owner=algo)


def test_the_config_module_documents_the_loss_scale_and_the_entropy_sign():
    from rl_algos.a3c import config

    doc = config.__doc__
    assert "RLlib 2018's A3C used *sums*" in doc and "*means*" in doc
    assert "sign is flipped" in doc


def test_the_trainers_are_registered_with_their_schemas():
    assert get_algorithm_class("A3C") is A3C and get_algorithm_class("A2C") is A2C
    assert A3C.config_schema is SCHEMA and A2C.config_schema is A2C_SCHEMA
    assert A3C.policy_algorithm == A2C.policy_algorithm == "A3C"
    assert A2C.postprocessing == A3C.postprocessing == "rl_algos.a3c.postprocessing:postprocess_a3c"
    assert A2C.reference_loss == A3C.reference_loss == "rl_algos.a3c.reference_loss:a3c_loss"


# -- bad values, before an env is built -------------------------------------------------------------


def _never_built(env_config):
    raise AssertionError("the env was built before the config was checked")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (0, "is out of range"),
        (-1, "is out of range"),
        (1.5, "is not an int"),
        (2.0, "is not an int (write 2, without the decimal point)"),
        (True, "is not an int"),
        ("3", "is not an int"),
        (None, "is not optional"),
    ],
)
def test_grads_per_step_must_be_an_int_of_at_least_one(rlcore_registry, value, why):
    rlcore.register_env("NeverBuilt-v0", _never_built)
    with pytest.raises(ConfigError) as info:
        A3C({"grads_per_step": value}, env="NeverBuilt-v0")
    assert str(info.value).startswith(
        f"A3C config key 'grads_per_step' {why}: got {value!r}; allowed: an int, grads_per_step >= 1 (gradients"
    )


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_grads_per_step_under_its_2018_names_is_checked_too(value):
    with pytest.raises(ConfigError, match=r"^A3C config key 'optimizer' \(RLlib 2018 name of 'grads_per_step'\) is"):
        merged("A3C", {"optimizer": {"grads_per_step": value}})
    with pytest.raises(ConfigError, match=r"'num_batches_per_iteration' \(RLlib 2018 name of 'grads_per_step'\) is"):
        merged("A3C", {"num_batches_per_iteration": value})


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("ignore_worker_failures", 1, "is not True or False"),
        ("ignore_worker_failures", "yes", "is not True or False"),
        ("grad_clip", 0.0, "is out of range"),
        ("lambda", 1.5, "is out of range"),
        ("vf_loss_coeff", -0.5, "is out of range"),
        ("entropy_coeff", "0.01", "is not a number"),
        ("entropy_coeff", float("-inf"), "is not finite"),  # as given (a 2018 sign flip would show inf)
        ("entropy_coeff", float("nan"), "is not finite"),
        ("rollout_fragment_length", 0, "is out of range"),
        ("lr", 0.0, "is out of range"),
    ],
)
def test_bad_values_name_the_key_and_value(key, value, why):
    with pytest.raises(ConfigError, match=rf"^A3C config key '{key}' {why}: got {value!r}"):
        merged("A3C", {key: value})


def test_a_negative_entropy_coeff_reaching_the_schema_directly_is_out_of_range():
    with pytest.raises(ConfigError, match=r"'entropy_coeff' is out of range: got -0.1; allowed: a number >= 0"):
        SCHEMA.validate({**DEFAULT_CONFIG, "entropy_coeff": -0.1}, owner="A3C")


@pytest.mark.parametrize("key", A3C_ONLY_KEYS)
def test_a2c_refuses_the_a3c_only_keys_as_unknown(rlcore_registry, key):
    rlcore.register_env("NeverBuilt-v0", _never_built)
    with pytest.raises(ConfigError, match=rf"A2C.*unknown config key '{key}'|unknown config key '{key}'"):
        A2C({key: DEFAULT_CONFIG[key]}, env="NeverBuilt-v0")
    with pytest.raises(ConfigError, match=rf"^A2C unknown config key '{key}': it is A3C's .*remove it, or run A3C$"):
        A2C({key: DEFAULT_CONFIG[key]}, env="NeverBuilt-v0")  # not a near name's hint (grad_clip for grads_per_step)


def test_a2c_checks_its_own_keys(rlcore_registry):
    rlcore.register_env("NeverBuilt-v0", _never_built)
    with pytest.raises(ConfigError, match=r"^A2C config key 'train_batch_size' is out of range: got 0"):
        A2C({"train_batch_size": 0}, env="NeverBuilt-v0")


# -- RLlib 2018 names ---------------------------------------------------------------------------------


def test_optimizer_grads_per_step_is_grads_per_step():
    with pytest.warns(RLlib2018Warning, match=r"'optimizer' is now 'grads_per_step'"):
        config = merge_config(DEFAULT_CONFIG, SCHEMA.translate({"optimizer": {"grads_per_step": 50}}, owner="A3C"))
    assert config["grads_per_step"] == 50 and "optimizer" not in config
    assert merged("A3C", {"optimizer": {}})["grads_per_step"] == 100  # 2018's AsyncGradientsOptimizer default
    assert merged("A3C", {"optimizer": {"grads_per_step": 7}, "grads_per_step": 7})["grads_per_step"] == 7


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"grads_per_step": 5, "max_weight_sync_delay": 400}, "has keys rlcore's AsyncOptimizer does not take"),
        ([5], "is not a mapping"),
        (5, "is not a mapping"),
    ],
)
def test_optimizer_that_is_not_a3cs_is_refused(value, why):
    with pytest.raises(ConfigError, match=rf"'optimizer' \(RLlib 2018 name of 'grads_per_step'\) {why}"):
        merged("A3C", {"optimizer": value})


def test_two_names_for_grads_per_step_with_different_values_are_refused():
    with pytest.raises(ConfigError, match=r"both given, with different values: 50 and 20"):
        merged("A3C", {"optimizer": {"grads_per_step": 50}, "grads_per_step": 20})
    with pytest.raises(ConfigError, match=r"'num_batches_per_iteration' .* and 'optimizer' .* both given"):
        merged("A3C", {"optimizer": {"grads_per_step": 50}, "num_batches_per_iteration": 20})


def test_ray_04_batch_size_and_num_batches_per_iteration():
    config = merged("A3C", {"batch_size": 20, "num_batches_per_iteration": 30})
    assert (config["rollout_fragment_length"], config["grads_per_step"]) == (20, 30)
    with pytest.raises(
        ConfigError, match=r"'sample_batch_size' \(RLlib 2018 name of 'rollout_fragment_length'\) and 'batch"
    ):
        merged("A3C", {"batch_size": 20, "sample_batch_size": 10})


@pytest.mark.parametrize("algo", ["A3C", "A2C"])
def test_a_negative_2018_entropy_coeff_has_its_sign_flipped(algo):
    with pytest.warns(RLlib2018Warning, match=r"RLlib 2018 value of config key 'entropy_coeff' translated"):
        config = merge_config(SCHEMAS[algo].defaults(), SCHEMAS[algo].translate({"entropy_coeff": -0.01}, owner=algo))
    assert config["entropy_coeff"] == 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error", RLlib2018Warning)
        assert SCHEMAS[algo].translate({"entropy_coeff": 0.02}, owner=algo) == {"entropy_coeff": 0.02}
        assert SCHEMAS[algo].translate({"entropy_coeff": 0}, owner=algo) == {"entropy_coeff": 0}
    grid = SCHEMAS[algo].translate({"entropy_coeff": {"grid_search": [-0.01, 0.0, 0.02]}}, owner=algo)
    assert grid == {"entropy_coeff": {"grid_search": [0.01, 0.0, 0.02]}}
    with pytest.raises(ConfigError, match=rf"^{algo} config key 'entropy_coeff' is not a number: got True"):
        merged(algo, {"entropy_coeff": True})


def test_ray_04_top_level_use_lstm_is_model_use_lstm():
    with pytest.warns(RLlib2018Warning, match=r"'use_lstm' is now 'model.use_lstm'"):
        out = SCHEMA.translate({"use_lstm": True, "model": {"lstm_cell_size": 64}}, owner="A3C")
    assert out == {"model": {"lstm_cell_size": 64, "use_lstm": True}}
    with pytest.raises(ConfigError, match=r"'use_lstm' \(RLlib 2018 name of 'model.use_lstm'\) and 'model.use_lstm'"):
        merged("A3C", {"use_lstm": True, "model": {"use_lstm": False}})


@pytest.mark.parametrize(
    ("algo", "key", "accepted", "refused"),
    [
        ("A3C", "sample_async", [True, False], "sometimes"),
        ("A2C", "sample_async", [False], True),
        ("A3C", "summarize", [False, True], "yes"),
        ("A2C", "summarize", [False, True], 1),
        ("A3C", "use_gpu_for_workers", [False], True),
        ("A2C", "use_gpu_for_workers", [False], True),
        ("A3C", "min_iter_time_s", [0, 1, 5], 10),
        ("A2C", "min_iter_time_s", [0, 1, 10], 5),
    ],
)
def test_keys_without_a_counterpart_accept_what_rlcore_does(algo, key, accepted, refused):
    for value in accepted:
        forget_said()  # the line is said once per process
        with pytest.warns(RLlib2018Warning, match=rf"'{key}' has no effect in rlcore"):
            assert key not in SCHEMAS[algo].translate({key: value}, owner=algo)
    with pytest.raises(ConfigError, match=rf"^{algo} config key '{key}' is an RLlib 2018 key whose feature"):
        merged(algo, {key: refused})


def test_a2c_has_no_ray_04_a3c_names():
    for key in ("batch_size", "num_batches_per_iteration", "use_lstm"):
        assert key not in A2C_SCHEMA.aliases
    with pytest.raises(ConfigError, match=r"'optimizer' is an RLlib 2018 key whose feature rlcore does not have"):
        merged("A2C", {"optimizer": {"grads_per_step": 5}})


def test_the_common_2018_names_stay():
    config = merged("A3C", {"sample_batch_size": 20, "use_pytorch": False})
    assert (config["rollout_fragment_length"], config["framework"]) == (20, "tf")
    assert merged("A2C", {"sample_batch_size": 5})["rollout_fragment_length"] == 5


# -- wiring without a framework -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [A3C, A2C])
def test_a_missing_framework_plugin_names_the_a3c_policy_to_install(rlcore_registry, cls):
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(UnknownNameError, match=r"A3C/tf"):
        cls({"framework": "tf"}, env="Corridor-v0")


def test_a2c_policies_are_asked_for_as_a3cs_with_a_hint():
    with pytest.raises(UnknownNameError) as info:
        resolve_evaluator("A2C", "torch")
    msg = str(info.value)
    assert "unknown policy 'A2C/torch'" in msg
    assert "The A2C trainer has no policies of its own: it trains those registered for 'A3C'" in msg
    assert "rlcore check-evaluator A3C" in msg
    with pytest.raises(UnknownNameError) as info:
        resolve_evaluator("NoSuchAlgo", "torch")
    assert "has no policies of its own" not in str(info.value)


def test_an_experiment_file_points_at_a_bad_grads_per_step(tmp_path):
    from rlcore.experiments import load_experiments

    path = tmp_path / "a3c.yaml"
    path.write_text(
        "a3c-2018:\n    env: CartPole-v1\n    run: A3C\n    config:\n        num_workers: 0\n"
        "        optimizer:\n            grads_per_step: 0\n"
    )
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:6: experiment 'a3c-2018': A3C config key 'optimizer' (RLlib 2018 name of "), msg
    assert "is out of range: got {'grads_per_step': 0} (grads_per_step 0); allowed: an int, grads_per_step >= 1" in msg
