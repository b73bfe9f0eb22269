"""A numpy evaluator for replay-optimizer tests: the toy regression with a per-row ``td_error``."""

from __future__ import annotations

from typing import Any

import numpy as np
from toy import ToyEvaluator

from rlcore.sample_batch import SampleBatch


class ReplayToyEvaluator(ToyEvaluator):
    """:class:`ToyEvaluator` whose ``learn_on_batch`` returns ``td_error`` (the residuals, one per row).

    ``config["td_error"]``: ``"residual"`` (default), ``"none"`` (leave it out) or a float
    (that constant for every row, e.g. ``nan``) or ``"short"`` (one value too few). Every replayed
    batch is kept in ``batches``.
    ``config["priorities"]``: add a worker-side ``priorities`` column (``row_id % 7 + 1``, Ape-X).
    ``set_faults(raise_in="learn_on_batch", raise_times=1)`` makes ``learn_on_batch`` raise.
    """

    def __init__(self, env_creator: Any = None, config: dict[str, Any] | None = None, worker_index: int = 0):
        super().__init__(env_creator, config, worker_index)
        self.td_mode = (config or {}).get("td_error", "residual")
        self.batches: list[SampleBatch] = []
        self.seen_sampled = 0
        self.with_priorities = bool((config or {}).get("priorities", False))
        self.vars_seen: list[dict[str, Any]] = []  # global vars as they were at each sample()

    def sample(self) -> SampleBatch:
        batch = super().sample()
        batch["row_id"] = np.arange(self.seen_sampled, self.seen_sampled + batch.count)
        self.seen_sampled += batch.count
        if self.with_priorities:
            batch["priorities"] = (batch["row_id"] % 7 + 1).astype(np.float32)
        self.vars_seen.append(dict(self.global_vars))
        return batch

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        self._maybe_raise("learn_on_batch")
        self.batches.append(batch)
        td = batch["obs"] @ self.w - batch["value_targets"]
        info = super().learn_on_batch(batch)
        if self.td_mode == "residual":
            info["td_error"] = td
        elif self.td_mode == "short":  # one value too few
            info["td_error"] = td[:-1]
        elif self.td_mode != "none":
            info["td_error"] = np.full(batch.count, float(self.td_mode))
        return info
