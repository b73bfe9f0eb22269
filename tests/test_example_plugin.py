"""The example third-party plugin (examples/numpy_plugin) installs, is discovered, and passes the kit.

It is installed for real (not editable) into this interpreter's environment, the way a user
would install a third-party plugin, then checked through ``rlcore list-plugins --json`` and its
own test suite (which subclasses ``rlcore.testing.EvaluatorContract``), each in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DIST = "rlcore-example-numpy"
PACKAGE = "rlcore_numpy_example"


def _env() -> dict[str, str]:
    """The environment of the subprocesses: no RLCORE_ settings of this test process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLCORE_")}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_list_plugins_shows_the_example_ok(example: Path) -> None:
    script = Path(sys.executable).with_name("rlcore")
    cmd = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "import sys, rlcore.cli; sys.exit(rlcore.cli.main())"]
    )
    proc = subprocess.run([*cmd, "list-plugins", "--json"], capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    assert "numpy_example" in plugins, f"numpy_example not discovered; plugins: {sorted(plugins)}"
    info = plugins["numpy_example"]
    assert info["status"] == "ok", info["error"]
    assert info["distribution"] == DIST
    assert info["module"] == f"{PACKAGE}.plugin"
    assert info["provides"] == {
        "algorithms": ["PG"],
        "envs": ["NumpyCorridor-v0"],
        "evaluators": ["PG/numpy_whole"],
        "policies": ["PG/numpy"],
    }


def test_example_passes_its_contract_suite(example: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=example,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    summary = re.search(r"(\d+) passed", out)
    assert summary and int(summary.group(1)) >= 15, out[-3000:]
    assert "failed" not in out.splitlines()[-1], out[-3000:]


def _train(args: list[str], tmp_path: Path) -> list[dict]:
    """``rlcore train --run PG --env NumpyCorridor-v0 ...`` in a subprocess; its result lines."""
    script = Path(sys.executable).with_name("rlcore")
    stop = json.dumps({"training_iteration": 12})
    cmd = [str(script), "train", "--run", "PG", "--env", "NumpyCorridor-v0", "--stop", stop, "--json"]
    cmd += ["--local-dir", str(tmp_path), "--config", json.dumps({"seed": 0}), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_its_algorithm_trains_from_the_cli_embedded(example: Path, tmp_path: Path) -> None:
    """The third-party algorithm PG and its numpy policy, found through the entry point: no core change."""
    results = _train([], tmp_path)
    assert [r["training_iteration"] for r in results] == list(range(1, 13))
    assert results[-1]["episode_reward_mean"] > 0.5  # the optimum is 0.75; a random walk loses


@pytest.mark.ray
def test_its_algorithm_trains_from_the_cli_on_two_ray_workers(example: Path, tmp_path: Path) -> None:
    results = _train(["--num-workers", "2"], tmp_path)
    assert results[-1]["info"]["num_worker_failures"] == 0
    assert results[-1]["episode_reward_mean"] > 0.5


def test_check_evaluator_runs_the_policy_checks_and_training(example: Path) -> None:
    """`rlcore check-evaluator PG --framework numpy --training`: evaluator, policy and training checks."""
    script = Path(sys.executable).with_name("rlcore")
    cmd = [str(script), "check-evaluator", "PG", "--framework", "numpy", "--training"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    for line in ("ok    compute_apply_equals_learn", "ok    reference_loss", "ok    LocalSyncOptimizer@0"):
        assert line in proc.stdout, proc.stdout
