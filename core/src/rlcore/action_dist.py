"""Action distributions in numpy, used for *acting* by every evaluator.

The framework plugins compute the model's outputs (``dist_inputs``) and hand them here to sample
actions and their log-probabilities, so the sampling hot path is identical across frameworks.
The differentiable counterparts used in losses (logp, entropy, kl) live in each framework plugin.
Input layouts follow :class:`rlcore.models.ActionDistSpec`: ``categorical`` takes logits
``[B, n]``; ``multi_categorical`` the logits of each sub-action concatenated; ``diag_gaussian``
``[B, 2 * d]`` = mean then log std; ``deterministic`` the actions themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlcore.errors import ConfigError

DIST_KINDS: tuple[str, ...] = ("categorical", "multi_categorical", "diag_gaussian", "deterministic")


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _sample_categorical(logits: np.ndarray, rng: np.random.Generator, explore: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gumbel-max sampling (or argmax) and the log-probability of the chosen index."""
    z = logits - logits.max(axis=-1, keepdims=True)
    actions = (z + rng.gumbel(size=z.shape)).argmax(axis=-1) if explore else z.argmax(axis=-1)
    logp = z[np.arange(len(z)), actions] - np.log(np.exp(z).sum(axis=-1))
    return actions.astype(np.int64), logp.astype(np.float32)


def _input_lens(spec: Any) -> list[int]:
    params = getattr(spec, "params", {}) or {}
    lens = params.get("input_lens") or params.get("nvec")
    if lens is None:
        raise ConfigError("a multi_categorical ActionDistSpec needs params['input_lens'] (or 'nvec')")
    return [int(x) for x in lens]


def sample_actions(
    spec: Any, dist_inputs: np.ndarray, rng: np.random.Generator, explore: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(actions, logp)`` for a batch of ``dist_inputs`` under an ``ActionDistSpec``.

    With ``explore=False`` the deterministic action (argmax / mean) is returned; its ``logp`` is
    still the log-probability under the distribution (0 for ``deterministic``).
    """
    x = np.asarray(dist_inputs, dtype=np.float64)
    kind = spec.kind
    if kind == "categorical":
        return _sample_categorical(x, rng, explore)
    if kind == "multi_categorical":
        parts, logps, start = [], np.zeros(len(x)), 0
        for n in _input_lens(spec):
            sub = x[:, start : start + n]
            start += n
            a = np.argmax(sub - np.log(-np.log(rng.random(sub.shape))), axis=-1) if explore else np.argmax(sub, -1)
            logps += np.take_along_axis(_log_softmax(sub), a[:, None], axis=-1)[:, 0]
            parts.append(a)
        shape = (len(x), *tuple(getattr(spec, "params", {}).get("action_shape", (len(parts),))))
        return np.stack(parts, axis=-1).reshape(shape).astype(np.int64), logps.astype(np.float32)
    if kind == "diag_gaussian":
        d = x.shape[-1] // 2
        mean, log_std = x[:, :d], x[:, d:]
        std = np.exp(log_std)
        actions = mean + std * rng.standard_normal(mean.shape) if explore else mean
        logp = gaussian_logp(actions, mean, log_std)
        shape = (len(x), *tuple(getattr(spec, "params", {}).get("action_shape", (d,))))
        return actions.reshape(shape).astype(np.float32), logp.astype(np.float32)
    if kind == "deterministic":
        return x.astype(np.float32), np.zeros(len(x), dtype=np.float32)
    raise ConfigError(f"unknown action distribution kind {kind!r}; expected one of {DIST_KINDS}")


def epsilon_greedy(q_values: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Epsilon-greedy actions (``int64 [B]``) from Q-values ``[B, num_actions]``.

    Each row takes a uniformly random action with probability ``epsilon``, else its argmax
    (Mnih et al. 2015). ``epsilon=0`` is greedy and draws no random numbers.
    """
    actions = np.asarray(q_values).argmax(axis=1)
    if epsilon > 0:
        explore = rng.random(len(actions)) < epsilon
        if explore.any():
            actions = np.where(explore, rng.integers(0, q_values.shape[1], len(actions)), actions)
    return actions.astype(np.int64)


def gaussian_logp(actions: np.ndarray, mean: np.ndarray, log_std: np.ndarray) -> np.ndarray:
    """Log-density of a diagonal Gaussian, summed over the action dimensions."""
    a = np.asarray(actions, dtype=np.float64).reshape(mean.shape)
    z = (a - mean) / np.exp(log_std)
    return -0.5 * (z**2).sum(-1) - log_std.sum(-1) - 0.5 * np.log(2.0 * np.pi) * mean.shape[-1]
