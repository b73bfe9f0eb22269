"""LocalSyncOptimizer: synchronous sampling, then SGD on the local evaluator."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rl_optimizers.common import mean_info, standardize_fields
from rlcore.config import merge_config
from rlcore.optimizer import PolicyOptimizer
from rlcore.remote import broadcast_weights, collect_samples
from rlcore.sample_batch import SampleBatch

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
    from every remote evaluator in parallel rounds. Learning runs ``num_sgd_iter`` epochs of
    shuffled minibatches of ``sgd_minibatch_size`` rows (the whole batch when None), each one
    ``learn_on_batch`` call. Columns named in ``standardize_fields`` are standardized over the
    whole batch first (PPO's advantages).
    """

    def __init__(
        self, local_evaluator: Any, remote_evaluators: Sequence[Any] = (), config: dict[str, Any] | None = None
    ):
        super().__init__(local_evaluator, remote_evaluators, merge_config(DEFAULTS, config))
        self.rng = np.random.default_rng(self.config["seed"])
        self.timers = {"sample": 0.0, "learn": 0.0}

    def step(self) -> dict[str, Any]:
        """One round: sync weights, sample, learn; returns the mean learner info of the last epoch."""
        cfg = self.config
        t0 = time.perf_counter()
        broadcast_weights(self.local_evaluator.get_weights(), self.remote_evaluators)
        batch = SampleBatch.concat_samples(
            collect_samples(self.local_evaluator, self.remote_evaluators, cfg["train_batch_size"])
        )
        standardize_fields(batch, cfg["standardize_fields"])
        t1 = time.perf_counter()
        size = cfg["sgd_minibatch_size"] or batch.count
        infos: list[dict[str, Any]] = []
        for _ in range(int(cfg["num_sgd_iter"])):
            infos = [self.local_evaluator.learn_on_batch(mb) for mb in batch.minibatches(size, rng=self.rng)]
        t2 = time.perf_counter()
        self.timers["sample"] += t1 - t0
        self.timers["learn"] += t2 - t1
        self.num_steps_sampled += batch.count
        self.num_steps_trained += batch.count
        return mean_info(infos)

    def stats(self) -> dict[str, Any]:
        """Counters plus cumulative sample/learn seconds."""
        return {**super().stats(), "sample_time_s": self.timers["sample"], "learn_time_s": self.timers["learn"]}
