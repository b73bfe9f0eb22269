"""One training run with a results folder and checkpoints: what ``rlcore train --env --run`` does.

:func:`run_trial` builds the trainer (optionally restored from a checkpoint), trains until a
stop criterion is reached, and checkpoints every ``checkpoint_freq`` iterations and/or at the
end (also when interrupted with Ctrl-C). It writes no file itself: it fires the trial's event
hooks, and the core's built-in logger plugins (:mod:`rlcore.loggers`) write the trial folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcore.errors import ConfigError


@dataclass
class TrialOutcome:
    """What :func:`run_trial` did: the trial folder, the last result and the checkpoints written."""

    logdir: Path
    result: dict[str, Any]
    checkpoints: list[Path] = field(default_factory=list)
    interrupted: bool = False


def default_stop(env: str) -> dict[str, float]:
    """Stop at the env's gymnasium reward threshold (its ``reward_threshold``: CartPole-v0 195,
    CartPole-v1 475, MountainCar-v0 -110, Acrobot-v1 -100...) or after 1M timesteps."""
    stop: dict[str, float] = {"timesteps_total": 1_000_000}
    try:
        import gymnasium

        spec = gymnasium.spec(env)
        if spec.reward_threshold is not None and math.isfinite(threshold := float(spec.reward_threshold)):
            stop["episode_reward_mean"] = threshold  # a NaN or infinite threshold: none (it would never stop)
    except Exception:  # noqa: BLE001 - not a gymnasium id: no threshold
        pass
    return stop


def fill_default_stops(experiments: Mapping[str, Any]) -> None:
    """Give every experiment spec without ``stop:`` its env's :func:`default_stop` (in place), as
    ``rlcore train -f`` does: CartPole-v0 stops at an ``episode_reward_mean`` of 195."""
    for spec in experiments.values():
        if not spec.stop:
            spec.stop = default_stop(spec.env)


def check_results_root(local_dir: str | os.PathLike[str] | None) -> None:
    """Refuse a results root that cannot hold folders before any env or Ray starts: a path
    that is (or lies under) a file, or under a folder this user cannot write to.

    Raises:
        ConfigError: naming the path and what is in the way.
    """
    from rlcore.logger import default_results_dir

    root = Path(local_dir).expanduser() if local_dir else default_results_dir()
    existing = root
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        under = "" if existing == root else f" is under {str(existing)!r}, which"
        raise ConfigError(
            f"results folder (local_dir) {str(root)!r}{under} is not a folder but a file; "
            "give a folder for the results (--local-dir or $RLCORE_RESULTS_DIR)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"results folder (local_dir) {str(root)!r}: this user cannot write to {str(existing)!r}; "
            "give a folder you can write to (--local-dir or $RLCORE_RESULTS_DIR)"
        )


def resolve_restore(
    restore: str | os.PathLike[str],
    run: str | None,
    env: str | None,
    config: Mapping[str, Any],
    *,
    check_algorithm: bool = True,
) -> tuple[str, str, dict[str, Any]]:
    """``(run, env, config)`` for continuing a checkpoint: its own algorithm, env and config,
    overridden by what the caller gave (a different ``framework`` restores across frameworks)."""
    from rlcore.checkpoint import read_checkpoint_meta
    from rlcore.errors import CheckpointError, UnknownNameError
    from rlcore.registration import get_algorithm_class

    meta = read_checkpoint_meta(restore)
    if run and run != meta["algorithm"]:
        raise CheckpointError(
            f"{restore} is a {meta['algorithm']} checkpoint but the algorithm to run is {run}: drop --run "
            f"(or `run:`) or use {meta['algorithm']}"
        )
    try:
        if check_algorithm:
            get_algorithm_class(meta["algorithm"])
    except UnknownNameError as exc:
        from rlcore.rollout import check_trainer_plugins

        wanted = config.get("framework")  # every first-party plugin it needs, named at once
        asked = f"--framework {wanted}, or the config's framework" if wanted else None
        check_trainer_plugins(restore, meta, str(wanted or meta["framework"]), asked, numpy_hint=False)
        plugins = ", ".join(f"{k} {v}" for k, v in sorted(meta["versions"].items()) if k != "rlcore")
        raise CheckpointError(
            f"{restore} was written by the algorithm {meta['algorithm']!r} (with {plugins or 'no plugins'}), "
            f"which no installed plugin provides: install the plugin that wrote it. {exc}"
        ) from None
    saved = dict(meta["config"])
    saved.pop("env", None)
    from rlcore.config_aliases import translate_for_algorithm

    config = translate_for_algorithm(meta["algorithm"], config)  # RLlib 2018 names: today's, as saved
    merged = {**saved, **config}
    if isinstance(saved.get("model"), dict) and isinstance(config.get("model"), dict):
        merged["model"] = {**saved["model"], **config["model"]}
    return meta["algorithm"], env or meta["env"], merged


def run_trial(
    run: str,
    env: str,
    config: Mapping[str, Any] | None = None,
    stop: Mapping[str, float] | None = None,
    *,
    local_dir: str | os.PathLike[str] | None = None,
    experiment: str | None = None,
    trial_name: str | None = None,
    checkpoint_freq: int = 0,
    checkpoint_at_end: bool = False,
    restore: str | os.PathLike[str] | None = None,
) -> TrialOutcome:
    """Train ``run`` on ``env`` until ``stop`` (default, also for an empty ``stop``:
    :func:`default_stop`, as in experiment files) in the trial folder
    ``<local_dir>/<experiment>/<trial>`` (default ``<run>_<env>/<run>_<env>_<date>``).

    The folder is made, then the event hooks do the logging: ``rlcore_on_trial_start`` once (the
    built-in plugins open ``params.json``, ``result.json``, ``progress.csv``, the TensorBoard file
    and the progress display), ``rlcore_on_train_result`` after every iteration (fired by
    ``Trainer.train``), ``rlcore_on_trial_end`` once, however the trial ends. Checkpoints every
    ``checkpoint_freq`` iterations and, with ``checkpoint_at_end``, when it stops (also on
    Ctrl-C, which ends the trial with ``interrupted=True`` instead of raising).

    A plugin whose event hook raises is named in one :class:`rlcore.plugins.PluginWarning` and
    its event hooks are skipped from then on; the run goes on and the other plugins (the built-in
    loggers) still write every result. Raises :class:`ConfigError` for a negative
    ``checkpoint_freq`` or bad stop criteria; with ``RLCORE_STRICT_PLUGINS`` set,
    :class:`rlcore.loggers.LoggerError` when a plugin's event hook raised (after all the others
    ran, and after the end-of-run checkpoint was written).
    """
    from rlcore.checkpoint import checkpoint_dir_name
    from rlcore.logger import default_trial_name, trial_dir
    from rlcore.loggers import LoggerError
    from rlcore.plugins import get_registry
    from rlcore.registration import get_algorithm_class
    from rlcore.results import check_stop, should_stop

    if checkpoint_freq < 0:
        raise ConfigError(f"checkpoint_freq must be >= 0 (0 = never), got {checkpoint_freq}")
    stop = check_stop(stop if stop else default_stop(env))  # empty: the default, as in experiment files
    check_results_root(local_dir)
    trainer = get_algorithm_class(run)(config=dict(config or {}), env=env)
    registry = get_registry()
    outcome: TrialOutcome | None = None
    try:
        restored = trainer.restore(restore) if restore else None
        logdir = trial_dir(local_dir, experiment or f"{run}_{env}", trial_name or default_trial_name(run, env))
        logdir.mkdir(parents=True)
        params = {**trainer.config, "env": env, "run": run}
        if restored:
            params["restored_from"] = str(restored)
        outcome = TrialOutcome(logdir, {})
        trainer.logdir = logdir
        error: BaseException | None = None
        try:
            registry.call_event("rlcore_on_trial_start", trainer=trainer, logdir=logdir, params=params, stop=stop)
            try:
                while True:
                    result = trainer.train()
                    outcome.result = result
                    if checkpoint_freq and trainer.iteration % checkpoint_freq == 0:
                        outcome.checkpoints.append(trainer.save())
                    if should_stop(result, stop):
                        break
            except KeyboardInterrupt as exc:
                outcome.interrupted, error = True, exc
            except LoggerError as exc:  # the other loggers wrote the iteration: keep the run's end checkpoint
                error = exc
            last_saved = outcome.checkpoints[-1].name if outcome.checkpoints else None
            if checkpoint_at_end and trainer.iteration and last_saved != checkpoint_dir_name(trainer.iteration):
                outcome.checkpoints.append(trainer.save())
            if isinstance(error, LoggerError):
                raise error
        except BaseException as exc:
            error = exc
            raise
        finally:
            _end_trial(registry, trainer, logdir, outcome.result, error)
    finally:
        trainer.stop()
    return outcome


def _end_trial(registry: Any, trainer: Any, logdir: Path, result: dict[str, Any], error: BaseException | None) -> None:
    """Fire ``rlcore_on_trial_end``. Its plugins' errors were warned about (the plugins' event hooks
    are skipped from then on); in strict mode they are raised, or noted on the error in flight."""
    from rlcore.loggers import LoggerError
    from rlcore.plugins import strict_plugins

    failures = registry.call_event(
        "rlcore_on_trial_end", raise_errors=False, trainer=trainer, logdir=logdir, result=result, error=error
    )
    if not failures or not strict_plugins():
        return
    end_error = LoggerError("rlcore_on_trial_end", failures)
    if error is None or isinstance(error, KeyboardInterrupt):
        raise end_error from failures[0][1]
    error.add_note(str(end_error))
