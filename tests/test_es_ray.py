"""ES on two Ray workers: the shared noise table, the merged observation filter, errors and deaths.

The noise table is put in Ray's object store once per trainer and every worker reads it in place
(a read-only view of the shared-memory object store, not a copy); the observation statistics of
every worker are merged on the driver; an exception raised inside a worker's task reads as the
same error raised embedded; a worker SIGKILLed mid-training is recreated, reads the same table and
training reaches its target; the results count the steps and episodes of both workers.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import yaml

import rlcore
from rlcore import register_env
from rlcore.worker_set import WorkerSet

pytestmark = pytest.mark.ray

#: A small ES config with 2 Ray workers (the tuned example's settings, a 2,000,000-value table: 8 MB).
SMALL = {
    "num_workers": 2,
    "num_envs_per_worker": 8,
    "episodes_per_batch": 16,
    "train_batch_size": 200,
    "noise_stdev": 0.1,
    "stepsize": 0.05,
    "eval_prob": 0.3,
    "metrics_smoothing_episodes": 10,
    "noise_size": 2_000_000,
    "model": {"fcnet_hiddens": []},
    "seed": 0,
}


@pytest.fixture
def by_value(ray_session: Any) -> Any:
    """Ray with this module pickled by value (its functions and env classes reach the workers,
    which cannot import tests/)."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ray_session


def es(config: dict[str, Any], env: str = "CartPole-v1") -> Any:
    return rlcore.get_algorithm_class("ES")(config, env=env)


# ------------------------------------------------------------------ the noise table: put once, read in place
def probe_noise(evaluator: Any, noise: np.ndarray) -> dict[str, Any]:
    """Runs in a worker: how the noise argument of a task arrives there."""
    address = noise.ctypes.data
    mapping = ""
    with open("/proc/self/maps") as maps:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                mapping = line.strip()
                break
    return {
        "pid": os.getpid(),
        "writeable": bool(noise.flags.writeable),
        "owndata": bool(noise.flags.owndata),
        "address": address,
        "mapping": mapping,
        "size": int(noise.size),
        "head": np.array(noise[:8]),
    }


def probe_both(trainer: Any) -> dict[int, dict[str, Any]]:
    """One :func:`probe_noise` task on each remote worker (``WorkerSet.submit``, as ES's tasks go),
    with the trainer's noise reference."""
    for i in trainer.workers.remote_worker_indices:
        trainer.workers.submit(i, probe_noise, trainer.noise_ref)
    out: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while len(out) < len(trainer.workers.remote_worker_indices) and time.monotonic() < deadline:
        for r in trainer.workers.completed(timeout=10):
            assert r.ok, r.error
            out[r.worker_index] = r.result
    return out


def check_in_place(trainer: Any, first: dict[str, Any], second: dict[str, Any]) -> None:
    """Two probes of one worker saw the table read-only, in the object store's shared memory, at
    the same address (no copy made per task), with the driver's values."""
    for p in (first, second):
        assert p["writeable"] is False and p["owndata"] is False, p
        perms = p["mapping"].split()[1] if p["mapping"] else ""
        assert perms.endswith("s") and ("/dev/shm" in p["mapping"] or "plasma" in p["mapping"]), (
            f"the noise table is not in a shared mapping of the object store: {p['mapping']!r}"
        )
        assert p["size"] == trainer.noise.size
        np.testing.assert_array_equal(p["head"], trainer.noise.array[:8])
    assert first["pid"] == second["pid"] and first["address"] == second["address"], (first, second)


@pytest.fixture
def put_spy(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What every ``WorkerSet.put`` of this test was given (the real put still runs)."""
    calls: list[Any] = []
    real = WorkerSet.put

    def put(self: WorkerSet, obj: Any) -> Any:
        calls.append(obj)
        return real(self, obj)

    monkeypatch.setattr(WorkerSet, "put", put)
    return calls


def noise_puts(calls: list[Any], trainer: Any) -> int:
    """How many puts were of the noise table (its array, or any array of its size)."""
    return sum(1 for obj in calls if obj is trainer.noise.array or getattr(obj, "size", 0) == trainer.noise.size)


def test_the_noise_table_is_put_once_and_both_workers_read_it_in_place(by_value: Any, put_spy: list[Any]) -> None:
    with es(SMALL) as trainer:
        for _ in range(3):
            trainer.train()
        assert noise_puts(put_spy, trainer) == 1, "the noise table was put in the object store more than once"
        first, second = probe_both(trainer), probe_both(trainer)
        assert sorted(first) == [1, 2] and first[1]["pid"] != first[2]["pid"]
        for i in (1, 2):
            check_in_place(trainer, first[i], second[i])


# ------------------------------------------------------------------ the observation filter
def test_observation_statistics_merge_every_workers_observations(by_value: Any) -> None:
    with es(SMALL) as trainer:
        local = trainer.workers.local_evaluator
        merged: list[list[dict[str, Any]]] = []
        real_merge = local.merge_filter_buffers

        def merge(buffers: list[dict[str, Any]]) -> None:
            merged.append([dict(b) for b in buffers])
            real_merge(buffers)

        local.merge_filter_buffers = merge  # a spy: the real merge runs
        n_start = local.get_filters()["state"]["n"]  # the local envs' first observations
        envs = SMALL["num_envs_per_worker"]
        for it in range(1, 3):
            r = trainer.train()
            assert len(merged) == it and len(merged[-1]) == 2, "a buffer from each of the 2 workers"
            if it == 1:  # each worker's envs' first observations (counted at its reset), then its task's
                assert all(b["n"] > envs for b in merged[-1]), [b["n"] for b in merged[-1]]
            else:
                assert all(b["n"] > 0 for b in merged[-1]), [b["n"] for b in merged[-1]]
        n = local.get_filters()["state"]["n"]
        # every observation any worker fed its policy, once: the steps of both iterations (the first
        # observations of each remote worker's 8 envs, counted when it was built, start its first
        # task: they are not counted again)
        assert n == n_start + r["timesteps_total"], (n, n_start, r["timesteps_total"], envs)
        assert sum(b["n"] for m in merged for b in m) == r["timesteps_total"]
        remote = trainer.workers.foreach_worker(lambda ev: ev.get_filters()["state"]["n"], local=False)
        assert remote == [n, n], "the merged statistics went back to every worker"


# ------------------------------------------------------------------ counts
def test_results_with_two_workers_count_steps_and_episodes_of_both(by_value: Any) -> None:
    with es(SMALL) as trainer:
        total = eval_total = 0
        for it in range(1, 4):
            r = trainer.train()
            learner, opt = r["info"]["learner"], r["info"]["optimizer"]
            total += r["timesteps_this_iter"]
            eval_total += r["episodes_this_iter"]
            assert r["training_iteration"] == it and r["timesteps_total"] == total == opt["num_steps_sampled"]
            assert r["timesteps_this_iter"] > learner["perturbed_timesteps_this_iter"] >= SMALL["train_batch_size"]
            assert r["perturbed_episodes_this_iter"] == learner["episodes_this_iter"] >= SMALL["episodes_per_batch"]
            assert r["perturbed_episodes_this_iter"] % 2 == 0, "antithetic pairs"
            assert r["episodes_this_iter"] == learner["num_eval_episodes"], "episode_* metrics: evaluation episodes"
            assert r["episodes_total"] == eval_total == opt["num_eval_episodes"]
            assert learner["num_tasks"] >= 2, "both workers got a task"
            assert r["perturbed_reward_min"] <= r["perturbed_reward_mean"] <= r["perturbed_reward_max"]
            assert opt["num_episodes_perturbed"] >= it * SMALL["episodes_per_batch"]
            assert r["info"]["num_worker_failures"] == 0 and opt["num_dropped_tasks"] == 0


# ------------------------------------------------------------------ an exception inside a worker's task
class Faulty(gymnasium.Wrapper):
    """CartPole with a fault after 40 steps of its life (``step``: raises; ``obs``: an observation of
    the wrong shape; ``nan``: a NaN reward) or in its third ``reset`` (``reset``: raises)."""

    def __init__(self, where: str) -> None:
        super().__init__(gymnasium.make("CartPole-v1"))
        self.where, self.steps, self.resets = where, 0, 0

    def step(self, action: Any) -> Any:
        self.steps += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.steps > 40:
            if self.where == "step":
                raise ValueError(f"sensor unplugged at step {self.steps}")
            if self.where == "obs":
                obs = np.zeros(7, np.float32)
            if self.where == "nan":
                reward = float("nan")
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> Any:
        self.resets += 1
        if self.where == "reset" and self.resets > 2:
            raise RuntimeError(f"the simulator lost its licence at reset {self.resets}")
        return self.env.reset(**kwargs)


def faulty(env_config: dict[str, Any]) -> gymnasium.Env:
    return Faulty(env_config["where"])


@pytest.mark.reliability
@pytest.mark.parametrize("where", ["step", "reset", "obs", "nan"])
def test_an_exception_inside_a_worker_task_reads_like_the_same_error_embedded(by_value: Any, where: str) -> None:
    register_env("ESFaulty-v0", faulty, override=True)
    errors: dict[int, BaseException] = {}
    for workers in (0, 2):
        with es({**SMALL, "num_workers": workers, "env_config": {"where": where}}, env="ESFaulty-v0") as trainer:
            with pytest.raises(Exception) as info:
                for _ in range(5):
                    trainer.train()
            errors[workers] = info.value
    embedded, remote = errors[0], errors[2]
    print(f"{where}: {type(embedded).__name__}: {embedded}")
    assert type(remote) is type(embedded), (repr(embedded), repr(remote))
    # the same sentence; only the numbers differ (the worker, the env slot, the steps sampled so far)
    assert re.sub(r"\d+", "N", str(remote)) == re.sub(r"\d+", "N", str(embedded)), (
        f"embedded: {embedded}\nremote:   {remote}"
    )
    assert re.search(r"\(worker [12]\)", str(remote)) and "(worker 0)" in str(embedded), (str(embedded), str(remote))
    assert "ESFaulty-v0" in str(remote)
    notes = getattr(remote, "__notes__", [])
    assert any("remote worker" in note for note in notes), notes


# ------------------------------------------------------------------ a worker SIGKILLed mid-training
class KillOnce(gymnasium.Wrapper):
    """CartPole whose 300th step in a process other than the driver SIGKILLs that process, once in
    the whole run (the first env there to create ``marker``): a worker dies inside an ES task."""

    def __init__(self, marker: str, driver_pid: int) -> None:
        super().__init__(gymnasium.make("CartPole-v1"))
        self.marker, self.driver_pid, self.steps = marker, driver_pid, 0

    def step(self, action: Any) -> Any:
        self.steps += 1
        if self.steps == 300 and os.getpid() != self.driver_pid:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return self.env.step(action)


def kill_once(env_config: dict[str, Any]) -> gymnasium.Env:
    return KillOnce(env_config["marker"], env_config["driver_pid"])


def worker_pids(trainer: Any) -> list[int]:
    return trainer.workers.foreach_worker(lambda ev: os.getpid(), local=False)


def check_after_recreation(trainer: Any, ref: Any, put_spy: list[Any]) -> None:
    """After a worker was recreated: the same noise reference, put once in all, read in place by both
    workers, and every worker holds the driver's merged observation statistics."""
    probes = [probe_both(trainer), probe_both(trainer)]
    assert trainer.noise_ref is ref
    assert noise_puts(put_spy, trainer) == 1, "the recreated worker got the noise table put again"
    for i in (1, 2):
        check_in_place(trainer, probes[0][i], probes[1][i])
    n = trainer.workers.local_evaluator.get_filters()["state"]["n"]
    assert trainer.workers.foreach_worker(lambda ev: ev.get_filters()["state"]["n"], local=False) == [n, n]


@pytest.mark.reliability
def test_a_sigkilled_worker_is_recreated_reads_the_same_table_and_es_reaches_475(
    repo: Path, by_value: Any, put_spy: list[Any], tmp_path: Path
) -> None:
    """The tuned ES (2 Ray workers) on CartPole whose env SIGKILLs its worker's process in the middle of
    a task (once): the WorkerSet recreates the worker, the task is dropped and counted, more tasks are
    handed out, the new worker gets the same noise reference (no second put) and reads it in place, and
    training still reaches 475."""
    (exp,) = yaml.safe_load((repo / "tuned_examples/cartpole-es.yaml").read_text()).values()
    register_env("ESKillOnce-v0", kill_once, override=True)
    marker = tmp_path / "killed"
    config = {**exp["config"], "seed": 0, "env_config": {"marker": str(marker), "driver_pid": os.getpid()}}
    with es(config, env="ESKillOnce-v0") as trainer:
        ref = trainer.noise_ref
        before = worker_pids(trainer)
        results = []
        while True:
            results.append(trainer.train())
            r = results[-1]
            if r["timesteps_total"] >= exp["stop"]["timesteps_total"] or (
                marker.exists() and r["episode_reward_mean"] >= 475
            ):
                break
        after = worker_pids(trainer)
        check_after_recreation(trainer, ref, put_spy)
    opt = r["info"]["optimizer"]
    print(
        f"ES with a worker killed: {r['episode_reward_mean']:.1f} after {r['timesteps_total']} steps, "
        f"{r['time_total_s']:.1f} s; failures {r['info']['num_worker_failures']}, "
        f"tasks dropped {opt['num_dropped_tasks']}, pids {before} -> {after}"
    )
    assert marker.exists(), "no worker was killed"
    assert r["episode_reward_mean"] >= 475, f"after {r['timesteps_total']} steps: {r['episode_reward_mean']:.1f}"
    assert r["info"]["num_worker_failures"] == 1, r["info"]
    assert opt["num_dropped_tasks"] >= 1, opt
    assert len(set(before) - set(after)) == 1, f"one worker recreated: pids {before} -> {after}"
    # the iteration the worker died in still gathered its episodes (more tasks replaced the dropped one)
    hit = next(x for x in results if x["info"]["num_worker_failures"])
    assert hit["perturbed_episodes_this_iter"] >= exp["config"]["episodes_per_batch"], hit["info"]["learner"]


@pytest.mark.reliability
def test_a_worker_sigkilled_between_iterations_is_recreated_at_the_next_task(by_value: Any, put_spy: list[Any]) -> None:
    """A worker whose process died while idle (between two train() calls): the next iteration's task
    to it comes back dead, the worker is recreated with the same noise reference and the iteration
    still gathers its episodes from both."""
    with es(SMALL) as trainer:
        ref = trainer.noise_ref
        trainer.train()
        before = worker_pids(trainer)
        os.kill(before[1], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the process is gone
            try:
                os.kill(before[1], 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        results = [trainer.train() for _ in range(2)]
        after = worker_pids(trainer)
        check_after_recreation(trainer, ref, put_spy)
    assert after[0] == before[0] and after[1] != before[1], (before, after)
    assert results[-1]["info"]["num_worker_failures"] == 1, results[-1]["info"]
    for r in results:
        assert r["perturbed_episodes_this_iter"] >= SMALL["episodes_per_batch"]
    assert results[-1]["info"]["learner"]["num_tasks"] >= 2
