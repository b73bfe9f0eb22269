"""Trials that fit the machine and stops, with the real algorithms and Ray: the parts of issue 12's
Tune work that need PPO (rl_algos) or Ray installed, so they live beside the full session's tests
(the core session has neither; core/tests/test_tune_2018.py has the rest)."""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from rlcore.config_schema import ConfigValueError, check_host
from rlcore.errors import ConfigError
from rlcore.experiments import load_experiments
from rlcore.ray_init import machine_cpus
from rlcore.tune import _fit_local_ray, _largest_trials

REPO = Path(__file__).resolve().parents[1]
RLCORE = str(Path(sys.executable).with_name("rlcore"))


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    """``write(text)``: ``text`` (dedented) in ``exp.yaml``, whose path it returns."""
    return functools.partial(_write_yaml, tmp_path / "exp.yaml")


def _write_yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


GPU_CHECK = """
import os, sys
from rlcore.config_schema import ConfigValueError, check_host
try:
    check_host({"num_workers": 2, "num_gpus_per_worker": 1, "ray_address": sys.argv[1] or None}, owner="PPO")
except ConfigValueError as exc:
    print(exc)
else:
    print("accepted")
"""


@pytest.mark.parametrize(
    ("address", "env", "expected"),
    [
        ("", {}, "PPO config keys 'num_workers' 2 x 'num_gpus_per_worker' 1 ask for more GPUs than they can get (this "
             "machine has 0 visible: "),
        ("", {"RAY_ADDRESS": "10.0.0.1:6379"}, "accepted"),  # a cluster to join: its GPUs, Ray places the workers
        ("10.0.0.1:6379", {}, "accepted"),  # likewise with ray_address
    ],
    ids=["local", "ray-address-env", "ray-address-key"],
)  # fmt: skip
def test_workers_asking_for_gpus_this_machine_lacks_are_refused(address, env, expected):
    """Before Ray starts (a fresh process): this machine's GPUs, unless a cluster is to be joined."""
    base = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-c", GPU_CHECK, address], capture_output=True, text=True, timeout=120,
        env={**base, "CUDA_VISIBLE_DEVICES": "", **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(expected), done.stdout


@pytest.mark.ray
def test_workers_asking_for_gpus_the_initialized_ray_lacks_are_refused(ray_session):
    """With a Ray already started in this process, its GPUs count (the session's Ray has none)."""
    with pytest.raises(ConfigValueError) as info:
        check_host({"num_workers": 2, "num_gpus_per_worker": 0.5, "ray_address": None}, owner="PPO")
    assert str(info.value) == (
        "PPO config keys 'num_workers' 2 x 'num_gpus_per_worker' 0.5 ask for more GPUs than they can get (the Ray "
        "this process started or joined has 0); the workers would wait for them forever. Set num_gpus_per_worker "
        "to 0, or join a cluster with GPUs (ray_address)."
    )


def seed_file(tmp_path: Path) -> Path:
    """The seed's grid-search example (sgd_batchsize under today's name, so it loads without the aliases)."""
    text = (REPO / "tuned_examples" / "cartpole-grid-search-example.yaml").read_text()
    path = tmp_path / "seed.yaml"
    path.write_text(text.replace("sgd_batchsize:", "sgd_minibatch_size:"))
    return path


@pytest.fixture
def ppo() -> str:
    """PPO, from rl_algos (installed in every session that runs the root tests)."""
    from rlcore.plugins import get_registry

    assert "PPO" in get_registry().load().names("algorithm"), "rl_algos is not installed"
    return "PPO"


def test_the_largest_trial_of_the_seed_file_oversubscribes_this_machine(ppo, tmp_path, capsys):
    specs = load_experiments(seed_file(tmp_path))
    largest = _largest_trials(specs)
    assert largest["CPU"].amount("CPU") == 3
    have = machine_cpus()
    num_cpus = _fit_local_ray(largest, None)
    err = capsys.readouterr().err
    if have >= 3:
        assert (num_cpus, err) == (have, "")
    else:
        assert num_cpus == 3
        assert err == (
            f"rlcore: a trial asks for 3 CPUs (1 driver + 2 workers) and this machine has {have}: starting Ray with "
            "3 logical CPUs (oversubscribed); trials run one after another as they fit\n"
        )


def test_cli_train_without_stop_stops_at_the_threshold(ppo, tmp_path):
    """``rlcore train --env CartPole-v0 --run PPO`` announces the 195 stop; interrupted right after."""
    process = subprocess.Popen(
        [RLCORE, "train", "--env", "CartPole-v0", "--run", "PPO", "--local-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
    finally:
        process.kill()
    assert "on CartPole-v0; stop: {'timesteps_total': 1000000.0, 'episode_reward_mean': 195.0}; results:" in first
    assert process.returncode == 130  # interrupted, long before 195


TINY_PPO = {"num_envs_per_worker": 1, "rollout_fragment_length": 50, "train_batch_size": 50,
            "sgd_minibatch_size": 50, "num_sgd_iter": 1, "seed": 0}  # fmt: skip


def test_time_total_s_stops_an_embedded_run_once_reached(ppo, tmp_path):
    from rlcore.run import run_trial

    outcome = run_trial("PPO", "CartPole-v0", TINY_PPO, {"time_total_s": 0.3}, local_dir=tmp_path)
    rows = [json.loads(line) for line in (outcome.logdir / "result.json").read_text().splitlines()]
    assert rows[-1]["time_total_s"] >= 0.3
    assert all(row["time_total_s"] < 0.3 for row in rows[:-1])  # it ran until, not past, the time
    assert math.isclose(sum(row["time_this_iter_s"] for row in rows), rows[-1]["time_total_s"], rel_tol=1e-6)


@pytest.mark.ray
def test_time_total_s_stops_a_tune_trial_once_reached(ray_session, ppo, tmp_path):
    from rlcore.experiments import ExperimentSpec
    from rlcore.tune import run_experiments

    spec = ExperimentSpec(name="timed", run="PPO", env="CartPole-v0", config={**TINY_PPO, "env": "CartPole-v0"},
                          stop={"time_total_s": 0.3})  # fmt: skip
    (trial,) = run_experiments({"timed": spec}, local_dir=tmp_path, quiet=True)
    assert trial.status == "TERMINATED"
    rows = [json.loads(line) for line in (Path(trial.path) / "result.json").read_text().splitlines()]
    assert rows[-1]["time_total_s"] >= 0.3 and all(row["time_total_s"] < 0.3 for row in rows[:-1])


@pytest.mark.ray
def test_a_trial_bigger_than_the_initialized_ray_is_refused_before_it_starts(ray_session, ppo, write, tmp_path):
    from rlcore.tune import run_experiments

    cpus = ray_session.cluster_resources()["CPU"]
    path = write(f"""
        exp:
          run: PPO
          env: CartPole-v0
          stop: {{training_iteration: 1}}
          config:
            num_workers: {int(cpus) + 1}
        """)
    with pytest.raises(ConfigError) as info:
        run_experiments(load_experiments(path), local_dir=tmp_path, quiet=True)
    assert str(info.value) == (
        f"{path}:1: "
        f"experiment 'exp': a trial asks for {cpus + 2:g} CPUs (1 driver + {int(cpus) + 1} workers) but the Ray this "
        f"process already started (ray.init) has {cpus:g} CPUs, so it would wait forever; lower num_workers, "
        "num_cpus_per_worker or num_gpus, or use a larger cluster"
    )
    assert not (tmp_path / "exp").exists()  # no trial started


@pytest.mark.ray
def test_cli_oversubscribes_the_local_ray_and_runs_every_trial(ppo, tmp_path):
    """A 2-trial grid of trials asking for 1 + 2 CPUs: rlcore starts its own Ray (a subprocess, away
    from the session's Ray) with enough logical CPUs, says so in one line, and both trials end."""
    path = tmp_path / "grid.yaml"
    path.write_text(textwrap.dedent("""
        grid2:
          env: CartPole-v0
          run: PPO
          stop: {training_iteration: 1}
          repeat: 1
          config:
            num_workers: 2
            rollout_fragment_length: 50
            train_batch_size: 100
            sgd_minibatch_size: 50
            num_sgd_iter: {grid_search: [1, 2]}
    """))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [RLCORE, "train", "-f", str(path), "--local-dir", str(tmp_path / "results"), "--json"],
        capture_output=True, text=True, timeout=540, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    trials = json.loads(done.stdout)
    assert [t["status"] for t in trials] == ["TERMINATED", "TERMINATED"]
    lines = [line for line in done.stderr.splitlines() if "oversubscribed" in line]
    have = machine_cpus()
    if have < 3:
        assert lines == [
            f"rlcore: a trial asks for 3 CPUs (1 driver + 2 workers) and this machine has {have}: starting Ray with "
            "3 logical CPUs (oversubscribed); trials run one after another as they fit"
        ]
    else:
        assert lines == []
    assert "RLlib2018Warning: RLlib 2018 experiment key 'repeat' is now 'num_samples' (translated; " in done.stderr


@pytest.mark.ray
def test_embedded_workers_bigger_than_the_initialized_ray_are_refused(ray_session, ppo):
    from rlcore.registration import get_algorithm_class

    cpus = int(ray_session.cluster_resources()["CPU"])
    with pytest.raises(ConfigError) as info:
        get_algorithm_class("PPO")({**TINY_PPO, "num_workers": cpus + 1}, env="CartPole-v0")
    assert str(info.value) == (
        f"{cpus + 1} remote workers ask for {cpus + 1} CPUs (num_workers {cpus + 1} x num_cpus_per_worker 1) but "
        f"the Ray this process already started (ray.init) has {cpus}, so they would wait forever; lower num_workers "
        "or num_cpus_per_worker, or use a larger cluster"
    )


@pytest.mark.ray
def test_cli_embedded_workers_oversubscribe_the_local_ray(ppo, tmp_path):
    """``rlcore train --num-workers 3`` on a machine of fewer cores: Ray gets 3 logical CPUs (it
    waited forever on the third worker before), said in one line."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    args = ["--env", "CartPole-v0", "--run", "PPO", "--num-workers", "3", "--local-dir", str(tmp_path), "--quiet"]
    done = subprocess.run(
        [RLCORE, "train", *args, "--stop", '{"training_iteration": 1}', "--config", json.dumps(TINY_PPO)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done: 1 iterations" in done.stdout
    lines = [line for line in done.stderr.splitlines() if "oversubscribed" in line]
    have = machine_cpus()
    expected = [
        f"rlcore: 3 remote workers ask for 3 CPUs (num_workers 3 x num_cpus_per_worker 1) and this machine has {have}: "
        "starting Ray with 3 logical CPUs (oversubscribed)"
    ]
    assert lines == (expected if have < 3 else [])


def test_ray_address_in_the_environment_is_joined_not_sized(ppo, tmp_path):
    """``$RAY_ADDRESS`` names a cluster to join (as ray.init reads it): rlcore does not start a local
    Ray sized for the trials there, it joins, and says when nothing answers."""
    path = seed_file(tmp_path)
    done = subprocess.run(
        [RLCORE, "train", "-f", str(path), "--local-dir", str(tmp_path / "results")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "RAY_ADDRESS": "127.0.0.1:9"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "nothing answers at the Ray address '127.0.0.1:9'" in done.stderr
    assert "oversubscribed" not in done.stderr


@pytest.mark.ray
def test_time_total_s_of_a_restored_tune_trial_goes_on_from_the_checkpoint(ray_session, ppo, tmp_path):
    """A trial restoring a checkpoint counts its training time on from the checkpoint's, as the
    embedded run (and RLlib) does: a stop below the restored time ends it after one iteration."""
    from rlcore.experiments import ExperimentSpec
    from rlcore.registration import get_algorithm_class
    from rlcore.tune import run_experiments

    trainer = get_algorithm_class("PPO")(dict(TINY_PPO), env="CartPole-v0")
    for _ in range(3):
        trainer.train()
    restored_time = trainer.time_total_s
    checkpoint = trainer.save(str(tmp_path / "ckpt"))
    trainer.stop()
    spec = ExperimentSpec(name="resumed", run="PPO", env="CartPole-v0", config={**TINY_PPO, "env": "CartPole-v0"},
                          stop={"time_total_s": restored_time}, restore=str(checkpoint))  # fmt: skip
    (trial,) = run_experiments({"resumed": spec}, local_dir=tmp_path, quiet=True)
    assert trial.status == "TERMINATED"
    assert trial.last_result["training_iteration"] == 4
    assert trial.last_result["time_total_s"] > restored_time


@pytest.mark.ray
def test_an_env_registered_in_the_driver_is_known_in_tune_trials(ray_session, ppo, write, tmp_path):
    """RLlib 2018's workflow: ``register_env`` in the script, then ``run_experiments``: the trial
    (a Ray actor, another process) gets the driver's registrations before its trainer is built."""
    import gymnasium

    import rlcore
    from rlcore.tune import run_experiments

    rlcore.register_env("DriverCartPole-v0", lambda cfg: gymnasium.make("CartPole-v1"), override=True)
    path = write("""
        driver-env:
          env: DriverCartPole-v0
          run: PPO
          stop: {training_iteration: 1}
          config: {train_batch_size: 64, sgd_minibatch_size: 32, num_sgd_iter: 1, rollout_fragment_length: 64}
        """)  # fmt: skip
    (trial,) = run_experiments(load_experiments(path), local_dir=tmp_path, quiet=True)
    assert trial.status == "TERMINATED", trial.error
    assert trial.last_result["timesteps_total"] == 64
