"""The numpy mirror of the catalog's conv trunk and of the models on it (numpy only).

:class:`NumpyConvTrunk` against a naive loop convolution (float64, TensorFlow's SAME rule written
out pixel by pixel), its output shapes against :func:`rlcore.models.layout.conv_layers`, the
vision model, the Q network and the LSTM on a conv trunk against their heads on the naive
features, and the factory :func:`numpy_model`'s refusals. The torch and TensorFlow models are
compared in the plugins' ``test_numpy_vision_mirror.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rlcore.errors import ConfigError
from rlcore.models import ModelCatalog
from rlcore.models.layout import conv_layers, lstm_layout, q_layout
from rlcore.models.numpy_forward import (
    NumpyConvTrunk,
    NumpyLSTMForward,
    NumpyModel,
    NumpyQForward,
    NumpyVisionForward,
    numpy_model,
)
from rlcore.testing.numpy_mirror import random_canonical_weights

ACT = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "elu": lambda x: np.where(x > 0, x, np.expm1(x))}

CASES: list[tuple[tuple[int, ...], list[Any], str]] = [
    ((13, 11, 3), [[5, [3, 2], 2], [7, [3, 3], 3], [4, [2, 2], 1]], "relu"),  # asymmetric SAME pads
    ((9, 7, 2), [[4, [1, 1], 2], [3, 3, 1]], "tanh"),  # 1x1 kernel, int kernel
    ((10, 10, 1), [[6, [4, 4], 3], [5, [2, 2], 2]], "elu"),  # VALID with a stride that drops a row
    ((8, 8, 2), [[3, [5, 5], 1], [2, [3, 3], 4], [4, [2, 2], 1]], "relu"),  # SAME kernel larger than stride
    ((6, 5, 1), [[2, [2, 3], 1]], "relu"),  # a single (VALID) layer
]


def naive_trunk(obs: np.ndarray, weights: dict[str, np.ndarray], filters: list[Any], act: str) -> np.ndarray:
    """The conv trunk by loops over output pixels, float64: SAME pads ``total = max((ceil(n/s) - 1)
    * s + k - n, 0)`` with ``total // 2`` before (TensorFlow's rule), the last layer VALID."""
    x = obs.astype(np.float64)
    for i, (out_c, kernel, s) in enumerate(filters):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        k = weights[f"conv_{i}/kernel"].astype(np.float64)
        b = weights[f"conv_{i}/bias"].astype(np.float64)
        n, h, w, _ = x.shape
        if i < len(filters) - 1:
            oh, ow = math.ceil(h / s), math.ceil(w / s)
            top = max((oh - 1) * s + kh - h, 0) // 2
            left = max((ow - 1) * s + kw - w, 0) // 2
        else:
            oh, ow, top, left = (h - kh) // s + 1, (w - kw) // s + 1, 0, 0
        y = np.zeros((n, oh, ow, out_c))
        for r in range(oh):
            for c in range(ow):
                acc = np.zeros((n, out_c))
                for dr in range(kh):
                    for dc in range(kw):
                        rr, cc = r * s + dr - top, c * s + dc - left
                        if 0 <= rr < h and 0 <= cc < w:
                            acc += x[:, rr, cc, :] @ k[dr, dc]
                y[:, r, c] = acc + b
        x = ACT[act](y)
    return x.reshape(len(x), -1)


def obs_batch(shape: tuple[int, ...], batch: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype(np.float32)


@pytest.mark.parametrize(("shape", "filters", "act"), CASES)
def test_conv_trunk_equals_naive_loops_and_layout_shapes(shape: tuple[int, ...], filters: list[Any], act: str) -> None:
    config = {"conv_filters": filters, "conv_activation": act}
    trunk = NumpyConvTrunk(shape, config)
    layers = conv_layers(shape, filters)
    assert [layer.padding for layer in layers] == ["SAME"] * (len(filters) - 1) + ["VALID"]
    last = layers[-1]
    assert trunk.num_features == last.out_hw[0] * last.out_hw[1] * last.out_channels
    weights = random_canonical_weights(numpy_model("vision", shape, 2, config).layout, seed=1)
    trunk.set_weights(weights)
    obs = obs_batch(shape)
    features = trunk(obs)
    assert features.dtype == np.float32
    assert features.shape == (len(obs), trunk.num_features)
    np.testing.assert_allclose(features, naive_trunk(obs, weights, filters, act), rtol=1e-5, atol=1e-5)


def test_default_84x84_filters_shrink_to_one_pixel_and_match_naive_loops() -> None:
    shape = (84, 84, 4)
    trunk = NumpyConvTrunk(shape, {})
    filters = ModelCatalog.get_filter_config(shape)
    assert [layer.out_hw for layer in trunk.layers] == [(21, 21), (11, 11), (1, 1)]
    assert trunk.num_features == 256
    weights = random_canonical_weights(numpy_model("vision", shape, 2, {}).layout, seed=2)
    trunk.set_weights(weights)
    obs = obs_batch(shape, batch=2)
    np.testing.assert_allclose(trunk(obs), naive_trunk(obs, weights, filters, "relu"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("free_log_std", [False, True])
def test_vision_model_is_its_heads_on_the_trunk(free_log_std: bool) -> None:
    shape, filters = CASES[0][0], CASES[0][1]
    config = {"conv_filters": filters, "free_log_std": free_log_std}
    mirror = numpy_model("vision", shape, 3, config)
    assert isinstance(mirror.forward, NumpyVisionForward)
    assert (mirror.kind, mirror.action_outputs, mirror.recurrent) == ("vision", "dist", False)
    w = random_canonical_weights(mirror.layout, seed=3)
    mirror.set_weights(w)
    obs = obs_batch(shape, batch=4)
    features = naive_trunk(obs, w, filters, "relu")
    logits, values = mirror(obs)
    expected = features @ w["logits/kernel"] + w["logits/bias"]
    if free_log_std:
        expected = np.concatenate([expected, np.broadcast_to(w["log_std"], expected.shape)], axis=1)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(values, (features @ w["value/kernel"] + w["value/bias"])[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("hiddens", "dueling"), [([], False), ([16], False), ([], True), ([16], True)])
def test_q_network_on_the_conv_trunk_is_its_head_on_the_features(hiddens: list[int], dueling: bool) -> None:
    shape, filters = CASES[1][0], CASES[1][1]
    config = ModelCatalog.resolve_model_config({"conv_filters": filters, "conv_activation": "tanh"})
    mirror = numpy_model("q", shape, 4, config, hiddens=hiddens, dueling=dueling)
    assert mirror.action_outputs == "q"
    assert [p.name for p in mirror.layout] == [p.name for p in q_layout(shape, 4, config, hiddens, dueling)]
    w = random_canonical_weights(mirror.layout, seed=4)
    mirror.set_weights(w)
    obs = obs_batch(shape, batch=5)
    features = naive_trunk(obs, w, filters, "tanh").astype(np.float32)
    head = NumpyQForward({**config, "fcnet_hiddens": []}, hiddens, dueling)
    head.set_weights({k: v for k, v in w.items() if not k.startswith("conv_")})
    q, q_max = mirror(obs)
    np.testing.assert_allclose(q, head(features), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(q_max, q.max(axis=1))


def test_lstm_on_the_conv_trunk_is_the_fc_less_lstm_on_the_features() -> None:
    shape, filters = CASES[0][0], CASES[0][1]
    config = ModelCatalog.resolve_model_config({"use_lstm": True, "lstm_cell_size": 5, "conv_filters": filters})
    mirror = numpy_model("lstm", shape, 3, config)
    assert mirror.recurrent and mirror.cell_size == 5
    assert [p.name for p in mirror.layout] == [p.name for p in lstm_layout(shape, 3, config)]
    w = random_canonical_weights(mirror.layout, seed=5)
    mirror.set_weights(w)
    flat = NumpyLSTMForward({**config, "fcnet_hiddens": []})
    flat.set_weights({k: v for k, v in w.items() if not k.startswith("conv_")})
    state = mirror.initial_state(2)
    assert [s.shape for s in state] == [(2, 5), (2, 5)]
    flat_state = state
    for t in range(3):
        obs = obs_batch(shape, batch=2, seed=t)
        out, value, state = mirror(obs, state)
        f_out, f_value, flat_state = flat(naive_trunk(obs, w, filters, "relu").astype(np.float32), flat_state)
        np.testing.assert_allclose(out, f_out, rtol=1e-5, atol=1e-5, err_msg=f"step {t}")
        np.testing.assert_allclose(value, f_value, rtol=1e-5, atol=1e-5, err_msg=f"step {t}")
    # no state: an episode's start (zeros)
    first = mirror(obs_batch(shape, batch=2, seed=0))
    again = mirror(obs_batch(shape, batch=2, seed=0), mirror.initial_state(2))
    np.testing.assert_array_equal(first[0], again[0])


def test_factory_covers_the_fc_kinds() -> None:
    fc = numpy_model("fc", (4,), 2, {"fcnet_hiddens": [8]})
    assert isinstance(fc, NumpyModel) and fc.kind == "fc"
    fc.set_weights(random_canonical_weights(fc.layout, seed=6))
    out, value = fc(obs_batch((4,)))
    assert out.shape == (3, 2) and value.shape == (3,)
    q = numpy_model("fc", (4,), 2, {"fcnet_hiddens": [8]}, action_outputs="q", hiddens=[5], dueling=True)
    q.set_weights(random_canonical_weights(q.layout, seed=6))
    assert q(obs_batch((4,)))[0].shape == (3, 2)
    lstm = numpy_model("lstm", (4,), 2, {"use_lstm": True, "lstm_cell_size": 3, "fcnet_hiddens": [8]})
    lstm.set_weights(random_canonical_weights(lstm.layout, seed=6))
    assert [s.shape for s in lstm(obs_batch((4,)), lstm.initial_state(3))[2]] == [(3, 3), (3, 3)]


@pytest.mark.parametrize(
    ("kind", "kwargs", "config", "match"),
    [
        ("fc", {}, {"custom_model": "my_net"}, "custom model 'my_net' has no numpy mirror"),
        ("custom", {}, {}, "has no numpy mirror"),
        ("vision", {}, {"conv_activation": "gelu", "conv_filters": [[2, [2, 2], 1]]}, "conv_activation 'gelu'"),
        ("fc", {}, {"fcnet_activation": "softplus"}, "fcnet_activation 'softplus'"),
        ("lstm", {"action_outputs": "q"}, {"use_lstm": True}, "Q network on an LSTM"),
        ("transformer", {}, {}, "model kind 'transformer' has no numpy mirror"),
        ("fc", {"action_outputs": "logits"}, {}, "action_outputs 'logits'"),
        ("vision", {}, {"conv_filters": [[2, [9, 9], 1]]}, "shrink"),
    ],
)
def test_factory_refuses_what_has_no_mirror(
    kind: str, kwargs: dict[str, Any], config: dict[str, Any], match: str
) -> None:
    shape = (4,) if kind in ("fc", "lstm", "custom", "transformer") else (6, 5, 2)
    with pytest.raises(ConfigError, match=match):
        numpy_model(kind, shape, 2, config, **kwargs)


def test_set_weights_names_the_misfit() -> None:
    mirror = numpy_model("vision", (6, 5, 2), 2, {"conv_filters": [[2, [2, 2], 1]]})
    weights = random_canonical_weights(mirror.layout, seed=7)
    weights["conv_0/kernel"] = weights["conv_0/kernel"][:1]
    with pytest.raises(ConfigError, match="conv_0/kernel"):
        mirror.set_weights(weights)
    del weights["conv_0/kernel"]
    with pytest.raises(ConfigError, match=r"missing \['conv_0/kernel'\]"):
        mirror.set_weights(weights)
