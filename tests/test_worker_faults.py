"""``rlcore train --num-workers 2`` under faults, through the CLI, with real Ray workers.

An env that fails in a worker reads exactly like the same fault embedded (one ``rlcore: error:``
line, no Ray traceback, no colour codes); a worker process killed mid-run is replaced, and with
``--json`` stdout still holds only JSON results; ``recreate_failed_workers: false`` and a worker
whose replacements keep dying end the run with one line each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.ray]

MAIN = "import sys; from rlcore.cli import main; sys.exit(main(sys.argv[1:]))"

PLUGIN = '''
import os
import signal
import sys

import gymnasium as gym

from rlcore import hookimpl


def in_ray_worker():
    return "ray" in sys.modules and "default_worker" in " ".join(sys.argv)


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


class Faults(gym.Wrapper):
    """CartPole with a fault at a given step: raise, a NaN reward, or the worker process killed."""

    def __init__(self, fault):
        super().__init__(gym.make("CartPole-v1"))
        self.fault, self.t = fault, 0

    def step(self, action):
        self.t += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.fault == "raise" and self.t > 300:
            raise ValueError(f"sensor unplugged at step {self.t}")
        if self.fault == "nan" and self.t == 50:
            reward = float("nan")
        if self.fault in ("kill_once", "kill_always") and in_ray_worker() and self.t == 150:
            try:  # the first worker there dies, once
                os.close(os.open(os.environ["FAULT_MARKER"], os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                kill_self()
        return obs, reward, terminated, truncated, info


def raise_mid(env_config):
    return Faults("raise")


def nan_reward(env_config):
    return Faults("nan")


def raise_init(env_config):
    if in_ray_worker() or os.environ.get("FAULT_EVERYWHERE"):
        raise RuntimeError("no licence for this simulator")
    return Faults(None)


def none_env(env_config):
    if in_ray_worker() or os.environ.get("FAULT_EVERYWHERE"):
        return None
    return Faults(None)


def kill_once(env_config):
    return Faults("kill_once")


def kill_always(env_config):
    if in_ray_worker() and os.path.exists(os.environ["FAULT_MARKER"]):
        kill_self()  # every replacement dies while it starts
    return Faults("kill_always")


@hookimpl
def rlcore_register_envs(register):
    register("RaiseMid-v0", raise_mid)
    register("NanReward-v0", nan_reward)
    register("RaiseInit-v0", raise_init)
    register("NoneEnv-v0", none_env)
    register("KillOnce-v0", kill_once)
    register("KillAlways-v0", kill_always)
'''

SMALL = {"train_batch_size": 400, "rollout_fragment_length": 100, "sgd_minibatch_size": 100, "num_sgd_iter": 2}
RAY_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+(INFO|WARNING|DEBUG)\b")


def plugin_folder(tmp_path_factory: pytest.TempPathFactory, name: str, code: str) -> Path:
    """A plugin distribution ``fake-<name>`` (module ``fakeplug_<name>`` + .dist-info), for PYTHONPATH."""
    folder = tmp_path_factory.mktemp(f"{name}_plugin")
    (folder / f"fakeplug_{name}.py").write_text(textwrap.dedent(code))
    info = folder / f"fake_{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[rlcore]\n{name} = fakeplug_{name}\n")
    return folder


@pytest.fixture(scope="module")
def fault_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plugin distribution registering the faulty envs."""
    return plugin_folder(tmp_path_factory, "workerfaults", PLUGIN)


def rlcore_train(plugin: Path, tmp_path: Path, args: list[str], **env_vars: str) -> subprocess.CompletedProcess[str]:
    """``rlcore train ARGS`` in a subprocess with ``plugin`` on PYTHONPATH and results under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RLCORE_", "FAULT_"))}
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(plugin), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["RLCORE_RESULTS_DIR"] = str(tmp_path / "results")
    env["FAULT_MARKER"] = str(tmp_path / "marker")
    env.update(env_vars)
    cmd = [sys.executable, "-c", MAIN, "train", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)


def train(
    plugin: Path, tmp_path: Path, env_id: str, *extra: str, config: dict | None = None, **env_vars: str
) -> subprocess.CompletedProcess[str]:
    args = ["--run", "PPO", "--env", env_id, "--config", json.dumps({**SMALL, **(config or {})}), *extra]
    return rlcore_train(plugin, tmp_path, args, **env_vars)


def our_lines(stderr: str) -> list[str]:
    """stderr without Ray's own log lines (its start-up INFO and the token WARNING)."""
    return [line for line in stderr.splitlines() if line.strip() and not RAY_LOG_LINE.match(line)]


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "\x1b" not in proc.stderr + proc.stdout, proc.stderr  # no colour codes
    assert "Traceback" not in proc.stderr and "RayTaskError" not in proc.stderr, proc.stderr
    lines = [line for line in our_lines(proc.stderr) if not line.startswith("(raylet)")]
    assert len(lines) == 1 and lines[0].startswith("rlcore: error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("env_id", "embedded_env"),
    [
        ("RaiseMid-v0", {}),  # an env that raises mid-episode
        ("NanReward-v0", {}),  # a bad reward
        ("RaiseInit-v0", {"FAULT_EVERYWHERE": "1"}),  # the env creator raises (in the worker's constructor)
        ("NoneEnv-v0", {"FAULT_EVERYWHERE": "1"}),  # the env creator returns None (in the worker's constructor)
    ],
)
def test_an_env_fault_in_a_worker_reads_like_the_embedded_one(
    fault_plugin: Path, tmp_path: Path, env_id: str, embedded_env: dict[str, str]
) -> None:
    embedded = one_error_line(train(fault_plugin, tmp_path / "embedded", env_id, "--num-workers", "0", **embedded_env))
    remote = one_error_line(train(fault_plugin, tmp_path / "workers", env_id, "--num-workers", "2"))
    assert re.search(r"\(worker [12]\)", remote), remote
    assert same_but_for_sampling(remote) == same_but_for_sampling(embedded), (remote, embedded)


def same_but_for_sampling(line: str) -> str:
    """The line with what differs between runs anyway: which worker, the action and the episode's step."""
    line = re.sub(r"\(worker \d+\)", "(worker N)", line)
    line = re.sub(r"\bstep \d+ of its episode", "step T of its episode", line)
    return re.sub(r"\bstep\(\d+\)|\baction \d+", "<action>", line)


def test_with_json_stdout_holds_only_results_when_a_worker_is_killed(fault_plugin: Path, tmp_path: Path) -> None:
    proc = train(
        fault_plugin, tmp_path, "KillOnce-v0", "--num-workers", "2", "--json", "--stop", '{"training_iteration": 4}'
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]  # every stdout line is JSON
    assert [r["training_iteration"] for r in results] == [1, 2, 3, 4]
    assert results[-1]["info"]["num_worker_failures"] == 1
    assert (tmp_path / "marker").exists()
    assert "A worker died" not in proc.stdout


def test_recreation_off_and_a_dead_worker_is_one_line(fault_plugin: Path, tmp_path: Path) -> None:
    proc = train(fault_plugin, tmp_path, "KillOnce-v0", "--num-workers", "2", config={"recreate_failed_workers": False})
    line = one_error_line(proc)
    assert re.fullmatch(
        r"rlcore: error: remote worker [12] \(RolloutEvaluator\) died \(its worker process has died\); "
        r"recreate_failed_workers is false: set it to true to replace dead workers",
        line,
    ), line


def test_replacements_that_die_as_they_start_end_in_one_clear_line(fault_plugin: Path, tmp_path: Path) -> None:
    proc = train(fault_plugin, tmp_path, "KillAlways-v0", "--num-workers", "2", config={"max_worker_restarts": 1})
    line = one_error_line(proc)
    assert re.match(
        r"rlcore: error: remote worker [12] \(RolloutEvaluator\) died 2 times in a row \(.+\), restarted 1 times "
        r"without answering a call \(max_worker_restarts=1\)",
        line,
    ), line
    assert "raise max_worker_restarts" in line


# ----------------------------------------------------------------- more of the same kind (attacker's second pass)
POLICY_PLUGIN = '''
import os
import sys

import gymnasium as gym

from rlcore import hookimpl
from rlcore_numpy_example.policy import LinearPGPolicy


def in_ray_worker():
    return "ray" in sys.modules and "default_worker" in " ".join(sys.argv)


class RaiseLater(gym.Wrapper):
    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.t = 0

    def step(self, action):
        self.t += 1
        if self.t > 40:
            raise ValueError("only this worker's sensor broke")
        return self.env.step(action)


def one_worker_only(env_config):
    """The second env built in a Ray worker raises (which worker and env: whichever builds it second)."""
    if in_ray_worker():
        try:
            os.close(os.open(os.environ["FAULT_MARKER"], os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return RaiseLater()
    return gym.make("CartPole-v1")


class BoomPolicy(LinearPGPolicy):
    def compute_actions(self, *args, **kwargs):
        if in_ray_worker():
            raise RuntimeError("policy exploded in a worker")
        return super().compute_actions(*args, **kwargs)


@hookimpl
def rlcore_register_envs(register):
    register("OneWorkerOnly-v0", one_worker_only)


@hookimpl
def rlcore_register_policies(register):
    register("PG", "boom", BoomPolicy, capabilities=("discrete", "gradients"))
'''


@pytest.fixture(scope="module")
def policy_fault_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("rlcore_numpy_example")
    return plugin_folder(tmp_path_factory, "policyfaults", POLICY_PLUGIN)


def train_pg(
    plugin: Path, tmp_path: Path, env_id: str, framework: str, workers: int
) -> subprocess.CompletedProcess[str]:
    args = ["--run", "PG", "--framework", framework, "--env", env_id, "--num-workers", str(workers)]
    return rlcore_train(plugin, tmp_path, [*args, "--stop", '{"training_iteration": 3}', "--quiet"])


def test_an_env_that_raises_in_one_worker_only_names_that_worker_and_env(
    policy_fault_plugin: Path, tmp_path: Path
) -> None:
    line = one_error_line(train_pg(policy_fault_plugin, tmp_path, "OneWorkerOnly-v0", "numpy", 2))
    assert re.fullmatch(
        r"rlcore: error: env 'OneWorkerOnly-v0' \(worker [12]\) after \d+ sampled steps: env \d raised ValueError: "
        r"only this worker's sensor broke in step\(\d\) at step \d+ of its episode \(the env's traceback is this "
        r"error's cause, above\)",
        line,
    ), line
    embedded = train_pg(policy_fault_plugin, tmp_path / "embedded", "OneWorkerOnly-v0", "numpy", 0)
    assert embedded.returncode == 0, embedded.stderr[-2000:]  # no Ray worker: no fault


def test_a_policy_raising_in_a_worker_is_one_line_naming_policy_and_worker(
    policy_fault_plugin: Path, tmp_path: Path
) -> None:
    line = one_error_line(train_pg(policy_fault_plugin, tmp_path, "CartPole-v1", "boom", 2))
    assert re.fullmatch(
        r"rlcore: error: policy fakeplug_policyfaults\.BoomPolicy \(worker [12], after 0 sampled steps\) raised "
        r"RuntimeError: policy exploded in a worker in compute_actions for a batch of \d+ observations "
        r"\(the policy's traceback is this error's cause, above\)",
        line,
    ), line


# ------------------------------------------------------------------ A3C: a worker killed mid-training
def test_a3c_reaches_its_target_when_a_worker_is_sigkilled_mid_training(repo: Path, ray_session) -> None:
    """The tuned A3C (2 Ray workers, the AsyncOptimizer): a thread SIGKILLs worker 1's process while
    gradients are in flight; the WorkerSet recreates it, its gradient is dropped and counted, and
    training still reaches a mean return of 475; the failure shows in the result."""
    import signal
    import threading
    import time

    import yaml

    import rlcore

    (exp,) = yaml.safe_load((repo / "tuned_examples/cartpole-a3c.yaml").read_text()).values()
    config = {**exp["config"], "seed": 0, "num_workers": 2}
    trainer = rlcore.get_algorithm_class(exp["run"])(config, env=exp["env"])
    killed: list[int] = []
    try:
        pid = ray_session.get(trainer.workers.remote_evaluators[0].apply.remote(lambda ev: os.getpid()))
        training = threading.Event()

        def in_flight() -> int:
            try:
                return trainer.workers.num_in_flight(1)
            except RuntimeError:  # the pool changed while this thread counted
                return 0

        def kill_mid_training() -> None:
            training.wait(60)
            time.sleep(1.0)  # well inside training
            deadline = time.monotonic() + 30
            while not in_flight() and time.monotonic() < deadline:
                time.sleep(0.0005)  # until worker 1 computes a gradient
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        killer = threading.Thread(target=kill_mid_training, daemon=True)
        killer.start()
        results = []
        while True:
            training.set()
            results.append(trainer.train())
            r = results[-1]
            if r["episode_reward_mean"] >= 475 or r["timesteps_total"] >= exp["stop"]["timesteps_total"]:
                break
        killer.join(60)
        new_pid = ray_session.get(trainer.workers.remote_evaluators[0].apply.remote(lambda ev: os.getpid()))
    finally:
        trainer.stop()
    opt = r["info"]["optimizer"]
    print(
        f"A3C with worker 1 killed: {r['episode_reward_mean']:.1f} after {r['timesteps_total']} steps, "
        f"{r['time_total_s']:.1f} s; failures {r['info']['num_worker_failures']}, "
        f"gradients dropped {opt.get('num_gradients_dropped')}"
    )
    assert killed == [pid], "the killer thread did not run"
    assert r["episode_reward_mean"] >= 475, f"after {r['timesteps_total']} steps: {r['episode_reward_mean']:.1f}"
    assert r["info"]["num_worker_failures"] >= 1, r["info"]
    assert r["info"]["optimizer"]["num_gradients_dropped"] >= 1, r["info"]["optimizer"]
    assert new_pid != pid, "worker 1 was not recreated"


# ------------------------------------------------------------------ APEX: a shard and a worker killed mid-training
def apex_with_shards_and_a_worker_sigkilled(repo: Path, ray: Any, target: float, seed: int = 0) -> dict[str, Any]:
    """The tuned APEX (tuned_examples/cartpole-apex.yaml: 2 Ray workers, 2 replay shards) trained until
    ``episode_reward_mean >= target``. Once the learner trains, a thread SIGKILLs, while ``train()`` runs,
    replay shard 0's process, then worker 1's, then both shards' at once (every replayed row lost, the
    learner starved until they refill). Returns the last result, with ``"killed"`` (what, pids) in order
    and ``"pids"``: (first pid, last pid) per actor."""
    import signal
    import threading
    import time

    import yaml
    from ray.exceptions import RayActorError

    import rlcore

    (exp,) = yaml.safe_load((repo / "tuned_examples/cartpole-apex.yaml").read_text()).values()
    config = {**exp["config"], "seed": seed, "num_workers": 2, "num_replay_buffer_shards": 2}
    max_steps = exp["stop"]["timesteps_total"]
    trainer = rlcore.get_algorithm_class("APEX")(config, env=exp["env"])

    def actor(name: str) -> Any:
        return trainer.workers.remote_evaluators[0] if name == "worker 1" else trainer.optimizer.shards[int(name[-1])]

    def pid(name: str) -> int:
        """The pid of the actor now in that place (a just-killed one is replaced within seconds)."""
        deadline = time.monotonic() + 60
        while True:
            a = actor(name)  # a shard has pid(); an evaluator runs a function
            ref = a.pid.remote() if name != "worker 1" else a.apply.remote(lambda ev: os.getpid())
            try:
                return int(ray.get(ref, timeout=60))
            except RayActorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    killed: list[tuple[str, tuple[int, ...]]] = []
    training = threading.Event()

    def kill_mid_training() -> None:
        training.wait(120)
        for names in (["shard 0"], ["worker 1"], ["shard 0", "shard 1"]):
            time.sleep(1.0)  # well inside train()
            pids = tuple(pid(name) for name in names)
            for p in pids:
                os.kill(p, signal.SIGKILL)
            killed.append((" and ".join(names), pids))

    try:
        r = trainer.train()
        while r["info"]["optimizer"]["num_steps_trained"] == 0:  # until the shards hold learning_starts
            r = trainer.train()
        first = {name: pid(name) for name in ("shard 0", "shard 1", "worker 1")}
        killer = threading.Thread(target=kill_mid_training, daemon=True)
        killer.start()
        start = time.monotonic()
        while True:
            done_before = len(killed) == 3  # every kill landed before this iteration began
            training.set()
            r = trainer.train()
            if r["timesteps_total"] >= max_steps or (done_before and r["episode_reward_mean"] >= target):
                break
        killer.join(60)
        wall = time.monotonic() - start
        r["pids"] = {name: (old, pid(name)) for name, old in first.items()}
        r["killed"] = list(killed)
    finally:
        trainer.stop()
    opt = r["info"]["optimizer"]
    print(
        f"APEX with {[name for name, _ in killed]} SIGKILLed (target {target}): {r['episode_reward_mean']:.1f} "
        f"after {r['timesteps_total']} steps, {r['time_total_s']:.1f} s training ({wall:.1f} s from the first "
        f"kill); worker failures {r['info']['num_worker_failures']}, shard failures {opt['num_shard_failures']}, "
        f"transitions lost {opt['num_transitions_lost']}, replays dropped {opt['num_replays_dropped']}, "
        f"priority updates dropped {opt['num_priority_updates_dropped']}"
    )
    return r


def check_apex_fault_run(r: dict[str, Any], target: float) -> None:
    """The run reached ``target`` and counted every death and the lost transitions."""
    opt = r["info"]["optimizer"]
    assert [name for name, _ in r["killed"]] == ["shard 0", "worker 1", "shard 0 and shard 1"], r["killed"]
    assert r["episode_reward_mean"] >= target, f"after {r['timesteps_total']} steps: {r['episode_reward_mean']:.1f}"
    assert opt["num_shard_failures"] == 3, opt
    assert opt["num_transitions_lost"] > 0, opt
    assert r["info"]["num_worker_failures"] == 1, r["info"]
    for name, (old, new) in r["pids"].items():
        assert new != old, f"{name} was not recreated (pid {old})"


#: The reliability tier's target for the APEX fault run (the learning tier runs it to 475).
APEX_FAULT_TARGET = 100


def test_apex_reaches_its_target_when_replay_shards_and_a_worker_are_sigkilled(repo: Path, ray_session) -> None:
    """APEX (2 workers, 2 replay shards): SIGKILL shard 0's process, then worker 1's, then both shards',
    mid-training; each is recreated (a shard empty: its rows counted as lost), and training reaches its
    target anyway."""
    r = apex_with_shards_and_a_worker_sigkilled(repo, ray_session, APEX_FAULT_TARGET)
    check_apex_fault_run(r, APEX_FAULT_TARGET)
