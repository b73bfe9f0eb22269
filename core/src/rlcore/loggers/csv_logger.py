"""The built-in plugin ``csv``: ``progress.csv`` of a trial folder.

Each result becomes a row, its nested dicts flattened to ``"info/learner/loss"`` columns (lists
are left out, NaN and infinities are empty cells). When a result brings a column the header
lacks (DQN's loss once learning starts), the file is rewritten with the wider header through a
temporary file, earlier rows getting empty cells there. Every row is flushed as it is written.
A ``progress.csv`` already in the folder is continued with its own header.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from rlcore.loggers import TrialLogger

__all__ = ["PROGRESS_FILE", "CsvLogger", "CsvWriter"]

#: The flattened results, one row each.
PROGRESS_FILE = "progress.csv"


class CsvWriter:
    """``progress.csv`` of one trial: its columns so far and the file open for appending."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fields: list[str] = []
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as fh:
                self.fields = next(csv.reader(fh), [])
        self._file: IO[str] = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, result: Mapping[str, Any]) -> None:
        """Append ``result`` as a row (widening the header first when it has new columns)."""
        from rlcore.results import flatten, jsonable

        row = {k: v for k, v in flatten(jsonable(result)).items() if not isinstance(v, list)}
        new = [k for k in row if k not in self.fields]
        if new or not self.fields:
            self._widen(self.fields + new)
        csv.DictWriter(self._file, fieldnames=self.fields).writerow(row)
        self._file.flush()

    def _widen(self, fields: list[str]) -> None:
        """Rewrite the file with the header ``fields`` (earlier rows keep their cells)."""
        self._file.close()
        with self.path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)
        self.fields = fields
        self._file = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class CsvLogger(TrialLogger[CsvWriter]):
    """Writes a row of ``progress.csv`` per result."""

    def open(self, logdir: Path, params: Mapping[str, Any]) -> CsvWriter:
        """Open (or continue) ``logdir/progress.csv``."""
        return CsvWriter(logdir / PROGRESS_FILE)

    def write(self, writer: CsvWriter, result: Mapping[str, Any]) -> None:
        """Append one row."""
        writer.write(result)

    def close(self, writer: CsvWriter) -> None:
        """Close ``progress.csv``."""
        writer.close()
