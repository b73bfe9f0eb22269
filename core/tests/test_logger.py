"""The results folder: its naming, and the built-in writers json/csv/tensorboard driven through their hooks."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from rlcore.logger import trial_dir
from rlcore.loggers.csv_logger import CsvLogger
from rlcore.loggers.json_logger import JsonLogger
from rlcore.loggers.tensorboard_logger import TensorBoardLogger, read_scalars
from rlcore.plugins import PluginRegistry
from rlcore.results import flatten


def _result(i: int, **info: float) -> dict:
    return {"training_iteration": i, "timesteps_total": 100 * i, "episode_reward_mean": math.nan, "info": info}


class Trainer:
    """Stands in for a trainer: the writers only key their files by it."""


@pytest.fixture
def registry() -> PluginRegistry:
    return PluginRegistry(entry_points_=[]).load()


def _trial(registry: PluginRegistry, logdir: Path, results: list[dict], params: dict | None = None) -> Trainer:
    trainer = Trainer()
    registry.call_event("rlcore_on_trial_start", trainer=trainer, logdir=logdir, params=params or {}, stop={})
    for result in results:
        registry.call_event("rlcore_on_train_result", trainer=trainer, result=result)
    registry.call_event("rlcore_on_trial_end", trainer=trainer, logdir=logdir, result=results[-1], error=None)
    return trainer


def test_columns_that_appear_later_reach_progress_csv(registry, tmp_path):
    results = [_result(1, epsilon=1.0), _result(2, epsilon=0.5, loss=0.25), _result(3, epsilon=0.1, loss=0.125)]
    _trial(registry, tmp_path, results, params={"lr": 0.1})  # DQN: the loss once learning starts
    rows = list(csv.DictReader((tmp_path / "progress.csv").open()))
    assert [r["training_iteration"] for r in rows] == ["1", "2", "3"]
    assert [r["info/loss"] for r in rows] == ["", "0.25", "0.125"]
    assert rows[0]["episode_reward_mean"] == ""  # NaN -> empty, as in result.json's null
    lines = [json.loads(line) for line in (tmp_path / "result.json").read_text().splitlines()]
    assert lines[0]["episode_reward_mean"] is None and lines[2]["info"]["loss"] == 0.125
    assert json.loads((tmp_path / "params.json").read_text()) == {"lr": 0.1}
    (events,) = tmp_path.glob("events.out.tfevents.*")
    scalars = read_scalars(events)
    assert (200, "info/loss", 0.25) in scalars
    assert not [tag for _, tag, _ in scalars if tag in ("training_iteration", "episode_reward_mean")]
    assert not list(tmp_path.glob(".*"))  # no temporaries left


def test_every_line_is_on_disk_before_the_trial_ends(registry, tmp_path):
    """A killed run keeps what it reported: each writer flushes after every result."""
    trainer = Trainer()
    registry.call_event("rlcore_on_trial_start", trainer=trainer, logdir=tmp_path, params={}, stop={})
    registry.call_event("rlcore_on_train_result", trainer=trainer, result=_result(1, loss=0.5))
    assert json.loads((tmp_path / "result.json").read_text())["info"]["loss"] == 0.5
    assert next(iter(csv.DictReader((tmp_path / "progress.csv").open())))["info/loss"] == "0.5"
    (events,) = tmp_path.glob("events.out.tfevents.*")
    assert (100, "info/loss", 0.5) in read_scalars(events)
    registry.call_event("rlcore_on_trial_end", trainer=trainer, logdir=tmp_path, result={}, error=None)


def test_two_trials_at_once_write_their_own_folders(registry, tmp_path):
    a, b = Trainer(), Trainer()
    for trainer, name in ((a, "a"), (b, "b")):
        registry.call_event(
            "rlcore_on_trial_start", trainer=trainer, logdir=tmp_path / name, params={"name": name}, stop={}
        )
    for i in (1, 2):
        registry.call_event("rlcore_on_train_result", trainer=a, result=_result(i))
    registry.call_event("rlcore_on_train_result", trainer=b, result=_result(7))
    registry.call_event("rlcore_on_train_result", trainer=Trainer(), result=_result(9))  # no trial: ignored
    for trainer, name in ((a, "a"), (b, "b")):
        registry.call_event("rlcore_on_trial_end", trainer=trainer, logdir=tmp_path / name, result={}, error=None)
    iterations = {
        name: [json.loads(line)["training_iteration"] for line in (tmp_path / name / "result.json").open()]
        for name in ("a", "b")
    }
    assert iterations == {"a": [1, 2], "b": [7]}
    assert json.loads((tmp_path / "b" / "params.json").read_text()) == {"name": "b"}


def test_an_existing_progress_csv_is_continued_with_its_header(tmp_path):
    logger = CsvLogger()
    trainer = Trainer()
    for results in ([_result(1, loss=1.0)], [_result(2, loss=0.5, kl=0.1)]):
        logger.rlcore_on_trial_start(trainer=trainer, logdir=tmp_path, params={})
        for result in results:
            logger.rlcore_on_train_result(trainer=trainer, result=result)
        logger.rlcore_on_trial_end(trainer=trainer)
    rows = list(csv.DictReader((tmp_path / "progress.csv").open()))
    assert [(r["training_iteration"], r["info/loss"], r["info/kl"]) for r in rows] == [
        ("1", "1.0", ""),
        ("2", "0.5", "0.1"),
    ]


def test_json_logger_appends_and_writes_params_atomically(tmp_path):
    logger = JsonLogger()
    trainer = Trainer()
    logger.rlcore_on_trial_start(trainer=trainer, logdir=tmp_path, params={"lr": math.inf, "model": {"a": [1]}})
    logger.rlcore_on_train_result(trainer=trainer, result=_result(1))
    logger.rlcore_on_trial_end(trainer=trainer)
    logger.rlcore_on_trial_end(trainer=trainer)  # a second end is harmless
    assert json.loads((tmp_path / "params.json").read_text()) == {"lr": None, "model": {"a": [1]}}
    assert len((tmp_path / "result.json").read_text().splitlines()) == 1


def test_tensorboard_logger_without_a_trial_writes_nothing(tmp_path):
    logger = TensorBoardLogger()
    logger.rlcore_on_train_result(trainer=Trainer(), result=_result(1))
    assert logger.writer_of(Trainer()) is None and not list(tmp_path.iterdir())


def test_trial_dir_never_reuses_a_folder(tmp_path):
    first = trial_dir(tmp_path, "exp/1", "PPO run")
    assert first == tmp_path / "exp_1" / "PPO_run"
    first.mkdir(parents=True)
    assert trial_dir(tmp_path, "exp/1", "PPO run").name == "PPO_run_1"


def test_flatten():
    assert flatten({"a": {"b": {"c": 1}}, "d": [1, 2]}) == {"a/b/c": 1, "d": [1, 2]}
