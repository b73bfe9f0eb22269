"""Schedules in numpy: values that change with the number of env steps sampled so far.

``PiecewiseSchedule([(0, 1e-3), (100_000, 0.0)])`` interpolates linearly between its points and
holds the last value after them (RLlib's ``lr_schedule`` format: a list of ``[timestep, value]``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from rlcore.errors import ConfigError


class PiecewiseSchedule:
    """Linear interpolation between ``(timestep, value)`` points, constant outside them."""

    def __init__(self, points: Sequence[Sequence[float]]) -> None:
        pts = [(float(t), float(v)) for t, v in points]
        if not pts:
            raise ConfigError("a schedule needs at least one [timestep, value] point")
        if any(b[0] < a[0] for a, b in itertools.pairwise(pts)):
            raise ConfigError(f"schedule points must have increasing timesteps, got {points!r}")
        self.t = np.array([p[0] for p in pts])
        self.v = np.array([p[1] for p in pts])

    def value(self, timestep: float) -> float:
        """The scheduled value at ``timestep``."""
        return float(np.interp(timestep, self.t, self.v))

    @classmethod
    def maybe(cls, points: Sequence[Sequence[float]] | None, constant: float) -> PiecewiseSchedule:
        """A schedule from config points, or a constant one when ``points`` is None."""
        return cls(points) if points else cls([(0, constant)])
