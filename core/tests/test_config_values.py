"""Config values: every key of every core schema typed and ranged, refused with the key, the value
and what is allowed, at trainer construction and in experiment files, before any env or Ray starts;
schedules checked point by point; the model mapping key by key; GPUs and Ray checked on this machine."""

from __future__ import annotations

import math
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from rlcore import plugins
from rlcore.config_schema import (
    ACTIVATIONS,
    COMMON_SCHEMA,
    MODEL_SCHEMA,
    ConfigValueError,
    Field,
    Schema,
    check_host,
    model_policy_schema,
    require_ray,
    schedule_points,
    visible_gpus,
)
from rlcore.errors import ConfigError
from rlcore.experiments import load_experiments
from rlcore.registration import register_algorithm
from rlcore.trainer import COMMON_CONFIG, Trainer

POLICY_SCHEMA = model_policy_schema(lr=1e-3, adam_epsilon=1e-8)
SCHEMAS = {"common": COMMON_SCHEMA, "model": MODEL_SCHEMA, "policy": POLICY_SCHEMA}


def _cases(schemas: dict[str, Schema]) -> list[Any]:
    return [
        pytest.param(schema, key, value, why, id=f"{name}-{key}-{value!r}")
        for name, schema in schemas.items()
        for key, field in schema.fields.items()
        for value, why in field.refused_examples()
    ]


class Built(Exception):
    """Raised by :meth:`SchemaTrainer.setup`: validation passed and the trainer went on to build."""


class SchemaTrainer(Trainer):
    """A trainer of the common keys plus a catalog policy's (nothing is ever built: setup raises)."""

    name = "VALS"
    config_schema = COMMON_SCHEMA | POLICY_SCHEMA
    default_config: ClassVar[dict[str, Any]] = config_schema.defaults()

    def setup(self) -> None:
        raise Built


class BareTrainer(SchemaTrainer):
    """A trainer without a schema (only ``default_config``): the common keys are checked all the same."""

    name = "BARE"
    config_schema = None
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "lr": 0.001}


# -- every key of every schema ----------------------------------------------------------------


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
def test_every_key_has_a_type_a_range_and_a_valid_default(schema):
    for key, field in schema.fields.items():
        assert field.doc, key
        assert field.type is not None or field.choices is not None, f"{key} has no type"
        if field.type in (int, float) and field.choices is None:
            assert field.min is not None or field.max is not None, f"{key} has no range"
        assert field.error(field.default) is None, key
        assert field.refused_examples(), key


@pytest.mark.parametrize(("schema", "key", "value", "why"), _cases(SCHEMAS))
def test_every_key_refuses_a_wrong_type_and_a_value_out_of_range(schema, key, value, why):
    with pytest.raises(ConfigValueError) as info:
        schema.validate({key: value}, owner="ALGO")
    msg = str(info.value)
    assert msg.startswith(f"ALGO config key {key!r} {why}: got {value!r}; allowed: "), msg
    assert info.value.path == (key,)


def test_the_message_says_what_is_allowed_with_the_key():
    field = COMMON_SCHEMA.fields["gamma"]
    assert field.allowed("gamma") == "a number, 0 <= gamma <= 1"
    with pytest.raises(
        ConfigError, match=r"^X config key 'gamma' is out of range: got 2\.0; allowed: a number, 0 <= gamma <= 1 \("
    ):
        COMMON_SCHEMA.validate({"gamma": 2.0}, owner="X")
    assert COMMON_SCHEMA.fields["num_workers"].allowed("num_workers") == "an int, num_workers >= 0"
    assert POLICY_SCHEMA.fields["lr"].allowed("lr") == "a number, lr > 0"
    assert COMMON_SCHEMA.fields["seed"].allowed("seed") == "an int, 0 <= seed <= 4294967295, or None"


def test_numpy_scalars_are_numbers_and_ints_but_bools_and_strings_are_not():
    COMMON_SCHEMA.validate({"num_workers": np.int64(0), "gamma": np.float32(0.5), "train_batch_size": np.int32(4)})
    for key, value in [("num_workers", True), ("gamma", "0.9"), ("train_batch_size", 12.5), ("train_batch_size", 12.0)]:
        with pytest.raises(ConfigValueError, match=rf"config key '{key}' is not"):
            COMMON_SCHEMA.validate({key: value})


def test_an_int_past_floats_range_is_not_finite():
    with pytest.raises(ConfigValueError, match=r"config key 'gamma' is not finite: got 1000"):
        COMMON_SCHEMA.validate({"gamma": 10**400})  # was an OverflowError out of float()


def test_a_whole_float_for_an_int_says_how_to_write_it():
    with pytest.raises(
        ConfigValueError, match=r"'buffer' is not an int \(write 100000, without the decimal point\): got 100000\.0"
    ):
        Schema({"buffer": Field(1, "n", int, min=1)}).validate({"buffer": 1e5})


def test_the_model_defaults_are_the_catalogs():
    from rlcore.models.catalog import MODEL_DEFAULTS
    from rlcore.models.layout import ACTIVATIONS as LAYOUT_ACTIVATIONS

    assert MODEL_SCHEMA.defaults() == MODEL_DEFAULTS
    assert tuple(LAYOUT_ACTIVATIONS) == ACTIVATIONS


def test_markdown_lists_every_key_with_what_is_allowed():
    table = COMMON_SCHEMA.markdown()
    for key in COMMON_SCHEMA.fields:
        assert f"| `{key}` |" in table
    assert "a number, 0 <= gamma <= 1" in table


# -- schedules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("abc", "is not a list"),
        ([], "needs at least one"),
        ([[0]], "must be a list of \\[timestep, value\\] pairs"),
        ([0, 1e-3], "must be a list of \\[timestep, value\\] pairs"),
        ([[0, 1e-3, 5]], "must be a list of \\[timestep, value\\] pairs"),
        ([[0.5, 1e-3]], "timesteps that are ints >= 0"),
        ([[-1, 1e-3]], "timesteps that are ints >= 0"),
        ([["0", 1e-3]], "timesteps that are ints >= 0"),
        ([[True, 1e-3]], "timesteps that are ints >= 0"),
        ([[10, 1e-3], [5, 1e-4]], "non-decreasing timesteps"),
        ([[0, math.nan]], "finite numbers"),
        ([[0, math.inf]], "finite numbers"),
        ([[0, "high"]], "finite numbers"),
        ([[0, 10**400]], "finite numbers"),  # an int past float's range
        ([[0, 1e-3], [100, -1e-4]], "values >= 0"),
    ],
)
def test_a_bad_lr_schedule_is_refused(value, why):
    with pytest.raises(ConfigValueError, match=rf"^ALGO config key 'lr_schedule' .*{why}.*: got "):
        POLICY_SCHEMA.validate({"lr_schedule": value}, owner="ALGO")


def test_good_schedules_pass():
    for value in ([[0, 1e-3]], [[0, 3e-3], [150000, 3e-4]], [(0, 1e-3), (0, 5e-4), (10, 0.0)], None):
        POLICY_SCHEMA.validate({"lr_schedule": value})
    assert schedule_points([[0, -1.0]]) is None  # other schedules may go negative
    assert schedule_points([[0, -1.0]], min_value=0) is not None


# -- the model mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "key", "why"),
    [
        ({"fcnet_hiddens": [0]}, "fcnet_hiddens", "must hold positive ints"),
        ({"fcnet_hiddens": [64, 1.5]}, "fcnet_hiddens", "must hold positive ints"),
        ({"fcnet_hiddens": "64"}, "fcnet_hiddens", "is not a list"),
        ({"fcnet_activation": "Relu"}, "fcnet_activation", "is not one of the choices"),
        ({"conv_activation": "sigmoid"}, "conv_activation", "is not one of the choices"),
        ({"conv_filters": [[16, [4, 4]]]}, "conv_filters", "must be a list of"),
        ({"conv_filters": [[16, [4, 4], 0]]}, "conv_filters", "must be a list of"),
        ({"conv_filters": []}, "conv_filters", "needs at least one"),
        ({"lstm_cell_size": 0}, "lstm_cell_size", "is out of range"),
        ({"max_seq_len": 2.5}, "max_seq_len", "is not an int"),
        ({"framestack": 0}, "framestack", "is out of range"),
        ({"dim": "84"}, "dim", "is not an int"),
        ({"use_lstm": "no"}, "use_lstm", "is not True or False"),
        ({"free_log_std": 1}, "free_log_std", "is not True or False"),
        ({"custom_model": 3}, "custom_model", "is not a string"),
        ({"custom_model_config": [1]}, "custom_model_config", "is not a mapping"),
    ],
)
def test_a_bad_model_value_is_refused_with_its_dotted_key(model, key, why):
    with pytest.raises(ConfigValueError) as info:
        COMMON_SCHEMA.validate({"model": model}, owner="ALGO")
    assert str(info.value).startswith(f"ALGO config key 'model.{key}' {why}"), str(info.value)
    assert info.value.path == ("model", key)


def test_numpy_bools_are_true_or_false_as_numpy_ints_are_ints():
    import numpy as np

    COMMON_SCHEMA.validate({"model": {"use_lstm": np.True_, "lstm_cell_size": np.int64(8), "free_log_std": np.False_}})
    with pytest.raises(ConfigValueError, match=r"'model\.use_lstm' is not True or False: got np\.int64\(1\)"):
        COMMON_SCHEMA.validate({"model": {"use_lstm": np.int64(1)}})


def test_an_unknown_model_key_names_the_nearest_and_open_mappings_take_anything():
    with pytest.raises(ConfigValueError, match=r"'model\.fcnet_hidden' is unknown\. Did you mean 'fcnet_hiddens'\?"):
        COMMON_SCHEMA.validate({"model": {"fcnet_hidden": [32]}}, owner="ALGO")
    COMMON_SCHEMA.validate(
        {"model": {"custom_model_config": {"any": {"thing": 1}}}, "env_config": {"size": "large", "n": -1}}
    )


# -- through a trainer's construction ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("lr", "0.001", "is not a number"),
        ("num_workers", -1, "is out of range"),
        ("num_workers", 1.5, "is not an int"),
        ("gamma", 2.0, "is out of range"),
        ("gamma", -0.5, "is out of range"),
        ("train_batch_size", 12.5, "is not an int"),
        ("train_batch_size", 0, "is out of range"),
        ("num_envs_per_worker", 0, "is out of range"),
        ("num_envs_per_worker", "two", "is not an int"),
        ("rollout_fragment_length", 0, "is out of range"),
        ("seed", "abc", "is not an int"),
        ("seed", -1, "is out of range"),
        ("lr_schedule", "abc", "is not a list"),
        ("lr_schedule", [[0]], "must be a list of [timestep, value] pairs"),
        ("observation_filter", "MeanStd", "is not one of the choices"),
        ("metrics_smoothing_episodes", 0, "is out of range"),
        ("model", {"fcnet_activation": "Relu"}, "is not one of the choices"),
    ],
)
def test_a_trainer_refuses_a_bad_value_before_it_builds_anything(key, value, why):
    with pytest.raises(ConfigError) as info:
        SchemaTrainer({key: value}, env="CartPole-v1")
    msg = str(info.value)
    shown = f"model.{next(iter(value))}" if key == "model" else key
    assert msg.startswith(f"VALS config key {shown!r} {why}"), msg
    assert f": got {value!r}; allowed: " in msg or f": got {value[shown[6:]]!r}; allowed: " in msg, msg


def test_a_trainer_without_a_schema_gets_the_common_keys_checked():
    with pytest.raises(ConfigError, match=r"^BARE config key 'gamma' is out of range: got 2\.0"):
        BareTrainer({"gamma": 2.0}, env="CartPole-v1")
    with pytest.raises(Built):  # its own keys are its business; valid common values go on to setup
        BareTrainer({"lr": "anything"}, env="CartPole-v1")


def test_a_valid_config_goes_on_to_setup():
    with pytest.raises(Built):
        SchemaTrainer(
            {"gamma": 1.0, "seed": 0, "lr_schedule": [[0, 1e-3], [1000, 0.0]], "model": {"fcnet_hiddens": []}},
            env="CartPole-v1",
        )


# -- what depends on this machine -------------------------------------------------------------


@pytest.mark.parametrize("mask", ["", "-1", "NoDevFiles"])
def test_num_gpus_above_the_visible_gpus_is_refused(monkeypatch, mask):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", mask)
    assert visible_gpus()[0] == 0
    check_host({"num_gpus": 0})
    with pytest.raises(ConfigValueError) as info:
        check_host({"num_gpus": 1}, owner="PPO")
    msg = str(info.value)
    assert msg.startswith("PPO config key 'num_gpus' asks for more GPUs than this machine has: got 1; ")
    assert "allowed: 0 <= num_gpus <= 0 (0 visible:" in msg and f"CUDA_VISIBLE_DEVICES={mask!r}" in msg
    with pytest.raises(ConfigValueError, match=r"got 0\.5"):
        check_host({"num_gpus": 0.5})


def test_visible_gpus_never_exceed_the_device_files(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    physical, how = visible_gpus()
    assert "/dev/nvidia" in how
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7,8")
    assert visible_gpus()[0] == min(9, physical)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,-1,1")  # CUDA stops at the first invalid entry
    assert visible_gpus()[0] == min(1, physical)


def test_workers_without_ray_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when Ray is not installed
    with pytest.raises(ConfigError) as info:
        check_host({"num_workers": 2}, owner="PPO")
    msg = str(info.value)
    assert msg.startswith("PPO config key 'num_workers' is 2: remote workers need Ray, which is not installed")
    assert "pip install -c constraints.txt './core[ray]'" in msg
    check_host({"num_workers": 0})
    with pytest.raises(ConfigError, match=r"rlcore train -f\) need Ray.*'\./core\[ray\]'"):
        require_ray("experiments run through Ray Tune (rlcore train -f)")
    with pytest.raises(ConfigError, match="need Ray"):
        from rlcore.tune import run_experiments

        run_experiments({})


# -- experiment files: every grid point, before Ray ---------------------------------------------


@pytest.fixture
def vals_algo(rlcore_registry: plugins.PluginRegistry) -> str:
    register_algorithm("VALS", SchemaTrainer)
    return "VALS"


def _write(tmp_path: Path, config: str) -> Path:
    path = tmp_path / "exp.yaml"
    body = textwrap.indent(textwrap.dedent(config).strip("\n"), "    ")
    path.write_text(f"my-exp:\n  env: CartPole-v1\n  run: VALS\n  config:\n{body}\n")
    return path


@pytest.mark.parametrize(
    ("config", "line", "expected"),
    [
        ('num_envs_per_worker: "two"', 5, "VALS config key 'num_envs_per_worker' is not an int: got 'two'"),
        ("gamma: {grid_search: [0.9, 2.0]}", 5, "grid point 2 of 2: VALS config key 'gamma' is out of range: got 2.0"),
        (
            "lr: {grid_search: [0.001, 0.01]}\nmodel:\n  fcnet_hiddens: {grid_search: [[32], [0]]}",
            7,
            "grid point 2 of 4: VALS config key 'model.fcnet_hiddens' must hold positive ints: got [0]",
        ),
        ("model: {fcnet_activation: Relu}", 5, "VALS config key 'model.fcnet_activation' is not one of the choices"),
        ("lr_schedule: [[0, 0.001], [-5, 0.0001]]", 5, "VALS config key 'lr_schedule' must have timesteps that are"),
        ("seed: 1.5", 5, "VALS config key 'seed' is not an int: got 1.5"),
        ("num_workers: -1", 5, "VALS config key 'num_workers' is out of range: got -1"),
        ("lr: 1e-3\nnum_sgd_iter: 0", 0, "unknown config key 'num_sgd_iter'"),
    ],
)
def test_an_experiment_file_with_a_bad_value_fails_on_load_naming_the_line(tmp_path, vals_algo, config, line, expected):
    path = _write(tmp_path, config)
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    msg = str(info.value)
    if line:
        assert msg.startswith(f"{path}:{line}: experiment 'my-exp': {expected}"), msg
    else:
        assert expected in msg and "experiment 'my-exp'" in msg, msg


def test_an_experiment_file_leaves_env_config_to_the_env(tmp_path, vals_algo):
    path = _write(tmp_path, "env_config: {anything: [1, 2], n: -1}\ngamma: {grid_search: [0.9, 0.99]}")
    assert load_experiments(path)["my-exp"].num_trials == 2


def test_the_host_is_not_checked_in_the_tune_driver(tmp_path, vals_algo, monkeypatch):
    """A trial's GPUs are the cluster's (Tune checks its resources); Ray is checked by run_experiments."""
    monkeypatch.setitem(sys.modules, "ray", None)
    path = _write(tmp_path, "num_workers: 2")
    assert load_experiments(path)["my-exp"].config["num_workers"] == 2


def test_field_refused_examples_cover_each_kind():
    assert (1.5, "is not an int") in Field(1, "n", int, min=1).refused_examples()
    assert (0, "is out of range") in Field(1, "n", int, min=1).refused_examples()
    assert (0.0, "is out of range") in Field(0.1, "x", float, min=0, min_exclusive=True).refused_examples()
    assert (1.5, "is out of range") in Field(0.5, "p", float, min=0, max=1).refused_examples()
    assert (None, "is not optional") in Field(1, "n", int).refused_examples()
    assert all(v is not None for v, _ in Field(None, "n", int, nullable=True).refused_examples())
