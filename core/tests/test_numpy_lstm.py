"""The catalog LSTM in the core: its canonical layout (gate order i, f, g, o; state [h, c]), the
forget-bias init, the numpy mirror against a float64 reference of the gate equations, and
ModelPolicy's recurrent acting (initial_state, state_out, compute_values with a state)."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, SampleBatchError, UnsupportedOperationError
from rlcore.models.layout import init_weights, lstm_layout
from rlcore.models.numpy_forward import NumpyLSTMForward
from rlcore.testing.policies import NumpyLSTMPolicy

MODEL = {"use_lstm": True, "lstm_cell_size": 5, "fcnet_hiddens": [6], "max_seq_len": 4}
OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)


def test_lstm_layout_names_shapes_and_order():
    layout = lstm_layout((3,), 2, MODEL)
    assert [(p.name, p.shape) for p in layout] == [
        ("fc_0/kernel", (3, 6)),
        ("fc_0/bias", (6,)),
        ("lstm/kernel", (6, 20)),
        ("lstm/recurrent_kernel", (5, 20)),
        ("lstm/bias", (20,)),
        ("logits/kernel", (5, 2)),
        ("logits/bias", (2,)),
        ("value/kernel", (5, 1)),
        ("value/bias", (1,)),
    ]
    no_trunk = lstm_layout((3,), 2, {**MODEL, "fcnet_hiddens": [], "free_log_std": True})
    assert [p.name for p in no_trunk][:1] == ["lstm/kernel"] and no_trunk[0].shape == (3, 20)
    assert no_trunk[-1].name == "log_std"
    vision = lstm_layout((16, 16, 3), 4, {**MODEL, "conv_filters": [[4, [4, 4], 2], [8, [8, 8], 1]]})
    assert vision[0].name == "conv_0/kernel" and vision[4].shape == (8, 20)  # flattened 1x1x8 features
    with pytest.raises(ConfigError, match="lstm_cell_size must be at least 1"):
        lstm_layout((3,), 2, {**MODEL, "lstm_cell_size": 0})


def test_forget_bias_init_and_normc_kernels():
    w = init_weights(lstm_layout((3,), 2, MODEL), seed=0)
    np.testing.assert_array_equal(w["lstm/bias"], np.r_[np.zeros(5), np.ones(5), np.zeros(10)].astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(w["lstm/kernel"], axis=0), np.ones(20), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(w["lstm/recurrent_kernel"], axis=0), np.ones(20), rtol=1e-5)
    assert all(v.dtype == np.float32 for v in w.values())


def _reference_step(w, obs, h, c):
    """The documented cell in float64: z = x K + h R + b; gates i, f, g, o; c' = s(f) c + s(i) tanh(g)."""
    w = {k: v.astype(np.float64) for k, v in w.items()}
    x = np.tanh(obs.astype(np.float64) @ w["fc_0/kernel"] + w["fc_0/bias"])
    z = x @ w["lstm/kernel"] + h @ w["lstm/recurrent_kernel"] + w["lstm/bias"]
    i, f, g, o = np.split(z, 4, axis=1)

    def s(v):
        return 1 / (1 + np.exp(-v))

    c2 = s(f) * c + s(i) * np.tanh(g)
    h2 = s(o) * np.tanh(c2)
    return h2 @ w["logits/kernel"] + w["logits/bias"], (h2 @ w["value/kernel"] + w["value/bias"])[:, 0], h2, c2


def test_numpy_lstm_matches_the_gate_equations_over_steps():
    layout = lstm_layout((3,), 2, MODEL)
    rng = np.random.default_rng(1)
    w = {k: (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in init_weights(layout, 0).items()}
    net = NumpyLSTMForward(MODEL)
    net.set_weights(w)
    h = np.zeros((4, 5))
    c = np.zeros((4, 5))
    state = [np.zeros((4, 5), np.float32), np.zeros((4, 5), np.float32)]
    for _ in range(6):
        obs = rng.standard_normal((4, 3)).astype(np.float32)
        logits, values, state = net(obs, state)
        ref_logits, ref_values, h, c = _reference_step(w, obs, h, c)
        np.testing.assert_allclose(logits, ref_logits, atol=1e-5)
        np.testing.assert_allclose(values, ref_values, atol=1e-5)
        np.testing.assert_allclose(state[0], h, atol=1e-5)
        np.testing.assert_allclose(state[1], c, atol=1e-5)
        assert state[0].dtype == np.float32 and state[1].dtype == np.float32
    with pytest.raises(ConfigError, match="no numpy mirror"):
        NumpyLSTMForward({**MODEL, "fcnet_activation": "gelu"})


def policy(**config):
    return NumpyLSTMPolicy(OBS_SPACE, gym.spaces.Discrete(2), {"model": MODEL, **config}, seed=0)


def test_recurrent_model_policy_acts_with_a_state():
    p = policy()
    assert p.recurrent and p.max_seq_len == 4 and p.uses_numpy_mirror
    h0, c0 = p.initial_state()
    assert h0.shape == (5,) and h0.dtype == np.float32 and not h0.any() and not c0.any()
    assert p.required_columns == ("obs", "value_targets", "seq_lens", "state_in_0", "state_in_1")
    obs = np.ones((3, 3), np.float32)
    actions, state_out, extras = p.compute_actions(obs, None, False)
    assert actions.shape == (3,) and len(state_out) == 2 and state_out[0].shape == (3, 5)
    assert set(extras) == {sb.ACTION_LOGP, sb.VF_PREDS, sb.ACTION_DIST_INPUTS}
    # the state moves on, and the outputs depend on it
    _, state2, extras2 = p.compute_actions(obs, state_out, False)
    assert not np.allclose(state2[0], state_out[0])
    assert not np.allclose(extras2[sb.VF_PREDS], extras[sb.VF_PREDS])
    # compute_values sees the state: with the state at obs, it equals vf_preds of that step
    np.testing.assert_allclose(p.compute_values(obs, state_out), extras2[sb.VF_PREDS], rtol=1e-6)
    np.testing.assert_allclose(p.compute_values(obs), extras[sb.VF_PREDS], rtol=1e-6)
    # the state passed in is not modified
    before = [s.copy() for s in state_out]
    p.compute_actions(obs, state_out, True)
    np.testing.assert_array_equal(before[0], state_out[0])


def test_mirror_and_forward_step_agree():
    a, b = policy(), policy(numpy_inference=False)
    assert not b.uses_numpy_mirror
    obs = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    sa = sbb = None
    for _ in range(3):
        _, sa, ea = a.compute_actions(obs, sa, False)
        _, sbb, eb = b.compute_actions(obs, sbb, False)
        np.testing.assert_allclose(ea[sb.ACTION_DIST_INPUTS], eb[sb.ACTION_DIST_INPUTS], atol=1e-6)


def test_mirror_refreshes_after_set_weights_and_pickles_with_state():
    p = policy()
    obs = np.ones((2, 3), np.float32)
    before = p.compute_values(obs)
    w = p.get_weights()
    w["value/bias"] = w["value/bias"] + 1.0
    p.set_weights(w)
    np.testing.assert_allclose(p.compute_values(obs), before + 1.0, rtol=1e-5)
    clone = pickle.loads(pickle.dumps(p))
    np.testing.assert_allclose(clone.compute_values(obs), p.compute_values(obs))


def test_learning_batch_needs_sequences():
    p = policy()
    n = 4
    batch = sb.SampleBatch(obs=np.zeros((n, 3), np.float32), value_targets=np.ones(n, np.float32))
    with pytest.raises(SampleBatchError, match=r"needs the columns \['seq_lens', 'state_in_0', 'state_in_1'\]"):
        p.learn_on_batch(batch)
    batch["seq_lens"] = np.array([2, 0, 2, 0], np.int32)
    batch["state_in_0"] = np.zeros((n, 5), np.float32)
    batch["state_in_1"] = np.zeros((n, 5), np.float32)
    p.learn_on_batch(batch)
    batch["seq_lens"] = np.array([3, 0, 2, 0], np.int32)
    with pytest.raises(SampleBatchError, match="inconsistent"):
        p.loss(batch)


class NotRecurrent(NumpyLSTMPolicy):
    capabilities = frozenset({"discrete", "gradients"})


def test_use_lstm_with_a_policy_without_the_capability_names_it():
    with pytest.raises(UnsupportedOperationError) as err:
        NotRecurrent(OBS_SPACE, gym.spaces.Discrete(2), {"model": MODEL}, seed=0)
    msg = str(err.value)
    assert "NotRecurrent does not support recurrent models (model config use_lstm=True)" in msg
    assert "declares 'recurrent'" in msg and "rlcore list-plugins" in msg and "use_lstm to false" in msg


def test_forward_step_default_is_unsupported():
    from rlcore.model_policy import ModelPolicy

    class NoStep(NumpyLSTMPolicy):
        forward_step = ModelPolicy.forward_step

    p = NoStep(OBS_SPACE, gym.spaces.Discrete(2), {"model": MODEL, "numpy_inference": False}, seed=0)
    with pytest.raises(UnsupportedOperationError, match=r"NoStep does not support recurrent models \(forward_step\)"):
        p.compute_actions(np.zeros((1, 3), np.float32))


def test_a_state_that_does_not_fit_is_named():
    from rlcore.model_policy import RecurrentStateError

    p = policy()
    obs = np.ones((3, 3), np.float32)
    _, state, _ = p.compute_actions(obs, None, False)
    with pytest.raises(
        RecurrentStateError, match=r"shapes \[\(3, 5\)\] for 3 observations; expected \[\(3, 5\), \(3, 5\)\]"
    ):
        p.compute_actions(obs, state[:1], False)
    with pytest.raises(RecurrentStateError, match=r"shapes \[\(3, 5\), \(3, 5\)\] for 2 observations"):
        p.compute_values(obs[:2], state)
    with pytest.raises(RecurrentStateError, match=r"\(3, 4\)"):
        p.compute_actions(obs, [state[0][:, :4], state[1]], False)
