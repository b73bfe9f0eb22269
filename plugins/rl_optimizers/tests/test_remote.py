"""Optimizers over Ray actors: samples come from the remote evaluators, weights reach them,
and a dead actor is recreated while training goes on."""

from __future__ import annotations

import numpy as np
import pytest
from toy import ToyEvaluator

from rl_optimizers.multi_gpu import LocalMultiGPUOptimizer
from rl_optimizers.sync import LocalSyncOptimizer
from rlcore.remote import RemoteEvaluatorSet

pytestmark = pytest.mark.ray


@pytest.fixture
def remotes(ray_session):
    import toy
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(toy)  # Ray workers don't have the tests folder on their path
    workers = RemoteEvaluatorSet(ToyEvaluator, None, {"rows": 30}, 2, num_cpus_per_worker=0.5)
    yield workers
    workers.stop()


def test_sync_samples_from_remotes_and_broadcasts_weights(remotes):
    import ray

    local = ToyEvaluator(config={"rows": 30})
    opt = LocalSyncOptimizer(local, remotes, {"train_batch_size": 100, "num_sgd_iter": 2, "sgd_minibatch_size": 20})
    opt.step()
    assert local.calls["sample"] == 0, "with remote evaluators the local one only learns"
    assert opt.num_steps_sampled == 120  # two rounds of 2 x 30 rows
    opt.step()  # the weights learned in step 1 are broadcast at the start of step 2
    remote_w = ray.get(remotes[0].get_weights.remote())["w"]
    assert np.abs(remote_w).sum() > 0
    assert sorted(m.episode_reward for m in opt.collect_metrics()) == [0.0, 1.0, 2.0]


def test_dead_actor_is_recreated_and_counted(remotes):
    import ray

    local = ToyEvaluator(config={"rows": 30})
    opt = LocalMultiGPUOptimizer(local, remotes, {"train_batch_size": 60, "num_sgd_iter": 1, "sgd_minibatch_size": 30})
    opt.step()
    ray.kill(remotes[1])
    opt.step()
    assert remotes.num_failures == 1
    assert opt.num_steps_sampled == 120
    w0, w1 = (ray.get(r.get_weights.remote())["w"] for r in remotes)
    np.testing.assert_array_equal(w0, w1)  # the new actor got the broadcast weights
