"""Config schemas: every key of an algorithm's config typed, ranged and documented.

An algorithm (rl_algos) declares its config as a :class:`Schema` of :class:`Field` s; the trainer
validates the merged config once, at construction, before any env or Ray starts. An error names
the key, the value given and what is allowed::

    SCHEMA = COMMON_SCHEMA | Schema({
        "clip_param": Field(0.2, "PPO's surrogate clip epsilon", float, min=0, min_exclusive=True),
    })
    SCHEMA.validate({"clip_param": -1}, owner="PPO")
    # ConfigError: PPO config key 'clip_param' is out of range: got -1; allowed: a number, clip_param > 0 (...)

Every key has a type (``bool`` is not an int, a string is not a number, ``12.5`` is not an int)
and, for numbers, a range; schedules are checked point by point (:func:`schedule_points`); the
``model`` mapping is validated key by key against :data:`MODEL_SCHEMA`, while ``env_config`` is
left to the env. :func:`check_host` adds what depends on the machine rather than on the value
(``num_gpus`` against the GPUs visible here, Ray installed when ``num_workers > 0``).
:meth:`Schema.markdown` renders the table the README shows. No validation library is used:
RLlib's configs are flat dicts of numbers, strings and small lists, and the errors must name the
nearest valid key, which :func:`rlcore.config.merge_config` already does for unknown keys.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rlcore.config import merge_config
from rlcore.config_aliases import COMMON_ALIASES, MODEL_ALIASES, Alias, translate_config
from rlcore.errors import ConfigError, did_you_mean


def _num(x: float) -> str:
    """A bound in words: ``1``, ``0.5``, ``4294967295`` (no exponent for whole numbers)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


_TYPE_NAMES: dict[type, str] = {
    float: "a number",
    int: "an int",
    bool: "True or False",
    str: "a string",
    list: "a list",
    dict: "a mapping",
}


class ConfigValueError(ConfigError):
    """A config value a schema refuses; ``path`` is its key path (``("model", "fcnet_hiddens")``),
    so that an experiments file can point at its line."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Field:
    """One config key: its default, what it means (units, source), and what values it accepts.

    ``type``: ``float`` (ints accepted), ``int`` (not bool), ``bool``, ``str``, ``list``, ``dict``,
    or None (anything); ``min``/``max`` bound numbers (``min_exclusive``/``max_exclusive`` for
    strict bounds); ``choices`` lists the allowed values; ``nullable`` accepts None; ``check``
    returns an error text for a value it refuses (or None); ``schema`` validates a mapping's keys
    (unknown ones refused) and values, as ``model.fcnet_hiddens``; ``what`` names the accepted
    values in words where the type's name says too little (``"a list of positive ints"``).
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
    schema: Schema | None = None
    what: str | None = None

    def allowed(self, key: str = "value") -> str:
        """What the field accepts, in words (for errors and the README table): ``a number, 0 <= gamma <= 1``."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.what is not None:
            text = self.what
        else:
            text = _TYPE_NAMES.get(self.type, self.type.__name__) if self.type is not None else "any value"
        low = f"{_num(self.min)} {'<' if self.min_exclusive else '<='} " if self.min is not None else ""
        high = f" {'<' if self.max_exclusive else '<='} {_num(self.max)}" if self.max is not None else ""
        if low and high:
            text += f", {low}{key}{high}"
        elif self.min is not None:
            text += f", {key} {'>' if self.min_exclusive else '>='} {_num(self.min)}"
        elif high:
            text += f", {key}{high}"
        return text + ((", or None" if low or high else " or None") if self.nullable else "")

    def refused_examples(self) -> list[tuple[Any, str]]:
        """Values this field must refuse, each with the words of its refusal: one of the wrong
        type (a string for a number, a float such as 1.5 for an int, ``True`` for a number) and
        one past each bound. For tests of a schema (an algorithm's own too): every key of every
        schema is fed these."""
        if self.choices is not None:
            return [("not-a-choice", "is not one of the choices")]
        out: list[tuple[Any, str]] = []
        kind = self.type
        if kind is float:
            out += [("1.0", "is not a number"), (True, "is not a number"), (math.nan, "is not finite")]
        elif kind is int:
            out += [(1.5, "is not an int"), ("2", "is not an int"), (True, "is not an int")]
        elif kind is bool:
            out += [("yes", "is not True or False"), (1, "is not True or False")]
        elif kind is str:
            out.append((3, "is not a string"))
        elif kind is list:
            out.append(("abc", "is not a list"))
        elif kind is dict:
            out.append(([1], "is not a mapping"))
        if kind in (int, float) and self.min is not None:
            low = self.min if self.min_exclusive else self.min - (1 if kind is int else 0.5)
            out.append((int(low) if kind is int else float(low), "is out of range"))
        if kind in (int, float) and self.max is not None:
            high = self.max if self.max_exclusive else self.max + (1 if kind is int else 0.5)
            out.append((int(high) if kind is int else float(high), "is out of range"))
        if not self.nullable and not (self.default is None and self.type is None):
            out.append((None, "is not optional"))
        return out

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
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                return "is not a number"
            if not _finite(value):
                return "is not finite"
        elif kind is int:
            if isinstance(value, float) and value.is_integer():
                return f"is not an int (write {int(value)}, without the decimal point)"
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                return "is not an int"
        elif kind is bool:
            if not isinstance(value, bool) and not _numpy_bool(value):
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


def _numpy_bool(value: Any) -> bool:
    """Whether ``value`` is a numpy bool (``np.True_``: a True or False as numpy ints are ints;
    numpy is not imported here, a numpy value means it is loaded)."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def _finite(value: numbers.Real) -> bool:
    """Whether a real number is finite as a float (an int past float's range, 10**400, is not)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


#: A check across keys: ``check(config) -> error text or None``.
CrossCheck = Callable[[Mapping[str, Any]], str | None]


class Schema:
    """An algorithm's config: key -> :class:`Field`, plus ``checks`` across keys (each
    ``check(config) -> error text or None``) and ``aliases``: RLlib 2018 names of its keys
    (:class:`rlcore.config_aliases.Alias`), translated by :meth:`translate`. Combine schemas with
    ``|`` (right wins; checks add up)."""

    def __init__(
        self,
        fields: Mapping[str, Field],
        checks: Iterable[CrossCheck] = (),
        aliases: Mapping[str, Alias] | None = None,
    ) -> None:
        self.fields: dict[str, Field] = dict(fields)
        self.checks: list[CrossCheck] = list(checks)
        self.aliases: dict[str, Alias] = dict(aliases or {})

    def __or__(self, other: Schema) -> Schema:
        return Schema({**self.fields, **other.fields}, [*self.checks, *other.checks], {**self.aliases, **other.aliases})

    def translate(
        self, config: Mapping[str, Any] | None, *, owner: str = "", known: Collection[str] = ()
    ) -> dict[str, Any]:
        """``config`` with its RLlib 2018 keys under today's names (:func:`rlcore.config_aliases.translate_config`:
        one :class:`~rlcore.config_aliases.RLlib2018Warning` line per translated key). Raises
        :class:`ConfigValueError` for a 2018 value of the wrong type, a 2018 and today's name
        with different values, or a 2018 key whose feature rlcore does not have. ``known``: the
        algorithm's own top-level keys outside this schema, never read as 2018 names."""
        return translate_config(self, config, owner=owner, known=known)

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def defaults(self) -> dict[str, Any]:
        """``key -> default`` (a fresh dict; nested defaults are copied by :func:`merge_config`)."""
        return {k: f.default for k, f in self.fields.items()}

    def validate(self, config: Mapping[str, Any], *, owner: str = "", path: tuple[str, ...] = ()) -> None:
        """Raise :class:`ConfigValueError` (a :class:`~rlcore.errors.ConfigError`) for the first key
        whose value the schema refuses, naming ``owner`` (the algorithm), the key, the value and
        what is allowed; keys of a nested ``schema`` (``model``) are checked as ``model.<key>``,
        unknown ones refused with the nearest valid key. Then the cross-key ``checks``."""
        who = f"{owner} " if owner else ""
        for key, field in self.fields.items():
            if key not in config:
                continue
            value, where = config[key], (*path, key)
            why = field.error(value)
            if why is not None:
                raise ConfigValueError(
                    f"{who}config key {'.'.join(where)!r} {why}: got {value!r}; "
                    f"allowed: {field.allowed(key)} ({field.doc})",
                    where,
                )
            if field.schema is not None and isinstance(value, Mapping):
                for sub in value:
                    if sub not in field.schema.fields:
                        valid = [str(k) for k in field.schema.fields]
                        hint = did_you_mean(str(sub), valid)
                        raise ConfigValueError(
                            f"{who}config key {'.'.join((*where, str(sub)))!r} is unknown.{hint} "
                            f"Valid keys under {'.'.join(where)!r}: {', '.join(sorted(valid))}.",
                            (*where, str(sub)),
                        )
                field.schema.validate(value, owner=owner, path=where)
        for check in self.checks:
            why = check(config)
            if why is not None:
                raise ConfigValueError(f"{who}config: {why}", path)

    def merge(self, config: Mapping[str, Any] | None, *, owner: str = "") -> dict[str, Any]:
        """The defaults updated with ``config`` (RLlib 2018 names translated, unknown keys refused
        with the nearest one), validated."""
        merged = merge_config(self.defaults(), self.translate(config, owner=owner))
        self.validate(merged, owner=owner)
        return merged

    def markdown(self) -> str:
        """A Markdown table ``key | default | allowed | meaning`` (the README's config tables)."""
        lines = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
        for key, f in self.fields.items():
            lines.append(f"| `{key}` | `{f.default!r}` | {f.allowed(key)} | {f.doc} |")
        return "\n".join(lines)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int_list(value: Any) -> str | None:
    """``check`` for lists of positive ints (layer sizes)."""
    if not all(_is_int(v) and v > 0 for v in value):
        return "must hold positive ints"
    return None


def schedule_points(value: Any, *, min_value: float | None = None) -> str | None:
    """``check`` for ``[[timestep, value], ...]`` schedules: at least one pair, timesteps ints >= 0
    that never decrease, values finite numbers (and ``>= min_value`` when given)."""
    if not value:
        return "needs at least one [timestep, value] pair"
    previous = 0
    for i, point in enumerate(value):
        if not isinstance(point, list | tuple) or len(point) != 2:
            return f"must be a list of [timestep, value] pairs (item {i} is {point!r})"
        t, v = point
        if not _is_int(t) or t < 0:
            return f"must have timesteps that are ints >= 0 (item {i} has {t!r})"
        if t < previous:
            return f"must have non-decreasing timesteps (item {i}: {t} after {previous})"
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not _finite(v):
            return f"must have finite numbers as values (item {i} has {v!r})"
        if min_value is not None and v < min_value:
            return f"must have values >= {_num(min_value)} (item {i} has {v!r})"
        previous = t
    return None


def conv_filter_list(value: Any) -> str | None:
    """``check`` for RLlib's ``conv_filters``: ``[[out_channels, [kernel_h, kernel_w], stride], ...]``."""
    if not value:
        return "needs at least one [out_channels, [kernel_h, kernel_w], stride] layer"
    for i, layer in enumerate(value):
        ok = isinstance(layer, list | tuple) and len(layer) == 3
        if ok:
            out, kernel, stride = layer
            kernel = [kernel, kernel] if _is_int(kernel) else kernel
            ok = isinstance(kernel, list | tuple) and len(kernel) == 2
            ok = ok and all(_is_int(v) and v > 0 for v in (out, stride, *kernel))
        if not ok:
            shape = "[out_channels, [kernel_h, kernel_w], stride]"
            return f"must be a list of {shape} of positive ints (layer {i} is {layer!r})"
    return None


#: Activation names every framework's catalog models implement (``rlcore.models.layout.ACTIVATIONS``).
ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "elu", "swish", "linear")

#: The model catalog's config (``config["model"]``); its defaults are the catalog's ``MODEL_DEFAULTS``.
MODEL_SCHEMA = Schema(
    {
        "fcnet_hiddens": Field(
            [256, 256],
            "hidden layer sizes of fully connected nets",
            list,
            check=positive_int_list,
            what="a list of positive ints",
        ),
        "fcnet_activation": Field("tanh", "activation of the fully connected hidden layers", str, choices=ACTIVATIONS),
        "conv_filters": Field(
            None,
            "[[out_channels, [kh, kw], stride], ...] of vision nets (None: picked from the image shape)",
            list,
            nullable=True,
            check=conv_filter_list,
            what="a list of [out_channels, [kernel_h, kernel_w], stride]",
        ),
        "conv_activation": Field("relu", "activation of the conv layers", str, choices=ACTIVATIONS),
        "use_lstm": Field(False, "wrap the model in an LSTM", bool),
        "lstm_cell_size": Field(256, "LSTM cell size", int, min=1),
        "max_seq_len": Field(20, "longest sequence of a recurrent train batch", int, min=1),
        "free_log_std": Field(False, "Box actions: a state-independent log std", bool),
        "vf_share_layers": Field(False, "policy and value function share their hidden layers", bool),
        "dim": Field(84, "side of the resized image (image observations)", int, min=1),
        "grayscale": Field(False, "image observations: convert to grayscale", bool),
        "zero_mean": Field(True, "image observations: scale to [-1, 1] instead of [0, 1]", bool),
        "framestack": Field(1, "observations stacked along the last axis", int, min=1),
        "custom_model": Field(None, "a model registered with ModelCatalog.register_custom_model", str, nullable=True),
        "custom_model_config": Field({}, "keyword settings of the custom model (any keys)", dict),
        "custom_preprocessor": Field(
            None, "a preprocessor registered with ModelCatalog.register_custom_preprocessor", str, nullable=True
        ),
    },
    aliases=MODEL_ALIASES,
)

#: The values of ``batch_mode`` (RLlib 2018's names).
BATCH_MODES: tuple[str, ...] = ("truncate_episodes", "complete_episodes")

#: The largest ``seed`` (numpy's legacy and gymnasium's seeding range is 0 ... 2**32 - 1).
MAX_SEED = 2**32 - 1

#: The keys every algorithm's config has (the trainer, the workers and the rollout evaluator read them).
COMMON_SCHEMA = Schema(
    {
        "env": Field(
            None, "env id (gymnasium id or registered name), or the trainer's env argument", str, nullable=True
        ),
        "env_config": Field({}, "keyword arguments handed to the env creator (any keys, checked by the env)", dict),
        "framework": Field("torch", "deep-learning framework of the policy (a registered one)", str),
        "num_workers": Field(0, "remote evaluators (Ray actors); 0 = one process, no Ray", int, min=0),
        "num_envs_per_worker": Field(1, "vectorized envs per evaluator", int, min=1),
        "num_cpus_per_worker": Field(1, "CPUs reserved per remote evaluator (Ray resources)", float, min=0),
        "num_gpus_per_worker": Field(0, "GPUs reserved per remote evaluator (Ray resources)", float, min=0),
        "num_cpus_for_driver": Field(
            1, "CPUs a Ray Tune trial reserves for its trainer (the driver of its remote evaluators)", float, min=0
        ),
        "rollout_fragment_length": Field(200, "env steps per env per sample() call", int, min=1),
        "batch_mode": Field(
            "truncate_episodes",
            "truncate_episodes: each sample() is rollout_fragment_length steps per env, episodes cut there "
            "(bootstrapped); complete_episodes: whole episodes only, at least rollout_fragment_length x "
            "num_envs_per_worker rows, more to finish the episodes running (RLlib 2018's batch_mode)",
            str,
            choices=BATCH_MODES,
        ),
        "horizon": Field(
            None,
            "end an episode after this many steps as truncated (bootstrapped like a time limit) and reset "
            "its env; None: the env's own episode ends only (RLlib 2018's horizon, which did not bootstrap)",
            int,
            min=1,
            nullable=True,
        ),
        "clip_rewards": Field(
            None,
            "True: train on the sign of each reward (-1, 0, 1); episode metrics keep the env's rewards. "
            "None/False: no clipping (RLlib 2018 defaulted to True, for Atari)",
            bool,
            nullable=True,
        ),
        "train_batch_size": Field(4000, "rows per training step (summed over workers)", int, min=1),
        "gamma": Field(0.99, "discount factor", float, min=0, max=1),
        "model": Field(
            {}, "model catalog config (fcnet_hiddens, conv_filters, framestack...)", dict, schema=MODEL_SCHEMA
        ),
        "observation_filter": Field("NoFilter", "observation filter", str, choices=("NoFilter", "MeanStdFilter")),
        "clip_actions": Field(True, "clip continuous actions to the action space's bounds", bool),
        "seed": Field(
            None, "seed of weights, envs and sampling (None: unseeded)", int, min=0, max=MAX_SEED, nullable=True
        ),
        "metrics_smoothing_episodes": Field(
            100,
            "episode_reward_mean/min/max, episode_len_mean: this iteration's episodes, topped up with the "
            "latest earlier ones to at least this many (RLlib's collect_metrics min_history)",
            int,
            min=1,
        ),
        "recreate_failed_workers": Field(True, "recreate a dead remote evaluator and go on", bool),
        "max_worker_restarts": Field(
            3, "restarts in a row of one dead worker (backoff between them) before WorkerCrashedError", int, min=0
        ),
        "ray_address": Field(None, "address of a Ray cluster to join (None: a local Ray)", str, nullable=True),
    },
    aliases=COMMON_ALIASES,
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
                check=functools.partial(schedule_points, min_value=0),
                what="a list of [timestep, lr] pairs (timesteps ints >= 0, non-decreasing; lr >= 0)",
            ),
            "adam_epsilon": Field(adam_epsilon, "Adam's epsilon", float, min=0, min_exclusive=True),
            "num_cpu_threads": Field(
                1,
                "intra-op threads of the framework (torch; TensorFlow when set before its first op in the "
                "process, with 1 inter-op thread); 0: its default",
                int,
                min=0,
            ),
            "numpy_inference": Field(True, "act through the numpy mirror of the catalog model", bool),
        }
    )


# -- what depends on the machine, not on the value ----------------------------------------------

#: How to install Ray from a checkout (rlcore is not on a package index).
RAY_INSTALL_HINT = "from the root of an rlcore checkout: pip install -c constraints.txt './core[ray]'"


def visible_gpus() -> tuple[int, str]:
    """How many NVIDIA GPUs this process can use, and how that was found, without importing a framework.

    The device files ``/dev/nvidia0``, ``/dev/nvidia1``... count the GPUs of the machine (or of
    the container); ``CUDA_VISIBLE_DEVICES``, when set, narrows them (``""`` or ``-1``: none), as
    CUDA does: its list is read up to the first entry that is not a device index or UUID.
    """
    try:
        physical = sum(1 for name in os.listdir("/dev") if re.fullmatch(r"nvidia\d+", name))
    except OSError:
        physical = 0
    how = f"{physical} NVIDIA device file(s) /dev/nvidiaN"
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    if mask is None:
        return physical, how
    listed = 0
    for entry in mask.split(","):
        entry = entry.strip()
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        listed += 1
    return min(listed, physical), f"{how}, CUDA_VISIBLE_DEVICES={mask!r}"


def check_host(config: Mapping[str, Any], *, owner: str = "") -> None:
    """Refuse what this machine cannot run, before anything is built: ``num_gpus`` above the GPUs
    visible here (:func:`visible_gpus`) and ``num_workers > 0`` without Ray installed.

    Raises :class:`ConfigValueError`. Not for Ray Tune's driver: there a trial's GPUs are the
    cluster's (Tune's resource check), and the trainer inside the trial checks its own machine.
    """
    who = f"{owner} " if owner else ""
    gpus = config.get("num_gpus")
    if isinstance(gpus, numbers.Real) and float(gpus) > 0:
        count, how = visible_gpus()
        if float(gpus) > count:
            raise ConfigValueError(
                f"{who}config key 'num_gpus' asks for more GPUs than this machine has: got {gpus!r}; "
                f"allowed: 0 <= num_gpus <= {count} ({count} visible: {how}). "
                f"Set num_gpus to {'0 (train on the CPU)' if count == 0 else f'{count} or less'}.",
                ("num_gpus",),
            )
    workers = config.get("num_workers")
    if isinstance(workers, numbers.Integral) and int(workers) > 0:
        require_ray(f"{who}config key 'num_workers' is {workers}: remote workers")
        per_worker = config.get("num_gpus_per_worker")
        if isinstance(per_worker, numbers.Real) and float(per_worker) > 0:
            _check_worker_gpus(int(workers), float(per_worker), config, who)


def _check_worker_gpus(workers: int, per_worker: float, config: Mapping[str, Any], who: str) -> None:
    """Refuse remote workers asking for more GPUs than they can get: the GPUs of the Ray this
    process already started or joined, else (a local Ray to start) this machine's. A cluster yet
    to join (``ray_address`` or ``$RAY_ADDRESS``) is left to Ray, which places the workers there."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        count = float(ray.cluster_resources().get("GPU", 0))
        where = f"the Ray this process started or joined has {count:g}"
    elif config.get("ray_address") or os.environ.get("RAY_ADDRESS"):
        return
    else:
        visible, how = visible_gpus()
        count, where = float(visible), f"this machine has {visible} visible: {how}"
    if per_worker * workers > count:
        raise ConfigValueError(
            f"{who}config keys 'num_workers' {workers} x 'num_gpus_per_worker' {per_worker:g} ask for more GPUs "
            f"than they can get ({where}); the workers would wait for them forever. "
            "Set num_gpus_per_worker to 0, or join a cluster with GPUs (ray_address).",
            ("num_gpus_per_worker",),
        )


def require_ray(what: str) -> None:
    """Raise :class:`~rlcore.errors.ConfigError` saying how to install Ray when it is not installed
    (``what`` needs it: ``"rlcore train -f"``); imports nothing."""
    import importlib.util

    try:
        missing = importlib.util.find_spec("ray") is None
    except (ImportError, ValueError):  # ValueError: sys.modules["ray"] is None (import blocked)
        missing = True
    if missing:
        raise ConfigError(f"{what} need Ray, which is not installed; {RAY_INSTALL_HINT}")


__all__ = [
    "ACTIVATIONS",
    "COMMON_SCHEMA",
    "MAX_SEED",
    "MODEL_SCHEMA",
    "RAY_INSTALL_HINT",
    "ConfigValueError",
    "Field",
    "Schema",
    "check_host",
    "conv_filter_list",
    "model_policy_schema",
    "positive_int_list",
    "require_ray",
    "schedule_points",
    "visible_gpus",
]
