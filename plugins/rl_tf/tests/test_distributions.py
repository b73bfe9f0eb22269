"""TF action distributions agree with numpy acting (rlcore.action_dist) and closed-form references."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

from rl_tf.distributions import Categorical, Deterministic, DiagGaussian, MultiCategorical, make_dist
from rlcore.action_dist import gaussian_logp, sample_actions
from rlcore.errors import ConfigError
from rlcore.models import ActionDistSpec, ModelCatalog

SPACES = {
    "discrete": gym.spaces.Discrete(4),
    "multi_discrete": gym.spaces.MultiDiscrete([2, 3, 4]),
    "multi_discrete_2d": gym.spaces.MultiDiscrete([[2, 3], [4, 2]]),
    "box": gym.spaces.Box(-1.0, 1.0, (3,)),
    "box_2d": gym.spaces.Box(-1.0, 1.0, (2, 2)),
}


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def inputs_for(spec, n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.5, (n, spec.num_outputs)).astype(np.float32)


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("explore", [True, False])
def test_logp_equals_numpy_acting(space: str, explore: bool) -> None:
    spec = ModelCatalog.get_action_dist(SPACES[space])
    x = inputs_for(spec)
    actions, logp = sample_actions(spec, x, np.random.default_rng(1), explore=explore)
    dist = make_dist(spec, tf.constant(x))
    np.testing.assert_allclose(dist.logp(tf.constant(actions)).numpy(), logp, rtol=1e-5, atol=1e-5)


def test_categorical_entropy_kl_and_samples() -> None:
    x = inputs_for(ModelCatalog.get_action_dist(SPACES["discrete"]))
    y = inputs_for(ModelCatalog.get_action_dist(SPACES["discrete"]), seed=1)
    p, q = np_log_softmax(x.astype(np.float64)), np_log_softmax(y.astype(np.float64))
    a, b = Categorical(tf.constant(x)), Categorical(tf.constant(y))
    np.testing.assert_allclose(a.entropy().numpy(), -(np.exp(p) * p).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(a.kl(b).numpy(), (np.exp(p) * (p - q)).sum(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.kl(a).numpy(), 0.0, atol=1e-6)
    np.testing.assert_array_equal(a.deterministic_sample().numpy(), x.argmax(-1))
    s = a.sample(tf.random.Generator.from_seed(0)).numpy()
    assert s.shape == (6,) and s.dtype == np.int64 and ((s >= 0) & (s < 4)).all()


def test_multi_categorical_is_a_sum_of_categoricals() -> None:
    spec = ModelCatalog.get_action_dist(SPACES["multi_discrete_2d"])
    assert spec.params["input_lens"] == (2, 3, 4, 2)
    x, y = inputs_for(spec), inputs_for(spec, seed=1)
    a, b = make_dist(spec, tf.constant(x)), make_dist(spec, tf.constant(y))
    assert isinstance(a, MultiCategorical)
    ent = kl = 0.0
    start = 0
    for n in spec.params["input_lens"]:
        p, q = np_log_softmax(x[:, start : start + n]), np_log_softmax(y[:, start : start + n])
        ent = ent - (np.exp(p) * p).sum(-1)
        kl = kl + (np.exp(p) * (p - q)).sum(-1)
        start += n
    np.testing.assert_allclose(a.entropy().numpy(), ent, rtol=1e-5)
    np.testing.assert_allclose(a.kl(b).numpy(), kl, rtol=1e-4, atol=1e-6)
    assert a.deterministic_sample().shape == (6, 2, 2)
    assert a.sample().shape == (6, 2, 2)


def test_diag_gaussian_logp_entropy_kl() -> None:
    spec = ModelCatalog.get_action_dist(SPACES["box"])
    x, y = inputs_for(spec).astype(np.float64), inputs_for(spec, seed=1).astype(np.float64)
    a, b = DiagGaussian(tf.constant(x, tf.float32)), DiagGaussian(tf.constant(y, tf.float32))
    m1, s1, m2, s2 = x[:, :3], x[:, 3:], y[:, :3], y[:, 3:]
    acts = np.random.default_rng(2).normal(size=(6, 3))
    np.testing.assert_allclose(a.logp(tf.constant(acts, tf.float32)).numpy(), gaussian_logp(acts, m1, s1), rtol=1e-4)
    np.testing.assert_allclose(a.entropy().numpy(), (s1 + 0.5 * np.log(2 * np.pi * np.e)).sum(-1), rtol=1e-5)
    ref_kl = (s2 - s1 + (np.exp(2 * s1) + (m1 - m2) ** 2) / (2 * np.exp(2 * s2)) - 0.5).sum(-1)
    np.testing.assert_allclose(a.kl(b).numpy(), ref_kl, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.kl(a).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(a.deterministic_sample().numpy(), m1, rtol=1e-6)
    draws = DiagGaussian(tf.constant(np.tile(x[:1], (4000, 1)), tf.float32)).sample(tf.random.Generator.from_seed(1))
    np.testing.assert_allclose(draws.numpy().mean(0), m1[0], atol=0.15 * np.exp(s1[0]).max())


def test_box_actions_keep_their_shape() -> None:
    spec = ModelCatalog.get_action_dist(SPACES["box_2d"])
    dist = make_dist(spec, tf.constant(inputs_for(spec)))
    assert dist.sample().shape == (6, 2, 2) and dist.deterministic_sample().shape == (6, 2, 2)


def test_deterministic_is_a_point_mass() -> None:
    spec = ModelCatalog.get_action_dist(SPACES["box"], dist_type="deterministic")
    x = inputs_for(spec)
    dist = make_dist(spec, tf.constant(x))
    assert isinstance(dist, Deterministic)
    np.testing.assert_array_equal(dist.sample().numpy(), x)
    for value in (dist.logp(tf.constant(x)), dist.entropy(), dist.kl(dist)):
        np.testing.assert_array_equal(value.numpy(), np.zeros(6, np.float32))


def test_gradients_flow_through_logp_entropy_and_kl() -> None:
    spec = ModelCatalog.get_action_dist(SPACES["multi_discrete"])
    x = tf.Variable(inputs_for(spec))
    old = make_dist(spec, tf.constant(inputs_for(spec, seed=3)))
    with tf.GradientTape() as tape:
        d = make_dist(spec, x)
        total = tf.reduce_sum(d.logp(tf.constant([[0, 1, 2]] * 6)) + d.entropy() + old.kl(d))
    grad = tape.gradient(total, x)
    assert grad is not None and np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0


def test_unknown_kind_is_a_config_error() -> None:
    spec = ActionDistSpec("beta", 2)
    with pytest.raises(ConfigError, match="unknown action distribution kind 'beta'"):
        make_dist(spec, tf.zeros((1, 2)))
