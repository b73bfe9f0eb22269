"""Gymnasium spaces as JSON, for checkpoints: ``space_to_json(space)`` and ``space_from_json(d)``.

A checkpoint's acting spec (``checkpoint.json`` ``"policy"``) records the env's observation and
action spaces so that a policy acts without the env or any plugin. The JSON forms::

    {"type": "Box", "dtype": "float32", "shape": [4], "low": -1.0, "high": [1.0, 2.0, "inf", 3.0]}
    {"type": "Discrete", "n": 3, "start": 0}
    {"type": "MultiDiscrete", "nvec": [3, 2], "start": [0, 0], "dtype": "int64"}
    {"type": "MultiBinary", "n": 5}                       # or a shape: [2, 3]
    {"type": "Tuple", "spaces": [<space>, ...]}
    {"type": "Dict", "spaces": [["key", <space>], ...]}   # pairs: the key order survives sort_keys

A Box bound is a scalar when it is the same everywhere, else a nested list of the space's
shape; infinite bounds are the strings ``"inf"`` and ``"-inf"`` (JSON has no infinity). The
decoded space compares equal to the original (same type, shape, dtype, bounds, ``start``, keys).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rlcore.errors import CheckpointError

#: The space types this codec writes and reads (gymnasium.spaces class names).
SPACE_TYPES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary", "Tuple", "Dict")
_INF = {"inf": math.inf, "-inf": -math.inf}
_NUMERIC_KINDS = "biuf"
#: The most values one space (and each part of a Tuple/Dict) may hold when decoded: a Box's bounds,
#: a MultiBinary's or MultiDiscrete's entries are allocated by the decoding, so an edited shape of
#: ``[1000000000]`` is refused before a byte is allocated (2**26 float32 values are 256 MiB).
MAX_SPACE_VALUES = 2**26


def space_to_json(space: Any, *, name: str = "space") -> dict[str, Any]:
    """The JSON form of a gymnasium space (see the module docstring); ``name`` names it in errors
    (``"observation space"``).

    Raises:
        CheckpointError: a space of another type (Text, Graph, Sequence, OneOf, a custom
            ``gymnasium.Space``) or a Dict with a key that is not a string, naming the type (key)
            and where it sits in a nested space.
    """
    return _encode(space, name)


def space_from_json(data: Any, *, name: str = "space") -> Any:
    """The gymnasium space that :func:`space_to_json` encoded; ``name`` names it in errors.

    Raises:
        CheckpointError: ``data`` is not a space's JSON form (unknown ``type``, a missing or
            mistyped field, bounds of the wrong shape, a dtype that is not numeric), naming
            where in the (nested) space and what is wrong.
    """
    return _decode(data, name)


# -- encoding --------------------------------------------------------------------------
def _encode(space: Any, where: str) -> dict[str, Any]:
    from gymnasium import spaces

    if isinstance(space, spaces.Box | spaces.MultiBinary) and math.prod(space.shape) > MAX_SPACE_VALUES:
        raise CheckpointError(
            f"cannot record the {where}: its {math.prod(space.shape)} values are more than the {MAX_SPACE_VALUES} a "
            "checkpoint's space may hold"
        )
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "dtype": np.dtype(space.dtype).name,
            "shape": [int(d) for d in space.shape],
            "low": _bound(space.low),
            "high": _bound(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {
            "type": "MultiDiscrete",
            "nvec": np.asarray(space.nvec).tolist(),
            "start": np.asarray(space.start).tolist(),
            "dtype": np.dtype(space.dtype).name,
        }
    if isinstance(space, spaces.MultiBinary):
        n: Any = space.n
        return {"type": "MultiBinary", "n": int(n) if np.ndim(n) == 0 else [int(d) for d in np.asarray(n).ravel()]}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [_encode(s, f"{where}[{i}]") for i, s in enumerate(space.spaces)]}
    if isinstance(space, spaces.Dict):
        for key in space.spaces:
            if not isinstance(key, str):
                raise CheckpointError(
                    f"cannot record the {where}: its Dict key {key!r} is not a string "
                    "(a checkpoint records Dict spaces with string keys only)"
                )
        return {"type": "Dict", "spaces": [[k, _encode(s, f"{where}[{k!r}]")] for k, s in space.spaces.items()]}
    kind = type(space)
    raise CheckpointError(
        f"cannot record the {where}: it is a {kind.__module__}.{kind.__qualname__}, not one of the space types "
        f"a checkpoint records ({', '.join(SPACE_TYPES)})"
    )


def _bound(values: np.ndarray) -> Any:
    arr = np.asarray(values)
    if arr.size and (arr == arr.flat[0]).all():
        return _scalar(arr.flat[0])
    return _nested(arr.tolist()) if arr.ndim else _scalar(arr.item())


def _scalar(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _nested(values: Any) -> Any:
    if isinstance(values, list):
        return [_nested(v) for v in values]
    return _scalar(values)


# -- decoding --------------------------------------------------------------------------
def _fail(where: str, what: str) -> CheckpointError:
    return CheckpointError(f"the {where} recorded {what}; it was not written by rlcore's space codec")


def _fields(data: Any, where: str, kind: str, fields: tuple[str, ...]) -> None:
    if set(data) != {"type", *fields}:
        raise _fail(where, f"({kind}) must have exactly the fields {', '.join(('type', *fields))}, got {sorted(data)}")


def _int(value: Any, where: str, what: str, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise _fail(where, f"has {what} {value!r}, not an integer{bound}")
    return value


def _int_array(value: Any, where: str, what: str) -> np.ndarray:
    flat = _leaves(value)
    if flat is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        raise _fail(where, f"has {what} {str(value)[:100]}, not an integer or nested list of integers")
    try:
        return np.asarray(value, dtype=np.int64)
    except (ValueError, OverflowError):
        raise _fail(where, f"has {what} {str(value)[:100]}, not a rectangular nested list of integers") from None


def _leaves(value: Any) -> list[Any] | None:
    """The scalars of a nested list (a scalar alone: itself), or None for a dict inside."""
    out: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            return None
        else:
            out.append(item)
    return out


def _dtype(value: Any, where: str, kinds: str) -> np.dtype[Any]:
    try:
        dt = np.dtype(value) if isinstance(value, str) else None
    except TypeError:
        dt = None
    if dt is None or dt.kind not in kinds or dt.fields is not None or dt.subdtype is not None:
        raise _fail(where, f"has dtype {value!r}, not a numeric numpy dtype name (float32, uint8, int64...)")
    return dt


def _box_bound(value: Any, where: str, what: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    """A Box bound as an array of ``dtype``: floats with ``"inf"``/``"-inf"``, integers exactly."""

    def number(v: Any) -> Any:
        if dtype.kind == "f":
            if isinstance(v, str) and v in _INF:
                return _INF[v]
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                return v
            raise _fail(where, f"has a {what} bound {v!r}: bounds of a float Box are numbers, 'inf' or '-inf'")
        if dtype.kind == "b":
            if isinstance(v, bool):
                return v
            raise _fail(where, f"has a {what} bound {v!r}: bounds of a bool Box are true or false")
        if isinstance(v, int) and not isinstance(v, bool):
            info = np.iinfo(dtype)
            if info.min <= v <= info.max:
                return v
        raise _fail(where, f"has a {what} bound {v!r}, not an integer that fits {dtype.name}")

    def walk(v: Any) -> Any:
        return [walk(x) for x in v] if isinstance(v, list) else number(v)

    if isinstance(value, dict):
        raise _fail(where, f"has a {what} bound that is an object, not a number or nested list")
    converted = walk(value)
    try:
        arr = np.asarray(converted, dtype=np.float64 if dtype.kind == "f" else object)
    except (ValueError, OverflowError):
        raise _fail(where, f"has a {what} bound that is not a rectangular nested list") from None
    if arr.ndim and arr.shape != shape:
        raise _fail(where, f"has a {what} bound of shape {list(arr.shape)} for a Box of shape {list(shape)}")
    return np.full(shape, arr.astype(dtype), dtype=dtype) if arr.ndim == 0 else arr.astype(dtype)


def _not_too_large(shape: tuple[int, ...], where: str) -> None:
    size = math.prod(shape)
    if size > MAX_SPACE_VALUES:
        raise _fail(
            where,
            f"has shape {list(shape)}: {size} values, more than the {MAX_SPACE_VALUES} a checkpoint's space may "
            "hold (the file was edited)",
        )


def _decode(data: Any, where: str) -> Any:
    from gymnasium import spaces

    if not isinstance(data, Mapping):
        raise _fail(where, f"is {type(data).__name__}, not an object with a 'type'")
    kind = data.get("type")
    if kind not in SPACE_TYPES:
        raise CheckpointError(
            f"the {where} recorded has type {str(kind)[:60]!r}, which this rlcore cannot read "
            f"(it reads {', '.join(SPACE_TYPES)}): use the rlcore version that wrote the checkpoint or a newer one"
        )
    try:
        if kind == "Box":
            _fields(data, where, kind, ("dtype", "shape", "low", "high"))
            dtype = _dtype(data["dtype"], where, _NUMERIC_KINDS)
            shape_list = data["shape"]
            if not isinstance(shape_list, list) or len(shape_list) > 32:
                raise _fail(where, f"has shape {str(shape_list)[:100]}, not a list of at most 32 sizes")
            shape = tuple(_int(d, where, "a shape entry", 0) for d in shape_list)
            _not_too_large(shape, where)
            low = _box_bound(data["low"], where, "low", shape, dtype)
            high = _box_bound(data["high"], where, "high", shape, dtype)
            return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
        if kind == "Discrete":
            _fields(data, where, kind, ("n", "start"))
            return spaces.Discrete(_int(data["n"], where, "n", 1), start=_int(data["start"], where, "start"))
        if kind == "MultiDiscrete":
            _fields(data, where, kind, ("nvec", "start", "dtype"))
            nvec = _int_array(data["nvec"], where, "nvec")
            start = _int_array(data["start"], where, "start")
            if start.shape != nvec.shape:
                raise _fail(where, f"has start of shape {list(start.shape)} and nvec of shape {list(nvec.shape)}")
            if nvec.size == 0 or (nvec < 1).any():
                raise _fail(where, f"has nvec {data['nvec']!r}: every entry must be at least 1")
            dtype = _dtype(data["dtype"], where, "iu")
            return spaces.MultiDiscrete(nvec, dtype=dtype, start=start)
        if kind == "MultiBinary":
            _fields(data, where, kind, ("n",))
            n = data["n"]
            if isinstance(n, list):
                if not n or len(n) > 32:
                    raise _fail(where, f"has n {str(n)[:100]}, not a shape of 1 to 32 sizes")
                sizes = [_int(d, where, "an n entry", 1) for d in n]
                _not_too_large(tuple(sizes), where)
                return spaces.MultiBinary(sizes)
            _not_too_large((_int(n, where, "n", 1),), where)
            return spaces.MultiBinary(n)
        if kind == "Tuple":
            _fields(data, where, kind, ("spaces",))
            items = data["spaces"]
            if not isinstance(items, list):
                raise _fail(where, "has 'spaces' that is not a list")
            return spaces.Tuple([_decode(s, f"{where}[{i}]") for i, s in enumerate(items)])
        _fields(data, where, kind, ("spaces",))  # Dict
        pairs = data["spaces"]
        if not isinstance(pairs, list):
            raise _fail(where, "has 'spaces' that is not a list of [key, space] pairs")
        out: dict[str, Any] = {}  # a list of pairs keeps the order (gymnasium sorts a plain dict's keys)
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise _fail(where, f"has the Dict entry {str(pair)[:100]}, not a [key, space] pair")
            if pair[0] in out:
                raise _fail(where, f"has the Dict key {pair[0]!r} twice")
            out[pair[0]] = _decode(pair[1], f"{where}[{pair[0]!r}]")
        return spaces.Dict(list(out.items()))
    except CheckpointError:
        raise
    except (ValueError, TypeError, AssertionError, OverflowError) as exc:  # gymnasium's own checks
        raise _fail(where, f"({kind}) does not make a space ({type(exc).__name__}: {str(exc)[:200]})") from None
