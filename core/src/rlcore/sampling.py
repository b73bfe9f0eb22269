"""Vectorized sampling shared by every evaluator, whatever its framework.

:class:`VectorSampler` steps ``num_envs`` gymnasium envs in lock-step and asks the policy for a
whole batch of actions at once (one forward pass per step). It preprocesses and filters
observations, tracks episodes, and returns a time-major :class:`Fragment`. It is the boundary
between the envs and rlcore: what the env creator, ``reset()`` and ``step()`` return is checked
there (:mod:`rlcore.env_checks`: gymnasium's 2-tuple and 5-tuple, observations inside the space,
finite real scalar rewards, bool flags, dict infos), and an exception raised by the creator or
the env is re-raised as :class:`~rlcore.errors.EnvError` naming the env, the worker, the call
and the step, with the env's own exception as its ``__cause__``.
:func:`postprocess_gae` turns a fragment into a :class:`SampleBatch` with advantages, handling
terminated vs truncated episodes (a truncated episode bootstraps from the value of its final
observation).

Per-env state lives in the sampler, one row per env: the state of a stateful preprocessor
(frame stacks; see :mod:`rlcore.models.preprocessors`) and, for recurrent policies, the
policy's state tensors. Env ``i``'s rows are reset when its episode ends (its final
observation still gets the stack of the episode that ended), and other envs' rows are
untouched. Acting outside sampling (``Trainer.compute_action``, ``rlcore rollout``) keeps its
own preprocessor state (:meth:`VectorSampler.new_acting_state`,
:meth:`VectorSampler.compute_obs`), so it never touches the sampler's.
"""

from __future__ import annotations

import contextlib
import copy
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from rlcore import sample_batch as sb
from rlcore.env_checks import (
    ENV_FAULTS,
    FLAG_TYPES,
    GYMNASIUM_API,
    BatchObservationCheck,
    EnvObservationError,
    ObservationArgumentError,
    env_problem,
    is_observation_batch,
    observation_problem,
    one_line,
    reset_result_problem,
    short,
    step_result_problem,
)
from rlcore.errors import ConfigError, EnvError, RLCoreError
from rlcore.evaluator import EpisodeMetrics
from rlcore.filters import NoFilter
from rlcore.models.preprocessors import batch_obs
from rlcore.postprocessing import compute_gae
from rlcore.sample_batch import SampleBatch

#: ``policy_fn(obs [N, *obs_shape]) -> (actions [N, ...], extras {name: [N, ...]})``.
PolicyFn = Callable[[np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]
#: ``policy_fn(obs [N, *obs_shape], state [[N, *state_shape_j] per state tensor j])
#: -> (actions [N, ...], state_out [[N, *state_shape_j]], extras {name: [N, ...]})``: the form
#: :meth:`VectorSampler.sample` calls when given an ``initial_state`` (recurrent policies).
RecurrentPolicyFn = Callable[
    [np.ndarray, list[np.ndarray]], tuple[np.ndarray, Sequence[np.ndarray], dict[str, np.ndarray]]
]
#: ``act(obs [b, *obs_shape] float32, episodes [b] int64) -> actions [b, ...]``: what
#: :meth:`VectorSampler.run_episodes` calls (``episodes[j]``: the episode index of row ``j``).
EpisodeActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: ``value_fn(obs [K, *obs_shape][, state]) -> values [K]`` (``state``: recurrent policies' bootstrap state).
ValueFn = Callable[..., np.ndarray]

#: Prefix of the columns holding, per step, the recurrent state fed to the policy:
#: ``state_in_0``, ``state_in_1``, ... (one per state tensor, ``[T, N, *state_shape_j]``).
STATE_IN_PREFIX = "state_in_"


#: :meth:`VectorSampler.run_episodes` pushes the observations it fed into the filter in chunks of this size.
_FILTER_CHUNK_BYTES = 64 * 2**20


class EpisodeRuns(NamedTuple):
    """What :meth:`VectorSampler.run_episodes` returns, indexed by episode: ``returns`` (float64
    ``[E]``, the sums of the env's rewards), ``lengths`` (int64 ``[E]``) and ``steps`` (their sum)."""

    returns: np.ndarray
    lengths: np.ndarray
    steps: int


_DICT_TYPES = frozenset({dict})
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Fragment:
    """``T`` steps of ``N`` envs, time-major (``[T, N, ...]``), plus what bootstrapping needs.

    ``columns`` holds obs, actions, rewards, terminateds, truncateds, eps_id and, when sampled
    with a recurrent state, ``state_in_{j}`` (the state fed to the policy at each step).
    ``bootstrap_obs[k]`` is the (filtered) observation that followed step ``bootstrap_index[k]``
    (a ``(t, env)`` pair) where that observation is not the next row's: the final observation of
    a truncated episode and the observation after the fragment's last step. Its frame stack
    holds frames of the episode that step belongs to only. ``bootstrap_state[j][k]`` is the
    recurrent state after that step (state tensor ``j``; empty list without recurrent state).
    ``next_obs`` (with ``keep_next_obs``): the observation after each step, final observations
    at episode ends.
    """

    columns: dict[str, np.ndarray]
    bootstrap_obs: np.ndarray
    bootstrap_index: np.ndarray  # [K, 2] int
    next_obs: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    bootstrap_state: list[np.ndarray] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, N)``."""
        t, n = self.columns[sb.REWARDS].shape
        return int(t), int(n)

    def dones(self) -> np.ndarray:
        """``[T, N]`` bool: the steps that end an episode (terminated or truncated)."""
        return np.asarray(self.columns[sb.TERMINATEDS], bool) | np.asarray(self.columns[sb.TRUNCATEDS], bool)

    def take(self, env: int, start: int = 0, stop: int | None = None) -> Fragment:
        """Env ``env``'s steps ``start:stop`` as a one-env fragment ``[stop - start, 1]``, with the
        bootstrap entries (and states) of those steps, re-indexed. Raises ValueError for an empty range."""
        t_len, _ = self.shape
        stop = t_len if stop is None else stop
        if not 0 <= start < stop <= t_len:
            raise ValueError(f"take({env}, {start}, {stop}): not a non-empty range of a fragment of {t_len} steps")
        rows, cols = slice(start, stop), slice(env, env + 1)
        t_idx, e_idx = self.bootstrap_index[:, 0], self.bootstrap_index[:, 1]
        keep = (e_idx == env) & (t_idx >= start) & (t_idx < stop)
        index = np.stack([t_idx[keep] - start, np.zeros(int(keep.sum()), np.int64)], axis=1).astype(np.int64)
        return Fragment(
            {k: v[rows, cols].copy() for k, v in self.columns.items()},
            self.bootstrap_obs[keep],
            index.reshape(-1, 2),
            None if self.next_obs is None else self.next_obs[rows, cols].copy(),
            {k: v[rows, cols].copy() for k, v in self.extras.items()},
            [s[keep] for s in self.bootstrap_state],
        )


def concat_fragments(pieces: Sequence[Fragment]) -> Fragment:
    """Fragments of the same envs ``[T_k, N]`` joined in time: ``[sum T_k, N]``.

    A piece's last step that ends no episode is continued by the next piece's first step (the
    same env's next step, or, where the pieces are whole episodes of different envs, never the
    case), so its fragment-end bootstrap entry is dropped; truncated episodes' entries are kept.
    ``next_obs`` is kept when every piece has it. Raises ValueError for no pieces or pieces of
    different widths.
    """
    if not pieces:
        raise ValueError("concat_fragments needs at least one fragment")
    if len(pieces) == 1:
        return pieces[0]
    widths = {p.shape[1] for p in pieces}
    if len(widths) != 1:
        raise ValueError(f"concat_fragments: fragments of different numbers of envs {sorted(widths)}")
    boot_obs: list[np.ndarray] = []
    boot_idx: list[np.ndarray] = []
    boot_state: list[list[np.ndarray]] = [[] for _ in pieces[0].bootstrap_state]
    offset = 0
    for k, piece in enumerate(pieces):
        t_len, _ = piece.shape
        index = piece.bootstrap_index
        keep = np.ones(len(index), bool)
        if k < len(pieces) - 1:  # the fragment-end entries of episodes the next piece continues
            last = index[:, 0] == t_len - 1
            keep &= ~(last & ~piece.dones()[t_len - 1][index[:, 1]])
        boot_obs.append(piece.bootstrap_obs[keep])
        boot_idx.append(index[keep] + np.array([offset, 0], np.int64))
        for j, s in enumerate(piece.bootstrap_state):
            boot_state[j].append(s[keep])
        offset += t_len
    first = pieces[0]
    has_next = all(p.next_obs is not None for p in pieces)
    return Fragment(
        {k: np.concatenate([p.columns[k] for p in pieces]) for k in first.columns},
        np.concatenate(boot_obs),
        np.concatenate(boot_idx).reshape(-1, 2),
        np.concatenate([p.next_obs for p in pieces]) if has_next else None,
        {k: np.concatenate([p.extras[k] for p in pieces]) for k in first.extras},
        [np.concatenate(parts) for parts in boot_state],
    )


def flatten_env_major(x: np.ndarray) -> np.ndarray:
    """``[T, N, ...] -> [N * T, ...]`` with each env's steps contiguous (episodes stay in order)."""
    return np.ascontiguousarray(np.swapaxes(x, 0, 1)).reshape((-1, *x.shape[2:]))


class ObservationPipeline:
    """The observation and action side of acting, without envs: one implementation shared by
    :class:`VectorSampler` (sampling, ``Trainer.compute_action``) and
    :class:`rlcore.inference.LoadedPolicy` (a checkpoint acting with numpy alone).

    Raw observations of ``observation_space`` are checked (the env's rule), batched,
    preprocessed (``preprocessor``: a catalog preprocessor, stateful for frame stacks; None: cast
    to float32) and filtered (``obs_filter``, or ``filter_factory(obs_shape)``; NoFilter when
    neither); the policy's actions become what an env of ``action_space`` takes
    (:meth:`to_env_actions`: clipped with ``clip_actions``, shifted by ``start``, Tuple/Dict
    structured). Raises :class:`~rlcore.errors.ConfigError` naming ``env_name`` for an action
    space with an unsupported part.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        preprocessor: Any = None,
        obs_filter: NoFilter | None = None,
        filter_factory: Callable[[tuple[int, ...]], NoFilter] | None = None,
        clip_actions: bool = True,
        check_obs: bool = True,
        env_name: str = "env",
    ) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.preprocessor = preprocessor
        if preprocessor is not None:
            self.obs_shape: tuple[int, ...] = tuple(preprocessor.shape)
        else:
            self.obs_shape = tuple(observation_space.shape or ())
        if obs_filter is None and filter_factory is not None:
            obs_filter = filter_factory(self.obs_shape)
        self.obs_filter = obs_filter if obs_filter is not None else NoFilter()
        self.check_obs = check_obs
        self.obs_check = BatchObservationCheck(observation_space)
        self.array_obs = _is_array_space(observation_space)
        self.stateful = preprocessor is not None and bool(getattr(preprocessor, "is_stateful", False))
        # Discrete actions go to the envs as Python ints (gymnasium checks those fastest).
        self.int_actions = not _is_box(action_space) and action_space.shape == ()
        self._clip = None
        if clip_actions and _is_box(action_space):
            self._clip = (action_space.low, action_space.high)
        # Policies act with 0-based indices; Discrete/MultiDiscrete spaces may start elsewhere.
        start = getattr(action_space, "start", None)
        self._action_start = None if start is None or not np.any(start) else np.asarray(start)
        # Tuple / Dict action spaces: flat policy actions [N, D] go to each env in the space's structure.
        from rlcore.models.catalog import composite_action_spec

        try:
            composite = composite_action_spec(action_space)
        except ConfigError as exc:  # an unsupported part: named with the env it comes from
            raise ConfigError(f"env {env_name!r}: {exc}") from None
        self._composite_actions = None
        if composite is not None:
            from rlcore.action_dist import CompositeActions

            self._composite_actions = CompositeActions(composite, bool(clip_actions))

    def as_array(self, raw: list[Any]) -> Any:
        """``raw`` as one array for array spaces (None for other spaces and ragged rows: the
        observation check says which row is wrong)."""
        if self.array_obs:
            try:
                return np.asarray(raw)
            except (TypeError, ValueError):
                return None
        return None

    def transform(self, raw: list[Any], batch: Any, state: np.ndarray | None) -> np.ndarray:
        """Preprocess checked raw observations (``batch``: :meth:`as_array` of them, or None) into
        float32 ``[B, *obs_shape]``, advancing ``state`` (a stateful preprocessor's rows; None
        for a fresh one). Unfiltered."""
        if batch is None:
            if self.preprocessor is None:
                return np.asarray(raw, dtype=np.float32)
            batch = batch_obs(raw, self.observation_space)
        prep = self.preprocessor
        if prep is None:
            return np.asarray(batch).astype(np.float32, copy=False)
        if self.stateful:
            return np.asarray(prep.transform_batch(batch, state), dtype=np.float32)
        return np.asarray(prep.transform_batch(batch), dtype=np.float32)

    def to_env_actions(self, actions: np.ndarray) -> Any:
        """Policy actions as the env takes them: clipped to a Box's bounds (with ``clip_actions``),
        shifted by a Discrete or MultiDiscrete space's ``start``. For a Tuple or Dict action space
        the flat actions ``[N, D]`` become a list of N actions in the space's own structure (see
        :func:`rlcore.action_dist.structured_actions`)."""
        if self._composite_actions is not None:
            return self._composite_actions(actions)
        if self._clip is not None:
            return np.clip(actions, *self._clip)
        if self._action_start is not None:
            return actions + self._action_start
        return actions

    # ------------------------------------------------------------------ acting
    def new_acting_state(self, batch_size: int = 1) -> np.ndarray:
        """A fresh preprocessor state for acting on ``batch_size`` envs (a new episode each).

        float32 ``[batch_size, state_size]`` (``[batch_size, 0]`` for stateless preprocessing),
        owned by the caller and advanced by :meth:`compute_obs`; separate from a sampler's own
        per-env state. Pass a fresh one (or :meth:`reset_acting_state`) when an episode starts.
        """
        if not self.stateful:
            if batch_size < 0:
                raise ValueError(f"batch_size must be >= 0, got {batch_size}")
            return np.zeros((int(batch_size), 0), np.float32)
        state: np.ndarray = self.preprocessor.initial_state(batch_size)
        return state

    def reset_acting_state(self, state: np.ndarray, rows: Sequence[int] | np.ndarray | None = None) -> None:
        """Start new episodes in the given rows (all when None) of an acting state, in place."""
        if self.stateful:
            self.preprocessor.reset_state(state, rows)

    def compute_obs(self, raw_obs: Any, state: np.ndarray | None = None) -> np.ndarray:
        """Check, preprocess and filter raw observations for acting: float32 ``[B, *obs_shape]``.

        ``raw_obs``: one raw observation per env (a list, or an array ``[B, ...]`` for array
        spaces). ``state``: an acting state from :meth:`new_acting_state` (``[B, state_size]``),
        advanced in place, so consecutive calls with it stack the frames of one episode per row.
        None: a fresh state for this call only (each row a new episode). Filter statistics are
        not updated, and a sampler's own state is never touched. The caller holds the whole
        acting state, a recurrent policy's state too; a rollout loop::

            prep_state = runner.new_acting_state(1)
            rnn_state = [s[None] for s in policy.initial_state()]
            obs, _ = env.reset()
            while True:
                x = runner.compute_obs([obs], prep_state)  # [1, *obs_shape]
                actions, rnn_state, _ = policy.compute_actions(x, rnn_state, explore=False)
                obs, _, terminated, truncated, _ = env.step(runner.to_env_actions(actions)[0])
                if terminated or truncated:  # a new episode: fresh states
                    obs, _ = env.reset()
                    runner.reset_acting_state(prep_state)  # or runner.new_acting_state(1)
                    rnn_state = [s[None] for s in policy.initial_state()]

        Raises :class:`~rlcore.model_policy.RecurrentStateError` (a ValueError) if ``state`` is
        not ``[B, state_size]`` (one row per observation; not another policy's), and
        :class:`~rlcore.env_checks.ObservationArgumentError` for ``raw_obs`` that is not a batch
        of observations of the observation space (naming the row and what is wrong).
        """
        raw = self.acting_batch(raw_obs)
        width = int(self.preprocessor.state_size) if self.stateful else 0
        if state is not None and (not isinstance(state, np.ndarray) or state.shape != (len(raw), width)):
            from rlcore.model_policy import RecurrentStateError  # a ValueError too

            raise RecurrentStateError(acting_state_misfit(state, len(raw), width))
        return self.obs_filter(self.transform(raw, self.as_array(raw), state if self.stateful else None), update=False)

    def acting_batch(self, raw_obs: Any, argument: str = "obs") -> list[Any]:
        """A caller's batch of raw observations as a list of observations, each checked against the
        observation space (the same rule as the env's). Raises :class:`ObservationArgumentError`
        naming ``argument``, the expected shape and what was wrong (one observation where a batch
        is expected, a row of another shape or outside the space)."""
        space = self.observation_space
        expected = self._expected_batch()
        if not is_observation_batch(raw_obs, space):
            single = observation_problem(raw_obs, space) is None
            got = _describe(raw_obs)
            raise ObservationArgumentError(
                f"{argument} must be a batch of observations of {space}: {expected}; got {got}"
                + (f", which is one observation: pass [{argument}]" if single else "")
            )
        raw = raw_obs if isinstance(raw_obs, list) else list(raw_obs)
        if not raw:
            raise ObservationArgumentError(
                f"{argument} is an empty batch (no observations) for {space}: pass {expected}, B >= 1"
            )
        if self.check_obs:
            bad = self.obs_check.check(raw)
            if bad is not None:
                row, why = bad
                raise ObservationArgumentError(
                    f"{argument}[{row}] is not an observation of {space}: {why} "
                    f"(got {short(raw[row])}); {argument} must be {expected}"
                )
        return raw

    def _expected_batch(self) -> str:
        space = self.observation_space
        if _is_array_space(space):
            dims = ", ".join(["B", *(str(d) for d in (space.shape or ()))])
            return f"an array [{dims}] (or a list of B observations)"
        return "a list of B observations"

    def check_observation(self, obs: Any, argument: str = "obs") -> None:
        """Check one raw observation of the observation space (what ``compute_action`` takes).
        Raises :class:`~rlcore.env_checks.ObservationArgumentError` naming ``argument``, what is
        wrong and the expected shape."""
        why = observation_problem(obs, self.observation_space)
        if why is not None:
            shape = self.observation_space.shape
            want = f" of shape {tuple(shape)}" if shape is not None and shape != () else ""
            raise ObservationArgumentError(
                f"{argument} is not an observation of {self.observation_space}: {why} (got {short(obs)}); "
                f"pass one raw observation{want} as the env returns it"
            )

    def single_batch(self, obs: Any) -> Any:
        """One raw observation as a batch of one: ``[obs]`` for Tuple/Dict spaces (or structured
        values), else an array ``[1, ...]``."""
        structured = type(self.observation_space).__name__ in ("Tuple", "Dict")
        return [obs] if structured or isinstance(obs, tuple | dict) else np.asarray(obs)[None]


class VectorSampler:
    """Steps ``num_envs`` copies of an env with a batched policy.

    ``env_creator(env_config)`` builds one env; env ``i`` of worker ``w`` is first reset with
    seed ``seed + 1000 * w + i`` (or unseeded when ``seed`` is None). ``preprocessor`` is a
    catalog preprocessor (``transform_batch``/``shape``, and the state methods when
    ``is_stateful``) or None; ``obs_filter`` normalizes the preprocessed observations (its
    statistics update while sampling, once per observation fed to the policy; final
    observations are filtered without updating). The factories build them from the env's
    observation space (and the preprocessed shape) instead.

    The sampler owns one row of preprocessor state per env (:attr:`prep_state`) and, once
    :meth:`sample` was given an ``initial_state``, one row of recurrent state per env
    (:attr:`recurrent_state`); both persist across fragments and are reset per env at that
    env's episode end.

    ``horizon`` (None: no limit): an episode that reaches that many steps ends there as
    truncated (bootstrapped like gymnasium's time limit) and its env is reset.
    """

    def __init__(
        self,
        env_creator: Callable[[dict[str, Any]], Any],
        env_config: dict[str, Any] | None = None,
        *,
        num_envs: int = 1,
        preprocessor: Any = None,
        obs_filter: NoFilter | None = None,
        preprocessor_factory: Callable[[Any], Any] | None = None,
        filter_factory: Callable[[tuple[int, ...]], NoFilter] | None = None,
        seed: int | None = None,
        worker_index: int = 0,
        clip_actions: bool = True,
        env_name: str = "env",
        check_obs: bool = True,
        horizon: int | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
            raise ConfigError(f"horizon must be an int >= 1 or None, got {horizon!r}")
        self.horizon = horizon
        self.num_envs = num_envs
        self.env_name = env_name
        self.worker_index = worker_index
        self._total_steps = 0
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._run_clock: list[Any] | None = None  # run_episodes' [step, start per env], for error messages
        self.envs: list[Any] = []
        try:
            self._setup(
                env_creator,
                env_config,
                preprocessor,
                obs_filter,
                preprocessor_factory,
                filter_factory,
                seed,
                clip_actions,
                check_obs,
            )
        except BaseException:
            self._close_quietly()  # the envs built before the failure are released
            raise

    def _setup(
        self,
        env_creator: Callable[[dict[str, Any]], Any],
        env_config: dict[str, Any] | None,
        preprocessor: Any,
        obs_filter: NoFilter | None,
        preprocessor_factory: Callable[[Any], Any] | None,
        filter_factory: Callable[[tuple[int, ...]], NoFilter] | None,
        seed: int | None,
        clip_actions: bool,
        check_obs: bool,
    ) -> None:
        num_envs, worker_index = self.num_envs, self.worker_index
        for i in range(num_envs):
            self.envs.append(self._create(env_creator, env_config, i))
        self._env_steps = [env.step for env in self.envs]  # bound once: self.envs is fixed from here on
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        if preprocessor is None and preprocessor_factory is not None:
            preprocessor = preprocessor_factory(self.observation_space)
        pipeline = self.pipeline = ObservationPipeline(
            self.observation_space,
            self.action_space,
            preprocessor=preprocessor,
            obs_filter=obs_filter,
            filter_factory=filter_factory,
            clip_actions=clip_actions,
            check_obs=check_obs,
            env_name=self.env_name,
        )
        # the hot path reads these as attributes: the pipeline's objects, shared
        self.preprocessor = pipeline.preprocessor
        self.obs_shape: tuple[int, ...] = pipeline.obs_shape
        self.obs_filter = pipeline.obs_filter
        self.check_obs = check_obs
        self._obs_check = pipeline.obs_check
        self._int_actions = pipeline.int_actions
        self._next_eps_id = worker_index << 32
        self._eps_ids = np.zeros(num_envs, dtype=np.int64)
        self._returns = np.zeros(num_envs, dtype=np.float64)  # float64: long episodes sum exactly
        self._metrics: list[EpisodeMetrics] = []
        # Per-env preprocessor state (frame stacks), [N, state_size]; None for stateless ones.
        self._prep_state: np.ndarray | None = preprocessor.initial_state(num_envs) if pipeline.stateful else None
        # Per-env recurrent policy state, [N, *state_shape_j] per tensor j; set by sample().
        self._rnn_state: list[np.ndarray] | None = None
        self._rnn_init: list[np.ndarray] = []  # the initial_state of the last recurrent sample()
        raw = []
        for i, env in enumerate(self.envs):
            raw.append(self._reset(i, seed=None if seed is None else seed + 1000 * worker_index + i))
            if seed is not None:
                env.action_space.seed(seed + 1000 * worker_index + i)
            self._eps_ids[i] = self._new_eps_id()
        prep = self._prep(raw, self._prep_state, call="reset()")
        self._obs = self.obs_filter(prep)
        self._mark_fresh(prep, counted=True)  # the filter has counted these first observations

    # ------------------------------------------------------------------ helpers
    def _mark_fresh(self, prep: np.ndarray, *, counted: bool) -> None:
        """Every env was just reset and ``prep`` holds their preprocessed (unfiltered) observations:
        :meth:`run_episodes` starts its episodes there while no step was taken since. ``counted``:
        whether the observation filter has already counted them (each observation fed to the
        policy is counted once: :meth:`run_episodes` then leaves them out of its push, and
        :meth:`sample` counts them when it starts from uncounted ones)."""
        self._fresh: tuple[int, np.ndarray, bool] | None = (self._total_steps, prep.copy(), counted)

    def _fresh_prep(self) -> tuple[np.ndarray, bool] | None:
        """The fresh first observations and whether the filter counted them (None once stepped)."""
        fresh = self._fresh
        return (fresh[1], fresh[2]) if fresh is not None and fresh[0] == self._total_steps else None

    def _count_fresh(self) -> None:
        """Count the fresh first observations in the filter if it has not yet (:meth:`sample` feeds
        them to the policy next)."""
        fresh = self._fresh
        if fresh is not None and not fresh[2] and fresh[0] == self._total_steps:
            self.obs_filter(fresh[1], update=True)
            self._fresh = (fresh[0], fresh[1], True)

    def _new_eps_id(self) -> int:
        self._next_eps_id += 1
        return self._next_eps_id

    def _prep(
        self,
        raw: list[Any],
        state: np.ndarray | None,
        env_ids: Sequence[int] | None = None,
        *,
        call: str | None = "step()",
    ) -> np.ndarray:
        """Check and preprocess a list of raw observations into a batch, advancing ``state``
        (rows matching ``raw``; None for a stateless preprocessor or a fresh one).
        ``env_ids`` names the env of each row in error messages (default: the row); ``call``
        the env call that returned them (None: a caller's observations, checked already)."""
        pipeline = self.pipeline
        batch = pipeline.as_array(raw)
        if self.check_obs and call is not None:
            bad = self._obs_check.check(raw, batch)
            if bad is not None:
                row, why = bad
                self._bad_obs(raw[row], _env_id(row, env_ids), why, call)
        return pipeline.transform(raw, batch, state)

    def _where(self) -> str:
        return f"env {self.env_name!r} (worker {self.worker_index}) after {self._total_steps} sampled steps"

    def _bad_obs(self, obs: Any, env: int, why: str, call: str) -> None:
        if why == "it is not finite":
            what = f"env {env} returned a non-finite observation {short(obs)} from {call}"
        else:
            what = f"observation {short(obs)} of env {env} is outside {self.observation_space} ({why}; from {call})"
        raise EnvObservationError(
            f"{self._where()}: {what}. Fix the env, or declare an observation_space that holds what it returns."
        )

    def _create(self, creator: Callable[[dict[str, Any]], Any], env_config: dict[str, Any] | None, i: int) -> Any:
        """Env ``i`` from ``creator(env_config)``, checked: an object with reset/step and gymnasium
        spaces, the same spaces as env 0; the creator's own exception becomes an EnvError."""

        where = f"env {self.env_name!r} (worker {self.worker_index})"
        try:
            env = creator(dict(env_config or {}))
        except RLCoreError:  # already says what is wrong (an unknown env_config key...)
            raise
        except ENV_FAULTS as exc:
            hint = ""
            if isinstance(exc, TypeError) and not _takes_one_argument(creator):
                hint = "; an env creator takes one argument, the env_config dict: creator(env_config) -> gymnasium.Env"
            raise EnvError(
                f"{where}: the env creator {_callable_name(creator)} raised {one_line(exc)} building env {i} "
                f"with env_config {short(env_config or {}, 200)}{hint} (its traceback is this error's cause, above)"
            ) from exc
        why = env_problem(env)
        if why is not None:
            raise EnvError(f"{where}: the env creator {_callable_name(creator)} {why} (building env {i})")
        for attr in ("observation_space", "action_space"):
            space = getattr(env, attr)
            if self.envs and space != getattr(self.envs[0], attr):
                raise EnvError(
                    f"{where}: env {i}'s {attr} {space} differs from env 0's {getattr(self.envs[0], attr)}; "
                    "every env of a worker must have the same spaces (make them independent of randomness)"
                )
        return env

    def _env_raised(self, i: int, call: str, exc: BaseException, action: Any = None) -> EnvError:
        at = hint = ""
        if call.startswith("step"):
            at = f" at step {self._episode_step(i) + 1} of its episode"
            try:
                inside = bool(self.action_space.contains(action))
            except Exception:  # noqa: BLE001 - only a hint
                inside = True
            if not inside:
                hint = f"; the action {short(action, 60)} is outside the action space {self.action_space}"
        elif isinstance(exc, TypeError) and ("'seed'" in str(exc) or "'options'" in str(exc)):
            hint = f"; gymnasium's reset takes the keywords seed and options. {GYMNASIUM_API}"
        return EnvError(
            f"{self._where()}: env {i} raised {one_line(exc)} in {call}{at}{hint} "
            "(the env's traceback is this error's cause, above)"
        )

    def _reset(self, i: int, **kwargs: Any) -> Any:
        """Reset env ``i``; its observation (checked later with the others), or an EnvError."""
        try:
            result = self.envs[i].reset(**kwargs)
        except ENV_FAULTS as exc:
            raise self._env_raised(i, "reset()", exc) from exc
        why = reset_result_problem(result)
        if why is not None:
            raise EnvError(f"{self._where()}: env {i}'s {why}")
        return result[0]

    def _step(self, env_actions: Sequence[Any] | np.ndarray, env_ids: Sequence[int] | None = None) -> list[Any]:
        """Step every env (or the envs ``env_ids``, one action each); an exception of env ``i``
        becomes an EnvError naming it."""
        steps = self._env_steps if env_ids is None else [self._env_steps[i] for i in env_ids]
        if len(env_actions) != len(steps):
            raise ValueError(f"policy_fn returned {len(env_actions)} actions for {len(steps)} envs")
        results: list[Any] = []
        try:  # list.extend keeps what map produced before an env raised: its length is that env's row
            results.extend(map(operator.call, steps, env_actions))
        except ENV_FAULTS as exc:
            row = len(results)
            i = _env_id(row, env_ids)
            raise self._env_raised(i, f"step({short(env_actions[row], 60)})", exc, env_actions[row]) from exc
        return results

    def _unpack_step(
        self, results: list[Any], env_actions: Sequence[Any] | np.ndarray, env_ids: Sequence[int] | None = None
    ) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
        """``(observations, rewards, terminateds, truncateds)`` of the envs' step() results, checked.

        The checks of the hot path, a few C-level calls per step of every env: one sum checks that
        every reward is a real number, finite as a float32 (rewards are kept as float32), one set
        test that the flags are bools and one that the infos are dicts. When they fail, the slow
        path raises an EnvError naming the env (``env_ids[row]``; default the row) and what it returned.
        """
        try:
            raw_tuple, step_rewards, step_terms, step_truncs, infos = zip(*results, strict=True)
            total = sum(step_rewards)
            valid = (
                not isinstance(total, np.ndarray)
                and -_F32_MAX <= total <= _F32_MAX  # NaN, infinities, beyond float32 fail
                and FLAG_TYPES.issuperset(map(type, step_terms + step_truncs))
                and _DICT_TYPES.issuperset(map(type, infos))
            )
        except (TypeError, ValueError, OverflowError):
            valid = False
        if not valid:  # say which env returned what (or go on: a dict subclass as info...)
            self._check_step_results(results, env_actions, env_ids)
            raw_tuple, step_rewards, step_terms, step_truncs, infos = zip(*results, strict=True)
            step_rewards = tuple(float(r) for r in step_rewards)
        return raw_tuple, step_rewards, step_terms, step_truncs

    def _check_step_results(
        self, results: list[Any], env_actions: Sequence[Any] | np.ndarray, env_ids: Sequence[int] | None = None
    ) -> None:
        """Raise an EnvError for the first env whose step() result is not gymnasium's 5-tuple of
        valid values (the slow path: only when the vectorized checks failed)."""
        for row, result in enumerate(results):
            why = step_result_problem(result)
            i = _env_id(row, env_ids)
            if why is not None:
                raise EnvError(
                    f"{self._where()}: env {i}'s {why} (step {self._episode_step(i) + 1} of its episode, "
                    f"action {short(env_actions[row], 60)}). Fix the env's step()"
                )

    # ------------------------------------------------------------------ public
    def sample(
        self,
        policy_fn: PolicyFn | RecurrentPolicyFn,
        num_steps: int,
        *,
        keep_next_obs: bool = False,
        initial_state: Sequence[np.ndarray] | None = None,
    ) -> Fragment:
        """Step every env ``num_steps`` times; returns the time-major fragment ``[T, N, ...]``.

        Without ``initial_state``, ``policy_fn(obs [N, *obs_shape]) -> (actions, extras)``.
        With it (one ``[*state_shape_j]`` array per state tensor, ``policy.initial_state()``;
        may be empty), ``policy_fn(obs, state [[N, *state_shape_j]]) -> (actions, state_out,
        extras)``: the sampler keeps each env's state across steps and fragments, records the
        state fed in as ``state_in_{j}`` columns, and resets env ``i``'s rows to
        ``initial_state`` after the step that ends its episode. ``keep_next_obs`` fills
        :attr:`Fragment.next_obs`.

        Raises :class:`EnvObservationError` for an observation that is not finite or outside the
        observation space, and ValueError for a ``state_out`` or ``initial_state`` whose shapes
        differ from the state kept (``[N, *state_shape_j]`` per tensor).
        """
        n, t_max = self.num_envs, num_steps
        if t_max < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        try:
            obs_buf = np.empty((t_max, n, *self._obs.shape[1:]), dtype=np.float32)
            rewards = np.empty((t_max, n), dtype=np.float32)
            terms = np.zeros((t_max, n), dtype=bool)
            truncs = np.zeros((t_max, n), dtype=bool)
            eps = np.empty((t_max, n), dtype=np.int64)
            next_obs = np.empty_like(obs_buf) if keep_next_obs else None
        except MemoryError:
            per_step = n * (4 * int(np.prod(self._obs.shape[1:])) * (2 if keep_next_obs else 1) + 14)
            raise ConfigError(
                f"env {self.env_name!r} (worker {self.worker_index}): a fragment of {t_max} steps x {n} envs "
                f"(observations of shape {tuple(self._obs.shape[1:])}) needs {t_max * per_step / 2**30:.1f} GiB, "
                "more than this process can allocate; lower rollout_fragment_length (or num_envs_per_worker)"
            ) from None
        actions_buf: np.ndarray | None = None
        extras: dict[str, np.ndarray] = {}
        boot_obs: list[np.ndarray] = []
        boot_idx: list[tuple[int, int]] = []
        fn: Any = policy_fn  # either form; `recurrent` says which
        prep_state = self._prep_state
        recurrent = initial_state is not None
        init: list[np.ndarray] = []
        rnn: list[np.ndarray] = []
        state_in: list[np.ndarray] = []
        boot_state: list[list[np.ndarray]] = []
        if initial_state is not None:
            init = [np.asarray(s) for s in initial_state]
            self._rnn_init = init
            rnn = self._recurrent_state_for(init)
            state_in = [np.empty((t_max, *s.shape), dtype=s.dtype) for s in rnn]
            boot_state = [[] for _ in rnn]
        self._count_fresh()
        for t in range(t_max):
            obs = self._obs
            obs_buf[t] = obs
            eps[t] = self._eps_ids
            if recurrent:
                for j, s in enumerate(rnn):
                    state_in[j][t] = s
                actions, state_out, ext = fn(obs, rnn)
                rnn = self._check_state_out(state_out, rnn)
            else:
                actions, ext = fn(obs)
            if actions_buf is None:
                actions_buf = np.empty((t_max, *actions.shape), dtype=actions.dtype)
                extras = {k: np.empty((t_max, *v.shape), dtype=v.dtype) for k, v in ext.items()}
            actions_buf[t] = actions
            for k, v in ext.items():
                extras[k][t] = v
            env_actions = self.to_env_actions(actions)
            if self._int_actions:
                env_actions = env_actions.tolist()
            raw_tuple, step_rewards, step_terms, step_truncs = self._unpack_step(self._step(env_actions), env_actions)
            rewards[t] = step_rewards
            self._returns += rewards[t]
            self._lengths += 1
            self._total_steps += n
            if self.horizon is not None and int(self._lengths.max()) >= self.horizon:
                # episodes at the horizon end here, truncated (those that terminated stay terminated)
                at_horizon = (self._lengths >= self.horizon) & ~np.asarray(step_terms, bool)
                step_truncs = tuple((at_horizon | np.asarray(step_truncs, bool)).tolist())
            # Every env's next frame, final observations included: env i's final observation
            # extends the stack of the episode that just ended (and only that one).
            new_obs = self._prep(list(raw_tuple), prep_state)
            if any(step_terms) or any(step_truncs):
                terms[t] = step_terms
                truncs[t] = step_truncs
                done = np.flatnonzero(terms[t] | truncs[t])
                ended = done.tolist()
                reset_raw = []
                for i in ended:
                    self._metrics.append(EpisodeMetrics(float(self._returns[i]), int(self._lengths[i])))
                    self._returns[i] = 0.0
                    self._lengths[i] = 0
                    self._eps_ids[i] = self._new_eps_id()
                    reset_raw.append(self._reset(i))
                final_obs = new_obs[done]  # a copy, before the reset rows replace them
                if prep_state is not None:  # fresh stacks for the ended envs only
                    self.preprocessor.reset_state(prep_state, done)
                    rows = prep_state[done]
                    new_obs[done] = self._prep(reset_raw, rows, ended, call="reset()")
                    prep_state[done] = rows
                else:
                    new_obs[done] = self._prep(reset_raw, None, ended, call="reset()")
                new_obs = self.obs_filter(new_obs)
                final_obs = self.obs_filter(final_obs, update=False)
                trunc_rows = truncs[t, done]
                for j, (i, truncated) in enumerate(zip(ended, trunc_rows.tolist(), strict=True)):
                    if truncated:
                        boot_obs.append(final_obs[j])
                        boot_idx.append((t, i))
                if next_obs is not None:
                    next_obs[t, done] = final_obs
                if recurrent:
                    trunc_envs = done[trunc_rows]
                    rnn = [s.copy() for s in rnn]  # the policy may still hold the arrays it returned
                    for j, (s, s0) in enumerate(zip(rnn, init, strict=True)):
                        boot_state[j].append(s[trunc_envs])
                        s[done] = s0
                if next_obs is not None:
                    alive = ~(terms[t] | truncs[t])
                    next_obs[t, alive] = new_obs[alive]
            else:
                new_obs = self.obs_filter(new_obs)
                if next_obs is not None:
                    next_obs[t] = new_obs
            self._obs = new_obs
        last_done = terms[-1] | truncs[-1]
        alive_last = np.flatnonzero(~last_done)
        for j in alive_last.tolist():
            boot_obs.append(self._obs[j])
            boot_idx.append((t_max - 1, j))
        assert actions_buf is not None
        columns = {
            sb.OBS: obs_buf,
            sb.ACTIONS: actions_buf,
            sb.REWARDS: rewards,
            sb.TERMINATEDS: terms,
            sb.TRUNCATEDS: truncs,
            sb.EPS_ID: eps,
        }
        boot_states: list[np.ndarray] = []
        if recurrent:
            self._rnn_state = rnn
            for j, buf in enumerate(state_in):
                columns[f"{STATE_IN_PREFIX}{j}"] = buf
            boot_states = [np.concatenate([*parts, s[alive_last]]) for parts, s in zip(boot_state, rnn, strict=True)]
        boot = np.stack(boot_obs) if boot_obs else np.empty((0, *self._obs.shape[1:]), np.float32)
        index = np.asarray(boot_idx, dtype=np.int64).reshape(-1, 2)
        return Fragment(columns, boot, index, next_obs, extras, boot_states)

    def run_episodes(self, act: EpisodeActFn, num_episodes: int, *, update_filter: bool = True) -> EpisodeRuns:
        """Run exactly ``num_episodes`` complete episodes, each from a fresh (unseeded) reset, over
        ``min(num_envs, num_episodes)`` envs in lock-step, and return their returns and lengths
        (what gradient-free algorithms such as ES evaluate a population with).

        ``act(obs [b, *obs_shape] float32, episodes [b] int64) -> actions [b, ...]``: ``obs`` are
        the preprocessed, filtered observations of the ``b`` envs still running an episode and
        ``episodes[j]`` the index (``0 .. num_episodes - 1``) of the episode row ``j`` belongs to
        (the same array object is passed again until an episode ends, so ``act`` may keep per-row
        data, such as each row's weights, while ``episodes`` is the array it saw last);
        the actions are in the policy's format (0-based ints, float32), converted for the env like
        :meth:`sample` does (Box actions clipped with ``clip_actions``, ``start`` added, composite
        actions structured). An env whose episode ends (terminated, truncated, or at ``horizon``)
        starts the next unassigned episode after a reset (its preprocessor state reset); once
        every episode is assigned it idles and only the envs still running are stepped.

        The observation filter is frozen during the call (observations are filtered without
        updating it); with ``update_filter`` every observation fed to ``act`` is then pushed into
        the filter (its statistics and buffer, as ``obs_filter(obs, update=True)`` does), so remote
        evaluators' buffers merge through the trainer's filter sync. Each observation is counted
        once: the envs' first observations after the sampler was built were counted then, and a
        call that starts from them does not push them again; those of the reset after a call are
        counted by whichever call feeds them next (``run_episodes`` or :meth:`sample`).

        The episodes this sampler was running for :meth:`sample` are abandoned: afterwards every
        env is reset (unseeded), so a later :meth:`sample` starts fresh episodes (and a later
        ``run_episodes`` starts there without resetting again). Episode metrics
        (:meth:`get_metrics`) are not fed; the steps count in :attr:`total_steps`.

        Raises ValueError for a ``num_episodes`` below 1 and for ``act`` returning other than one
        action per observation, and what :meth:`sample` raises for the envs
        (:class:`~rlcore.errors.EnvError` naming the env and the call,
        :class:`~rlcore.env_checks.EnvObservationError`).
        """
        if isinstance(num_episodes, bool) or not isinstance(num_episodes, int | np.integer) or num_episodes < 1:
            raise ValueError(f"run_episodes: num_episodes must be an int >= 1, got {num_episodes!r}")
        try:
            return self._run_episodes(act, int(num_episodes), update_filter)
        except BaseException:
            self._run_clock = None
            self._fresh = None
            with contextlib.suppress(Exception):  # best effort: the error on its way says what went wrong
                self._restart_all()
            raise

    def _run_episodes(self, act: EpisodeActFn, num_episodes: int, update_filter: bool) -> EpisodeRuns:
        # The hot loop of ES. Per step it costs the envs' steps, the filter, the observation check
        # and a few numpy calls on [b] arrays; the bookkeeping that would cost numpy calls per step
        # (lengths, done flags, horizon) is done in Python ints until an episode ends.
        slots = min(self.num_envs, num_episodes)
        returns = np.zeros(num_episodes, np.float64)
        lengths = np.zeros(num_episodes, np.int64)
        frozen = copy.deepcopy(self.obs_filter)
        update_filter = update_filter and type(self.obs_filter) is not NoFilter  # the identity keeps nothing
        pending: list[np.ndarray] = []  # preprocessed observations fed to act, for the filter
        pending_bytes = 0
        prep_state = self._prep_state
        fresh = self._fresh_prep()  # every env was reset and not stepped since: start there
        prep = fresh[0][:slots] if fresh is not None else self._reset_rows(list(range(slots)))
        counted = fresh is not None and fresh[1]  # the first rows are in the filter already: not again
        ret = np.zeros(slots, np.float64)  # the running episode's return, per slot
        start = np.zeros(slots, np.int64)  # the step (of this call) at which each slot's episode started
        clock = self._run_clock = [0, start]  # for error messages: the step of each env's episode
        episode = np.arange(slots, dtype=np.int64)  # the episode each slot runs
        next_episode = slots
        ids = np.arange(slots)  # the slots still running, in order
        all_running = True
        id_list: list[int] | None = None if slots == self.num_envs else ids.tolist()
        episode_arg = episode.copy()
        horizon = self.horizon
        oldest = 0  # the earliest start among running slots
        t = steps = 0
        while len(ids):
            b = len(ids)
            if counted:
                counted = False
            elif update_filter:
                pending.append(prep)
                pending_bytes += prep.nbytes
                if pending_bytes > _FILTER_CHUNK_BYTES:
                    self.obs_filter(np.concatenate(pending), update=True)
                    pending, pending_bytes = [], 0
            actions = np.asarray(act(frozen(prep, update=False), episode_arg))
            if actions.ndim == 0 or len(actions) != b:
                got = "a scalar" if actions.ndim == 0 else f"{len(actions)} actions"
                raise ValueError(f"run_episodes: act returned {got} for {b} observations; return one action per row")
            env_actions = self.to_env_actions(actions)
            if self._int_actions:
                env_actions = env_actions.tolist()
            clock[0] = t
            raw_tuple, step_rewards, step_terms, step_truncs = self._unpack_step(
                self._step(env_actions, id_list), env_actions, id_list
            )
            t += 1
            steps += b
            self._total_steps += b
            if all_running:
                ret += step_rewards
                state = None if prep_state is None else prep_state[:slots]  # a view: advanced in place
                new_prep = self._prep(list(raw_tuple), state, id_list)
            else:
                ret[ids] += step_rewards
                state = None if prep_state is None else prep_state[ids]
                new_prep = self._prep(list(raw_tuple), state, id_list)
                if state is not None:
                    prep_state[ids] = state  # type: ignore[index]
            if any(step_terms) or any(step_truncs) or (horizon is not None and t - oldest >= horizon):
                done = np.asarray(step_terms, bool) | np.asarray(step_truncs, bool)
                if horizon is not None:
                    done |= t - start[ids] >= horizon
                ended_rows = np.flatnonzero(done)
                ended = ids[ended_rows]
                returns[episode[ended]] = ret[ended]
                lengths[episode[ended]] = t - start[ended]
                restart = ended[: max(0, num_episodes - next_episode)]
                if len(restart):
                    episode[restart] = np.arange(next_episode, next_episode + len(restart))
                    next_episode += len(restart)
                    ret[restart] = 0.0
                    start[restart] = t
                    new_prep[ended_rows[: len(restart)]] = self._reset_rows(restart.tolist())
                idle_rows = ended_rows[len(restart) :]
                if len(idle_rows):
                    keep = np.ones(b, bool)
                    keep[idle_rows] = False
                    ids = ids[keep]
                    new_prep = new_prep[keep]
                    all_running = False
                    id_list = ids.tolist()
                episode_arg = episode[ids]
                oldest = int(start[ids].min()) if len(ids) else t
            prep = new_prep
        self._run_clock = None
        if update_filter and pending:
            self.obs_filter(np.concatenate(pending), update=True)
        self._restart_all()
        return EpisodeRuns(returns, lengths, steps)

    def _episode_step(self, i: int) -> int:
        """The steps env ``i``'s running episode has taken (in :meth:`run_episodes` too)."""
        clock = self._run_clock
        if clock is not None:
            return int(clock[0] - clock[1][i])
        return int(self._lengths[i])

    def _reset_rows(self, env_ids: list[int]) -> np.ndarray:
        """Reset the envs ``env_ids`` (unseeded) and their preprocessor state rows; their
        preprocessed (unfiltered) first observations."""
        raw = [self._reset(i) for i in env_ids]
        prep_state = self._prep_state
        if prep_state is None:
            return self._prep(raw, None, env_ids, call="reset()")
        rows = np.asarray(env_ids)
        self.preprocessor.reset_state(prep_state, rows)
        state = prep_state[rows]
        prep = self._prep(raw, state, env_ids, call="reset()")
        prep_state[rows] = state
        return prep

    def _restart_all(self) -> None:
        """Abandon every env's episode: reset all envs (unseeded), their episode ids, returns,
        lengths, preprocessor and recurrent state; a later :meth:`sample` starts fresh episodes."""
        self._fresh = None
        self._returns[:] = 0.0
        self._lengths[:] = 0
        for i in range(self.num_envs):
            self._eps_ids[i] = self._new_eps_id()
        self._rnn_state = None
        prep = self._reset_rows(list(range(self.num_envs)))
        self._mark_fresh(prep, counted=False)  # counted once fed: by run_episodes' push or by sample()
        self._obs = self.obs_filter(prep, update=False)

    def _recurrent_state_for(self, init: list[np.ndarray]) -> list[np.ndarray]:
        """The kept per-env recurrent state ``[[N, *shape_j]]``, created from ``init`` on first use."""
        n = self.num_envs
        if self._rnn_state is None:
            self._rnn_state = [np.repeat(s[None], n, axis=0) for s in init]
        kept = [tuple(s.shape[1:]) for s in self._rnn_state]
        given = [tuple(s.shape) for s in init]
        if kept != given:
            raise ValueError(
                f"initial_state has shapes {given}, the sampler keeps a recurrent state of shapes {kept} "
                "per env; call reset_recurrent_state() before sampling with a policy of another state shape"
            )
        return self._rnn_state

    def _check_state_out(self, state_out: Sequence[np.ndarray], rnn: list[np.ndarray]) -> list[np.ndarray]:
        out = [np.asarray(s) for s in state_out]
        if len(out) != len(rnn) or any(o.shape != s.shape for o, s in zip(out, rnn, strict=False)):
            raise ValueError(
                f"policy_fn returned a state_out of shapes {[o.shape for o in out]}, "
                f"expected {[s.shape for s in rnn]} (the state fed in)"
            )
        return out

    def to_env_actions(self, actions: np.ndarray) -> Any:
        """Policy actions as the env takes them (:meth:`ObservationPipeline.to_env_actions`)."""
        return self.pipeline.to_env_actions(actions)

    # ------------------------------------------------------------------ acting
    def new_acting_state(self, batch_size: int = 1) -> np.ndarray:
        """A fresh preprocessor state for acting (:meth:`ObservationPipeline.new_acting_state`),
        separate from the sampler's own per-env state."""
        return self.pipeline.new_acting_state(batch_size)

    def reset_acting_state(self, state: np.ndarray, rows: Sequence[int] | np.ndarray | None = None) -> None:
        """Start new episodes in the given rows (all when None) of an acting state, in place."""
        self.pipeline.reset_acting_state(state, rows)

    def compute_obs(self, raw_obs: Any, state: np.ndarray | None = None) -> np.ndarray:
        """Check, preprocess and filter raw observations for acting
        (:meth:`ObservationPipeline.compute_obs`); the sampler's own state is never touched."""
        return self.pipeline.compute_obs(raw_obs, state)

    def acting_batch(self, raw_obs: Any, argument: str = "obs") -> list[Any]:
        """A caller's batch of raw observations, checked (:meth:`ObservationPipeline.acting_batch`)."""
        return self.pipeline.acting_batch(raw_obs, argument)

    @property
    def prep_state(self) -> np.ndarray | None:
        """The sampler's per-env preprocessor state ``[N, state_size]`` (None when stateless)."""
        return self._prep_state

    @property
    def recurrent_state(self) -> list[np.ndarray] | None:
        """The sampler's per-env recurrent state ``[[N, *state_shape_j]]`` (None until sampled with one)."""
        return self._rnn_state

    def abandon_episode(self, i: int) -> None:
        """End env ``i``'s running episode without a trace: reset the env, and its episode id, return,
        length, preprocessor state and recurrent state (no metrics, no rows: the caller dropped them).
        Raises :class:`~rlcore.errors.EnvError` when the env's ``reset()`` fails."""
        self._returns[i] = 0.0
        self._lengths[i] = 0
        self._eps_ids[i] = self._new_eps_id()
        self._fresh = None
        raw = [self._reset(i)]
        rows = np.asarray([i])
        if self._prep_state is not None:
            self.preprocessor.reset_state(self._prep_state, rows)
            state = self._prep_state[rows]
            obs = self._prep(raw, state, [i], call="reset()")
            self._prep_state[rows] = state
        else:
            obs = self._prep(raw, None, [i], call="reset()")
        self._obs[rows] = self.obs_filter(obs)
        if self._rnn_state is not None:
            for s, s0 in zip(self._rnn_state, self._rnn_init, strict=True):
                s[i] = s0

    def reset_recurrent_state(self) -> None:
        """Forget the kept recurrent state; the next :meth:`sample` starts every env from its ``initial_state``."""
        self._rnn_state = None

    def get_metrics(self) -> list[EpisodeMetrics]:
        """Episodes finished since the last call."""
        out, self._metrics = self._metrics, []
        return out

    @property
    def total_steps(self) -> int:
        """Env steps taken so far (all envs)."""
        return self._total_steps

    def close(self) -> None:
        """Close every env (all of them, even when one raises). Raises :class:`~rlcore.errors.EnvError`
        naming the first env whose ``close()`` raised, with its exception as the cause."""
        first: tuple[int, Exception] | None = None
        for i, env in enumerate(self.envs):
            try:
                env.close()
            except Exception as exc:  # noqa: BLE001 - the others are closed too, then the first is raised
                first = first or (i, exc)
        if first is not None:
            bad, cause = first
            raise EnvError(
                f"env {self.env_name!r} (worker {self.worker_index}): env {bad} raised {one_line(cause)} in close() "
                "(the env's traceback is this error's cause, above)"
            ) from cause

    def _close_quietly(self) -> None:
        for env in self.envs:
            with contextlib.suppress(Exception):  # an error is already on its way; closing is best effort
                env.close()


def postprocess_gae(
    fragment: Fragment,
    value_fn: ValueFn,
    *,
    gamma: float,
    lambda_: float,
    vf_key: str = sb.VF_PREDS,
) -> SampleBatch:
    """Flatten a fragment into a :class:`SampleBatch` with ``advantages`` and ``value_targets``.

    ``fragment.extras[vf_key]`` holds V(s_t) from sampling; V of the observation after each step
    is the next row's value inside an episode, and ``value_fn`` of the bootstrap observations
    (truncated episodes' final observations and the fragment's last) elsewhere, in one call.
    """
    vf = fragment.extras[vf_key].astype(np.float64)
    next_values = np.zeros_like(vf)
    next_values[:-1] = vf[1:]
    if len(fragment.bootstrap_obs):
        t_idx, e_idx = fragment.bootstrap_index[:, 0], fragment.bootstrap_index[:, 1]
        # a recurrent policy's values need the state it had at each bootstrap observation
        values = value_fn(fragment.bootstrap_obs, fragment.bootstrap_state) if fragment.bootstrap_state else None
        if values is None:
            values = value_fn(fragment.bootstrap_obs)
        next_values[t_idx, e_idx] = np.asarray(values, dtype=np.float64).reshape(-1)
    cols = fragment.columns
    adv, targets = compute_gae(
        cols[sb.REWARDS], vf, next_values, cols[sb.TERMINATEDS], cols[sb.TRUNCATEDS], gamma, lambda_
    )
    out = {k: flatten_env_major(v) for k, v in cols.items()}
    out.update({k: flatten_env_major(v) for k, v in fragment.extras.items()})
    out[sb.ADVANTAGES] = flatten_env_major(adv)
    out[sb.VALUE_TARGETS] = flatten_env_major(targets)
    return SampleBatch(out)


def acting_state_misfit(state: Any, n: int, width: int) -> str:
    """Why ``state`` (an acting state's preprocessor part) does not fit ``n`` observations of a
    preprocessor with ``width`` state values per episode (frame stacks): made for another number of
    episodes, or another policy's, or not an array; and what to do."""
    shape = getattr(state, "shape", None)
    fix = f"make it with new_acting_state({n}) of this policy (the loaded policy's or the trainer's)"
    if isinstance(state, np.ndarray) and state.ndim == 2 and state.shape[1] == width:
        return (
            f"the acting state was made for {state.shape[0]} episode{'s' if state.shape[0] != 1 else ''}, this "
            f"batch has {n} observation{'s' if n != 1 else ''}: {fix}, one row per observation"
        )
    if isinstance(state, np.ndarray) and state.ndim == 2:
        return (
            f"the acting state holds {state.shape[1]} preprocessor values (frame stacks) per episode, this "
            f"policy's preprocessor {width}: it is another policy's; {fix}"
        )
    got = f"an array of shape {tuple(shape)}" if shape is not None else type(state).__name__
    return f"the acting state's preprocessor part must be [{n}, {width}] (episodes, frame stacks), got {got}; {fix}"


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    if shape is not None:
        return f"{type(x).__name__} of shape {tuple(shape)}"
    return f"{type(x).__name__} {short(x, 80)}"


def _env_id(row: int, env_ids: Sequence[int] | None) -> int:
    return row if env_ids is None else int(env_ids[row])


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def _takes_one_argument(fn: Any) -> bool:
    """Whether ``fn(x)`` binds (True too when its signature cannot be read)."""
    import inspect

    try:
        inspect.signature(fn).bind({})
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin)
        return True
    return True


def _is_array_space(space: Any) -> bool:
    """Spaces whose batches are arrays ``[N, *shape]`` (Box, Discrete, MultiDiscrete, MultiBinary)."""
    from gymnasium import spaces

    return isinstance(space, spaces.Box | spaces.Discrete | spaces.MultiDiscrete | spaces.MultiBinary)


def _is_box(space: Any) -> bool:
    from gymnasium import spaces

    return isinstance(space, spaces.Box)
