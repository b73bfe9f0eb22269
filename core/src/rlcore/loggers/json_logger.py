"""The built-in plugin ``json``: ``params.json`` and ``result.json`` of a trial folder.

``params.json`` holds the run's full config (written once, atomically, at the trial's start);
``result.json`` one JSON object per ``train()`` result, per line, flushed as it is written, so a
killed run keeps every result it reported. NaN and infinities become ``null``, numpy values plain
numbers (strict JSON). The file is appended to, never truncated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from rlcore.loggers import TrialLogger

__all__ = ["PARAMS_FILE", "RESULT_FILE", "JsonLogger", "write_params"]

#: The trial's config, as JSON.
PARAMS_FILE = "params.json"
#: One result per line, as JSON.
RESULT_FILE = "result.json"


def write_params(logdir: Path, params: Mapping[str, Any]) -> Path:
    """Write ``params`` to ``logdir/params.json`` (sorted keys, indented) through a temporary file."""
    from rlcore.results import jsonable

    path = logdir / PARAMS_FILE
    tmp = logdir / f".{PARAMS_FILE}.tmp"
    tmp.write_text(json.dumps(jsonable(params), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


class JsonLogger(TrialLogger[IO[str]]):
    """Writes ``params.json`` when a trial starts and a line of ``result.json`` per result."""

    def open(self, logdir: Path, params: Mapping[str, Any]) -> IO[str]:
        """Write ``params.json`` and open ``result.json`` for appending."""
        write_params(logdir, params)
        return open(logdir / RESULT_FILE, "a", encoding="utf-8")

    def write(self, writer: IO[str], result: Mapping[str, Any]) -> None:
        """Append ``result`` as one line of strict JSON and flush it."""
        from rlcore.results import dumps

        writer.write(dumps(result) + "\n")
        writer.flush()

    def close(self, writer: IO[str]) -> None:
        """Close ``result.json``."""
        writer.close()
