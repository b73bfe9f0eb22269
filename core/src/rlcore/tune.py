"""Experiments through Ray Tune: a Tune trainable wrapping any rlcore :class:`~rlcore.trainer.Trainer`.

Ray is imported inside the functions only. Each trial runs in a Tune actor with a placement group
(:func:`trial_bundles`): ``num_cpus_for_driver`` CPUs and ``num_gpus`` GPUs for the trainer plus
``num_cpus_per_worker``/``num_gpus_per_worker`` for each of its ``num_workers`` remote evaluators
(or an experiment's ``resources_per_trial``), so trials with workers never wait on one another's
CPUs. A local Ray that rlcore starts gets enough logical CPUs for the largest trial (oversubscribing
the cores, said in one line); a trial bigger than a Ray it joins is refused before any starts. Results land in
``<local_dir>/<experiment>/<trial>/`` (``result.json``, ``progress.csv``, ``params.json``,
TensorBoard events and ``checkpoint_*`` folders holding the trainer's own checkpoints).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
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


#: The fields of ``resources_per_trial`` (and of RLlib 2018's ``trial_resources``): the trial's own
#: CPUs/GPUs (its trainer) and the extra ones for its remote workers (Tune 2018's ``Resources``).
RESOURCE_FIELDS: tuple[str, ...] = ("cpu", "gpu", "extra_cpu", "extra_gpu")


def _config_number(run: str, config: Mapping[str, Any], key: str, fallback: float) -> float:
    """``config[key]``, else the algorithm's default, else ``fallback``, as a float."""
    from rlcore.config_schema import COMMON_SCHEMA
    from rlcore.registration import get_algorithm_class

    defaults = getattr(get_algorithm_class(run), "default_config", None) or COMMON_SCHEMA.defaults()
    value = config.get(key, defaults.get(key, fallback))
    if value is None:
        return fallback
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {key!r} needs a number, got {value!r}") from None


def _bundle(cpu: float, gpu: float) -> dict[str, float]:
    return {name: amount for name, amount in (("CPU", cpu), ("GPU", gpu)) if amount > 0}


def trial_bundles(
    run: str,
    config: Mapping[str, Any],
    resources: Mapping[str, float] | None = None,
    *,
    key: str = "resources_per_trial",
) -> list[dict[str, float]]:
    """The placement-group bundles of one trial of ``run`` with ``config``: the trainer's bundle
    (``num_cpus_for_driver`` CPUs, ``num_gpus`` GPUs) then one per remote worker
    (``num_cpus_per_worker``, ``num_gpus_per_worker``), as RLlib's ``default_resource_request``.

    ``resources`` (an experiment's ``resources_per_trial``/``trial_resources``: ``cpu``, ``gpu``,
    ``extra_cpu``, ``extra_gpu``) sets the trial's total instead: ``cpu + extra_cpu`` CPUs and
    ``gpu + extra_gpu`` GPUs, of which the workers get their bundles and the trainer the rest.

    A trial that asks for nothing (``num_cpus_for_driver: 0``, no workers) reserves
    :data:`MIN_TRIAL_CPU`. Raises :class:`ConfigError` (one line, naming ``key``) when
    ``resources`` gives less than the config asks for, or a config resource key is not a number.
    """
    driver = _config_number(run, config, "num_cpus_for_driver", 1.0)
    gpus = _config_number(run, config, "num_gpus", 0.0)
    workers = int(_config_number(run, config, "num_workers", 0.0))
    cpw = _config_number(run, config, "num_cpus_per_worker", 1.0)
    gpw = _config_number(run, config, "num_gpus_per_worker", 0.0)
    worker_bundle = _bundle(cpw, gpw)
    worker_bundles = [dict(worker_bundle) for _ in range(workers)] if worker_bundle else []
    if resources is None:
        return _nonempty([_bundle(driver, gpus), *worker_bundles])
    given = {"cpu": 1.0, "gpu": 0.0, "extra_cpu": 0.0, "extra_gpu": 0.0, **resources}
    total_cpu, total_gpu = given["cpu"] + given["extra_cpu"], given["gpu"] + given["extra_gpu"]
    for unit, total, own, per_worker, own_key, worker_key in (
        ("cpu", total_cpu, driver, cpw, "num_cpus_for_driver", "num_cpus_per_worker"),
        ("gpu", total_gpu, gpus, gpw, "num_gpus", "num_gpus_per_worker"),
    ):
        need = own + workers * per_worker
        if total < need - 1e-9:
            raise ConfigError(
                f"{key} gives a trial {total:g} {unit.upper()}s ({unit} {given[unit]:g} + extra_{unit} "
                f"{given['extra_' + unit]:g}) but its config asks for {need:g} ({own_key} {own:g} + num_workers "
                f"{workers} x {worker_key} {per_worker:g}); raise {unit} + extra_{unit} to {need:g} "
                "or lower num_workers"
            )
    head = _bundle(total_cpu - workers * cpw, total_gpu - workers * gpw)
    return _nonempty([head, *worker_bundles])


#: What a trial that asks for nothing reserves (Tune refuses a trial of empty bundles only).
MIN_TRIAL_CPU = 0.01


def _nonempty(bundles: list[dict[str, float]]) -> list[dict[str, float]]:
    """``bundles``, with :data:`MIN_TRIAL_CPU` in the trainer's when all are empty
    (``num_cpus_for_driver: 0`` and no workers)."""
    return bundles if any(bundles) else [{"CPU": MIN_TRIAL_CPU}, *bundles[1:]]


def _count(amount: float, unit: str) -> str:
    """``"1 GPU"``, ``"2 GPUs"``, ``"0.5 GPUs"``."""
    return f"{amount:g} {unit}{'' if amount == 1 else 's'}"


def describe_bundles(bundles: list[dict[str, float]]) -> str:
    """``"3 CPUs (1 driver + 2 workers)"``: what a trial's bundles add up to, in words."""
    total = sum(b.get("CPU", 0.0) for b in bundles)
    head, rest = (bundles[0] if bundles else {}), bundles[1:]
    parts = [f"{head.get('CPU', 0.0):g} driver"]
    if rest:
        per = rest[0].get("CPU", 0.0)
        parts.append(f"{len(rest)} worker{'s' if len(rest) > 1 else ''}" + ("" if per == 1 else f" x {per:g}"))
    return f"{total:g} CPU{'s' if total != 1 else ''} ({' + '.join(parts)})"


def trial_resources(run: str, config: Mapping[str, Any], resources: Mapping[str, float] | None = None) -> Any:
    """The Tune ``PlacementGroupFactory`` of one trial: :func:`trial_bundles` (the trainer's bundle
    plus one per remote worker)."""
    from ray.tune import PlacementGroupFactory

    return PlacementGroupFactory(trial_bundles(run, config, resources))


@dataclass
class DriverRegistrations:
    """What the driver registered in code that a trial names, to register again in the trial's own
    process (Tune runs each trial in a Ray actor, where only plugins' registrations exist):
    ``envs`` (name -> creator, from :func:`rlcore.register_env`), ``models`` and ``preprocessors``
    (name -> class, from ``ModelCatalog.register_custom_model`` / ``register_custom_preprocessor``)."""

    envs: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    preprocessors: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: ExperimentSpec) -> DriverRegistrations:
        """The registrations made in code in this process that ``spec``'s trials name (its env,
        every grid point's ``model.custom_model`` and ``model.custom_preprocessor``)."""
        from rlcore.models.catalog import ModelCatalog
        from rlcore.plugins import get_registry
        from rlcore.specs import USER

        out = cls()
        env_spec = get_registry().load().specs["env"].get(spec.env)
        if env_spec is not None and env_spec.plugin == USER:
            out.envs[spec.env] = env_spec.target
        for variant in spec.variants:
            given = variant.get("model")
            model: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
            name = model.get("custom_model")
            if isinstance(name, str) and name in ModelCatalog._custom_models:
                out.models[name] = ModelCatalog._custom_models[name]
            name = model.get("custom_preprocessor")
            if isinstance(name, str) and name in ModelCatalog._custom_preprocessors:
                out.preprocessors[name] = ModelCatalog._custom_preprocessors[name]
        return out

    def register(self) -> None:
        """Register what this process lacks (a trial's actor; the driver itself has them all)."""
        from rlcore.envs import register_env
        from rlcore.models.catalog import ModelCatalog
        from rlcore.plugins import get_registry

        known = get_registry().load().specs["env"]
        for name, creator in self.envs.items():
            if name not in known:
                register_env(name, creator, override=True)
        for name, model in self.models.items():
            ModelCatalog._custom_models.setdefault(name, model)
        for name, prep in self.preprocessors.items():
            ModelCatalog._custom_preprocessors.setdefault(name, prep)


def make_trainable(
    run: str,
    restore: str | None = None,
    resources: Mapping[str, float] | None = None,
    registrations: DriverRegistrations | None = None,
) -> type:
    """A Tune class trainable (named ``run``) that trains the rlcore algorithm ``run``.

    Each trial reserves :func:`trial_resources` of its config (and of ``resources``, an
    experiment's ``resources_per_trial``, when given). ``registrations`` (envs, custom models and
    preprocessors the driver registered in code) are registered again in the trial's process
    before its trainer is built, as RLlib's ``register_env`` then ``run_experiments`` did.

    ``setup`` builds the trainer from the trial config (and restores ``restore``, a checkpoint,
    when given), ``step`` is one ``train()``, Tune checkpoints are the trainer's own
    (``Trainer.save``/``Trainer.restore``: JSON and ``.npz``, nothing pickled).
    """
    from ray import tune

    class RLCoreTrainable(tune.Trainable):
        """Tune trainable around an rlcore trainer (see :func:`make_trainable`)."""

        _rlcore_run: str = run
        _rlcore_restore: str | None = restore
        _rlcore_resources: Mapping[str, float] | None = resources
        _rlcore_registrations: DriverRegistrations | None = registrations

        @classmethod
        def default_resource_request(cls, config: dict[str, Any]) -> Any:
            return trial_resources(cls._rlcore_run, config, cls._rlcore_resources)

        def setup(self, config: dict[str, Any]) -> None:
            from rlcore.registration import get_algorithm_class

            if self._rlcore_registrations is not None:
                self._rlcore_registrations.register()
            cfg = dict(config)
            self.trainer = get_algorithm_class(self._rlcore_run)(config=cfg, env=cfg.get("env"))
            if self._rlcore_restore:
                self.trainer.restore(self._rlcore_restore)
                # Tune reports its own time_total_s: go on from the checkpoint's, as the trainer does
                # (RLlib's time_total_s stop counts the restored time too)
                self._time_total = float(self.trainer.time_total_s)

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


@dataclass
class _TrialNeed:
    """The largest trial of a run: its bundles and where it comes from (for messages)."""

    experiment: str
    point: str
    bundles: list[dict[str, float]]
    #: ``"trial_resources"`` / ``"resources_per_trial"`` when the experiment gave one, else None.
    resources_key: str | None = None
    #: ``file:line`` of the experiment ("" without a file).
    where: str = ""

    def amount(self, resource: str) -> float:
        return sum(b.get(resource, 0.0) for b in self.bundles)

    def bundle(self, resource: str) -> float:
        """The most of ``resource`` that one of its bundles asks for (a bundle is placed on one node)."""
        return max((b.get(resource, 0.0) for b in self.bundles), default=0.0)

    def label(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{where}experiment {self.experiment!r}{self.point}"

    def gpus_from(self) -> str:
        """Which keys ask for the trial's GPUs, in words."""
        if self.resources_key:
            return f"{self.resources_key} gpu + extra_gpu"
        return "num_gpus + num_workers x num_gpus_per_worker"

    def gpus_to_lower(self) -> str:
        """The keys to lower for fewer GPUs, in words."""
        return f"{self.resources_key}'s gpu/extra_gpu" if self.resources_key else "num_gpus/num_gpus_per_worker"


def _largest_trials(experiments: Mapping[str, ExperimentSpec]) -> dict[str, _TrialNeed]:
    """The trial asking for the most CPUs and the one asking for the most GPUs (keys ``CPU``,
    ``GPU``), and those with the largest single bundle of each (``CPU bundle``, ``GPU bundle``),
    over every experiment and grid point. Raises :class:`ConfigError` when an experiment's
    ``resources_per_trial`` does not cover its config (naming the experiment and grid point)."""
    largest: dict[str, _TrialNeed] = {}
    for spec in experiments.values():
        variants = spec.variants
        for i, variant in enumerate(variants):
            point = f" (grid point {i + 1} of {len(variants)})" if len(variants) > 1 else ""
            try:
                bundles = trial_bundles(spec.run, variant, spec.resources, key=spec.resources_key)
            except ConfigError as exc:
                where = f"{spec.source}:{spec.line}: " if spec.source else ""
                raise ConfigError(f"{where}experiment {spec.name!r}{point}: {exc}") from None
            need = _TrialNeed(
                spec.name,
                point,
                bundles,
                spec.resources_key if spec.resources is not None else None,
                f"{spec.source}:{spec.line}" if spec.source else "",
            )
            for resource in ("CPU", "GPU"):
                if resource not in largest or need.amount(resource) > largest[resource].amount(resource):
                    largest[resource] = need
                key = f"{resource} bundle"
                if key not in largest or need.bundle(resource) > largest[key].bundle(resource):
                    largest[key] = need
    return largest


def _fit_local_ray(largest: Mapping[str, _TrialNeed], num_cpus: int | None) -> int | None:
    """The ``num_cpus`` to start the local Ray with so that the largest trial fits: this machine's
    CPUs, or the largest trial's need (one line on stderr saying it oversubscribes the cores).

    Raises :class:`ConfigError` before Ray starts when a trial asks for more GPUs than this machine
    shows (GPUs cannot be oversubscribed) or for more CPUs than an explicit ``num_cpus``.
    """
    from rlcore.config_schema import visible_gpus
    from rlcore.ray_init import check_oversubscription, machine_cpus

    gpu_trial, cpu_trial = largest.get("GPU"), largest.get("CPU")
    if gpu_trial is not None and gpu_trial.amount("GPU") > 0:
        count, how = visible_gpus()
        if gpu_trial.amount("GPU") > count:
            raise ConfigError(
                f"{gpu_trial.label()}: a trial asks for {_count(gpu_trial.amount('GPU'), 'GPU')} "
                f"({gpu_trial.gpus_from()}) but this machine has {count} ({how}); GPUs cannot be shared like CPUs: "
                f"lower {gpu_trial.gpus_to_lower()}, or join a cluster with GPUs with --ray-address"
            )
    cpus = cpu_trial.amount("CPU") if cpu_trial is not None else 0.0
    need = math.ceil(cpus - 1e-9)
    if num_cpus is not None:
        if cpus > num_cpus:
            raise ConfigError(
                f"{cpu_trial.label() if cpu_trial else 'a trial'}: a trial asks for "
                f"{describe_bundles(cpu_trial.bundles if cpu_trial else [])} but Ray is to start with num_cpus="
                f"{num_cpus}: raise num_cpus to {need} or lower num_workers"
            )
        return num_cpus
    have = machine_cpus()
    if need <= have:
        return have
    assert cpu_trial is not None
    check_oversubscription(need, have, f"{cpu_trial.label()}: a trial asks for {describe_bundles(cpu_trial.bundles)}")
    print(
        f"rlcore: a trial asks for {describe_bundles(cpu_trial.bundles)} and this machine has {have}: starting Ray "
        f"with {need} logical CPUs (oversubscribed); trials run one after another as they fit",
        file=sys.stderr,
        flush=True,
    )
    return need


def _check_resources(largest: Mapping[str, _TrialNeed], joined: str) -> None:
    """Fail now, in one line, not after a silent wait, when a trial needs more CPUs/GPUs than the
    Ray cluster has (``joined``: how that Ray came to be, for the message)."""
    import ray

    total = ray.cluster_resources()
    for resource in ("CPU", "GPU"):
        trial = largest.get(resource)
        if trial is None:
            continue
        amount, have = trial.amount(resource), float(total.get(resource, 0))
        if amount > have + 1e-9:
            what = describe_bundles(trial.bundles) if resource == "CPU" else f"{amount:g} GPUs"
            raise ConfigError(
                f"{trial.label()}: a trial asks for {what} but {joined} has {have:g} {resource}s, so it would wait "
                f"forever; lower num_workers, num_cpus_per_worker or num_gpus, or use a larger cluster"
            )
    _check_nodes(largest, [dict(n.get("Resources") or {}) for n in ray.nodes() if n.get("Alive")], joined)


def _check_nodes(largest: Mapping[str, _TrialNeed], nodes: list[dict[str, float]], joined: str) -> None:
    """Fail when one bundle of a trial (the trainer's, or a worker's) is larger than every node of
    the cluster (``nodes``: each alive node's resources): a bundle is placed on one node."""
    for resource in ("CPU", "GPU"):
        trial = largest.get(f"{resource} bundle")
        if trial is None or not nodes:
            continue
        amount, most = trial.bundle(resource), max(float(n.get(resource, 0)) for n in nodes)
        if amount > most + 1e-9:
            raise ConfigError(
                f"{trial.label()}: one bundle of a trial (its trainer, or one worker) asks for {amount:g} {resource}s "
                f"but the largest node of {joined} has {most:g}, so it would wait forever; lower num_cpus_for_driver, "
                f"num_gpus, num_cpus_per_worker or num_gpus_per_worker (resources_per_trial's cpu/gpu go to the "
                "trainer's bundle)"
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
    :func:`~rlcore.logger.default_results_dir`) ``/<experiment>/<trial>/``. Ray is joined at
    ``ray_address``, or started unless already initialized: with ``num_cpus`` CPUs, else this
    machine's (:func:`~rlcore.ray_init.machine_cpus`), else, when the largest trial of any experiment and grid point
    asks for more, that many logical CPUs (one line on stderr says it oversubscribes the cores;
    trials then run one after another as they fit; more than
    :data:`~rlcore.ray_init.MAX_CPUS_PER_CORE` per core is refused). Raises :class:`ConfigError`, before any trial
    starts, when a trial asks for more GPUs than this machine shows (Ray not started yet), more
    CPUs than an explicit ``num_cpus``, or more than a joined or already initialized Ray has. ``verbose``: 0
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
    import ray

    largest = _largest_trials(experiments)
    ray_address = ray_address or os.environ.get("RAY_ADDRESS") or None  # as ray.init: a cluster to join
    if ray.is_initialized():
        joined = "the Ray this process already started (ray.init)"
    elif ray_address:
        joined = f"the Ray cluster at {ray_address}"
    else:
        joined = "the local Ray"
        num_cpus = _fit_local_ray(largest, num_cpus)
    init_ray(ray_address, num_cpus=num_cpus)
    _check_resources(largest, joined)
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
            make_trainable(spec.run, spec.restore, spec.resources, DriverRegistrations.of(spec)),
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
