"""Framework-free postprocessing of trajectories: discounting, GAE and n-step returns.

All functions take time-major numpy arrays: shape ``[T]`` for one trajectory or ``[T, N]`` for
``N`` environments stepped together, and loop over time only (vectorized over envs).
"""

from __future__ import annotations

import numpy as np


def discount_cumsum(x: np.ndarray, gamma: float) -> np.ndarray:
    """``y[t] = sum_k gamma**k * x[t + k]`` along axis 0 (no episode boundaries)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    acc = np.zeros(x.shape[1:], dtype=np.float64)
    for t in range(len(x) - 1, -1, -1):
        acc = x[t] + gamma * acc
        out[t] = acc
    return out.astype(np.float32)


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    gamma: float = 0.99,
    lambda_: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized advantage estimation over a time-major fragment, episode boundaries respected.

    ``values[t]`` is V(s_t); ``next_values[t]`` is V(s_{t+1}) for the observation that actually
    followed step ``t`` (the final observation of an episode that was truncated, the first
    observation of the next fragment at the fragment's end). A terminated step bootstraps
    nothing; a truncated one bootstraps ``next_values`` (gymnasium's time-limit semantics).
    Returns ``(advantages, value_targets)`` as float32, ``value_targets = advantages + values``.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    next_values = np.asarray(next_values, dtype=np.float64)
    term = np.asarray(terminateds, dtype=bool)
    done = term | np.asarray(truncateds, dtype=bool)
    deltas = rewards + gamma * np.where(term, 0.0, next_values) - values
    adv = np.empty_like(deltas)
    acc = np.zeros(deltas.shape[1:], dtype=np.float64)
    for t in range(len(deltas) - 1, -1, -1):
        acc = deltas[t] + gamma * lambda_ * np.where(done[t], 0.0, acc)
        adv[t] = acc
    return adv.astype(np.float32), (adv + values).astype(np.float32)


def compute_returns(
    rewards: np.ndarray,
    next_values: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    gamma: float = 0.99,
) -> np.ndarray:
    """Discounted returns with bootstrapping, the ``lambda_=1``, zero-baseline case of GAE."""
    zeros = np.zeros_like(np.asarray(rewards, dtype=np.float64))
    adv, _ = compute_gae(rewards, zeros, next_values, terminateds, truncateds, gamma, 1.0)
    # With zero values GAE(lambda=1) reduces to discounted rewards plus the bootstrap term.
    return adv


def n_step_returns(
    rewards: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    gamma: float,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step discounted rewards over a time-major fragment ``[T]`` or ``[T, N]``.

    Returns ``(rewards_n, steps, terminated_n)``: the discounted sum of up to ``n`` rewards from
    ``t`` (stopping at the episode's end or the fragment's end), how many steps were summed
    (the bootstrap then uses ``gamma ** steps * Q(s_{t+steps})``, the observation after the last
    summed step) and whether the episode terminated within them (no bootstrap).
    """
    if n < 1:
        raise ValueError(f"n-step needs n >= 1, got {n}")
    rewards = np.asarray(rewards, dtype=np.float64)
    term = np.asarray(terminateds, dtype=bool)
    done = term | np.asarray(truncateds, dtype=bool)
    T = len(rewards)
    out = np.zeros_like(rewards)
    steps = np.zeros(rewards.shape, dtype=np.int64)
    term_n = np.zeros(rewards.shape, dtype=bool)
    open_ = np.ones(rewards.shape, dtype=bool)  # still accumulating
    for k in range(n):
        idx = np.arange(T) + k
        valid = idx < T
        src = np.minimum(idx, T - 1)
        live = open_ & valid.reshape((T,) + (1,) * (rewards.ndim - 1))
        out = out + np.where(live, (gamma**k) * rewards[src], 0.0)
        steps = steps + live
        term_n = term_n | (live & term[src])
        open_ = live & ~done[src]
    return out.astype(np.float32), steps, term_n
