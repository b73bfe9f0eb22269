"""Experiments through Ray Tune: a Tune trainable wrapping any rlcore :class:`~rlcore.trainer.Trainer`.

Ray is imported inside the functions only. Each trial runs in a Tune actor with a placement group
of one CPU for the trainer plus ``num_cpus_per_worker`` for each of its ``num_workers`` remote
evaluators, so trials with workers never wait on one another's CPUs. Results land in
``<local_dir>/<experiment>/<trial>/`` (``result.json``, ``progress.csv``, ``params.json``,
TensorBoard events and ``checkpoint_*`` folders holding the trainer's own checkpoints).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcore.errors import ConfigError, RLCoreError
from rlcore.experiments import ExperimentSpec
from rlcore.logger import default_results_dir
from rlcore.progress import progress_line

#: Result keys copied into :attr:`TrialSummary.last_result`.
SUMMARY_KEYS: tuple[str, ...] = (
    "episode_reward_mean",
    "episode_len_mean",
    "episodes_total",
    "timesteps_total",
    "training_iteration",
    "time_total_s",
)


class TrialsFailedError(RLCoreError):
    """Some trials of a Tune run ended in an error; ``trials`` holds every trial's summary."""

    def __init__(self, message: str, trials: list[TrialSummary]) -> None:
        super().__init__(message)
        self.trials = trials


@dataclass
class TrialSummary:
    """How one Tune trial ended: its folder, config, last result and error (if any)."""

    experiment: str
    trial_id: str
    #: The trial folder (``<local_dir>/<experiment>/<trial>``).
    path: str
    #: The trial's config (grid values resolved).
    config: dict[str, Any]
    #: ``"TERMINATED"`` or ``"ERROR"``.
    status: str
    #: The last result's :data:`SUMMARY_KEYS` (NaN where no episode finished).
    last_result: dict[str, Any] = field(default_factory=dict)
    #: The latest checkpoint folder Tune kept, if any.
    checkpoint: str | None = None
    #: The error's message (its traceback is in ``<path>/error.txt``).
    error: str | None = None

    def summary_line(self) -> str:
        """One line: status, last iteration/timesteps/reward, folder (and the error's last line)."""
        line = f"{self.status:<10}  {progress_line(self.last_result)}  {self.path}"
        return f"{line}\n  error: {_short_error(self.error)}" if self.error else line

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as None)."""
        from rlcore.results import jsonable

        return jsonable(self.__dict__)


def trial_resources(run: str, config: Mapping[str, Any]) -> Any:
    """The Tune ``PlacementGroupFactory`` of one trial: the trainer's bundle plus one per remote worker."""
    from ray.tune import PlacementGroupFactory

    from rlcore.registration import get_algorithm_class

    defaults = getattr(get_algorithm_class(run), "default_config", {})

    def get(key: str, fallback: Any) -> Any:
        value = config.get(key, defaults.get(key, fallback))
        return fallback if value is None else value

    head: dict[str, float] = {"CPU": 1.0}
    if float(get("num_gpus", 0)) > 0:
        head["GPU"] = float(get("num_gpus", 0))
    workers = int(get("num_workers", 0))
    cpus = float(get("num_cpus_per_worker", 1))
    bundles = [head] + ([{"CPU": cpus}] * workers if cpus > 0 else [])
    return PlacementGroupFactory(bundles)


def make_trainable(run: str, restore: str | None = None) -> type:
    """A Tune class trainable (named ``run``) that trains the rlcore algorithm ``run``.

    ``setup`` builds the trainer from the trial config (and restores ``restore``, a checkpoint,
    when given), ``step`` is one ``train()``, Tune checkpoints are the trainer's own
    (``Trainer.save``/``Trainer.restore``: JSON and ``.npz``, nothing pickled).
    """
    from ray import tune

    class RLCoreTrainable(tune.Trainable):
        """Tune trainable around an rlcore trainer (see :func:`make_trainable`)."""

        _rlcore_run: str = run
        _rlcore_restore: str | None = restore

        @classmethod
        def default_resource_request(cls, config: dict[str, Any]) -> Any:
            return trial_resources(cls._rlcore_run, config)

        def setup(self, config: dict[str, Any]) -> None:
            from rlcore.registration import get_algorithm_class

            cfg = dict(config)
            self.trainer = get_algorithm_class(self._rlcore_run)(config=cfg, env=cfg.get("env"))
            if self._rlcore_restore:
                self.trainer.restore(self._rlcore_restore)

        def step(self) -> dict[str, Any]:
            result = self.trainer.train()
            # Tune fills in "config" (the trial config) itself; ours would be overwritten anyway.
            result.pop("config", None)
            return result

        def save_checkpoint(self, checkpoint_dir: str) -> None:
            self.trainer.save(checkpoint_dir)

        def load_checkpoint(self, checkpoint: Any) -> None:
            self.trainer.restore(checkpoint)

        def cleanup(self) -> None:
            trainer = getattr(self, "trainer", None)
            if trainer is not None:
                trainer.stop()

    return type(run, (RLCoreTrainable,), {"__doc__": f"Tune trainable of the rlcore algorithm {run}."})


def _summarize(spec: ExperimentSpec, result: Any) -> TrialSummary:
    metrics = dict(result.metrics or {})
    path = str(result.path)
    trial_id = str(metrics.get("trial_id") or Path(path).name)
    error = None
    if result.error is not None:
        error = str(result.error).strip()
    last = {k: metrics.get(k, math.nan) for k in SUMMARY_KEYS if k in metrics}
    checkpoint = result.checkpoint.path if result.checkpoint is not None else None
    return TrialSummary(
        experiment=spec.name,
        trial_id=trial_id,
        path=path,
        config=dict(result.config or {}),
        status="ERROR" if error else "TERMINATED",
        last_result=last,
        checkpoint=checkpoint,
        error=error,
    )


def _short_error(message: str) -> str:
    lines = [line for line in message.splitlines() if line.strip()]
    return lines[-1].strip() if lines else message


def _progress_callback(experiment: str, interval_s: float = 5.0) -> Any:
    """A Tune callback printing a trial's first result, then one at most every ``interval_s``, and its end."""
    import time

    from ray import tune

    class Progress(tune.Callback):
        def __init__(self) -> None:
            self.printed: dict[str, float] = {}
            self.last: dict[str, dict] = {}

        def _label(self, trial: Any) -> str:
            return f"{experiment}/{trial.experiment_tag or trial.trial_id}"

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.last[trial.trial_id] = result
            now = time.monotonic()
            if now - self.printed.get(trial.trial_id, -math.inf) >= interval_s:
                self.printed[trial.trial_id] = now
                print(f"{self._label(trial)}  {progress_line(result)}", flush=True)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            last = self.last.get(trial.trial_id)
            progress = f"{progress_line(last)}  " if last else ""
            print(f"{self._label(trial)}  {progress}done: {trial.path}", flush=True)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            message = ""
            with contextlib.suppress(Exception):  # no error file: the path alone
                message = _short_error(Path(trial.error_file).read_text(encoding="utf-8")) + "; "
            where = Path(trial.path or trial.local_path or "") / "error.txt"
            print(f"{self._label(trial)}  ERROR: {message}traceback in {where}", flush=True)

    return Progress()


@contextlib.contextmanager
def _tune_console(verbose: int) -> Iterator[None]:
    """Below verbose 2: Tune's old console reporter (silent at verbose 0), no trial tracebacks or INFO logs."""
    if verbose >= 2:
        yield
        return
    # The new reporter prints a header and a table even at verbose 0; trial tracebacks go to error.txt
    # (the progress callback prints their last line); "no metrics" warnings about failed trials are noise.
    env = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_PRINT_ALL_TRIAL_ERRORS": "0"}
    levels = {"ray.tune": logging.WARNING, "ray.tune.analysis.experiment_analysis": logging.ERROR}
    old_env = {key: os.environ.get(key) for key in env}
    old_levels = {name: logging.getLogger(name).level for name in levels}
    os.environ.update(env)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_resources(experiments: Mapping[str, ExperimentSpec]) -> None:
    """Fail now, not after a silent wait, when a trial needs more CPUs/GPUs than the Ray cluster has."""
    import ray

    total = ray.cluster_resources()
    for spec in experiments.values():
        for variant in spec.variants:
            need = trial_resources(spec.run, variant).required_resources
            for resource, amount in need.items():
                if amount > total.get(resource, 0):
                    raise ConfigError(
                        f"experiment {spec.name!r}: a trial needs {amount:g} {resource} (1 CPU for the trainer plus "
                        f"num_workers x num_cpus_per_worker, num_gpus GPUs) but Ray has {total.get(resource, 0):g}; "
                        "lower num_workers or num_cpus_per_worker, or join a larger cluster with --ray-address"
                    )


def run_experiments(
    experiments: Mapping[str, ExperimentSpec],
    local_dir: str | os.PathLike[str] | None = None,
    *,
    ray_address: str | None = None,
    num_cpus: int | None = None,
    verbose: int = 1,
    quiet: bool = False,
    raise_on_error: bool = True,
) -> list[TrialSummary]:
    """Run each experiment (one after the other) through Ray Tune; every trial's summary, in order.

    Results go to ``local_dir`` (else the experiment's ``local_dir``, else
    :func:`~rlcore.logger.default_results_dir`) ``/<experiment>/<trial>/``. Ray is started
    (``num_cpus`` CPUs) or joined at ``ray_address`` unless already initialized. ``verbose``: 0
    silent (as is ``quiet``); 1 (default) a trial's first result, then a line per trial at most
    every 5 s, and its end; 2 Tune's own tables as well. With ``raise_on_error`` (the default) a
    run where any trial failed raises :class:`TrialsFailedError` naming each failure (after all
    experiments ran); otherwise failed trials have ``status == "ERROR"`` and ``error`` set.
    Raises :class:`ConfigError` saying how to install Ray when it is not installed.
    """
    from rlcore.config_schema import require_ray

    require_ray("experiments run through Ray Tune (rlcore train -f)")
    from ray import tune

    from rlcore.ray_init import init_ray
    from rlcore.registration import get_algorithm_class

    if quiet:
        verbose = 0

    for spec in experiments.values():
        if (spec.checkpoint_freq or spec.checkpoint_at_end) and not hasattr(get_algorithm_class(spec.run), "save"):
            raise ConfigError(f"experiment {spec.name!r}: algorithm {spec.run} cannot save checkpoints")
    init_ray(ray_address, num_cpus=num_cpus)
    _check_resources(experiments)
    summaries: list[TrialSummary] = []
    for spec in experiments.values():
        root = Path(local_dir or spec.local_dir or default_results_dir()).expanduser().absolute()
        root.mkdir(parents=True, exist_ok=True)
        if verbose:
            print(
                f"experiment {spec.name}: {spec.num_trials} trial(s) of {spec.run} on {spec.env}, "
                f"stop {spec.stop or 'never (interrupt to end)'}; results in {root / spec.name}",
                flush=True,
            )
        run_config = tune.RunConfig(
            name=spec.name,
            storage_path=str(root),
            stop=dict(spec.stop) or None,
            verbose=2 if verbose >= 2 else 0,
            callbacks=[_progress_callback(spec.name)] if verbose else None,
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=spec.checkpoint_freq,
                checkpoint_at_end=spec.checkpoint_at_end,
                num_to_keep=spec.keep_checkpoints_num,
            ),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        )
        tuner = tune.Tuner(
            make_trainable(spec.run, spec.restore),
            param_space=dict(spec.config),
            tune_config=tune.TuneConfig(num_samples=spec.num_samples),
            run_config=run_config,
        )
        with _tune_console(verbose):
            grid = tuner.fit()
        summaries += [_summarize(spec, grid[i]) for i in range(len(grid))]
    failed = [s for s in summaries if s.status == "ERROR"]
    if failed and raise_on_error:
        lines = [f"{len(failed)} of {len(summaries)} trials failed:"]
        lines += [f"  {s.experiment}/{Path(s.path).name}: {_short_error(s.error or '')}" for s in failed]
        lines.append(f"tracebacks: {', '.join(str(Path(s.path) / 'error.txt') for s in failed)}")
        raise TrialsFailedError("\n".join(lines), summaries)
    return summaries
