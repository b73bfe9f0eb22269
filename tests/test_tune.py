"""`rlcore train -f`'s engine: a grid of PPO trials through Ray Tune, their folders and checkpoints."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from rlcore.experiments import load_experiments

pytestmark = pytest.mark.ray

GRID = """
tiny-grid:
  env: CartPole-v1
  run: PPO
  stop: {training_iteration: 2}
  checkpoint_freq: 1
  config:
    framework: torch
    num_workers: 0
    num_envs_per_worker: 2
    rollout_fragment_length: 128
    train_batch_size: 256
    sgd_minibatch_size: 128
    num_sgd_iter: 1
    lr: {grid_search: [0.001, 0.0005]}
"""


@pytest.fixture(scope="module")
def ppo_available() -> None:
    from rlcore.plugins import get_registry

    registry = get_registry().load()
    if "PPO" not in registry.names("algorithm"):
        pytest.skip("rl_algos is not installed")
    pytest.importorskip("torch")
    pytest.importorskip("ray.tune")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_grid_search_trials_write_results_and_checkpoints(ray_session, ppo_available, tmp_path, capsys):
    from rlcore.registration import get_algorithm_class
    from rlcore.tune import run_experiments

    out = tmp_path / "results"
    summaries = run_experiments(load_experiments(write(tmp_path, GRID)), out)
    printed = capsys.readouterr().out
    assert "experiment tiny-grid: 2 trial(s) of PPO on CartPole-v1" in printed
    assert printed.count("done: ") == 2

    assert sorted(s.config["lr"] for s in summaries) == [0.0005, 0.001]
    assert {s.status for s in summaries} == {"TERMINATED"}
    folders = sorted(p for p in (out / "tiny-grid").iterdir() if p.is_dir())
    assert len(folders) == 2
    assert sorted(Path(s.path) for s in summaries) == folders
    for summary in summaries:
        folder = Path(summary.path)
        assert folder.name.startswith("PPO_CartPole-v1_")
        for name in ("result.json", "progress.csv", "params.json"):
            assert (folder / name).is_file(), f"{name} missing in {folder}: {sorted(p.name for p in folder.iterdir())}"
        lines = [json.loads(line) for line in (folder / "result.json").read_text().splitlines()]
        assert [r["training_iteration"] for r in lines] == [1, 2]
        assert lines[-1]["timesteps_total"] == 512
        assert lines[-1]["config"]["lr"] == summary.config["lr"]
        assert json.loads((folder / "params.json").read_text())["lr"] == summary.config["lr"]
        assert summary.last_result["training_iteration"] == 2
        assert summary.error is None
        # Tune's checkpoint_00000N folders hold the trainer's own (JSON + npz) checkpoint folders.
        ours = sorted(folder.glob("checkpoint_*/checkpoint_*/checkpoint.json"))
        assert len(ours) == 2, sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        assert summary.checkpoint is not None and Path(summary.checkpoint).parent == folder
        assert summary.summary_line().startswith("TERMINATED  iter    2  timesteps       512")

    # The latest Tune checkpoint restores into a plain trainer, counters included.
    best = summaries[0]
    trainer = get_algorithm_class("PPO")(config=best.config)
    try:
        trainer.restore(best.checkpoint)
        assert trainer.iteration == 2 and trainer.timesteps_total == 512
    finally:
        trainer.stop()


def test_failing_trial_surfaces_its_error(ray_session, ppo_available, tmp_path):
    from rlcore.tune import TrialsFailedError, run_experiments

    text = """
    broken:
      env: CartPole-v1
      run: PPO
      stop: {training_iteration: 1}
      config:
        env_config: {no_such_option: 1}
        train_batch_size: 64
        sgd_minibatch_size: 64
        num_sgd_iter: 1
    """
    with pytest.raises(TrialsFailedError) as info:
        run_experiments(load_experiments(write(tmp_path, text)), tmp_path / "results", verbose=0)
    message = str(info.value)
    assert "1 of 1 trials failed" in message
    assert "no_such_option" in message
    (trial,) = info.value.trials
    assert trial.status == "ERROR" and "no_such_option" in (trial.error or "")
    assert (Path(trial.path) / "error.txt").is_file()
    assert "error: " in trial.summary_line() and trial.as_dict()["status"] == "ERROR"


def test_cli_train_file_reports_each_trial_and_fails_on_a_failed_one(ray_session, ppo_available, tmp_path, capsys):
    """`rlcore train -f`: exit 0 with a TERMINATED line per trial; exit 1 and the error when a trial fails."""
    from rlcore.cli import main

    good = write(tmp_path, GRID.replace("checkpoint_freq: 1", "checkpoint_freq: 0"))
    assert main(["train", "-f", str(good), "--local-dir", str(tmp_path / "ok"), "--checkpoint-at-end"]) == 0
    out = capsys.readouterr().out
    assert out.count("TERMINATED  iter    2") == 2
    trials = sorted((tmp_path / "ok" / "tiny-grid").glob("PPO_CartPole-v1_*"))
    assert len(trials) == 2 and all(list(t.glob("checkpoint_*")) for t in trials)  # --checkpoint-at-end applied

    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "broken:\n  env: CartPole-v1\n  run: PPO\n  stop: {training_iteration: 1}\n"
        "  config: {env_config: {no_such_option: 1}, train_batch_size: 64, sgd_minibatch_size: 64}\n"
    )
    assert main(["train", "-f", str(broken), "--local-dir", str(tmp_path / "bad"), "--json"]) == 1
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["status"] == "ERROR" and "no_such_option" in summary["error"]
