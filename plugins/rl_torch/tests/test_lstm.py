"""The torch LSTM catalog model and recurrent torch policies.

Model: canonical layout and seeded init (``lstm_layout``), one step equal to the core's numpy
mirror (``NumpyLSTMForward``) and to ``torch.nn.LSTMCell`` (the gate order i, f, g, o), padded
sequences equal to stepping, fc and conv trunks.

Policies: PPO and A3C with ``model.use_lstm`` through the kit's policy contract (its ``recurrent``
check, and the reference losses replayed sequence by sequence), the loss independent of where the
sequences are cut, acting through the numpy mirror equal to the torch ``forward_step``, sequence
minibatches, a conv trunk, and multi-device learning refused for recurrent batches.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from rl_algos.a3c.reference_loss import a3c_loss
from rl_algos.ppo.reference_loss import ppo_loss
from rl_torch.a3c import A3CTorchPolicy
from rl_torch.models import LSTMNetwork
from rl_torch.ppo import PPOTorchPolicy
from rlcore import sequences
from rlcore.errors import SampleBatchError, UnsupportedOperationError
from rlcore.model_policy import RecurrentStateError
from rlcore.models import ModelCatalog
from rlcore.models.layout import init_weights, lstm_layout
from rlcore.models.numpy_forward import NumpyLSTMForward
from rlcore.testing import PolicyContract
from rlcore.testing.envs import make_continuous_corridor, make_corridor, make_image_corridor
from rlcore.testing.policies import PolicyEvaluatorFactory

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


@pytest.mark.parametrize(
    ("shape", "config"),
    [((5,), FC), ((5,), {**FC, "free_log_std": True}), ((4, 5, 1), VISION)],
    ids=["fc", "fc-free-log-std", "vision"],
)
def test_sequences_equal_stepping(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    model = LSTMNetwork(shape, 3, config, seed=1)
    model.set_weights(perturbed(model.get_weights()))
    cell = config["lstm_cell_size"]
    s, t = 3, 5
    obs = np.random.default_rng(4).standard_normal((s, t, *shape)).astype(np.float32)
    h0, c0 = states(s, cell)
    with torch.no_grad():
        out, values = model.forward_sequences(torch.from_numpy(obs), (torch.from_numpy(h0), torch.from_numpy(c0)))
    assert tuple(out.shape) == (s, t, 6 if config.get("free_log_std") else 3) and tuple(values.shape) == (s, t)
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


# --------------------------------------------------------------------------- recurrent policies
LSTM_MODEL: dict[str, Any] = {"use_lstm": True, "lstm_cell_size": 8, "fcnet_hiddens": [8], "max_seq_len": 5}
POLICY_CONFIG: dict[str, Any] = {"num_envs": 2, "rollout_fragment_length": 16, "lr": 3e-3, "model": LSTM_MODEL}
POLICIES = {"PPO": PPOTorchPolicy, "A3C": A3CTorchPolicy}
REFERENCES = {"PPO": ppo_loss, "A3C": a3c_loss}


def Factory(algorithm: str, env: Any = make_corridor, **config: Any) -> PolicyEvaluatorFactory:
    """The rollout evaluator around the recurrent torch policy of ``algorithm`` on ``env``."""
    return PolicyEvaluatorFactory(algorithm, POLICIES[algorithm], env, {**POLICY_CONFIG, **config})


class TestPPOLSTMContract(PolicyContract):
    """Every conformance check, the recurrent one and PPO's replayed reference loss included."""

    algorithm = "PPO"
    policy = PPOTorchPolicy
    config: ClassVar[dict[str, Any]] = POLICY_CONFIG


class TestA3CLSTMContract(PolicyContract):
    """Every conformance check on the continuous corridor with A3C's LSTM policy."""

    algorithm = "A3C"
    policy = A3CTorchPolicy
    env = make_continuous_corridor
    config: ClassVar[dict[str, Any]] = {**POLICY_CONFIG, "grad_clip": 0.5, "entropy_coeff": 0.01}


@pytest.mark.parametrize("algorithm", ["PPO", "A3C"])
@pytest.mark.parametrize("numpy_inference", [True, False])
def test_loss_matches_the_replayed_reference_wherever_sequences_are_cut(algorithm: str, numpy_inference: bool) -> None:
    ev = Factory(algorithm, numpy_inference=numpy_inference)(0)
    assert ev.policy.recurrent and ev.policy.uses_numpy_mirror is numpy_inference
    batch = ev.sample()
    lens = sequences.sequence_lengths(batch)
    assert lens.sum() == batch.count and lens.max() == 5 and (lens < 5).any()  # cut at max_seq_len and episodes
    loss = ev.loss(batch)  # with the weights that sampled, state_in at any cut is the state there
    for cut in (1, 2, 3):
        assert ev.loss(sequences.rechop(batch, cut)) == pytest.approx(loss, rel=1e-5, abs=1e-6), cut
    rng = np.random.default_rng(5)
    ev.set_weights({k: v + 0.3 * rng.standard_normal(v.shape).astype(np.float32) for k, v in ev.get_weights().items()})
    _, info = ev.compute_gradients(batch)
    ref = REFERENCES[algorithm](ev.policy, batch)
    assert ref["loss"] != pytest.approx(loss, rel=1e-3)
    for k, v in ref.items():
        assert info[k] == pytest.approx(v, rel=1e-4, abs=1e-5), k


def test_acting_through_the_mirror_equals_torch_forward_step() -> None:
    mirror, framework = Factory("PPO")(0).policy, Factory("PPO", numpy_inference=False)(0).policy
    assert mirror.uses_numpy_mirror and not framework.uses_numpy_mirror
    obs = np.random.default_rng(0).standard_normal((6, 10, 5)).astype(np.float32)
    state_a, state_b = [], []
    for t in range(10):  # deterministic actions over 10 steps: the states must stay equal
        act_a, state_a, extras_a = mirror.compute_actions(obs[:, t], state_a, False)
        act_b, state_b, extras_b = framework.compute_actions(obs[:, t], state_b, False)
        np.testing.assert_array_equal(act_a, act_b)
        np.testing.assert_allclose(extras_a["vf_preds"], extras_b["vf_preds"], atol=1e-5)
        for a, b in zip(state_a, state_b, strict=True):
            assert a.dtype == b.dtype == np.float32 and a.shape == b.shape == (6, 8)
            np.testing.assert_allclose(a, b, atol=1e-5)
    # compute_values reads the state it is given
    zero = mirror.compute_values(obs[:, 0])
    assert not np.allclose(mirror.compute_values(obs[:, 0], state_a), zero)
    np.testing.assert_allclose(
        framework.compute_values(obs[:, 0], state_b), mirror.compute_values(obs[:, 0], state_a), atol=1e-5
    )


def test_ppo_learns_on_sequence_minibatches_and_refuses_a_device_split() -> None:
    ev = Factory("PPO", num_cpu_towers=2)(0)
    batch = ev.sample()
    before = ev.loss(batch)
    for epoch in range(4):
        for minibatch in batch.minibatches(12, rng=epoch):
            sequences.check_sequences(minibatch, max_seq_len=5)  # whole sequences
            ev.learn_on_batch(minibatch)
    assert ev.loss(batch) < before
    with pytest.raises(UnsupportedOperationError, match=r"cut the sequences.*learn_on_batch"):
        ev.load_batch(batch)
    broken = batch.copy()
    broken["seq_lens"] = np.zeros_like(broken["seq_lens"])
    with pytest.raises(SampleBatchError):
        ev.learn_on_batch(broken)


def test_a3c_lstm_on_images_acts_through_forward_step() -> None:
    model = {**LSTM_MODEL, "conv_filters": [[4, [2, 2], 2], [8, [2, 3], 1]]}
    ev = Factory("A3C", make_image_corridor, model=model)(0)
    assert isinstance(ev.policy.model, LSTMNetwork) and not ev.policy.uses_numpy_mirror
    batch = ev.sample()
    assert batch["state_in_0"].shape == (batch.count, 8)
    ref = a3c_loss(ev.policy, batch)
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    assert ev.loss(sequences.rechop(batch, 2)) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    _, info = ev.compute_gradients(batch)
    assert info["vf_loss"] == pytest.approx(ref["vf_loss"], rel=1e-4, abs=1e-5)
    for _ in range(5):
        ev.learn_on_batch(batch)
    assert ev.loss(batch) < ref["loss"]


@pytest.mark.parametrize("numpy_inference", [True, False])
def test_bad_recurrent_inputs_are_refused_with_what_to_do(numpy_inference: bool) -> None:
    """A state that does not fit the model (wrong cell size, one tensor, wrong batch) is refused on both
    acting paths (numpy mirror, torch forward_step); a batch without a state column names it."""
    ev = Factory("A3C", numpy_inference=numpy_inference)(0)
    batch = ev.sample()
    obs = batch["obs"][:4]
    for state in (
        [np.zeros((4, 3), np.float32)] * 2,
        [np.zeros((4, 8), np.float32)],
        [np.zeros((2, 8), np.float32)] * 2,
    ):
        with pytest.raises(
            RecurrentStateError,
            match=r"A3CTorchPolicy: the recurrent state has shapes.*expected \[\(4, 8\), \(4, 8\)\]",
        ):
            ev.policy.compute_actions(obs, state, False)
        with pytest.raises(RecurrentStateError):
            ev.policy.compute_values(obs, state)
    for column in ("state_in_1", "seq_lens"):
        bad = batch.copy()
        del bad[column]
        with pytest.raises(SampleBatchError, match=rf"A3CTorchPolicy's loss needs the columns \['{column}'\]"):
            ev.compute_gradients(bad)
