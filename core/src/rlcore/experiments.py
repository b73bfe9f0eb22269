"""Experiment files: RLlib's tuned-example YAML, read, checked and expanded (no Ray needed).

A file maps experiment names to specs::

    cartpole-ppo:
      env: CartPole-v1            # or config.env
      run: PPO
      stop: {episode_reward_mean: 475, timesteps_total: 300000}
      checkpoint_freq: 10
      config:
        lr: {grid_search: [0.001, 0.0005]}

:func:`load_experiments` checks everything it can before Ray starts (keys, stop criteria,
``grid_search`` values, the algorithm and env names, every config key and value of every grid
point, validated against the algorithm's schema as the trainer will) and
reports errors as ``file:line: ...``. :mod:`rlcore.tune` runs the specs through Ray Tune.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcore.errors import ConfigError, did_you_mean

#: Keys an experiment may have (RLlib's tuned-example keys that rlcore supports).
EXPERIMENT_KEYS: tuple[str, ...] = (
    "env",
    "run",
    "stop",
    "config",
    "checkpoint_freq",
    "checkpoint_at_end",
    "keep_checkpoints_num",
    "num_samples",
    "local_dir",
    "restore",
    "max_failures",
    "resources_per_trial",
)

#: RLlib 2018's Tune experiment keys that mean what today's key means: accepted under their old
#: name, translated with one :class:`~rlcore.config_aliases.RLlib2018Warning` line (Tune 2018's
#: ``config_parser``/``Experiment``).
TUNE_2018_KEYS: dict[str, str] = {
    "repeat": "num_samples",
    "trial_resources": "resources_per_trial",
}

#: RLlib 2018's Tune experiment keys whose feature rlcore does not have: an error saying so.
TUNE_2018_UNSUPPORTED: dict[str, str] = {
    "upload_dir": "syncing results to a URI (s3://...): rlcore writes them under local_dir only; copy that folder "
    "yourself",
    "sync_function": "a command syncing results to upload_dir: rlcore has no upload",
    "custom_loggers": "Python logger classes: rlcore's loggers are plugins (the rlcore_on_train_result hook)",
    "loggers": "Python logger classes: rlcore's loggers are plugins (the rlcore_on_train_result hook)",
    "scheduler": "trial schedulers (HyperBand, MedianStopping...): rlcore runs every trial to its stop criteria",
    "scheduler_config": "trial schedulers: rlcore runs every trial to its stop criteria",
    "trial_name_creator": "a Python function naming trials: rlcore names trials as Tune does",
    "export_formats": "exporting TF models: rlcore checkpoints are its own (checkpoint_freq, checkpoint_at_end)",
}


_KeyPath = tuple[str | int, ...]


@dataclass
class ExperimentSpec:
    """One experiment of a file: what to run, on which env, with which config and stop criteria."""

    name: str
    run: str
    env: str
    #: The algorithm config, ``env`` included; may hold ``{"grid_search": [...]}`` values.
    config: dict[str, Any] = field(default_factory=dict)
    #: Stop criteria (``rlcore.results.STOP_KEYS``); empty means run until interrupted.
    stop: dict[str, float] = field(default_factory=dict)
    checkpoint_freq: int = 0
    checkpoint_at_end: bool = False
    keep_checkpoints_num: int | None = None
    num_samples: int = 1
    local_dir: str | None = None
    #: A checkpoint (folder) every trial restores before training.
    restore: str | None = None
    max_failures: int = 0
    #: ``resources_per_trial`` (or 2018's ``trial_resources``): ``cpu``, ``gpu``, ``extra_cpu``,
    #: ``extra_gpu``; None: the config decides (:func:`rlcore.tune.trial_bundles`).
    resources: dict[str, float] | None = None
    #: The key ``resources`` was given under (for messages).
    resources_key: str = "resources_per_trial"
    #: The file and line the experiment was read from (for messages).
    source: str = ""
    line: int = 0

    @property
    def variants(self) -> list[dict[str, Any]]:
        """The configs of the grid (``grid_search`` values expanded), in Tune's trial order."""
        return expand_grid(self.config)

    @property
    def num_trials(self) -> int:
        """How many trials Tune will run: grid points x ``num_samples``."""
        return len(self.variants) * self.num_samples


# -- grid_search ---------------------------------------------------------------


def _dotted(path: _KeyPath) -> str:
    return ".".join(str(p) for p in path) or "<config>"


class _GridError(ConfigError):
    """A malformed ``grid_search``; ``path`` locates it in the config."""

    def __init__(self, message: str, path: _KeyPath) -> None:
        super().__init__(message)
        self.path = path


def _find_grids(value: Any, path: _KeyPath = ()) -> list[tuple[_KeyPath, list[Any]]]:
    if isinstance(value, Mapping):
        if "grid_search" in value:
            values = value["grid_search"]
            if len(value) != 1:
                extra = ", ".join(repr(k) for k in value if k != "grid_search")
                raise _GridError(
                    f"{_dotted(path)}: a grid_search mapping must have no other keys (found {extra}); "
                    "write `key: {grid_search: [a, b]}`",
                    path,
                )
            if not isinstance(values, list | tuple) or not values:
                raise _GridError(
                    f"{_dotted(path)}: grid_search needs a non-empty list of values, got {values!r}; "
                    "write `key: {grid_search: [a, b]}`",
                    path,
                )
            return [(path, list(values))]
        out: list[tuple[_KeyPath, list[Any]]] = []
        for key, item in value.items():
            out += _find_grids(item, (*path, key))
        return out
    if isinstance(value, list | tuple):
        return [g for i, item in enumerate(value) for g in _find_grids(item, (*path, i))]
    return []


def _set(target: Any, path: _KeyPath, value: Any) -> None:
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def expand_grid(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every config of the grid: the cartesian product of all ``{"grid_search": [...]}`` values.

    Grids are found depth-first in key order; the last one varies fastest. A config without
    ``grid_search`` gives a one-element list (a deep copy). Raises :class:`ConfigError` for an
    empty or malformed ``grid_search`` (or one nested inside another's values).
    """
    grids = _find_grids(config)
    out = []
    for combo in itertools.product(*(values for _, values in grids)):
        variant = copy.deepcopy(dict(config))
        for (path, _), value in zip(grids, combo, strict=True):
            if _find_grids(value):
                raise _GridError(f"{_dotted(path)}: grid_search values may not contain another grid_search", path)
            _set(variant, path, copy.deepcopy(value))
        out.append(variant)
    return out


# -- YAML with line numbers -----------------------------------------------------


def _yaml_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that also reads ``5e-4`` (no dot) as a float, as YAML 1.2 and JSON do."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return Loader


#: The most values an experiment file may hold once its aliases are expanded (a tuned example
#: holds a few hundred); more is refused before anything walks the document ("billion laughs").
MAX_YAML_VALUES = 100_000
#: The deepest nesting an experiment file may have (name, config, model, ...: a few levels).
MAX_YAML_NESTING = 64


def _key_lines(
    node: Any, path: _KeyPath, lines: dict[_KeyPath, int], where: str, seen: frozenset[int], count: list[int]
) -> None:
    """Record the 1-based line of every mapping key under ``node``; reject duplicate keys, and a
    document of more than :data:`MAX_YAML_VALUES` values with its aliases expanded (``count``:
    the values walked so far)."""
    import yaml

    if id(node) in seen:  # a recursive alias
        return
    count[0] += 1
    if len(path) > MAX_YAML_NESTING:
        raise ConfigError(
            f"{where}:{node.start_mark.line + 1}: the YAML nests more than {MAX_YAML_NESTING} levels deep; "
            "an experiment file is a few levels of mappings"
        )
    if count[0] > MAX_YAML_VALUES:
        raise ConfigError(
            f"{where}:{node.start_mark.line + 1}: the file holds more than {MAX_YAML_VALUES} values once its "
            "aliases (*name) are expanded (aliases of aliases multiply); write the values out instead"
        )
    seen = seen | {id(node)}
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in first:
                raise ConfigError(
                    f"{where}:{line}: duplicate key {key!r} under {_dotted(path)!r} (first at line {first[key]}); "
                    "remove one of them"
                )
            first[key] = line
            lines[(*path, key)] = line
            _key_lines(value_node, (*path, key), lines, where, seen, count)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*path, i), item.start_mark.line + 1)
            _key_lines(item, (*path, i), lines, where, seen, count)


def _read_yaml(path: Path) -> tuple[Any, dict[_KeyPath, int]]:
    """The document in ``path`` and the line of each mapping key (by key path)."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"experiment file {str(path)!r} not found; check the path given to -f") from None
    except OSError as exc:
        raise ConfigError(f"cannot read experiment file {str(path)!r}: {exc.strerror or exc}") from None
    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        lines: dict[_KeyPath, int] = {}
        if node is not None:
            _key_lines(node, (), lines, str(path), frozenset(), [0])
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(
            f"{where}: malformed YAML: {what}. Check the indentation and that each key is followed by ': '."
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    except ConfigError:  # a duplicate key, an alias bomb, too deep: already says so
        raise
    except ValueError as exc:  # a scalar Python cannot convert (an int of over 4300 digits)
        raise ConfigError(f"{path}: a value cannot be read: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: the YAML is nested too deeply to read (brackets or indentation thousands of levels deep); "
            "an experiment file is a few levels of mappings"
        ) from None
    finally:
        loader.dispose()
    return data, lines


# -- loading and checking ----------------------------------------------------------


class _Context:
    """Formats ``file:line: experiment 'name': message`` for one experiment."""

    def __init__(self, path: Path, name: str, lines: dict[_KeyPath, int]) -> None:
        self.path, self.name, self.lines = path, name, lines

    def line(self, *keys: str | int) -> int:
        """The line of the deepest key of ``keys`` that the file has (the experiment's line at worst)."""
        full: _KeyPath = (self.name, *keys)
        while full:
            if full in self.lines:
                return self.lines[full]
            full = full[:-1]
        return 0

    def error(self, message: str, *keys: str | int) -> ConfigError:
        """A ConfigError located at ``keys`` inside this experiment."""
        line = self.line(*keys)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{where}: experiment {self.name!r}: {message}")


def _int(ctx: _Context, key: str, value: Any, minimum: int, old: str | None = None) -> int:
    """``value`` of ``key`` (given under its RLlib 2018 name ``old``, if not None), an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ctx.error(f"{_named(key, old)} needs an integer >= {minimum}, got {value!r}", old or key)
    return value


def _named(key: str, old: str | None) -> str:
    """How a message names ``key``: with its RLlib 2018 name ``old`` when it was given under it."""
    return f"{old} (RLlib 2018's name of {key})" if old else key


def _first_unknown(defaults: Mapping[str, Any], overrides: Mapping[str, Any], path: _KeyPath = ()) -> _KeyPath | None:
    """The path of the first key that :func:`rlcore.config.merge_config` rejects (same rules)."""
    for key, value in overrides.items():
        if key not in defaults:
            return (*path, key)
        default = defaults[key]
        if isinstance(default, Mapping) and default and isinstance(value, Mapping):
            found = _first_unknown(default, value, (*path, key))
            if found:
                return found
    return None


def _check_config(ctx: _Context, run: str, variants: list[dict[str, Any]]) -> None:
    """Fail on unknown algorithm or env names and on config keys or values the algorithm does not
    accept (every grid point's merged config validated against the algorithm's schema)."""
    from rlcore.config import merge_config
    from rlcore.config_schema import COMMON_SCHEMA, ConfigValueError
    from rlcore.envs import get_env_creator
    from rlcore.errors import RLCoreError
    from rlcore.registration import get_algorithm_class

    try:
        trainer_cls = get_algorithm_class(run)
    except RLCoreError as exc:
        raise ctx.error(str(exc), "run") from None
    defaults = getattr(trainer_cls, "default_config", None)
    schema = getattr(trainer_cls, "config_schema", None) or COMMON_SCHEMA
    owner = getattr(trainer_cls, "name", run)
    frameworks: set[Any] = set()
    preflighted: set[str] = set()
    for i, variant in enumerate(variants):
        point = f"grid point {i + 1} of {len(variants)}: " if len(variants) > 1 else ""
        if isinstance(defaults, Mapping):
            try:
                merged = merge_config(defaults, variant)
            except ConfigError as exc:
                where = _first_unknown(defaults, variant) or ()
                raise ctx.error(f"{point}{exc}", "config", *where) from None
            try:  # every value typed and ranged, as the trainer will (its machine checks are its own)
                schema.validate(merged, owner=owner)
            except ConfigValueError as exc:
                raise ctx.error(f"{point}{exc}", "config", *exc.path) from None
            frameworks.add(merged.get("framework"))
            _preflight(ctx, trainer_cls, merged, point, preflighted)
            model = merged.get("model")
            if isinstance(model, Mapping) and bool(model.get("use_lstm")):  # validated: True or False
                _check_recurrent(ctx, getattr(trainer_cls, "policy_algorithm", run), merged.get("framework"), point)
    _check_frameworks(ctx, run, frameworks)
    envs = {v.get("env") for v in variants}
    for env in sorted(e for e in envs if isinstance(e, str)):
        try:
            get_env_creator(env)
        except RLCoreError as exc:
            keys = ("env",) if (ctx.name, "env") in ctx.lines else ("config", "env")
            raise ctx.error(str(exc), *keys) from None


def _translate_2018(ctx: _Context, run: str, config: dict[str, Any], check_names: bool) -> dict[str, Any]:
    """The experiment's config with its RLlib 2018 key names under today's (grid_search values
    translated one by one), so that Tune and the trials get today's names; an error points at the
    2018 key's line. The algorithm's aliases need its class: without ``check_names`` an unknown
    algorithm gets the common ones (its trainer translates the rest)."""
    from rlcore.config_aliases import translate_for_algorithm
    from rlcore.config_schema import ConfigValueError
    from rlcore.errors import RLCoreError
    from rlcore.registration import get_algorithm_class

    if check_names:
        try:
            get_algorithm_class(run)
        except RLCoreError as exc:
            raise ctx.error(str(exc), "run") from None
    try:
        return translate_for_algorithm(run, config)
    except ConfigValueError as exc:
        raise ctx.error(str(exc), "config", *exc.path) from None


def _preflight(ctx: _Context, trainer_cls: Any, merged: Mapping[str, Any], point: str, done: set[str]) -> None:
    """Run the algorithm's own ``preflight(config)`` classmethod (checks that need the env, such as
    APEX's Discrete action space, ES's noise_size against the parameter count), once per distinct
    merged config (a grid point's noise_size or model is checked too), before Ray starts: a trial
    would fail with the same error."""
    import json

    from rlcore.errors import RLCoreError

    preflight = getattr(trainer_cls, "preflight", None)
    if not callable(preflight):
        return
    key = json.dumps(merged, sort_keys=True, default=repr)
    if key in done:
        return
    done.add(key)
    try:
        preflight(merged)
    except RLCoreError as exc:
        keys = ("env",) if (ctx.name, "env") in ctx.lines else ("config", "env")
        raise ctx.error(f"{point}{exc}", *keys) from None


def _check_frameworks(ctx: _Context, run: str, frameworks: set[Any]) -> None:
    """Fail on a ``framework`` that has no policy or evaluator for ``run`` (when ``run`` has any:
    an algorithm registered without them is left to its trainer). Nothing is imported."""
    from rlcore.errors import RLCoreError
    from rlcore.plugins import get_registry

    registry = get_registry()
    registry.load()
    pairs = {key for kind in ("evaluator", "policy") for key in registry.specs[kind] if key.startswith(f"{run}/")}
    if not pairs:
        return
    for framework in sorted(f for f in frameworks if isinstance(f, str)):
        if f"{run}/{framework}" not in pairs:
            try:
                registry.get("policy", run, framework)
            except RLCoreError as exc:
                raise ctx.error(f"framework {framework!r}: {exc}", "config", "framework") from None


def _check_recurrent(ctx: _Context, algorithm: str, framework: Any, point: str) -> None:
    """Fail on ``model.use_lstm`` for a policy (or whole evaluator) whose registration declares
    capabilities without ``"recurrent"``, before Ray starts (the trainer would refuse it in its
    trial). Nothing is imported; one registered without capabilities is left to its trainer."""
    from rlcore.model_policy import recurrent_unsupported_message
    from rlcore.plugins import get_registry

    registry = get_registry()
    registry.load()
    for kind in ("evaluator", "policy"):
        spec = registry.specs[kind].get(f"{algorithm}/{framework}")
        if spec is None:
            continue
        if spec.capabilities and "recurrent" not in spec.capabilities:
            target = spec.target if isinstance(spec.target, str) else getattr(spec.target, "__qualname__", "")
            owner = target.replace(":", ".")
            if kind == "evaluator":
                owner += f" (whole evaluator {algorithm}/{framework})"
            message = recurrent_unsupported_message(owner, spec.capabilities)
            raise ctx.error(f"{point}{message}", "config", "model", "use_lstm")
        return


def _translate_2018_keys(ctx: _Context, body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``body`` with RLlib 2018's Tune keys (:data:`TUNE_2018_KEYS`) under today's names (one
    :class:`~rlcore.config_aliases.RLlib2018Warning` line each), and today's name -> the 2018
    name of each key given under its 2018 name. Raises :class:`ConfigError` when both names are
    given with different values."""

    from rlcore.config_aliases import warn_2018

    out = dict(body)
    given_as: dict[str, str] = {}
    for old, new in TUNE_2018_KEYS.items():
        if old not in out:
            continue
        value = out.pop(old)
        if new in out and out[new] != value:
            raise ctx.error(
                f"{old!r} (RLlib 2018's name of {new!r}) is {value!r} but {new!r} is {out[new]!r}; give one of them",
                old,
            )
        out[new] = value
        given_as[new] = old
        where = f"{ctx.path}:{ctx.line(old)}" if ctx.line(old) else str(ctx.path)
        warn_2018(f"RLlib 2018 experiment key {old!r} is now {new!r} (translated; {where}, experiment {ctx.name!r})")
    return out, given_as


def _resources(ctx: _Context, value: Any, old: str | None) -> dict[str, float] | None:
    """``resources_per_trial`` (given under its 2018 name ``old``, if not None) checked: a mapping
    of :data:`rlcore.tune.RESOURCE_FIELDS` to numbers >= 0."""
    from rlcore.tune import RESOURCE_FIELDS

    where, key = old or "resources_per_trial", _named("resources_per_trial", old)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ctx.error(f"{key} needs a mapping such as {{cpu: 1, extra_cpu: 2}}, got {value!r}", where)
    out: dict[str, float] = {}
    for field_name, amount in value.items():
        if field_name in ("driver_cpu_limit", "driver_gpu_limit"):
            raise ctx.error(
                f"{key}: field {field_name!r} was dropped by Tune in 2018; give extra_cpu / extra_gpu instead "
                f"(allowed fields: {', '.join(RESOURCE_FIELDS)})",
                where,
                str(field_name),
            )
        if field_name not in RESOURCE_FIELDS:
            raise ctx.error(
                f"{key}: unknown field {field_name!r}.{did_you_mean(str(field_name), RESOURCE_FIELDS)} "
                f"Allowed fields: {', '.join(RESOURCE_FIELDS)}.",
                where,
                str(field_name),
            )
        ok = isinstance(amount, int | float) and not isinstance(amount, bool) and math.isfinite(amount)
        if not ok or amount < 0:
            raise ctx.error(
                f"{key}: {field_name} needs a number >= 0 (CPUs or GPUs), got {amount!r}", where, str(field_name)
            )
        out[str(field_name)] = float(amount)
    return out


def _check_resources_cover(ctx: _Context, spec: ExperimentSpec, variants: list[dict[str, Any]]) -> None:
    """Fail when ``resources_per_trial`` gives a trial less than its config asks for (any grid point)."""
    from rlcore.tune import trial_bundles

    if spec.resources is None:
        return
    for i, variant in enumerate(variants):
        point = f"grid point {i + 1} of {len(variants)}: " if len(variants) > 1 else ""
        try:
            key = _named(
                "resources_per_trial", spec.resources_key if spec.resources_key != "resources_per_trial" else None
            )
            trial_bundles(spec.run, variant, spec.resources, key=key)
        except ConfigError as exc:
            raise ctx.error(f"{point}{exc}", spec.resources_key) from None


def _config_key_at_top(ctx: _Context, run: Any, key: Any) -> None:
    """Refuse an algorithm config key (today's or its RLlib 2018 name) given beside ``config:``
    instead of inside it, saying so (the algorithm ``run``'s schema, else the common one)."""
    import contextlib

    from rlcore.config_schema import COMMON_SCHEMA
    from rlcore.errors import RLCoreError
    from rlcore.registration import get_algorithm_class

    schema = COMMON_SCHEMA
    if isinstance(run, str):
        with contextlib.suppress(RLCoreError):  # an unknown algorithm is refused later, at `run:`
            schema = getattr(get_algorithm_class(run), "config_schema", None) or COMMON_SCHEMA
    if key not in schema.fields and key not in schema.aliases:
        return
    alias = schema.aliases.get(key) if key not in schema.fields else None
    named = ""
    if alias is not None:
        if alias.new:
            named = f" (RLlib 2018 name of {alias.new!r})"
        elif alias.expand is not None:
            named = " (of RLlib 2018: its settings are today's keys)"
        else:
            named = " (of RLlib 2018, without a counterpart here)"
    raise ctx.error(
        f"{key!r} is an algorithm config key{named}, not an experiment key: put it under `config:` "
        f"(config: {{{key}: ...}})",
        str(key),
    )


def _parse_experiment(
    path: Path, name: str, body: Any, lines: dict[_KeyPath, int], check_names: bool
) -> ExperimentSpec:
    from rlcore.results import STOP_KEYS, check_stop

    ctx = _Context(path, name, lines)
    if not isinstance(body, Mapping):
        raise ctx.error(
            f"expected a mapping of experiment keys (run, env, stop, config, ...), got {type(body).__name__}: {body!r}"
        )
    body, given_as = _translate_2018_keys(ctx, body)
    for key in body:
        if key in TUNE_2018_UNSUPPORTED:
            raise ctx.error(
                f"{key!r} (an RLlib 2018 Tune key: {TUNE_2018_UNSUPPORTED[key]}) has no counterpart in rlcore; "
                "remove it",
                str(key),
            )
        if key not in EXPERIMENT_KEYS:
            _config_key_at_top(ctx, body.get("run"), key)
            raise ctx.error(
                f"unknown key {key!r}.{did_you_mean(str(key), EXPERIMENT_KEYS)} "
                f"Valid keys: {', '.join(EXPERIMENT_KEYS)}.",
                str(key),
            )
    config = body.get("config") or {}
    if not isinstance(config, Mapping):
        raise ctx.error(f"config needs a mapping of algorithm settings, got {config!r}", "config")
    config = copy.deepcopy(dict(config))
    run = body.get("run")
    if not run:
        raise ctx.error("missing `run:` (the algorithm, e.g. `run: PPO`; `rlcore list-plugins` lists them)")
    if not isinstance(run, str):
        raise ctx.error(f"run needs an algorithm name such as PPO, got {run!r}", "run")
    config = _translate_2018(ctx, run, config, check_names)
    env, config_env = body.get("env"), config.get("env")
    if env is not None and config_env is not None and env != config_env:
        raise ctx.error(f"env is {env!r} but config.env is {config_env!r}; give it once", "env")
    env = env if env is not None else config_env
    if not env:
        raise ctx.error("missing `env:` (a gymnasium id or an env registered with rlcore, e.g. `env: CartPole-v1`)")
    if not isinstance(env, str):
        raise ctx.error(f"env needs an env name such as CartPole-v1, got {env!r}", "env")
    restore = body.get("restore")
    if restore is not None:
        if not isinstance(restore, str):
            raise ctx.error(f"restore needs a checkpoint path, got {restore!r}", "restore")
        from rlcore.errors import CheckpointError
        from rlcore.run import resolve_restore

        try:  # the checkpoint's own config (its model...) under this file's
            _, _, config = resolve_restore(restore, run, env, config, check_algorithm=check_names)
        except CheckpointError as exc:
            raise ctx.error(f"restore: {exc}", "restore") from None
    config["env"] = env
    try:
        variants = expand_grid(config)
    except _GridError as exc:
        raise ctx.error(str(exc), "config", *exc.path) from None

    stop = body.get("stop") or {}
    if not isinstance(stop, Mapping):
        raise ctx.error(f"stop needs a mapping such as {{timesteps_total: 100000}}, got {stop!r}", "stop")
    try:
        stop = check_stop(stop)
    except ConfigError as exc:
        valid = dict.fromkeys(k for k in STOP_KEYS if isinstance(stop.get(k), int | float))
        bad = next((str(k) for k in stop if k not in valid), None)
        raise ctx.error(str(exc), "stop", *([bad] if bad is not None else [])) from None

    checkpoint_at_end = body.get("checkpoint_at_end", False)
    if not isinstance(checkpoint_at_end, bool):
        raise ctx.error(f"checkpoint_at_end needs true or false, got {checkpoint_at_end!r}", "checkpoint_at_end")
    keep = body.get("keep_checkpoints_num")
    local_dir = body.get("local_dir")
    if local_dir is not None and not isinstance(local_dir, str):
        raise ctx.error(f"local_dir needs a path, got {local_dir!r}", "local_dir")
    if local_dir:
        from rlcore.run import check_results_root

        try:
            check_results_root(local_dir)
        except ConfigError as exc:
            raise ctx.error(str(exc), "local_dir") from None

    spec = ExperimentSpec(
        name=name,
        run=run,
        env=env,
        config=config,
        stop=stop,
        checkpoint_freq=_int(ctx, "checkpoint_freq", body.get("checkpoint_freq", 0), 0),
        checkpoint_at_end=checkpoint_at_end,
        keep_checkpoints_num=None if keep is None else _int(ctx, "keep_checkpoints_num", keep, 1),
        num_samples=_int(ctx, "num_samples", body.get("num_samples", 1), 1, given_as.get("num_samples")),
        local_dir=str(Path(local_dir).expanduser().absolute()) if local_dir else None,
        restore=str(Path(restore).expanduser().absolute()) if restore else None,
        max_failures=_int(ctx, "max_failures", body.get("max_failures", 0), -1),
        resources=_resources(ctx, body.get("resources_per_trial"), given_as.get("resources_per_trial")),
        resources_key=given_as.get("resources_per_trial", "resources_per_trial"),
        source=str(path),
        line=ctx.line(),
    )
    if check_names:
        _check_config(ctx, run, variants)
        _check_resources_cover(ctx, spec, variants)
    return spec


def load_experiments(path: str | os.PathLike[str], *, check_names: bool = True) -> dict[str, ExperimentSpec]:
    """Read an experiments YAML file (RLlib's tuned-example format) into specs, by name, in file order.

    Raises :class:`~rlcore.errors.ConfigError` (``file:line: ...``) for a missing file, malformed
    YAML, unknown or mistyped keys, bad stop criteria or ``grid_search`` values. With
    ``check_names`` (the default) the algorithm and env names and every config key and value of
    every grid point are checked against the installed plugins and the algorithm's schema too
    (the ``model`` keys included, ``env_config`` left to the env), so typos and values out of range
    fail before Ray starts.
    """
    file = Path(path)
    data, lines = _read_yaml(file)
    if data is None:
        raise ConfigError(f"{file}: no experiments in the file; add `name: {{run: PPO, env: CartPole-v1, ...}}`")
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{file}:1: the top level must map experiment names to experiments "
            f"(`my-experiment: {{run: PPO, env: CartPole-v1}}`), got {type(data).__name__}"
        )
    specs: dict[str, ExperimentSpec] = {}
    for name, body in data.items():
        if not isinstance(name, str):
            raise ConfigError(f"{file}: experiment names must be strings, got {name!r}")
        specs[name] = _parse_experiment(file, name, body, lines, check_names)
    return specs
