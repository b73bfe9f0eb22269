"""Tests of the framework-agnostic model catalog (rlcore.models.catalog)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rlcore import plugins
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.models import (
    MODEL_DEFAULTS,
    MODEL_KINDS,
    ActionDistSpec,
    FlattenPreprocessor,
    FrameStackPreprocessor,
    ImagePreprocessor,
    ModelCatalog,
    MultiDiscretePreprocessor,
    NoPreprocessor,
    OneHotPreprocessor,
    Preprocessor,
    TupleFlatteningPreprocessor,
    conv_output_hw,
    resolve_model_config,
)
from rlcore.registration import register_model

ATARI = gym.spaces.Box(0, 255, shape=(210, 160, 3), dtype=np.uint8)


@pytest.fixture
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[plugins.PluginRegistry]:
    """A plugin registry with no entry points, restored afterwards."""
    registry = plugins.PluginRegistry([])
    monkeypatch.setattr(plugins, "_REGISTRY", registry)
    yield registry


@pytest.fixture
def clean_custom(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty custom model/preprocessor tables, restored afterwards."""
    monkeypatch.setattr(ModelCatalog, "_custom_models", {})
    monkeypatch.setattr(ModelCatalog, "_custom_preprocessors", {})


class TinyModel:
    """A numpy linear model: enough to check what the catalog hands a model class."""

    def __init__(self, obs_shape: tuple[int, ...], num_outputs: int, model_config: dict[str, Any]) -> None:
        self.obs_shape = obs_shape
        self.num_outputs = num_outputs
        self.model_config = model_config
        scale = model_config["custom_model_config"].get("scale", 1.0)
        self.weights = np.full((int(np.prod(obs_shape)), num_outputs), scale, np.float32)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        out: np.ndarray = obs.reshape(obs.shape[0], -1) @ self.weights
        return out


# ---------------------------------------------------------------------- config
def test_model_defaults_and_kinds() -> None:
    assert set(MODEL_DEFAULTS) == {
        "fcnet_hiddens",
        "fcnet_activation",
        "conv_filters",
        "conv_activation",
        "use_lstm",
        "lstm_cell_size",
        "max_seq_len",
        "free_log_std",
        "vf_share_layers",
        "dim",
        "grayscale",
        "zero_mean",
        "framestack",
        "custom_model",
        "custom_model_config",
        "custom_preprocessor",
    }
    assert MODEL_DEFAULTS["fcnet_hiddens"] == [256, 256]
    assert MODEL_DEFAULTS["fcnet_activation"] == "tanh"
    assert MODEL_DEFAULTS["dim"] == 84 and MODEL_DEFAULTS["framestack"] == 1
    assert MODEL_KINDS == ("fc", "vision", "lstm", "q")


def test_resolve_model_config_merges_and_copies() -> None:
    config = resolve_model_config({"fcnet_hiddens": [64], "custom_model_config": {"anything": 1}})
    assert config["fcnet_hiddens"] == [64]
    assert config["lstm_cell_size"] == 256
    assert config["custom_model_config"] == {"anything": 1}
    config["fcnet_hiddens"].append(3)
    assert MODEL_DEFAULTS["fcnet_hiddens"] == [256, 256]
    assert ModelCatalog.resolve_model_config(None) == MODEL_DEFAULTS


def test_unknown_config_key_names_nearest() -> None:
    with pytest.raises(ConfigError, match="fcnet_hidden") as info:
        resolve_model_config({"fcnet_hidden": [32]})
    assert "Did you mean 'fcnet_hiddens'?" in str(info.value)
    with pytest.raises(ConfigError, match="Did you mean 'framestack'"):
        ModelCatalog.get_preprocessor(ATARI, {"frame_stack": 4})


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"fcnet_hiddens": [64, 0]}, "fcnet_hiddens"),
        ({"fcnet_hiddens": "64"}, "fcnet_hiddens"),
        ({"dim": -1}, "dim"),
        ({"framestack": 0}, "framestack"),
        ({"lstm_cell_size": True}, "lstm_cell_size"),
        ({"use_lstm": "yes"}, "use_lstm"),
        ({"conv_filters": [[16, [8, 8]]]}, "conv_filters"),
        ({"custom_model": 3}, "custom_model"),
        ({"fcnet_activation": None}, "fcnet_activation"),
    ],
)
def test_invalid_config_values(override: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        resolve_model_config(override)


# --------------------------------------------------------------- preprocessors
@pytest.mark.parametrize(
    ("space", "cls", "shape"),
    [
        (gym.spaces.Box(-1, 1, shape=(4,)), NoPreprocessor, (4,)),
        (gym.spaces.Box(-1, 1, shape=(3, 5)), FlattenPreprocessor, (15,)),
        (gym.spaces.Box(0, 1, shape=(12, 12, 2)), NoPreprocessor, (12, 12, 2)),
        (ATARI, ImagePreprocessor, (84, 84, 3)),
        (gym.spaces.Discrete(6), OneHotPreprocessor, (6,)),
        (gym.spaces.MultiDiscrete([2, 5]), MultiDiscretePreprocessor, (7,)),
        (gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(0, 1, (3,)))), TupleFlatteningPreprocessor, (5,)),
    ],
)
def test_get_preprocessor_dispatch(space: gym.Space[Any], cls: type, shape: tuple[int, ...]) -> None:
    prep = ModelCatalog.get_preprocessor(space)
    assert type(prep) is cls
    assert prep.shape == shape
    assert prep.transform(space.sample()).shape == shape


def test_get_preprocessor_image_options_and_framestack() -> None:
    prep = ModelCatalog.get_preprocessor(ATARI, {"dim": 42, "grayscale": True})
    assert isinstance(prep, ImagePreprocessor) and prep.shape == (42, 42, 1)
    stacked = ModelCatalog.get_preprocessor(ATARI, {"grayscale": True, "framestack": 4})
    assert isinstance(stacked, FrameStackPreprocessor) and isinstance(stacked.inner, ImagePreprocessor)
    assert stacked.shape == (84, 84, 4)
    out = stacked.transform_batch(np.zeros((2, 210, 160, 3), np.uint8))
    assert out.shape == (2, 84, 84, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, -1.0)  # zero_mean by default


def test_custom_preprocessor(clean_custom: None) -> None:
    class Doubler(Preprocessor):
        def __init__(self, obs_space: gym.Space[Any], options: Any = None) -> None:
            super().__init__(obs_space, options)
            self.shape = (2,)

        def transform_batch(self, obs_batch: Any) -> np.ndarray:
            x = np.asarray(obs_batch, np.float32).reshape(-1, 1)
            return np.concatenate([x, 2 * x], axis=1)

    ModelCatalog.register_custom_preprocessor("doubler", Doubler)
    assert ModelCatalog.custom_preprocessor_names() == ["doubler"]
    prep = ModelCatalog.get_preprocessor(gym.spaces.Discrete(5), {"custom_preprocessor": "doubler"})
    assert isinstance(prep, Doubler)
    np.testing.assert_array_equal(prep.transform(3), [3, 6])
    assert prep.options["custom_preprocessor"] == "doubler"  # gets the resolved model config
    stacked = ModelCatalog.get_preprocessor(gym.spaces.Discrete(5), {"custom_preprocessor": "doubler", "framestack": 2})
    assert stacked.shape == (4,)
    with pytest.raises(UnknownNameError, match=r"unknown custom preprocessor 'doublr'.*Did you mean 'doubler'"):
        ModelCatalog.get_preprocessor(gym.spaces.Discrete(5), {"custom_preprocessor": "doublr"})


def test_unsupported_observation_space() -> None:
    with pytest.raises(ConfigError, match=r"observation space Text\(.*Supported: Box, Discrete"):
        ModelCatalog.get_preprocessor(gym.spaces.Text(8))


# ------------------------------------------------------------ action dists
def test_action_dist_discrete() -> None:
    spec = ModelCatalog.get_action_dist(gym.spaces.Discrete(5))
    assert spec.kind == "categorical" and spec.num_outputs == 5
    assert spec.params["n"] == 5 and spec.params["start"] == 0
    assert spec.action_shape == ()


def test_action_dist_multi_discrete() -> None:
    spec = ModelCatalog.get_action_dist(gym.spaces.MultiDiscrete([3, 4, 2]))
    assert spec.kind == "multi_categorical" and spec.num_outputs == 9
    assert spec.params["input_lens"] == (3, 4, 2)
    assert spec.params["nvec"] == [3, 4, 2]
    assert spec.action_shape == (3,)


def test_action_dist_box_gaussian_free_log_std_and_deterministic() -> None:
    box = gym.spaces.Box(low=-2.0, high=np.array([1.0, 2.0, 3.0], np.float32), shape=(3,), dtype=np.float32)
    spec = ModelCatalog.get_action_dist(box)
    assert spec.kind == "diag_gaussian" and spec.num_outputs == 6
    assert spec.params["free_log_std"] is False
    low, high = spec.bounds()
    np.testing.assert_array_equal(low, [-2, -2, -2])
    np.testing.assert_array_equal(high, [1, 2, 3])

    free = ModelCatalog.get_action_dist(box, {"free_log_std": True})
    assert free.kind == "diag_gaussian" and free.num_outputs == 3 and free.params["free_log_std"] is True

    det = ModelCatalog.get_action_dist(box, {"free_log_std": True}, dist_type="deterministic")
    assert det.kind == "deterministic" and det.num_outputs == 3

    box2d = gym.spaces.Box(-1, 1, shape=(2, 3))
    spec2d = ModelCatalog.get_action_dist(box2d)
    assert spec2d.num_outputs == 12 and spec2d.action_shape == (2, 3) == spec2d.params["action_shape"]
    assert spec2d.bounds()[0].shape == (2, 3)


def test_action_dist_spec_is_frozen() -> None:
    spec = ModelCatalog.get_action_dist(gym.spaces.Discrete(2))
    assert isinstance(spec, ActionDistSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.num_outputs = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.params["n"] = 3  # type: ignore[index]
    with pytest.raises(ConfigError, match="no bounds"):
        spec.bounds()


def test_action_dist_errors() -> None:
    # Tuple and Dict action spaces are composite now (tests in test_composite_actions.py); others are refused
    with pytest.raises(ConfigError, match=r"action space MultiBinary\(.*Supported: Discrete, MultiDiscrete and Box"):
        ModelCatalog.get_action_dist(gym.spaces.MultiBinary(3))
    with pytest.raises(ConfigError, match="does not fit"):
        ModelCatalog.get_action_dist(gym.spaces.Discrete(2), dist_type="deterministic")
    with pytest.raises(ConfigError, match="Did you mean 'deterministic'"):
        ModelCatalog.get_action_dist(gym.spaces.Box(-1, 1, (2,)), dist_type="determinstic")
    with pytest.raises(ConfigError, match="Did you mean 'free_log_std'"):
        ModelCatalog.get_action_dist(gym.spaces.Box(-1, 1, (2,)), {"free_logstd": True})


# --------------------------------------------------------------- model kinds
def test_get_model_kind() -> None:
    assert ModelCatalog.get_model_kind((4,), {}) == "fc"
    assert ModelCatalog.get_model_kind((84, 84, 4), {}) == "vision"
    assert ModelCatalog.get_model_kind((84, 84, 4), {"use_lstm": True}) == "lstm"
    assert ModelCatalog.get_model_kind((4,), {"use_lstm": True, "custom_model": "m"}) == "custom"
    assert ModelCatalog.get_model_kind((4,), MODEL_DEFAULTS) == "fc"


def test_filter_config_defaults() -> None:
    assert ModelCatalog.get_filter_config((84, 84, 4)) == [[16, [8, 8], 4], [32, [4, 4], 2], [256, [11, 11], 1]]
    assert ModelCatalog.get_filter_config((42, 42, 1)) == [[16, [4, 4], 2], [32, [4, 4], 2], [256, [11, 11], 1]]


@pytest.mark.parametrize("shape", [(84, 84, 3), (42, 42, 1), (64, 64, 3), (96, 72, 1), (10, 10, 2), (200, 13, 3)])
def test_filter_config_shrinks_to_one_by_one(shape: tuple[int, int, int]) -> None:
    filters = ModelCatalog.get_filter_config(shape)
    assert conv_output_hw(shape, filters) == (1, 1)
    resolve_model_config({"conv_filters": filters})  # valid


def test_filter_config_errors() -> None:
    with pytest.raises(ConfigError, match="conv_filters"):
        ModelCatalog.get_filter_config((128,))
    with pytest.raises(ConfigError, match="conv_filters"):
        ModelCatalog.get_filter_config((5000, 5000, 3))


# -------------------------------------------------------------------- models
def test_get_model_custom(clean_custom: None) -> None:
    ModelCatalog.register_custom_model("tiny", TinyModel)
    assert ModelCatalog.custom_model_names() == ["tiny"]
    obs_space = gym.spaces.Discrete(4)
    model = ModelCatalog.get_model(
        obs_space,
        gym.spaces.Box(-1, 1, (2,)),
        None,
        {"custom_model": "tiny", "custom_model_config": {"scale": 0.5}},
        "numpy",
    )
    assert isinstance(model, TinyModel)
    assert model.obs_shape == (4,)
    assert model.num_outputs == 4  # diag gaussian over 2 action dims
    assert model.model_config["fcnet_hiddens"] == [256, 256]  # resolved config
    obs = ModelCatalog.get_preprocessor(obs_space).transform_batch(np.array([0, 3]))
    np.testing.assert_allclose(model(obs), np.full((2, 4), 0.5))


def test_get_model_unknown_custom(clean_custom: None) -> None:
    ModelCatalog.register_custom_model("tiny", TinyModel)
    with pytest.raises(UnknownNameError, match=r"unknown custom model 'tinny'.*Did you mean 'tiny'.*Registered: tiny"):
        ModelCatalog.get_model(gym.spaces.Discrete(2), None, 2, {"custom_model": "tinny"}, "numpy")


def test_register_custom_rejects_bad_input(clean_custom: None) -> None:
    with pytest.raises(ConfigError):
        ModelCatalog.register_custom_model("", TinyModel)
    with pytest.raises(ConfigError):
        ModelCatalog.register_custom_model("x", 3)


def test_get_model_uses_registered_builder(empty_registry: plugins.PluginRegistry) -> None:
    calls: list[tuple[str, tuple[int, ...], int, dict[str, Any]]] = []

    def builder(kind: str) -> Any:
        def build(obs_shape: tuple[int, ...], num_outputs: int, config: dict[str, Any]) -> str:
            calls.append((kind, obs_shape, num_outputs, config))
            return kind

        return build

    for kind in MODEL_KINDS:
        register_model(kind, "numpy_test", builder(kind))

    assert ModelCatalog.get_model(gym.spaces.Box(-1, 1, (3, 2)), gym.spaces.Discrete(3), None, {}, "numpy_test") == "fc"
    assert calls[-1][1:3] == ((6,), 3)
    assert calls[-1][3]["conv_filters"] is None

    kind = ModelCatalog.get_model(
        ATARI, gym.spaces.Discrete(6), None, {"grayscale": True, "framestack": 4}, "numpy_test"
    )
    assert kind == "vision"
    assert calls[-1][1:3] == ((84, 84, 4), 6)
    assert calls[-1][3]["conv_filters"] == ModelCatalog.get_filter_config((84, 84, 4))

    own_filters = [[8, [4, 4], 2], [16, [42, 42], 1]]
    ModelCatalog.get_model(ATARI, None, 7, {"conv_filters": own_filters}, "numpy_test")
    assert calls[-1][3]["conv_filters"] == own_filters and calls[-1][2] == 7

    assert ModelCatalog.get_model(gym.spaces.Discrete(3), None, 2, {"use_lstm": True}, "numpy_test") == "lstm"


def test_get_model_unregistered_framework(empty_registry: plugins.PluginRegistry) -> None:
    with pytest.raises(UnknownNameError, match="fc/nonexistent"):
        ModelCatalog.get_model(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2), None, None, "nonexistent")


def test_get_model_needs_num_outputs_or_action_space() -> None:
    with pytest.raises(ConfigError, match="num_outputs"):
        ModelCatalog.get_model(gym.spaces.Box(-1, 1, (3,)), None, None, None, "numpy")


# --------------------------------------------------------------------- import
def test_lazy_export_and_light_import() -> None:
    assert rlcore.ModelCatalog is ModelCatalog
    code = (
        "import sys, rlcore.models; "
        "bad = [m for m in ('torch', 'tensorflow', 'ray') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_use_lstm_with_a_custom_model_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"use_lstm=True wraps the catalog's fc/vision trunk.*custom_model 'm'.*"
        r"set use_lstm to false",
    ):
        resolve_model_config({"use_lstm": True, "custom_model": "m"})
    assert resolve_model_config({"use_lstm": True})["max_seq_len"] == 20


@pytest.mark.parametrize(
    ("model", "largest"),
    [({"use_lstm": True, "lstm_cell_size": 10**6}, "lstm/recurrent_kernel (1000000, 4000000)"), ({}, "fc_1/kernel")],
)
def test_a_model_too_large_for_memory_is_refused_before_allocating(model: dict[str, Any], largest: str) -> None:
    from rlcore.models.layout import fc_layout, init_weights, lstm_layout

    if model:
        layout = lstm_layout((4,), 2, resolve_model_config(model))
    else:
        layout = fc_layout(4, 2, resolve_model_config({"fcnet_hiddens": [10**6, 10**6]}))
    with pytest.raises(
        ConfigError, match=r"^the model has [0-9,]+ weights \([0-9,.]+ GiB as float32\), more than"
    ) as e:
        init_weights(layout, 0)
    assert largest in str(e.value) and "lower the model config's sizes (lstm_cell_size, fcnet_hiddens" in str(e.value)
    assert init_weights(lstm_layout((4,), 2, resolve_model_config({"use_lstm": True, "lstm_cell_size": 8})), 0)
