"""Catalog models in TF: canonical names/shapes, seeded init, weight round trip, and outputs that
match a plain numpy implementation of the layout (the contract the torch twin follows too)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from rl_tf.models import FullyConnectedNetwork, VisionNetwork
from rlcore.errors import ConfigError
from rlcore.models import ModelCatalog
from rlcore.models.layout import fc_layout, init_weights, same_padding, vision_layout

NP_ACT = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
    "linear": lambda x: x,
}


def np_fc(w: dict[str, np.ndarray], obs: np.ndarray, hiddens: list[int], act: str, share: bool) -> tuple:
    """The fully connected layout computed in numpy (float64)."""
    x = obs.reshape(len(obs), -1).astype(np.float64)
    f = NP_ACT[act]
    h = x
    for i in range(len(hiddens)):
        h = f(h @ w[f"fc_{i}/kernel"] + w[f"fc_{i}/bias"])
    logits = h @ w["logits/kernel"] + w["logits/bias"]
    if not share:
        h = x
        for i in range(len(hiddens)):
            h = f(h @ w[f"value_fc_{i}/kernel"] + w[f"value_fc_{i}/bias"])
    value = (h @ w["value/kernel"] + w["value/bias"])[:, 0]
    if "log_std" in w:
        logits = np.concatenate([logits, np.broadcast_to(w["log_std"], logits.shape)], axis=1)
    return logits, value


def np_conv(x: np.ndarray, k: np.ndarray, b: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """NHWC conv with HWIO kernels; SAME padding by layout.same_padding (TF's rule)."""
    kh, kw = k.shape[:2]
    if padding == "SAME":
        ph, pw = same_padding(x.shape[1], kh, stride), same_padding(x.shape[2], kw, stride)
        x = np.pad(x, ((0, 0), ph, pw, (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("bhwcij,ijco->bhwo", win, k) + b


def perturbed(w: dict[str, np.ndarray], seed: int = 1) -> dict[str, np.ndarray]:
    """Weights with random values everywhere (biases and log_std included), same shapes."""
    rng = np.random.default_rng(seed)
    return {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in w.items()}


@pytest.mark.parametrize("act", sorted(NP_ACT))
@pytest.mark.parametrize(("share", "free_log_std"), [(False, False), (True, False), (False, True)])
def test_fc_matches_numpy_layout(act: str, share: bool, free_log_std: bool) -> None:
    config = {"fcnet_hiddens": [8, 6], "fcnet_activation": act, "vf_share_layers": share, "free_log_std": free_log_std}
    model = FullyConnectedNetwork((2, 3), 3, config, seed=0)
    w = perturbed(model.get_weights())
    model.set_weights(w)
    obs = np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float32)
    dist_inputs, value = model(tf.constant(obs))
    ref_logits, ref_value = np_fc(w, obs, [8, 6], act, share)
    assert dist_inputs.shape == (5, 6 if free_log_std else 3) and value.shape == (5,)
    np.testing.assert_allclose(dist_inputs.numpy(), ref_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(value.numpy(), ref_value, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "config", [{}, {"vf_share_layers": True}, {"free_log_std": True, "fcnet_hiddens": [7]}, {"fcnet_hiddens": []}]
)
def test_fc_names_shapes_and_seeded_init_follow_the_layout(config: dict) -> None:
    resolved = ModelCatalog.resolve_model_config(config)
    layout = fc_layout(4, 2, resolved)
    model = FullyConnectedNetwork((4,), 2, config, seed=3)
    assert model.weight_names() == [p.name for p in layout]
    weights = model.get_weights()
    assert list(weights) == [p.name for p in layout]
    expected = init_weights(layout, 3)
    for name, arr in weights.items():
        assert arr.dtype == np.float32
        np.testing.assert_array_equal(arr, expected[name])
    other = FullyConnectedNetwork((4,), 2, config, seed=4).get_weights()
    assert not np.array_equal(other[layout[0].name], weights[layout[0].name])


def test_weights_round_trip_as_independent_copies() -> None:
    model = FullyConnectedNetwork((4,), 2, {"fcnet_hiddens": [8]}, seed=0)
    w = perturbed(model.get_weights())
    model.set_weights(w)
    got = model.get_weights()
    for k in w:
        np.testing.assert_array_equal(got[k], w[k])
    w["fc_0/kernel"][...] = 0.0  # the caller's arrays are not the model's
    got["fc_0/bias"][...] = 5.0
    again = model.get_weights()
    assert np.abs(again["fc_0/kernel"]).sum() > 0 and not np.any(again["fc_0/bias"] == 5.0)


def test_set_weights_rejects_misfits_before_loading_anything() -> None:
    model = FullyConnectedNetwork((4,), 2, {"fcnet_hiddens": [8]}, seed=0)
    before = model.get_weights()
    bad = dict(before)
    bad["logits/kernel"] = np.zeros((8, 3), np.float32)
    bad["fc_0/bias"] = np.ones(8, np.float32)
    with pytest.raises(ConfigError, match=r"wrong shapes.*logits/kernel"):
        model.set_weights(bad)
    missing = {k: v for k, v in before.items() if k != "value/bias"}
    with pytest.raises(ConfigError, match=r"missing \['value/bias'\]"):
        model.set_weights(missing)
    np.testing.assert_array_equal(model.get_weights()["fc_0/bias"], before["fc_0/bias"])


def test_unknown_activation_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="valid activations"):
        FullyConnectedNetwork((4,), 2, {"fcnet_activation": "gelu"})


@pytest.mark.parametrize(
    ("shape", "hw"),
    [((84, 84, 4), [(21, 21), (11, 11), (1, 1)]), ((42, 42, 1), [(21, 21), (11, 11), (1, 1)])],
)
def test_vision_default_filters_same_then_valid(shape: tuple, hw: list) -> None:
    model = VisionNetwork(shape, 6, {}, seed=0)
    assert [layer.out_hw for layer in model.conv] == hw
    assert [layer.padding for layer in model.conv] == ["SAME", "SAME", "VALID"]
    layout = vision_layout(shape, 6, ModelCatalog.resolve_model_config({}))
    assert model.weight_names() == [p.name for p in layout]
    assert {k: v.shape for k, v in model.get_weights().items()} == {p.name: p.shape for p in layout}
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, *shape)).astype(np.float32))
    dist_inputs, value = model(x)
    assert dist_inputs.shape == (2, 6) and value.shape == (2,)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_vision_matches_numpy_conv_with_tf_same_padding(act: str) -> None:
    # Odd sizes and stride 2 make SAME pad unevenly (more after than before): the case torch must copy.
    config = {"conv_filters": [[4, [3, 3], 2], [5, 4, 2], [8, [4, 3], 1]], "conv_activation": act, "free_log_std": True}
    shape = (13, 11, 2)
    model = VisionNetwork(shape, 3, config, seed=0)
    w = perturbed(model.get_weights())
    model.set_weights(w)
    obs = np.random.default_rng(1).uniform(-1, 1, (3, *shape)).astype(np.float32)
    dist_inputs, value = model(tf.constant(obs))
    x = obs.astype(np.float64)
    for layer in model.conv:
        x = NP_ACT[act](np_conv(x, w[f"{layer.name}/kernel"], w[f"{layer.name}/bias"], layer.stride, layer.padding))
        assert x.shape[1:3] == layer.out_hw
    flat = x.reshape(len(x), -1)  # NHWC order
    logits = flat @ w["logits/kernel"] + w["logits/bias"]
    np.testing.assert_allclose(dist_inputs.numpy()[:, :3], logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dist_inputs.numpy()[:, 3:], np.broadcast_to(w["log_std"], logits.shape), rtol=1e-6)
    np.testing.assert_allclose(value.numpy(), (flat @ w["value/kernel"] + w["value/bias"])[:, 0], rtol=1e-4, atol=1e-4)


def test_vision_seeded_init_equals_layout_init() -> None:
    config = ModelCatalog.resolve_model_config({"conv_filters": [[4, [3, 3], 2], [8, [4, 4], 1]]})
    shape = (8, 8, 3)
    expected = init_weights(vision_layout(shape, 2, config), 11)
    got = VisionNetwork(shape, 2, config, seed=11).get_weights()
    assert list(got) == list(expected)
    for k in expected:
        np.testing.assert_array_equal(got[k], expected[k])


def test_registered_builders_are_these_classes() -> None:
    from rlcore.registration import get_model_builder

    assert get_model_builder("fc", "tf") is FullyConnectedNetwork
    assert get_model_builder("vision", "tf") is VisionNetwork
    model = ModelCatalog.get_model(
        gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2), None, {"fcnet_hiddens": [4]}, "tf"
    )
    assert isinstance(model, FullyConnectedNetwork)
    assert model(tf.zeros((1, 3)))[0].shape == (1, 2)
