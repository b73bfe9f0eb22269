"""ApexOptimizer: distributed prioritized replay (Ape-X; RLlib 2018's ``ApexOptimizer``).

Horgan et al. 2018 ("Distributed Prioritized Experience Replay", ICLR), in the form RLlib gave
it: many sampling workers, each with its own exploration (``per_worker_vars``), push their
batches -- with initial priorities computed on the worker -- straight to replay shards (Ray
actors, each one numpy :class:`~rl_optimizers.replay.PrioritizedReplayBuffer`); one learner, the
local evaluator in a background thread, pulls replayed batches from the shards, learns, and
sends the new priorities back. Framework-free (numpy and the evaluator contract) and Ray-free at
import: Ray is imported inside the functions that need it, and never with ``num_workers=0``.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from rl_optimizers.common import CountsWorkerErrors, WorkerErrors, check_int, mean_info
from rl_optimizers.replay import PrioritizedReplayBuffer, ReplayError, check_priorities
from rl_optimizers.replay_optimizer import TD_ERROR
from rlcore.config import merge_config
from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.evaluator import PolicyEvaluator, Weights
from rlcore.optimizer import PolicyOptimizer, Timers
from rlcore.sample_batch import BATCH_INDEXES, SampleBatch
from rlcore.worker_set import AsyncTaskPool, TaskResult, WorkerCrashedError, WorkerSet

T = TypeVar("T")

#: The column of worker-side initial priorities (``|td_error| + eps``, one per row) that an
#: algorithm's postprocessing adds when ``worker_side_prioritization`` is on; a shard takes it as
#: the rows' initial priorities and does not store it.
PRIORITIES = "priorities"

#: The optimizer's config keys and defaults (Ape-X's, from the paper and RLlib 2018).
DEFAULTS: dict[str, Any] = {
    "num_replay_buffer_shards": 4,  # replay shard actors (int >= 1)
    "buffer_size": 2_000_000,  # rows all the shards hold together (buffer_size // shards each)
    "learning_starts": 50_000,  # rows sampled before learning (learning_starts // shards per shard)
    "train_batch_size": 512,  # rows per replayed batch
    "prioritized_replay_alpha": 0.6,  # priority exponent
    "prioritized_replay_beta": 0.4,  # importance-sampling exponent
    "prioritized_replay_eps": 1e-6,  # priority = |td_error| + eps
    "max_weight_sync_delay": 400,  # rows a worker samples before its next task carries new weights
    "min_train_to_sample_ratio": 0.0,  # trained rows per sampled row after learning_starts (0: no limit)
    "sample_queue_depth": 2,  # sampling tasks in flight per worker
    "replay_queue_depth": 4,  # replay calls in flight per shard
    "learner_queue_size": 16,  # replayed batches queued for the learner (and replays in flight)
    "learner_thread": True,  # False: learn in step()'s own loop (the embedded mode always does)
    "worker_side_prioritization": True,  # informative here: a "priorities" column is used whenever present
    "per_worker_vars": None,  # {worker_index: {global var: value}} sent with every task of that worker
    "max_shard_restarts": 3,  # deaths in a row of one shard before WorkerCrashedError
    "ignore_worker_failures": False,  # True: a worker's sample() that raises is counted and warned, not raised
    "max_worker_errors_in_a_row": 3,  # with ignore_worker_failures: errors in a row of one worker tolerated
    "step_min_time_s": 0.2,  # seconds one step() runs at least (Ray mode)
    "seed": None,  # shards' sampling seeds (runs are reproducible in the embedded mode only)
    "debug": False,  # RLlib 2018's optimizer.debug: accepted, no effect
}

#: The keys :meth:`ApexOptimizer.stats` adds to the base optimizer's counters and phase times
#: (``num_steps_sampled``, ``num_steps_trained``, ``wait_sample_time_s``, ``wait_replay_time_s``,
#: ``push_time_s``, ``learn_time_s``) and the WorkerSet's (``num_worker_failures``...).
STATS_KEYS: tuple[str, ...] = (
    "sampled_per_s",
    "trained_per_s",
    "sampled_per_s_total",
    "trained_per_s_total",
    "learner_queue_size",
    "learner_queue_size_mean",
    "learner_queue_size_max",
    "learner_busy_fraction",
    "sample_tasks_in_flight",
    "replay_tasks_in_flight",
    "shard_tasks_in_flight",
    "num_learner_updates",
    "num_weight_syncs",
    "weight_sync_lag_mean",
    "weight_sync_steps_mean",
    "num_replay_buffer_shards",
    "shard_sizes",
    "shard_bytes",
    "shard_generations",
    "num_shard_failures",
    "num_worker_errors",
    "num_transitions_lost",
    "num_replays_dropped",
    "num_priority_updates_dropped",
)

#: Seconds ``stop()`` waits for the sampling tasks still running (each is one ``sample()``).
STOP_DRAIN_S = 30.0


# ------------------------------------------------------------------------------------ shard
class ReplayShard:
    """One replay shard: a :class:`~rl_optimizers.replay.PrioritizedReplayBuffer` of
    ``capacity`` rows that answers replays once it holds ``learning_starts`` rows.

    A plain class: a Ray actor (``num_cpus=0``) when the optimizer has remote workers, a plain
    object in the embedded mode. ``generation`` counts the shards that held this index before
    (a shard recreated after a death is generation + 1): priority updates computed on another
    generation's rows are dropped (:meth:`update_priorities`). Raises
    :class:`~rl_optimizers.replay.ReplayError` for a bad capacity, alpha, beta or eps.
    """

    def __init__(
        self,
        shard_index: int,
        capacity: int,
        learning_starts: int,
        alpha: float,
        beta: float,
        eps: float,
        seed: int | None,
        generation: int = 0,
    ) -> None:
        self.shard_index = shard_index
        self.generation = generation
        self.learning_starts = int(learning_starts)
        self.buffer = PrioritizedReplayBuffer(capacity, alpha=alpha, beta=beta, eps=eps, seed=seed)
        self.num_added = 0
        self.num_replayed = 0
        self.num_updates_dropped = 0
        self.timers = Timers("add", "replay", "update")

    def add_batch(self, batch: SampleBatch) -> int:
        """Store ``batch``'s rows; its ``priorities`` column (worker-side, optional) gives their
        initial priorities and is not stored (without it: the largest priority so far). Returns
        the number of rows. Raises :class:`~rl_optimizers.replay.ReplayError` for a batch whose
        columns do not match the shard's or bad priorities."""
        with self.timers("add"):
            priorities = None
            if PRIORITIES in batch:
                priorities = batch[PRIORITIES]
                batch = SampleBatch({k: v for k, v in batch.items() if k != PRIORITIES})
            self.buffer.add(batch, priorities=priorities)
            self.num_added += batch.count
            return int(batch.count)

    def replay(self, n: int) -> tuple[SampleBatch | None, int, int]:
        """``n`` rows drawn by priority (with ``weights`` and ``batch_indexes``), or None while
        the shard holds fewer than ``max(learning_starts, n)`` rows; with the shard's size and bytes."""
        with self.timers("replay"):
            size = len(self.buffer)
            if size < max(self.learning_starts, n, 1):
                return None, size, self.buffer.size_bytes()
            batch = self.buffer.sample(n)
            self.num_replayed += batch.count
            return batch, size, self.buffer.size_bytes()

    def update_priorities(self, indices: np.ndarray, priorities: np.ndarray, generation: int) -> None:
        """Set the priorities of replayed rows, unless they were replayed from another
        generation of this shard (then dropped and counted). Raises
        :class:`~rl_optimizers.replay.ReplayError` for non-finite or negative priorities."""
        with self.timers("update"):
            if generation != self.generation:
                self.num_updates_dropped += 1
                return
            self.buffer.update_priorities(indices, priorities)

    def stats(self) -> dict[str, Any]:
        """``size``, ``capacity``, ``bytes``, ``num_added``, ``num_replayed``, ``generation``,
        ``num_updates_dropped`` and the cumulative seconds of ``add``/``replay``/``update``."""
        return {
            "size": len(self.buffer),
            "capacity": self.buffer.capacity,
            "bytes": self.buffer.size_bytes(),
            "num_added": self.num_added,
            "num_replayed": self.num_replayed,
            "generation": self.generation,
            "num_updates_dropped": self.num_updates_dropped,
            **self.timers.stats(),
        }

    def pid(self) -> int:
        """The process id (fault tests SIGKILL it)."""
        return os.getpid()

    def ping(self) -> bool:
        """True: the shard answers."""
        return True


# ------------------------------------------------------------------------------------ worker task
def sample_to_shard(
    evaluator: PolicyEvaluator,
    shard: Any,
    shard_index: int,
    generation: int,
    weights: Weights | None,
    global_vars: dict[str, Any] | None,
) -> dict[str, int]:
    """One sampling task, run in a remote worker: load ``global_vars`` and ``weights`` when
    given (``None``: keep them), ``sample()``, and push the batch to the replay ``shard`` *from
    the worker* (waiting for the shard's row count, so that a dead shard is seen).

    Returns counts only, never the batch: ``{"count", "shard", "generation", "added"}``
    (``added`` 0 when the shard was dead). Module-level so that it pickles by reference. Raises
    whatever the evaluator raises; a shard's own error (a batch whose columns do not match the
    shard's) is raised too.
    """
    if global_vars:
        evaluator.set_global_vars(dict(global_vars))
    if weights is not None:
        evaluator.set_weights(weights)
    batch = evaluator.sample()
    import ray
    from ray.exceptions import RayActorError

    added = 1
    try:
        ray.get(shard.add_batch.remote(batch))
    except RayActorError:
        added = 0
    return {"count": int(batch.count), "shard": int(shard_index), "generation": int(generation), "added": added}


# ------------------------------------------------------------------------------------ learner
class LearnerThread(threading.Thread):
    """The learner: a daemon thread that takes ``(shard_index, generation, batch)`` from
    :attr:`inqueue`, calls ``evaluator.learn_on_batch`` under ``lock``, and puts ``(shard_index,
    generation, batch_indexes, td_error, count, info)`` on :attr:`outqueue`.

    It starts paused: :meth:`resume` lets it learn, :meth:`pause` returns once no
    ``learn_on_batch`` runs and none will start until :meth:`resume`. An exception raised by
    ``learn_on_batch`` stops the thread and is kept in :attr:`error` (the optimizer re-raises it).
    """

    def __init__(self, evaluator: PolicyEvaluator, lock: threading.Lock, queue_size: int = 16) -> None:
        super().__init__(name="rlcore-apex-learner", daemon=True)
        self.evaluator = evaluator
        self.lock = lock
        self.inqueue: queue.Queue[tuple[int, int, SampleBatch]] = queue.Queue(maxsize=queue_size)
        self.outqueue: queue.Queue[tuple[int, int, np.ndarray, Any, int, dict[str, Any]]] = queue.Queue()
        self.error: BaseException | None = None
        self.busy_s = 0.0
        self.learn_count = 0
        self._running = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        item: tuple[int, int, SampleBatch] | None = None
        while not self._stopping.is_set():
            if not self._running.wait(0.05):
                continue
            if item is None:
                try:
                    item = self.inqueue.get(timeout=0.05)
                except queue.Empty:
                    continue
            with self.lock:
                if not self._running.is_set() or self._stopping.is_set():
                    continue  # paused meanwhile: the item waits
                k, generation, batch = item
                start = time.perf_counter()
                try:
                    info = dict(self.evaluator.learn_on_batch(batch))
                except BaseException as e:  # noqa: BLE001 - re-raised by the optimizer's next step()
                    self.error = e
                    return
                finally:
                    self.busy_s += time.perf_counter() - start
                # still under the lock: once pause() returns, every batch learned is on the outqueue
                # (else the step's last drain could miss it: weights ahead of num_steps_trained in a checkpoint)
                item = None
                self.learn_count += 1
                td = info.pop(TD_ERROR, None)
                self.outqueue.put((k, generation, batch[BATCH_INDEXES], td, batch.count, info))

    def pause(self) -> None:
        """Stop learning: returns when the current ``learn_on_batch`` (if any) has returned and its
        result is on :attr:`outqueue`."""
        self._running.clear()
        with self.lock:
            pass

    def resume(self) -> None:
        """Learn again."""
        self._running.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join the thread (``timeout`` seconds at most for a ``learn_on_batch`` running)."""
        self._stopping.set()
        self._running.set()
        if self.is_alive():
            self.join(timeout)


# ------------------------------------------------------------------------------------ config checks
def _check_int(cfg: dict[str, Any], key: str, low: int, what: str) -> int:
    return check_int("ApexOptimizer", key, cfg[key], low, what)


def _check_float(cfg: dict[str, Any], key: str, what: str, *, positive: bool = False) -> float:
    value = cfg[key]
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    if not ok or not math.isfinite(float(value)) or float(value) < 0 or (positive and float(value) == 0):
        raise ConfigError(
            f"ApexOptimizer: {key} must be a finite number {'> 0' if positive else '>= 0'} ({what}), got {value!r}"
        )
    return float(value)


def _check_bool(cfg: dict[str, Any], key: str) -> bool:
    if not isinstance(cfg[key], bool | np.bool_):
        raise ConfigError(f"ApexOptimizer: {key} must be true or false, got {cfg[key]!r}")
    return bool(cfg[key])


def _check_per_worker_vars(value: Any) -> dict[int, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, int | np.integer) and not isinstance(k, bool) and k >= 0 and isinstance(v, dict)
        for k, v in value.items()
    ):
        raise ConfigError(
            "ApexOptimizer: per_worker_vars must be None or a dict {worker_index (int >= 0): {global var: value}}, "
            f"got {value!r}"
        )
    return {int(k): dict(v) for k, v in value.items()}


def _each(results: list[TaskResult], handle: Callable[[TaskResult], None]) -> None:
    """``handle`` every result, then raise the first exception one of them raised (so that one
    error does not leave the other results unhandled: their workers would never get a task again)."""
    error: BaseException | None = None
    for r in results:
        try:
            handle(r)
        except Exception as e:  # noqa: BLE001 - raised once all are handled
            error = error or e
    if error is not None:
        raise error


# ------------------------------------------------------------------------------------ optimizer
class ApexOptimizer(CountsWorkerErrors, PolicyOptimizer):
    """RLlib 2018's ``ApexOptimizer`` (Ape-X, Horgan et al. 2018) on rlcore's WorkerSet.

    **With remote workers** (Ray): ``num_replay_buffer_shards`` :class:`ReplayShard` actors
    (``num_cpus=0``) hold ``buffer_size`` rows together (``buffer_size // shards`` each, the
    remainder to shard 0) and answer replays once they hold their part of ``learning_starts``
    (``learning_starts // shards``, remainder to shard 0). Each remote worker keeps
    ``sample_queue_depth`` :func:`sample_to_shard` tasks in flight: it samples with its own
    global vars (``per_worker_vars[worker_index]``, e.g. its epsilon, sent with every task so a
    recreated worker gets them back) and pushes the batch to a shard itself (the shards in turn,
    round robin); the driver sees row counts only. Batches carrying a ``priorities`` column
    (worker-side prioritization, made by the algorithm's postprocessing) enter the shard at
    those priorities, else at the shard's largest. A worker gets the learner's current weights
    with its next task once it sampled ``max_weight_sync_delay`` rows since its last push (put in
    the object store once per learner version). The learner -- the local evaluator in a
    :class:`LearnerThread` -- learns on batches replayed from the shards (``replay_queue_depth``
    replay calls in flight per ready shard, at most ``learner_queue_size`` batches queued), and
    each learned batch's priorities ``|td_error| + prioritized_replay_eps`` (``td_error`` from
    ``learn_on_batch``'s info, as :class:`~rl_optimizers.replay_optimizer.LocalSyncReplayOptimizer`)
    go back to its shard. Tasks stay in flight between steps; the learner thread runs only
    inside :meth:`step` (paused between steps, so the trainer's calls on the local evaluator --
    checkpoints, global vars, filters -- never race it). Each step runs at least
    ``step_min_time_s`` seconds; the trainer loops steps until its sampled steps are reached.

    ``min_train_to_sample_ratio`` (trained rows per sampled row after ``learning_starts``; 0 =
    learn as fast as possible): a worker gets its next task only while ``num_steps_trained >=
    ratio * (num_steps_sampled - learning_starts)`` (or while a shard is still filling up).
    Target-network updates are the trainer's: :meth:`run_on_learner` runs a function on the
    local evaluator under the learner's lock.

    **Embedded** (``num_workers=0``; Ray is never imported): plain :class:`ReplayShard` objects;
    each :meth:`step` samples one batch on the local evaluator (with ``per_worker_vars[0]``),
    adds it to the next shard, then learns inline: once (ratio 0), or until the ratio is met,
    each time on a batch replayed from the next ready shard. Deterministic with a ``seed``.

    **Faults.** A remote worker that dies is recreated by the WorkerSet (its task's rows are
    lost; it gets weights and its vars with its next task) and training goes on. A worker whose
    code raises (its ``sample()``) raises that exception here, as an embedded run would (same
    type and message, a note naming the worker, the remote traceback for a bug); with
    ``ignore_worker_failures`` its sample is dropped instead, counted in ``num_worker_errors``
    and named in one :class:`~rl_optimizers.common.WorkerErrorWarning` per worker and error,
    until one worker raised more than ``max_worker_errors_in_a_row`` times in a row (as
    :class:`~rl_optimizers.async_grads.AsyncOptimizer`). A replay shard
    that dies (seen by a replay or priority call, or by a worker's push) is recreated empty: its
    rows are counted in ``num_transitions_lost`` (as are batches pushed to it while it was dead
    or to its previous generation), the death in ``num_shard_failures``; its generation tag goes
    up so the priority updates for the old one's rows are dropped (batches it replayed before
    it died are still learned on). A shard that dies
    more than ``max_shard_restarts`` times in a row (without answering a call in between) raises
    :class:`~rlcore.worker_set.WorkerCrashedError` naming it. An exception raised by
    ``learn_on_batch`` in the learner thread is re-raised by the next :meth:`step` (its own
    traceback, and a note naming the learner). Priorities are set on rows as they were
    replayed: a row overwritten since (ring buffer) gets its successor's update (as in RLlib).

    **Checkpoints** (:meth:`get_state`) hold the counters only: the shards' contents are not
    saved (like DQN's buffer), so a restored run refills ``learning_starts`` rows before it
    learns again. The learner's weights and optimizer state are in the local evaluator's state.

    Config keys: :data:`DEFAULTS`. :meth:`stats` adds ``sampled_per_s``/``trained_per_s`` (last
    step) and ``*_total`` (since the first step), ``learner_queue_size_mean``/``_max`` (last
    step), ``learner_busy_fraction`` (last step), ``sample_tasks_in_flight``,
    ``replay_tasks_in_flight``, ``num_weight_syncs``, ``weight_sync_lag_mean`` (learner
    updates between a worker's weights and the pushed ones), ``weight_sync_steps_mean`` (rows a
    worker sampled between pushes), ``shard_sizes``, ``shard_bytes``, ``num_shard_failures``,
    ``num_transitions_lost``, ``num_replays_dropped``, ``num_priority_updates_dropped``, ``num_worker_errors``,
    ``num_learner_updates``, ``wait_sample_time_s``, ``wait_replay_time_s``, ``push_time_s``,
    ``learn_time_s`` and the WorkerSet's counters.

    Raises :class:`~rlcore.errors.ConfigError` at construction, naming the key, for an unknown
    key or a value of the wrong type or range: ``num_replay_buffer_shards`` < 1,
    ``learning_starts`` larger than ``buffer_size`` (what the shards hold together),
    ``buffer_size // num_replay_buffer_shards`` < ``train_batch_size``,
    ``min_train_to_sample_ratio`` < 0 or not finite, ``max_weight_sync_delay`` < 1, queue depths
    < 1, bad replay alpha/beta/eps.
    """

    def __init__(self, workers: WorkerSet, config: dict[str, Any] | None = None) -> None:
        super().__init__(workers, merge_config(DEFAULTS, config))
        cfg = self.config
        self.num_shards = _check_int(cfg, "num_replay_buffer_shards", 1, "replay shard actors")
        self.buffer_size = _check_int(cfg, "buffer_size", 1, "rows all the shards hold together")
        self.learning_starts = _check_int(cfg, "learning_starts", 0, "rows sampled before learning starts")
        self.train_batch_size = _check_int(cfg, "train_batch_size", 1, "rows per replayed batch")
        self.max_weight_sync_delay = _check_int(
            cfg, "max_weight_sync_delay", 1, "rows a worker samples before it gets new weights"
        )
        self.sample_queue_depth = _check_int(cfg, "sample_queue_depth", 1, "sampling tasks in flight per worker")
        self.replay_queue_depth = _check_int(cfg, "replay_queue_depth", 1, "replay calls in flight per shard")
        self.learner_queue_size = _check_int(cfg, "learner_queue_size", 1, "replayed batches queued for the learner")
        self.max_shard_restarts = _check_int(cfg, "max_shard_restarts", 0, "restarts of one shard in a row")
        self.ratio = _check_float(cfg, "min_train_to_sample_ratio", "trained rows per sampled row; 0: no limit")
        self.step_min_time_s = _check_float(cfg, "step_min_time_s", "seconds one step() runs at least")
        self.alpha = _check_float(cfg, "prioritized_replay_alpha", "priority exponent")
        self.beta = _check_float(cfg, "prioritized_replay_beta", "importance-sampling exponent")
        self.eps = _check_float(cfg, "prioritized_replay_eps", "added to |td_error|", positive=True)
        self.use_thread = _check_bool(cfg, "learner_thread")
        self._errors = WorkerErrors(
            "ApexOptimizer",
            "its sample was dropped",
            _check_bool(cfg, "ignore_worker_failures"),
            _check_int(cfg, "max_worker_errors_in_a_row", 1, "errors of one worker tolerated in a row"),
        )
        _check_bool(cfg, "worker_side_prioritization")
        _check_bool(cfg, "debug")
        seed = cfg["seed"]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise ConfigError(f"ApexOptimizer: seed must be None or an int, got {seed!r}")
        if self.learning_starts > self.buffer_size:
            raise ConfigError(
                f"ApexOptimizer: learning_starts ({self.learning_starts}) exceeds what the {self.num_shards} "
                f"replay shard(s) hold together (buffer_size {self.buffer_size}): learning would never start; "
                "raise buffer_size or lower learning_starts"
            )
        per_shard = self.buffer_size // self.num_shards
        if per_shard < self.train_batch_size:
            raise ConfigError(
                f"ApexOptimizer: buffer_size // num_replay_buffer_shards = {self.buffer_size} // {self.num_shards} = "
                f"{per_shard} rows per shard, fewer than train_batch_size ({self.train_batch_size}): a shard could "
                "never replay a batch; raise buffer_size or lower num_replay_buffer_shards or train_batch_size"
            )
        self.per_worker_vars = self._checked_vars(cfg["per_worker_vars"])
        try:  # the replay parameters, checked once here (not first in a shard actor)
            PrioritizedReplayBuffer(1, alpha=self.alpha, beta=self.beta, eps=self.eps)
        except ReplayError as e:
            raise ConfigError(f"ApexOptimizer: invalid replay config: {e}") from e
        self.embedded = workers.num_remote == 0
        self.capacities = [
            per_shard + (self.buffer_size % self.num_shards if k == 0 else 0) for k in range(self.num_shards)
        ]
        base_starts = self.learning_starts // self.num_shards
        self.shard_starts = [
            max(base_starts + (self.learning_starts % self.num_shards if k == 0 else 0), self.train_batch_size)
            for k in range(self.num_shards)
        ]
        self.timers = Timers("wait_sample", "wait_replay", "push", "learn")
        self.lock = threading.Lock()
        # counters (get_state)
        self.num_learner_updates = 0
        self.num_weight_syncs = 0
        self.num_shard_failures = 0
        self.num_transitions_lost = 0
        self.num_replays_dropped = 0
        self.num_priority_updates_dropped = 0
        self.steps_since_sync: dict[int, int] = {}
        # runtime
        self.shards: list[Any] = []
        self.generations = [0] * self.num_shards
        self._shard_rows = [0] * self.num_shards  # rows added to each shard's current generation
        self._shard_bytes = [0] * self.num_shards
        self._shard_deaths_in_a_row = [0] * self.num_shards
        self._shard_pool: AsyncTaskPool | None = None
        self._replays_out = 0  # replay calls submitted and not handled yet
        self._next_shard = 0
        self._learner: LearnerThread | None = None
        self._started = False
        self._stopped = False
        self._idle: list[int] = []
        self._known_actor: dict[int, Any] = {}  # worker index -> the actor handle its vars went to
        self._worker_version: dict[int, int] = {}  # the learner version each worker's weights are
        self._sent: tuple[int, Any] | None = None  # (learner version, weights ObjectRef)
        self._lag_sum = 0
        self._sync_steps_sum = 0
        self._start_time: float | None = None
        self._sampled_at_start = 0
        self._trained_at_start = 0
        self._last: dict[str, float] = {
            "sampled_per_s": 0.0,
            "trained_per_s": 0.0,
            "learner_queue_size_mean": 0.0,
            "learner_queue_size_max": 0.0,
            "learner_busy_fraction": 0.0,
        }

    # -- shards ------------------------------------------------------------------------
    def _shard_args(self, k: int) -> dict[str, Any]:
        seed = self.config["seed"]
        shard_seed = None if seed is None else int(seed) * 1000 + 7919 * k + 104729 * self.generations[k]
        return {
            "shard_index": k,
            "capacity": self.capacities[k],
            "learning_starts": self.shard_starts[k],
            "alpha": self.alpha,
            "beta": self.beta,
            "eps": self.eps,
            "seed": shard_seed,
            "generation": self.generations[k],
        }

    def _make_shard(self, k: int) -> Any:
        if self.embedded:
            return ReplayShard(**self._shard_args(k))
        import ray

        from rlcore.ray_init import task_events_enabled

        options: dict[str, Any] = {"num_cpus": 0}
        if not task_events_enabled():  # Ray's GCS would keep an event per replay call (memory), as for workers
            options["enable_task_events"] = False
        cls = ray.remote(**options)(ReplayShard)
        return cls.remote(**self._shard_args(k))

    def _ensure_started(self) -> None:
        if self._stopped:
            raise UnsupportedOperationError(
                "ApexOptimizer: step() after stop(): its learner thread and replay shards are gone; build a new "
                "optimizer"
            )
        if self._started:
            return
        self._started = True
        self._start_time = time.perf_counter()
        self._sampled_at_start = self.num_steps_sampled
        self._trained_at_start = self.num_steps_trained
        self.shards = [self._make_shard(k) for k in range(self.num_shards)]
        if self.embedded:
            return
        import ray

        self._shard_pool = AsyncTaskPool(on_actor_died=self._shard_died)
        for k, shard in enumerate(self.shards):  # wait until they are up (one death restarts it)
            try:
                ray.get(shard.ping.remote())
            except Exception as e:  # noqa: BLE001 - a shard that died while starting
                self._shard_died(k, shard, e)
        if self.use_thread:
            self._learner = LearnerThread(self.local_evaluator, self.lock, self.learner_queue_size)
            self._learner.start()
        else:
            self._inline_queue: queue.Queue[tuple[int, int, SampleBatch]] = queue.Queue(self.learner_queue_size)
        for i in self.workers.remote_worker_indices:
            for _ in range(self.sample_queue_depth):
                self._submit_sample(i)

    def _shard_died(self, k: int, actor: Any, error: BaseException) -> None:
        """Shard ``k``'s actor died: count its rows lost, recreate it empty (a new generation)."""
        if self._stopped or actor is not self.shards[k]:
            return  # an old handle of a shard recreated already
        import ray
        from ray.exceptions import RayActorError

        from rlcore.worker_set import _death_reason

        while True:
            self.num_shard_failures += 1
            self._shard_deaths_in_a_row[k] += 1
            self.num_transitions_lost += min(self._shard_rows[k], self.capacities[k])
            self._shard_rows[k] = 0
            self._shard_bytes[k] = 0
            deaths = self._shard_deaths_in_a_row[k]
            if deaths > self.max_shard_restarts:
                raise WorkerCrashedError(
                    f"ApexOptimizer: replay shard {k} died {deaths} times in a row ({_death_reason(error)}), "
                    f"restarted {deaths - 1} times without answering a call (max_shard_restarts="
                    f"{self.max_shard_restarts}): its process keeps dying (out of memory? buffer_size "
                    f"{self.buffer_size} over {self.num_shards} shards too large?); see the logs in Ray's session "
                    "folder (/tmp/ray/session_latest/logs), or raise max_shard_restarts"
                ) from None
            with contextlib.suppress(Exception):
                ray.kill(self.shards[k])
            self.generations[k] += 1
            if self._shard_pool is not None:
                self._shard_pool.drop(k, error)
            self.shards[k] = self._make_shard(k)
            try:
                ray.get(self.shards[k].ping.remote())
                return
            except RayActorError as e:
                error = e

    def _next_shard_index(self) -> int:
        k = self._next_shard
        self._next_shard = (k + 1) % self.num_shards
        return k

    def _shard_ready(self, k: int) -> bool:
        return min(self._shard_rows[k], self.capacities[k]) >= self.shard_starts[k]

    # -- sampling ----------------------------------------------------------------------
    def _sampling_allowed(self) -> bool:
        if self.ratio <= 0:
            return True
        if not all(self._shard_ready(k) for k in range(self.num_shards)):
            return True  # a shard is still filling up (at the start, after a restore or a shard death)
        return self.num_steps_trained >= self.ratio * max(0, self.num_steps_sampled - self.learning_starts)

    def _weights_ref(self) -> Any:
        version = self.num_learner_updates
        if self._sent is None or self._sent[0] != version:
            with self.lock:
                weights = self.local_evaluator.get_weights()
            self._sent = (version, self.workers.put(weights))
        return self._sent[1]

    def _submit_sample(self, i: int) -> None:
        actor = self.workers.remote_evaluators[i - 1]
        fresh = self._known_actor.get(i) is not actor  # first task, or a recreated worker
        weights = None
        if fresh or self.steps_since_sync.get(i, 0) >= self.max_weight_sync_delay:
            with self.timers("push"):
                weights = self._weights_ref()
            if not fresh:
                self.num_weight_syncs += 1
                self._lag_sum += self.num_learner_updates - self._worker_version.get(i, 0)
                self._sync_steps_sum += self.steps_since_sync.get(i, 0)
            self._known_actor[i] = actor
            self._worker_version[i] = self.num_learner_updates
            self.steps_since_sync[i] = 0
        k = self._next_shard_index()
        self.workers.submit(
            i, sample_to_shard, self.shards[k], k, self.generations[k], weights, self.per_worker_vars.get(i), tag=k
        )

    def _handle_sample(self, r: TaskResult) -> None:
        i = r.worker_index
        self._idle.append(i)  # gets its next task (even when this one raised and that is ignored)
        if not r.ok:
            if r.raised:  # the worker's own exception, with a note naming it (as embedded): raised or counted
                assert r.error is not None
                self._errors.report(i, f"remote worker {i} ({self.workers.evaluator_cls.__name__})", r.error)
            else:
                self._known_actor.pop(i, None)  # died: recreated by the WorkerSet; vars and weights go again
        else:
            self._errors.answered(i)
            out = r.result
            count, k, generation = int(out["count"]), int(out["shard"]), int(out["generation"])
            self.num_steps_sampled += count
            self.steps_since_sync[i] = self.steps_since_sync.get(i, 0) + count
            if generation != self.generations[k]:  # pushed to a shard that died since: lost with it
                self.num_transitions_lost += count
            elif not out["added"]:  # the worker found the shard dead: check it (its death recreates it)
                self.num_transitions_lost += count
                assert self._shard_pool is not None
                self._shard_pool.submit(k, self.shards[k], "ping", tag=("ping", generation))
            else:
                self._shard_rows[k] += count

    def _resubmit_idle(self) -> None:
        while self._idle and self._sampling_allowed():
            i = self._idle.pop(0)
            if self.workers.num_in_flight(i) < self.sample_queue_depth:
                self._submit_sample(i)

    # -- replay and learning -----------------------------------------------------------
    def _learner_queue(self) -> queue.Queue[tuple[int, int, SampleBatch]]:
        return self._learner.inqueue if self._learner is not None else self._inline_queue

    def _request_replays(self) -> None:
        pool = self._shard_pool
        assert pool is not None
        q = self._learner_queue()
        for k in range(self.num_shards):
            if not self._shard_ready(k):
                continue
            while (
                pool.num_in_flight(k) < self.replay_queue_depth
                and q.qsize() + self._replays_in_flight() < self.learner_queue_size
            ):
                pool.submit(k, self.shards[k], "replay", self.train_batch_size, tag=("replay", self.generations[k]))
                self._replays_out += 1

    def _replays_in_flight(self) -> int:
        return self._replays_out

    def _handle_shard_results(self, results: list[TaskResult]) -> None:
        _each(results, self._handle_shard_result)

    def _handle_shard_result(self, r: TaskResult) -> None:
        k = r.worker_index
        kind, generation = r.tag
        if kind == "replay":
            self._replays_out -= 1
        if r.raised:  # the shard's own error: raised as it is
            assert r.error is not None
            raise r.error
        if not r.ok or generation != self.generations[k]:
            return  # dropped with a dead shard
        self._shard_deaths_in_a_row[k] = 0
        if kind != "replay":
            return
        batch, _size, nbytes = r.result
        self._shard_bytes[k] = int(nbytes)
        if batch is None:
            return
        try:
            self._learner_queue().put_nowait((k, generation, batch))
        except queue.Full:
            self.num_replays_dropped += 1

    def _apply_learned(self, k: int, generation: int, indices: Any, td: Any, count: int, info: dict[str, Any]) -> None:
        """Count a learned batch and send its priorities to its shard (unless from an old generation)."""
        self.num_learner_updates += 1
        self.num_steps_trained += int(count)
        if td is None:
            raise ReplayError(
                f"ApexOptimizer needs learn_on_batch to return {TD_ERROR!r} (one value per row) in its info dict "
                f"for the replay priorities; {type(self.local_evaluator).__name__} returned {sorted(info)}"
            )
        priorities = check_priorities(np.abs(np.asarray(td, dtype=np.float64)), int(count), "rows replayed")
        priorities += self.eps
        if generation != self.generations[k]:
            self.num_priority_updates_dropped += 1
            return
        if self.embedded:
            self.shards[k].update_priorities(indices, priorities, generation)
            return
        assert self._shard_pool is not None
        self._shard_pool.submit(
            k, self.shards[k], "update_priorities", indices, priorities, generation, tag=("update", generation)
        )

    def _drain_learner(self, infos: list[dict[str, Any]]) -> None:
        if self._learner is None:
            return
        while True:
            try:
                k, generation, indices, td, count, info = self._learner.outqueue.get_nowait()
            except queue.Empty:
                return
            infos.append(info)
            self._apply_learned(k, generation, indices, td, count, info)

    def _raise_learner_error(self) -> None:
        learner = self._learner
        if learner is None or learner.error is None:
            return
        error = learner.error
        if not getattr(error, "_rlcore_apex_noted", False):
            error.add_note(
                f"(raised in the ApexOptimizer's learner thread, by learn_on_batch of the local evaluator "
                f"({type(self.local_evaluator).__name__}); the learner has stopped)"
            )
            with contextlib.suppress(AttributeError):
                error._rlcore_apex_noted = True  # type: ignore[attr-defined]
        raise error

    def _learn_inline(self, k: int, generation: int, batch: SampleBatch, infos: list[dict[str, Any]]) -> None:
        with self.timers("learn"), self.lock:
            info = dict(self.local_evaluator.learn_on_batch(batch))
        td = info.pop(TD_ERROR, None)
        infos.append(info)
        self._apply_learned(k, generation, batch[BATCH_INDEXES], td, batch.count, info)

    # -- one step ----------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        """Run sampling, replay and learning for at least ``step_min_time_s`` (embedded: one
        sample and its learning); returns the mean info of the batches learned in this step
        (``{}`` before learning starts). Raises a worker's exception, the learner thread's
        exception (see the class docstring), :class:`~rl_optimizers.replay.ReplayError` when
        ``learn_on_batch`` returns no usable ``td_error``, and
        :class:`~rlcore.worker_set.WorkerCrashedError` when a worker or a shard keeps dying, and
        :class:`~rlcore.errors.UnsupportedOperationError` after :meth:`stop`."""
        self._ensure_started()
        if self.embedded:
            return self._step_embedded()
        return self._step_remote()

    def _step_embedded(self) -> dict[str, Any]:
        start = time.perf_counter()
        trained_before = self.num_steps_trained
        sampled_before = self.num_steps_sampled
        ev = self.local_evaluator
        with self.timers("wait_sample"):
            if 0 in self.per_worker_vars:
                ev.set_global_vars(dict(self.per_worker_vars[0]))
            batch = ev.sample()
        k = self._next_shard_index()
        self.shards[k].add_batch(batch)
        self._shard_rows[k] += batch.count
        self._shard_bytes[k] = self.shards[k].buffer.size_bytes()
        self.num_steps_sampled += batch.count
        infos: list[dict[str, Any]] = []
        learn_busy = 0.0
        while True:
            ready = [s for s in range(self.num_shards) if self._shard_ready(s)]
            if not ready:
                break
            if self.ratio <= 0:
                if infos:
                    break
            elif self.num_steps_trained >= self.ratio * max(0, self.num_steps_sampled - self.learning_starts):
                break
            s = ready[self.num_learner_updates % len(ready)]
            with self.timers("wait_replay"):
                replayed, _, _ = self.shards[s].replay(self.train_batch_size)
            if replayed is None:
                break
            t0 = time.perf_counter()
            self._learn_inline(s, self.generations[s], replayed, infos)
            learn_busy += time.perf_counter() - t0
        self._finish_step(start, sampled_before, trained_before, learn_busy, [0])
        return mean_info(infos)

    def _step_remote(self) -> dict[str, Any]:
        self._raise_learner_error()
        start = time.perf_counter()
        trained_before = self.num_steps_trained
        sampled_before = self.num_steps_sampled
        busy_before = self._learner.busy_s if self._learner is not None else 0.0
        infos: list[dict[str, Any]] = []
        depths: list[int] = []
        inline_busy = 0.0
        pool = self._shard_pool
        assert pool is not None
        self._sent = None  # the local weights may have been set between steps (a restore): read them again
        if self._learner is not None:
            self._learner.resume()
        try:
            while True:
                learned = len(infos)
                with self.timers("wait_sample"):  # ray.wait, 10 ms at most: the loop never spins on Ray
                    results = self.workers.completed(timeout=0.01, raise_errors=False)
                _each(results, self._handle_sample)
                self._resubmit_idle()
                self._request_replays()
                with self.timers("wait_replay"):
                    shard_results = pool.completed(timeout=0, raise_errors=False)
                    self._handle_shard_results(shard_results)
                q = self._learner_queue()
                depths.append(q.qsize())
                if self._learner is None:
                    with contextlib.suppress(queue.Empty):
                        k, generation, batch = q.get_nowait()
                        t0 = time.perf_counter()
                        self._learn_inline(k, generation, batch, infos)
                        inline_busy += time.perf_counter() - t0
                self._drain_learner(infos)
                self._raise_learner_error()
                if time.perf_counter() - start >= self.step_min_time_s:
                    break
                if not (results or shard_results or len(infos) > learned or self.workers.num_in_flight()):
                    time.sleep(0.005)  # every worker waits for the learner (the ratio): do not spin meanwhile
        finally:
            if self._learner is not None:
                self._learner.pause()
        self._drain_learner(infos)
        self._raise_learner_error()
        busy = inline_busy + ((self._learner.busy_s - busy_before) if self._learner is not None else 0.0)
        if self._learner is not None:
            self.timers.totals["learn"] = self._learner.busy_s
            self.timers.counts["learn"] = self._learner.learn_count
        self._finish_step(start, sampled_before, trained_before, busy, depths)
        return mean_info(infos)

    def _finish_step(
        self, start: float, sampled_before: int, trained_before: int, busy: float, depths: list[int]
    ) -> None:
        wall = max(time.perf_counter() - start, 1e-9)
        self._last = {
            "sampled_per_s": (self.num_steps_sampled - sampled_before) / wall,
            "trained_per_s": (self.num_steps_trained - trained_before) / wall,
            "learner_queue_size_mean": float(np.mean(depths)) if depths else 0.0,
            "learner_queue_size_max": float(max(depths)) if depths else 0.0,
            "learner_busy_fraction": min(busy / wall, 1.0),
        }

    # -- trainer hooks -----------------------------------------------------------------
    def run_on_learner(self, fn: Callable[[PolicyEvaluator], T]) -> T:
        """``fn(local_evaluator)`` under the learner's lock (no ``learn_on_batch`` runs meanwhile):
        target-network updates, reads of the learner's weights. Returns what ``fn`` returns."""
        with self.lock:
            result = fn(self.local_evaluator)
        self._sent = None  # the weights may have changed: the next push reads them again
        return result

    def set_per_worker_vars(self, per_worker_vars: dict[int, dict[str, Any]] | None) -> None:
        """Replace ``per_worker_vars`` (sent with each worker's next task). Raises
        :class:`~rlcore.errors.ConfigError` for a value that is not ``{int: dict}``."""
        self.per_worker_vars = self._checked_vars(per_worker_vars)

    def _checked_vars(self, value: Any) -> dict[int, dict[str, Any]]:
        checked = _check_per_worker_vars(value)
        unknown = sorted(i for i in checked if i > self.workers.num_remote)
        if unknown:
            raise ConfigError(
                f"ApexOptimizer: per_worker_vars names worker(s) {unknown}, but the workers are 0 (local) to "
                f"{self.workers.num_remote}; give one entry per worker index that exists"
            )
        return checked

    # -- reporting and checkpoints -----------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The counters, throughputs, queue depths, weight-sync lag and shard sizes (see the class docstring)."""
        elapsed = time.perf_counter() - self._start_time if self._start_time is not None else 0.0
        syncs = self.num_weight_syncs
        pool = self._shard_pool
        return {
            **super().stats(),
            **self._last,
            "sampled_per_s_total": (self.num_steps_sampled - self._sampled_at_start) / elapsed if elapsed else 0.0,
            "trained_per_s_total": (self.num_steps_trained - self._trained_at_start) / elapsed if elapsed else 0.0,
            "sample_tasks_in_flight": 0 if self.embedded else self.workers.num_in_flight(),
            "replay_tasks_in_flight": self._replays_in_flight(),
            "learner_queue_size": self._learner_queue().qsize() if self._started and not self.embedded else 0,
            "num_learner_updates": self.num_learner_updates,
            "num_weight_syncs": syncs,
            "weight_sync_lag_mean": self._lag_sum / syncs if syncs else 0.0,
            "weight_sync_steps_mean": self._sync_steps_sum / syncs if syncs else 0.0,
            "num_replay_buffer_shards": self.num_shards,
            "shard_sizes": [min(r, c) for r, c in zip(self._shard_rows, self.capacities, strict=True)],
            "shard_bytes": list(self._shard_bytes),
            "shard_generations": list(self.generations),
            "num_shard_failures": self.num_shard_failures,
            "num_worker_errors": self.num_worker_errors,
            "num_transitions_lost": self.num_transitions_lost,
            "num_replays_dropped": self.num_replays_dropped,
            "num_priority_updates_dropped": self.num_priority_updates_dropped,
            "shard_tasks_in_flight": pool.num_in_flight() if pool is not None else 0,
            **self.workers.stats(),
        }

    _STATE_KEYS = (
        "num_learner_updates",
        "num_worker_errors",
        "num_weight_syncs",
        "num_shard_failures",
        "num_transitions_lost",
        "num_replays_dropped",
        "num_priority_updates_dropped",
    )

    def get_state(self) -> dict[str, Any]:
        """The counters (the shards' contents are not saved: see the class docstring)."""
        return {
            **super().get_state(),
            **{key: getattr(self, key) for key in self._STATE_KEYS},
            "steps_since_sync": {str(i): n for i, n in self.steps_since_sync.items()},
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (missing Ape-X counters restore as 0)."""
        super().set_state(state)
        for key in self._STATE_KEYS:
            setattr(self, key, int(state.get(key, 0)))
        self.steps_since_sync = {int(i): int(n) for i, n in dict(state.get("steps_since_sync", {})).items()}
        self._sent = None
        if self._started:  # restored mid-run: the *_total rates count from here (else they mix two runs)
            self._start_time = time.perf_counter()
            self._sampled_at_start = self.num_steps_sampled
            self._trained_at_start = self.num_steps_trained

    def stop(self) -> None:
        """Stop the learner thread, drop the sampling tasks in flight (waited for, at most
        :data:`STOP_DRAIN_S` seconds) and kill the shard actors. Once; later calls do nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self._learner is not None:
            self._learner.stop()
        if self.embedded or not self._started:
            self.shards = []
            return
        import ray

        if self._shard_pool is not None:
            self._shard_pool.clear()
        for shard in self.shards:
            with contextlib.suppress(Exception):
                ray.kill(shard)
        deadline = time.monotonic() + STOP_DRAIN_S
        while self.workers.num_in_flight() and time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # a worker dead meanwhile, a worker's error: dropped
                self.workers.completed(timeout=1.0, raise_errors=False)
        self.shards = []
