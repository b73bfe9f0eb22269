"""The differentiable action distributions against numpy references and the core's numpy acting."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl_torch.distributions import Categorical, Deterministic, DiagGaussian, MultiCategorical, make_dist
from rlcore.action_dist import gaussian_logp, sample_actions
from rlcore.errors import ConfigError
from rlcore.models import ActionDistSpec, ModelCatalog


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x))


def inputs(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    return (2.0 * np.random.default_rng(seed).standard_normal((rows, cols))).astype(np.float32)


def test_categorical_against_numpy_and_core_sampling() -> None:
    spec = ModelCatalog.get_action_dist(gym.spaces.Discrete(4))
    logits, other = inputs(64, 4), inputs(64, 4, seed=1)
    actions, core_logp = sample_actions(spec, logits, np.random.default_rng(0), explore=True)
    dist = make_dist(spec, t(logits))
    assert isinstance(dist, Categorical)
    lp, lq = np_log_softmax(logits.astype(np.float64)), np_log_softmax(other.astype(np.float64))
    np.testing.assert_allclose(dist.logp(t(actions)).numpy(), core_logp, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dist.logp(t(actions)).numpy(), lp[np.arange(64), actions], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist.entropy().numpy(), -(np.exp(lp) * lp).sum(-1), rtol=1e-5, atol=1e-6)
    kl = dist.kl(make_dist(spec, t(other))).numpy()
    np.testing.assert_allclose(kl, (np.exp(lp) * (lp - lq)).sum(-1), rtol=1e-4, atol=1e-5)
    greedy, _ = sample_actions(spec, logits, np.random.default_rng(0), explore=False)
    np.testing.assert_array_equal(dist.deterministic_sample().numpy(), greedy)
    drawn = dist.sample(torch.Generator().manual_seed(0))
    assert drawn.shape == (64,) and drawn.dtype == torch.int64 and int(drawn.min()) >= 0 and int(drawn.max()) < 4


@pytest.mark.parametrize("nvec", [[2, 3], [[2, 3], [4, 2]]])
def test_multi_categorical_against_core_sampling(nvec: list) -> None:
    space = gym.spaces.MultiDiscrete(nvec)
    spec = ModelCatalog.get_action_dist(space)
    x, y = inputs(32, spec.num_outputs), inputs(32, spec.num_outputs, seed=2)
    actions, core_logp = sample_actions(spec, x, np.random.default_rng(0), explore=True)
    dist = make_dist(spec, t(x))
    assert isinstance(dist, MultiCategorical)
    np.testing.assert_allclose(dist.logp(t(actions)).numpy(), core_logp, rtol=1e-5, atol=1e-5)
    lens = list(spec.params["input_lens"])
    parts_x, parts_y = np.split(x, np.cumsum(lens)[:-1], axis=1), np.split(y, np.cumsum(lens)[:-1], axis=1)
    entropy = sum(Categorical(t(p)).entropy().numpy() for p in parts_x)
    np.testing.assert_allclose(dist.entropy().numpy(), entropy, rtol=1e-5, atol=1e-6)
    kl = sum(Categorical(t(p)).kl(Categorical(t(q))).numpy() for p, q in zip(parts_x, parts_y, strict=True))
    np.testing.assert_allclose(dist.kl(make_dist(spec, t(y))).numpy(), kl, rtol=1e-5, atol=1e-6)
    greedy, _ = sample_actions(spec, x, np.random.default_rng(0), explore=False)
    np.testing.assert_array_equal(dist.deterministic_sample().numpy(), greedy)
    drawn = dist.sample(torch.Generator().manual_seed(0)).numpy()
    assert drawn.shape == (32, *space.shape) and all(space.contains(a) for a in drawn)


@pytest.mark.parametrize("shape", [(1,), (2, 3)])
def test_diag_gaussian_against_core_and_torch_normal(shape: tuple[int, ...]) -> None:
    spec = ModelCatalog.get_action_dist(gym.spaces.Box(-1.0, 1.0, shape))
    d = int(np.prod(shape))
    x, y = inputs(50, 2 * d), inputs(50, 2 * d, seed=3)
    x[:, d:] *= 0.3  # moderate log stds
    y[:, d:] *= 0.3
    actions, core_logp = sample_actions(spec, x, np.random.default_rng(0), explore=True)
    dist = make_dist(spec, t(x))
    assert isinstance(dist, DiagGaussian)
    np.testing.assert_allclose(dist.logp(t(actions)).numpy(), core_logp, rtol=1e-5, atol=1e-4)
    x64 = x.astype(np.float64)
    ref = gaussian_logp(actions.reshape(50, d), x64[:, :d], x64[:, d:])
    np.testing.assert_allclose(dist.logp(t(actions)).numpy(), ref, rtol=1e-5, atol=1e-4)
    p = torch.distributions.Normal(t(x64[:, :d]), t(np.exp(x64[:, d:])))
    q = torch.distributions.Normal(t(y[:, :d].astype(np.float64)), t(np.exp(y[:, d:].astype(np.float64))))
    np.testing.assert_allclose(dist.entropy().numpy(), p.entropy().sum(-1).numpy(), rtol=1e-5, atol=1e-5)
    kl = torch.distributions.kl_divergence(p, q).sum(-1).numpy()
    np.testing.assert_allclose(dist.kl(make_dist(spec, t(y))).numpy(), kl, rtol=1e-4, atol=1e-4)
    mean, _ = sample_actions(spec, x, np.random.default_rng(0), explore=False)
    np.testing.assert_array_equal(dist.deterministic_sample().numpy(), mean)
    assert dist.sample(torch.Generator().manual_seed(0)).shape == (50, *shape)


def test_gradients_flow_through_logp_entropy_and_kl() -> None:
    for spec, n in (
        (ModelCatalog.get_action_dist(gym.spaces.Discrete(3)), 3),
        (ModelCatalog.get_action_dist(gym.spaces.Box(-1.0, 1.0, (2,))), 4),
    ):
        x = torch.tensor(inputs(8, n), requires_grad=True)
        old = make_dist(spec, torch.tensor(inputs(8, n, seed=4)))
        dist = make_dist(spec, x)
        actions = old.sample(torch.Generator().manual_seed(0))
        (dist.logp(actions).sum() + dist.entropy().sum() + old.kl(dist).sum()).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_deterministic_is_a_point_mass() -> None:
    spec = ModelCatalog.get_action_dist(gym.spaces.Box(-1.0, 1.0, (2,)), dist_type="deterministic")
    x = t(inputs(5, 2))
    dist = make_dist(spec, x)
    assert isinstance(dist, Deterministic)
    np.testing.assert_array_equal(dist.sample().numpy(), x.numpy())
    np.testing.assert_array_equal(dist.deterministic_sample().numpy(), x.numpy())
    for value in (dist.logp(x), dist.entropy(), dist.kl(make_dist(spec, x + 1))):
        np.testing.assert_array_equal(value.numpy(), np.zeros(5))


def test_unknown_kinds_and_mismatched_kl_are_errors() -> None:
    with pytest.raises(ConfigError, match="unknown action distribution"):
        make_dist(ActionDistSpec("beta", 2), torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="input_lens"):
        MultiCategorical(torch.zeros(1, 4), [2, 3])
    with pytest.raises(TypeError, match="Categorical"):
        Categorical(torch.zeros(1, 2)).kl(DiagGaussian(torch.zeros(1, 2)))
