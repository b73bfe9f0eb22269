"""The torch LSTM catalog model and recurrent torch policies.

Model: canonical layout and seeded init (``lstm_layout``), one step equal to the core's numpy
mirror (``NumpyLSTMForward``) and to ``torch.nn.LSTMCell`` (the gate order i, f, g, o), padded
sequences equal to stepping, fc and conv trunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from rl_torch.models import LSTMNetwork
from rlcore.models import ModelCatalog
from rlcore.models.layout import init_weights, lstm_layout
from rlcore.models.numpy_forward import NumpyLSTMForward

FC: dict[str, Any] = {"use_lstm": True, "lstm_cell_size": 6, "fcnet_hiddens": [8, 5]}
VISION: dict[str, Any] = {"use_lstm": True, "lstm_cell_size": 4, "conv_filters": [[3, [2, 2], 2], [4, [2, 3], 1]]}


def perturbed(weights: dict[str, np.ndarray], seed: int = 1, scale: float = 0.3) -> dict[str, np.ndarray]:
    """Every weight moved (biases and log_std become non-zero, so they are exercised)."""
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in weights.items()}


def states(batch: int, cell: int, seed: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, cell)).astype(np.float32) for _ in range(2)]


def step(model: LSTMNetwork, obs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    with torch.no_grad():
        out, value, (h, c) = model.forward_step(torch.from_numpy(obs), [torch.from_numpy(s) for s in state])
    return out.numpy(), value.numpy(), h.numpy(), c.numpy()


@pytest.mark.parametrize(
    "config",
    [
        FC,
        {**FC, "fcnet_activation": "relu", "free_log_std": True},
        {**FC, "fcnet_hiddens": []},  # the LSTM straight on the observations
    ],
)
def test_layout_seeded_init_and_weights(config: dict[str, Any]) -> None:
    num_outputs = 3
    model = LSTMNetwork((5,), num_outputs, config, seed=7)
    layout = lstm_layout((5,), num_outputs, ModelCatalog.resolve_model_config(config))
    assert model.weight_names() == [p.name for p in layout]
    ref = init_weights(layout, 7)
    weights = model.get_weights()
    for name, value in ref.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)
    cell = config["lstm_cell_size"]
    assert weights["lstm/kernel"].shape[1] == weights["lstm/recurrent_kernel"].shape[1] == 4 * cell
    np.testing.assert_array_equal(weights["lstm/bias"][cell : 2 * cell], 1.0)  # the forget bias
    new = perturbed(weights)
    model.set_weights(new)
    for name, value in model.get_weights().items():
        np.testing.assert_array_equal(value, new[name], err_msg=name)
    assert [s.shape for s in model.initial_state()] == [(cell,), (cell,)]
    assert all(s.dtype == np.float32 and not s.any() for s in model.initial_state())


@pytest.mark.parametrize("config", [FC, {**FC, "fcnet_activation": "elu", "free_log_std": True}])
def test_steps_equal_the_numpy_mirror(config: dict[str, Any]) -> None:
    model = LSTMNetwork((5,), 3, config, seed=0)
    weights = perturbed(model.get_weights())
    model.set_weights(weights)
    mirror = NumpyLSTMForward(ModelCatalog.resolve_model_config(config))
    mirror.set_weights(weights)
    rng = np.random.default_rng(0)
    state_t = states(4, config["lstm_cell_size"])
    state_np = [s.copy() for s in state_t]
    for _ in range(6):  # the states drift apart if any step differs
        obs = rng.standard_normal((4, 5)).astype(np.float32)
        out, value, h, c = step(model, obs, state_t)
        ref_out, ref_value, (ref_h, ref_c) = mirror(obs, state_np)
        np.testing.assert_allclose(out, ref_out, atol=1e-5)
        np.testing.assert_allclose(value, ref_value, atol=1e-5)
        np.testing.assert_allclose(h, ref_h, atol=1e-5)
        np.testing.assert_allclose(c, ref_c, atol=1e-5)
        state_t, state_np = [h, c], [ref_h, ref_c]


def test_the_cell_is_torch_lstm_cell_with_gates_i_f_g_o() -> None:
    config = {**FC, "fcnet_hiddens": []}
    model = LSTMNetwork((5,), 2, config, seed=0)
    weights = perturbed(model.get_weights())
    model.set_weights(weights)
    cell = torch.nn.LSTMCell(5, 6)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(weights["lstm/kernel"].T))
        cell.weight_hh.copy_(torch.from_numpy(weights["lstm/recurrent_kernel"].T))
        cell.bias_ih.copy_(torch.from_numpy(weights["lstm/bias"]))
        cell.bias_hh.zero_()
        obs = torch.from_numpy(np.random.default_rng(3).standard_normal((4, 5)).astype(np.float32))
        h0, c0 = (torch.from_numpy(s) for s in states(4, 6))
        ref_h, ref_c = cell(obs, (h0, c0))
    _, _, h, c = step(model, obs.numpy(), [h0.numpy(), c0.numpy()])
    np.testing.assert_allclose(h, ref_h.numpy(), atol=1e-6)
    np.testing.assert_allclose(c, ref_c.numpy(), atol=1e-6)


@pytest.mark.parametrize(("shape", "config"), [((5,), FC), ((4, 5, 1), VISION)], ids=["fc", "vision"])
def test_sequences_equal_stepping(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    model = LSTMNetwork(shape, 3, config, seed=1)
    model.set_weights(perturbed(model.get_weights()))
    cell = config["lstm_cell_size"]
    s, t = 3, 5
    obs = np.random.default_rng(4).standard_normal((s, t, *shape)).astype(np.float32)
    h0, c0 = states(s, cell)
    with torch.no_grad():
        out, values = model.forward_sequences(torch.from_numpy(obs), (torch.from_numpy(h0), torch.from_numpy(c0)))
    assert tuple(out.shape) == (s, t, 3) and tuple(values.shape) == (s, t)
    state = [h0, c0]
    for i in range(t):
        ref_out, ref_value, h, c = step(model, obs[:, i], state)
        np.testing.assert_allclose(out[:, i].numpy(), ref_out, atol=1e-5, err_msg=f"step {i}")
        np.testing.assert_allclose(values[:, i].numpy(), ref_value, atol=1e-5, err_msg=f"step {i}")
        state = [h, c]
    # forward() is one step from the zero state
    zeros = [np.zeros((s, cell), np.float32)] * 2
    with torch.no_grad():
        first_out, first_value = model(torch.from_numpy(obs[:, 0]))
    np.testing.assert_allclose(first_out.numpy(), step(model, obs[:, 0], zeros)[0], atol=1e-6)
    np.testing.assert_allclose(first_value.numpy(), step(model, obs[:, 0], zeros)[1], atol=1e-6)


def test_catalog_builds_the_lstm_for_use_lstm() -> None:
    model = ModelCatalog.build_model((5,), 2, FC, "torch", seed=3)
    assert isinstance(model, LSTMNetwork) and model.conv_trunk is None
    vision = ModelCatalog.build_model((4, 5, 1), 2, VISION, "torch", seed=3)
    assert isinstance(vision, LSTMNetwork) and vision.conv_trunk is not None
    assert vision.weight_names()[:4] == ["conv_0/kernel", "conv_0/bias", "conv_1/kernel", "conv_1/bias"]
