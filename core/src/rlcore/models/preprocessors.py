"""Numpy preprocessors: turn raw observations into float32 arrays that models can consume.

Every preprocessor takes ``(obs_space, options)`` (``options`` is the model config, or any
mapping holding the keys the preprocessor reads) and exposes:

* ``shape`` / ``size``: the output shape of one observation and its number of elements;
* ``transform(obs)``: one observation -> ``np.ndarray`` of ``shape``, float32;
* ``transform_batch(obs_batch)``: a batch -> ``np.ndarray`` of ``[B, *shape]``, float32,
  vectorized over the batch. A batch is what ``gymnasium.vector.SyncVectorEnv`` returns: an
  array ``[B, ...]`` for Box, MultiBinary and MultiDiscrete spaces, an int array ``[B]`` for
  Discrete, a tuple of batches for Tuple and a dict of batches for Dict spaces
  (:func:`batch_obs` builds one from a list of single observations).

**State.** No preprocessor keeps hidden state. A stateful one (``is_stateful``, a
:class:`StatefulPreprocessor` such as :class:`FrameStackPreprocessor`) reads and advances a
state *value that the caller owns*, one row per env::

    state = prep.initial_state(num_envs)         # float32 [num_envs, prep.state_size]
    out = prep.transform_batch(obs_batch, state)  # [num_envs, *shape]; advances `state` in place
    prep.reset_state(state, [i])                  # env i starts a new episode at its next frame
    out_i = prep.transform(obs_i, state[i])       # one env: its row (a view) advances

Rows are independent: row ``i`` only ever sees the observations passed with it. A part of the
rows goes through a copy (``sub = state[rows]; prep.transform_batch(obs, sub); state[rows] =
sub``); peeking without advancing (the stack a final observation would get) is the same on a
copy that is then dropped. Without a state (``state=None``) each call is a fresh episode: the
frame fills the whole stack. Stateless preprocessors have ``state_size == 0``, their
``initial_state`` is an empty ``[B, 0]`` array and ``reset_state`` does nothing, so a caller may
keep a state for any preprocessor; only stateful ones take a ``state`` argument.

Frame stacking (model config ``framestack: k``) is done by :class:`FrameStackPreprocessor`,
which the catalog puts around the preprocessor when ``k > 1``: each row of its state holds the
last ``k`` outputs of the inner preprocessor for that env, concatenated along the last axis
(oldest first); the first frame after a (re)set fills the whole stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

import gymnasium as gym
import numpy as np

from rlcore.errors import ConfigError

#: ITU-R BT.601 luma weights (what OpenCV's ``COLOR_RGB2GRAY`` uses).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

#: A uint8 rank-3 Box whose height and width are both at least this is treated as an image.
MIN_IMAGE_SIDE = 8

_IMAGE_DEFAULTS: dict[str, Any] = {"dim": 84, "grayscale": False, "zero_mean": True}

_SUPPORTED = "Box, Discrete, MultiDiscrete, MultiBinary, and Tuple/Dict spaces of those"


def _space_name(space: Any) -> str:
    return repr(space) if isinstance(space, gym.Space) else f"{type(space).__name__} {space!r}"


def _expect_space(cls: type, space: Any, types: tuple[type, ...]) -> None:
    if not isinstance(space, types):
        names = ", ".join(t.__name__ for t in types)
        raise ConfigError(f"{cls.__name__} handles {names} observation spaces, not {_space_name(space)}")


def _batch_shape_str(inner_shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(["B", *map(str, inner_shape)]) + "]"


def _as_batch(obs_batch: Any, space: gym.Space[Any], inner_shape: tuple[int, ...]) -> np.ndarray:
    """``obs_batch`` as an array ``[B, *inner_shape]``, or a ValueError that says what was expected."""
    arr = np.asarray(obs_batch)
    if arr.shape[1:] != inner_shape or arr.ndim != len(inner_shape) + 1:
        raise ValueError(
            f"expected a batch of observations of shape {_batch_shape_str(inner_shape)} "
            f"for {space!r}, got an array of shape {arr.shape}"
        )
    return arr


#: Rows of a state: a list or array of row indices, a boolean mask ``[B]``, or None for all rows.
Rows: TypeAlias = Sequence[int] | np.ndarray | None


def batch_obs(observations: Sequence[Any], space: gym.Space[Any]) -> Any:
    """A list of single observations of ``space`` as one batch in ``SyncVectorEnv`` layout.

    Box, MultiBinary, MultiDiscrete -> array ``[B, *shape]``; Discrete -> int array ``[B]``;
    Tuple -> tuple of per-component batches; Dict -> dict of per-key batches (recursively).
    """
    if isinstance(space, gym.spaces.Tuple):
        return tuple(batch_obs([o[j] for o in observations], s) for j, s in enumerate(space.spaces))
    if isinstance(space, gym.spaces.Dict):
        return {k: batch_obs([o[k] for o in observations], s) for k, s in space.spaces.items()}
    return np.asarray(observations)


def add_batch_dim(obs: Any, space: gym.Space[Any]) -> Any:
    """One observation of ``space`` as a batch of one (recursing into Tuple and Dict spaces)."""
    if isinstance(space, gym.spaces.Tuple):
        return tuple(add_batch_dim(o, s) for o, s in zip(obs, space.spaces, strict=True))
    if isinstance(space, gym.spaces.Dict):
        return {k: add_batch_dim(obs[k], s) for k, s in space.spaces.items()}
    return np.asarray(obs)[None]


class Preprocessor:
    """Base class: subclasses set ``shape`` in ``__init__`` and implement :meth:`transform_batch`.

    ``options`` is the (resolved) model config or any mapping with the keys the subclass reads.
    """

    #: Whether the output depends on earlier observations of the same env (then
    #: :meth:`transform_batch` takes a caller-owned ``state``; see :class:`StatefulPreprocessor`).
    is_stateful: ClassVar[bool] = False

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        self.obs_space = obs_space
        self.options: dict[str, Any] = dict(options or {})
        self.shape: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """Number of elements of one transformed observation."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def observation_space(self) -> gym.spaces.Box:
        """The float32 Box that transformed observations belong to."""
        low, high = self._bounds()
        return gym.spaces.Box(low=low, high=high, shape=self.shape, dtype=np.float32)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.full(self.shape, -np.inf, np.float32), np.full(self.shape, np.inf, np.float32)

    def transform(self, obs: Any) -> np.ndarray:
        """One observation -> float32 array of :attr:`shape`."""
        out: np.ndarray = self.transform_batch(add_batch_dim(obs, self.obs_space))[0]
        return out

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        """A batch of observations -> float32 array ``[B, *shape]``."""
        raise NotImplementedError

    # ------------------------------------------------------------- state (none here)
    @property
    def state_size(self) -> int:
        """Elements of one row of the state (0: stateless)."""
        return 0

    def initial_state(self, batch_size: int) -> np.ndarray:
        """A fresh state for ``batch_size`` envs: float32 ``[batch_size, state_size]``.

        Every row starts a new episode at its next frame. Raises ValueError if ``batch_size < 0``.
        """
        if batch_size < 0:
            raise ValueError(f"batch_size must be >= 0, got {batch_size}")
        return np.zeros((int(batch_size), self.state_size), np.float32)

    def reset_state(self, state: np.ndarray, rows: Rows = None) -> None:
        """Start new episodes in the given rows of ``state`` (all when None), in place; a no-op here."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.obs_space!r} -> shape={self.shape})"


class NoPreprocessor(Preprocessor):
    """Box observations passed through unchanged but cast to float32 (shape kept)."""

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(obs_space, options)
        _expect_space(type(self), obs_space, (gym.spaces.Box, gym.spaces.MultiBinary))
        self._in_shape: tuple[int, ...] = tuple(int(d) for d in obs_space.shape)  # type: ignore[union-attr]
        self.shape = self._in_shape

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        space = self.obs_space
        if isinstance(space, gym.spaces.Box):
            low = np.broadcast_to(space.low, self._in_shape).astype(np.float32)
            high = np.broadcast_to(space.high, self._in_shape).astype(np.float32)
        else:
            low, high = np.zeros(self._in_shape, np.float32), np.ones(self._in_shape, np.float32)
        return low.reshape(self.shape), high.reshape(self.shape)

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        """``[B, *obs_shape]`` -> the same values as float32 ``[B, *shape]``."""
        arr = _as_batch(obs_batch, self.obs_space, self._in_shape)
        return arr.astype(np.float32, copy=False).reshape((arr.shape[0], *self.shape))


class FlattenPreprocessor(NoPreprocessor):
    """Box (or MultiBinary) observations of any rank flattened to a float32 vector."""

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(obs_space, options)
        self.shape = (int(np.prod(self._in_shape, dtype=np.int64)),)


class OneHotPreprocessor(Preprocessor):
    """Discrete(n) observations -> one-hot float32 vectors of length n."""

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(obs_space, options)
        _expect_space(type(self), obs_space, (gym.spaces.Discrete,))
        self.n = int(obs_space.n)  # type: ignore[attr-defined]
        self.start = int(obs_space.start)  # type: ignore[attr-defined]
        self.shape = (self.n,)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.shape, np.float32), np.ones(self.shape, np.float32)

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        """Int array ``[B]`` -> ``[B, n]``."""
        idx = _as_batch(obs_batch, self.obs_space, ()).astype(np.int64) - self.start
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            bad = idx[(idx < 0) | (idx >= self.n)][0] + self.start
            raise ValueError(f"observation {bad} is outside {self.obs_space!r}")
        out = np.zeros((idx.shape[0], self.n), np.float32)
        out[np.arange(idx.shape[0]), idx] = 1.0
        return out


class MultiDiscretePreprocessor(Preprocessor):
    """MultiDiscrete(nvec) observations -> concatenated one-hot vectors, length ``sum(nvec)``."""

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(obs_space, options)
        _expect_space(type(self), obs_space, (gym.spaces.MultiDiscrete,))
        self._in_shape = tuple(int(d) for d in obs_space.shape)  # type: ignore[union-attr]
        self.nvec = np.asarray(obs_space.nvec, np.int64).ravel()  # type: ignore[attr-defined]
        self.start = np.asarray(obs_space.start, np.int64).ravel()  # type: ignore[attr-defined]
        self.offsets = np.concatenate([[0], np.cumsum(self.nvec)[:-1]]).astype(np.int64)
        self.shape = (int(self.nvec.sum()),)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.shape, np.float32), np.ones(self.shape, np.float32)

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        """Int array ``[B, *nvec.shape]`` -> ``[B, sum(nvec)]``."""
        arr = _as_batch(obs_batch, self.obs_space, self._in_shape)
        idx = arr.reshape(arr.shape[0], -1).astype(np.int64) - self.start
        if ((idx < 0) | (idx >= self.nvec)).any():
            raise ValueError(f"an observation in the batch is outside {self.obs_space!r}")
        out = np.zeros((idx.shape[0], self.shape[0]), np.float32)
        out[np.arange(idx.shape[0])[:, None], self.offsets + idx] = 1.0
        return out


def _area_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` weights of area (box-filter) resampling; each row sums to 1.

    Output pixel ``i`` covers source coordinates ``[i * s, (i + 1) * s)`` with ``s = n_in / n_out``
    and averages the source pixels it overlaps, weighted by overlap (like OpenCV's INTER_AREA).
    """
    scale = n_in / n_out
    edges = np.arange(n_out + 1, dtype=np.float64) * scale
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in, dtype=np.float64)[None, :]
    overlap: np.ndarray = np.clip(np.minimum(hi, j + 1.0) - np.maximum(lo, j), 0.0, None)
    return (overlap / scale).astype(np.float32)


class ImagePreprocessor(Preprocessor):
    """Atari-style image preprocessing of Box ``[H, W, C]`` observations (usually uint8).

    Options: ``grayscale`` (RGB -> one luma channel; images whose channel count is not 3 or 4
    get the mean of their channels), ``dim`` (output side; area resampling in numpy, default
    84) and ``zero_mean`` (scale pixels from ``[0, 255]`` to ``[-1, 1]`` when true, the default,
    else to ``[0, 1]``). Output: float32 ``[dim, dim, 1 if grayscale else C]``.
    """

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(obs_space, options)
        _expect_space(type(self), obs_space, (gym.spaces.Box,))
        in_shape = tuple(int(d) for d in obs_space.shape)  # type: ignore[union-attr]
        if len(in_shape) != 3:
            raise ConfigError(f"ImagePreprocessor needs a Box of shape [H, W, C], got {obs_space!r}")
        opts = {**_IMAGE_DEFAULTS, **{k: v for k, v in self.options.items() if k in _IMAGE_DEFAULTS}}
        dim = opts["dim"]
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise ConfigError(f"model option 'dim' must be a positive int, got {dim!r}")
        self._in_shape = in_shape
        self.dim = int(dim)
        self.grayscale = bool(opts["grayscale"])
        self.zero_mean = bool(opts["zero_mean"])
        height, width, channels = in_shape
        self._rows = None if height == self.dim else _area_resize_matrix(height, self.dim)
        self._cols_t = None if width == self.dim else _area_resize_matrix(width, self.dim).T.copy()
        self.shape = (self.dim, self.dim, 1 if self.grayscale else channels)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low = -1.0 if self.zero_mean else 0.0
        return np.full(self.shape, low, np.float32), np.ones(self.shape, np.float32)

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        """``[B, H, W, C]`` pixels in ``[0, 255]`` -> ``[B, dim, dim, C']`` float32."""
        x = _as_batch(obs_batch, self.obs_space, self._in_shape).astype(np.float32)
        batch, height, width, channels = x.shape
        if self.grayscale and channels != 1:
            if channels in (3, 4):  # RGB or RGBA: alpha is ignored
                x = x[..., :3] @ LUMA_WEIGHTS[:, None]
            else:
                x = x.mean(axis=-1, keepdims=True, dtype=np.float32)
            channels = 1
        if self._rows is not None:  # [dim, H] @ [B, H, W*C] -> [B, dim, W*C]
            x = np.matmul(self._rows, x.reshape(batch, height, width * channels))
            x = x.reshape(batch, self.dim, width, channels)
        if self._cols_t is not None:  # [B, dim, C, W] @ [W, dim] -> [B, dim, C, dim]
            x = np.matmul(x.transpose(0, 1, 3, 2), self._cols_t).transpose(0, 1, 3, 2)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.zero_mean:
            x /= 127.5
            x -= 1.0
            np.clip(x, -1.0, 1.0, out=x)
        else:
            x /= 255.0
            np.clip(x, 0.0, 1.0, out=x)
        return x


class TupleFlatteningPreprocessor(Preprocessor):
    """Tuple observations: each component preprocessed, flattened, and all concatenated in order."""

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(obs_space, options)
        _expect_space(type(self), obs_space, (gym.spaces.Tuple,))
        self.preprocessors: list[Preprocessor] = [
            preprocessor_for(s, self.options)
            for s in obs_space.spaces  # type: ignore[attr-defined]
        ]
        self.shape = (sum(p.size for p in self.preprocessors),)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return _concat_bounds(self.preprocessors, self.shape)

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        """A tuple of per-component batches -> ``[B, size]``."""
        if not isinstance(obs_batch, Sequence) or len(obs_batch) != len(self.preprocessors):
            raise ValueError(
                f"expected a tuple of {len(self.preprocessors)} batches for {self.obs_space!r}, "
                f"got {type(obs_batch).__name__}"
            )
        return _concat(p.transform_batch(o) for p, o in zip(self.preprocessors, obs_batch, strict=True))


class DictFlatteningPreprocessor(Preprocessor):
    """Dict observations: each value preprocessed, flattened, and concatenated in key order.

    The key order is the space's, which gymnasium sorts for plain dicts; it is the order that
    ``gymnasium.spaces.flatten`` uses.
    """

    def __init__(self, obs_space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(obs_space, options)
        _expect_space(type(self), obs_space, (gym.spaces.Dict,))
        self.preprocessors: dict[str, Preprocessor] = {
            k: preprocessor_for(s, self.options)
            for k, s in obs_space.spaces.items()  # type: ignore[attr-defined]
        }
        self.shape = (sum(p.size for p in self.preprocessors.values()),)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return _concat_bounds(list(self.preprocessors.values()), self.shape)

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        """A dict of per-key batches -> ``[B, size]``."""
        if not isinstance(obs_batch, Mapping):
            raise ValueError(f"expected a dict of batches for {self.obs_space!r}, got {type(obs_batch).__name__}")
        missing = [k for k in self.preprocessors if k not in obs_batch]
        if missing:
            raise ValueError(f"observation batch lacks the keys {missing} of {self.obs_space!r}")
        return _concat(p.transform_batch(obs_batch[k]) for k, p in self.preprocessors.items())


def _concat(parts: Any) -> np.ndarray:
    flat = [p.reshape(p.shape[0], -1) for p in parts]
    if not flat:
        raise ValueError("cannot preprocess an empty Tuple or Dict space")
    return np.concatenate(flat, axis=1)


def _concat_bounds(preps: Sequence[Preprocessor], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    bounds = [p._bounds() for p in preps]
    if not bounds:
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    low = np.concatenate([b[0].ravel() for b in bounds])
    high = np.concatenate([b[1].ravel() for b in bounds])
    return low, high


class StatefulPreprocessor(Preprocessor):
    """Base of preprocessors whose output depends on earlier observations of the same env.

    The state is a float32 array ``[B, state_size]`` that the caller owns (one row per env,
    opaque to it); :meth:`transform_batch` reads and advances it in place, and checks that
    each row goes with one observation. Subclasses implement :attr:`state_size`,
    :meth:`_initial_row` and :meth:`_transform_stateful`.
    """

    is_stateful: ClassVar[bool] = True

    @property
    def state_size(self) -> int:
        """Elements of one row of the state."""
        raise NotImplementedError

    def _initial_row(self) -> np.ndarray:
        """The state row of a new episode: float32 ``[state_size]``."""
        raise NotImplementedError

    def _transform_stateful(self, obs_batch: Any, state: np.ndarray | None) -> np.ndarray:
        """``transform_batch`` with a validated state ``[B, state_size]`` (or None: fresh rows)."""
        raise NotImplementedError

    def initial_state(self, batch_size: int) -> np.ndarray:
        """A fresh state for ``batch_size`` envs: float32 ``[batch_size, state_size]``.

        Every row starts a new episode at its next frame. Raises ValueError if ``batch_size < 0``.
        """
        if batch_size < 0:
            raise ValueError(f"batch_size must be >= 0, got {batch_size}")
        return np.tile(self._initial_row(), (int(batch_size), 1))

    def reset_state(self, state: np.ndarray, rows: Rows = None) -> None:
        """Start new episodes in the given rows of ``state`` (all when None), in place.

        ``rows``: indices or a boolean mask ``[B]``. Raises ValueError for a state that is not
        ``[B, state_size]`` float32.
        """
        self._check_state(state)
        if rows is None:
            state[...] = self._initial_row()
        else:
            state[np.asarray(rows)] = self._initial_row()

    def transform_batch(self, obs_batch: Any, state: np.ndarray | None = None) -> np.ndarray:
        """A batch -> float32 ``[B, *shape]``, advancing ``state`` (``[B, state_size]``) in place.

        Without ``state`` every row is a new episode and nothing is kept. Raises ValueError if
        ``state`` is not a writable float32 array ``[B, state_size]`` with contiguous rows.
        """
        if state is not None:
            self._check_state(state)
        return self._transform_stateful(obs_batch, state)

    def transform(self, obs: Any, state: np.ndarray | None = None) -> np.ndarray:
        """One observation -> float32 array of :attr:`shape`, advancing ``state`` (one row,
        ``[state_size]``, e.g. ``batch_state[i]``, a view) in place; None: a new episode."""
        rows = None if state is None else self._check_row(state)
        out: np.ndarray = self.transform_batch(add_batch_dim(obs, self.obs_space), rows)[0]
        return out

    def _check_row(self, state: np.ndarray) -> np.ndarray:
        if not isinstance(state, np.ndarray) or state.ndim != 1:
            got = getattr(state, "shape", type(state).__name__)
            raise ValueError(f"the state of one observation must be one row [{self.state_size}], got {got}")
        return state[None]

    def _check_state(self, state: np.ndarray) -> None:
        ok = (
            isinstance(state, np.ndarray)
            and state.dtype == np.float32
            and state.ndim == 2
            and state.shape[1] == self.state_size
        )
        if not ok:
            want = f"[B, {self.state_size}]"
            got = f"{state.dtype} {state.shape}" if isinstance(state, np.ndarray) else type(state).__name__
            raise ValueError(
                f"{type(self).__name__} state must be a float32 array {want} (from initial_state), got {got}"
            )
        if not state.flags.writeable or (state.size and state.strides[1] != state.itemsize):
            raise ValueError(
                f"{type(self).__name__} state must be writable with contiguous rows (it is updated in place)"
            )


class FrameStackPreprocessor(StatefulPreprocessor):
    """Stacks the last ``framestack`` outputs of another preprocessor, per env.

    Output shape: the inner shape with its last axis multiplied by ``framestack``; frames are
    concatenated along the last axis, oldest first. The state (owned by the caller, see the
    module docstring) holds per row a "started" flag and the ``k`` frames; a row's first frame
    after :meth:`initial_state` / :meth:`reset_state` fills its whole stack.
    """

    def __init__(
        self,
        obs_space: gym.Space[Any],
        options: Mapping[str, Any] | None = None,
        inner: Preprocessor | None = None,
    ) -> None:
        super().__init__(obs_space, options)
        k = self.options.get("framestack", 1)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"model option 'framestack' must be an int >= 1, got {k!r}")
        self.framestack = int(k)
        self.inner = inner if inner is not None else preprocessor_for(obs_space, self.options)
        if self.inner.is_stateful:
            raise ConfigError(f"framestack cannot wrap the stateful preprocessor {self.inner!r}")
        inner_shape = tuple(self.inner.shape) or (1,)
        self._frame_shape = inner_shape
        self._frame_size = int(np.prod(inner_shape, dtype=np.int64))
        self.shape = (*inner_shape[:-1], inner_shape[-1] * self.framestack)

    @property
    def state_size(self) -> int:
        """``1 + framestack * frame size``: the started flag, then the frames, oldest first."""
        return 1 + self.framestack * self._frame_size

    def _initial_row(self) -> np.ndarray:
        return np.zeros(self.state_size, np.float32)

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        low, high = self.inner._bounds()
        low, high = low.reshape(self._frame_shape), high.reshape(self._frame_shape)
        return np.concatenate([low] * self.framestack, -1), np.concatenate([high] * self.framestack, -1)

    def _transform_stateful(self, obs_batch: Any, state: np.ndarray | None) -> np.ndarray:
        """Push one frame per row and return the stacks ``[B, *shape]`` (a new array)."""
        frames = self.inner.transform_batch(obs_batch).reshape(-1, *self._frame_shape)
        batch = frames.shape[0]
        if state is None:
            buf = np.repeat(frames[:, None], self.framestack, axis=1)
        else:
            if state.shape[0] != batch:
                raise ValueError(f"the state has {state.shape[0]} rows for a batch of {batch} observations")
            started = state[:, 0]  # views into the caller's state
            buf = state[:, 1:].reshape(batch, self.framestack, *self._frame_shape)
            buf[:, :-1] = buf[:, 1:]
            buf[:, -1] = frames
            fresh = started == 0.0
            if fresh.any():
                buf[fresh] = frames[fresh][:, None]
                started[fresh] = 1.0
        # [B, k, ..., C] -> [B, ..., k, C] -> [B, ..., k * C] (a copy: the state changes later)
        return np.moveaxis(buf, 1, -2).copy().reshape(batch, *self.shape)


def is_image_space(space: gym.Space[Any]) -> bool:
    """True for a uint8 Box ``[H, W, C]`` with ``H, W >= MIN_IMAGE_SIDE``: it gets :class:`ImagePreprocessor`."""
    return (
        isinstance(space, gym.spaces.Box)
        and len(space.shape) == 3
        and space.dtype == np.uint8
        and min(space.shape[:2]) >= MIN_IMAGE_SIDE
    )


def preprocessor_class_for(space: gym.Space[Any]) -> type[Preprocessor]:
    """The built-in preprocessor class for ``space``, or a ConfigError saying what is supported.

    uint8 images -> :class:`ImagePreprocessor`; Box of rank 1 or 3 -> :class:`NoPreprocessor`;
    other Box ranks and MultiBinary -> :class:`FlattenPreprocessor`; Discrete -> one-hot;
    MultiDiscrete -> concatenated one-hots; Tuple and Dict -> flattening (recursive).
    """
    if isinstance(space, gym.spaces.Box):
        if is_image_space(space):
            return ImagePreprocessor
        return NoPreprocessor if len(space.shape) in (1, 3) else FlattenPreprocessor
    if isinstance(space, gym.spaces.MultiBinary):
        return FlattenPreprocessor
    if isinstance(space, gym.spaces.Discrete):
        return OneHotPreprocessor
    if isinstance(space, gym.spaces.MultiDiscrete):
        return MultiDiscretePreprocessor
    if isinstance(space, gym.spaces.Tuple):
        return TupleFlatteningPreprocessor
    if isinstance(space, gym.spaces.Dict):
        return DictFlatteningPreprocessor
    raise ConfigError(
        f"no preprocessor for the observation space {_space_name(space)}. Supported: {_SUPPORTED}. "
        "For another space, register your own with ModelCatalog.register_custom_preprocessor(name, cls) "
        "and set model config 'custom_preprocessor'."
    )


def preprocessor_for(space: gym.Space[Any], options: Mapping[str, Any] | None = None) -> Preprocessor:
    """The built-in (stateless) preprocessor for ``space``, constructed with ``options``."""
    return preprocessor_class_for(space)(space, options)


__all__ = [
    "LUMA_WEIGHTS",
    "MIN_IMAGE_SIDE",
    "DictFlatteningPreprocessor",
    "FlattenPreprocessor",
    "FrameStackPreprocessor",
    "ImagePreprocessor",
    "MultiDiscretePreprocessor",
    "NoPreprocessor",
    "OneHotPreprocessor",
    "Preprocessor",
    "Rows",
    "StatefulPreprocessor",
    "TupleFlatteningPreprocessor",
    "add_batch_dim",
    "batch_obs",
    "is_image_space",
    "preprocessor_class_for",
    "preprocessor_for",
]
