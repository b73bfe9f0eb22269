"""Result dicts: JSON conversion (NaN -> null, numpy -> Python) and stop criteria."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rlcore.errors import ConfigError, did_you_mean

#: Result keys that a stop criterion may name (reached when ``result[key] >= value``).
STOP_KEYS: tuple[str, ...] = (
    "training_iteration",
    "timesteps_total",
    "time_total_s",
    "episode_reward_mean",
    "episodes_total",
)


def jsonable(value: Any) -> Any:
    """A copy of ``value`` that ``json.dumps`` accepts: numpy scalars and arrays to Python, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def flatten(result: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to ``"a/b/c"`` keys (lists and scalars kept as leaves): the one walker behind
    ``progress.csv``, TensorBoard scalars and ``rlcore plot``'s key lookup."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}/"))
        else:
            out[name] = value
    return out


def dumps(result: Mapping[str, Any]) -> str:
    """One result as a line of strict JSON."""
    return json.dumps(jsonable(result), allow_nan=False)


def check_stop(stop: Mapping[str, Any]) -> dict[str, float]:
    """Validate stop criteria: known keys, finite numeric thresholds, and no negative count
    (every key but ``episode_reward_mean`` counts something that starts at 0).

    Raises:
        ConfigError: naming the key and the value.
    """
    out = {}
    for key, value in stop.items():
        if key not in STOP_KEYS:
            raise ConfigError(
                f"unknown stop key {key!r}.{did_you_mean(key, STOP_KEYS)} Valid keys: {', '.join(STOP_KEYS)}."
            )
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"stop criterion {key!r} needs a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"stop criterion {key!r} needs a finite number, got {value!r}")
        if value < 0 and key != "episode_reward_mean":
            raise ConfigError(f"stop criterion {key!r} counts from 0: it needs a number >= 0, got {value!r}")
        out[key] = float(value)
    return out


def should_stop(result: Mapping[str, Any], stop: Mapping[str, float]) -> bool:
    """True when any criterion is reached (``result[key] >= threshold``; NaN never reaches)."""
    for key, threshold in stop.items():
        value = result.get(key)
        if isinstance(value, int | float) and math.isfinite(value) and value >= threshold:
            return True
    return False
