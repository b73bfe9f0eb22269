"""What enters rlcore from an env, checked where it enters: one rule for every observation space,
and the form of gymnasium's ``reset()`` / ``step()`` results.

**Observations** (:func:`observation_problem`, one rule for every space, recursively): a Box
observation is an array of real numbers (bool, int, uint or float) of the space's shape, finite
and inside the bounds (a float Box's infinite bounds mean "any finite value of its dtype"); a
Discrete one an integer scalar in ``[start, start + n)``; a MultiDiscrete one an integer array
of the space's shape in ``[start, start + nvec)``; a MultiBinary one an integer or bool array of
the space's shape holding 0s and 1s; a Tuple one a tuple (or list) with one valid component per
subspace; a Dict one a mapping with exactly the space's keys, each value valid. Other spaces
fall back to ``space.contains``. :class:`BatchObservationCheck` applies the same rule to the
observations of ``N`` envs at once, vectorized for the array spaces (the sampling hot path).

**reset / step results** (:func:`reset_result_problem`, :func:`step_result_problem`):
``reset()`` returns ``(obs, info)`` and ``step()`` returns ``(obs, reward, terminated,
truncated, info)``: a reward is a finite real scalar (a Python or numpy number or a 0-d array;
not a string, None, or an array of shape ``(1,)``), ``terminated`` and ``truncated`` are bools
(``bool`` or ``numpy.bool_``), ``info`` is a dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv

from rlcore.errors import ConfigError, EnvError, RLCoreError, did_you_mean

#: What gymnasium's API says, appended to messages about a result of the wrong form.
GYMNASIUM_API = (
    "rlcore expects gymnasium's API: reset() -> (obs, info) and step(action) -> "
    "(obs, reward, terminated, truncated, info); an env written for the old gym API "
    "(reset() -> obs, step() -> (obs, reward, done, info)) must be updated to it"
)

#: Types a terminated/truncated flag may have.
FLAG_TYPES = frozenset({bool, np.bool_})


class EnvObservationError(EnvError, ValueError):
    """An env returned an observation that is not finite or not inside its observation space."""


class ObservationArgumentError(RLCoreError, ValueError):
    """A caller passed observations (``compute_action(s)``'s ``obs``) that do not fit the observation space."""


def short(value: Any, limit: int = 120) -> str:
    """A one-line repr of ``value``, cut at ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: What an env (its creator, reset, step or close) may raise that rlcore turns into an EnvError
#: naming the env: any exception, and SystemExit (an env calling sys.exit() must not end the run
#: silently with its exit code). KeyboardInterrupt propagates.
ENV_FAULTS: tuple[type[BaseException], ...] = (Exception, SystemExit)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``"Type: message"`` of an exception on one line (an exception whose ``__str__`` raises is
    named with what it raised)."""
    try:
        text = " ".join(str(exc).split())
    except Exception as err:  # noqa: BLE001 - a broken __str__ must not hide the env's error
        text = f"<its str() raised {type(err).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind(x: Any) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if isinstance(x, np.ndarray):
        return f"an array of shape {tuple(shape or ())} and dtype {dtype}"
    return f"a {type(x).__name__}"


# ---------------------------------------------------------------------------------- observations
def _array_leaf(space: Any) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, str] | None:
    """``(shape, low, high, kinds)`` of an array-like space (Box, Discrete, MultiDiscrete,
    MultiBinary), or None for other spaces. ``low``/``high`` are finite (a float Box's infinite
    bounds become its dtype's extremes, so NaN and infinities fail the bounds check)."""
    if isinstance(space, spaces.Box):
        low = np.asarray(space.low)
        high = np.asarray(space.high)
        if space.dtype is not None and np.dtype(space.dtype).kind == "f":
            big = float(np.finfo(space.dtype).max)
            low = np.where(np.isneginf(low), -big, low).astype(space.low.dtype)  # the space's dtype: fast compares
            high = np.where(np.isposinf(high), big, high).astype(space.high.dtype)
        return tuple(space.shape), low, high, "biuf"
    if isinstance(space, spaces.Discrete):
        start = int(space.start)
        return (), np.asarray(start), np.asarray(start + int(space.n) - 1), "iu"
    if isinstance(space, spaces.MultiDiscrete):
        first = np.asarray(space.start)
        return tuple(space.shape), first, first + np.asarray(space.nvec) - 1, "iu"
    if isinstance(space, spaces.MultiBinary):
        shape = tuple(space.shape)
        return shape, np.zeros(shape, np.int8), np.ones(shape, np.int8), "biu"
    return None


_KIND_WORDS = {"biuf": "real numbers", "iu": "integers", "biu": "integers or bools"}


def _leaf_problem(obs: Any, space: Any, leaf: tuple[tuple[int, ...], np.ndarray, np.ndarray, str]) -> str | None:
    shape, low, high, kinds = leaf
    try:
        x = np.asarray(obs)
    except (TypeError, ValueError) as exc:
        return f"it is {_kind(obs)} that is not an array ({one_line(exc)})"
    if x.dtype.kind not in kinds:
        return f"it has dtype {x.dtype}; {type(space).__name__} observations are {_KIND_WORDS[kinds]}"
    if x.shape != shape:
        return f"it has shape {x.shape}, the space's is {shape}"
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        return "it is not finite"
    bad = (x < low) | (x > high)
    if not bad.any():
        return None
    i = np.unravel_index(int(np.flatnonzero(bad)[0]), x.shape) if x.shape else ()
    at = f" at index {tuple(int(k) for k in i)}" if x.shape else ""
    value = x[i].item()
    # the space's own bounds (a float Box's infinite ones were replaced by its dtype's extremes)
    lo = np.broadcast_to(getattr(space, "low", low), x.shape)[i].item()
    hi = np.broadcast_to(getattr(space, "high", high), x.shape)[i].item()
    if isinstance(space, spaces.Discrete | spaces.MultiDiscrete):
        lo, hi = np.broadcast_to(low, x.shape)[i].item(), np.broadcast_to(high, x.shape)[i].item()
        return f"{value!r}{at} is outside [{lo}, {hi}]"
    if value < lo or value > hi:
        return f"{value!r}{at} is outside the space's bounds [{lo!r}, {hi!r}]"
    return f"{value!r}{at} does not fit the space's dtype {space.dtype}"


def observation_problem(obs: Any, space: Any) -> str | None:
    """Why ``obs`` is not an observation of ``space`` (one rule for every space; see the module
    docstring), or None when it is one."""
    leaf = _array_leaf(space)
    if leaf is not None:
        return _leaf_problem(obs, space, leaf)
    if isinstance(space, spaces.Tuple):
        if not isinstance(obs, tuple | list):
            return f"it is {_kind(obs)}, not a tuple of {len(space.spaces)} components"
        if len(obs) != len(space.spaces):
            return f"it has {len(obs)} components, the space has {len(space.spaces)}"
        for j, (o, s) in enumerate(zip(obs, space.spaces, strict=True)):
            why = observation_problem(o, s)
            if why is not None:
                return f"component {j} ({s}): {why}"
        return None
    if isinstance(space, spaces.Dict):
        if not isinstance(obs, Mapping):
            return f"it is {_kind(obs)}, not a dict with the keys {list(space.spaces)}"
        missing = [k for k in space.spaces if k not in obs]
        extra = [k for k in obs if k not in space.spaces]
        if missing or extra:
            return f"its keys {list(obs)} are not the space's {list(space.spaces)}"
        for k, s in space.spaces.items():
            why = observation_problem(obs[k], s)
            if why is not None:
                return f"key {k!r} ({s}): {why}"
        return None
    try:
        inside = bool(space.contains(obs))
    except Exception as exc:  # noqa: BLE001 - the space's own check failing says the value is not inside
        return f"{type(space).__name__}.contains raised {one_line(exc)}"
    return None if inside else f"{type(space).__name__}.contains says it is not inside"


class BatchObservationCheck:
    """:func:`observation_problem` for the observations of ``N`` envs at once.

    ``check(raw)`` (``raw``: one observation per env) returns None when every observation is
    valid, else ``(row, why)`` for the first bad one. Array spaces (Box, Discrete, MultiDiscrete,
    MultiBinary) take one vectorized pass (dtype, shape, bounds; NaN and infinities fail the
    bounds); the rows are looked at one by one only to explain a failure. Tuple and Dict spaces
    are checked row by row.
    """

    def __init__(self, space: Any) -> None:
        self.space = space
        self._leaf = _array_leaf(space)

    def check(self, raw: Sequence[Any], batch: np.ndarray | None = None) -> tuple[int, str] | None:
        """None when every observation of ``raw`` is valid, else ``(row, why)`` for the first bad
        one. ``batch``: ``np.asarray(raw)`` when the caller has it already (array spaces)."""
        leaf = self._leaf
        if leaf is not None:
            if batch is None:
                try:
                    batch = np.asarray(raw)
                except (TypeError, ValueError):  # ragged: a row has another shape
                    batch = None
            if (
                batch is not None
                and batch.dtype.kind in leaf[3]
                and batch.shape[1:] == leaf[0]
                and (batch >= leaf[1]).all()
                and (batch <= leaf[2]).all()
            ):
                return None
        for row, obs in enumerate(raw):
            why = observation_problem(obs, self.space)
            if why is not None:
                return row, why
        return None


def is_observation_batch(obs: Any, space: Any) -> bool:
    """Whether ``obs`` can be a batch of observations of ``space`` rather than one observation: a
    list; for array spaces also a tuple, or an array with one more axis than the space's."""
    leaf = _array_leaf(space)
    if isinstance(obs, list) or (leaf is not None and isinstance(obs, tuple)):
        return True
    if leaf is not None:
        ndim = getattr(obs, "ndim", None)
        return ndim is not None and ndim == len(leaf[0]) + 1
    return False


# ------------------------------------------------------------------------------- reset and step
def reset_result_problem(result: Any) -> str | None:
    """Why a ``reset()`` result is not ``(obs, info)`` with ``info`` a dict, or None."""
    if not isinstance(result, tuple | list) or len(result) != 2:
        n = f" of {len(result)} elements" if isinstance(result, tuple | list) else ""
        return f"reset() returned {_kind(result)}{n} ({short(result, 80)}), not (obs, info). {GYMNASIUM_API}"
    if not isinstance(result[1], Mapping):
        return (
            f"reset() returned (obs, info) with info {_kind(result[1])} ({short(result[1], 60)}), not a dict. "
            f"{GYMNASIUM_API}"
        )
    return None


def reward_problem(reward: Any) -> str | None:
    """Why ``reward`` is not a finite real scalar (a Python or numpy number, or a 0-d array), or None."""
    if isinstance(reward, np.ndarray):
        if reward.shape != ():
            only = " (the array's only element)" if reward.size == 1 else ""
            return f"it is an array of shape {reward.shape}; a reward is a scalar: return float(reward){only}"
        reward = reward[()]
    if reward is None or isinstance(reward, str | bytes | complex | np.complexfloating):
        return f"it is {_kind(reward)}, not a real number"
    try:
        value = float(reward)
    except (TypeError, ValueError, OverflowError) as exc:
        return f"it is {_kind(reward)}, not a real number ({one_line(exc)})"
    if not math.isfinite(value):
        return "it is not finite"
    if abs(value) > float(np.finfo(np.float32).max):  # rewards are kept as float32
        return "it does not fit a float32 (rlcore keeps rewards as float32)"
    return None


def step_result_problem(result: Any) -> str | None:
    """Why a ``step()`` result is not gymnasium's ``(obs, reward, terminated, truncated, info)``
    with a finite real scalar reward, bool flags and a dict info, or None. (The observation is
    checked against the space separately.)"""
    if not isinstance(result, tuple | list) or len(result) != 5:
        n = f" of {len(result)} elements" if isinstance(result, tuple | list) else ""
        return f"step() returned {_kind(result)}{n}, not (obs, reward, terminated, truncated, info). {GYMNASIUM_API}"
    _, reward, terminated, truncated, info = result
    why = reward_problem(reward)
    if why is not None:
        return f"step() returned the reward {short(reward, 60)}: {why}. A reward must be a finite real number"
    for name, flag in (("terminated", terminated), ("truncated", truncated)):
        if type(flag) not in FLAG_TYPES:
            return (
                f"step() returned {name}={short(flag, 40)} ({type(flag).__name__}): terminated and truncated "
                "must be bools (bool or numpy.bool_)"
            )
    if not isinstance(info, Mapping):
        return f"step() returned info {short(info, 60)} ({type(info).__name__}): info must be a dict"
    return None


def env_problem(env: Any) -> str | None:
    """Why what an env creator returned is not a gymnasium env (reset, step and gymnasium
    spaces), or None."""
    missing, found = [], {}
    for attr in ("reset", "step", "observation_space", "action_space"):
        try:
            found[attr] = getattr(env, attr)
        except AttributeError:
            missing.append(attr)
        except ENV_FAULTS as exc:  # a property of the env that raises
            return f"returned an env whose {attr} raised {one_line(exc)}; make it a plain attribute set in __init__"
    if missing:
        return (
            f"returned {short(env, 80)} ({type(env).__name__}), not a gymnasium.Env (it has no "
            f"{', '.join(missing)}); make the creator return the env: creator(env_config) -> gymnasium.Env"
        )
    if isinstance(env, VectorEnv):
        return (
            f"returned a gymnasium VectorEnv ({type(env).__name__} of {short(getattr(env, 'num_envs', '?'))} envs); "
            "rlcore vectorizes envs itself: make the creator return one gymnasium.Env and set "
            "num_envs_per_worker for several"
        )
    for attr in ("observation_space", "action_space"):
        space = found[attr]
        if not isinstance(space, spaces.Space):
            return (
                f"returned an env whose {attr} is {short(space, 80)} ({type(space).__name__}), not a "
                "gymnasium.spaces.Space; declare it as one (e.g. gymnasium.spaces.Box)"
            )
    return None


def checked_reset(env: Any, where: str, **kwargs: Any) -> Any:
    """``env.reset(**kwargs)``'s observation, checked (for loops that step one env outside the
    sampler, such as ``rlcore rollout``). Raises :class:`~rlcore.errors.EnvError` prefixed with
    ``where`` (which env) for an exception of the env or a result that is not ``(obs, info)``,
    and :class:`EnvObservationError` for an observation outside the space."""
    return _checked_call(env, where, "reset()", reset_result_problem, env.reset, **kwargs)[0]


def checked_step(env: Any, action: Any, where: str) -> tuple[Any, float, bool, bool, Any]:
    """``env.step(action)`` checked like the sampler checks it (see :func:`checked_reset`):
    ``(obs, reward as a float, terminated, truncated, info)``."""
    call = f"step({short(action, 60)})"
    obs, reward, terminated, truncated, info = _checked_call(env, where, call, step_result_problem, env.step, action)
    return obs, float(reward), bool(terminated), bool(truncated), info


def _checked_call(env: Any, where: str, call: str, problem: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        result = fn(*args, **kwargs)
    except ENV_FAULTS as exc:
        raise EnvError(
            f"{where}: the env raised {one_line(exc)} in {call} (its traceback is the cause, above)"
        ) from exc
    why = problem(result)
    if why is not None:
        raise EnvError(f"{where}: the env's {why}. Fix the env's {call.split('(')[0]}()")
    _check_one_obs(result[0], env, where, call)
    return result


def _check_one_obs(obs: Any, env: Any, where: str, call: str) -> None:
    why = observation_problem(obs, env.observation_space)
    if why is not None:
        raise EnvObservationError(
            f"{where}: observation {short(obs)} from {call} is outside {env.observation_space} ({why}). "
            "Fix the env, or declare an observation_space that holds what it returns."
        )


#: Keyword arguments that ``gymnasium.make`` itself takes (not passed to the env).
GYM_MAKE_KWARGS = ("max_episode_steps", "disable_env_checker")


def check_gym_kwargs(name: str, env_config: dict[str, Any]) -> None:
    """Check that every ``env_config`` key is a keyword argument of the gymnasium env ``name``
    (its entry point's signature, or ``gymnasium.make``'s own) before the env is made.

    Raises :class:`~rlcore.errors.ConfigError` naming the key and the env and listing what it
    accepts; does nothing when the entry point takes ``**kwargs`` or its signature is unknown.
    """
    import inspect

    import gymnasium
    from gymnasium.envs.registration import load_env_creator

    if not env_config:
        return
    spec = gymnasium.spec(name)
    entry = spec.entry_point
    try:
        creator = load_env_creator(entry) if isinstance(entry, str) else entry
        params = inspect.signature(creator).parameters.values() if creator is not None else None
    except (ImportError, AttributeError, TypeError, ValueError, gymnasium.error.Error):
        return  # gymnasium.make will say why it cannot load the env
    if params is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in env_config if k not in accepted and k not in GYM_MAKE_KWARGS]
    if unknown:
        key = unknown[0]
        target = entry if isinstance(entry, str) else getattr(entry, "__qualname__", repr(entry))
        raise ConfigError(
            f"env_config key {key!r} is not a keyword argument of the gymnasium env {name!r} ({target}), "
            f"which gets env_config as gymnasium.make({name!r}, **env_config).{did_you_mean(key, accepted)} "
            f"It accepts: {', '.join(accepted) if accepted else '(no keyword arguments)'}, and gymnasium.make's "
            f"{', '.join(GYM_MAKE_KWARGS)}"
        )


__all__ = [
    "FLAG_TYPES",
    "GYM_MAKE_KWARGS",
    "GYMNASIUM_API",
    "BatchObservationCheck",
    "EnvObservationError",
    "ObservationArgumentError",
    "check_gym_kwargs",
    "checked_reset",
    "checked_step",
    "env_problem",
    "is_observation_batch",
    "observation_problem",
    "reset_result_problem",
    "reward_problem",
    "step_result_problem",
]
