"""Observation filters (numpy): running mean/std normalization whose state syncs across workers.

Every evaluator keeps one filter. Remote evaluators accumulate statistics in a *buffer* (what
they saw since the last sync); the trainer collects the buffers, merges them into the local
filter and broadcasts the merged state, the way RLlib's FilterManager does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlcore.errors import ConfigError


class RunningStat:
    """Count, mean and sum of squared deviations (Welford), mergeable with another."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.n = 0
        self.mean = np.zeros(shape, dtype=np.float64)
        self.m2 = np.zeros(shape, dtype=np.float64)

    def push_batch(self, x: np.ndarray) -> None:
        """Add a batch of rows ``[B, *shape]``."""
        x = np.asarray(x, dtype=np.float64)
        b = len(x)
        if b == 0:
            return
        self.merge_moments(b, x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).sum(axis=0))

    def merge_moments(self, n: int, mean: np.ndarray, m2: np.ndarray) -> None:
        """Merge another stat's moments into this one (Chan et al.)."""
        if n == 0:
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.n * n / total)
        self.n = total

    def merge(self, other: RunningStat) -> None:
        """Merge ``other`` into this stat."""
        self.merge_moments(other.n, other.mean, other.m2)

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (1 where fewer than two rows were seen)."""
        if self.n < 2:
            return np.ones_like(self.mean)
        return np.sqrt(self.m2 / self.n)

    def get_state(self) -> dict[str, Any]:
        """Arrays and ints only (checkpoint-safe)."""
        return {"n": int(self.n), "mean": self.mean.copy(), "m2": self.m2.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.n = int(state["n"])
        self.mean = np.asarray(state["mean"], dtype=np.float64).copy()
        self.m2 = np.asarray(state["m2"], dtype=np.float64).copy()


class NoFilter:
    """The identity filter."""

    def __call__(self, x: np.ndarray, update: bool = True) -> np.ndarray:
        """Return ``x`` as float32."""
        return np.asarray(x, dtype=np.float32)

    def get_state(self) -> dict[str, Any]:
        """No state."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore; statistics of a MeanStdFilter are refused (they would be dropped)."""
        if state:
            raise ConfigError(
                "the state holds observation-filter statistics (MeanStdFilter) but this evaluator's "
                "observation_filter is NoFilter: its policy would see raw observations; set "
                "observation_filter to MeanStdFilter"
            )

    def flush_buffer(self) -> dict[str, Any]:
        """Nothing to flush."""
        return {}

    def apply_buffer(self, buffer: dict[str, Any]) -> None:
        """Nothing to apply."""


class MeanStdFilter(NoFilter):
    """``(x - mean) / (std + eps)``, clipped to ``[-clip, clip]``, with running statistics."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, eps: float = 1e-8) -> None:
        self.shape = tuple(shape)
        self.clip = clip
        self.eps = eps
        self.rs = RunningStat(self.shape)
        self.buffer = RunningStat(self.shape)
        self._refresh()

    def _refresh(self) -> None:
        self._mean = self.rs.mean.astype(np.float32)
        self._scale = (1.0 / (self.rs.std + self.eps)).astype(np.float32)

    def __call__(self, x: np.ndarray, update: bool = True) -> np.ndarray:
        """Normalize a batch ``[B, *shape]``; with ``update`` its rows are added to the statistics."""
        x = np.asarray(x, dtype=np.float32)
        if update:
            self.rs.push_batch(x)
            self.buffer.push_batch(x)
            self._refresh()
        return np.clip((x - self._mean) * self._scale, -self.clip, self.clip)

    def get_state(self) -> dict[str, Any]:
        """The running statistics (arrays and ints)."""
        return self.rs.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        """Replace the running statistics (the buffer is kept); they must be of this filter's shape."""
        if not state:
            raise ConfigError(
                "the state holds no observation-filter statistics (NoFilter) but this evaluator's "
                "observation_filter is MeanStdFilter; set observation_filter to NoFilter"
            )
        problem = statistics_problem(state, self.eps)  # first: an edit is named as such, whatever the shape
        if problem is not None:
            raise FilterStatisticsError(problem)
        shapes = {np.shape(state["mean"]), np.shape(state["m2"])}
        if shapes != {self.shape}:
            raise ConfigError(f"observation-filter statistics of shape {shapes.pop()} do not fit {self.shape}")
        self.rs.set_state(state)
        self._refresh()

    def flush_buffer(self) -> dict[str, Any]:
        """What was seen since the last flush, then clear it."""
        out = self.buffer.get_state()
        self.buffer = RunningStat(self.shape)
        return out

    def apply_buffer(self, buffer: dict[str, Any]) -> None:
        """Merge another filter's flushed buffer into the statistics."""
        if buffer:
            self.rs.merge_moments(int(buffer["n"]), np.asarray(buffer["mean"]), np.asarray(buffer["m2"]))
            self._refresh()


class FilterStatisticsError(ConfigError):
    """Observation-filter statistics that rlcore never writes (:func:`statistics_problem`): a
    checkpoint holding them was edited or damaged, it is not one of another env or model."""


def statistics_problem(state: Any, eps: float = 1e-8) -> str | None:
    """Why ``state`` cannot be :class:`MeanStdFilter` statistics that rlcore wrote (whatever the
    observations' shape): keys missing, a count that is not an int >= 0, values that are not
    finite real numbers, ``mean`` and ``m2`` of different shapes, a negative ``m2``, or a mean or
    scale that overflows float32; None when they can be. A checkpoint holding such statistics was
    edited or damaged."""
    if not isinstance(state, dict):
        return f"observation-filter statistics are a {type(state).__name__}, not a dict of n, mean and m2"
    missing = [k for k in ("n", "mean", "m2") if k not in state]
    if missing:
        return f"observation-filter statistics lack {missing} (they hold {sorted(state)})"
    n = state["n"]
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        return f"observation-filter statistics count n={n!r:.60} observations: not an int >= 0"
    arrays = {k: np.asarray(state[k]) for k in ("mean", "m2")}
    for key, arr in arrays.items():
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr.astype(np.float64)).all():
            return f"observation-filter statistic {key!r} is not finite real numbers ({arr.dtype})"
    mean, m2 = (arrays[k].astype(np.float64) for k in ("mean", "m2"))
    if mean.shape != m2.shape:
        return f"observation-filter statistics 'mean' and 'm2' have different shapes {mean.shape} and {m2.shape}"
    if (m2 < 0).any():
        return "observation-filter statistic 'm2' (sum of squared deviations) is negative"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # as MeanStdFilter._refresh computes them
        std = np.ones_like(mean) if n < 2 else np.sqrt(m2 / int(n))
        scaled = (mean.astype(np.float32), (1.0 / (std + eps)).astype(np.float32))
    if not all(np.isfinite(a).all() for a in scaled):
        return "observation-filter statistics overflow float32 (mean or standard deviation too large)"
    return None


def make_filter(name: str, shape: tuple[int, ...]) -> NoFilter:
    """The filter called ``name`` (``"MeanStdFilter"`` or ``"NoFilter"``) for observations of ``shape``."""
    from rlcore.errors import ConfigError, did_you_mean

    if name == "MeanStdFilter":
        return MeanStdFilter(shape)
    if name == "NoFilter":
        return NoFilter()
    raise ConfigError(f"unknown observation_filter {name!r}.{did_you_mean(name, FILTERS)} Choose one of {FILTERS}.")


FILTERS = ("MeanStdFilter", "NoFilter")
