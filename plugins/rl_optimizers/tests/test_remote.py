"""Optimizers over Ray actors: samples come from the remote evaluators, weights reach them,
and a dead actor is recreated while training goes on."""

from __future__ import annotations

import numpy as np
import pytest
from ray_faults import kill_and_wait
from replay_toy import ReplayToyEvaluator
from toy import ToyEvaluator

from rl_optimizers.multi_gpu import LocalMultiGPUOptimizer
from rl_optimizers.replay_optimizer import LocalSyncReplayOptimizer
from rl_optimizers.sync import LocalSyncOptimizer
from rlcore.worker_set import WorkerSet

pytestmark = pytest.mark.ray


@pytest.fixture
def by_value(ray_session):
    import replay_toy
    import toy
    from ray import cloudpickle

    for module in (toy, replay_toy):  # Ray workers don't have the tests folder on their path
        cloudpickle.register_pickle_by_value(module)


@pytest.fixture
def workers(by_value):
    workers = WorkerSet(ToyEvaluator, None, {"rows": 30}, 2, num_cpus_per_worker=0.5)
    yield workers
    workers.stop()


def test_sync_samples_from_remotes_and_broadcasts_weights(workers):
    import ray

    local = workers.local_evaluator
    opt = LocalSyncOptimizer(workers, {"train_batch_size": 100, "num_sgd_iter": 2, "sgd_minibatch_size": 20})
    opt.step()
    assert local.calls["sample"] == 0, "with remote evaluators the local one only learns"
    assert opt.num_steps_sampled == 120  # two rounds of 2 x 30 rows
    opt.step()  # the weights learned in step 1 are broadcast at the start of step 2
    remote_w = ray.get(workers.remote_evaluators[0].get_weights.remote())["w"]
    assert np.abs(remote_w).sum() > 0
    assert sorted(m.episode_reward for m in opt.collect_metrics()) == [0.0, 1.0, 2.0]
    assert opt.stats()["sample_time_s"] > 0 and opt.stats()["learn_time_s"] > 0


def test_dead_actor_is_recreated_and_counted(workers):
    import ray

    opt = LocalMultiGPUOptimizer(workers, {"train_batch_size": 60, "num_sgd_iter": 1, "sgd_minibatch_size": 30})
    opt.step()
    kill_and_wait(workers.remote_evaluators[1])  # ray.kill only asks: a task sent at once may still run
    opt.step()  # worker 2 is found dead in the weight push, is recreated, and samples with the others
    assert workers.num_failures == 1
    assert opt.num_steps_sampled == 120
    w0, w1 = (ray.get(r.get_weights.remote())["w"] for r in workers.remote_evaluators)
    np.testing.assert_array_equal(w0, w1)  # the new actor got the current weights


def test_replay_optimizer_samples_from_remotes(by_value):
    workers = WorkerSet(ReplayToyEvaluator, None, {"rows": 10, "lr": 0.05}, 2, num_cpus_per_worker=0.5)
    try:
        opt = LocalSyncReplayOptimizer(workers, {"seed": 0, "learning_starts": 20, "train_batch_size": 8})
        opt.step()  # 2 x 10 rows: learning starts
        assert opt.num_steps_sampled == 20 and opt.num_steps_trained == 8
        assert workers.local_evaluator.seen_sampled == 0
    finally:
        workers.stop()
