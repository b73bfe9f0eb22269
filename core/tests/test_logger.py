"""The results folder writer: params.json, result.json lines, progress.csv, TensorBoard."""

from __future__ import annotations

import csv
import json
import math

from rlcore.logger import ResultLogger, flatten, trial_dir
from rlcore.tensorboard import read_scalars


def _result(i: int, **info: float) -> dict:
    return {"training_iteration": i, "timesteps_total": 100 * i, "episode_reward_mean": math.nan, "info": info}


def test_columns_that_appear_later_reach_progress_csv(tmp_path):
    with ResultLogger(tmp_path, {"lr": 0.1}) as logger:
        logger.log(_result(1, epsilon=1.0))
        logger.log(_result(2, epsilon=0.5, loss=0.25))  # DQN: the loss once learning starts
        logger.log(_result(3, epsilon=0.1, loss=0.125))
    rows = list(csv.DictReader((tmp_path / "progress.csv").open()))
    assert [r["training_iteration"] for r in rows] == ["1", "2", "3"]
    assert [r["info/loss"] for r in rows] == ["", "0.25", "0.125"]
    assert rows[0]["episode_reward_mean"] == ""  # NaN -> empty, as in result.json's null
    lines = [json.loads(line) for line in (tmp_path / "result.json").read_text().splitlines()]
    assert lines[0]["episode_reward_mean"] is None and lines[2]["info"]["loss"] == 0.125
    assert json.loads((tmp_path / "params.json").read_text()) == {"lr": 0.1}
    (events,) = tmp_path.glob("events.out.tfevents.*")
    assert (200, "info/loss", 0.25) in read_scalars(events)
    assert not list(tmp_path.glob(".*"))  # no temporaries left


def test_trial_dir_never_reuses_a_folder(tmp_path):
    first = trial_dir(tmp_path, "exp/1", "PPO run")
    assert first == tmp_path / "exp_1" / "PPO_run"
    first.mkdir(parents=True)
    assert trial_dir(tmp_path, "exp/1", "PPO run").name == "PPO_run_1"


def test_flatten():
    assert flatten({"a": {"b": {"c": 1}}, "d": [1, 2]}) == {"a/b/c": 1, "d": [1, 2]}
