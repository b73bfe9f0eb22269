"""The APEX trainer end to end (rl_algos + rl_optimizers' ApexOptimizer + a framework + Ray):
``rlcore train --run APEX --num-workers 2`` from the command line, a continuous action space
refused naming APEX, a checkpoint restoring the learner but not the replay shards (the restored
run waits for ``learning_starts`` again), the optimizer's stats in ``info.optimizer``, and no
learner thread, replay shard or worker left once the trainer stopped."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading

import numpy as np
import pytest

import rlcore
from rlcore.errors import UnsupportedOperationError

#: A small, fast Ape-X config for 2 workers and 2 shards (CartPole-v1).
SMALL = {
    "num_replay_buffer_shards": 2,
    "buffer_size": 8000,
    "learning_starts": 4000,  # 2000 per shard: more than one iteration samples (the tasks in flight included)
    "train_batch_size": 32,
    "timesteps_per_iteration": 250,
    "rollout_fragment_length": 16,
    "num_envs_per_worker": 2,
    "max_weight_sync_delay": 64,
    "target_network_update_freq": 500,
    "hiddens": [16],
    "model": {"fcnet_hiddens": [16]},
    "num_cpu_threads": 1,
    "seed": 0,
}

#: What ``info.optimizer`` of an APEX result holds (the ApexOptimizer's stats, plan 2.1).
STATS_KEYS = {
    "num_steps_sampled",
    "num_steps_trained",
    "num_learner_updates",
    "learner_queue_size",
    "learner_busy_fraction",
    "sample_tasks_in_flight",
    "replay_tasks_in_flight",
    "num_weight_syncs",
    "weight_sync_lag_mean",
    "weight_sync_steps_mean",
    "sampled_per_s",
    "trained_per_s",
    "sampled_per_s_total",
    "trained_per_s_total",
    "learner_queue_size_mean",
    "learner_queue_size_max",
    "shard_sizes",
    "shard_bytes",
    "num_shard_failures",
    "num_transitions_lost",
    "num_replays_dropped",
}


def apex(config: dict | None = None, env: str = "CartPole-v1"):
    return rlcore.get_algorithm_class("APEX")({**SMALL, **(config or {})}, env=env)


def learner_threads() -> list[threading.Thread]:
    """Live threads other than the main one and those that were there before (Ray's own)."""
    return [t for t in threading.enumerate() if t is not threading.main_thread() and "learner" in t.name.lower()]


def train_until_trained(trainer, max_iterations: int = 40) -> dict:
    """Iterations until the learner has trained (the shards reached learning_starts)."""
    for _ in range(max_iterations):
        result = trainer.train()
        if result["info"]["optimizer"]["num_steps_trained"] > 0:
            return result
    raise AssertionError(f"the learner trained nothing in {max_iterations} iterations: {result['info']}")


def dead(ray, actor, timeout_s: float = 30.0) -> bool:
    """Whether calls on ``actor`` raise RayActorError within ``timeout_s`` (``ray.kill`` only asks: a
    call sent right after it may still run on the old actor, so poll)."""
    import time

    from ray.exceptions import GetTimeoutError, RayActorError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=10)
        except RayActorError:
            return True
        except GetTimeoutError:
            pass
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------------------- the CLI
@pytest.mark.ray
@pytest.mark.integration
def test_rlcore_train_run_apex_with_two_workers_one_iteration(tmp_path):
    cmd = [sys.executable, "-m", "rlcore.cli", "train", "--env", "CartPole-v1", "--run", "APEX"]
    config = {**SMALL, "learning_starts": 128}  # 64 per shard: the learner trains within the iteration
    cmd += ["--num-workers", "2", "--config", json.dumps(config), "--stop", '{"training_iteration": 1}']
    cmd += ["--local-dir", str(tmp_path), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    (trial,) = (tmp_path / "APEX_CartPole-v1").iterdir()
    (line,) = (trial / "result.json").read_text().splitlines()
    result = json.loads(line)
    assert result["training_iteration"] == 1 and result["config"]["algorithm"] == "APEX"
    assert result["timesteps_total"] >= SMALL["timesteps_per_iteration"]
    stats = result["info"]["optimizer"]
    assert len(stats["shard_sizes"]) == 2 and stats["num_shard_failures"] == 0
    assert stats["num_steps_sampled"] >= SMALL["timesteps_per_iteration"]
    assert stats["num_steps_trained"] > 0 and stats["num_learner_updates"] > 0
    assert result["info"]["num_worker_failures"] == 0


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("env", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_a_continuous_action_space_is_refused_naming_apex(env):
    with pytest.raises(UnsupportedOperationError) as info:
        apex({"num_workers": 0}, env=env)
    msg = str(info.value)
    assert "APEX" in msg and "Box" in msg and "Discrete" in msg, msg
    assert learner_threads() == []


@pytest.mark.integration
def test_rlcore_train_run_apex_on_a_continuous_env_is_one_line_before_ray_starts(tmp_path):
    cmd = [sys.executable, "-m", "rlcore.cli", "train", "--env", "Pendulum-v1", "--run", "APEX"]
    cmd += ["--num-workers", "2", "--local-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr  # no traceback, and no Ray log line: refused before Ray starts
    assert lines[0].startswith("rlcore: error: APEX needs a Discrete action space"), lines
    assert "env 'Pendulum-v1' has Box(" in lines[0] and "--run PPO" in lines[0], lines


# ---------------------------------------------------------------------------------------- stats, checkpoints, stop
@pytest.mark.ray
def test_stats_checkpoint_restores_the_learner_not_the_shards_and_stop_leaves_nothing(ray_session, tmp_path):
    ray = ray_session
    trainer = apex({"num_workers": 2})
    try:
        result = train_until_trained(trainer)
        result = trainer.train()  # one more: the learner thread ran a whole iteration
        stats = result["info"]["optimizer"]
        missing = STATS_KEYS - set(stats)
        assert not missing, f"info.optimizer lacks {sorted(missing)}; it has {sorted(stats)}"
        # sensible values
        assert stats["num_steps_sampled"] == result["timesteps_total"]
        assert stats["num_steps_trained"] > 0 and stats["num_learner_updates"] > 0
        assert stats["num_steps_trained"] == stats["num_learner_updates"] * SMALL["train_batch_size"]
        assert 0.0 <= stats["learner_busy_fraction"] <= 1.0
        assert stats["sampled_per_s_total"] > 0 and stats["trained_per_s_total"] > 0
        assert 0 <= stats["learner_queue_size_mean"] <= stats["learner_queue_size_max"] <= 16
        assert len(stats["shard_sizes"]) == 2 and all(s > 0 for s in stats["shard_sizes"])
        assert sum(stats["shard_sizes"]) <= min(stats["num_steps_sampled"], SMALL["buffer_size"])
        assert stats["num_weight_syncs"] >= 2  # each of the 2 workers got weights at least once
        assert math.isfinite(stats["weight_sync_lag_mean"]) and stats["weight_sync_lag_mean"] >= 0
        assert stats["num_shard_failures"] == 0 and stats["num_transitions_lost"] == 0
        assert result["info"]["num_worker_failures"] == 0
        learner = result["info"]["learner"]
        assert np.isfinite(learner["loss"]) and np.isfinite(learner["mean_q"]), learner

        checkpoint = trainer.save(tmp_path)
        saved_weights = trainer.local_evaluator.get_weights()
        saved_stats = trainer.optimizer.stats()
        saved_timesteps = trainer.timesteps_total
        saved_target_update = trainer.last_target_update
        assert saved_target_update > 0  # the target network was updated (every 500 trained steps)
        threads = learner_threads()
        assert threads, "no learner thread while training"
        shards = list(trainer.optimizer.shards)
        workers = list(trainer.workers.remote_evaluators)
        assert len(shards) == 2 and len(workers) == 2
    finally:
        trainer.stop()

    # stop(): the learner thread joined, the shard and worker actors killed
    for t in threads:
        t.join(10)
        assert not t.is_alive(), f"{t.name} still runs after trainer.stop()"
    assert learner_threads() == []
    assert all(dead(ray, a) for a in shards), "a replay shard outlived trainer.stop()"
    assert all(dead(ray, a) for a in workers), "a worker outlived trainer.stop()"

    restored = apex({"num_workers": 2})
    try:
        restored.restore(checkpoint)
        weights = restored.local_evaluator.get_weights()
        assert weights.keys() == saved_weights.keys()
        for name in weights:
            np.testing.assert_array_equal(weights[name], saved_weights[name], err_msg=name)
        assert restored.timesteps_total == saved_timesteps
        assert restored.last_target_update == saved_target_update
        state = restored.optimizer.stats()
        assert state["num_steps_trained"] == saved_stats["num_steps_trained"]
        assert state["num_learner_updates"] == saved_stats["num_learner_updates"]
        # the shards start empty: one iteration (250 sampled steps and what came back meanwhile, under
        # the 2000 rows each shard waits for) trains nothing
        r = restored.train()
        opt = r["info"]["optimizer"]
        assert sum(opt["shard_sizes"]) <= opt["num_steps_sampled"] - saved_stats["num_steps_sampled"]
        assert max(opt["shard_sizes"]) < SMALL["learning_starts"] // 2, opt["shard_sizes"]
        assert opt["num_steps_trained"] == saved_stats["num_steps_trained"]
        assert opt["num_learner_updates"] == saved_stats["num_learner_updates"]
        r = train_until_trained_again(restored, saved_stats["num_steps_trained"])
        assert r["info"]["optimizer"]["num_steps_trained"] > saved_stats["num_steps_trained"]
    finally:
        restored.stop()
    assert learner_threads() == []


def train_until_trained_again(trainer, trained_before: int, max_iterations: int = 40) -> dict:
    for _ in range(max_iterations):
        result = trainer.train()
        if result["info"]["optimizer"]["num_steps_trained"] > trained_before:
            return result
    raise AssertionError(f"the restored learner trained nothing in {max_iterations} iterations")
