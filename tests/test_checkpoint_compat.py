"""Checkpoints written by every released rlcore restore into a trainer of today's code and go on.

For each fixture ``tests/fixtures/checkpoints/<version>/<algorithm>_<framework>/`` (written by that
version's own code; see the README there): ``rlcore.rollout.load_trainer`` restores it into a
trainer of its algorithm and framework (one process, no Ray), which acts as recorded, trains one
more iteration (counters continue, weights move and stay finite), and saves a checkpoint of the
current format that ``rlcore.policy.load`` (numpy) acts from as the trainer does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rlcore.policy
from rlcore import checkpoint as ckpt
from rlcore.rollout import load_trainer
from rlcore.testing.checkpoint_fixtures import CheckpointFixture, check_fixture_actions, find_checkpoint_fixtures

REPO = Path(__file__).resolve().parents[1]
ALL = find_checkpoint_fixtures(REPO / "tests" / "fixtures" / "checkpoints")
IDS = [f"{f.folder.parent.name}/{f.name}" for f in ALL]


@pytest.fixture(params=ALL, ids=IDS)
def restored(request: pytest.FixtureRequest) -> Iterator[tuple[CheckpointFixture, Any]]:
    fixture: CheckpointFixture = request.param
    trainer = load_trainer(fixture.checkpoint)
    try:
        yield fixture, trainer
    finally:
        trainer.stop()


def _weights(trainer: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in trainer.local_evaluator.get_weights().items()}


def test_restored_trainer_acts_trains_and_saves(restored: tuple[CheckpointFixture, Any], tmp_path: Path) -> None:
    fixture, trainer = restored
    label = fixture.label
    assert (trainer.name, trainer.config["framework"]) == (fixture.algorithm, fixture.framework), label
    by = f"the restored {fixture.algorithm} {fixture.framework} trainer"
    check_fixture_actions(fixture, trainer.compute_action, by=by)

    iteration, timesteps = trainer.iteration, trainer.timesteps_total
    assert iteration == fixture.expected["iterations"], label
    before = _weights(trainer)
    result = trainer.train()
    assert result["training_iteration"] == iteration + 1, label
    assert result["timesteps_total"] > timesteps, label
    after = _weights(trainer)
    assert sorted(after) == sorted(before), label
    for name, value in after.items():
        assert np.isfinite(value).all(), f"{label}: {name} is not finite after one more iteration"
    moved = [name for name in after if not np.array_equal(after[name], before[name])]
    assert moved, f"{label}: one more iteration changed no weight"

    saved = trainer.save(tmp_path)
    written = ckpt.read_checkpoint(saved)
    assert written.written_format_version == ckpt.FORMAT_VERSION, label
    assert written.policy_spec is not None, f"{label}: {written.meta.get('policy_unavailable')}"
    policy = rlcore.policy.load(saved)
    observations = fixture.observations
    ours = [np.asarray(trainer.compute_action(obs)).tolist() for obs in observations]
    numpy = [np.asarray(policy.compute_action(obs)).tolist() for obs in observations]
    differ = [i for i, (a, b) in enumerate(zip(numpy, ours, strict=True)) if a != b]
    assert not differ, (
        f"{label}: after one more iteration, rlcore.policy.load of its new save acts unlike the trainer on "
        f"{len(differ)} of {len(ours)} observations: first at observation {differ[0]}: numpy "
        f"{numpy[differ[0]]}, trainer {ours[differ[0]]}"
    )
