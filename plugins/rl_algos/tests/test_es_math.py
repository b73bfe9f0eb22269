"""ES's update math against hand examples and brute-force loops: centered ranks, the batched weighted
sum, the antithetic gradient, Adam and SGD on a flat vector (with their state), and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rl_algos.es.noise import NoiseTable
from rl_algos.es.ranks import (
    SGD,
    Adam,
    batched_weighted_sum,
    compute_centered_ranks,
    compute_ranks,
    es_gradient,
    make_optimizer,
    process_returns,
)
from rlcore.errors import ConfigError, GradientError

# -- centered ranks ----------------------------------------------------------------------------------


def test_centered_ranks_of_a_hand_example():
    x = np.array([[10.0, -3.0], [7.5, 100.0], [0.0, 2.0]])
    # sorted: -3 (0), 0 (1), 2 (2), 7.5 (3), 10 (4), 100 (5); rank / 5 - 0.5
    expected = np.array([[4 / 5 - 0.5, -0.5], [3 / 5 - 0.5, 0.5], [1 / 5 - 0.5, 2 / 5 - 0.5]], np.float32)
    out = compute_centered_ranks(x)
    assert out.dtype == np.float32 and out.shape == (3, 2)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-7)


def _brute_force_centered_ranks(x: np.ndarray) -> np.ndarray:
    flat = x.ravel()
    ranks = np.array(
        [sum(1 for j, b in enumerate(flat) if b < a or (b == a and j < i)) for i, a in enumerate(flat)], np.float64
    )
    return (ranks / (flat.size - 1) - 0.5).reshape(x.shape)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_centered_ranks_equal_a_brute_force_count(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 5, size=(17, 2)).astype(np.float64)  # ties included: broken by position
    np.testing.assert_allclose(compute_centered_ranks(x), _brute_force_centered_ranks(x), atol=1e-6)
    ranks = compute_centered_ranks(x)
    assert ranks.min() == -0.5 and ranks.max() == 0.5 and abs(float(ranks.sum())) < 1e-5  # centered


def test_centered_ranks_of_one_value_and_compute_ranks_refuses_2d():
    assert compute_centered_ranks(np.array([3.0])).tolist() == [0.0]
    with pytest.raises(ValueError, match="1-d"):
        compute_ranks(np.zeros((2, 2)))


def test_centered_ranks_ignore_the_scale_of_the_returns():
    x = np.array([1.0, 2.0, 3.0, 1000.0])
    np.testing.assert_array_equal(compute_centered_ranks(x), compute_centered_ranks(np.array([1.0, 2.0, 3.0, 4.0])))


# -- batched weighted sum ----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 500])
def test_batched_weighted_sum_equals_a_loop(batch_size):
    rng = np.random.default_rng(0)
    w = rng.standard_normal(7)
    vecs = [rng.standard_normal(5).astype(np.float32) for _ in range(7)]
    total, n = batched_weighted_sum(w, iter(vecs), batch_size=batch_size)
    expected = sum(float(wi) * v.astype(np.float64) for wi, v in zip(w, vecs, strict=True))
    assert n == 7 and total.dtype == np.float32 and total.shape == (5,)
    np.testing.assert_allclose(total, expected, rtol=1e-5, atol=1e-6)


def test_batched_weighted_sum_bad_input():
    with pytest.raises(ValueError, match="3 weights but 2 vectors"):
        batched_weighted_sum(np.ones(3), [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match="more vectors than the 1 weights"):
        batched_weighted_sum(np.ones(1), [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match="no vectors and no dim"):
        batched_weighted_sum(np.ones(0), [])
    total, n = batched_weighted_sum(np.ones(0), [], dim=4)
    assert n == 0 and total.tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        batched_weighted_sum(np.ones(1), [np.ones(2)], batch_size=0)


# -- the gradient ------------------------------------------------------------------------------------


def _brute_force_gradient(table, indices, pos, neg, dim, mode):
    returns = np.stack([pos, neg], axis=1).astype(np.float64)
    shaped = _brute_force_centered_ranks(returns) if mode == "centered_rank" else returns
    g = np.zeros(dim, np.float64)
    for i, idx in enumerate(indices):
        eps = table[idx : idx + dim].astype(np.float64)
        g += (shaped[i, 0] - shaped[i, 1]) * eps
    return g / returns.size


@pytest.mark.parametrize("mode", ["centered_rank", "raw"])
@pytest.mark.parametrize("as_table", [True, False])
def test_es_gradient_equals_a_brute_force_loop(mode, as_table):
    rng = np.random.default_rng(3)
    noise = NoiseTable.create(1000, seed=7)
    dim, n = 13, 9
    indices = noise.sample_index(rng, dim, n)
    pos, neg = rng.normal(size=n) * 50, rng.normal(size=n) * 50
    g = es_gradient(noise if as_table else noise.array, indices, pos, neg, dim, mode, batch_size=4)
    assert g.dtype == np.float32 and g.shape == (dim,)
    np.testing.assert_allclose(
        g, _brute_force_gradient(noise.array, indices, pos, neg, dim, mode), rtol=1e-4, atol=1e-6
    )


def test_es_gradient_of_one_pair_by_hand():
    table = np.arange(10, dtype=np.float32)
    # one pair, r+ = 5 > r- = 1: ranks [0.5, -0.5], g = (0.5 - (-0.5)) * table[2:5] / 2
    g = es_gradient(table, [2], [5.0], [1.0], 3, "centered_rank")
    np.testing.assert_allclose(g, [1.0, 1.5, 2.0])
    g = es_gradient(table, [2], [5.0], [1.0], 3, "raw")  # (5 - 1) * [2, 3, 4] / 2
    np.testing.assert_allclose(g, [4.0, 6.0, 8.0])


def test_es_gradient_points_uphill_on_a_quadratic():
    """Antithetic ES on f(theta) = -|theta - target|^2: the estimate correlates with the true gradient."""
    rng = np.random.default_rng(0)
    noise = NoiseTable.create(100_000, seed=1)
    dim, sigma, target = 20, 0.05, np.linspace(-1, 1, 20)
    theta = np.zeros(dim)
    idx = noise.sample_index(rng, dim, 500)
    eps = np.stack([noise.get(int(i), dim) for i in idx]).astype(np.float64)
    f = lambda th: -np.sum((th - target) ** 2, axis=-1)  # noqa: E731
    g = es_gradient(noise, idx, f(theta + sigma * eps), f(theta - sigma * eps), dim)
    true = -2 * (theta - target)
    assert float(np.dot(g, true) / (np.linalg.norm(g) * np.linalg.norm(true))) > 0.8


def test_es_gradient_bad_input():
    table = np.zeros(10, np.float32)
    with pytest.raises(GradientError, match=r"ES got 1 non-finite episode returns of 4 .*check the env's rewards"):
        es_gradient(table, [0, 1], [1.0, np.nan], [0.0, 1.0], 3)
    with pytest.raises(GradientError, match="2 non-finite"):
        es_gradient(table, [0], [np.inf], [-np.inf], 3)
    with pytest.raises(ValueError, match="2 noise indices, 1 positive and 2 negative returns"):
        es_gradient(table, [0, 1], [1.0], [0.0, 1.0], 3)
    with pytest.raises(ValueError, match="no antithetic pairs"):
        es_gradient(table, [], [], [], 3)
    with pytest.raises(ConfigError, match="'return_proc_mode' is not one of the choices: got 'ranks'"):
        process_returns(np.zeros((1, 2)), "ranks")


# -- Adam and SGD ------------------------------------------------------------------------------------


def test_adam_two_steps_by_hand():
    theta = np.array([1.0, -2.0], np.float32)
    opt = Adam(theta, stepsize=0.1)
    g1, g2 = np.array([0.5, -1.0], np.float32), np.array([1.5, 2.0], np.float32)
    # step 1: m = 0.1 g1, v = 0.001 g1^2, a = 0.1 sqrt(0.001) / 0.1 -> step = -a m / (sqrt(v) + 1e-8)
    m1, v1 = 0.1 * g1, 0.001 * g1**2
    a1 = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    step1 = -a1 * m1 / (np.sqrt(v1) + 1e-8)
    np.testing.assert_allclose(step1, [-0.1, 0.1], rtol=1e-5)  # the first Adam step is -stepsize * sign(g)
    theta1, ratio1 = opt.update(g1)
    np.testing.assert_allclose(theta1, theta + step1, rtol=1e-6)
    assert ratio1 == pytest.approx(np.linalg.norm(step1) / np.linalg.norm(theta), rel=1e-5)
    m2, v2 = 0.9 * m1 + 0.1 * g2, 0.999 * v1 + 0.001 * g2**2
    a2 = 0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    step2 = -a2 * m2 / (np.sqrt(v2) + 1e-8)
    theta2, ratio2 = opt.update(g2)
    np.testing.assert_allclose(theta2, theta1 + step2, rtol=1e-5)
    assert ratio2 == pytest.approx(np.linalg.norm(step2) / np.linalg.norm(theta1), rel=1e-4)
    assert opt.t == 2 and theta2.dtype == np.float32


def test_sgd_momentum_by_hand():
    opt = SGD(np.zeros(2, np.float32), stepsize=0.5, momentum=0.9)
    theta1, ratio = opt.update(np.array([1.0, -2.0]))
    np.testing.assert_allclose(theta1, [-0.05, 0.1])  # v = 0.1 g, step = -0.5 v
    assert ratio == pytest.approx(np.linalg.norm([0.05, 0.1]))  # theta was zero: ||step||
    theta2, _ = opt.update(np.array([1.0, 0.0]))
    v2 = 0.9 * np.array([0.1, -0.2]) + 0.1 * np.array([1.0, 0.0])
    np.testing.assert_allclose(theta2, theta1 - 0.5 * v2, rtol=1e-6)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_optimizer_state_round_trip_continues_identically(kind):
    config = {"optimizer_type": kind, "stepsize": 0.01, "sgd_momentum": 0.9}
    rng = np.random.default_rng(0)
    opt = make_optimizer(config, rng.standard_normal(6))
    for _ in range(3):
        opt.update(rng.standard_normal(6))
    state = opt.get_state()
    assert all(isinstance(v, np.ndarray | np.integer) for v in state.values())  # arrays only
    other = make_optimizer(config, np.zeros(6))
    other.set_state(state)
    g = rng.standard_normal(6)
    np.testing.assert_array_equal(opt.update(g)[0], other.update(g)[0])
    with pytest.raises(ConfigError, match=r"state 'theta' has 6 values, this optimizer's vector 4"):
        make_optimizer(config, np.zeros(4)).set_state(state)
    with pytest.raises(ConfigError, match="state lacks"):
        other.set_state({"t": 1})


def test_update_with_the_policys_theta_and_bad_gradients():
    opt = Adam(np.zeros(3), stepsize=0.1)
    theta, _ = opt.update(np.ones(3), theta=np.full(3, 5.0))
    np.testing.assert_allclose(theta, 5.0 - 0.1, rtol=1e-6)
    before = opt.get_state()
    with pytest.raises(GradientError, match="the gradient has 2 values, theta 3"):
        opt.update(np.ones(2))
    with pytest.raises(GradientError, match="1 non-finite values; the step is refused"):
        opt.update(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(GradientError, match="theta has 4 values, the optimizer 3"):
        opt.update(np.ones(3), theta=np.ones(4))
    with pytest.raises(GradientError, match="non-finite"):  # a valid theta with a bad gradient: theta kept too
        opt.update(np.array([np.inf, 0.0, 0.0]), theta=np.zeros(3))
    after = opt.get_state()
    assert after["t"] == before["t"] and all(np.array_equal(after[k], before[k]) for k in ("theta", "m", "v"))


def test_make_optimizer_refuses_an_unknown_type():
    with pytest.raises(ConfigError, match="'optimizer_type' is not one of the choices: got 'rmsprop'"):
        make_optimizer({"optimizer_type": "rmsprop", "stepsize": 0.1}, np.zeros(2))
