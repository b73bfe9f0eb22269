"""LocalSyncOptimizer: synchronous sampling, then SGD on the local evaluator."""

from __future__ import annotations

from typing import Any

import numpy as np

from rl_optimizers.common import collect_samples, mean_info, standardize_fields
from rlcore.config import merge_config
from rlcore.optimizer import PolicyOptimizer, Timers
from rlcore.sample_batch import SampleBatch
from rlcore.worker_set import WorkerSet

DEFAULTS: dict[str, Any] = {
    "train_batch_size": 4000,
    "num_sgd_iter": 1,
    "sgd_minibatch_size": None,
    "standardize_fields": [],
    "seed": None,
}


class LocalSyncOptimizer(PolicyOptimizer):
    """Broadcast weights, gather at least ``train_batch_size`` rows, learn on the local evaluator.

    Samples come from the local evaluator when there are no remote ones (embedded mode), else
    from every remote evaluator in parallel rounds (the WorkerSet recreates one that dies).
    Learning runs ``num_sgd_iter`` epochs of shuffled minibatches of ``sgd_minibatch_size`` rows
    (the whole batch when None), each one ``learn_on_batch`` call. Columns named in
    ``standardize_fields`` are standardized over the whole batch first (PPO's advantages).
    :meth:`stats` adds ``sample_time_s`` and ``learn_time_s``.
    """

    def __init__(self, workers: WorkerSet, config: dict[str, Any] | None = None) -> None:
        super().__init__(workers, merge_config(DEFAULTS, config))
        self.rng = np.random.default_rng(self.config["seed"])
        self.timers = Timers("sample", "learn")

    def step(self) -> dict[str, Any]:
        """One round: sync weights, sample, learn; returns the mean learner info of the last epoch."""
        cfg = self.config
        with self.timers("sample"):
            self.workers.sync_weights()
            batch = SampleBatch.concat_samples(collect_samples(self.workers, cfg["train_batch_size"]))
            standardize_fields(batch, cfg["standardize_fields"])
        size = cfg["sgd_minibatch_size"] or batch.count
        infos: list[dict[str, Any]] = []
        with self.timers("learn"):
            for _ in range(int(cfg["num_sgd_iter"])):
                infos = [self.local_evaluator.learn_on_batch(mb) for mb in batch.minibatches(size, rng=self.rng)]
        self.num_steps_sampled += batch.count
        self.num_steps_trained += batch.count
        return mean_info(infos)
