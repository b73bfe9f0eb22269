"""Action distributions in numpy, used for *acting* by every evaluator.

The framework plugins compute the model's outputs (``dist_inputs``) and hand them here to sample
actions and their log-probabilities, so the sampling hot path is identical across frameworks.
The differentiable counterparts used in losses (logp, entropy, kl) live in each framework plugin.
Input layouts follow :class:`rlcore.models.ActionDistSpec`: ``categorical`` takes logits
``[B, n]``; ``multi_categorical`` the logits of each sub-action concatenated; ``diag_gaussian``
``[B, 2 * d]`` = mean then log std; ``deterministic`` the actions themselves; ``composite``
(Tuple and Dict action spaces) its parts' inputs concatenated in the space's flattening order.

Composite actions live in sample batches as ONE flat float32 array ``[B, D]`` (each part's flat
action concatenated, Discrete parts as their 0-based index), so batches, replay and checkpoints
stay plain arrays; :func:`structured_actions` turns such a batch into what the env takes (a
tuple/dict per row of the parts' own dtypes and shapes, ``start`` added, Box parts clipped) and
:func:`flat_actions` goes back. The slices of each part are computed once, by the catalog
(``ActionDistSpec.params``), and every framework reads them from there.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlcore.errors import ConfigError

DIST_KINDS: tuple[str, ...] = ("categorical", "multi_categorical", "diag_gaussian", "deterministic", "composite")


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
    if kind == "composite":
        parts, logp = [], np.zeros(len(x), dtype=np.float64)
        for child, (a, b), _ in composite_parts(spec):
            acts, lp = sample_actions(child, x[:, a:b], rng, explore)
            parts.append(np.asarray(acts, dtype=np.float32).reshape(len(x), -1))
            logp += lp
        return np.concatenate(parts, axis=1), logp.astype(np.float32)
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


# ----------------------------------------------------------------------------- composite actions
def composite_parts(spec: Any) -> list[tuple[Any, tuple[int, int], tuple[int, int]]]:
    """A composite spec's leaves: ``(child spec, (input start, stop), (action start, stop))`` each,
    in the space's flattening order (the columns of ``dist_inputs`` and of the flat actions)."""
    params = spec.params
    return list(zip(params["children"], params["input_slices"], params["action_slices"], strict=True))


@dataclass(frozen=True)
class _Leaf:
    """One part of a composite action, what turning its flat columns into env actions needs."""

    kind: str
    columns: slice
    shape: tuple[int, ...]
    dtype: np.dtype
    start: Any  # Discrete: an int; MultiDiscrete: int64 [k]
    bounds: tuple[np.ndarray, np.ndarray] | None  # Box parts with clip_actions

    def to_env(self, flat: np.ndarray) -> np.ndarray:
        """This part's columns of ``flat [B, D]`` as the env takes them, ``[B, *shape]`` of its dtype."""
        col = flat[:, self.columns]
        if self.kind == "categorical":
            return (np.rint(col[:, 0]).astype(np.int64) + self.start).astype(self.dtype)
        if self.kind == "multi_categorical":
            return (np.rint(col).astype(np.int64) + self.start).reshape((len(col), *self.shape)).astype(self.dtype)
        acts = col.reshape((len(col), *self.shape))
        if self.bounds is not None:
            acts = np.clip(acts, *self.bounds)
        return acts.astype(self.dtype)


class CompositeActions:
    """Flat composite actions ``[B, D]`` -> env actions (see :func:`structured_actions`), with each
    part's slice, dtype, shape, ``start`` and bounds computed once (the sampler keeps one)."""

    def __init__(self, spec: Any, clip_actions: bool = True) -> None:
        self.width = int(spec.action_shape[0])
        self.structure = spec.params["structure"]
        self.leaves: list[_Leaf] = []
        for child, _, (a, b) in composite_parts(spec):
            start: Any = 0
            if child.kind == "categorical":
                start = int(child.params.get("start", 0))
            elif child.kind == "multi_categorical":
                start = np.asarray(child.params.get("start", 0), dtype=np.int64).reshape(-1)
            box = child.kind not in ("categorical", "multi_categorical")
            bounds = child.bounds() if box and clip_actions else None
            shape = tuple(child.params.get("action_shape", ()))
            self.leaves.append(_Leaf(child.kind, slice(a, b), shape, np.dtype(child.action_dtype), start, bounds))

    def __call__(self, actions: np.ndarray) -> list[Any]:
        flat = np.asarray(actions)
        if flat.ndim != 2 or flat.shape[1] != self.width:
            raise ConfigError(
                f"composite actions must be a flat array [B, {self.width}] (the parts' flat actions concatenated), "
                f"got shape {list(flat.shape)}"
            )
        leaves = [leaf.to_env(flat) for leaf in self.leaves]
        return [_assemble(self.structure, leaves, i) for i in range(len(flat))]


def _assemble(structure: Any, leaves: list[np.ndarray], row: int) -> Any:
    if isinstance(structure, int):
        return leaves[structure][row]
    if "tuple" in structure:
        return tuple(_assemble(s, leaves, row) for s in structure["tuple"])
    return {key: _assemble(s, leaves, row) for key, s in structure["dict"]}


def structured_actions(spec: Any, actions: np.ndarray, clip_actions: bool = True) -> list[Any]:
    """Flat composite actions ``[B, D]`` as the env takes them: one tuple/dict per row (the
    space's structure), each part of its own dtype and shape, Discrete/MultiDiscrete ``start``
    added, Box parts clipped to their bounds with ``clip_actions``.

    Raises :class:`~rlcore.errors.ConfigError` when ``actions`` is not ``[B, D]``.
    """
    return CompositeActions(spec, clip_actions)(actions)


def _collect(structure: Any, action: Any, path: str, out: list[Any]) -> None:
    if isinstance(structure, int):
        out[structure] = action
        return
    if "tuple" in structure:
        parts = structure["tuple"]
        if not isinstance(action, tuple | list) or len(action) != len(parts):
            raise ConfigError(f"action{path} must be a tuple of {len(parts)} parts, got {action!r}")
        for i, (s, a) in enumerate(zip(parts, action, strict=True)):
            _collect(s, a, f"{path}[{i}]", out)
        return
    keys = [k for k, _ in structure["dict"]]
    if not isinstance(action, Mapping) or sorted(map(str, action)) != sorted(map(str, keys)):
        raise ConfigError(f"action{path} must be a dict with the keys {keys}, got {action!r}")
    for key, s in structure["dict"]:
        _collect(s, action[key], f"{path}[{key!r}]", out)


def flat_actions(spec: Any, actions: Sequence[Any]) -> np.ndarray:
    """The inverse of :func:`structured_actions`: env actions (one tuple/dict per row) as the flat
    float32 ``[B, D]`` a sample batch stores (``start`` subtracted). Raises
    :class:`~rlcore.errors.ConfigError` naming the path of a part that does not fit."""
    parts = composite_parts(spec)
    out = np.zeros((len(actions), int(spec.action_shape[0])), dtype=np.float32)
    for row, action in enumerate(actions):
        leaves: list[Any] = [None] * len(parts)
        _collect(spec.params["structure"], action, "", leaves)
        for (child, _, (a, b)), value, path in zip(parts, leaves, spec.params["paths"], strict=True):
            x = np.asarray(value, dtype=np.float64).reshape(-1)
            if child.kind in ("categorical", "multi_categorical"):
                x = x - np.asarray(child.params.get("start", 0), dtype=np.float64).reshape(-1)
            if x.size != b - a:
                raise ConfigError(f"action part {path} has {x.size} values, the space's part takes {b - a}")
            out[row, a:b] = x
    return out


# ---------------------------------------------------------- numpy logp / entropy / kl (references)
def dist_logp(spec: Any, dist_inputs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Log-probability (float64 ``[B]``) of stored ``actions`` under ``spec``; a composite's is the
    sum of its parts' (each summed over its own dimensions)."""
    x = np.asarray(dist_inputs, dtype=np.float64)
    acts = np.asarray(actions)
    n = len(x)
    if spec.kind == "composite":
        flat = acts.reshape(n, -1)
        return sum((dist_logp(c, x[:, a:b], flat[:, s:e]) for c, (a, b), (s, e) in composite_parts(spec)), np.zeros(n))
    if spec.kind == "categorical":
        idx = np.rint(acts.reshape(n)).astype(np.int64)
        return np.take_along_axis(_log_softmax(x), idx[:, None], axis=1)[:, 0]
    if spec.kind == "multi_categorical":
        idx = np.rint(acts.reshape(n, -1)).astype(np.int64)
        out, start = np.zeros(n), 0
        for i, k in enumerate(_input_lens(spec)):
            out += np.take_along_axis(_log_softmax(x[:, start : start + k]), idx[:, i : i + 1], axis=1)[:, 0]
            start += k
        return out
    if spec.kind == "diag_gaussian":
        d = x.shape[1] // 2
        return gaussian_logp(acts.reshape(n, d), x[:, :d], x[:, d:])
    return np.zeros(n)


def _categorical_splits(spec: Any, x: np.ndarray) -> list[np.ndarray]:
    if spec.kind == "categorical":
        return [x]
    bounds = np.cumsum([0, *_input_lens(spec)])
    return [x[:, a:b] for a, b in itertools.pairwise(bounds)]


def dist_entropy(spec: Any, dist_inputs: np.ndarray) -> np.ndarray:
    """Entropy (float64 ``[B]``) under ``spec``; a composite's is the sum of its parts'."""
    x = np.asarray(dist_inputs, dtype=np.float64)
    if spec.kind == "composite":
        return sum((dist_entropy(c, x[:, a:b]) for c, (a, b), _ in composite_parts(spec)), np.zeros(len(x)))
    if spec.kind in ("categorical", "multi_categorical"):
        out = np.zeros(len(x))
        for sub in _categorical_splits(spec, x):
            lp = _log_softmax(sub)
            out -= (np.exp(lp) * lp).sum(-1)
        return out
    if spec.kind == "diag_gaussian":
        d = x.shape[1] // 2
        return (x[:, d:] + 0.5 * np.log(2 * np.pi * np.e)).sum(-1)
    return np.zeros(len(x))


def dist_kl(spec: Any, inputs: np.ndarray, other_inputs: np.ndarray) -> np.ndarray:
    """``KL(p || q)`` (float64 ``[B]``) for ``p`` of ``inputs`` and ``q`` of ``other_inputs``; a
    composite's is the sum of its parts'."""
    p = np.asarray(inputs, dtype=np.float64)
    q = np.asarray(other_inputs, dtype=np.float64)
    if spec.kind == "composite":
        return sum((dist_kl(c, p[:, a:b], q[:, a:b]) for c, (a, b), _ in composite_parts(spec)), np.zeros(len(p)))
    if spec.kind in ("categorical", "multi_categorical"):
        out = np.zeros(len(p))
        for sp, sq in zip(_categorical_splits(spec, p), _categorical_splits(spec, q), strict=True):
            lp, lq = _log_softmax(sp), _log_softmax(sq)
            out += (np.exp(lp) * (lp - lq)).sum(-1)
        return out
    if spec.kind == "diag_gaussian":
        d = p.shape[1] // 2
        m1, s1, m2, s2 = p[:, :d], p[:, d:], q[:, :d], q[:, d:]
        return (s2 - s1 + (np.exp(2 * s1) + (m1 - m2) ** 2) / (2 * np.exp(2 * s2)) - 0.5).sum(-1)
    return np.zeros(len(p))
