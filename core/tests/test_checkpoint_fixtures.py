"""Checkpoints written by every released rlcore act, with only the core installed, as on the day they were written.

The fixtures are ``tests/fixtures/checkpoints/<version>/<algorithm>_<framework>/`` (written by that
version's own code, see the README there); every version folder found is replayed. No plugin,
framework or Ray is needed: ``rlcore.policy.load`` acts with numpy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rlcore
import rlcore.policy
from rlcore import checkpoint as ckpt
from rlcore.env_checks import ObservationArgumentError
from rlcore.errors import CheckpointError
from rlcore.testing.checkpoint_fixtures import (
    EXPECTED_FILE,
    CheckpointFixture,
    action_drift,
    check_fixture_actions,
    check_fixture_returns,
    find_checkpoint_fixtures,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "checkpoints"
ALL = find_checkpoint_fixtures(FIXTURES)
BY = "rlcore.policy.load"


def _ids(fixtures: list[CheckpointFixture]) -> list[str]:
    return [f"{f.folder.parent.name}/{f.name}" for f in fixtures]


def _fixture(version: str, name: str) -> CheckpointFixture:
    return next(f for f in ALL if f.folder.parent.name == version and f.name == name)


def _on_disk_format(fixture: CheckpointFixture) -> int:
    return int(json.loads((fixture.checkpoint / ckpt.META_FILE).read_text())["format_version"])


def test_every_version_has_its_fixtures_and_a_compatibility_row() -> None:
    versions = sorted({f.folder.parent.name for f in ALL})
    assert "0.1.0" in versions
    for version in versions:
        names = sorted(f.name for f in ALL if f.folder.parent.name == version)
        assert names == ["dqn_tf", "dqn_torch", "ppo_tf", "ppo_torch"], f"{version}: {names}"
    rows = {row.rlcore: row for row in ckpt.COMPATIBILITY}
    assert sorted(rows) == versions, "rlcore.checkpoint.COMPATIBILITY must have one row per fixture version folder"
    for fixture in ALL:
        row = rows[fixture.folder.parent.name]
        assert fixture.version == row.rlcore, f"{fixture.label} was written by rlcore {fixture.version}"
        assert (REPO / row.fixtures).resolve() == fixture.folder.parent.resolve()
        if fixture.version != rlcore.__version__:  # the running version's are rewritten until its release
            assert fixture.commit == row.commit, (
                f"{fixture.label}: written from {fixture.commit}, the table: {row.commit}"
            )
        assert _on_disk_format(fixture) == row.format_version, fixture.label


@pytest.mark.parametrize("fixture", ALL, ids=_ids(ALL))
def test_numpy_policy_acts_as_recorded(fixture: CheckpointFixture) -> None:
    policy = rlcore.policy.load(fixture.checkpoint)
    check_fixture_actions(fixture, policy.compute_action, by=BY)
    drift = action_drift(fixture, list(policy.compute_actions(fixture.observations)), by=f"{BY} (compute_actions)")
    assert drift is None, drift


@pytest.mark.parametrize("fixture", ALL, ids=_ids(ALL))
def test_numpy_policy_scores_recorded_returns(fixture: CheckpointFixture) -> None:
    """The must-show: with only the core installed, PPO (and DQN) checkpoints trained on torch and on TF
    score in CartPole-v1 exactly the returns their trainer scored from the same reset seeds."""
    policy = rlcore.policy.load(fixture.checkpoint)
    returns = check_fixture_returns(fixture, policy.compute_action, by=BY)
    assert np.mean(returns) == pytest.approx(fixture.expected["mean_return"])


@pytest.mark.parametrize("fixture", ALL, ids=_ids(ALL))
def test_loaded_meta_names_the_writing_version_and_format(fixture: CheckpointFixture) -> None:
    policy = rlcore.policy.load(fixture.checkpoint)
    assert fixture.version == fixture.folder.parent.name
    assert policy.meta["versions"]["rlcore"] == fixture.version
    assert policy.versions["rlcore"] == fixture.version
    assert (policy.algorithm, policy.framework, policy.env) == (fixture.algorithm, fixture.framework, fixture.env)
    assert policy.meta["format_version"] == ckpt.FORMAT_VERSION  # migrated on read
    written = _on_disk_format(fixture)
    assert policy.meta.get("written_format_version", policy.meta["format_version"]) == written
    assert ckpt.read_checkpoint(fixture.checkpoint).written_format_version == written


def test_acting_imports_no_framework_or_ray() -> None:
    """PPO checkpoints trained on torch and on TF act without importing torch, TensorFlow or Ray (even
    where they are installed: the full session)."""
    paths = [str(_fixture("0.1.0", name).checkpoint) for name in ("ppo_torch", "ppo_tf")]
    code = (
        "import sys, numpy as np, rlcore.policy\n"
        f"for path in {paths!r}:\n"
        "    print(rlcore.policy.load(path).compute_action(np.zeros(4, np.float32)))\n"
        "heavy = sorted(m for m in ('torch', 'tensorflow', 'ray', 'jax') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 2 and set(done.stdout.split()) <= {"0", "1"}, done.stdout


WRONG_OBSERVATIONS = {
    "shape (5,)": (np.zeros(5, np.float32), r"it has shape \(5,\), the space's is \(4,\)"),
    "outside the bounds": (np.array([10, 0, 0, 0], np.float32), r"10\.0 at index \(0,\) is outside the space's bounds"),
    "not finite": (np.full(4, np.nan, np.float32), r"not finite"),
    "a string": ("abc", r"dtype <U3"),
}
PPO = [f for f in ALL if f.algorithm == "PPO"]


@pytest.mark.parametrize("fixture", PPO, ids=_ids(PPO))
@pytest.mark.parametrize("case", sorted(WRONG_OBSERVATIONS))
def test_wrong_observation_is_refused_naming_the_expected_shape(fixture: CheckpointFixture, case: str) -> None:
    """The observation space (migrated from a format-1 checkpoint by making its env, recorded in a
    format-2 one) guards acting as the trainer's does: one clear error naming what is wrong."""
    obs, why = WRONG_OBSERVATIONS[case]
    policy = rlcore.policy.load(fixture.checkpoint)
    with pytest.raises(ObservationArgumentError, match=why) as info:
        policy.compute_action(obs)
    assert "pass one raw observation of shape (4,)" in str(info.value)
    with pytest.raises(ObservationArgumentError, match=r"obs\[1\] is not an observation"):
        policy.compute_actions([fixture.observations[0], obs])


def _copy(fixture: CheckpointFixture, tmp_path: Path) -> CheckpointFixture:
    folder = tmp_path / fixture.folder.parent.name / fixture.name
    shutil.copytree(fixture.folder, folder)
    return CheckpointFixture.load(folder)


@pytest.mark.reliability
def test_newer_format_is_refused_naming_both_versions(tmp_path: Path) -> None:
    """A checkpoint written by a newer rlcore (format 3, rlcore 0.3.0; the digest valid) is refused,
    naming both rlcore versions and both formats and saying to upgrade."""
    copy = _copy(_fixture("0.1.0", "ppo_torch"), tmp_path)
    meta_file = copy.checkpoint / ckpt.META_FILE
    meta = json.loads(meta_file.read_text())
    newer = ckpt.FORMAT_VERSION + 1
    meta["format_version"] = newer
    meta["versions"]["rlcore"] = "0.3.0"
    meta["digest"] = ckpt._digest(meta)
    meta_file.write_text(json.dumps(meta))
    for load in (rlcore.policy.load, ckpt.read_checkpoint):
        with pytest.raises(CheckpointError) as info:
            load(copy.checkpoint)
        message = str(info.value)
        for part in (f"format {newer}", "0.3.0", f"rlcore {rlcore.__version__}", str(ckpt.FORMAT_VERSION), "upgrade"):
            assert part in message, f"{part!r} not in: {message}"


def test_drifted_actions_are_named_by_version_algorithm_and_framework(tmp_path: Path) -> None:
    """A fixture whose stored actions no longer match: the failure says which fixture (version,
    algorithm, framework) drifted, how many actions and the first one."""
    copy = _copy(_fixture("0.1.0", "dqn_tf"), tmp_path)
    expected = dict(copy.expected)
    flipped = [3, 17, 20]
    expected["actions"] = [1 - a if i in flipped else a for i, a in enumerate(copy.actions)]
    (copy.folder / EXPECTED_FILE).write_text(json.dumps(expected))
    drifted = CheckpointFixture.load(copy.folder)
    policy = rlcore.policy.load(drifted.checkpoint)
    with pytest.raises(AssertionError) as info:
        check_fixture_actions(drifted, policy.compute_action, by=BY)
    got = 1 - expected["actions"][3]
    assert str(info.value) == (
        f"0.1.0/dqn_tf (DQN, tf): 3 of 32 actions of {BY} differ from those recorded by rlcore 0.1.0 "
        f"(commit 8b31e4ae0d41): first at observation 3: got {got}, recorded {expected['actions'][3]}"
    )


def test_drifted_returns_are_named_by_version_algorithm_and_framework(tmp_path: Path) -> None:
    copy = _copy(_fixture("0.1.0", "ppo_tf"), tmp_path)
    expected = dict(copy.expected)
    expected["episode_returns"] = [500.0, 500.0, 499.0, 500.0, 500.0]
    (copy.folder / EXPECTED_FILE).write_text(json.dumps(expected))
    drifted = CheckpointFixture.load(copy.folder)
    policy = rlcore.policy.load(drifted.checkpoint)
    with pytest.raises(AssertionError, match=r"^0\.1\.0/ppo_tf \(PPO, tf\): episode returns of") as info:
        check_fixture_returns(drifted, policy.compute_action, by=BY)
    assert "first at reset seed 2: got 500.0, recorded 499.0" in str(info.value)


def test_a_broken_fixture_names_its_file_and_key(tmp_path: Path) -> None:
    copy = _copy(_fixture("0.1.0", "ppo_torch"), tmp_path)
    expected = dict(copy.expected)
    del expected["actions"]
    (copy.folder / EXPECTED_FILE).write_text(json.dumps(expected))
    with pytest.raises(CheckpointError, match=r"expected\.json: lacks the key\(s\) actions"):
        CheckpointFixture.load(copy.folder)
    expected["actions"] = copy.actions
    expected["checkpoint"] = "checkpoint_000099"
    (copy.folder / EXPECTED_FILE).write_text(json.dumps(expected))
    with pytest.raises(CheckpointError, match=r"names the checkpoint 'checkpoint_000099', not found in"):
        CheckpointFixture.load(copy.folder)
