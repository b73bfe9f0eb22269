"""The core's built-in logger plugins, and the base class they share with users' loggers.

Like pytest's default plugins, the writers of a run's results folder are plugins of the core's
own hooks (:mod:`rlcore.hookspecs`), registered by the plugin manager under these names before
any entry point:

* ``json``: ``params.json`` (the run's config) and ``result.json`` (one JSON object per line);
* ``csv``: ``progress.csv`` (results flattened to ``info/learner/loss`` columns; the header
  widens when a column appears);
* ``tensorboard``: TensorBoard event files (the finite numeric results as scalars, written with
  tensorboardX), at step ``timesteps_total``;
* ``progress``: the progress display of ``rlcore train`` (:mod:`rlcore.progress`).

``rlcore list-plugins`` lists them (distribution ``rlcore``) and ``RLCORE_DISABLE_PLUGINS=tensorboard``
skips one like any plugin. Their modules import only the standard library at plugin-load time
(numpy, tensorboardX and rich are imported inside the hooks), so listing plugins stays light.

The hooks they implement: :func:`~rlcore.hookspecs.rlcore_on_trial_start` (a run with a results
folder starts: open files), :func:`~rlcore.hookspecs.rlcore_on_train_result` (write a result) and
:func:`~rlcore.hookspecs.rlcore_on_trial_end` (close files). A user's logger implements the same
hooks, in an entry-point plugin or registered in code with
``rlcore.get_registry().add_plugin(obj, "name")``; :class:`TrialLogger` does the bookkeeping of
one open writer per running trainer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from rlcore.errors import PluginError
from rlcore.hookspecs import hookimpl

__all__ = ["BUILTIN_PLUGINS", "BuiltinPlugin", "LoggerError", "TrialLogger"]


class BuiltinPlugin:
    """Where a built-in plugin lives (``"module:Class"``, instantiated once per registry) and a summary."""

    __slots__ = ("summary", "target")

    def __init__(self, target: str, summary: str) -> None:
        self.target = target
        self.summary = summary


#: The core's built-in plugins by plugin name, in registration order.
BUILTIN_PLUGINS: dict[str, BuiltinPlugin] = {
    "json": BuiltinPlugin("rlcore.loggers.json_logger:JsonLogger", "logger: params.json, result.json (JSON lines)"),
    "csv": BuiltinPlugin("rlcore.loggers.csv_logger:CsvLogger", "logger: progress.csv"),
    "tensorboard": BuiltinPlugin(
        "rlcore.loggers.tensorboard_logger:TensorBoardLogger", "logger: TensorBoard event files (tensorboardX)"
    ),
    "progress": BuiltinPlugin("rlcore.progress:ProgressDisplay", "display: the progress of rlcore train"),
}


class LoggerError(PluginError):
    """One or more plugins raised in an event hook (a logger or a callback), in strict mode.

    Raised only with ``RLCORE_STRICT_PLUGINS`` set; by default such a plugin is named in a
    :class:`rlcore.plugins.PluginWarning` and its event hooks are skipped from then on. Every
    other implementation of the hook still ran (so the other loggers wrote the result) before
    this was raised. ``hook`` is the hook's name and ``failures`` lists
    ``(plugin name, exception)`` in call order; the first exception is the ``__cause__``.
    """

    def __init__(self, hook: str, failures: list[tuple[str, BaseException]]) -> None:
        self.hook = hook
        self.failures = failures
        names = ",".join(sorted({name for name, _ in failures}))
        detail = "; ".join(f"plugin {name!r} raised {type(exc).__name__}: {exc}" for name, exc in failures)
        super().__init__(
            f"{hook}: {detail}. The other plugins of this hook ran. Fix the plugin, or skip it with "
            f"RLCORE_DISABLE_PLUGINS={names} (`rlcore list-plugins` lists the plugins)."
        )


W = TypeVar("W")


class TrialLogger(Generic[W]):
    """Base class of a logger plugin that keeps one open writer per running trial.

    Subclasses implement :meth:`open` (called by ``rlcore_on_trial_start`` with the trial's
    results folder), :meth:`write` (by ``rlcore_on_train_result``) and :meth:`close` (by
    ``rlcore_on_trial_end``). Writers are keyed by the trainer, so several trials in one process
    each get their own, and a trainer that trains without a results folder (a bare
    ``trainer.train()``, a Ray Tune trial, whose folder Tune's own loggers write) is ignored.
    The hooks are ``trylast``: plugins that add keys to a result run before loggers write it.
    """

    def __init__(self) -> None:
        self._writers: dict[int, W] = {}
        self._lock = threading.Lock()

    def open(self, logdir: Path, params: Mapping[str, Any]) -> W:
        """Open this logger's files in the folder ``logdir`` for a trial whose config is ``params``."""
        raise NotImplementedError(f"{type(self).__name__} must implement open(logdir, params)")

    def write(self, writer: W, result: Mapping[str, Any]) -> None:
        """Write one ``train()`` result with the writer :meth:`open` returned (flush it: a killed run keeps it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement write(writer, result)")

    def close(self, writer: W) -> None:
        """Flush and close the writer :meth:`open` returned. Default: nothing."""

    def writer_of(self, trainer: Any) -> W | None:
        """The open writer of ``trainer``'s trial, or None when it has none."""
        with self._lock:
            return self._writers.get(id(trainer))

    @hookimpl(trylast=True)
    def rlcore_on_trial_start(self, trainer: Any, logdir: Path, params: dict[str, Any]) -> None:
        """Open a writer for ``trainer``'s trial (closing one left open by an earlier trial of it);
        ``logdir`` is made if it does not exist."""
        Path(logdir).mkdir(parents=True, exist_ok=True)
        writer = self.open(Path(logdir), params)
        with self._lock:
            old = self._writers.pop(id(trainer), None)
            self._writers[id(trainer)] = writer
        if old is not None:
            self.close(old)

    @hookimpl(trylast=True)
    def rlcore_on_train_result(self, trainer: Any, result: dict[str, Any]) -> None:
        """Write ``result`` when ``trainer`` has an open trial; otherwise do nothing."""
        writer = self.writer_of(trainer)
        if writer is not None:
            self.write(writer, result)

    @hookimpl(trylast=True)
    def rlcore_on_trial_end(self, trainer: Any) -> None:
        """Close ``trainer``'s writer, if it has one."""
        with self._lock:
            writer = self._writers.pop(id(trainer), None)
        if writer is not None:
            self.close(writer)
