"""ModelPolicy, the framework-free half of catalog-model policies, driven by a numpy model:
acting through the numpy mirror (refreshed when weights change), epsilon-greedy Q acting, and the
one rule for missing columns, partial gradients, non-finite losses and pickling."""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, GradientError, NonFiniteLossError, SampleBatchError, UnsupportedOperationError
from rlcore.model_policy import ModelPolicy
from rlcore.models.layout import Param, fc_layout, init_weights
from rlcore.models.numpy_forward import NumpyFCForward, NumpyQForward
from rlcore.sample_batch import SampleBatch

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)


class NumpyPolicy(ModelPolicy):
    """A catalog fc model computed by the numpy mirror itself; the "loss" is the mean of the logits
    of the taken actions, with a hand-written gradient for the logits bias only."""

    capabilities = frozenset({"discrete", "continuous", "gradients"})
    loss_columns: ClassVar[tuple[str, ...]] = (sb.OBS, sb.ACTIONS)
    forward_calls = 0

    def build(self) -> None:
        self._layout = fc_layout(int(np.prod(self.obs_shape)), self.dist_spec.num_outputs, self.model_config)
        self.w = init_weights(self._layout, self.seed)
        self.net = NumpyFCForward(self.model_config)
        self.net.set_weights(self.w)

    def model_layout(self) -> list[Param]:
        return self._layout

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        NumpyPolicy.forward_calls += 1
        return self.net(obs)

    def _compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        grads = {k: np.zeros_like(v) for k, v in self.w.items()}
        grads["logits/bias"] = np.full_like(self.w["logits/bias"], float(np.mean(batch[sb.OBS])))
        return grads, {"loss": float(np.mean(batch[sb.OBS]))}

    def _apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        self.w = {k: self.w[k] - 0.1 * grads[k] for k in self.w}
        self.net.set_weights(self.w)

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        grads, info = self._compute_gradients(batch)
        if np.isfinite(info["loss"]):
            self._apply_gradients(grads)
        return info

    def _loss(self, batch: SampleBatch) -> float:
        return float(np.mean(batch[sb.OBS]))

    def _get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.w.items()}

    def _set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.w = {k: np.array(v, np.float32) for k, v in weights.items()}
        self.net.set_weights(self.w)


class NumpyQPolicy(NumpyPolicy):
    """The catalog Q network in numpy (epsilon-greedy acting)."""

    action_outputs = "q"

    def build(self) -> None:
        self._layout = self.q_layout()
        self.w = init_weights(self._layout, self.seed)
        self.net = NumpyQForward(self.model_config, self._q_hiddens(), self._q_dueling())
        self.net.set_weights(self.w)

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self.net(obs)
        return q, q.max(axis=1)

    def _compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {k: np.zeros_like(v) for k, v in self.w.items()}, {"loss": 0.0}


CONFIG = {"model": {"fcnet_hiddens": [8]}, "hiddens": [4], "dueling": True}


def policy(cls=NumpyPolicy, action_space=None, **config):
    return cls(OBS_SPACE, action_space or gym.spaces.Discrete(2), {**CONFIG, **config}, seed=0)


def batch(n=6, value=0.5):
    return SampleBatch(obs=np.full((n, 3), value, np.float32), actions=np.zeros(n, np.int64))


def test_acting_uses_the_numpy_mirror_refreshed_after_learning():
    p = policy()
    assert p.uses_numpy_mirror
    obs = np.ones((4, 3), np.float32)
    before = NumpyPolicy.forward_calls
    actions, state, extras = p.compute_actions(obs, explore=False)
    assert NumpyPolicy.forward_calls == before  # the mirror, not forward()
    assert actions.dtype == np.int64 and actions.shape == (4,) and state == []
    assert set(extras) == {sb.ACTION_LOGP, sb.VF_PREDS, sb.ACTION_DIST_INPUTS}
    old_inputs = extras[sb.ACTION_DIST_INPUTS]
    p.learn_on_batch(batch())
    new_inputs = p.compute_actions(obs, explore=False)[2][sb.ACTION_DIST_INPUTS]
    np.testing.assert_allclose(new_inputs, p.forward(obs)[0], rtol=1e-6)
    assert not np.allclose(new_inputs, old_inputs)
    np.testing.assert_allclose(p.compute_values(obs), p.forward(obs)[1], rtol=1e-6)


def test_without_numpy_inference_acting_calls_forward():
    p = policy(numpy_inference=False)
    assert not p.uses_numpy_mirror
    before = NumpyPolicy.forward_calls
    p.compute_actions(np.ones((2, 3), np.float32))
    assert NumpyPolicy.forward_calls == before + 1


def test_partial_unknown_and_misshaped_gradients_are_refused_and_change_nothing():
    p = policy()
    grads, _ = p.compute_gradients(batch())
    w0 = p.get_weights()
    partial = {k: v for k, v in grads.items() if k != "fc_0/bias"}
    with pytest.raises(GradientError, match=r"missing \['fc_0/bias'\]"):
        p.apply_gradients(partial)
    with pytest.raises(GradientError, match=r"unknown \['extra'\]"):
        p.apply_gradients({**grads, "extra": np.zeros(1)})
    with pytest.raises(GradientError, match="wrong shapes"):
        p.apply_gradients({**grads, "fc_0/bias": np.zeros(99)})
    with pytest.raises(NonFiniteLossError, match="fc_0/bias"):
        p.apply_gradients({**grads, "fc_0/bias": np.full(8, np.nan, np.float32)})
    with pytest.raises(GradientError, match=r"must be a dict of weight name -> array .*got list"):
        p.apply_gradients(list(grads.values()))  # type: ignore[arg-type]
    with pytest.raises(GradientError, match="got NoneType"):
        p.apply_gradients(None)  # type: ignore[arg-type]
    with pytest.raises(GradientError, match=r"the gradient of 'fc_0/bias' is not an array of numbers \(str"):
        p.apply_gradients({**grads, "fc_0/bias": "abc"})
    for k, v in p.get_weights().items():
        np.testing.assert_array_equal(v, w0[k])


def test_nonfinite_loss_is_refused_naming_the_term_and_the_column():
    p = policy()
    w0 = p.get_weights()
    with pytest.raises(NonFiniteLossError, match=r"loss term 'loss'.*Non-finite batch columns: \['obs'\]") as err:
        p.learn_on_batch(batch(value=np.nan))
    assert "check the env, or scale its rewards (clip_rewards: true)" in str(err.value)  # what to do
    with pytest.raises(NonFiniteLossError, match="No gradients were returned"):
        p.compute_gradients(batch(value=np.inf))
    for k, v in p.get_weights().items():
        np.testing.assert_array_equal(v, w0[k])


def test_missing_loss_columns_are_named():
    with pytest.raises(SampleBatchError, match=r"needs the columns \['actions'\]"):
        policy().learn_on_batch(SampleBatch(obs=np.zeros((2, 3), np.float32)))


def test_pickle_rebuilds_with_state_and_rng():
    p = policy(lr_schedule=None)
    p.learn_on_batch(batch())
    p.set_global_vars({"kl_coeff": 0.3})
    clone = pickle.loads(pickle.dumps(p))
    for k, v in p.get_weights().items():
        np.testing.assert_array_equal(clone.get_weights()[k], v)
    assert clone.global_vars == {"kl_coeff": 0.3}
    obs = np.ones((5, 3), np.float32)
    np.testing.assert_array_equal(p.compute_actions(obs)[0], clone.compute_actions(obs)[0])


def test_q_policy_epsilon_greedy_from_global_vars():
    p = policy(NumpyQPolicy)
    obs = np.array([[0.0, 1, 2], [1, 1, 1], [2, 0, 1]], np.float32)
    greedy = p.forward(obs)[0].argmax(axis=1)
    assert p.epsilon == 0.0
    np.testing.assert_array_equal(p.compute_actions(obs)[0], greedy)
    p.set_global_vars({"epsilon": 1.0})
    draws = np.stack([p.compute_actions(np.repeat(obs, 50, 0))[0] for _ in range(4)])
    assert set(draws.ravel().tolist()) == {0, 1}
    np.testing.assert_array_equal(p.compute_actions(obs, explore=False)[0], greedy)


def test_q_layout_dueling_and_plain():
    names = {q.name for q in policy(NumpyQPolicy).layout}
    assert {"advantage_out/kernel", "state_value_out/kernel", "fc_0/kernel"} <= names
    plain = {q.name for q in policy(NumpyQPolicy, dueling=False).layout}
    assert {"q_out/kernel", "q_fc_0/kernel"} <= plain


def test_q_policy_refuses_continuous_actions():
    with pytest.raises(UnsupportedOperationError, match="Discrete action space"):
        policy(NumpyQPolicy, gym.spaces.Box(-1, 1, (2,), np.float32))


def test_free_log_std_needs_a_box():
    with pytest.raises(ConfigError, match="free_log_std=True needs a Box"):
        policy(model={"fcnet_hiddens": [8], "free_log_std": True})


def test_lr_schedule_needs_a_learning_rate_setter():
    with pytest.raises(UnsupportedOperationError, match="lr_schedule"):
        policy(lr_schedule=[[0, 0.1], [10, 0.0]])


def test_a_model_policy_without_use_lstm_is_not_recurrent():
    p = policy()
    assert not p.recurrent and p.initial_state() == [] and p.required_columns == p.loss_columns
    actions, state, _ = p.compute_actions(np.ones((2, 3), np.float32), None, False)
    assert state == [] and actions.shape == (2,)
    b = batch()
    b["seq_lens"] = np.array([6, 0, 0, 0, 0, 0], np.int32)  # ignored by a policy that is not recurrent
    p.learn_on_batch(b)
    with pytest.raises(
        UnsupportedOperationError, match=r"NumpyPolicy does not support recurrent models \(forward_step\)"
    ):
        p.forward_step(np.ones((1, 3), np.float32), [])
