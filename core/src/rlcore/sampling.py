"""Vectorized sampling shared by every evaluator, whatever its framework.

:class:`VectorSampler` steps ``num_envs`` gymnasium envs in lock-step and asks the policy for a
whole batch of actions at once (one forward pass per step). It preprocesses and filters
observations, checks them, tracks episodes, and returns a time-major :class:`Fragment`.
:func:`postprocess_gae` turns a fragment into a :class:`SampleBatch` with advantages, handling
terminated vs truncated episodes (a truncated episode bootstraps from the value of its final
observation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlcore import sample_batch as sb
from rlcore.errors import RLCoreError
from rlcore.evaluator import EpisodeMetrics
from rlcore.filters import NoFilter
from rlcore.postprocessing import compute_gae
from rlcore.sample_batch import SampleBatch

#: ``policy_fn(obs [N, *obs_shape]) -> (actions [N, ...], extras {name: [N, ...]})``.
PolicyFn = Callable[[np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]
#: ``value_fn(obs [K, *obs_shape]) -> values [K]``.
ValueFn = Callable[[np.ndarray], np.ndarray]


class EnvObservationError(RLCoreError, ValueError):
    """An env returned an observation that is not finite or not inside its observation space."""


@dataclass
class Fragment:
    """``T`` steps of ``N`` envs, time-major (``[T, N, ...]``), plus what bootstrapping needs.

    ``bootstrap_obs[k]`` is the (filtered) observation that followed step ``bootstrap_index[k]``
    (a ``(t, env)`` pair) where that observation is not the next row's: the final observation of
    a truncated episode and the observation after the fragment's last step.
    """

    columns: dict[str, np.ndarray]
    bootstrap_obs: np.ndarray
    bootstrap_index: np.ndarray  # [K, 2] int
    next_obs: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, N)``."""
        t, n = self.columns[sb.REWARDS].shape
        return int(t), int(n)


def flatten_env_major(x: np.ndarray) -> np.ndarray:
    """``[T, N, ...] -> [N * T, ...]`` with each env's steps contiguous (episodes stay in order)."""
    return np.ascontiguousarray(np.swapaxes(x, 0, 1)).reshape((-1, *x.shape[2:]))


class VectorSampler:
    """Steps ``num_envs`` copies of an env with a batched policy.

    ``env_creator(env_config)`` builds one env; env ``i`` of worker ``w`` is first reset with
    seed ``seed + 1000 * w + i`` (or unseeded when ``seed`` is None). ``preprocessor`` is a
    catalog preprocessor (``transform``/``transform_batch``/``shape``) or None; ``obs_filter``
    normalizes the preprocessed observations (its statistics update while sampling). The
    factories build them from the env's observation space (and the preprocessed shape) instead.
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
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.envs = [env_creator(dict(env_config or {})) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.env_name = env_name
        self.worker_index = worker_index
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        if preprocessor is None and preprocessor_factory is not None:
            preprocessor = preprocessor_factory(self.observation_space)
        self.preprocessor = preprocessor
        if preprocessor is not None:
            self.obs_shape: tuple[int, ...] = tuple(preprocessor.shape)
        else:
            self.obs_shape = tuple(self.observation_space.shape or ())
        if obs_filter is None and filter_factory is not None:
            obs_filter = filter_factory(self.obs_shape)
        self.obs_filter = obs_filter if obs_filter is not None else NoFilter()
        self.check_obs = check_obs
        self._box_obs = _is_box(self.observation_space)
        if self._box_obs:
            self._low, self._high = self.observation_space.low, self.observation_space.high
            self._obs_space_shape = tuple(self.observation_space.shape)
        # Discrete actions go to the envs as Python ints (gymnasium checks those fastest).
        self._int_actions = not _is_box(self.action_space) and self.action_space.shape == ()
        self._clip = None
        if clip_actions and _is_box(self.action_space):
            self._clip = (self.action_space.low, self.action_space.high)
        # Policies act with 0-based indices; Discrete/MultiDiscrete spaces may start elsewhere.
        start = getattr(self.action_space, "start", None)
        self._action_start = None if start is None or not np.any(start) else np.asarray(start)
        self._next_eps_id = worker_index << 32
        self._eps_ids = np.zeros(num_envs, dtype=np.int64)
        self._returns = np.zeros(num_envs, dtype=np.float64)  # float64: long episodes sum exactly
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._metrics: list[EpisodeMetrics] = []
        self._total_steps = 0
        raw = []
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=None if seed is None else seed + 1000 * worker_index + i)
            if seed is not None:
                env.action_space.seed(seed + 1000 * worker_index + i)
            raw.append(obs)
            self._eps_ids[i] = self._new_eps_id()
        self._obs = self.obs_filter(self._prep(raw))

    # ------------------------------------------------------------------ helpers
    def _new_eps_id(self) -> int:
        self._next_eps_id += 1
        return self._next_eps_id

    def _prep(self, raw: list[Any]) -> np.ndarray:
        """Check and preprocess a list of raw observations into a batch."""
        if self._box_obs:
            batch = np.asarray(raw)
            if self.check_obs:
                self._check(batch)
            if self.preprocessor is not None:
                return np.asarray(self.preprocessor.transform_batch(batch), dtype=np.float32)
            return batch.astype(np.float32, copy=False)
        if self.check_obs:
            for i, o in enumerate(raw):
                if not self.observation_space.contains(o):
                    self._fail(f"observation {o!r} of env {i} is not inside {self.observation_space}")
        if self.preprocessor is None:
            return np.asarray(raw, dtype=np.float32)
        return np.stack([self.preprocessor.transform(o) for o in raw]).astype(np.float32, copy=False)

    def _check(self, batch: np.ndarray) -> None:
        # One pass: NaN fails both comparisons, so the bounds check catches it too.
        if batch.shape[1:] != self._obs_space_shape:
            self._fail(f"observations have shape {batch.shape[1:]}, the space says {self._obs_space_shape}")
        if (batch >= self._low).all() and (batch <= self._high).all():
            return
        flat = batch.reshape(len(batch), -1)
        if batch.dtype.kind == "f" and not np.isfinite(flat).all():
            row = int(np.flatnonzero(~np.isfinite(flat).all(axis=1))[0])
            self._fail(f"env {row} returned a non-finite observation {batch[row]!r}")
        bad = ~((batch >= self._low) & (batch <= self._high)).reshape(len(batch), -1).all(axis=1)
        row = int(np.flatnonzero(bad)[0])
        self._fail(f"observation {batch[row]!r} of env {row} is outside {self.observation_space}")

    def _fail(self, what: str) -> None:
        raise EnvObservationError(
            f"env {self.env_name!r} (worker {self.worker_index}) after {self._total_steps} sampled steps: {what}. "
            "Fix the env, or declare an observation_space that holds what it returns."
        )

    # ------------------------------------------------------------------ public
    def sample(self, policy_fn: PolicyFn, num_steps: int, *, keep_next_obs: bool = False) -> Fragment:
        """Step every env ``num_steps`` times; returns the time-major fragment."""
        n, t_max = self.num_envs, num_steps
        obs_buf = np.empty((t_max, n, *self._obs.shape[1:]), dtype=np.float32)
        rewards = np.empty((t_max, n), dtype=np.float32)
        terms = np.zeros((t_max, n), dtype=bool)
        truncs = np.zeros((t_max, n), dtype=bool)
        eps = np.empty((t_max, n), dtype=np.int64)
        next_obs = np.empty_like(obs_buf) if keep_next_obs else None
        actions_buf: np.ndarray | None = None
        extras: dict[str, np.ndarray] = {}
        boot_obs: list[np.ndarray] = []
        boot_idx: list[tuple[int, int]] = []
        envs = self.envs
        for t in range(t_max):
            obs = self._obs
            obs_buf[t] = obs
            eps[t] = self._eps_ids
            actions, ext = policy_fn(obs)
            if actions_buf is None:
                actions_buf = np.empty((t_max, *actions.shape), dtype=actions.dtype)
                extras = {k: np.empty((t_max, *v.shape), dtype=v.dtype) for k, v in ext.items()}
            actions_buf[t] = actions
            for k, v in ext.items():
                extras[k][t] = v
            env_actions = self.to_env_actions(actions)
            if self._int_actions:
                env_actions = env_actions.tolist()
            results = [env.step(a) for env, a in zip(envs, env_actions, strict=True)]
            raw_tuple, step_rewards, step_terms, step_truncs, _ = zip(*results, strict=True)
            raw_next: list[Any] = list(raw_tuple)
            rewards[t] = step_rewards
            self._returns += rewards[t]
            self._lengths += 1
            finals: list[tuple[int, Any, bool]] = []
            if any(step_terms) or any(step_truncs):
                terms[t] = step_terms
                truncs[t] = step_truncs
                for i in np.flatnonzero(terms[t] | truncs[t]).tolist():
                    finals.append((i, raw_next[i], bool(truncs[t, i])))
                    self._metrics.append(EpisodeMetrics(float(self._returns[i]), int(self._lengths[i])))
                    self._returns[i] = 0.0
                    self._lengths[i] = 0
                    self._eps_ids[i] = self._new_eps_id()
                    raw_next[i], _ = envs[i].reset()
            self._total_steps += n
            new_obs = self.obs_filter(self._prep(raw_next))
            if finals:
                final_obs = self.obs_filter(self._prep([o for _, o, _ in finals]), update=False)
                for (i, _, truncated), fo in zip(finals, final_obs, strict=True):
                    if truncated:
                        boot_obs.append(fo)
                        boot_idx.append((t, i))
                    if next_obs is not None:
                        next_obs[t, i] = fo
            if next_obs is not None:
                done = terms[t] | truncs[t]
                next_obs[t, ~done] = new_obs[~done]
            self._obs = new_obs
        last_done = terms[-1] | truncs[-1]
        for j in np.flatnonzero(~last_done).tolist():
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
        boot = np.stack(boot_obs) if boot_obs else np.empty((0, *self._obs.shape[1:]), np.float32)
        return Fragment(columns, boot, np.asarray(boot_idx, dtype=np.int64).reshape(-1, 2), next_obs, extras)

    def to_env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Policy actions as the env takes them: clipped to a Box's bounds (with ``clip_actions``),
        shifted by a Discrete or MultiDiscrete space's ``start``."""
        if self._clip is not None:
            return np.clip(actions, *self._clip)
        if self._action_start is not None:
            return actions + self._action_start
        return actions

    def compute_obs(self, raw_obs: Any) -> np.ndarray:
        """Preprocess and filter a batch of raw observations (filter statistics not updated)."""
        raw = list(raw_obs) if not isinstance(raw_obs, list) else raw_obs
        return self.obs_filter(self._prep(raw), update=False)

    def get_metrics(self) -> list[EpisodeMetrics]:
        """Episodes finished since the last call."""
        out, self._metrics = self._metrics, []
        return out

    @property
    def total_steps(self) -> int:
        """Env steps taken so far (all envs)."""
        return self._total_steps

    def close(self) -> None:
        """Close every env."""
        for env in self.envs:
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
        next_values[t_idx, e_idx] = np.asarray(value_fn(fragment.bootstrap_obs), dtype=np.float64).reshape(-1)
    cols = fragment.columns
    adv, targets = compute_gae(
        cols[sb.REWARDS], vf, next_values, cols[sb.TERMINATEDS], cols[sb.TRUNCATEDS], gamma, lambda_
    )
    out = {k: flatten_env_major(v) for k, v in cols.items()}
    out.update({k: flatten_env_major(v) for k, v in fragment.extras.items()})
    out[sb.ADVANTAGES] = flatten_env_major(adv)
    out[sb.VALUE_TARGETS] = flatten_env_major(targets)
    return SampleBatch(out)


def _is_box(space: Any) -> bool:
    from gymnasium import spaces

    return isinstance(space, spaces.Box)
