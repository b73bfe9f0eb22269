"""RLlib 2018's Tune experiment keys (``repeat``, ``trial_resources``...), trials that fit the
machine (the local Ray oversubscribed for the largest trial, one line), and stop criteria (the
env's reward threshold by default, ``time_total_s``)."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rlcore import plugins
from rlcore.config_aliases import RLlib2018Warning
from rlcore.config_schema import COMMON_SCHEMA, ConfigValueError, check_host
from rlcore.errors import ConfigError
from rlcore.experiments import TUNE_2018_UNSUPPORTED, load_experiments
from rlcore.ray_init import machine_cpus
from rlcore.registration import register_algorithm
from rlcore.run import default_stop, fill_default_stops
from rlcore.trainer import COMMON_CONFIG, Trainer
from rlcore.tune import _check_nodes, _fit_local_ray, _largest_trials, describe_bundles, trial_bundles

REPO = Path(__file__).resolve().parents[2]
RLCORE = str(Path(sys.executable).with_name("rlcore"))


class FakeTrainer(Trainer):
    """Only its name and default_config matter here (never built)."""

    name = "FAKE2018"
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "lr": 0.001}


@pytest.fixture
def fake_algo(rlcore_registry: plugins.PluginRegistry) -> str:
    register_algorithm("FAKE2018", FakeTrainer)
    return "FAKE2018"


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    """``write(text)``: ``text`` (dedented) in ``exp.yaml``, whose path it returns."""
    return functools.partial(_write_yaml, tmp_path / "exp.yaml")


def _write_yaml(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def experiment(extra: str, config: str = "num_workers: 2") -> str:
    """An experiment of the fake algorithm with ``extra`` experiment keys (indented 2) and ``config``."""
    body = textwrap.indent(textwrap.dedent(extra).strip("\n"), "  ") if extra else ""
    conf = textwrap.indent(textwrap.dedent(config).strip("\n"), "    ")
    return f"exp:\n  run: FAKE2018\n  env: CartPole-v0\n{body}\n  config:\n{conf}\n"


# -- 2018 keys with today's meaning -------------------------------------------------------


def test_repeat_is_num_samples_with_one_warning(fake_algo, write):
    path = write(experiment("repeat: 3"))
    with pytest.warns(RLlib2018Warning) as caught:
        (spec,) = load_experiments(path).values()
    assert spec.num_samples == 3 and spec.num_trials == 3
    assert len(caught) == 1
    assert str(caught[0].message) == (
        f"{path}:4: experiment 'exp': RLlib 2018 experiment key 'repeat' is now 'num_samples' (translated)"
    )


def test_trial_resources_is_resources_per_trial(fake_algo, write):
    path = write(experiment("trial_resources: {cpu: 1, extra_cpu: 2}"))
    with pytest.warns(RLlib2018Warning, match="key 'trial_resources' is now 'resources_per_trial'"):
        (spec,) = load_experiments(path).values()
    assert spec.resources == {"cpu": 1.0, "extra_cpu": 2.0}
    assert spec.resources_key == "trial_resources"


def test_todays_keys_give_no_warning(fake_algo, write):
    path = write(experiment("num_samples: 2\nresources_per_trial: {cpu: 3, gpu: 0}"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (spec,) = load_experiments(path).values()
    assert (spec.num_samples, spec.resources, spec.resources_key) == (
        2,
        {"cpu": 3.0, "gpu": 0.0},
        "resources_per_trial",
    )


def test_both_names_with_the_same_value_are_one_key(fake_algo, write):
    with pytest.warns(RLlib2018Warning):
        (spec,) = load_experiments(write(experiment("repeat: 2\nnum_samples: 2"))).values()
    assert spec.num_samples == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("repeat: 2\nnum_samples: 3", r"exp.yaml:4: experiment 'exp': 'repeat' \(RLlib 2018's name of 'num_samples'\) "
         r"is 2 but 'num_samples' is 3; give one of them"),
        ("trial_resources: {cpu: 3}\nresources_per_trial: {cpu: 4}",
         r"exp.yaml:4: .*'trial_resources' \(RLlib 2018's name of 'resources_per_trial'\) is \{'cpu': 3\} but "
         r"'resources_per_trial' is \{'cpu': 4\}; give one of them"),
    ],
)  # fmt: skip
def test_both_names_with_different_values_are_refused(fake_algo, write, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_experiments(write(experiment(extra)))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("repeat: two", "exp.yaml:4: experiment 'exp': repeat (RLlib 2018's name of num_samples) needs an integer "
         ">= 1, got 'two'"),
        ("repeat: 0", "repeat (RLlib 2018's name of num_samples) needs an integer >= 1, got 0"),
        ("repeat: true", "repeat (RLlib 2018's name of num_samples) needs an integer >= 1, got True"),
        ("num_samples: 1.5", "experiment 'exp': num_samples needs an integer >= 1, got 1.5"),
    ],
)  # fmt: skip
def test_a_2018_key_of_the_wrong_type_is_named_with_both_names(fake_algo, write, extra, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_experiments(write(experiment(extra)))


@pytest.mark.parametrize("key", sorted(TUNE_2018_UNSUPPORTED))
def test_2018_keys_without_a_feature_here_are_refused(fake_algo, write, key):
    path = write(experiment(f"{key}: something"))
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4: experiment 'exp': {key!r} (an RLlib 2018 Tune key: ")
    assert message.endswith("has no counterpart in rlcore; remove it") and "\n" not in message


def test_upload_dir_says_what_to_do(fake_algo, write):
    with pytest.raises(ConfigError, match=r"'upload_dir' .*rlcore writes them under local_dir only; copy that folder"):
        load_experiments(write(experiment("upload_dir: s3://bucket/results")))


# -- trial_resources / resources_per_trial: bad input -------------------------------------------


@pytest.mark.parametrize("key", ["trial_resources", "resources_per_trial"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{cpu: 1, extra_cpus: 2}", r":4: experiment 'exp': {key}: unknown field 'extra_cpus'. Did you mean "
         r"'extra_cpu'\? Allowed fields: cpu, gpu, extra_cpu, extra_gpu."),
        ("{cpu: 1, memory: 100}", r":4: experiment 'exp': {key}: unknown field 'memory'. Allowed fields: cpu, gpu, "
         r"extra_cpu, extra_gpu."),
        ("{driver_cpu_limit: 1}", r":4: .*field 'driver_cpu_limit' was dropped by Tune in 2018; give extra_cpu / "
         r"extra_gpu instead"),
        ("{cpu: two}", r":4: .*{key}: cpu needs a number >= 0 \(CPUs or GPUs\), got 'two'"),
        ("{cpu: true}", r"{key}: cpu needs a number >= 0 \(CPUs or GPUs\), got True"),
        ("{cpu: 1, extra_cpu: -2}", r"{key}: extra_cpu needs a number >= 0 \(CPUs or GPUs\), got -2"),
        ("{gpu: .nan}", r"{key}: gpu needs a number >= 0 \(CPUs or GPUs\), got nan"),
        ("{cpu: [1, 2]}", r"{key}: cpu needs a number >= 0 \(CPUs or GPUs\), got \[1, 2\]"),
        ("4", r":4: experiment 'exp': {key} needs a mapping such as \{{cpu: 1, extra_cpu: 2\}}, got 4"),
    ],
)  # fmt: skip
def test_bad_resources_are_refused_with_their_line(fake_algo, write, key, value, message):
    path = write(experiment(f"{key}: {value}", config="num_workers: 0"))
    named = re.escape("trial_resources (RLlib 2018's name of resources_per_trial)") if key == "trial_resources" else key
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        with pytest.raises(ConfigError, match=message.format(key=named)) as info:
            load_experiments(path)
    assert "\n" not in str(info.value)


def test_unknown_field_is_located_on_its_own_line(fake_algo, write):
    path = write(experiment("trial_resources:\n  cpu: 1\n  extra_cpus: 2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        with pytest.raises(
            ConfigError,
            match=rf"^{path}:6: experiment 'exp': trial_resources \(RLlib 2018's name of resources_per_trial\): "
            "unknown field",
        ):
            load_experiments(path)


def test_resources_smaller_than_the_config_asks_are_refused(fake_algo, write):
    path = write(experiment("trial_resources: {cpu: 1, extra_cpu: 1}", config="num_workers: 2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        with pytest.raises(ConfigError) as info:
            load_experiments(path)
    assert str(info.value) == (
        f"{path}:4: experiment 'exp': trial_resources (RLlib 2018's name of resources_per_trial) gives a trial "
        "2 CPUs (cpu 1 + extra_cpu 1) but its config asks for 3 (num_cpus_for_driver 1 + num_workers 2 x "
        "num_cpus_per_worker 1); raise cpu + extra_cpu to 3 or lower num_workers"
    )


def test_resources_are_checked_at_every_grid_point(fake_algo, write):
    path = write(experiment("resources_per_trial: {cpu: 3}", config="num_workers: {grid_search: [1, 2, 3]}"))
    with pytest.raises(ConfigError, match=r"grid point 3 of 3: resources_per_trial gives a trial 3 CPUs .* asks for 4"):
        load_experiments(path)


def test_resources_short_of_gpus_are_refused(fake_algo, write):
    path = write(experiment("resources_per_trial: {cpu: 2}", config="num_workers: 1\nnum_gpus_per_worker: 1"))
    with pytest.raises(ConfigError, match=r"gives a trial 0 GPUs \(gpu 0 \+ extra_gpu 0\) but its config asks for 1 "
                       r"\(num_gpus 0 \+ num_workers 1 x num_gpus_per_worker 1\)"):  # fmt: skip
        load_experiments(path)


# -- what a trial reserves ----------------------------------------------------------------


def test_2018_resource_keys_are_common_config_keys():
    assert COMMON_SCHEMA.defaults()["num_cpus_for_driver"] == 1
    assert COMMON_SCHEMA.defaults()["num_gpus_per_worker"] == 0
    with pytest.raises(ConfigValueError, match="num_gpus_per_worker"):
        COMMON_SCHEMA.validate({"num_gpus_per_worker": -1})


def test_bundles_from_the_config(fake_algo):
    assert trial_bundles(fake_algo, {"num_workers": 2}) == [{"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 1.0}]
    config = {"num_workers": 2, "num_cpus_for_driver": 2, "num_cpus_per_worker": 0.5, "num_gpus_per_worker": 0.25}
    assert trial_bundles(fake_algo, config) == [{"CPU": 2.0}] + [{"CPU": 0.5, "GPU": 0.25}] * 2
    assert trial_bundles(fake_algo, {"num_workers": 0}) == [{"CPU": 1.0}]
    # Tune refuses a trial of empty bundles: one that asks for nothing reserves a sliver of a CPU
    assert trial_bundles(fake_algo, {"num_workers": 0, "num_cpus_for_driver": 0}) == [{"CPU": 0.01}]
    assert trial_bundles(fake_algo, {"num_workers": 1, "num_cpus_for_driver": 0}) == [{}, {"CPU": 1.0}]
    assert trial_bundles(fake_algo, {"num_workers": 0, "num_cpus_for_driver": 0}, {"cpu": 0}) == [{"CPU": 0.01}]


def test_bundles_from_resources_give_the_trainer_what_the_workers_leave(fake_algo):
    # 2018's fields: the trainer's cpu/gpu plus the extra ones for its workers
    resources = {"cpu": 1, "gpu": 0, "extra_cpu": 3, "extra_gpu": 0}
    assert trial_bundles(fake_algo, {"num_workers": 2}, resources) == [{"CPU": 2.0}, {"CPU": 1.0}, {"CPU": 1.0}]
    # today's form: the trial's total
    assert trial_bundles(fake_algo, {"num_workers": 2}, {"cpu": 3}) == [{"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 1.0}]
    assert trial_bundles(fake_algo, {"num_workers": 1}, {"cpu": 2, "gpu": 1}) == [
        {"CPU": 1.0, "GPU": 1.0},
        {"CPU": 1.0},
    ]


def test_describe_bundles():
    assert describe_bundles([{"CPU": 1.0}, {"CPU": 1.0}, {"CPU": 1.0}]) == "3 CPUs (1 driver + 2 workers)"
    assert describe_bundles([{"CPU": 1.0}, {"CPU": 0.5}]) == "1.5 CPUs (1 driver + 1 worker x 0.5)"
    assert describe_bundles([{"CPU": 1.0}]) == "1 CPU (1 driver)"


def test_workers_asking_for_gpus_this_machine_lacks_are_refused(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    pytest.importorskip("ray")
    with pytest.raises(ConfigValueError, match=r"'num_workers' 2 x 'num_gpus_per_worker' 1 ask for more GPUs than this "
                       r"machine has \(0 visible"):  # fmt: skip
        check_host({"num_workers": 2, "num_gpus_per_worker": 1, "ray_address": None}, owner="PPO")
    check_host({"num_workers": 2, "num_gpus_per_worker": 1, "ray_address": "10.0.0.1:6379"})  # the cluster's GPUs


# -- trials that fit the machine (no Ray started here) ----------------------------------------------


def test_machine_cpus_honours_the_affinity_mask():
    pytest.importorskip("ray")
    assert 1 <= machine_cpus() <= len(os.sched_getaffinity(0))


def seed_file(tmp_path: Path) -> Path:
    """The seed's grid-search example (sgd_batchsize under today's name, so it loads without the aliases)."""
    text = (REPO / "tuned_examples" / "cartpole-grid-search-example.yaml").read_text()
    path = tmp_path / "seed.yaml"
    path.write_text(text.replace("sgd_batchsize:", "sgd_minibatch_size:"))
    return path


@pytest.fixture
def ppo() -> str:
    from rlcore.plugins import get_registry

    if "PPO" not in get_registry().load().names("algorithm"):
        pytest.skip("rl_algos is not installed")
    return "PPO"


def test_the_largest_trial_of_the_seed_file_oversubscribes_this_machine(ppo, tmp_path, capsys):
    pytest.importorskip("ray")
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


def test_a_trial_asking_for_gpus_the_machine_lacks_is_refused_before_ray_starts(fake_algo, write, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    specs = load_experiments(write(experiment("", config="num_workers: 1\nnum_gpus_per_worker: 1")))
    with pytest.raises(ConfigError) as info:
        _fit_local_ray(_largest_trials(specs), None)
    assert str(info.value).startswith(
        "experiment 'exp': a trial asks for 1 GPUs (num_gpus + num_workers x num_gpus_per_worker) but this machine "
        "has 0 ("
    )
    assert "GPUs cannot be shared like CPUs" in str(info.value)


def test_an_explicit_num_cpus_too_small_is_refused(fake_algo, write):
    specs = load_experiments(write(experiment("", config="num_workers: {grid_search: [1, 3]}")))
    with pytest.raises(ConfigError) as info:
        _fit_local_ray(_largest_trials(specs), 2)
    assert str(info.value) == (
        "experiment 'exp' (grid point 2 of 2): a trial asks for 4 CPUs (1 driver + 3 workers) but Ray is to start "
        "with num_cpus=2: raise num_cpus to 4 or lower num_workers"
    )


def test_a_bundle_larger_than_every_node_is_refused(fake_algo, write):
    """A cluster of two 4-CPU nodes has 8 CPUs, but a trainer bundle of 6 fits on none of them."""
    path = write(experiment("resources_per_trial: {cpu: 1, extra_cpu: 7}", config="num_workers: 2"))
    largest = _largest_trials(load_experiments(path))
    assert largest["CPU bundle"].bundles == [{"CPU": 6.0}, {"CPU": 1.0}, {"CPU": 1.0}]
    with pytest.raises(ConfigError) as info:
        _check_nodes(largest, [{"CPU": 4.0}, {"CPU": 4.0, "GPU": 1.0}], "the Ray cluster at head:6379")
    assert str(info.value).startswith(
        "experiment 'exp': one bundle of a trial (its trainer, or one worker) asks for 6 CPUs but the largest node "
        "of the Ray cluster at head:6379 has 4, so it would wait forever; "
    )
    _check_nodes(largest, [{"CPU": 2.0}, {"CPU": 6.0}], "the Ray cluster at head:6379")  # fits the second node


# -- stop criteria ----------------------------------------------------------------------------


def _threshold_ids() -> list[tuple[str, float]]:
    import gymnasium

    return [(k, float(s.reward_threshold)) for k, s in gymnasium.registry.items() if s.reward_threshold is not None]


@pytest.mark.parametrize(("env", "threshold"), _threshold_ids())
def test_default_stop_is_the_envs_reward_threshold(env, threshold):
    assert default_stop(env) == {"timesteps_total": 1_000_000, "episode_reward_mean": threshold}


def test_default_stop_of_the_2018_envs():
    assert default_stop("CartPole-v0")["episode_reward_mean"] == 195
    assert default_stop("CartPole-v1")["episode_reward_mean"] == 475
    assert default_stop("MountainCar-v0")["episode_reward_mean"] == -110
    assert default_stop("Acrobot-v1")["episode_reward_mean"] == -100
    assert default_stop("Pendulum-v1") == {"timesteps_total": 1_000_000}  # no threshold
    assert default_stop("no-such-env") == {"timesteps_total": 1_000_000}


def test_an_experiment_without_stop_gets_the_envs_threshold(fake_algo, write):
    path = write(
        "a:\n  run: FAKE2018\n  env: CartPole-v0\n"
        "b:\n  run: FAKE2018\n  env: CartPole-v0\n  stop: {training_iteration: 3}\n"
    )
    specs = load_experiments(path)
    fill_default_stops(specs)
    assert specs["a"].stop == {"timesteps_total": 1_000_000, "episode_reward_mean": 195.0}
    assert specs["b"].stop == {"training_iteration": 3.0}


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


# -- with Ray ----------------------------------------------------------------------------


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
    path = write(experiment("stop: {training_iteration: 1}", config=f"num_workers: {int(cpus) + 1}").replace(
        "FAKE2018", "PPO"))  # fmt: skip
    with pytest.raises(ConfigError) as info:
        run_experiments(load_experiments(path), local_dir=tmp_path, quiet=True)
    assert str(info.value) == (
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
    assert "RLlib2018Warning: " in done.stderr and "key 'repeat' is now 'num_samples' (translated)" in done.stderr


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
    pytest.importorskip("ray")
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
