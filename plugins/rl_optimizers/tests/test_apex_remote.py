"""ApexOptimizer over Ray: two sampling workers and two replay shard actors with the toy
evaluator. Samples go worker -> shard (the task returns counts only), the learner thread trains,
weights reach a worker after max_weight_sync_delay of its rows, per_worker_vars reach each
worker, min_train_to_sample_ratio holds, stop() leaves no thread and no shard; errors of the
learner thread and of a worker's sample() are raised by step() naming where they came from."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from ray_faults import wait_dead
from replay_toy import ReplayToyEvaluator

from rl_optimizers.apex import ApexOptimizer, ReplayShard, sample_to_shard
from rl_optimizers.common import WorkerErrorWarning
from rlcore.worker_set import WorkerSet

pytestmark = pytest.mark.ray

CONFIG = {
    "num_replay_buffer_shards": 2,
    "buffer_size": 4000,
    "learning_starts": 100,
    "train_batch_size": 16,
    "max_weight_sync_delay": 50,
    "step_min_time_s": 0.2,
    "per_worker_vars": {1: {"epsilon": 0.4}, 2: {"epsilon": 0.01}},
}


@pytest.fixture
def ws(replay_workers: WorkerSet) -> WorkerSet:
    replay_workers.foreach_worker("set_faults")
    replay_workers.foreach_worker(_reset)
    replay_workers.local_evaluator.set_weights({"w": np.zeros(3, np.float32)})
    return replay_workers


def _reset(ev: Any) -> None:
    ev.vars_seen.clear()
    ev.batches.clear()
    ev.global_vars.clear()


def _learner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rlcore-apex-learner" and t.is_alive()]


def test_sample_to_shard_pushes_from_the_worker_and_returns_counts_only(ws: WorkerSet, ray_session: Any):
    shard = ray_session.remote(num_cpus=0)(ReplayShard).remote(3, 100, 0, 0.6, 0.4, 1e-6, 0)
    out = ws.foreach_worker(sample_to_shard, shard, 3, 5, None, {"epsilon": 0.3}, local=False)
    assert out == [{"count": 10, "shard": 3, "generation": 5, "added": 1}] * 2  # ints, never the batch
    assert ray_session.get(shard.stats.remote())["size"] == 20
    assert [v[-1] for v in ws.foreach_worker(lambda ev: ev.vars_seen, local=False)] == [{"epsilon": 0.3}] * 2
    ray_session.kill(shard)
    assert wait_dead(shard)
    out = ws.foreach_worker(sample_to_shard, shard, 3, 5, None, None, local=False)
    assert [o["added"] for o in out] == [0, 0]  # a dead shard is seen, not waited on forever


def test_two_workers_two_shards_learn_and_stop_clean(ws: WorkerSet):
    opt = ApexOptimizer(ws, CONFIG)
    try:
        infos = [opt.step() for _ in range(8)]
        for _ in range(60):  # steps are >= step_min_time_s of wall time: on a loaded machine 8 may sample fewer rows
            if opt.stats()["num_steps_sampled"] > 300:
                break
            infos.append(opt.step())
        stats = opt.stats()
        assert stats["num_steps_sampled"] > 300 and stats["num_learner_updates"] > 0
        assert stats["num_steps_trained"] == 16 * stats["num_learner_updates"]
        assert any(set(i) == {"loss", "adv_mean", "kl"} for i in infos)
        assert all(s >= 50 for s in stats["shard_sizes"]) and all(b > 0 for b in stats["shard_bytes"])
        assert stats["sampled_per_s"] > 0 and stats["trained_per_s"] > 0 and 0 < stats["learner_busy_fraction"] <= 1
        assert stats["num_shard_failures"] == stats["num_transitions_lost"] == stats["num_worker_failures"] == 0
        # weights go to a worker once it sampled max_weight_sync_delay rows (10-row tasks, 2 in flight)
        assert stats["num_weight_syncs"] > 0 and 50 <= stats["weight_sync_steps_mean"] <= 50 + 30
        assert stats["weight_sync_lag_mean"] > 0
        # each worker sampled with its own vars
        seen = ws.foreach_worker(lambda ev: ev.vars_seen, local=False)
        assert {v["epsilon"] for v in seen[0]} == {0.4} and {v["epsilon"] for v in seen[1]} == {0.01}
        # learned batches came from both workers, through the shards
        rows_from = {int(w) for b in ws.local_evaluator.batches[-20:] for w in np.unique(b["eps_id"])}
        assert rows_from == {1, 2}
        worker_w = ws.foreach_worker(lambda ev: ev.w.copy(), local=False)
        assert all(np.any(w != 0) for w in worker_w)  # pushed weights arrived
        assert len(_learner_threads()) == 1
        shards = list(opt.shards)
    finally:
        opt.stop()
    assert _learner_threads() == []
    assert all(wait_dead(s) for s in shards)
    assert ws.num_in_flight() == 0


def test_learner_not_running_between_steps(ws: WorkerSet):
    opt = ApexOptimizer(ws, CONFIG)
    try:
        for _ in range(4):
            opt.step()
        learned = len(ws.local_evaluator.batches)
        time.sleep(0.5)
        assert len(ws.local_evaluator.batches) == learned  # paused outside step()
        assert opt.run_on_learner(lambda ev: len(ev.batches)) == learned
    finally:
        opt.stop()


def test_inline_learner_without_thread(ws: WorkerSet):
    opt = ApexOptimizer(ws, {**CONFIG, "learner_thread": False})
    try:
        for _ in range(6):
            opt.step()
        assert opt.num_learner_updates > 0 and _learner_threads() == []
    finally:
        opt.stop()


def test_min_train_to_sample_ratio_holds(ws: WorkerSet):
    opt = ApexOptimizer(ws, {**CONFIG, "min_train_to_sample_ratio": 2.0})
    try:
        for _ in range(10):
            opt.step()
        after = opt.num_steps_sampled - opt.learning_starts
        slack = 2 * 2 * 10  # rows of the tasks in flight when the ratio was last checked
        assert opt.num_steps_trained >= 2.0 * (after - slack)
        assert opt.num_steps_trained > 0
    finally:
        opt.stop()


def test_learner_error_is_raised_by_the_next_step_naming_the_learner(ws: WorkerSet):
    opt = ApexOptimizer(ws, CONFIG)
    try:
        ws.local_evaluator.set_faults(raise_in="learn_on_batch", raise_times=1)
        with pytest.raises(ValueError, match="boom in learn_on_batch of worker 0") as info:
            for _ in range(30):
                opt.step()
        notes = "\n".join(getattr(info.value, "__notes__", []))
        assert "raised in the ApexOptimizer's learner thread, by learn_on_batch of the local evaluator" in notes
        assert any(f.name == "learn_on_batch" for f in info.traceback)  # the thread's own traceback
        with pytest.raises(ValueError, match="boom in learn_on_batch"):
            opt.step()  # the learner stopped: raised again
    finally:
        opt.stop()
    assert _learner_threads() == []


def test_worker_error_in_sample_reads_like_the_embedded_one(ws: WorkerSet):
    embedded = ReplayToyEvaluator(config={"rows": 10}, worker_index=1)
    embedded.set_faults(raise_in="sample", raise_times=1)
    local_opt = ApexOptimizer(WorkerSet.from_evaluator(embedded), {**CONFIG, "per_worker_vars": None})
    with pytest.raises(ValueError) as local_error:
        local_opt.step()
    opt = ApexOptimizer(ws, CONFIG)
    try:
        opt.step()
        ws.foreach_worker("set_faults", 0.0, 1, False, "sample", local=False, to=[1])
        with pytest.raises(ValueError) as remote_error:
            for _ in range(20):
                opt.step()
        assert str(remote_error.value) == str(local_error.value) == "boom in sample of worker 1"
        assert any("raised in remote worker 1" in n for n in remote_error.value.__notes__)
        sampled = opt.num_steps_sampled
        for _ in range(3):  # the error was raised once; both workers keep sampling after it
            opt.step()
        assert opt.num_steps_sampled > sampled and ws.num_in_flight(1) == ws.num_in_flight(2) == 2
    finally:
        opt.stop()


def test_ignore_worker_failures_counts_warns_and_goes_on_until_too_many_in_a_row(ws: WorkerSet):
    opt = ApexOptimizer(ws, {**CONFIG, "ignore_worker_failures": True, "max_worker_errors_in_a_row": 2})
    try:
        opt.step()
        ws.foreach_worker("set_faults", 0.0, 1, False, "sample", local=False, to=[2])
        with pytest.warns(WorkerErrorWarning, match=r"remote worker 2 \(ReplayToyEvaluator\) raised ValueError: boom"):
            for _ in range(5):
                opt.step()
        assert opt.num_worker_errors == 1 and opt.stats()["num_worker_errors"] == 1
        sampled = opt.num_steps_sampled
        opt.step()
        assert opt.num_steps_sampled > sampled  # training goes on
        ws.foreach_worker("set_faults", 0.0, -1, False, "sample", local=False, to=[2])  # raises from now on
        with pytest.raises(ValueError, match="boom in sample of worker 2") as info:
            for _ in range(20):
                opt.step()
        assert any(
            "ApexOptimizer: remote worker 2 (ReplayToyEvaluator) raised 3 times in a row, more than "
            "max_worker_errors_in_a_row=2" in n
            for n in info.value.__notes__
        )
    finally:
        opt.stop()


def test_stop_before_the_first_step_and_twice(ws: WorkerSet):
    opt = ApexOptimizer(ws, CONFIG)
    opt.stop()  # nothing started: no shard, no thread
    opt.stop()
    assert opt.shards == [] and _learner_threads() == [] and ws.num_in_flight() == 0
    opt = ApexOptimizer(ws, {**CONFIG, "min_train_to_sample_ratio": 50.0})  # workers mostly wait for the learner
    try:
        for _ in range(5):
            opt.step()
        assert opt.num_steps_trained >= 50.0 * (opt.num_steps_sampled - opt.learning_starts - 40)
    finally:
        opt.stop()
        opt.stop()
    assert _learner_threads() == [] and ws.num_in_flight() == 0
