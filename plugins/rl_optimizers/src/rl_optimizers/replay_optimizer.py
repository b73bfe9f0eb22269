"""LocalSyncReplayOptimizer: sample into a replay buffer, learn on replayed batches (DQN)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rl_optimizers.common import collect_samples, mean_info
from rl_optimizers.replay import PrioritizedReplayBuffer, ReplayBuffer, ReplayError
from rlcore.config import merge_config
from rlcore.errors import ConfigError
from rlcore.optimizer import PolicyOptimizer, Timers
from rlcore.sample_batch import BATCH_INDEXES, SampleBatch
from rlcore.worker_set import WorkerSet

TD_ERROR = "td_error"

DEFAULTS: dict[str, Any] = {
    "buffer_size": 50_000,
    "prioritized_replay": True,
    "prioritized_replay_alpha": 0.6,
    "prioritized_replay_beta": 0.4,
    "prioritized_replay_eps": 1e-6,
    "learning_starts": 1000,
    "train_batch_size": 32,
    "training_intensity": None,
    "seed": None,
}


class LocalSyncReplayOptimizer(PolicyOptimizer):
    """Sample one round into a replay buffer, then learn on replayed batches on the local evaluator.

    ``step()``: broadcast the local weights to the remote evaluators (if any); one sampling round
    (``local.sample()`` in embedded mode, else one ``sample()`` from every remote evaluator, in
    parallel); add the rows to the buffer; then, once the buffer holds at least
    ``max(learning_starts, train_batch_size)`` rows, replay ``train_batch_size`` rows and call
    ``local_evaluator.learn_on_batch`` on them, as many times as the training intensity asks.

    Training intensity: ``training_intensity=None`` trains once per ``step()`` (RLlib 2018). A
    number is replayed rows per sampled row: a round of ``R`` sampled rows owes
    ``R * training_intensity / train_batch_size`` train steps; the fractional part carries over to
    the next round, so the long-run ratio is exact (``training_intensity=1`` with 4-row rounds and
    32-row batches trains on every 8th round).

    With ``prioritized_replay`` the buffer is a :class:`PrioritizedReplayBuffer` and the learner's
    info must carry ``td_error`` (one value per row): the replayed rows' priorities become
    ``|td_error| + prioritized_replay_eps``. ``td_error`` is always removed from the returned info,
    which holds the mean of each numeric info key over this step's train steps (Python floats).

    Checkpoints (:meth:`get_state`) hold the counters only: the buffer is not saved, so a restored
    run refills it (and waits ``learning_starts`` rows again) before it learns.
    """

    def __init__(self, workers: WorkerSet, config: dict[str, Any] | None = None) -> None:
        super().__init__(workers, merge_config(DEFAULTS, config))
        cfg = self.config
        for key in ("buffer_size", "train_batch_size"):
            if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] < 1:
                raise ConfigError(f"{key} must be a positive integer, got {cfg[key]!r}")
        if isinstance(cfg["learning_starts"], bool) or not isinstance(cfg["learning_starts"], int):
            raise ConfigError(f"learning_starts must be a non-negative integer, got {cfg['learning_starts']!r}")
        if cfg["learning_starts"] < 0:
            raise ConfigError(f"learning_starts must be a non-negative integer, got {cfg['learning_starts']!r}")
        if cfg["learning_starts"] > cfg["buffer_size"]:
            raise ConfigError(
                f"learning_starts ({cfg['learning_starts']}) exceeds buffer_size ({cfg['buffer_size']}): the buffer "
                "would never hold enough rows to start learning; raise buffer_size or lower learning_starts"
            )
        if cfg["train_batch_size"] > cfg["buffer_size"]:
            raise ConfigError(
                f"train_batch_size ({cfg['train_batch_size']}) exceeds buffer_size ({cfg['buffer_size']}); "
                "a replayed batch cannot be larger than the buffer"
            )
        ti = cfg["training_intensity"]
        if ti is not None and (isinstance(ti, bool) or not isinstance(ti, int | float) or not ti > 0):
            raise ConfigError(f"training_intensity must be None or a positive number, got {ti!r}")
        try:
            if cfg["prioritized_replay"]:
                self.buffer: ReplayBuffer = PrioritizedReplayBuffer(
                    cfg["buffer_size"],
                    alpha=cfg["prioritized_replay_alpha"],
                    beta=cfg["prioritized_replay_beta"],
                    eps=cfg["prioritized_replay_eps"],
                    seed=cfg["seed"],
                )
            else:
                self.buffer = ReplayBuffer(cfg["buffer_size"], seed=cfg["seed"])
        except ReplayError as e:
            raise ConfigError(f"invalid replay config: {e}") from e
        self._owed = 0.0  # fractional train steps carried between rounds
        self.num_train_steps = 0
        self.timers = Timers("sample", "replay", "learn", "update_priorities")

    def _num_train_steps(self, rows: int) -> int:
        ti = self.config["training_intensity"]
        if ti is None:
            return 1
        self._owed += rows * float(ti) / self.config["train_batch_size"]
        n = int(self._owed)
        self._owed -= n
        return n

    def step(self) -> dict[str, Any]:
        """One round: sync weights, sample into the buffer, replay and learn; returns mean learner info."""
        cfg = self.config
        with self.timers("sample"):
            self.workers.sync_weights()
            rows = 0
            for b in collect_samples(self.workers, 1):
                self.buffer.add(b)
                rows += b.count
        self.num_steps_sampled += rows
        infos: list[dict[str, Any]] = []
        tbs = cfg["train_batch_size"]
        if len(self.buffer) >= max(cfg["learning_starts"], tbs):
            for _ in range(self._num_train_steps(rows)):
                infos.append(self._train_once(tbs))
        return mean_info(infos)

    def _train_once(self, n: int) -> dict[str, Any]:
        with self.timers("replay"):
            batch: SampleBatch = self.buffer.sample(n)
        with self.timers("learn"):
            info = dict(self.local_evaluator.learn_on_batch(batch))
        td = info.pop(TD_ERROR, None)
        with self.timers("update_priorities"):
            self._update_priorities(batch, td)
        self.num_steps_trained += batch.count
        self.num_train_steps += 1
        return info

    def _update_priorities(self, batch: SampleBatch, td: Any) -> None:
        if isinstance(self.buffer, PrioritizedReplayBuffer):
            if td is None:
                raise ReplayError(
                    "prioritized_replay needs learn_on_batch to return 'td_error' (one value per row) in its "
                    "info dict; return it from the evaluator or set prioritized_replay False"
                )
            td = np.asarray(td, dtype=np.float64).ravel()
            if td.size != batch.count:
                raise ReplayError(f"learn_on_batch returned {td.size} td_error values for a batch of {batch.count}")
            self.buffer.update_priorities(
                batch[BATCH_INDEXES], np.abs(td) + float(self.config["prioritized_replay_eps"])
            )

    def stats(self) -> dict[str, Any]:
        """Counters, cumulative seconds per phase (``sample``, ``replay``, ``learn``, ``update_priorities``),
        buffer fill and bytes."""
        return {
            **super().stats(),
            "num_train_steps": self.num_train_steps,
            "buffer_size": len(self.buffer),
            "buffer_capacity": self.buffer.capacity,
            "buffer_bytes": self.buffer.size_bytes(),
        }
