"""Config schemas: every key of an algorithm's config typed, ranged and documented.

An algorithm (rl_algos) declares its config as a :class:`Schema` of :class:`Field` s; the trainer
validates the merged config once, at construction, before any env or Ray starts. An error names
the key, the value given and what is allowed::

    SCHEMA = COMMON_SCHEMA | Schema({
        "clip_param": Field(0.2, "PPO's surrogate clip epsilon", float, min=0, min_exclusive=True),
    })
    SCHEMA.validate({"clip_param": -1})   # ConfigError: config key 'clip_param' must be > 0, got -1

:meth:`Schema.markdown` renders the table the README shows. No validation library is used:
RLlib's configs are flat dicts of numbers, strings and small lists, and the errors must name the
nearest valid key, which :func:`rlcore.config.merge_config` already does for unknown keys.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rlcore.config import merge_config
from rlcore.errors import ConfigError

_TYPE_NAMES: dict[type, str] = {
    float: "a number",
    int: "an int",
    bool: "True or False",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


@dataclass(frozen=True)
class Field:
    """One config key: its default, what it means (units, source), and what values it accepts.

    ``type``: ``float`` (ints accepted), ``int`` (not bool), ``bool``, ``str``, ``list``, ``dict``,
    or None (anything); ``min``/``max`` bound numbers (``min_exclusive``/``max_exclusive`` for
    strict bounds); ``choices`` lists the allowed values; ``nullable`` accepts None; ``check``
    returns an error text for a value it refuses (or None).
    """

    default: Any
    doc: str
    type: type | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    check: Callable[[Any], str | None] | None = None

    def allowed(self) -> str:
        """What the field accepts, in words (for errors and the README table)."""
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        elif self.type is not None:
            parts.append(_TYPE_NAMES.get(self.type, self.type.__name__))
        if self.min is not None:
            parts.append(f"{'>' if self.min_exclusive else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"{'<' if self.max_exclusive else '<='} {self.max:g}")
        text = " ".join(parts) if parts else "any value"
        return text + (" or None" if self.nullable else "")

    def error(self, value: Any) -> str | None:
        """Why ``value`` is refused, or None when it is fine."""
        if value is None:
            return None if self.nullable or (self.default is None and self.type is None) else "is not optional"
        if self.choices is not None:
            if value not in self.choices:
                return "is not one of the choices"
            return None if self.check is None else self.check(value)
        kind = self.type
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return "is not a number"
            if not math.isfinite(float(value)):
                return "is not finite"
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return "is not an int"
        elif kind is bool:
            if not isinstance(value, bool):
                return "is not True or False"
        elif kind is list:
            if not isinstance(value, list | tuple):
                return "is not a list"
        elif kind is dict:
            if not isinstance(value, Mapping):
                return "is not a mapping"
        elif kind is not None and not isinstance(value, kind):
            return f"is not {_TYPE_NAMES.get(kind, kind.__name__)}"
        if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
            return "is out of range"
        if self.max is not None and (value >= self.max if self.max_exclusive else value > self.max):
            return "is out of range"
        return None if self.check is None else self.check(value)


#: A check across keys: ``check(config) -> error text or None``.
CrossCheck = Callable[[Mapping[str, Any]], str | None]


class Schema:
    """An algorithm's config: key -> :class:`Field`, plus ``checks`` across keys (each
    ``check(config) -> error text or None``). Combine schemas with ``|`` (right wins; checks add up)."""

    def __init__(self, fields: Mapping[str, Field], checks: Iterable[CrossCheck] = ()) -> None:
        self.fields: dict[str, Field] = dict(fields)
        self.checks: list[CrossCheck] = list(checks)

    def __or__(self, other: Schema) -> Schema:
        return Schema({**self.fields, **other.fields}, [*self.checks, *other.checks])

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def defaults(self) -> dict[str, Any]:
        """``key -> default`` (a fresh dict; nested defaults are copied by :func:`merge_config`)."""
        return {k: f.default for k, f in self.fields.items()}

    def validate(self, config: Mapping[str, Any], *, owner: str = "") -> None:
        """Raise :class:`~rlcore.errors.ConfigError` for the first key whose value the schema refuses."""
        for key, field in self.fields.items():
            if key not in config:
                continue
            value = config[key]
            why = field.error(value)
            if why is not None:
                who = f"{owner} " if owner else ""
                raise ConfigError(
                    f"{who}config key {key!r} {why}: got {value!r}; allowed: {field.allowed()} ({field.doc})"
                )
        for check in self.checks:
            why = check(config)
            if why is not None:
                raise ConfigError(f"{owner + ' ' if owner else ''}config: {why}")

    def merge(self, config: Mapping[str, Any] | None, *, owner: str = "") -> dict[str, Any]:
        """The defaults updated with ``config`` (unknown keys refused with the nearest one), validated."""
        merged = merge_config(self.defaults(), config)
        self.validate(merged, owner=owner)
        return merged

    def markdown(self) -> str:
        """A Markdown table ``key | default | allowed | meaning`` (the README's config tables)."""
        lines = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
        for key, f in self.fields.items():
            lines.append(f"| `{key}` | `{f.default!r}` | {f.allowed()} | {f.doc} |")
        return "\n".join(lines)


def positive_int_list(value: Any) -> str | None:
    """``check`` for lists of positive ints (layer sizes)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        return "must hold positive ints"
    return None


def schedule_points(value: Any) -> str | None:
    """``check`` for ``[[timestep, value], ...]`` schedules with increasing timesteps."""
    try:
        points = [(float(t), float(v)) for t, v in value]
    except (TypeError, ValueError):
        return "must be a list of [timestep, value] pairs"
    if not points:
        return "needs at least one [timestep, value] pair"
    if any(b[0] < a[0] for a, b in itertools.pairwise(points)):
        return "must have increasing timesteps"
    return None


#: The keys every algorithm's config has (the trainer, the workers and the rollout evaluator read them).
COMMON_SCHEMA = Schema(
    {
        "env": Field(
            None, "env id (gymnasium id or registered name), or the trainer's env argument", str, nullable=True
        ),
        "env_config": Field({}, "keyword arguments handed to the env creator", dict),
        "framework": Field("torch", "deep-learning framework of the policy (a registered one)", str),
        "num_workers": Field(0, "remote evaluators (Ray actors); 0 = one process, no Ray", int, min=0),
        "num_envs_per_worker": Field(1, "vectorized envs per evaluator", int, min=1),
        "num_cpus_per_worker": Field(1, "CPUs reserved per remote evaluator (Ray resources)", float, min=0),
        "rollout_fragment_length": Field(200, "env steps per env per sample() call", int, min=1),
        "train_batch_size": Field(4000, "rows per training step (summed over workers)", int, min=1),
        "gamma": Field(0.99, "discount factor", float, min=0, max=1),
        "model": Field({}, "model catalog config (fcnet_hiddens, conv_filters, framestack...)", dict),
        "observation_filter": Field("NoFilter", "observation filter", str, choices=("NoFilter", "MeanStdFilter")),
        "clip_actions": Field(True, "clip continuous actions to the action space's bounds", bool),
        "seed": Field(None, "seed of weights, envs and sampling (None: unseeded)", int, nullable=True),
        "metrics_smoothing_episodes": Field(100, "episodes averaged into episode_reward_mean", int, min=1),
        "recreate_failed_workers": Field(True, "recreate a dead remote evaluator and go on", bool),
        "ray_address": Field(None, "address of a Ray cluster to join (None: a local Ray)", str, nullable=True),
    }
)


def model_policy_schema(*, lr: float, adam_epsilon: float) -> Schema:
    """The keys a catalog-model policy reads (:class:`~rlcore.model_policy.ModelPolicy` and the
    framework plugins' policies), with an algorithm's defaults for ``lr`` and ``adam_epsilon``."""
    return Schema(
        {
            "lr": Field(lr, "Adam learning rate", float, min=0, min_exclusive=True),
            "lr_schedule": Field(
                None,
                "[[timestep, lr], ...]: piecewise-linear lr over sampled timesteps (overrides lr)",
                list,
                nullable=True,
                check=schedule_points,
            ),
            "adam_epsilon": Field(adam_epsilon, "Adam's epsilon", float, min=0, min_exclusive=True),
            "num_cpu_threads": Field(1, "intra-op threads of the framework (torch; 0: its default)", int, min=0),
            "numpy_inference": Field(True, "act through the numpy mirror of the catalog model", bool),
        }
    )


__all__ = ["COMMON_SCHEMA", "Field", "Schema", "model_policy_schema", "positive_int_list", "schedule_points"]
