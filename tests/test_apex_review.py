"""APEX (review of issue 14): the remote workers compute their rows' initial priorities with the
learner's target network from the start (not their own worker-seeded initial one)."""

from __future__ import annotations

import numpy as np
import pytest

import rlcore

SMALL = {
    "num_workers": 2,
    "num_replay_buffer_shards": 2,
    "buffer_size": 2000,
    "learning_starts": 1000,
    "train_batch_size": 32,
    "rollout_fragment_length": 16,
    "hiddens": [16],
    "model": {"fcnet_hiddens": [16]},
    "num_cpu_threads": 1,
    "seed": 0,
}


@pytest.mark.ray
def test_workers_get_the_learners_target_network_at_setup(ray_session):
    trainer = rlcore.get_algorithm_class("APEX")(dict(SMALL), env="CartPole-v1")
    try:
        states = trainer.workers.foreach_worker("get_state")
        local_target = states[0]["target"]
        assert len(states) == 3
        for i, state in enumerate(states[1:], start=1):
            assert set(state["target"]) == set(local_target)
            for name, value in local_target.items():
                np.testing.assert_array_equal(state["target"][name], value, err_msg=f"worker {i}: {name}")
    finally:
        trainer.stop()


def _assert_targets_equal(trainer) -> None:
    states = trainer.workers.foreach_worker("get_state")
    local_target = states[0]["target"]
    for i, state in enumerate(states[1:], start=1):
        for name, value in local_target.items():
            np.testing.assert_array_equal(state["target"][name], value, err_msg=f"worker {i}: {name}")


@pytest.mark.ray
@pytest.mark.reliability
def test_a_recreated_worker_gets_the_learners_target_network_back(ray_session):
    ray = ray_session
    config = {**SMALL, "timesteps_per_iteration": 100, "target_network_update_freq": 10**9}
    trainer = rlcore.get_algorithm_class("APEX")(config, env="CartPole-v1")
    try:
        ray.kill(trainer.workers.remote_evaluators[0])
        for _ in range(20):
            result = trainer.train()
            if result["info"]["num_worker_failures"] >= 1:
                break
        assert result["info"]["num_worker_failures"] >= 1, result["info"]
        _assert_targets_equal(trainer)  # not worker 1's own (worker-seeded) initial target
    finally:
        trainer.stop()
