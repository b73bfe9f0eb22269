"""ApexOptimizer review tests: LearnerThread.pause() returns once every learned batch is on its
outqueue; the *_total rates after a restore into a running optimizer."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from replay_toy import ReplayToyEvaluator

from rl_optimizers.apex import LearnerThread, ReplayShard


class _SlowPutQueue(queue.Queue):
    """An outqueue whose put takes 0.3 s: widens the gap between a learn_on_batch's end and its result."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        time.sleep(0.3)
        super().put(item, block, timeout)


class _SignallingEvaluator(ReplayToyEvaluator):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.learned = threading.Event()

    def learn_on_batch(self, batch: Any) -> dict[str, Any]:
        info = super().learn_on_batch(batch)
        self.learned.set()
        return info


def test_pause_returns_only_once_the_learned_batch_is_on_the_outqueue():
    ev = _SignallingEvaluator(config={"rows": 10})
    shard = ReplayShard(0, capacity=100, learning_starts=10, alpha=0.6, beta=0.4, eps=1e-6, seed=0)
    for _ in range(3):
        shard.add_batch(ev.sample())
    batch, _, _ = shard.replay(8)
    assert batch is not None
    learner = LearnerThread(ev, threading.Lock(), queue_size=4)
    learner.outqueue = _SlowPutQueue()
    learner.start()
    try:
        learner.inqueue.put((0, 0, batch))
        learner.resume()
        assert ev.learned.wait(10.0)
        learner.pause()
        # what step() drains right after pause(): the learned batch must be there (counted in
        # num_steps_trained before a checkpoint reads the weights it changed)
        assert learner.learn_count == 1
        assert learner.outqueue.qsize() == 1
    finally:
        learner.stop()
    assert not learner.is_alive()


def test_total_rates_count_from_a_restore_into_a_running_optimizer():
    from rl_optimizers.apex import ApexOptimizer
    from rlcore.worker_set import WorkerSet

    def make() -> ApexOptimizer:
        config = {"num_replay_buffer_shards": 2, "buffer_size": 400, "learning_starts": 40, "train_batch_size": 8}
        return ApexOptimizer(WorkerSet.from_evaluator(ReplayToyEvaluator(config={"rows": 10})), {**config, "seed": 0})

    first = make()
    first.step()
    early = first.get_state()  # 10 rows sampled
    for _ in range(20):
        first.step()
    late = first.get_state()  # 210 rows sampled
    first.stop()
    opt = make()
    opt.set_state(late)
    opt.step()  # started at 210 rows
    opt.set_state(early)  # an older checkpoint restored into the running optimizer: the counters go back
    opt.step()
    stats = opt.stats()
    assert stats["sampled_per_s_total"] > 0 and stats["trained_per_s_total"] >= 0, stats
    opt.stop()
