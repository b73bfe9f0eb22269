"""Pieces shared by the optimizers: sample collection, batch standardization, info averaging (numpy only)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from rlcore.errors import ConfigError
from rlcore.sample_batch import SampleBatch
from rlcore.worker_set import WorkerSet


def check_int(owner: str, key: str, value: Any, low: int, what: str) -> int:
    """``value`` of config key ``key`` of ``owner`` (an optimizer's name) as an int ``>= low``.

    Raises :class:`~rlcore.errors.ConfigError` naming the key, its meaning ``what`` and the value
    (booleans and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{owner}: {key} must be an int >= {low} ({what}), got {value!r}")
    return int(value)


def collect_samples(workers: WorkerSet, min_rows: int) -> list[SampleBatch]:
    """Sample until at least ``min_rows`` rows: from the local evaluator when there are no remote
    ones (the embedded mode), else in parallel rounds of one ``sample()`` per remote evaluator.

    A remote evaluator that dies in a round is recreated by the WorkerSet and its batch is
    missing from that round; the rounds go on until the rows are there.
    """
    batches: list[SampleBatch] = []
    rows = 0
    embedded = workers.num_remote == 0
    while rows < min_rows:
        new = workers.foreach_worker("sample", local=embedded)
        batches.extend(new)
        rows += sum(b.count for b in new)
    return batches


def standardize_fields(batch: SampleBatch, fields: Iterable[str]) -> SampleBatch:
    """Shift and scale each named column to mean 0 and std 1 over the whole batch (in place)."""
    for name in fields:
        if name in batch:
            x = batch[name].astype(np.float32)
            batch[name] = (x - x.mean()) / max(float(x.std()), 1e-8)
    return batch


def mean_info(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of each numeric key over a list of info dicts (non-numeric keys keep the last value)."""
    if not infos:
        return {}
    out: dict[str, Any] = {}
    for key in infos[-1]:
        values = [i[key] for i in infos if key in i]
        if all(isinstance(v, int | float | np.floating | np.integer) for v in values):
            out[key] = float(np.mean(values))
        else:
            out[key] = values[-1]
    return out


class WorkerErrorWarning(UserWarning):
    """A remote worker's task raised and ``ignore_worker_failures`` is on: its result was dropped."""


class WorkerErrors:
    """What an optimizer does when a remote worker's task raised (its own exception, not a death).

    Without ``ignore`` the exception is raised as the worker raised it. With ``ignore`` it is
    counted (:attr:`num_errors`), named in one :class:`WorkerErrorWarning` per worker and error
    (saying ``dropped``, e.g. "its gradient was dropped"), and training goes on, until one worker
    raised more than ``max_in_a_row`` times in a row (reset by :meth:`answered`): then its last
    error is raised with a note saying so. ``owner`` names the optimizer in that note.
    """

    def __init__(self, owner: str, dropped: str, ignore: bool, max_in_a_row: int) -> None:
        self.owner, self.dropped, self.ignore, self.max_in_a_row = owner, dropped, ignore, max_in_a_row
        self.num_errors = 0
        self.in_a_row: dict[int, int] = {}
        self._warned: set[tuple[int, str]] = set()

    def answered(self, worker_index: int) -> None:
        """Worker ``worker_index`` gave a usable result: its errors in a row start again at 0."""
        self.in_a_row[worker_index] = 0

    def report(self, worker_index: int, worker_name: str, error: BaseException) -> None:
        """Worker ``worker_index`` (``worker_name`` in messages) raised ``error``: raise it, or
        count it and warn (see the class docstring)."""
        self.num_errors += 1
        if not self.ignore:
            raise error
        in_a_row = self.in_a_row.get(worker_index, 0) + 1
        self.in_a_row[worker_index] = in_a_row
        if in_a_row > self.max_in_a_row:
            error.add_note(
                f"({self.owner}: {worker_name} raised {in_a_row} times in a row, more than "
                f"max_worker_errors_in_a_row={self.max_in_a_row}, with ignore_worker_failures on)"
            )
            raise error
        key = (worker_index, f"{type(error).__name__}: {error}")
        if key not in self._warned:
            self._warned.add(key)
            notes = "".join(f"\n{n}" for n in getattr(error, "__notes__", ()))
            warnings.warn(
                f"{worker_name} raised {type(error).__name__}: {error}{notes}\n{self.dropped} "
                f"(ignore_worker_failures is on; {in_a_row} error(s) in a row, at most "
                f"{self.max_in_a_row} tolerated); training goes on",
                WorkerErrorWarning,
                stacklevel=3,
            )


class CountsWorkerErrors:
    """Mixin for an optimizer holding a :class:`WorkerErrors` as ``_errors``: its count as the
    ``num_worker_errors`` attribute (read and restored by checkpoints)."""

    _errors: WorkerErrors

    @property
    def num_worker_errors(self) -> int:
        """Tasks of remote workers that raised (counted with ``ignore_worker_failures``)."""
        return self._errors.num_errors

    @num_worker_errors.setter
    def num_worker_errors(self, value: int) -> None:
        self._errors.num_errors = value
