"""What ``rlcore train`` prints while it trains: the built-in plugin ``progress``.

On a terminal: a live progress bar (rich) toward the stop criterion with timesteps, reward and
throughput, and a plain log line at most every few seconds above it. Not on a terminal (a pipe,
a CI log) or with ``--quiet``: only the first and the last line. ``--json``: one result per line.

:class:`ProgressDisplay` is the plugin (hooks ``rlcore_on_trial_start``/``_train_result``/
``_trial_end``): it shows a :class:`Display` per running trial. It is silent until configured:
``rlcore train`` configures it for its mode (:meth:`ProgressDisplay.configured`); from Python,
``progress_display().configure("auto")`` does the same. Disable it with
``RLCORE_DISABLE_PLUGINS=progress``. Importing this module imports neither rich nor numpy.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from rlcore.hookspecs import hookimpl

#: The modes of :class:`Display`.
MODES: tuple[str, ...] = ("auto", "json", "quiet")


def progress_line(r: Mapping[str, Any]) -> str:
    """One line: iteration, timesteps, reward mean, then episodes and throughput when the result has them."""
    reward = r.get("episode_reward_mean")
    finite = isinstance(reward, int | float) and math.isfinite(reward)
    reward_text = f"{reward:8.2f}" if finite else "     n/a"
    line = f"iter {r.get('training_iteration', 0):4d}  timesteps {r.get('timesteps_total', 0):9d}  reward {reward_text}"
    if "episodes_total" in r:
        line += f"  episodes {r['episodes_total']:6d}"
    if "timesteps_this_iter" in r and "time_this_iter_s" in r:
        line += f"  {r['timesteps_this_iter'] / max(r['time_this_iter_s'], 1e-9):8.0f} steps/s"
    return line + f"  {r.get('time_total_s', 0.0):7.1f} s"


def _goal(stop: Mapping[str, float]) -> tuple[str, float] | None:
    for key in ("timesteps_total", "training_iteration", "time_total_s", "episodes_total"):
        if key in stop:
            return key, float(stop[key])
    return None


class Display:
    """Reports a training run; ``mode`` is ``"auto"``, ``"json"`` or ``"quiet"``."""

    def __init__(self, mode: str, stop: Mapping[str, float], stream: TextIO | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"display mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.stream = stream or sys.stdout
        self.mode = mode
        self.stop = stop
        self.live = mode == "auto" and self.stream.isatty()
        self._progress: Any = None
        self._task: Any = None
        self._last_line = 0.0
        #: The trial folder, added to each ``--json`` line as ``logdir`` (set when a trial starts).
        self.logdir: Path | None = None

    def start(self, text: str) -> None:
        """Announce the run (not with ``--json`` or ``--quiet``); on a terminal, open the progress bar."""
        if self.mode == "auto":
            print(text, file=self.stream, flush=True)
        if not self.live:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:  # pragma: no cover - rich is a dependency; plain lines if it is gone
            return
        goal = _goal(self.stop)
        self._goal_key = goal[0] if goal else "training_iteration"
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=Console(file=self.stream, highlight=False),
            transient=True,
        )
        self._task = self._progress.add_task("training", total=goal[1] if goal else None, status="starting")
        self._progress.start()

    def update(self, result: Mapping[str, Any]) -> None:
        """Show one iteration's result."""
        if self.mode == "json":
            from rlcore.results import dumps

            record = {k: v for k, v in result.items() if k != "config"}
            if self.logdir is not None:
                record["logdir"] = str(self.logdir)
            print(dumps(record), file=self.stream, flush=True)
            return
        if not self.live:
            return
        line = progress_line(result)
        if self._progress is None:
            print(line, file=self.stream, flush=True)
            return
        reward = result["episode_reward_mean"]
        rate = result["timesteps_this_iter"] / max(result["time_this_iter_s"], 1e-9)
        status = (
            f"iter {result['training_iteration']}  {result['timesteps_total']} steps  reward "
            f"{'n/a' if reward is None or not math.isfinite(reward) else f'{reward:.1f}'}  {rate:.0f} steps/s"
        )
        self._progress.update(self._task, completed=float(result.get(self._goal_key, 0)), status=status)
        now = time.monotonic()
        if now - self._last_line >= 5.0:
            self._progress.console.print(line)
            self._last_line = now

    def close(self, summary: str | None) -> None:
        """Close the bar and print the summary (not in JSON mode)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if summary and self.mode != "json":
            print(summary, file=self.stream, flush=True)


class ProgressDisplay:
    """The built-in plugin ``progress``: a :class:`Display` per running trial, in the configured mode.

    ``mode`` is ``"quiet"`` (the default: a library prints nothing unasked), ``"auto"`` or
    ``"json"``; ``stream`` defaults to ``sys.stdout`` at the time a trial starts.
    """

    def __init__(self) -> None:
        self.mode = "quiet"
        self.stream: TextIO | None = None
        self._displays: dict[int, Display] = {}
        self._lock = threading.Lock()

    def configure(self, mode: str = "auto", stream: TextIO | None = None) -> None:
        """Show the trials that start from now on in ``mode`` (``auto``, ``json`` or ``quiet``) on ``stream``."""
        if mode not in MODES:
            raise ValueError(f"display mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode, self.stream = mode, stream

    @contextlib.contextmanager
    def configured(self, mode: str, stream: TextIO | None = None) -> Iterator[ProgressDisplay]:
        """:meth:`configure` for the ``with`` block, then the previous mode and stream again."""
        before = self.mode, self.stream
        self.configure(mode, stream)
        try:
            yield self
        finally:
            self.mode, self.stream = before

    @hookimpl(trylast=True)
    def rlcore_on_trial_start(self, trainer: Any, logdir: Path, params: dict[str, Any], stop: dict[str, float]) -> None:
        """Announce the run (what, on what, stop criteria, results folder) and open the bar."""
        display = Display(self.mode, stop, self.stream)
        display.logdir = Path(logdir)
        run = params.get("run", getattr(trainer, "name", type(trainer).__name__))
        env = params.get("env", getattr(trainer, "env_name", "?"))
        text = f"training {run} ({params.get('framework', '?')}) on {env}; stop: {stop}; results: {logdir}"
        if params.get("restored_from"):
            text += f"; restored from {params['restored_from']} (iteration {getattr(trainer, 'iteration', 0)})"
        with self._lock:
            old = self._displays.pop(id(trainer), None)
            self._displays[id(trainer)] = display
        if old is not None:
            old.close(None)
        display.start(text)

    @hookimpl(trylast=True)
    def rlcore_on_train_result(self, trainer: Any, result: dict[str, Any]) -> None:
        """Show one iteration of a running trial (nothing for a trainer outside a trial)."""
        with self._lock:
            display = self._displays.get(id(trainer))
        if display is not None:
            display.update(result)

    @hookimpl(trylast=True)
    def rlcore_on_trial_end(self, trainer: Any) -> None:
        """Close the trial's bar (the caller prints its own summary)."""
        with self._lock:
            display = self._displays.pop(id(trainer), None)
        if display is not None:
            display.close(None)


def progress_display(registry: Any = None) -> ProgressDisplay | None:
    """The ``progress`` plugin of ``registry`` (default: the process-wide one), or None when it is disabled."""
    if registry is None:
        from rlcore.plugins import get_registry

        registry = get_registry()
    plugin = registry.load().pm.get_plugin("progress")
    return plugin if isinstance(plugin, ProgressDisplay) else None
