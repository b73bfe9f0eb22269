"""Migrations of older checkpoint formats to the current one, applied in memory on read.

:func:`rlcore.checkpoint.read_checkpoint` returns every checkpoint in the current format
(:data:`rlcore.checkpoint.FORMAT_VERSION`): a checkpoint of format ``n`` goes through
``MIGRATIONS[n]``, ``MIGRATIONS[n + 1]``... Each step takes and returns ``(meta, state)``; the
state is the decoded tree (numpy arrays), or, for a metadata-only read
(:func:`~rlcore.checkpoint.read_checkpoint_meta`), the same tree with array descriptors in place
of the arrays: a step that moves or renames state entries works on both. The files on disk are
never rewritten; ``meta["written_format_version"]`` keeps the format they hold.

Format history:

- **1** (rlcore 0.1.0 and the 0.2.0 development line before the acting spec): counters,
  recent episodes, evaluator (weights with canonical names, filter, global vars, optimizer
  moments, DQN's target), optimizer and algorithm state.
- **2**: adds ``meta["policy"]``, the acting spec (spaces, model, filter: what acting with numpy
  alone needs besides the weights), or None with ``meta["policy_unavailable"]`` saying why. The
  state tree is rlcore 0.1.0's (diffed on the 0.1.0 fixtures against checkpoints of the current
  code: the same keys, canonical weight names, dtypes and shapes) but for one entry: rlcore 0.1.0's
  DQN evaluator computed epsilon itself from ``global_vars["timestep"]``, so its state has no
  ``global_vars["epsilon"]``, which today's Q policies act with (0 without it: a restored 0.1.0
  DQN explored with epsilon 0 until its first iteration). The migration fills it in from the
  config's exploration schedule at that timestep, as 0.1.0 computed it.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from rlcore.errors import CheckpointError

Migration = Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]

#: The algorithms of rlcore 0.1.0-0.2.0 whose policies output Q-values (``action_outputs == "q"``);
#: every other algorithm of those versions acts from an action distribution.
Q_ALGORITHMS = frozenset({"DQN", "APEX"})
#: Where the canonical weights of a catalog-model policy sit in the state (format 1 and 2).
WEIGHTS_PATH = ("evaluator", "weights")


#: How many (env, env_config) spaces :func:`_spaces_of` keeps (the most recently used).
SPACES_CACHE_SIZE = 8
_spaces_cache: OrderedDict[tuple[str, str], tuple[Any, tuple[Any, Any]]] = OrderedDict()
_spaces_lock = threading.Lock()


def _env_identity(env: str) -> Any:
    """What makes ``env`` here: its registered spec (replaced when the env is registered again),
    else gymnasium's spec of the id; None when neither knows it."""
    from rlcore.plugins import get_registry

    spec = get_registry().load().specs["env"].get(env)
    if spec is not None:
        return spec
    import gymnasium

    return gymnasium.registry.get(env)


def _spaces_of(env: str, env_config: Any) -> tuple[Any, Any]:
    """The raw observation and action spaces of ``env`` (made once with ``env_config``, then closed).

    Every read of a format-1 checkpoint migrates it, metadata-only reads too (a CLI header, a
    restore's config), so the spaces of the last few envs made are kept, per env name, canonical
    ``env_config`` and what makes the env (registering it again makes it anew); an env that could
    not be made is tried again at the next read.

    Raises:
        CheckpointError: the env cannot be made here (not registered, its package missing, its
            constructor raising), naming it and what to do.
    """
    import json

    from rlcore.envs import make_env

    config = dict(env_config) if isinstance(env_config, dict) else {}
    try:
        key: tuple[str, str] | None = (env, json.dumps(config, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError):  # not JSON (a checkpoint's config always is): not kept
        key = None
    identity = _env_identity(env) if key is not None else None
    if key is not None:
        with _spaces_lock:
            kept = _spaces_cache.get(key)
            if kept is not None and kept[0] is identity:
                _spaces_cache.move_to_end(key)
                return copy.deepcopy(kept[1])
    try:
        instance = make_env(env, config)
    except Exception as exc:  # noqa: BLE001 - any failure of a user's env constructor: recorded, not raised
        raise CheckpointError(
            f"its env {env!r} cannot be made here ({type(exc).__name__}: {str(exc)[:300]}), and the checkpoint "
            "format 1 it was written in does not record the observation and action spaces: register the env "
            "first (rlcore.register_env(name, creator), or import the package that registers it), then load "
            "the checkpoint again"
        ) from None
    try:
        spaces = (instance.observation_space, instance.action_space)
    finally:
        close = getattr(instance, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):  # a failing close() does not change the spaces
                close()
    if key is not None and identity is not None:
        with _spaces_lock:
            _spaces_cache[key] = (identity, copy.deepcopy(spaces))
            _spaces_cache.move_to_end(key)
            while len(_spaces_cache) > SPACES_CACHE_SIZE:
                _spaces_cache.popitem(last=False)
    return spaces


def acting_spec_from_format_1(meta: dict[str, Any]) -> dict[str, Any]:
    """The format-2 acting spec of a format-1 checkpoint's metadata (see :func:`migrate_1_to_2`).

    Raises:
        CheckpointError: the spec cannot be made (the env cannot be made here, a space type the
            codec does not record, a model config the catalog refuses), saying why.
    """
    from rlcore.errors import RLCoreError
    from rlcore.models import ModelCatalog
    from rlcore.results import jsonable
    from rlcore.space_codec import space_to_json

    raw = meta.get("config")
    config: dict[str, Any] = raw if isinstance(raw, dict) else {}
    observation_space, action_space = _spaces_of(str(meta["env"]), config.get("env_config"))
    try:
        model = ModelCatalog.resolve_model_config(config.get("model"))
        obs_shape = ModelCatalog.get_preprocessor(observation_space, model).shape
        model_kind = ModelCatalog.get_model_kind(tuple(int(d) for d in obs_shape), model)
    except (RLCoreError, TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"its model config {str(config.get('model'))[:200]} does not resolve in this rlcore "
            f"({type(exc).__name__}: {str(exc)[:300]})"
        ) from None
    q = str(meta["algorithm"]) in Q_ALGORITHMS
    return {
        "observation_space": space_to_json(observation_space, name="observation space"),
        "action_space": space_to_json(action_space, name="action space"),
        "policy_class": None,
        "framework": str(meta["framework"]),
        "action_outputs": "q" if q else "dist",
        "model": jsonable(model),
        "model_kind": model_kind,
        "q_head": (
            {"hiddens": [int(h) for h in config.get("hiddens", [])], "dueling": bool(config.get("dueling", False))}
            if q
            else None
        ),
        "observation_filter": str(config.get("observation_filter", "NoFilter")),
        "clip_actions": bool(config.get("clip_actions", True)),
        "weights": list(WEIGHTS_PATH),
    }


def epsilon_of_format_1(meta: dict[str, Any], global_vars: Any) -> float | None:
    """The epsilon a format-1 Q evaluator acted with: linear from ``exploration_initial_eps`` to
    ``exploration_final_eps`` over ``max(1, exploration_timesteps)`` steps, at ``global_vars["timestep"]``
    (rlcore 0.1.0's ``QSamplingEvaluator``). None when ``global_vars`` already records an epsilon, or
    lacks the timestep, or the config lacks the schedule."""
    import math

    from rlcore.schedules import PiecewiseSchedule

    if not isinstance(global_vars, dict) or "epsilon" in global_vars:
        return None
    timestep: Any = global_vars.get("timestep")
    config = meta.get("config")
    keys = ("exploration_initial_eps", "exploration_final_eps", "exploration_timesteps")
    if not isinstance(config, dict) or not all(_number(config.get(k)) for k in keys) or not _number(timestep):
        return None
    points = [(0, config[keys[0]]), (max(1, config[keys[2]]), config[keys[1]])]
    value = PiecewiseSchedule(points).value(float(timestep))
    return value if math.isfinite(value) else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def migrate_1_to_2(meta: dict[str, Any], state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Format 1 -> 2: fill ``meta["policy"]``, the acting spec, from what format 1 records.

    The spaces come from making the env once (``meta["env"]`` with the config's ``env_config``,
    closed again); ``action_outputs`` is ``"q"`` for DQN and APEX (the only Q-value algorithms of
    rlcore 0.1.0-0.2.0), else ``"dist"``; the Q head from the config's ``hiddens``/``dueling``; the
    model from the config's ``model`` over the catalog defaults; ``observation_filter`` and
    ``clip_actions`` from the config (NoFilter / True when absent); ``policy_class`` is unknown
    (None). A state whose evaluator holds no weights dict (a whole evaluator), an env that cannot be
    made here or a space the codec does not record leave ``meta["policy"]`` None and
    ``meta["policy_unavailable"]`` saying why: a restore through a Trainer never needs it.

    For a Q algorithm whose evaluator state records ``global_vars["timestep"]`` but no
    ``"epsilon"`` (rlcore 0.1.0's DQN), the epsilon of that timestep is filled in
    (:func:`epsilon_of_format_1`). The state is otherwise unchanged.
    """
    meta = dict(meta)
    evaluator = state.get("evaluator") if isinstance(state, dict) else None
    if str(meta.get("algorithm")) in Q_ALGORITHMS and isinstance(evaluator, dict):
        epsilon = epsilon_of_format_1(meta, evaluator.get("global_vars"))
        if epsilon is not None:
            global_vars = {**evaluator["global_vars"], "epsilon": epsilon}
            evaluator = {**evaluator, "global_vars": global_vars}
            state = {**state, "evaluator": evaluator}
    if not (isinstance(evaluator, dict) and isinstance(evaluator.get("weights"), dict)):
        meta["policy"] = None
        meta["policy_unavailable"] = (
            f"its evaluator state holds no weights dict at {'.'.join(WEIGHTS_PATH)} (a whole evaluator of "
            f"{meta.get('algorithm')}/{meta.get('framework')}, not a catalog-model policy)"
        )
        return meta, state
    try:
        meta["policy"] = acting_spec_from_format_1(meta)
        meta.pop("policy_unavailable", None)
    except CheckpointError as exc:
        meta["policy"] = None
        meta["policy_unavailable"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a read (a restore) never fails for want of an acting spec
        meta["policy"] = None
        meta["policy_unavailable"] = f"the acting spec could not be made: {type(exc).__name__}: {str(exc)[:300]}"
    return meta, state


#: ``MIGRATIONS[n]`` turns a format-``n`` ``(meta, state)`` into format ``n + 1``.
MIGRATIONS: dict[int, Migration] = {1: migrate_1_to_2}


def migrate(meta: dict[str, Any], state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, state)`` of any readable format, in the current one: the migrations from
    ``meta["format_version"]`` on, in order. ``meta["written_format_version"]`` records the
    format it started from (kept when already there); the inputs are not modified.

    Raises:
        CheckpointError: a format with no migration path to the current one.
    """
    from rlcore.checkpoint import FORMAT_VERSION

    written = int(meta["format_version"])
    out_meta, out_state = dict(meta), state
    out_meta.setdefault("written_format_version", written)
    version = written
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise CheckpointError(
                f"checkpoint format {version} has no migration to format {version + 1} in this rlcore: use the "
                "rlcore version that wrote it"
            )
        if out_state is state:  # the caller's tree stays as it was read
            out_state = copy.copy(state)
        out_meta, out_state = step(out_meta, out_state)
        version += 1
        out_meta["format_version"] = version
    return out_meta, out_state
