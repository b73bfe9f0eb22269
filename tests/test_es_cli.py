"""``rlcore train --run ES`` as a user runs it, in a subprocess: embedded (the numpy policy by
default, with only rlcore and rl_algos importable: no torch, TensorFlow, Ray or rl_optimizers), with
2 Ray workers, and the tuned example through ``-f`` (Ray Tune); ES's bad input is one line before anything starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

MAIN = "import sys; from rlcore.cli import main; sys.exit(main(sys.argv[1:]))"
#: Prepended to MAIN: a process where torch, TensorFlow, Ray and the plugins other than rl_algos cannot be
#: imported (with RLCORE_DISABLE_PLUGINS naming those plugins: what an install of rlcore + rlcore-algos sees).
ONLY_ALGOS = "rl_torch", "rl_tf", "rl_optimizers", "torch", "tensorflow", "ray"
NO_FRAMEWORKS = f"import sys; sys.modules.update(dict.fromkeys({ONLY_ALGOS!r})); "
RAY_TRACES = ("Started a local Ray", "ray.init", "Ray runtime started", "raylet")
#: A short ES run (the tuned example's settings, a 4 MB noise table).
SMALL = {
    "episodes_per_batch": 16,
    "train_batch_size": 200,
    "num_envs_per_worker": 8,
    "noise_size": 1_000_000,
    "eval_prob": 0.3,
    "noise_stdev": 0.1,
    "stepsize": 0.05,
    "model": {"fcnet_hiddens": []},
    "seed": 0,
}


def rlcore(
    args: list[str], tmp_path: Path, prelude: str = "", timeout: int = 300, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLCORE_") and k != "RAY_ADDRESS"}
    env["RLCORE_RESULTS_DIR"] = str(tmp_path / "results")
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", prelude + MAIN, *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def results(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.returncode == 0, f"rc {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def params(result: dict[str, Any]) -> dict[str, Any]:
    """The trial's config as the results folder's params.json holds it."""
    return json.loads((Path(result["logdir"]) / "params.json").read_text())


def linear_policy_params() -> int:
    """The flat vector's length of ES's numpy policy with ``fcnet_hiddens: []`` on CartPole-v1."""
    import gymnasium

    import rlcore

    env = gymnasium.make("CartPole-v1")
    policy_cls = rlcore.get_policy_class("ES", "numpy")
    return int(policy_cls(env.observation_space, env.action_space, {"model": {"fcnet_hiddens": []}}, seed=0).num_params)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 with one ``rlcore: error:`` line on stderr, no traceback, and no Ray started; the line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rlcore: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not any(trace in proc.stdout + proc.stderr for trace in RAY_TRACES), proc.stderr
    return lines[0]


def check_es_results(rs: list[dict[str, Any]], iterations: int) -> None:
    assert [r["training_iteration"] for r in rs] == list(range(1, iterations + 1))
    assert all(r["timesteps_this_iter"] > 0 for r in rs)
    assert rs[-1]["timesteps_total"] == sum(r["timesteps_this_iter"] for r in rs)
    for r in rs:
        assert r["perturbed_episodes_this_iter"] >= SMALL["episodes_per_batch"]
        assert r["perturbed_reward_min"] <= r["perturbed_reward_mean"] <= r["perturbed_reward_max"]
        assert r["info"]["num_worker_failures"] == 0


def test_rlcore_train_run_es_embedded_needs_only_rlcore_and_rl_algos(tmp_path: Path) -> None:
    stop = '{"training_iteration": 2}'
    args = ["train", "--env", "CartPole-v1", "--run", "ES", "--num-workers", "0", "--stop", stop, "--json"]
    disabled = {"RLCORE_DISABLE_PLUGINS": "torch,tf,optimizers"}
    proc = rlcore([*args, "--config", json.dumps(SMALL)], tmp_path, prelude=NO_FRAMEWORKS, **disabled)
    rs = results(proc)
    check_es_results(rs, 2)
    assert params(rs[-1])["framework"] == "numpy", "ES's default framework is numpy"
    assert params(rs[-1])["num_workers"] == 0
    assert not any(trace in proc.stdout + proc.stderr for trace in RAY_TRACES)


@pytest.mark.ray
def test_rlcore_train_run_es_with_two_ray_workers(tmp_path: Path) -> None:
    stop = '{"training_iteration": 3}'
    args = ["train", "--env", "CartPole-v1", "--run", "ES", "--num-workers", "2", "--stop", stop, "--json"]
    rs = results(rlcore([*args, "--config", json.dumps(SMALL)], tmp_path))
    check_es_results(rs, 3)
    assert params(rs[-1])["num_workers"] == 2 and params(rs[-1])["framework"] == "numpy"
    assert rs[-1]["info"]["optimizer"]["num_tasks"] >= 6, "both workers got tasks each iteration"
    assert rs[-1]["episodes_total"] == rs[-1]["info"]["optimizer"]["num_eval_episodes"]


@pytest.mark.ray
def test_rlcore_train_f_runs_the_tuned_es_example(repo: Path, tmp_path: Path) -> None:
    """The tuned example through Ray Tune, its stop lowered to 2 iterations in a copy (``-f`` takes no ``--stop``)."""
    data = yaml.safe_load((repo / "tuned_examples/cartpole-es.yaml").read_text())
    (exp,) = data.values()
    exp["stop"] = {"training_iteration": 2}
    path = tmp_path / "cartpole-es.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = rlcore(["train", "-f", str(path), "--local-dir", str(tmp_path / "out"), "--json"], tmp_path, timeout=400)
    assert proc.returncode == 0, f"rc {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    (trial,) = json.loads(proc.stdout)
    assert trial["status"] == "TERMINATED", trial
    last = trial["last_result"]
    assert last["training_iteration"] == 2 and last["timesteps_total"] > 0
    lines = (Path(trial["path"]) / "result.json").read_text().splitlines()  # the trial's full results
    full = json.loads(lines[-1])
    assert len(lines) == 2 and full["timesteps_total"] == last["timesteps_total"]
    assert full["perturbed_episodes_this_iter"] >= exp["config"]["episodes_per_batch"]
    assert full["info"]["num_worker_failures"] == 0
    assert full["config"]["num_workers"] == 2 and "framework" not in full["config"]  # the default: numpy


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("config", "workers", "words"),
    [
        ({"noise_size": 5}, "0", ["'noise_size' 5 is smaller than the policy's {P} ", "at least {P} "]),
        ({"noise_size": 5}, "2", ["'noise_size' 5 is smaller than the policy's {P} ", "at least {P} "]),
        ({"episodes_per_batch": 1}, "0", ["'episodes_per_batch' is out of range: got 1", "antithetic"]),
        ({"episodes_per_batch": 1}, "2", ["'episodes_per_batch' is out of range: got 1"]),
    ],
    ids=["noise-size-embedded", "noise-size-workers", "episodes-embedded", "episodes-workers"],
)
def test_es_bad_input_through_the_cli_is_one_line_before_ray_starts(
    tmp_path: Path, config: dict[str, Any], workers: str, words: list[str]
) -> None:
    cfg = {**SMALL, **config}
    args = ["train", "--env", "CartPole-v1", "--run", "ES", "--num-workers", workers, "--config", json.dumps(cfg)]
    line = one_error_line(rlcore([*args, "--stop", '{"training_iteration": 1}'], tmp_path))
    for word in words:
        word = word.format(P=linear_policy_params())
        assert word in line, (word, line)


@pytest.mark.reliability
def test_an_es_experiments_file_with_a_too_small_noise_table_is_refused_before_ray_starts(
    repo: Path, tmp_path: Path
) -> None:
    """``rlcore train -f``: the tuned example with ``noise_size: 10`` is refused by ES's preflight
    (the env built once, the policy's parameters counted) in one line, before Ray or any trial starts."""
    data = yaml.safe_load((repo / "tuned_examples/cartpole-es.yaml").read_text())
    (exp,) = data.values()
    exp["config"]["noise_size"] = 5
    path = tmp_path / "es.yaml"
    path.write_text(yaml.safe_dump(data))
    line = one_error_line(rlcore(["train", "-f", str(path), "--local-dir", str(tmp_path / "out")], tmp_path))
    p = linear_policy_params()
    assert f"'noise_size' 5 is smaller than the policy's {p} " in line and f"at least {p} " in line, line
    assert not (tmp_path / "out").exists(), "a results folder was made before the file was checked"


#: A third-party plugin that registers, for ES, the example plugin's linear PG policy: it acts, but keeps
#: its weights its own way (no flat-weight layout).
NO_FLAT_PLUGIN = """
from rlcore import hookimpl


@hookimpl
def rlcore_register_policies(register):
    register("ES", "opaque", "rlcore_numpy_example.policy:LinearPGPolicy", capabilities=("discrete",))
"""


@pytest.mark.reliability
@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_plugin_es_policy_without_flat_weights_is_one_line_before_ray_starts(
    example: Path, tmp_path: Path, workers: str
) -> None:
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "fakeplug_opaque.py").write_text(textwrap.dedent(NO_FLAT_PLUGIN))
    info = folder / "fake_opaque-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-opaque\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[rlcore]\nopaque = fakeplug_opaque\n")
    args = ["train", "--env", "CartPole-v1", "--run", "ES", "--framework", "opaque", "--num-workers", workers]
    proc = rlcore(
        [*args, "--config", json.dumps(SMALL), "--stop", '{"training_iteration": 1}'],
        tmp_path,
        PYTHONPATH=os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
    )
    line = one_error_line(proc)
    assert "ES perturbs a flat parameter vector, but rlcore_numpy_example.policy.LinearPGPolicy" in line, line
    assert "has no flat-weight layout" in line and "ForwardOnlyModelPolicy" in line, line
