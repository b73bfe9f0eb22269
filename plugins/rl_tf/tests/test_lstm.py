"""Recurrent (LSTM) models in TensorFlow: LSTMNetwork against the core's numpy mirror and its own
stepping, one traced graph for every padded length, and PPO and A3C with ``use_lstm`` through the
conformance kit (the reference losses replay the sequences in numpy)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import tensorflow as tf
from rl_tf_testutil import shifted, weights_close

import rlcore
from rl_algos.a3c.reference_loss import a3c_loss
from rl_algos.ppo.reference_loss import ppo_loss
from rl_tf import plugin
from rl_tf.a3c import A3CTFPolicy
from rl_tf.models import LSTMNetwork
from rl_tf.ppo import PPOTFPolicy
from rlcore import sequences as sq
from rlcore.errors import UnsupportedOperationError
from rlcore.models import ModelCatalog
from rlcore.models.layout import init_weights, lstm_layout
from rlcore.models.numpy_forward import NumpyLSTMForward
from rlcore.testing import PolicyContract, PolicyEvaluatorFactory
from rlcore.testing.envs import make_continuous_corridor, make_corridor, make_image_corridor

#: A small LSTM: fast to trace and run, sequences cut every 5 rows so batches hold many.
LSTM: dict[str, Any] = {"use_lstm": True, "lstm_cell_size": 8, "fcnet_hiddens": [8], "max_seq_len": 5}
BASE: dict[str, Any] = {"lr": 1e-3, "model": LSTM}
VISION: dict[str, Any] = {
    "model": {**LSTM, "conv_filters": [[4, [2, 2], 1], [8, [4, 5], 1]]},
    "env_config": {"height": 4, "length": 5},
}


class TestA3CRecurrentContract(PolicyContract):
    """Every conformance check on A3C with an LSTM (reference loss through replayed sequences)."""

    algorithm = "A3C"
    policy = A3CTFPolicy
    config: ClassVar[dict[str, Any]] = BASE


class TestA3CRecurrentContinuousContract(PolicyContract):
    """A3C with an LSTM on the continuous corridor (diagonal Gaussian, grad clip)."""

    algorithm = "A3C"
    policy = A3CTFPolicy
    env = make_continuous_corridor
    config: ClassVar[dict[str, Any]] = {**BASE, "grad_clip": 0.5}


class TestPPORecurrentContract(PolicyContract):
    """Every conformance check on PPO with an LSTM; multi-device learning refuses sequences."""

    algorithm = "PPO"
    policy = PPOTFPolicy
    config: ClassVar[dict[str, Any]] = BASE

    def test_multi_device(self, evaluator_factory: Any) -> None:
        """Rows split over devices would cut sequences: load_batch refuses a recurrent batch."""
        ev = evaluator_factory(0)
        with pytest.raises(UnsupportedOperationError, match=r"PPOTFPolicy does not support multi-device.*sequences"):
            ev.load_batch(ev.sample())


def factory(algorithm: str = "A3C", env: Any = make_corridor, **config: Any) -> PolicyEvaluatorFactory:
    policy = A3CTFPolicy if algorithm == "A3C" else PPOTFPolicy
    return PolicyEvaluatorFactory(algorithm, policy, env, {**BASE, **config})


def random_weights(model: LSTMNetwork, seed: int) -> dict[str, np.ndarray]:
    """Weights large enough that the gates saturate differently from the initial ones."""
    rng = np.random.default_rng(seed)
    return {k: (0.5 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in model.get_weights().items()}


# --------------------------------------------------------------------------- the model
def test_registered_as_the_lstm_model_and_built_by_the_catalog() -> None:
    assert rlcore.get_model_builder("lstm", "tf") is LSTMNetwork
    model = ModelCatalog.build_model((5,), 2, LSTM, "tf", seed=3)
    assert isinstance(model, LSTMNetwork) and model.cell_size == 8
    layout = lstm_layout((5,), 2, ModelCatalog.resolve_model_config(LSTM))
    assert model.weight_names() == [p.name for p in layout]
    weights_close(model.get_weights(), init_weights(layout, 3), rtol=0, atol=0)  # torch starts from the same
    bias = model.get_weights()["lstm/bias"]
    np.testing.assert_array_equal(bias, np.repeat([0.0, 1.0, 0.0, 0.0], 8).astype(np.float32))  # forget bias 1
    assert [s.shape for s in model.initial_state()] == [(8,), (8,)]


@pytest.mark.parametrize("model_config", [LSTM, {**LSTM, "fcnet_hiddens": [], "free_log_std": True}])
def test_forward_step_equals_the_numpy_mirror(model_config: dict[str, Any]) -> None:
    model = LSTMNetwork((3, 2), 3, model_config, seed=0)
    weights = random_weights(model, 1)
    model.set_weights(weights)
    mirror = NumpyLSTMForward(ModelCatalog.resolve_model_config(model_config))
    mirror.set_weights(weights)
    rng = np.random.default_rng(2)
    state_tf = [tf.zeros([4, 8]), tf.zeros([4, 8])]
    state_np = [np.zeros((4, 8), np.float32), np.zeros((4, 8), np.float32)]
    for _ in range(6):  # later steps start from non-zero states
        obs = rng.standard_normal((4, 3, 2)).astype(np.float32)
        d_tf, v_tf, state_tf = model.forward_step(tf.constant(obs), state_tf)
        d_np, v_np, state_np = mirror(obs, state_np)
        np.testing.assert_allclose(d_tf.numpy(), d_np, atol=1e-5)
        np.testing.assert_allclose(v_tf.numpy(), v_np, atol=1e-5)
        for a, b in zip(state_tf, state_np, strict=True):
            np.testing.assert_allclose(a.numpy(), b, atol=1e-5)
    assert np.abs(state_np[0]).max() > 0.1
    d0, v0 = model(tf.constant(obs))
    d1, v1, _ = mirror(obs, [np.zeros((4, 8), np.float32)] * 2)
    np.testing.assert_allclose(d0.numpy(), d1, atol=1e-5)
    np.testing.assert_allclose(v0.numpy(), v1, atol=1e-5)


@pytest.mark.parametrize(
    ("obs_shape", "model_config"),
    [((5,), LSTM), ((4, 5, 1), VISION["model"]), ((5,), {**LSTM, "free_log_std": True})],
    ids=["fc", "vision", "free_log_std"],
)
def test_forward_sequences_equals_stepping(obs_shape: tuple[int, ...], model_config: dict[str, Any]) -> None:
    model = LSTMNetwork(obs_shape, 2, model_config, seed=0)
    model.set_weights(random_weights(model, 4))
    rng = np.random.default_rng(0)
    s, t = 3, 6
    obs = rng.standard_normal((s, t, *obs_shape)).astype(np.float32)
    h0, c0 = (rng.standard_normal((s, 8)).astype(np.float32) for _ in range(2))
    dist, values = model.forward_sequences(tf.constant(obs), [tf.constant(h0), tf.constant(c0)])
    assert dist.shape[:2] == (s, t) and values.shape == (s, t)
    state = [tf.constant(h0), tf.constant(c0)]
    for step in range(t):
        d, v, state = model.forward_step(tf.constant(obs[:, step]), state)
        np.testing.assert_allclose(dist[:, step].numpy(), d.numpy(), atol=1e-5, err_msg=f"step {step}")
        np.testing.assert_allclose(values[:, step].numpy(), v.numpy(), atol=1e-5, err_msg=f"step {step}")


def test_policy_forward_step_checks_shapes_and_non_recurrent_models_refuse_it() -> None:
    policy = factory()(0).policy
    with pytest.raises(ValueError, match=r"states of shape \[2, 8\]"):
        policy.forward_step(np.zeros((2, 5), np.float32), [np.zeros((3, 8), np.float32)] * 2)
    with pytest.raises(ValueError, match=r"the state \[h, c\]"):
        policy.forward_step(np.zeros((2, 5), np.float32), [np.zeros((2, 8), np.float32)])
    plain = factory(model={"fcnet_hiddens": [8]})(0).policy
    with pytest.raises(UnsupportedOperationError, match="A3CTFPolicy does not support forward_step"):
        plain.forward_step(np.zeros((2, 5), np.float32), [])


# --------------------------------------------------------------------------- policies
@pytest.mark.parametrize("algorithm", ["A3C", "PPO"])
def test_one_trace_serves_every_padded_length(algorithm: str) -> None:
    """Minibatches padded to different T (1..max_seq_len) and different numbers of sequences reuse
    the one graph traced from the [None, None, *obs] signature; the loss does not depend on the cut."""
    ev = factory(algorithm)(0)
    policy = ev.policy
    batch = ev.sample()
    losses = []
    for max_len in (5, 1, 3, 2):
        chopped = sq.rechop(batch, max_len)
        losses.append(ev.loss(chopped))
        ev.compute_gradients(chopped)
    for mb in batch.minibatches(7):
        ev.learn_on_batch(mb)
    ev.compute_actions(np.zeros((3, 5), np.float32), explore=False)
    policy.forward(np.zeros((2, 5), np.float32))
    np.testing.assert_allclose(losses, losses[0], rtol=1e-5)
    for fn in (policy._grads_fn, policy._loss_fn, policy._step_fn, policy.optimizer._apply_fn):
        assert fn.function.experimental_get_tracing_count() == 1


@pytest.mark.parametrize(
    ("algorithm", "reference", "env", "config"),
    [
        ("A3C", a3c_loss, make_corridor, {"entropy_coeff": 0.05}),
        ("A3C", a3c_loss, make_continuous_corridor, {"model": {**LSTM, "free_log_std": True}}),
        ("PPO", None, make_corridor, {"entropy_coeff": 0.01}),
        ("A3C", a3c_loss, make_image_corridor, VISION),
    ],
    ids=["a3c", "a3c-continuous", "ppo", "a3c-vision"],
)
def test_loss_on_padded_sequences_matches_the_replayed_numpy_reference(
    algorithm: str, reference: Any, env: Any, config: dict[str, Any]
) -> None:
    ev = factory(algorithm, env, **config)(0)
    batch = ev.sample()
    shifted(ev, 0.2)
    ev.set_global_vars({"kl_coeff": 0.5})
    _, info = ev.compute_gradients(batch)
    ref = reference(ev.policy, batch) if reference else ppo_loss(ev.policy, batch, 0.5)
    for k, v in ref.items():
        if np.ndim(v) == 0 and k in info:
            assert info[k] == pytest.approx(v, rel=1e-4, abs=1e-5), k
    if algorithm == "PPO":
        assert ref["kl"] > 1e-4, "the weights moved: the replay differs from the sampled outputs"


def test_fresh_samples_have_ratio_one_and_the_tf_step_acts_as_the_mirror() -> None:
    """The padded TF forward pass reproduces what the numpy mirror computed while sampling (PPO's
    ratio is 1, KL 0), and numpy_inference False (TF's forward_step) samples the same batch."""
    mirror_ev, tf_ev = factory("PPO")(0), factory("PPO", numpy_inference=False)(0)
    assert mirror_ev.policy.uses_numpy_mirror and not tf_ev.policy.uses_numpy_mirror
    a, b = mirror_ev.sample(), tf_ev.sample()
    np.testing.assert_array_equal(a["actions"], b["actions"])
    for col in ("action_dist_inputs", "vf_preds", "state_in_0", "state_in_1"):
        np.testing.assert_allclose(a[col], b[col], atol=1e-5, err_msg=col)
    _, info = mirror_ev.compute_gradients(a)
    assert info["kl"] == pytest.approx(0.0, abs=1e-6) and info["clip_frac"] == 0.0


def test_vision_trunk_acts_through_the_tf_step_and_learns() -> None:
    ev = factory("A3C", make_image_corridor, **VISION)(0)
    assert not ev.policy.uses_numpy_mirror, "vision trunks act through forward_step"
    batch = ev.sample()
    assert batch["state_in_0"].shape == (batch.count, 8)
    before = ev.loss(batch)
    for _ in range(5):
        ev.learn_on_batch(batch)
    assert ev.loss(batch) < before


def test_capabilities_declare_recurrent() -> None:
    assert "recurrent" in PPOTFPolicy.capabilities and "recurrent" in A3CTFPolicy.capabilities
    assert set(plugin.PPO_CAPABILITIES) == PPOTFPolicy.capabilities
    assert set(plugin.A3C_CAPABILITIES) == A3CTFPolicy.capabilities


def test_a_recurrent_ppo_instance_does_not_declare_multi_device() -> None:
    """As the torch PPO: the LocalMultiGPUOptimizer's capability check refuses it up front."""
    assert "multi_device" not in factory("PPO")(0).capabilities
    plain = PolicyEvaluatorFactory("PPO", PPOTFPolicy, make_corridor, {"lr": 1e-3, "model": {"fcnet_hiddens": [8]}})(0)
    assert "multi_device" in plain.capabilities
