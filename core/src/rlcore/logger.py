"""Where results go: the folder of one run (a *trial*), in the layout Ray Tune uses::

    <local_dir>/<experiment>/<trial>/
        params.json                      # the trainer's full config
        result.json                      # one JSON object per line, one line per iteration
        progress.csv                     # the same results, flattened ("info/learner/loss")
        events.out.tfevents.*            # TensorBoard scalars (tensorboard --logdir <local_dir>)
        checkpoint_000010/               # rlcore.checkpoint folders

This module names the folders. The files are written by the core's built-in logger plugins
(:mod:`rlcore.loggers`: ``json``, ``csv``, ``tensorboard``), which flush every line as it is
written, so a killed run keeps the results it reported.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

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
