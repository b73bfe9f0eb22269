"""The common training API: ``Trainer(config, env)``, ``train() -> result``, ``compute_action``, ``stop``.

An algorithm (rl_algos) subclasses :class:`Trainer`: it sets ``name`` and ``default_config``
and implements :meth:`Trainer.setup` (build evaluators and the optimizer) and
:meth:`Trainer.step` (one optimizer round plus algorithm-level logic). Everything else, the
result fields, metrics smoothing, the workers (a :class:`~rlcore.worker_set.WorkerSet`: filter
sync, global vars, restores reaching Ray workers, worker failures) and the ``rlcore_on_train_result``
hook, lives here once.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from rlcore.config import merge_config
from rlcore.config_aliases import refuse_grid_search
from rlcore.config_schema import COMMON_SCHEMA, check_host
from rlcore.errors import ConfigError
from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.optimizer import PolicyOptimizer

if TYPE_CHECKING:
    from rlcore.worker_set import WorkerSet

#: Config keys every algorithm has, with their defaults (an algorithm's ``default_config`` extends
#: these; :data:`rlcore.config_schema.COMMON_SCHEMA` types and ranges them).
COMMON_CONFIG: dict[str, Any] = COMMON_SCHEMA.defaults()


def _model_differences(saved: Any, config: Mapping[str, Any]) -> str:
    """`` and a model config that differs in k (x there, y here), ...`` between a checkpoint's config
    and a trainer's (``model.use_lstm`` true there, false here...), or an empty string."""
    import json

    from rlcore.errors import RLCoreError
    from rlcore.models.catalog import resolve_model_config

    try:  # both over the catalog's defaults (a config keeps only the keys given)
        theirs = resolve_model_config(saved.get("model") if isinstance(saved, Mapping) else None)
        mine = resolve_model_config(config.get("model"))
    except (RLCoreError, TypeError, ValueError):
        return ""

    def same(a: Any, b: Any) -> bool:
        return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)

    keys = [k for k in sorted({*theirs, *mine}, key=str) if not same(theirs.get(k), mine.get(k))]
    if not keys:
        return ""
    shown = ", ".join(f"{k} ({theirs.get(k)!r} there, {mine.get(k)!r} here)" for k in keys)
    return f" and a model config that differs in {shown}"


class Trainer:
    """Base class of every algorithm: builds from a config, trains an iteration per :meth:`train`."""

    #: Registry name of the algorithm (``"PPO"``).
    name: ClassVar[str] = "Trainer"
    #: Every config key the algorithm accepts, with its default (unknown keys are rejected).
    default_config: ClassVar[dict[str, Any]] = COMMON_CONFIG
    #: The typed, ranged, documented schema of ``default_config`` (:class:`rlcore.config_schema.Schema`).
    config_schema: ClassVar[Any] = None
    #: ``"module:function"`` of the algorithm's numpy postprocessing, run by the rollout evaluator
    #: around the policies registered for this algorithm (see :mod:`rlcore.rollout_evaluator`).
    postprocessing: ClassVar[str | None] = None
    #: ``"module:function"`` of the algorithm's numpy reference loss (for the conformance kit), or None.
    reference_loss: ClassVar[str | None] = None

    #: The local evaluator and the remote ones (built by :meth:`build_evaluators`).
    workers: WorkerSet
    optimizer: PolicyOptimizer

    def __init__(self, config: dict[str, Any] | None = None, env: str | None = None) -> None:
        """Merge ``config`` over :attr:`default_config`, validate it, then :meth:`setup`.

        Raises :class:`~rlcore.errors.ConfigError` before any env or Ray starts for an unknown key
        (naming the nearest one), a value of the wrong type or out of range (naming the key, the
        value and what is allowed: :attr:`config_schema`, else the common keys), ``num_gpus`` above
        the GPUs visible here, ``num_workers > 0`` without Ray installed, or no env. RLlib 2018 key
        names are translated first (:meth:`rlcore.config_schema.Schema.translate`; a 2018 key whose
        feature rlcore lacks, or given beside today's name with another value, is a ConfigError).
        """
        from rlcore.envs import get_env_creator

        schema = self.config_schema if self.config_schema is not None else COMMON_SCHEMA
        # RLlib 2018 key names (sgd_batchsize, sample_batch_size...) under today's names, one warning
        # line per key; a 2018 key whose feature rlcore lacks is refused (rlcore.config_aliases)
        refuse_grid_search(config, owner=self.name)  # grids are for experiments files (Ray Tune)
        config = schema.translate(config, owner=self.name, known=self.default_config)
        if env is not None:
            config["env"] = env
        self.config = merge_config(self.default_config, config)
        # every key typed and ranged (an algorithm without a schema: the common keys), and what this
        # machine cannot run (num_gpus, Ray for num_workers > 0): checked before any env or Ray starts
        schema.validate(self.config, owner=self.name)
        check_host(self.config, owner=self.name)
        if not self.config["env"]:
            raise ConfigError(f"{self.name} needs an env: Trainer(config, env='CartPole-v1') or config['env']")
        self.env_name: str = self.config["env"]
        self.env_creator = get_env_creator(self.env_name)
        self.iteration = 0
        self.timesteps_total = 0
        self.episodes_total = 0
        self.time_total_s = 0.0
        #: Where :meth:`save` writes without an argument (the run's results folder under ``rlcore train``).
        self.logdir: Path | None = None
        self._episodes: deque[EpisodeMetrics] = deque(maxlen=int(self.config["metrics_smoothing_episodes"]))
        try:
            self.setup()
        except BaseException:
            self.stop()  # envs and Ray actors built before the failure are released
            raise

    # -- what an algorithm supplies ---------------------------------------------
    def setup(self) -> None:
        """Build ``self.workers`` (:meth:`build_evaluators`) and ``self.optimizer`` (:meth:`build_optimizer`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement setup()")

    def step(self) -> dict[str, Any]:
        """One training round; returns learner info. Default: ``self.optimizer.step()``."""
        return self.optimizer.step()

    # -- helpers for algorithms -------------------------------------------------
    def evaluator_config(self) -> dict[str, Any]:
        """The config handed to evaluators (the trainer's, with ``num_envs`` and ``env`` set)."""
        return {**self.config, "num_envs": self.config["num_envs_per_worker"], "env": self.env_name}

    def build_evaluators(self, algorithm: str) -> None:
        """Build ``self.workers``: the local evaluator and ``num_workers`` Ray actors of the
        evaluator for ``(algorithm, config["framework"])`` (the whole evaluator registered for the
        pair, else the rollout evaluator around the registered policy with this algorithm's
        postprocessing: :func:`rlcore.registration.resolve_evaluator`); with ``num_workers=0`` Ray
        is never imported. Raises :class:`~rlcore.errors.UnknownNameError` for an unregistered pair,
        :class:`~rlcore.errors.UnsupportedOperationError` for ``model.use_lstm`` with a whole evaluator
        that does not declare ``"recurrent"`` (a policy without it is refused by the rollout evaluator),
        the evaluator's own exception when its constructor raises in a worker (as it would here),
        and :class:`~rlcore.worker_set.WorkerCrashedError` when a worker keeps dying as it starts."""
        from rlcore.registration import resolve_evaluator
        from rlcore.worker_set import WorkerSet

        cfg, n = self.evaluator_config(), int(self.config["num_workers"])
        cls, kwargs = resolve_evaluator(algorithm, self.config["framework"])
        model = self.config.get("model") or {}
        if not kwargs and model.get("use_lstm") and "recurrent" not in getattr(cls, "capabilities", ()):
            # a whole evaluator samples its own way: one without "recurrent" would ignore use_lstm
            from rlcore.errors import UnsupportedOperationError
            from rlcore.model_policy import recurrent_unsupported_message

            name = f"{cls.__module__}.{cls.__qualname__} (whole evaluator {algorithm}/{self.config['framework']})"
            raise UnsupportedOperationError(recurrent_unsupported_message(name, getattr(cls, "capabilities", ())))
        self.workers = WorkerSet(
            cls,
            self.env_creator,
            cfg,
            n,
            evaluator_kwargs=kwargs,
            num_cpus_per_worker=self.config["num_cpus_per_worker"],
            num_gpus_per_worker=self.config.get("num_gpus_per_worker", 0),
            recreate_failed=self.config["recreate_failed_workers"],
            max_worker_restarts=self.config.get("max_worker_restarts", 3),
            ray_address=self.config["ray_address"],
        )

    @property
    def local_evaluator(self) -> PolicyEvaluator:
        """The evaluator in this process (``self.workers.local_evaluator``).

        Assigning one (a trainer that builds its evaluator by hand) makes ``self.workers`` an
        embedded :class:`~rlcore.worker_set.WorkerSet` around it.
        """
        return self.workers.local_evaluator

    @local_evaluator.setter
    def local_evaluator(self, evaluator: PolicyEvaluator) -> None:
        from rlcore.worker_set import WorkerSet

        self.workers = WorkerSet.from_evaluator(evaluator)

    @property
    def remote_evaluators(self) -> list[Any]:
        """The remote evaluators' Ray actor handles (``[]`` without remote workers)."""
        return self.workers.remote_evaluators if hasattr(self, "workers") else []

    def build_optimizer(self, name: str, config: dict[str, Any]) -> None:
        """Build the optimizer registered as ``name`` over ``self.workers``."""
        from rlcore.registration import get_optimizer_class

        self.optimizer = get_optimizer_class(name)(self.workers, config)

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Send trainer-wide values to the local and every remote evaluator (recreated ones too)."""
        self.workers.set_global_vars(global_vars)

    def collect_metrics(self) -> list[EpisodeMetrics]:
        """The episodes finished since the last call that this iteration's metrics count: every
        evaluator's (``optimizer.collect_metrics()``). An algorithm may count some workers only
        (Ape-X: the least exploring third), still taking every worker's episodes off it."""
        return list(self.optimizer.collect_metrics())

    def metrics_window(self, new: list[EpisodeMetrics]) -> list[EpisodeMetrics]:
        """The episodes this iteration's ``episode_reward_mean/min/max`` and ``episode_len_mean``
        are over, as RLlib's ``collect_metrics(min_history=metrics_smoothing_episodes)``: the
        episodes completed this iteration (all of them, however many), topped up with the latest
        earlier ones to ``metrics_smoothing_episodes`` when fewer completed."""
        missing = int(self.config["metrics_smoothing_episodes"]) - len(new)
        return [*list(self._episodes)[-missing:], *new] if missing > 0 else list(new)

    # -- the training API ---------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Run one iteration and return RLlib's result fields (DESIGN section 6).

        The result then goes to every ``rlcore_on_train_result`` plugin (the loggers). One that
        raises is named in a :class:`rlcore.plugins.PluginWarning` and skipped from then on, and
        the result is still returned; with ``RLCORE_STRICT_PLUGINS`` set,
        :class:`rlcore.loggers.LoggerError` is raised instead (after every other plugin ran).
        """
        start = time.perf_counter()
        before = self.optimizer.num_steps_sampled
        self.set_global_vars({"timestep": self.timesteps_total})
        info = self.step()
        self.workers.sync_filters()
        new = self.collect_metrics()
        window = self.metrics_window(new)
        self._episodes.extend(new)
        self.iteration += 1
        steps = self.optimizer.num_steps_sampled - before
        self.timesteps_total += steps
        self.episodes_total += len(new)
        elapsed = time.perf_counter() - start
        self.time_total_s += elapsed
        rewards = [e.episode_reward for e in window]
        lengths = [e.episode_length for e in window]
        result: dict[str, Any] = {
            "episode_reward_mean": float(np.mean(rewards)) if rewards else math.nan,
            "episode_reward_min": float(np.min(rewards)) if rewards else math.nan,
            "episode_reward_max": float(np.max(rewards)) if rewards else math.nan,
            "episode_len_mean": float(np.mean(lengths)) if lengths else math.nan,
            "episodes_this_iter": len(new),
            "episodes_total": self.episodes_total,
            "timesteps_this_iter": steps,
            "timesteps_total": self.timesteps_total,
            "training_iteration": self.iteration,
            "time_this_iter_s": elapsed,
            "time_total_s": self.time_total_s,
            "info": {
                "learner": info,
                "optimizer": self.optimizer.stats(),
                "num_worker_failures": self.workers.num_failures,
            },
            "config": {"env": self.env_name, "framework": self.config["framework"], "algorithm": self.name},
        }
        result.update(self.extra_result_fields(info))
        from rlcore.plugins import get_registry

        get_registry().call_event("rlcore_on_train_result", trainer=self, result=result)
        return result

    def extra_result_fields(self, info: dict[str, Any]) -> dict[str, Any]:
        """Algorithm-specific top-level result fields, from this iteration's learner ``info``
        (ES's ``perturbed_reward_mean``...); added before the result goes to the loggers. Default: none."""
        return {}

    # -- checkpoints --------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Algorithm-level state beyond evaluators and optimizer (PPO's ``kl_coeff``...); JSON and arrays."""
        return {}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""

    def get_state(self) -> dict[str, Any]:
        """Everything :meth:`restore` needs: counters, smoothing window, evaluator and optimizer state."""
        episodes = np.array([(e.episode_reward, e.episode_length) for e in self._episodes], dtype=np.float64)
        return {
            "counters": {
                "iteration": self.iteration,
                "timesteps_total": self.timesteps_total,
                "episodes_total": self.episodes_total,
                "time_total_s": self.time_total_s,
            },
            "recent_episodes": episodes.reshape(-1, 2),
            "evaluator": self.local_evaluator.get_state(),
            "optimizer": self.optimizer.get_state(),
            "algorithm": self.extra_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` into this trainer and its remote evaluators (all or nothing)."""
        before = self.get_state()
        try:
            self._apply_state(state)
            self._set_remote_state(state["evaluator"])
        except Exception:
            self._apply_state(before)
            self._set_remote_state(before["evaluator"])
            raise

    def _set_remote_state(self, state: dict[str, Any]) -> None:
        self.workers.set_state(state, local=False)  # the local evaluator: in _apply_state

    def _apply_state(self, state: dict[str, Any]) -> None:
        counters = state["counters"]
        self.local_evaluator.set_state(state["evaluator"])
        self.optimizer.set_state(state["optimizer"])
        self.set_extra_state(state.get("algorithm", {}))
        self.iteration = int(counters["iteration"])
        self.timesteps_total = int(counters["timesteps_total"])
        self.episodes_total = int(counters["episodes_total"])
        self.time_total_s = float(counters["time_total_s"])
        self._episodes.clear()
        for reward, length in np.asarray(state.get("recent_episodes", np.zeros((0, 2)))).reshape(-1, 2):
            self._episodes.append(EpisodeMetrics(float(reward), int(length)))

    def save(self, checkpoint_dir: str | os.PathLike[str] | None = None) -> Path:
        """Write a checkpoint folder ``checkpoint_dir/checkpoint_<iteration>`` (atomic, no pickle); returns it.

        Without ``checkpoint_dir``, the trainer's :attr:`logdir` (``rlcore train`` sets it to the
        run's results folder; from Python it is ``~/rlcore_results/<algo>_<env>/<algo>_<env>_<date>``,
        made on the first save).

        The checkpoint records the acting spec (:meth:`acting_spec`) as ``meta["policy"]``, so that
        :func:`rlcore.policy.load` acts from it with numpy alone; when it cannot be made (a whole
        evaluator, a space type the codec does not record) it is None and ``meta["policy_unavailable"]``
        says why: that never fails the save.

        Raises:
            CheckpointError: the state cannot be written (see :func:`rlcore.checkpoint.write_checkpoint`).
        """
        from rlcore.checkpoint import checkpoint_dir_name, write_checkpoint
        from rlcore.results import jsonable

        if checkpoint_dir is None:
            if self.logdir is None:
                from rlcore.logger import default_trial_name, trial_dir

                run_env = f"{self.name}_{self.env_name}"
                self.logdir = trial_dir(None, run_env, default_trial_name(self.name, self.env_name))
            checkpoint_dir = self.logdir

        meta = {
            "algorithm": self.name,
            "framework": str(self.config["framework"]),
            "env": self.env_name,
            "config": jsonable(self.config),
            "iteration": self.iteration,
            "timesteps_total": self.timesteps_total,
            "versions": installed_versions(),
        }
        spec, unavailable = self._acting_spec()
        meta["policy"] = spec
        if unavailable is not None:
            meta["policy_unavailable"] = unavailable
        return write_checkpoint(Path(checkpoint_dir) / checkpoint_dir_name(self.iteration), self.get_state(), meta)

    def acting_spec(self) -> dict[str, Any] | None:
        """What acting from a checkpoint needs besides the weights (recorded as ``meta["policy"]``):
        the local evaluator's :meth:`~rlcore.rollout_evaluator.RolloutEvaluator.acting_spec`, or None
        (an evaluator without one, or one that cannot be made: :meth:`save` records why). Never raises."""
        return self._acting_spec()[0]

    def _acting_spec(self) -> tuple[dict[str, Any] | None, str | None]:
        """(the acting spec, None) or (None, why there is none)."""
        from rlcore.results import jsonable

        try:
            evaluator: Any = self.local_evaluator
            make = getattr(evaluator, "acting_spec", None)
            if make is None:
                kind = type(evaluator)
                return None, (
                    f"its evaluator {kind.__module__}.{kind.__qualname__} ({self.name}/{self.config['framework']}) "
                    "records no acting spec: it is not a RolloutEvaluator around a catalog-model policy"
                )
            spec = make()
            if spec is None:
                policy = type(getattr(evaluator, "policy", None))
                return None, (
                    f"its policy {policy.__module__}.{policy.__qualname__} is not a ModelPolicy (a catalog-model "
                    "policy), so acting from the checkpoint needs the trainer"
                )
            return jsonable(spec), None
        except Exception as exc:  # noqa: BLE001 - a save never fails for want of an acting spec
            return None, f"the acting spec could not be made: {type(exc).__name__}: {str(exc)[:500]}"

    def restore(self, path: str | os.PathLike[str]) -> Path:
        """Load a checkpoint (a ``checkpoint_*`` folder, or a folder holding some: the latest is taken).

        Training then continues with the saved counters. A checkpoint of a catalog model restores
        into either framework (weights and Adam moments use canonical names). Returns the folder.
        """
        from rlcore.checkpoint import read_checkpoint
        from rlcore.errors import CheckpointError

        ckpt = read_checkpoint(path)
        if ckpt.algorithm != self.name:
            raise CheckpointError(
                f"{ckpt.path} is a {ckpt.algorithm} checkpoint; this trainer is {self.name}: restore it with "
                f"--run {ckpt.algorithm} (or get_algorithm_class({ckpt.algorithm!r}))"
            )
        try:
            self.set_state(ckpt.state)
        except (KeyError, TypeError, ValueError) as exc:
            from rlcore.filters import FilterStatisticsError

            if isinstance(exc, CheckpointError):
                raise
            if isinstance(exc, FilterStatisticsError):  # not a misfit of env or config: statistics no rlcore writes
                raise CheckpointError(
                    f"{ckpt.path}: its observation-filter statistics (state.evaluator.filter) are not what rlcore "
                    f"writes: {exc}; the checkpoint was edited or damaged (restore an unedited copy)"
                ) from None
            raise CheckpointError(
                f"{ckpt.path} does not fit this {self.name} trainer ({type(exc).__name__}: {exc}); "
                f"it was written for env {ckpt.meta['env']!r} with framework {ckpt.framework!r}"
                f"{_model_differences(ckpt.meta.get('config'), self.config)}: restore it "
                "with the same env and model config"
            ) from None
        return ckpt.path

    def new_acting_state(self) -> Any:
        """A fresh per-episode acting state for :meth:`compute_action` (frame stacks, recurrent
        state): make one at every episode start. None when the evaluator keeps none."""
        return self.local_evaluator.new_acting_state(1)

    def compute_action(self, obs: Any, explore: bool = False, state: Any = None) -> Any:
        """The policy's action for one raw observation (deterministic unless ``explore``), as the env
        takes it: for a Tuple or Dict action space a tuple or dict in the space's own structure.

        ``state`` (from :meth:`new_acting_state`, advanced in place) carries the episode across
        calls: pass it for every step of an episode. Without it each call starts an episode (a
        frame stack filled with this observation, the initial recurrent state). Acting never
        touches the sampling evaluators' per-env state. Raises
        :class:`~rlcore.env_checks.ObservationArgumentError` for an ``obs`` that is not one
        observation of the env's observation space.
        """
        evaluator: Any = self.local_evaluator  # state: an evaluator that keeps one takes it as a keyword
        check = getattr(evaluator, "check_observation", None)
        if check is not None:  # a caller's obs of the wrong shape is named as such (never blamed on the env)
            check(obs, "obs")
        structured = type(getattr(evaluator, "observation_space", None)).__name__ in ("Tuple", "Dict")
        batch: Any = [obs] if structured or isinstance(obs, tuple | dict) else np.asarray(obs)[None]
        if state is None:
            return evaluator.compute_actions(batch, explore=explore)[0]
        return evaluator.compute_actions(batch, explore=explore, state=state)[0]

    def stop(self) -> None:
        """Release evaluators and Ray actors."""
        if hasattr(self, "workers"):
            self.workers.stop()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def installed_versions() -> dict[str, str]:
    """Versions of rlcore and of every loaded plugin's distribution (recorded in checkpoints)."""
    from rlcore import __version__
    from rlcore.plugins import get_registry

    versions = {"rlcore": __version__}
    for info in get_registry().plugin_infos():
        if info.distribution and info.version:
            versions[info.distribution] = info.version
    return versions
