"""Framework-free postprocessing: discounting, GAE with terminated vs truncated, n-step."""

from __future__ import annotations

import numpy as np
import pytest

from rlcore.postprocessing import compute_gae, compute_returns, discount_cumsum, n_step_returns


def reference_gae(r, v, nv, term, trunc, gamma, lam):
    adv, acc = np.zeros(len(r)), 0.0
    for t in reversed(range(len(r))):
        boot = 0.0 if term[t] else nv[t]
        delta = r[t] + gamma * boot - v[t]
        acc = delta + gamma * lam * (0.0 if (term[t] or trunc[t]) else acc)
        adv[t] = acc
    return adv


def test_discount_cumsum():
    np.testing.assert_allclose(discount_cumsum(np.array([1.0, 1.0, 1.0]), 0.5), [1.75, 1.5, 1.0])
    out = discount_cumsum(np.ones((3, 2)), 0.5)
    assert out.shape == (3, 2) and out.dtype == np.float32


def test_gae_matches_per_step_reference_across_envs():
    rng = np.random.default_rng(0)
    T, N = 17, 4
    r, v, nv = rng.normal(size=(T, N)), rng.normal(size=(T, N)), rng.normal(size=(T, N))
    term, trunc = rng.random((T, N)) < 0.1, rng.random((T, N)) < 0.1
    adv, targets = compute_gae(r, v, nv, term, trunc, 0.9, 0.8)
    for n in range(N):
        np.testing.assert_allclose(
            adv[:, n],
            reference_gae(r[:, n], v[:, n], nv[:, n], term[:, n], trunc[:, n], 0.9, 0.8),
            rtol=1e-5,
            atol=1e-5,
        )
    np.testing.assert_allclose(targets, adv + v, rtol=1e-5, atol=1e-5)


def test_truncation_bootstraps_and_termination_does_not():
    r = np.array([1.0, 1.0])
    v = np.zeros(2)
    nv = np.array([0.0, 10.0])
    term_adv, _ = compute_gae(r, v, nv, np.array([False, True]), np.array([False, False]), 0.5, 1.0)
    trunc_adv, _ = compute_gae(r, v, nv, np.array([False, False]), np.array([False, True]), 0.5, 1.0)
    assert term_adv[-1] == pytest.approx(1.0) and trunc_adv[-1] == pytest.approx(1.0 + 0.5 * 10.0)
    assert term_adv[0] == pytest.approx(1.0 + 0.5 * 1.0)


def test_episode_boundary_stops_the_recursion():
    r = np.ones(4)
    adv, _ = compute_gae(r, np.zeros(4), np.zeros(4), np.array([0, 1, 0, 0], bool), np.zeros(4, bool), 1.0, 1.0)
    np.testing.assert_allclose(adv, [2.0, 1.0, 2.0, 1.0])


def test_returns_are_lambda_one_gae():
    r = np.array([1.0, 2.0, 3.0])
    out = compute_returns(r, np.array([0.0, 0.0, 5.0]), np.zeros(3, bool), np.zeros(3, bool), 0.5)
    np.testing.assert_allclose(out, [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 5, 2 + 0.5 * 3 + 0.25 * 5, 3 + 0.5 * 5])


def test_n_step_returns():
    r = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    term = np.array([0, 0, 1, 0, 0], bool)
    trunc = np.zeros(5, bool)
    out, steps, tn = n_step_returns(r, term, trunc, 0.5, 3)
    np.testing.assert_allclose(out, [1.75, 1.5, 1.0, 1.5, 1.0])
    assert steps.tolist() == [3, 2, 1, 2, 1]
    assert tn.tolist() == [True, True, True, False, False]
    out2, steps2, _ = n_step_returns(np.ones((5, 2)), np.zeros((5, 2), bool), np.zeros((5, 2), bool), 1.0, 2)
    assert out2.shape == (5, 2) and steps2[:, 0].tolist() == [2, 2, 2, 2, 1]
    with pytest.raises(ValueError):
        n_step_returns(r, term, trunc, 0.5, 0)


def test_piecewise_schedule():
    from rlcore.errors import ConfigError
    from rlcore.schedules import PiecewiseSchedule

    s = PiecewiseSchedule([(0, 1.0), (100, 0.0)])
    assert (s.value(-5), s.value(0), s.value(25), s.value(100), s.value(1e9)) == (1.0, 1.0, 0.75, 0.0, 0.0)
    assert PiecewiseSchedule.maybe(None, 3e-4).value(1e6) == 3e-4
    with pytest.raises(ConfigError):
        PiecewiseSchedule([(10, 1.0), (0, 0.0)])
    with pytest.raises(ConfigError):
        PiecewiseSchedule([])
