"""LocalMultiGPUOptimizer: load the train batch once onto every device, then SGD epochs on it."""

from __future__ import annotations

from typing import Any

import numpy as np

from rl_optimizers.common import collect_samples, mean_info, standardize_fields
from rlcore.config import merge_config
from rlcore.errors import ConfigError
from rlcore.optimizer import PolicyOptimizer, Timers
from rlcore.sample_batch import SEQ_LENS, SampleBatch
from rlcore.worker_set import WorkerSet

DEFAULTS: dict[str, Any] = {
    "train_batch_size": 4000,
    "num_sgd_iter": 10,
    "sgd_minibatch_size": 128,
    "standardize_fields": [],
    "seed": None,
}


class LocalMultiGPUOptimizer(PolicyOptimizer):
    """Multi-device synchronous SGD (the RLlib paper's multi-GPU optimizer), framework-free.

    Each step gathers ``train_batch_size`` rows, has the local evaluator split them across its
    devices once (``load_batch``: GPUs when present, else CPU towers), then runs ``num_sgd_iter``
    epochs; each epoch shuffles row indices in numpy and, per minibatch, calls
    ``learn_on_loaded_batch(indices)``, where every device computes gradients on its share and
    the towers' gradients are averaged. ``sgd_minibatch_size`` counts rows over all devices.
    Needs an evaluator with the ``"multi_device"`` capability (else :class:`ConfigError`), and
    refuses a batch of recurrent sequences (a ``seq_lens`` column: rows split per device would
    cut them) with :class:`ConfigError`.
    :meth:`stats` adds ``sample_time_s``, ``load_time_s`` and ``learn_time_s``.
    """

    def __init__(self, workers: WorkerSet, config: dict[str, Any] | None = None) -> None:
        super().__init__(workers, merge_config(DEFAULTS, config))
        local_evaluator = self.local_evaluator
        if "multi_device" not in getattr(local_evaluator, "capabilities", ()):
            raise ConfigError(
                f"LocalMultiGPUOptimizer needs an evaluator with the 'multi_device' capability; "
                f"{type(local_evaluator).__name__} has {sorted(local_evaluator.capabilities)}. "
                "Use LocalSyncOptimizer (simple_optimizer=True) instead."
            )
        self.rng = np.random.default_rng(self.config["seed"])
        self.timers = Timers("sample", "load", "learn")

    def step(self) -> dict[str, Any]:
        """One round: sync weights, sample, load onto devices, SGD epochs; mean info of the last epoch."""
        cfg = self.config
        local = self.local_evaluator
        with self.timers("sample"):
            self.workers.sync_weights()
            batch = SampleBatch.concat_samples(collect_samples(self.workers, cfg["train_batch_size"]))
            standardize_fields(batch, cfg["standardize_fields"])
        if SEQ_LENS in batch:
            raise ConfigError(
                "LocalMultiGPUOptimizer does not split recurrent sequences across devices (the batch has a "
                f"{SEQ_LENS!r} column: the policy uses model.use_lstm); use LocalSyncOptimizer (simple_optimizer: "
                "true), whose minibatches keep each sequence whole"
            )
        with self.timers("load"):
            per_device = int(local.load_batch(batch))
        devices = max(1, int(getattr(local, "num_devices", 1)))
        mb = max(1, min(per_device, int(cfg["sgd_minibatch_size"]) // devices))
        infos: list[dict[str, Any]] = []
        with self.timers("learn"):
            for _ in range(int(cfg["num_sgd_iter"])):
                perm = self.rng.permutation(per_device)
                infos = [local.learn_on_loaded_batch(perm[s : s + mb]) for s in range(0, per_device - mb + 1, mb)]
        self.num_steps_sampled += batch.count
        self.num_steps_trained += per_device * devices
        return mean_info(infos)
