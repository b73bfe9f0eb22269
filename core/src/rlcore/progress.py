"""What ``rlcore train`` prints while it trains.

On a terminal: a live progress bar (rich) toward the stop criterion with timesteps, reward and
throughput, and a plain log line at most every few seconds above it. Not on a terminal (a pipe,
a CI log) or with ``--quiet``: only the first and the last line. ``--json``: one result per line.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from rlcore.results import dumps


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
        self.stream = stream or sys.stdout
        self.mode = mode
        self.stop = stop
        self.live = mode == "auto" and self.stream.isatty()
        self._progress: Any = None
        self._task: Any = None
        self._last_line = 0.0

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
            print(dumps({k: v for k, v in result.items() if k != "config"}), file=self.stream, flush=True)
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
