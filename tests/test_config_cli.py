"""Bad config values through the command line: `rlcore train --config/--num-workers` and `-f` files
(grid points, the model mapping, RLlib-style YAML) exit 2 with one line on stderr naming the key and
the value, before any env, results folder or Ray starts; missing Ray says how to install it;
`--ray-address` without workers warns. Each case runs the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.reliability

MAIN = "import sys; from rlcore.cli import main; sys.exit(main(sys.argv[1:]))"
#: Prepended to MAIN: what the process meets when Ray is not installed.
NO_RAY = "import sys; sys.modules['ray'] = None; "
RAY_TRACES = ("Started a local Ray", "ray.init", "Ray runtime started", "raylet")


def rlcore(args: list[str], tmp_path: Path, prelude: str = "", env_extra: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLCORE_")}
    env["RLCORE_RESULTS_DIR"] = str(tmp_path / "results")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", prelude + MAIN, *args], capture_output=True, text=True, env=env, timeout=300
    )


def assert_refused_before_anything_started(proc: subprocess.CompletedProcess[str], tmp_path: Path, *words: str) -> str:
    """Exit 2, one line on stderr (no traceback) holding ``words``, and nothing started: no Ray, no results."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rlcore: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not any(trace in proc.stdout + proc.stderr for trace in RAY_TRACES), proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists(), "a results folder was made before the config was checked"
    return lines[0]


TRAIN = ["train", "--env", "CartPole-v1", "--stop", '{"training_iteration": 1}']


@pytest.mark.parametrize(
    ("run", "config", "words"),
    [
        ("PPO", {"lr": "0.001"}, ["PPO config key 'lr' is not a number: got '0.001'", "allowed: a number, lr > 0"]),
        ("PPO", {"num_workers": -1}, ["'num_workers' is out of range: got -1", "num_workers >= 0"]),
        ("PPO", {"num_workers": 1.5}, ["'num_workers' is not an int: got 1.5"]),
        ("PPO", {"gamma": 2.0}, ["'gamma' is out of range: got 2.0; allowed: a number, 0 <= gamma <= 1"]),
        ("PPO", {"gamma": -0.5}, ["'gamma' is out of range: got -0.5"]),
        ("PPO", {"lambda": -1}, ["'lambda' is out of range: got -1", "0 <= lambda <= 1"]),
        ("PPO", {"kl_coeff": -1}, ["'kl_coeff' is out of range: got -1", "kl_coeff >= 0"]),
        ("PPO", {"num_sgd_iter": 0}, ["'num_sgd_iter' is out of range: got 0", "num_sgd_iter >= 1"]),
        ("PPO", {"train_batch_size": 12.5}, ["'train_batch_size' is not an int: got 12.5"]),
        ("PPO", {"train_batch_size": 0}, ["'train_batch_size' is out of range: got 0"]),
        ("PPO", {"sgd_minibatch_size": 8000}, ["sgd_minibatch_size (8000) exceeds train_batch_size (4000)"]),
        ("PPO", {"num_envs_per_worker": 0}, ["'num_envs_per_worker' is out of range: got 0"]),
        ("PPO", {"num_envs_per_worker": "two"}, ["'num_envs_per_worker' is not an int: got 'two'"]),
        ("PPO", {"rollout_fragment_length": 0}, ["'rollout_fragment_length' is out of range: got 0"]),
        ("PPO", {"seed": "abc"}, ["'seed' is not an int: got 'abc'"]),
        ("PPO", {"seed": -1}, ["'seed' is out of range: got -1"]),
        ("PPO", {"lr_schedule": "abc"}, ["'lr_schedule' is not a list: got 'abc'"]),
        ("PPO", {"lr_schedule": [[0]]}, ["'lr_schedule' must be a list of [timestep, value] pairs", "got [[0]]"]),
        ("PPO", {"lr_schedule": [[0, 1e-3], [-10, 1e-4]]}, ["'lr_schedule' must have timesteps that are ints >= 0"]),
        ("PPO", {"entropy_coeff": "high"}, ["'entropy_coeff' is not a number: got 'high'"]),
        ("PPO", {"num_gpus": 1}, ["'num_gpus' asks for more GPUs than this machine has: got 1", "0 visible"]),
        ("PPO", {"clip_actions": "yes"}, ["'clip_actions' is not True or False: got 'yes'"]),
        ("PPO", {"model": {"fcnet_activation": "Relu"}}, ["'model.fcnet_activation' is not one of the choices"]),
        ("PPO", {"model": {"fcnet_hiddens": [64, 0]}}, ["'model.fcnet_hiddens' must hold positive ints"]),
        ("PPO", {"model": {"fcnet_hidden": [64]}}, ["'model.fcnet_hidden' is unknown. Did you mean 'fcnet_hiddens'?"]),
        ("DQN", {"n_step": 0}, ["DQN config key 'n_step' is out of range: got 0"]),
        ("DQN", {"exploration_final_eps": 1.5}, ["DQN config key 'exploration_final_eps' is out of range: got 1.5"]),
        ("DQN", {"hiddens": [0]}, ["DQN config key 'hiddens' must hold positive ints: got [0]"]),
    ],
)
def test_a_bad_config_value_exits_2_before_anything_starts(tmp_path, run, config, words):
    # CUDA_VISIBLE_DEVICES="": no GPU visible whatever the machine, so num_gpus 1 is refused everywhere
    proc = rlcore(
        [*TRAIN, "--run", run, "--config", json.dumps(config)], tmp_path, env_extra={"CUDA_VISIBLE_DEVICES": ""}
    )
    assert_refused_before_anything_started(proc, tmp_path, f"{run} config", *words)


def test_num_workers_flag_minus_one_is_refused(tmp_path):
    proc = rlcore([*TRAIN, "--run", "PPO", "--num-workers", "-1"], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, "PPO config key 'num_workers' is out of range: got -1")


def test_a_third_party_algorithm_gets_the_common_checks(tmp_path, example):
    proc = rlcore([*TRAIN, "--run", "PG", "--config", '{"gamma": 2.0}'], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, "PG config key 'gamma' is out of range: got 2.0")
    proc = rlcore([*TRAIN, "--run", "PG", "--config", '{"lr": "fast"}'], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, "PG config key 'lr' is not a number: got 'fast'")


def test_workers_without_ray_say_how_to_install_it(tmp_path):
    proc = rlcore([*TRAIN, "--run", "PPO", "--num-workers", "2"], tmp_path, prelude=NO_RAY)
    line = assert_refused_before_anything_started(proc, tmp_path, "'num_workers' is 2", "Ray, which is not installed")
    assert "pip install -c constraints.txt './core[ray]'" in line
    assert "ModuleNotFoundError" not in proc.stderr


def test_an_experiments_file_without_ray_says_how_to_install_it(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("exp:\n  env: CartPole-v1\n  run: PPO\n  stop: {training_iteration: 1}\n")
    proc = rlcore(["train", "-f", str(path)], tmp_path, prelude=NO_RAY)
    line = assert_refused_before_anything_started(proc, tmp_path, "rlcore train -f", "need Ray")
    assert "'./core[ray]'" in line


# -- experiment files ---------------------------------------------------------------------------

RLLIB_STYLE = """\
cartpole-ppo:
    env: CartPole-v1
    run: PPO
    stop:
        episode_reward_mean: 150
        timesteps_total: 100000
    config:
        gamma: 0.99
        lr: 0.0003
        num_workers: 1
        observation_filter: MeanStdFilter
        num_sgd_iter: 6
        vf_loss_coeff: 0.01
        model:
            fcnet_hiddens: [32]
            fcnet_activation: linear
            vf_share_layers: true
        {bad}
"""


@pytest.mark.parametrize(
    ("bad", "line", "words"),
    [
        ("kl_coeff: -1", 18, ["PPO config key 'kl_coeff' is out of range: got -1"]),
        ('num_envs_per_worker: "two"', 18, ["PPO config key 'num_envs_per_worker' is not an int: got 'two'"]),
        ("train_batch_size: 0", 18, ["PPO config key 'train_batch_size' is out of range: got 0"]),
        ("lr_schedule: [[0]]", 18, ["PPO config key 'lr_schedule' must be a list of [timestep, value] pairs"]),
        ("entropy_coeff: {grid_search: [0.0, high]}", 18, ["grid point 2 of 2: PPO config key 'entropy_coeff'"]),
        ("framework: tf2", 18, ["framework 'tf2': unknown policy 'PPO/tf2'. Did you mean 'PPO/tf'?"]),
    ],
)
def test_an_rllib_style_file_with_a_bad_value_fails_before_ray_starts(tmp_path, bad, line, words):
    path = tmp_path / "cartpole-ppo.yaml"
    path.write_text(RLLIB_STYLE.format(bad=bad))
    proc = rlcore(["train", "-f", str(path)], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, f"{path}:{line}: experiment 'cartpole-ppo': ", *words)


def test_every_grid_point_is_checked_including_the_model_mapping(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            grid:
              env: CartPole-v1
              run: PPO
              stop: {training_iteration: 1}
              config:
                env_config: {}
                lr: {grid_search: [0.001, 0.0005]}
                model:
                  fcnet_hiddens: {grid_search: [[32], [32, 0]]}
            """
        )
    )
    proc = rlcore(["train", "-f", str(path)], tmp_path)
    assert_refused_before_anything_started(
        proc, tmp_path, f"{path}:9: experiment 'grid': grid point 2 of 4: ", "'model.fcnet_hiddens'", "got [32, 0]"
    )


# -- --ray-address without workers ----------------------------------------------------------------


def test_ray_address_without_workers_warns_in_one_line_and_trains_in_process(tmp_path):
    config = {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 1, "model": {"fcnet_hiddens": [8]}}
    args = [*TRAIN, "--run", "PPO", "--ray-address", "127.0.0.1:1", "--quiet", "--config", json.dumps(config)]
    proc = rlcore(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("rlcore: warning:")]
    assert len(warnings) == 1 and "--ray-address 127.0.0.1:1 is ignored" in warnings[0], proc.stderr
    assert "--num-workers" in warnings[0]
    assert "done: 1 iterations" in proc.stdout


def test_a_bad_value_with_workers_asked_for_never_imports_ray(tmp_path):
    """The strongest form of "before Ray starts": the process that refused the config never imported Ray."""
    code = textwrap.dedent(
        """
        import sys
        from rlcore.cli import main
        from rlcore.errors import ConfigError
        from rlcore.registration import get_algorithm_class
        rc = main(["train", "--env", "CartPole-v1", "--run", "PPO", "--num-workers", "2", "--config", '{"gamma": 2.0}'])
        try:
            get_algorithm_class("PPO")({"num_workers": 2, "num_sgd_iter": 0}, env="CartPole-v1")
        except ConfigError as exc:
            print("python:", exc)
        print("rc", rc, "ray imported:", "ray" in sys.modules)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLCORE_")}
    env["RLCORE_RESULTS_DIR"] = str(tmp_path / "results")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "rc 2 ray imported: False" in proc.stdout, proc.stdout + proc.stderr
    assert "python: PPO config key 'num_sgd_iter' is out of range: got 0" in proc.stdout
    assert "PPO config key 'gamma' is out of range: got 2.0" in proc.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["rollout", "no-such-checkpoint", "--seed", "-1"], "argument --seed: must be from 0 to 4294967295, got -1"),
        (["rollout", "no-such-checkpoint", "--seed", "abc"], "argument --seed: expected a whole number, got 'abc'"),
        (["rollout", "no-such-checkpoint", "--episodes", "0"], "argument --episodes: must be 1 or more, got 0"),
        (["rollout", "no-such-checkpoint", "--episodes", "-3"], "argument --episodes: must be 1 or more, got -3"),
        ([*TRAIN, "--run", "PPO", "--num-workers", "two"], "argument --num-workers: invalid int value: 'two'"),
        ([*TRAIN, "--run", "PPO", "--checkpoint-freq", "-1"], "argument --checkpoint-freq: must be 0 (never) or more"),
        ([*TRAIN, "--run", "PPO", "--config", '{"lr": 0.001'], "argument --config: not valid JSON"),
        ([*TRAIN, "--run", "PPO", "--config", '{"lr": 1' + "0" * 5000 + "}"], "argument --config: JSON that cannot be"),
    ],
)
def test_a_bad_option_value_is_a_usage_error(tmp_path, args, words):
    proc = rlcore(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


# ----------------------------------------------------------------- more of the same kind (attacker's second pass)
PG = ["train", "--env", "CartPole-v1", "--run", "PG", "--framework", "numpy"]


@pytest.mark.parametrize(
    ("stop", "words"),
    [
        (
            '{"training_iteration": -1}',
            "stop criterion 'training_iteration' counts from 0: it needs a number >= 0, got -1",
        ),
        ('{"timesteps_total": -5.5}', "stop criterion 'timesteps_total' counts from 0"),
        ('{"training_iteration": NaN}', "stop criterion 'training_iteration' needs a finite number, got nan"),
        ('{"episode_reward_mean": -Infinity}', "stop criterion 'episode_reward_mean' needs a finite number, got -inf"),
        ('{"time_total_s": Infinity}', "stop criterion 'time_total_s' needs a finite number, got inf"),
    ],
)
def test_a_stop_value_that_never_or_always_stops_is_refused(tmp_path, stop, words):
    assert_refused_before_anything_started(rlcore([*PG, "--stop", stop], tmp_path), tmp_path, words)


def test_empty_stop_criteria_mean_the_default_not_forever(tmp_path):
    register = (
        "import gymnasium; gymnasium.register('Quick-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv', "
        "reward_threshold=0.0, max_episode_steps=10); "
    )
    args = ["train", "--env", "Quick-v0", "--run", "PG", "--framework", "numpy", "--stop", "{}", "--quiet"]
    proc = rlcore(args, tmp_path, prelude=register)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("done: 1 iterations"), proc.stdout


@pytest.mark.parametrize("under", [False, True])
def test_local_dir_that_is_a_file_is_refused_before_anything_starts(tmp_path, under):
    afile = tmp_path / "afile"
    afile.write_text("x")
    local_dir = afile / "sub" if under else afile
    proc = rlcore([*PG, "--stop", '{"training_iteration": 1}', "--local-dir", str(local_dir)], tmp_path)
    words = [f"results folder (local_dir) {str(local_dir)!r}", "not a folder but a file", "--local-dir"]
    if under:
        words.append(f"is under {str(afile)!r}")
    assert_refused_before_anything_started(proc, tmp_path, *words)


def test_local_dir_that_is_a_file_is_refused_for_an_experiments_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    exp = tmp_path / "exp.yaml"
    exp.write_text("e:\n  run: PG\n  env: CartPole-v1\n  stop: {training_iteration: 1}\n  config: {framework: numpy}\n")
    proc = rlcore(["train", "-f", str(exp), "--local-dir", str(afile)], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, "not a folder but a file")


BILLION_LAUGHS = "".join(
    f"{a}: &{a} [{', '.join([f'*{p}'] * 9)}]\n" for p, a in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BILLION_LAUGHS,
            ["more than 100000 values once its aliases (*name) are expanded"],
        ),
        ("e: " + "[" * 5000 + "]" * 5000 + "\n", ["the YAML is nested too deeply to read"]),
        (
            "e:\n  run: PG\n  env: CartPole-v1\n  config: {env_config: {a: " + "[" * 200 + "1" + "]" * 200 + "}}\n",
            ["exp.yaml:4: the YAML nests more than 64 levels deep"],
        ),
    ],
    ids=["billion-laughs", "too-deep-to-parse", "deeper-than-64"],
)
def test_a_hostile_experiments_file_is_refused_quickly(tmp_path, text, words):
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    proc = rlcore(["train", "-f", str(exp)], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, *words)


@pytest.mark.parametrize("depth", [100, 30000])
def test_deeply_nested_json_options_are_usage_errors(tmp_path, depth):
    nested = "[" * depth + "]" * depth
    for option in ("--config", "--stop"):
        proc = rlcore([*PG, option, f'{{"env_config": {{"a": {nested}}}}}'], tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert f"argument {option}: JSON nested" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


def test_an_experiments_file_with_an_unreadable_number_is_one_line(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text("e:\n  run: PG\n  env: CartPole-v1\n  config: {framework: numpy, lr: 1" + "0" * 5000 + "}\n")
    proc = rlcore(["train", "-f", str(exp)], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, "exp.yaml: a value cannot be read: Exceeds the limit")


def test_an_int_past_floats_range_is_not_finite_through_the_cli(tmp_path):
    proc = rlcore([*PG, "--stop", '{"training_iteration": 1}', "--config", '{"lr": 1' + "0" * 400 + "}"], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, "PG config key 'lr' is not finite: got 1000")


def test_an_experiments_local_dir_that_is_a_file_names_the_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"e:\n  run: PG\n  env: CartPole-v1\n  local_dir: {afile}\n  config: {{framework: numpy}}\n")
    proc = rlcore(["train", "-f", str(exp)], tmp_path)
    assert_refused_before_anything_started(proc, tmp_path, "exp.yaml:4: experiment 'e': results folder (local_dir)")
