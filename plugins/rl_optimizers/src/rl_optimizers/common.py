"""Pieces shared by the optimizers: sample collection, batch standardization, info averaging (numpy only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from rlcore.sample_batch import SampleBatch
from rlcore.worker_set import WorkerSet


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
