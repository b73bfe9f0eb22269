"""ApexOptimizer faults over Ray: a replay shard SIGKILLed or ray.kill-ed mid-run is recreated
(its rows counted lost, a new generation) and training goes on; a shard that keeps dying stops
training with an error naming it; a sampling worker SIGKILLed mid-run is recreated by the
WorkerSet and gets its per-worker vars and the weights back."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from ray_faults import kill_and_wait, sigkill_and_wait

from rl_optimizers.apex import ApexOptimizer
from rlcore.worker_set import WorkerCrashedError, WorkerSet

pytestmark = [pytest.mark.ray, pytest.mark.reliability]

CONFIG = {
    "num_replay_buffer_shards": 2,
    "buffer_size": 4000,
    "learning_starts": 100,
    "train_batch_size": 16,
    "max_weight_sync_delay": 50,
    "per_worker_vars": {1: {"epsilon": 0.4}, 2: {"epsilon": 0.01}},
}


@pytest.fixture
def opt(replay_workers: WorkerSet) -> Iterator[ApexOptimizer]:
    replay_workers.foreach_worker("set_faults")
    replay_workers.local_evaluator.set_weights({"w": np.zeros(3, np.float32)})
    optimizer = ApexOptimizer(replay_workers, CONFIG)
    yield optimizer
    optimizer.stop()


def _run_until_learning(opt: ApexOptimizer, min_updates: int, max_steps: int = 60) -> None:
    target = opt.num_learner_updates + min_updates
    for _ in range(max_steps):
        opt.step()
        if opt.num_learner_updates >= target:
            return
    raise AssertionError(f"only {opt.num_learner_updates} learner updates after {max_steps} steps (wanted {target})")


@pytest.mark.parametrize("how", ["sigkill", "ray.kill"])
def test_a_killed_shard_is_recreated_its_rows_lost_and_training_goes_on(opt: ApexOptimizer, how: str):
    _run_until_learning(opt, 5)
    shard = opt.shards[0]
    if how == "sigkill":
        sigkill_and_wait(shard)
    else:
        kill_and_wait(shard)
    held = opt.stats()["shard_sizes"][0]
    assert held > 0
    _run_until_learning(opt, 20)
    stats = opt.stats()
    assert stats["num_shard_failures"] == 1 and stats["shard_generations"] == [1, 0]
    assert stats["num_transitions_lost"] >= held  # its rows, and batches pushed to it while dead
    assert opt.shards[0] is not shard
    for _ in range(40):  # the new shard fills up again and is replayed from
        opt.step()
        if opt.stats()["shard_sizes"][0] >= opt.shard_starts[0]:
            break
    _run_until_learning(opt, 5)
    replayed_from_new = opt.local_evaluator.batches[-5:]
    assert replayed_from_new and opt.stats()["num_shard_failures"] == 1


def test_every_shard_killed_at_once_all_recreated_and_training_goes_on(opt: ApexOptimizer):
    _run_until_learning(opt, 5)
    old = list(opt.shards)
    for shard in old:
        sigkill_and_wait(shard)
    trained = opt.num_steps_trained
    for _ in range(80):  # the shards refill to their learning_starts, then the learner is fed again
        opt.step()
        if opt.num_steps_trained > trained + 20 * 16:
            break
    stats = opt.stats()
    assert stats["num_shard_failures"] == 2 and stats["shard_generations"] == [1, 1]
    assert all(new is not o for new, o in zip(opt.shards, old, strict=True))
    assert opt.num_steps_trained > trained + 20 * 16 and stats["num_transitions_lost"] >= 2 * opt.shard_starts[1]


def test_a_shard_that_keeps_dying_stops_training_naming_it(replay_workers: WorkerSet):
    replay_workers.foreach_worker("set_faults")
    opt = ApexOptimizer(replay_workers, {**CONFIG, "max_shard_restarts": 0})
    try:
        _run_until_learning(opt, 2)
        sigkill_and_wait(opt.shards[1])
        with pytest.raises(WorkerCrashedError) as info:
            for _ in range(50):
                opt.step()
        text = str(info.value)
        assert text.startswith("ApexOptimizer: replay shard 1 died 1 times in a row"), text
        assert "max_shard_restarts=0" in text and "raise max_shard_restarts" in text
    finally:
        opt.stop()


def test_a_killed_worker_is_recreated_with_its_vars_and_training_goes_on(opt: ApexOptimizer, replay_workers: WorkerSet):
    _run_until_learning(opt, 5)
    failures = replay_workers.num_failures
    old = replay_workers.remote_evaluators[1]
    sigkill_and_wait(old)
    _run_until_learning(opt, 20)
    stats = opt.stats()
    assert stats["num_worker_failures"] == failures + 1 and replay_workers.remote_evaluators[1] is not old
    assert stats["num_shard_failures"] == 0
    seen = replay_workers.foreach_worker(lambda ev: (ev.vars_seen, ev.w.copy()), local=False, to=[2])
    vars_seen, w = seen[0]
    assert vars_seen and all(v == {"epsilon": 0.01} for v in vars_seen)  # the new worker got its epsilon back
    assert np.any(w != 0)  # and the learner's weights
