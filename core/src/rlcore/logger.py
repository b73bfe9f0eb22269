"""The results folder of one run (a *trial*): ``params.json``, ``result.json``, ``progress.csv``,
TensorBoard event files and checkpoints, the layout Ray Tune uses::

    <local_dir>/<experiment>/<trial>/
        params.json                      # the trainer's full config
        result.json                      # one JSON object per line, one line per iteration
        progress.csv                     # the same results, flattened ("info/learner/loss")
        events.out.tfevents.*            # TensorBoard scalars (tensorboard --logdir <local_dir>)
        checkpoint_000010/               # rlcore.checkpoint folders

Every line is flushed as it is written, so a killed run keeps the results it reported.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from rlcore.results import dumps, flatten, jsonable

#: Where runs go when neither ``--local-dir`` nor ``RLCORE_RESULTS_DIR`` says otherwise.
DEFAULT_RESULTS_DIR = "~/rlcore_results"


def default_results_dir() -> Path:
    """``$RLCORE_RESULTS_DIR`` if set, else ``~/rlcore_results``."""
    return Path(os.environ.get("RLCORE_RESULTS_DIR") or DEFAULT_RESULTS_DIR).expanduser().absolute()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_") or "run"


def trial_dir(local_dir: str | os.PathLike[str] | None, experiment: str, trial: str) -> Path:
    """``<local_dir or default>/<experiment>/<trial>`` (names made filesystem-safe); a numbered
    suffix is added when that folder exists already."""
    root = Path(local_dir).expanduser() if local_dir else default_results_dir()
    base = root / _safe(experiment) / _safe(trial)
    path, n = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}_{n}")
        n += 1
    return path


def default_trial_name(algorithm: str, env: str) -> str:
    """``PPO_CartPole-v1_2026-11-25_18-03-12`` (RLlib's style)."""
    return f"{algorithm}_{env}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"


class ResultLogger:
    """Writes one trial's results folder; use as a context manager or call :meth:`close`."""

    def __init__(self, logdir: str | os.PathLike[str], params: Mapping[str, Any], tensorboard: bool = True) -> None:
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        tmp = self.logdir / ".params.json.tmp"
        tmp.write_text(json.dumps(jsonable(params), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.logdir / "params.json")
        self._json: IO[str] = open(self.logdir / "result.json", "a")  # noqa: SIM115 - closed in close()
        self._csv_file: IO[str] | None = None
        self._csv: csv.DictWriter[str] | None = None
        self._fields: list[str] = []
        self._rows: list[dict[str, Any]] = []
        self._tb: Any = None
        if tensorboard:
            from rlcore.tensorboard import EventFileWriter

            self._tb = EventFileWriter(self.logdir)

    def log(self, result: Mapping[str, Any]) -> None:
        """Append one result to ``result.json``, ``progress.csv`` and the TensorBoard file."""
        self._json.write(dumps(result) + "\n")
        self._json.flush()
        flat = flatten(jsonable(result))
        row = {k: v for k, v in flat.items() if not isinstance(v, list)}
        self._rows.append(row)
        new = [k for k in row if k not in self._fields]
        if new:  # a column appeared (DQN's loss once learning starts): rewrite with the wider header
            self._fields += new
            self._rewrite_csv()
        else:
            assert self._csv is not None and self._csv_file is not None
            self._csv.writerow(row)
            self._csv_file.flush()
        if self._tb is not None:
            from rlcore.tensorboard import flatten_scalars

            scalars = flatten_scalars({k: v for k, v in result.items() if k not in ("config", "training_iteration")})
            self._tb.add_scalars(scalars, step=int(result.get("timesteps_total", result.get("training_iteration", 0))))

    def _rewrite_csv(self) -> None:
        if self._csv_file is not None:
            self._csv_file.close()
        path = self.logdir / "progress.csv"
        tmp = path.with_name(".progress.csv.tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self._fields)
            writer.writeheader()
            writer.writerows(self._rows)
        os.replace(tmp, path)
        self._csv_file = open(path, "a", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.DictWriter(self._csv_file, fieldnames=self._fields)

    def close(self) -> None:
        """Flush and close every file."""
        self._json.close()
        if self._csv_file is not None:
            self._csv_file.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> ResultLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
