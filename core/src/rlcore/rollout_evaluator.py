"""The rollout evaluator: the PolicyEvaluator that every first-party algorithm uses (DESIGN section 4).

:class:`RolloutEvaluator` = an env runner (:class:`~rlcore.sampling.VectorSampler`: vectorized
envs, one batched ``policy.compute_actions`` per step, per-env preprocessor state, observation
filters, episode metrics, terminated vs truncated, final observations kept for bootstrapping)
+ the policy of ``(algorithm, framework)`` (a framework plugin's model and loss) + the
algorithm's numpy postprocessing (rl_algos: GAE, n-step returns...). Adding an algorithm touches
rl_algos and the framework plugins, never this module.

Postprocessing functions have the signature ``postprocess(fragment, policy, config) ->
SampleBatch`` and return one row per sampled env step; decorate one with :func:`postprocessing`
to say whether it needs ``next_obs`` (the observation after every step, kept by the runner).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlcore import sample_batch as sb
from rlcore.config_schema import BATCH_MODES, COMMON_SCHEMA
from rlcore.env_checks import one_line, short
from rlcore.errors import ConfigError, RLCoreError
from rlcore.evaluator import EpisodeMetrics, Gradients, PolicyEvaluator, Weights
from rlcore.filters import make_filter
from rlcore.policy import Policy
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import EpisodeActFn, EpisodeRuns, Fragment, ObservationPipeline, VectorSampler, concat_fragments

#: Config keys the rollout evaluator reads, with their defaults (the trainer's common config has them).
ROLLOUT_DEFAULTS: dict[str, Any] = {
    "seed": None,
    "num_envs": 1,
    "rollout_fragment_length": 200,
    "env_config": {},
    "env": None,
    "observation_filter": "NoFilter",
    "clip_actions": True,
    "model": {},
    "batch_mode": "truncate_episodes",
    "horizon": None,
    "clip_rewards": None,
}

#: The config keys of how the evaluator samples (RLlib 2018's names), checked at construction.
SAMPLING_KEYS = ("batch_mode", "horizon", "clip_rewards")

#: With ``complete_episodes``, one env's episode may run this many steps (at least) before
#: :class:`IncompleteEpisodeError`: ``max(MIN_EPISODE_STEPS_BOUND, EPISODE_BOUND_FRAGMENTS *
#: rollout_fragment_length, horizon, the env's max_episode_steps)``.
MIN_EPISODE_STEPS_BOUND = 10_000
EPISODE_BOUND_FRAGMENTS = 100

#: Extras that hold one number per row (``[B]``, never ``[B, 1]``): postprocessing does arithmetic on them.
_ROW_SCALARS = frozenset({"action_logp", "vf_preds"})

#: ``postprocess(fragment, policy, config) -> SampleBatch`` (one row per sampled step).
Postprocess = Callable[[Fragment, Policy, Mapping[str, Any]], SampleBatch]


@dataclass
class ActingState:
    """What acting carries across the steps of an episode, per env: the preprocessor's state
    (``prep``: float32 ``[B, state_size]``, frame stacks) and the policy's recurrent state
    (``recurrent``: one ``[B, ...]`` array per state tensor). Owned by the caller."""

    prep: np.ndarray
    recurrent: list[np.ndarray] = field(default_factory=list)


#: What an acting state is and how it is used, for the errors of a state that is not one.
ACTING_STATE_USE = (
    "state = policy.new_acting_state() (the loaded policy's, or the trainer's) at an episode's start, then "
    "state=state at each step: the same object, advanced in place (RLlib 2018's list of state tensors [h, c] "
    "and a returned state_out are not taken), or state=None for a new episode"
)


def check_explore(explore: Any) -> None:
    """Raise :class:`~rlcore.errors.ConfigError` unless ``explore`` is a bool (or a numpy bool)."""
    if not isinstance(explore, bool | np.bool_):
        hint = ""
        if isinstance(explore, ActingState):  # the trainer's order is (obs, explore, state)
            hint = ": this is an acting state; pass it by keyword (compute_action(obs, state=state))"
        raise ConfigError(
            f"explore must be True (sample) or False (the deterministic action), got {explore!r:.60} "
            f"({type(explore).__name__}){hint}"
        )


def check_acting_state(state: Any) -> None:
    """Raise :class:`~rlcore.model_policy.RecurrentStateError` unless ``state`` is an
    :class:`ActingState` (or None), saying how one is made and used; a bool is taken for
    ``explore`` passed by position (LoadedPolicy's order is ``(obs, state, explore)``)."""
    if state is None or isinstance(state, ActingState):
        return
    from rlcore.model_policy import RecurrentStateError

    if isinstance(state, bool | np.bool_):
        raise RecurrentStateError(
            f"state got {bool(state)}: pass explore by keyword (compute_action(obs, explore={bool(state)})); "
            f"state is the acting state: {ACTING_STATE_USE}"
        )
    raise RecurrentStateError(
        f"the acting state must be the ActingState that new_acting_state() returns, got {type(state).__name__}: "
        f"{ACTING_STATE_USE}"
    )


class PolicyActing:
    """Acting on raw observations: an :class:`~rlcore.sampling.ObservationPipeline` (check,
    preprocess, filter; actions as the env takes them) around a policy's ``compute_actions``,
    with the caller's :class:`ActingState`. The one implementation behind
    :meth:`RolloutEvaluator.compute_actions` (``Trainer.compute_action``) and
    :class:`rlcore.inference.LoadedPolicy` (a checkpoint acting with numpy alone).

    ``check_state_out(state_out, state_in)`` checks a recurrent policy's returned state (the
    evaluator's check names the policy class and worker); the default takes it as it is.
    """

    def __init__(
        self,
        pipeline: ObservationPipeline,
        policy: Policy,
        check_state_out: Callable[[Any, list[np.ndarray]], list[np.ndarray]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.policy = policy
        self._check_state_out = check_state_out or (lambda out, _state: list(out))

    def new_acting_state(self, batch_size: int = 1) -> ActingState:
        """A fresh acting state for ``batch_size`` envs (each starting an episode): preprocessor
        state (frame stacks) and the policy's recurrent state.

        Raises :class:`~rlcore.errors.ConfigError` for a ``batch_size`` that is not an int >= 1."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ConfigError(
                f"new_acting_state: batch_size must be an int >= 1 (the number of episodes acted on at once), "
                f"got {batch_size!r:.60}"
            )
        batch_size = int(batch_size)
        try:
            recurrent = [np.repeat(np.asarray(s)[None], batch_size, axis=0) for s in self.policy.initial_state()]
            return ActingState(self.pipeline.new_acting_state(batch_size), recurrent)
        except MemoryError:
            raise ConfigError(
                f"new_acting_state: an acting state for batch_size {batch_size} does not fit in memory: act on "
                "fewer episodes at once"
            ) from None

    def inputs(self, obs: Any, state: ActingState | None) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(x, recurrent)``: the policy's inputs for raw observations (checked, preprocessed,
        filtered; ``state.prep`` advanced in place) and the recurrent state to step from (checked
        against the policy's ``initial_state``; a new episode's when ``state`` is None).

        Raises :class:`~rlcore.model_policy.RecurrentStateError` for a state that is not an
        :class:`ActingState` or whose recurrent part does not fit, and
        :class:`~rlcore.env_checks.ObservationArgumentError` for observations that are not a batch
        of the observation space."""
        if state is None:
            x = self.pipeline.compute_obs(obs)
            return x, [np.repeat(np.asarray(s)[None], len(x), axis=0) for s in self.policy.initial_state()]
        check_acting_state(state)
        recurrent = state.recurrent
        x = self.pipeline.compute_obs(obs, state.prep)
        initial = self.policy.initial_state()
        if initial or recurrent:
            from rlcore.model_policy import check_recurrent_state

            fix = (
                f"It is another policy's, or was changed: make it with new_acting_state({len(x)}) of this policy "
                "(the loaded policy's or the trainer's) and pass the same object at each step"
            )
            check_recurrent_state("the acting state", list(recurrent), list(initial), len(x), fix=fix)
        return x, list(recurrent)

    def advance(self, state: ActingState | None, recurrent: list[np.ndarray], state_out: Any) -> None:
        """Keep the policy's next recurrent state in ``state`` (nothing when None)."""
        if state is not None:
            state.recurrent = self._check_state_out(state_out, recurrent) if recurrent else list(state_out)

    def compute_actions(self, obs: Any, explore: bool = False, state: ActingState | None = None) -> Any:
        """Actions for raw observations (see :meth:`RolloutEvaluator.compute_actions`).

        Raises :class:`~rlcore.errors.ConfigError` for an ``explore`` that is not True or False
        (a string such as ``"False"`` would otherwise explore)."""
        check_explore(explore)
        x, recurrent = self.inputs(obs, state)
        actions, state_out, _ = self.policy.compute_actions(x, recurrent or None, explore)
        self.advance(state, recurrent, state_out)
        return self.pipeline.to_env_actions(actions)

    def compute_action(self, obs: Any, explore: bool = False, state: ActingState | None = None) -> Any:
        """The action for one raw observation (checked first: the error names ``obs``), as the env takes it."""
        check_explore(explore)
        self.pipeline.check_observation(obs, "obs")
        return self.compute_actions(self.pipeline.single_batch(obs), explore, state)[0]


class PolicyOutputError(RLCoreError, TypeError):
    """A policy returned something other than numpy arrays of one row per observation."""


class PolicyRaisedError(RLCoreError):
    """A policy's ``compute_actions`` raised while sampling, or ``run_episodes``' ``act`` raised
    (the exception is the cause); the message names the policy, the worker and the sampled steps."""


class PostprocessingError(RLCoreError, ValueError):
    """An algorithm's postprocessing function returned something other than one row per sampled step."""


class IncompleteEpisodeError(RLCoreError):
    """``batch_mode: complete_episodes`` and an env whose episode does not end within the bound
    (:data:`MIN_EPISODE_STEPS_BOUND`): the message names the env, the steps and the fixes."""


def postprocessing(*, needs_next_obs: bool = False) -> Callable[[Postprocess], Postprocess]:
    """Mark a function as an algorithm's postprocessing (``needs_next_obs``: keep ``fragment.next_obs``)."""

    def mark(fn: Postprocess) -> Postprocess:
        fn.needs_next_obs = needs_next_obs  # type: ignore[attr-defined]
        return fn

    return mark


def _load(target: Any, what: str) -> Any:
    if isinstance(target, str):
        from rlcore.specs import import_target

        return import_target(target, what=what)
    return target


def _name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class RolloutEvaluator(PolicyEvaluator):
    """Samples with a policy on ``num_envs`` envs and learns through it.

    ``RolloutEvaluator(env_creator, config, worker_index=0, *, policy, postprocess)``:
    ``policy`` is a :class:`~rlcore.policy.Policy` subclass (or its ``"module:Class"`` target),
    built as ``policy(observation_space, action_space, config, seed=...)`` with the preprocessed
    observation space; ``postprocess`` the algorithm's postprocessing function (or target). Both
    travel by name when a Ray worker is built. ``worker_index`` 0 is the local evaluator.

    Capabilities are the policy's plus ``"remote"`` (the evaluator pickles by rebuilding from
    its constructor arguments and its numpy state). ``model.use_lstm`` with a policy class that
    does not declare ``"recurrent"`` raises :class:`~rlcore.errors.UnsupportedOperationError`
    naming the class, before anything is built but the envs (closed again).
    """

    def __init__(
        self,
        env_creator: Callable[[dict[str, Any]], Any],
        config: Mapping[str, Any],
        worker_index: int = 0,
        *,
        policy: type[Policy] | str,
        postprocess: Postprocess | str,
    ) -> None:
        from gymnasium import spaces

        from rlcore.models import ModelCatalog

        self._init_args = (env_creator, dict(config), worker_index)
        self.config: dict[str, Any] = {**ROLLOUT_DEFAULTS, **config}
        self._check_sampling_keys()
        self.worker_index = int(worker_index)
        self.policy_cls: type[Policy] = _load(policy, "policy")
        self.postprocess: Postprocess = _load(postprocess, "postprocessing function")
        seed = self.config["seed"]
        self.seed: int | None = None if seed is None else int(seed) + 7919 * self.worker_index
        model_config = ModelCatalog.resolve_model_config(self.config["model"])
        self.sampler = VectorSampler(
            env_creator,
            self.config["env_config"],
            num_envs=int(self.config["num_envs"]),
            preprocessor_factory=lambda space: ModelCatalog.get_preprocessor(space, model_config),
            filter_factory=lambda shape: make_filter(self.config["observation_filter"], shape),
            seed=None if seed is None else int(seed),
            worker_index=self.worker_index,
            clip_actions=bool(self.config["clip_actions"]),
            env_name=str(self.config["env"] or "env"),
            horizon=self.config["horizon"],
        )
        # complete_episodes: per env, the rows of its episode still running (one-env fragments)
        self._pending: list[list[Fragment]] = [[] for _ in range(self.sampler.num_envs)]
        self._pending_rows = np.zeros(self.sampler.num_envs, np.int64)
        self._episode_bound = self._complete_episodes_bound()
        self.observation_space = self.sampler.observation_space
        self.action_space = self.sampler.action_space
        self.obs_shape = self.sampler.obs_shape
        policy_obs_space = spaces.Box(-np.inf, np.inf, self.obs_shape, np.float32)
        if model_config["use_lstm"] and "recurrent" not in getattr(self.policy_cls, "capabilities", ()):
            from rlcore.errors import UnsupportedOperationError
            from rlcore.model_policy import recurrent_unsupported_message

            self.stop()
            raise UnsupportedOperationError(
                recurrent_unsupported_message(_name(self.policy_cls), getattr(self.policy_cls, "capabilities", ()))
            )
        self.max_seq_len = int(model_config["max_seq_len"])
        self.policy: Policy = self.policy_cls(policy_obs_space, self.action_space, self.config, seed=self.seed)
        self.acting = PolicyActing(self.sampler.pipeline, self.policy, self._checked_state_out)
        self.capabilities = frozenset(self.policy.capabilities) | {"remote"}  # type: ignore[misc]
        self._needs_next_obs = bool(getattr(self.postprocess, "needs_next_obs", False))
        self._action_shape = tuple(int(d) for d in (self.action_space.shape or ()))
        if isinstance(self.action_space, spaces.Tuple | spaces.Dict):  # stored flat: [n, D] float32
            self._action_shape = tuple(ModelCatalog.get_action_dist(self.action_space, model_config).action_shape)
        self._integer_actions = isinstance(
            self.action_space, spaces.Discrete | spaces.MultiDiscrete | spaces.MultiBinary
        )
        self._action_kind = "integers" if self._integer_actions else "floats"

    @property
    def num_devices(self) -> int:  # type: ignore[override]
        """The policy's devices (towers)."""
        return int(getattr(self.policy, "num_devices", 1))

    # -- data ------------------------------------------------------------------------------
    def _checked(self, n: int, out: Any) -> tuple[np.ndarray, Any, dict[str, np.ndarray]]:
        """``compute_actions``' output, checked: a 3-tuple, actions ``[n, *action_shape]`` (integers
        for discrete spaces), extras ``[n, ...]`` arrays (``action_logp``/``vf_preds`` ``[n]``)."""
        if type(out) is not tuple or len(out) != 3:
            raise self._output_error("not (actions, state_out, extras) but", out, n)
        actions, state_out, extras = out
        if (
            type(actions) is not np.ndarray
            or actions.shape != (n, *self._action_shape)
            or (self._integer_actions and actions.dtype.kind not in "iu")
        ):
            raise self._output_error("actions", actions, n, f"[{n}, *{self._action_shape}] {self._action_kind}")
        if type(extras) is not dict:
            raise self._output_error("extras", extras, n, "a dict of arrays")
        for key, value in extras.items():
            if type(value) is not np.ndarray or value.shape[:1] != (n,) or (key in _ROW_SCALARS and value.ndim != 1):
                raise self._output_error(f"extra {key!r}", value, n)
        return actions, state_out, extras

    def _compute(self, obs: np.ndarray, state: list[np.ndarray] | None) -> Any:
        """``policy.compute_actions`` for sampling; what the policy raises (other than rlcore's own
        errors) becomes a :class:`PolicyRaisedError` naming the policy and the worker."""
        try:
            return self.policy.compute_actions(obs, state, True)
        except RLCoreError:
            raise
        except (Exception, SystemExit) as exc:
            raise self._raised(
                exc, f"policy {_name(self.policy_cls)}", f"in compute_actions for a batch of {len(obs)} observations"
            ) from exc

    def _raised(self, exc: BaseException, who: str, where: str) -> PolicyRaisedError:
        """The error for an exception of policy code (``who``) ``where`` while sampling."""
        steps = getattr(self.sampler, "_total_steps", "?")
        return PolicyRaisedError(
            f"{who} (worker {self.worker_index}, after {steps} sampled steps) raised {one_line(exc)} {where} "
            "(the policy's traceback is this error's cause, above)"
        )

    def _policy_fn(self, obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        actions, _, extras = self._checked(len(obs), self._compute(obs, None))
        return actions, extras

    def _recurrent_policy_fn(
        self, obs: np.ndarray, state: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
        actions, state_out, extras = self._checked(len(obs), self._compute(obs, state))
        return actions, self._checked_state_out(state_out, state), extras

    def _checked_state_out(self, state_out: Any, state: list[np.ndarray]) -> list[np.ndarray]:
        """A recurrent ``state_out``, checked: one finite array per state tensor, of the shape of the
        state fed in (the sampler keeps it per env and feeds it back at the next step)."""
        expected = [tuple(s.shape) for s in state]
        if not isinstance(state_out, list | tuple) or not all(type(o) is np.ndarray for o in state_out):
            got = type(state_out).__name__
        else:
            shapes = [tuple(o.shape) for o in state_out]
            got = f"arrays of shapes {shapes}"
            if shapes == expected:
                bad = [j for j, o in enumerate(state_out) if o.dtype.kind in "fc" and not np.isfinite(o).all()]
                if not bad:
                    return list(state_out)
                steps = getattr(self.sampler, "_total_steps", "?")
                raise PolicyOutputError(
                    f"policy {_name(self.policy_cls)}.compute_actions returned a recurrent state_out whose tensors "
                    f"{bad} are not finite (worker {self.worker_index}, after {steps} sampled steps): the model "
                    "diverged or its recurrent step is wrong; lower lr or set grad_clip, or fix the policy"
                )
        raise PolicyOutputError(
            f"policy {_name(self.policy_cls)}.compute_actions returned state_out as {got} for a batch of "
            f"{len(state[0]) if state else 0} observations; a recurrent policy returns one numpy array per "
            f"initial_state() tensor, of the shapes of the state fed in {expected} (one row per observation)."
        )

    def _output_error(self, what: str, value: Any, n: int, expected: str | None = None) -> PolicyOutputError:
        shape = getattr(value, "shape", None)
        dtype = getattr(value, "dtype", None)
        got = f"{type(value).__name__}{f' of shape {tuple(shape)}' if shape is not None else ''}"
        got += f" ({dtype})" if dtype is not None else ""
        return PolicyOutputError(
            f"policy {_name(self.policy_cls)}.compute_actions returned {what} as {got} for a batch of {n} "
            f"observations; it must return (actions, state_out, extras) with numpy arrays of one row per "
            f"observation{f' (actions: {expected})' if expected else f' ([{n}, ...])'}."
        )

    def sample(self) -> SampleBatch:
        """``rollout_fragment_length`` steps of every env, postprocessed by the algorithm.

        ``batch_mode: truncate_episodes`` (the default): exactly ``rollout_fragment_length`` steps
        of each env; an episode running at the end is cut there (bootstrapped) and continues in the
        next batch. ``complete_episodes``: whole episodes only, each env's rows ending on an episode
        end, at least ``rollout_fragment_length x num_envs`` rows (more when episodes are longer:
        the unroll grows to finish them). The rows of an episode still running stay here, raw,
        until it ends, so postprocessing (GAE, n-step) always sees whole episodes; an env whose
        episode goes past the bound (:data:`MIN_EPISODE_STEPS_BOUND`) raises
        :class:`IncompleteEpisodeError`. ``clip_rewards``: the rewards handed to postprocessing
        are their signs (-1, 0, 1); episode metrics keep the env's own rewards.

        A recurrent policy (non-empty ``initial_state()``) samples with one state per env, reset at
        that env's episode end; its batch has the ``state_in_j`` columns (the state fed at each
        step) and the row-aligned ``seq_lens`` column (:mod:`rlcore.sequences`): sequences cut
        within this batch at every ``eps_id`` change and every ``model.max_seq_len`` rows.
        """
        steps = int(self.config["rollout_fragment_length"])
        if self.config["batch_mode"] == "complete_episodes":
            fragment = self._complete_episodes(steps)
        else:
            fragment = self._fragment(steps)
        if self.config["clip_rewards"]:
            fragment.columns[sb.REWARDS] = np.sign(fragment.columns[sb.REWARDS])
        batch = self.postprocess(fragment, self.policy, self.config)
        t_len, n_envs = fragment.shape
        if not isinstance(batch, SampleBatch) or batch.count != t_len * n_envs:
            got = f"{batch.count} rows" if isinstance(batch, SampleBatch) else type(batch).__name__
            raise PostprocessingError(
                f"postprocessing function {_name(self.postprocess)} returned {got} for a fragment of "
                f"{t_len} steps x {n_envs} envs = {t_len * n_envs} rows; it must return a SampleBatch with one "
                "row per sampled step (env-major: each env's steps in order)."
            )
        if fragment.columns.get(sb.STATE_IN_PREFIX + "0") is not None:
            batch[sb.SEQ_LENS] = self._seq_lens(fragment, batch)
        return batch

    def run_episodes(self, act: EpisodeActFn, num_episodes: int, *, update_filter: bool = True) -> EpisodeRuns:
        """Run exactly ``num_episodes`` complete episodes with ``act(obs, episodes) -> actions``
        over this evaluator's envs (:meth:`rlcore.sampling.VectorSampler.run_episodes`: the filter
        frozen during the call, then updated with what was fed with ``update_filter``; every env
        reset afterwards, so :meth:`sample` starts fresh episodes; the rows of episodes kept for
        ``complete_episodes`` are dropped). Returns :class:`~rlcore.sampling.EpisodeRuns`.

        Raises what the sampler's ``run_episodes`` raises (ValueError for a bad ``num_episodes`` or
        action count, :class:`~rlcore.errors.EnvError` for env failures), and
        :class:`PolicyRaisedError` (naming the policy, the worker and the episode indices, with the
        exception as its cause) when ``act`` raises anything but an rlcore error.
        """

        def checked_act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
            try:
                return act(obs, episodes)
            except RLCoreError:
                raise
            except (Exception, SystemExit) as exc:
                who = f"run_episodes' act {_name(act)} with policy {_name(self.policy_cls)}"
                where = f"for a batch of {len(obs)} observations of episodes {short(episodes.tolist(), 80)}"
                raise self._raised(exc, who, where) from exc

        try:
            return self.sampler.run_episodes(checked_act, num_episodes, update_filter=update_filter)
        finally:
            self._pending = [[] for _ in range(self.sampler.num_envs)]
            self._pending_rows[:] = 0

    def _seq_lens(self, fragment: Fragment, batch: SampleBatch) -> np.ndarray:
        """The row-aligned ``seq_lens`` column of a recurrent policy's batch: sequences cut at every
        ``eps_id`` change and every ``max_seq_len`` rows (model config), within this batch."""
        from rlcore.sequences import seq_lens_column

        eps = batch[sb.EPS_ID] if sb.EPS_ID in batch else np.asarray(fragment.columns[sb.EPS_ID]).T.reshape(-1)
        return seq_lens_column(eps, self.max_seq_len)

    def _fragment(self, steps: int) -> Fragment:
        """``steps`` steps of every env from the sampler, with the policy."""
        initial_state = self.policy.initial_state()
        if initial_state:  # recurrent: the runner keeps each env's state and resets it at its episode end
            return self.sampler.sample(
                self._recurrent_policy_fn, steps, keep_next_obs=self._needs_next_obs, initial_state=initial_state
            )
        return self.sampler.sample(self._policy_fn, steps, keep_next_obs=self._needs_next_obs)

    def _complete_episodes(self, steps: int) -> Fragment:
        """Fragments until the episodes completed hold ``steps x num_envs`` rows: every env's
        completed episodes (with the rows kept from earlier calls), as one fragment ``[rows, 1]``
        of whole episodes, env by env; the rows of each env's running episode are kept. After the
        first fragment of ``steps``, shorter ones (the rows still missing, per env) keep the
        batch near its target."""
        n = self.sampler.num_envs
        completed: list[list[Fragment]] = [[] for _ in range(n)]
        rows, length = 0, steps
        while rows < steps * n:
            fragment = self._fragment(length)
            ends = fragment.dones()
            for i in range(n):
                t_end = np.flatnonzero(ends[:, i])
                if not len(t_end):
                    self._pending[i].append(fragment.take(i))
                    self._pending_rows[i] += length
                    self._check_episode_length(i)
                    continue
                cut = int(t_end[-1]) + 1
                completed[i].extend([*self._pending[i], fragment.take(i, 0, cut)])
                rows += int(self._pending_rows[i]) + cut
                self._pending[i] = [fragment.take(i, cut)] if cut < length else []
                self._pending_rows[i] = length - cut
            length = min(steps, max(1, -(-(steps * n - rows) // n)))
        return concat_fragments([piece for pieces in completed for piece in pieces])

    def _check_episode_length(self, env: int) -> None:
        running = int(self._pending_rows[env])
        if running > self._episode_bound:
            self._pending[env] = []
            self._pending_rows[env] = 0
            self.sampler.abandon_episode(env)  # a later sample() starts it afresh, never mid-episode
            raise IncompleteEpisodeError(
                f"env {self.sampler.env_name!r} (worker {self.worker_index}): batch_mode 'complete_episodes' "
                f"waits for whole episodes, and env {env}'s episode has run {running} steps without ending "
                f"(the bound: {self._episode_bound} steps, max({MIN_EPISODE_STEPS_BOUND}, "
                f"{EPISODE_BOUND_FRAGMENTS} x rollout_fragment_length, horizon, the env's max_episode_steps)); "
                "set horizon (an int: episodes end there, truncated) or batch_mode 'truncate_episodes'"
            )

    def _complete_episodes_bound(self) -> int:
        spec = getattr(self.sampler.envs[0], "spec", None)
        limit = getattr(spec, "max_episode_steps", None)
        return max(
            MIN_EPISODE_STEPS_BOUND,
            EPISODE_BOUND_FRAGMENTS * int(self.config["rollout_fragment_length"]),
            int(self.config["horizon"] or 0),
            limit if isinstance(limit, int) else 0,
        )

    def _check_sampling_keys(self) -> None:
        """``batch_mode``, ``horizon`` and ``clip_rewards`` of an evaluator built without a trainer,
        checked by their COMMON_SCHEMA fields (the trainer's check, the same words)."""
        cfg = self.config
        COMMON_SCHEMA.validate({key: cfg[key] for key in SAMPLING_KEYS})
        if cfg["horizon"] is not None:  # a numpy int as the schema allows it: a plain int for the sampler
            cfg["horizon"] = int(cfg["horizon"])

    def new_acting_state(self, batch_size: int = 1) -> ActingState:
        """A fresh acting state for ``batch_size`` envs (each starting an episode): preprocessor
        state (frame stacks) and the policy's recurrent state, separate from sampling's."""
        return self.acting.new_acting_state(batch_size)

    def compute_actions(self, obs: np.ndarray, explore: bool = False, state: ActingState | None = None) -> Any:
        """Actions for raw observations ``[B, *obs_shape]`` (preprocessed and filtered here, the
        filter not updated), as the env takes them (clipped, shifted by the space's ``start``): an
        array ``[B, ...]``, or for a Tuple/Dict action space a list of B actions in its structure.

        ``state`` (from :meth:`new_acting_state`, one row per observation) carries each env's
        episode across calls (frame stacks, recurrent state) and is advanced in place; without
        it every call is a new episode. Sampling's own per-env state is never touched. A state
        that is not an :class:`ActingState` (RLlib 2018's ``[h, c]`` list), or whose recurrent part
        does not fit the policy (tensors, rows), raises :class:`~rlcore.model_policy.RecurrentStateError`.

        Raises :class:`~rlcore.env_checks.ObservationArgumentError` when ``obs`` is not a batch of
        observations of the env's observation space (one observation, a row of another shape or
        outside the space), naming the row and the expected shape.
        """
        return self.acting.compute_actions(obs, explore, state)

    def acting_spec(self) -> dict[str, Any] | None:
        """What acting needs besides the weights, as a checkpoint records it (``meta["policy"]``): the
        raw spaces (:mod:`rlcore.space_codec`), the policy class and framework, ``action_outputs``,
        the resolved model config and kind, the Q head, the observation filter, ``clip_actions`` and
        where the weights sit in the state. None unless the policy is a
        :class:`~rlcore.model_policy.ModelPolicy`.

        Raises:
            CheckpointError: a space type the codec does not record (naming it).
        """
        from rlcore.model_policy import ModelPolicy
        from rlcore.space_codec import space_to_json

        policy = self.policy
        if not isinstance(policy, ModelPolicy):
            return None
        q = policy.action_outputs == "q"
        return {
            "observation_space": space_to_json(self.observation_space, name="observation space"),
            "action_space": space_to_json(self.action_space, name="action space"),
            "policy_class": f"{type(policy).__module__}:{type(policy).__qualname__}",
            "framework": str(policy.framework),
            "action_outputs": str(policy.action_outputs),
            "model": dict(policy.model_config),
            "model_kind": str(policy.model_kind),
            "q_head": {"hiddens": policy._q_hiddens(), "dueling": policy._q_dueling()} if q else None,
            "observation_filter": str(self.config["observation_filter"]),
            "clip_actions": bool(self.config["clip_actions"]),
            "weights": ["evaluator", "weights"],
        }

    def check_observation(self, obs: Any, argument: str = "obs") -> None:
        """Check one raw observation of the env's observation space (what ``Trainer.compute_action``
        takes). Raises :class:`~rlcore.env_checks.ObservationArgumentError` naming ``argument``,
        what is wrong and the expected shape."""
        self.sampler.pipeline.check_observation(obs, argument)

    def get_metrics(self) -> list[EpisodeMetrics]:
        """Episodes finished since the last call."""
        return self.sampler.get_metrics()

    # -- learning: the policy's ------------------------------------------------------------------
    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """The policy's gradients on ``batch`` and its info."""
        return self.policy.compute_gradients(batch)

    def apply_gradients(self, grads: Gradients) -> None:
        """Apply gradients with the policy's optimizer."""
        self.policy.apply_gradients(grads)

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """One fused step of the policy."""
        return self.policy.learn_on_batch(batch)

    def loss(self, batch: SampleBatch) -> float:
        """The policy's loss on ``batch``."""
        return self.policy.loss(batch)

    def load_batch(self, batch: SampleBatch) -> int:
        """Load ``batch`` onto the policy's devices."""
        return self.policy.load_batch(batch)

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        """One multi-device step of the policy."""
        return self.policy.learn_on_loaded_batch(indices)

    # -- weights, state, filters ----------------------------------------------------------------
    def get_weights(self) -> Weights:
        """The policy's weights."""
        return self.policy.get_weights()

    def set_weights(self, weights: Weights) -> None:
        """Load the policy's weights."""
        self.policy.set_weights(weights)

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Pass trainer-wide values to the policy."""
        self.policy.set_global_vars(global_vars)

    def get_state(self) -> dict[str, Any]:
        """The policy's state plus the observation filter's statistics."""
        return {**self.policy.get_state(), "filter": self.sampler.obs_filter.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` (the filter only when the state has one)."""
        self.policy.set_state({k: v for k, v in state.items() if k != "filter"})
        if "filter" in state:
            self.sampler.obs_filter.set_state(state["filter"])

    def get_filters(self, flush_after: bool = False) -> dict[str, Any]:
        """The filter's state and, with ``flush_after``, its buffer since the last flush."""
        f = self.sampler.obs_filter
        return {"state": f.get_state(), "buffer": f.flush_buffer() if flush_after else {}}

    def sync_filters(self, state: dict[str, Any]) -> None:
        """Set the filter's statistics (``state`` from another evaluator's :meth:`get_filters`)."""
        self.sampler.obs_filter.set_state(state)

    def merge_filter_buffers(self, buffers: list[dict[str, Any]]) -> None:
        """Merge remote filter buffers into this (local) evaluator's statistics."""
        for buf in buffers:
            self.sampler.obs_filter.apply_buffer(buf)

    def stop(self) -> None:
        """Close the envs."""
        self.sampler.close()

    # -- pickling: rebuild from the constructor arguments, then load the numpy state ----------------
    def __getstate__(self) -> dict[str, Any]:
        rng = getattr(self.policy, "rng", None)  # the policy's action sampling continues where it was
        return {
            "args": self._init_args,
            "policy": self.policy_cls,
            "postprocess": self.postprocess,
            "state": self.get_state(),
            "rng": rng.bit_generator.state if isinstance(rng, np.random.Generator) else None,
        }

    def __setstate__(self, data: dict[str, Any]) -> None:
        env_creator, config, worker_index = data["args"]
        self.__init__(  # type: ignore[misc]
            env_creator, config, worker_index, policy=data["policy"], postprocess=data["postprocess"]
        )
        self.set_state(data["state"])
        if data.get("rng"):
            self.policy.rng.bit_generator.state = data["rng"]  # type: ignore[attr-defined]


__all__ = [
    "ROLLOUT_DEFAULTS",
    "ActingState",
    "PolicyActing",
    "BATCH_MODES",
    "IncompleteEpisodeError",
    "PolicyOutputError",
    "Postprocess",
    "PostprocessingError",
    "RolloutEvaluator",
    "postprocessing",
]
