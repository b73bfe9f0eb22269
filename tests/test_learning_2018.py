"""The learning tier, RLlib 2018's way: its experiment files, unchanged, reach their stop rewards.

``tuned_examples/cartpole-grid-search-example.yaml`` is RLlib 2018's own grid-search example
(PPO on CartPole-v0 with 2 workers, 6 grid points, ``sgd_batchsize`` its 2018 name); every one of
its trials must reach ``episode_reward_mean`` 200 (the most CartPole-v0 gives) within the file's
``time_total_s`` of 180, run as a user runs it: ``rlcore train -f`` starting its own local Ray
(3 CPUs a trial on a 2-core machine: oversubscribed, one trial at a time). The 2018-style tuned
examples of each algorithm reach 200 the same way, embedded, seeds fixed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rlcore
from rlcore.experiments import load_experiments
from rlcore.results import should_stop

pytestmark = pytest.mark.learning


def _rlcore() -> list[str]:
    script = Path(sys.executable).with_name("rlcore")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys, rlcore.cli; sys.exit(rlcore.cli.main())"]


@pytest.mark.parametrize(
    ("name", "seed"),
    [("cartpole-v0-ppo-2018.yaml", 0), ("cartpole-v0-dqn-2018.yaml", 0)],
    ids=["PPO", "DQN"],
)
def test_a_2018_style_tuned_example_reaches_200_on_cartpole_v0(repo: Path, name: str, seed: int) -> None:
    (spec,) = load_experiments(repo / "tuned_examples" / name).values()
    assert spec.env == "CartPole-v0" and spec.stop["episode_reward_mean"] == 200
    trainer = rlcore.get_algorithm_class(spec.run)({**spec.config, "seed": seed}, env=spec.env)
    try:
        while True:
            result = trainer.train()
            if should_stop(result, spec.stop):
                break
    finally:
        trainer.stop()
    assert result["episode_reward_mean"] >= 200, (
        f"{name}: {result['episode_reward_mean']:.1f} after {result['timesteps_total']} steps, "
        f"{result['time_total_s']:.0f} s (stop {spec.stop})"
    )


def test_the_seed_grid_search_file_runs_all_six_trials_to_200(repo: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # rlcore starts its own local Ray
    proc = subprocess.run(
        [
            *_rlcore(),
            "train",
            "-f",
            str(repo / "tuned_examples" / "cartpole-grid-search-example.yaml"),
            "--local-dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=6 * 240,
        env=env,
    )
    assert proc.returncode == 0, f"rc {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    trials = json.loads(proc.stdout)
    assert len(trials) == 6
    grid = sorted((t["config"]["num_sgd_iter"], t["config"]["sgd_minibatch_size"]) for t in trials)
    assert grid == sorted((i, b) for i in (1, 4) for b in (128, 256, 512))
    for t in trials:
        last = t["last_result"]
        assert t["status"] == "TERMINATED", t
        assert last["episode_reward_mean"] >= 200, f"trial {t['trial_id']} stopped short: {last}"
