"""RLlib 2018's Tune experiment keys (``repeat``, ``trial_resources``...), trials that fit the
machine (the local Ray oversubscribed for the largest trial, one line), and stop criteria (the
env's reward threshold by default, ``time_total_s``)."""

from __future__ import annotations

import functools
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rlcore import plugins
from rlcore.config_aliases import RLlib2018Warning
from rlcore.config_schema import COMMON_SCHEMA, ConfigValueError
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
        f"RLlib 2018 experiment key 'repeat' is now 'num_samples' (translated; {path}:4, experiment 'exp')"
    )
    # the README's filter silences it (Python matches a filter's message from the message's start)
    with warnings.catch_warnings(record=True) as quiet:
        warnings.resetwarnings()
        warnings.filterwarnings("ignore", "RLlib 2018")
        load_experiments(write(experiment("repeat: 2")))
    assert not [w for w in quiet if issubclass(w.category, RLlib2018Warning)]


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


# -- trials that fit the machine (no Ray started here) ----------------------------------------------


def test_machine_cpus_honours_the_affinity_mask():
    assert 1 <= machine_cpus() <= len(os.sched_getaffinity(0))


def test_a_trial_asking_for_gpus_the_machine_lacks_is_refused_before_ray_starts(fake_algo, write, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    specs = load_experiments(write(experiment("", config="num_workers: 1\nnum_gpus_per_worker: 1")))
    with pytest.raises(ConfigError) as info:
        _fit_local_ray(_largest_trials(specs), None)
    path = specs["exp"].source
    assert str(info.value).startswith(
        f"{path}:1: experiment 'exp': a trial asks for 1 GPU (num_gpus + num_workers x num_gpus_per_worker) but this "
        "machine has 0 ("
    )
    assert "GPUs cannot be shared like CPUs: lower num_gpus/num_gpus_per_worker" in str(info.value)


@pytest.mark.parametrize("key", ["trial_resources", "resources_per_trial"])
def test_gpus_asked_for_by_the_trials_resources_are_blamed_on_them(fake_algo, write, monkeypatch, key):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    specs = load_experiments(write(experiment(f"{key}: {{cpu: 1, gpu: 2}}", config="num_workers: 0")))
    with pytest.raises(ConfigError) as info:
        _fit_local_ray(_largest_trials(specs), None)
    message = str(info.value)
    assert message.startswith(
        f"{specs['exp'].source}:1: experiment 'exp': a trial asks for 2 GPUs ({key} gpu + extra_gpu) but this "
        "machine has 0 ("
    ), message
    assert f"lower {key}'s gpu/extra_gpu, or join a cluster" in message


def test_an_explicit_num_cpus_too_small_is_refused(fake_algo, write):
    specs = load_experiments(write(experiment("", config="num_workers: {grid_search: [1, 3]}")))
    with pytest.raises(ConfigError) as info:
        _fit_local_ray(_largest_trials(specs), 2)
    assert str(info.value) == (
        f"{specs['exp'].source}:1: "
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
        f"{path}:1: "
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


# -- with Ray ----------------------------------------------------------------------------
