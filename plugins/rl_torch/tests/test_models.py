"""The torch catalog models: canonical layouts and seeds, TensorFlow semantics (checked against
numpy references of dense, NHWC conv with SAME/VALID padding and NHWC flattening), weights."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_torch.models import FullyConnectedNetwork, VisionNetwork, activation_fn
from rlcore.errors import ConfigError
from rlcore.models import ModelCatalog
from rlcore.models.layout import ACTIVATIONS, conv_layers, fc_layout, init_weights, same_padding, vision_layout

NP_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
    "linear": lambda x: x,
}


def run(model: torch.nn.Module, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        out, value = model(torch.from_numpy(obs.astype(np.float32)))
    return out.numpy().astype(np.float64), value.numpy().astype(np.float64)


def perturbed(weights: dict[str, np.ndarray], seed: int = 1, scale: float = 0.3) -> dict[str, np.ndarray]:
    """Every weight moved (biases and log_std become non-zero, so they are exercised)."""
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in weights.items()}


def np_dense(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    return x @ w[f"{name}/kernel"].astype(np.float64) + w[f"{name}/bias"]


def with_log_std(out: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    if "log_std" not in w:
        return out
    return np.concatenate([out, np.broadcast_to(w["log_std"], out.shape)], axis=1)


def np_fc(w: dict[str, np.ndarray], obs: np.ndarray, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The fully connected model in numpy (float64), canonical weights."""
    act = NP_ACTIVATIONS[config.get("fcnet_activation", "tanh")]
    n = len(config.get("fcnet_hiddens", [256, 256]))
    x = obs.reshape(len(obs), -1).astype(np.float64)
    h = x
    for i in range(n):
        h = act(np_dense(h, w, f"fc_{i}"))
    out = np_dense(h, w, "logits")
    if not config.get("vf_share_layers", False):
        h = x
        for i in range(n):
            h = act(np_dense(h, w, f"value_fc_{i}"))
    return with_log_std(out, w), np_dense(h, w, "value")[:, 0]


def np_conv2d(x: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """TensorFlow's ``conv2d`` (NHWC input, HWIO kernel) in numpy."""
    kh, kw = kernel.shape[:2]
    _, h, w, _ = x.shape
    if padding == "SAME":
        (top, bottom), (left, right) = same_padding(h, kh, stride), same_padding(w, kw, stride)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((len(x), oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out


def np_vision_forward(w: dict[str, np.ndarray], obs: np.ndarray, config: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """The vision model in numpy: conv + bias + activation per layer, NHWC flatten, linear heads."""
    act = NP_ACTIVATIONS[config.get("conv_activation", "relu")]
    x = obs.astype(np.float64)
    for layer in conv_layers(obs.shape[1:], config["conv_filters"]):
        conv = np_conv2d(x, w[f"{layer.name}/kernel"].astype(np.float64), layer.stride, layer.padding)
        x = act(conv + w[f"{layer.name}/bias"])
    flat = x.reshape(len(x), -1)  # NHWC order
    return with_log_std(np_dense(flat, w, "logits"), w), np_dense(flat, w, "value")[:, 0]


# --------------------------------------------------------------------------- fully connected
FC_CONFIGS = [
    {"fcnet_hiddens": [8, 6]},
    {"fcnet_hiddens": [8], "vf_share_layers": True, "fcnet_activation": "relu"},
    {"fcnet_hiddens": [5, 4, 3], "free_log_std": True, "fcnet_activation": "swish"},
    {"fcnet_hiddens": [], "fcnet_activation": "elu"},
]


@pytest.mark.parametrize("config", FC_CONFIGS)
def test_fc_weights_are_the_layout_and_its_seeded_init(config: dict[str, Any]) -> None:
    model = FullyConnectedNetwork((5,), 3, config, seed=7)
    layout = fc_layout(5, 3, ModelCatalog.resolve_model_config(config))
    weights = model.get_weights()
    assert model.weight_names() == list(weights) == [p.name for p in layout]
    assert {k: v.shape for k, v in weights.items()} == {p.name: p.shape for p in layout}
    expected = init_weights(layout, 7)
    for k in expected:
        assert weights[k].dtype == np.float32
        np.testing.assert_array_equal(weights[k], expected[k], err_msg=k)
    other = FullyConnectedNetwork((5,), 3, config, seed=8).get_weights()
    assert any(not np.array_equal(weights[k], other[k]) for k in weights if k.endswith("kernel"))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("config", FC_CONFIGS)
def test_fc_matches_numpy_reference(config: dict[str, Any], activation: str) -> None:
    config = {**config, "fcnet_activation": activation}
    model = FullyConnectedNetwork((2, 3), 4, config, seed=0)  # rank-2 observations are flattened
    weights = perturbed(model.get_weights())
    model.set_weights(weights)
    obs = np.random.default_rng(0).standard_normal((7, 2, 3))
    out, value = run(model, obs)
    ref_out, ref_value = np_fc(weights, obs, config)
    assert out.shape == (7, 8 if config.get("free_log_std") else 4) and value.shape == (7,)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5, atol=1e-5)


def test_free_log_std_is_appended_broadcast() -> None:
    model = FullyConnectedNetwork((3,), 2, {"fcnet_hiddens": [4], "free_log_std": True}, seed=0)
    weights = model.get_weights()
    weights["log_std"] = np.array([-0.5, 0.25], np.float32)
    model.set_weights(weights)
    out, _ = run(model, np.ones((3, 3)))
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out[:, 2:], np.tile([-0.5, 0.25], (3, 1)))
    # the log std gets gradients through the broadcast
    dist_inputs, _ = model(torch.ones(3, 3))
    dist_inputs[:, 2:].sum().backward()
    np.testing.assert_array_equal(model.params["log_std"].grad.numpy(), [3.0, 3.0])


def test_weights_round_trip_as_independent_copies() -> None:
    model = FullyConnectedNetwork((4,), 2, {"fcnet_hiddens": [8]}, seed=0)
    new = perturbed(model.get_weights())
    snapshot = {k: v.copy() for k, v in new.items()}
    model.set_weights(new)
    got = model.get_weights()
    for k in snapshot:
        np.testing.assert_array_equal(got[k], snapshot[k])
        new[k] += 1.0  # the caller's arrays are not the model's
        got[k] += 1.0
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(v, snapshot[k])


def test_set_weights_rejects_weights_of_another_layout() -> None:
    model = FullyConnectedNetwork((4,), 2, {"fcnet_hiddens": [8]}, seed=0)
    weights = model.get_weights()
    with pytest.raises(ConfigError, match="missing"):
        model.set_weights({k: v for k, v in weights.items() if k != "value/bias"})
    with pytest.raises(ConfigError, match="wrong shapes"):
        model.set_weights({**weights, "fc_0/kernel": np.zeros((8, 4), np.float32)})
    with pytest.raises(ConfigError, match="unexpected"):
        model.set_weights({**weights, "extra": np.zeros(1, np.float32)})


def test_unknown_activation_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="tanh"):
        activation_fn("tahn")
    with pytest.raises(ConfigError, match=r"model config 'fcnet_activation' is 'tahn'.*Did you mean 'tanh'"):
        FullyConnectedNetwork((4,), 2, {"fcnet_activation": "tahn"})
    with pytest.raises(ConfigError, match="model config 'conv_activation' is 'sigmoid', an unknown activation"):
        VisionNetwork((16, 16, 1), 2, {"conv_activation": "sigmoid"})


# --------------------------------------------------------------------------- vision
@pytest.mark.parametrize(("shape", "outputs"), [((84, 84, 4), 6), ((42, 42, 1), 3)])
def test_vision_default_filters_same_then_valid(shape: tuple[int, int, int], outputs: int) -> None:
    model = VisionNetwork(shape, outputs, {}, seed=3)
    config = ModelCatalog.resolve_model_config({"conv_filters": ModelCatalog.get_filter_config(shape)})
    layout = vision_layout(shape, outputs, config)
    weights = model.get_weights()
    assert {k: v.shape for k, v in weights.items()} == {p.name: p.shape for p in layout}
    for k, v in init_weights(layout, 3).items():
        np.testing.assert_array_equal(weights[k], v, err_msg=k)
    layers = conv_layers(shape, config["conv_filters"])
    assert [layer.padding for layer in layers] == ["SAME", "SAME", "VALID"]
    assert layers[-1].out_hw == (1, 1)  # the default filters shrink the image to 1x1
    obs = np.random.default_rng(0).uniform(-1, 1, (2, *shape))
    out, value = run(model, obs)
    assert out.shape == (2, outputs) and value.shape == (2,)
    ref_out, ref_value = np_vision_forward(weights, obs, config)
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(value, ref_value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "config"),
    [
        # 10x13 input: odd sizes make TensorFlow's SAME padding asymmetric (more after than before)
        ((10, 13, 3), {"conv_filters": [[4, [3, 3], 2], [6, [2, 3], 2], [5, [3, 4], 1]], "conv_activation": "tanh"}),
        ((9, 9, 2), {"conv_filters": [[3, 4, 2], [4, 5, 1]], "free_log_std": True, "conv_activation": "elu"}),
    ],
)
def test_vision_matches_numpy_reference(shape: tuple[int, int, int], config: dict[str, Any]) -> None:
    model = VisionNetwork(shape, 2, config, seed=0)  # int kernel sizes are accepted too
    weights = perturbed(model.get_weights())
    model.set_weights(weights)
    obs = np.random.default_rng(1).uniform(-1, 1, (3, *shape))
    out, value = run(model, obs)
    ref_out, ref_value = np_vision_forward(weights, obs, config)
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(value, ref_value, rtol=1e-4, atol=1e-5)
    if shape[0] == 10:
        assert same_padding(10, 3, 2) == (0, 1)  # the asymmetric case is exercised


def test_vision_conv_weights_cross_in_hwio() -> None:
    model = VisionNetwork((8, 8, 2), 2, {"conv_filters": [[3, [2, 4], 2], [4, [4, 4], 1]]}, seed=0)
    assert model.get_weights()["conv_0/kernel"].shape == (2, 4, 2, 3)  # HWIO
    assert tuple(model.params["conv_0/kernel"].shape) == (3, 2, 2, 4)  # torch's OIHW inside
    weights = perturbed(model.get_weights())
    model.set_weights(weights)
    np.testing.assert_array_equal(model.get_weights()["conv_0/kernel"], weights["conv_0/kernel"])


def test_vision_needs_an_image_shape() -> None:
    with pytest.raises(ConfigError, match="H, W, C"):
        VisionNetwork((16,), 2, {})


# --------------------------------------------------------------------------- catalog
def test_catalog_builds_the_torch_models() -> None:
    fc = ModelCatalog.get_model(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2), None, {}, "torch")
    assert isinstance(fc, FullyConnectedNetwork) and fc.num_outputs == 2
    image = gym.spaces.Box(0, 255, (42, 42, 1), np.uint8)
    vision = ModelCatalog.get_model(image, gym.spaces.Discrete(3), None, {"dim": 42}, "torch")
    assert isinstance(vision, VisionNetwork) and vision.obs_shape == (42, 42, 1)
