"""DQNTorchPolicy: rlcore's policy conformance suite (1-step and 3-step targets, inside the rollout
evaluator with DQN's n-step postprocessing) plus DQN specifics (loss and gradient vs rl_algos'
numpy reference, forward vs the numpy mirror, target network, NaN guard)."""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import numpy as np
import pytest

import rlcore
from rl_algos.dqn.reference_loss import dqn_loss, q_network
from rl_torch import plugin
from rl_torch.dqn import INFO_KEYS, DQNTorchPolicy
from rlcore.errors import NonFiniteLossError, SampleBatchError, UnsupportedOperationError
from rlcore.models.layout import check_weights
from rlcore.sample_batch import SampleBatch
from rlcore.testing import PolicyContract
from rlcore.testing.envs import make_continuous_corridor, make_corridor, make_image_corridor
from rlcore.testing.policies import PolicyEvaluatorFactory

BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 8,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16]},
    "hiddens": [16],
}


def Factory(config: dict[str, Any] | None = None) -> PolicyEvaluatorFactory:
    """The rollout evaluator around DQNTorchPolicy with DQN's postprocessing, ``BASE_CONFIG | config``."""
    return PolicyEvaluatorFactory("DQN", DQNTorchPolicy, make_corridor, {**BASE_CONFIG, **(config or {})})


class TestContract(PolicyContract):
    """Every conformance check with 1-step targets (dueling, double Q: the defaults)."""

    algorithm = "DQN"
    composite_actions = False  # Q-learning needs Discrete actions: the refusal is asserted
    policy = DQNTorchPolicy
    config: ClassVar[dict[str, Any]] = BASE_CONFIG


class TestContractNStep(PolicyContract):
    """Every conformance check with 3-step targets, a plain Q head and no double Q."""

    algorithm = "DQN"
    composite_actions = False  # Q-learning needs Discrete actions: the refusal is asserted
    policy = DQNTorchPolicy
    config: ClassVar[dict[str, Any]] = {
        **BASE_CONFIG,
        "n_step": 3,
        "dueling": False,
        "double_q": False,
        "grad_clip": 0.1,
    }


# --------------------------------------------------------------------------- helpers
def perturbed(w: dict[str, np.ndarray], scale: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in w.items()}


def assert_state_equal(a: Any, b: Any, path: str = "state") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            assert_state_equal(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, path


def random_batch(ev: DQNTorchPolicy, n: int = 12, seed: int = 3) -> SampleBatch:
    """Rows with varied rewards, discounts, terminations and importance weights."""
    rng = np.random.default_rng(seed)
    dim = int(np.prod(ev.obs_shape))
    return SampleBatch(
        {
            "obs": rng.standard_normal((n, dim)).astype(np.float32),
            "actions": rng.integers(0, ev.num_actions, n).astype(np.int64),
            "rewards": rng.standard_normal(n).astype(np.float32) * 3,
            "next_obs": rng.standard_normal((n, dim)).astype(np.float32),
            "terminateds": rng.random(n) < 0.3,
            "truncateds": np.zeros(n, bool),
            "discounts": rng.choice([0.99, 0.99**2, 0.99**3], n).astype(np.float32),
            "weights": rng.uniform(0.2, 1.5, n).astype(np.float32),
            "eps_id": np.zeros(n, np.int64),
        }
    )


# --------------------------------------------------------------------------- loss
@pytest.mark.parametrize("dueling", [True, False])
@pytest.mark.parametrize("double_q", [True, False])
def test_loss_and_gradient_match_numpy_reference(dueling: bool, double_q: bool) -> None:
    ev = Factory({"dueling": dueling, "double_q": double_q, "huber_delta": 0.7})(0).policy
    # Online and target differ, so double Q's argmax picks differ from the target's own.
    ev.set_weights(perturbed(ev.get_weights(), 0.3, 1))
    ev.set_extra_state({"target": perturbed(ev.get_weights(), 0.3, 2)})
    batch = random_batch(ev)
    ref = dqn_loss(ev, batch, ev.get_state()["target"])
    grads, info = ev.compute_gradients(batch)
    assert list(info) == [*INFO_KEYS, "td_error"]
    assert all(type(info[k]) is float for k in INFO_KEYS)
    assert info["td_error"].dtype == np.float32 and info["td_error"].shape == (batch.count,)
    np.testing.assert_allclose(info["td_error"], ref["td_error"], rtol=1e-5, atol=1e-5)
    for key in ("loss", "mean_q", "mean_td_error"):
        np.testing.assert_allclose(info[key], ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-5)
    np.testing.assert_allclose(ev.td_error(batch), ref["td_error"], rtol=1e-5, atol=1e-5)
    # The output biases shift Q(obs, .) directly: their gradient is the Huber derivative per action
    # (nothing flows through the targets).
    dq = ref["dhuber"]
    per_action = np.bincount(batch["actions"], weights=dq, minlength=ev.num_actions)
    if dueling:  # Q = V + A - mean(A)
        np.testing.assert_allclose(grads["state_value_out/bias"], [dq.sum()], rtol=1e-4, atol=1e-6)
        expected = per_action - dq.sum() / ev.num_actions
        np.testing.assert_allclose(grads["advantage_out/bias"], expected, rtol=1e-4, atol=1e-6)
    else:
        np.testing.assert_allclose(grads["q_out/bias"], per_action, rtol=1e-4, atol=1e-6)
    squared = sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values())
    assert info["grad_norm"] == pytest.approx(np.sqrt(squared), rel=1e-4)


def test_q_forward_matches_numpy_q_network() -> None:
    for config in ({}, {"dueling": False, "model": {"fcnet_hiddens": [8, 8], "fcnet_activation": "relu"}}):
        ev = Factory(config)(0).policy
        ev.set_weights(perturbed(ev.get_weights(), 0.5, 4))
        obs = np.random.default_rng(0).standard_normal((6, *ev.obs_shape)).astype(np.float32)
        q = q_network(ev, ev.get_weights())(obs)
        np.testing.assert_allclose(ev.forward(obs)[0], q, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ev.compute_actions(obs, explore=False)[0], q.argmax(axis=1))
        check_weights(ev.q_layout(), ev.get_weights(), "q weights")


def test_target_network() -> None:
    ev = Factory()(None)  # unseeded: the target is still built equal to the online network
    assert_state_equal(ev.get_state()["target"], ev.get_weights())
    batch = ev.sample()
    for _ in range(3):
        ev.learn_on_batch(batch)
    target = ev.get_state()["target"]
    assert not np.array_equal(target["fc_0/kernel"], ev.get_weights()["fc_0/kernel"])
    ev.policy.update_target()
    assert_state_equal(ev.get_state()["target"], ev.get_weights())
    # the target lives in the state: a fresh evaluator restores it (and Adam) from there
    ev.learn_on_batch(batch)
    other = Factory()(1)
    other.set_state(ev.get_state())
    assert_state_equal(other.get_state(), ev.get_state())
    assert other.loss(batch) == ev.loss(batch)
    clone = pickle.loads(pickle.dumps(ev))
    assert_state_equal(clone.get_state(), ev.get_state())


def test_registered_through_the_plugin() -> None:
    assert rlcore.get_policy_class("DQN", "torch") is DQNTorchPolicy
    spec = rlcore.get_spec("policy", "DQN", "torch")
    assert spec.capabilities == DQNTorchPolicy.capabilities == frozenset(plugin.DQN_CAPABILITIES)


def test_unsupported_spaces_and_lr_schedule() -> None:
    with pytest.raises(UnsupportedOperationError, match="Discrete"):
        Factory()(0, env_creator=make_continuous_corridor)
    with pytest.raises(UnsupportedOperationError, match="fully connected"):
        Factory()(0, env_creator=make_image_corridor)
    ev = Factory({"lr_schedule": [(0, 1e-3), (100, 1e-4)]})(0)
    ev.set_global_vars({"timestep": 100})
    assert ev.policy._adam.lr == pytest.approx(1e-4)
    batch = ev.sample()
    del batch["discounts"]
    with pytest.raises(SampleBatchError, match="discounts"):
        ev.learn_on_batch(batch)


def test_use_lstm_is_refused_naming_the_policy() -> None:
    """DQN's policy declares no 'recurrent': use_lstm is refused, in the evaluator and in the policy itself."""
    message = r"DQNTorchPolicy does not support recurrent models \(model config use_lstm=True\).*use_lstm to false"
    with pytest.raises(UnsupportedOperationError, match=message):
        Factory({"model": {"use_lstm": True}})(0)
    env = make_corridor({})
    with pytest.raises(UnsupportedOperationError, match=message):
        DQNTorchPolicy(env.observation_space, env.action_space, {**Factory()(0).config, "model": {"use_lstm": True}})


@pytest.mark.parametrize("column", ["rewards", "next_obs", "weights"])
def test_non_finite_loss_is_refused(column: str) -> None:
    ev = Factory()(0)
    batch = ev.sample()
    before = ev.get_state()
    bad = batch.copy()
    bad[column][2] = np.nan
    for call in (ev.learn_on_batch, ev.compute_gradients):
        with pytest.raises(NonFiniteLossError, match=rf"loss term 'loss'.*\['{column}'\].*applied"):
            call(bad)
    assert_state_equal(ev.get_state(), before)
    grads, _ = ev.compute_gradients(batch)
    grads["fc_0/kernel"][0, 0] = np.inf
    with pytest.raises(NonFiniteLossError, match=r"fc_0/kernel.*nothing was applied"):
        ev.apply_gradients(grads)
    assert_state_equal(ev.get_state(), before)
