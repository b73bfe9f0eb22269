"""Issue 16 attacks with the framework plugins installed: the trainer path shares numpy acting's
boundary checks (explore, empty batches, acting states, filter statistics), and ``rlcore rollout``'s
fallback to the trainer never masks a bad checkpoint: a newer format or a tampered checkpoint is
one error line with or without ``--framework``, and a tampered acting spec (which only numpy
acting reads) still rolls out through ``--framework`` with the returns numpy gives the original.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlcore.checkpoint import META_FILE
from rlcore.cli import main
from rlcore.env_checks import ObservationArgumentError
from rlcore.errors import CheckpointError, ConfigError, FrameworkRequiredError
from rlcore.inference import load_policy
from rlcore.model_policy import RecurrentStateError
from rlcore.registration import get_algorithm_class
from rlcore.rollout import load_trainer
from rlcore.testing.checkpoint_fixtures import rewrite_checkpoint_meta

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "checkpoints"
PPO = FIXTURES / "0.2.0" / "ppo_torch"
PPO_TF_010 = FIXTURES / "0.1.0" / "ppo_tf"
OBS = [0.01, -0.02, 0.03, 0.04]


def tampered(tmp_path: Path, fixture: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    src = next(p.parent for p in fixture.glob(f"checkpoint_*/{META_FILE}"))
    dst = tmp_path / fixture.parent.name / fixture.name / src.name
    shutil.copytree(src, dst)
    return rewrite_checkpoint_meta(dst, edit)


@pytest.fixture(scope="module")
def trainer() -> Any:
    t = load_trainer(PPO)
    yield t
    t.stop()


@pytest.mark.parametrize("explore", ["False", None, 1])
def test_a_trainer_refuses_explore_that_is_not_a_bool(trainer, explore):
    with pytest.raises(ConfigError, match=r"explore must be True \(sample\) or False"):
        trainer.compute_action(OBS, explore=explore)
    with pytest.raises(ConfigError, match="explore must be"):
        trainer.workers.local_evaluator.compute_actions(np.asarray([OBS], np.float32), explore=explore)


def test_a_trainer_takes_numpy_bools_and_names_arguments_given_in_loaded_policys_order(trainer):
    """The trainer's order is (obs, explore, state), LoadedPolicy's (obs, state, explore): a state
    given for explore, or a bool for state, says to pass it by keyword; np.True_ is a bool."""
    assert trainer.compute_action(OBS, np.True_) in (0, 1)
    assert trainer.compute_action(OBS, explore=np.False_) == trainer.compute_action(OBS)
    state = trainer.new_acting_state()
    with pytest.raises(ConfigError, match=r"\(ActingState\): this is an acting state; pass it by keyword"):
        trainer.compute_action(OBS, state)
    with pytest.raises(RecurrentStateError, match=r"^state got True: pass explore by keyword"):
        trainer.compute_action(OBS, False, True)
    loaded = load_policy(PPO)
    with pytest.raises(RecurrentStateError, match=r"^state got True: pass explore by keyword"):
        loaded.compute_action(OBS, True)
    assert loaded.compute_action(OBS, loaded.new_acting_state(), np.True_) in (0, 1)


def test_a_trainer_refuses_empty_batches_and_foreign_states(trainer):
    evaluator = trainer.workers.local_evaluator
    with pytest.raises(ObservationArgumentError, match="obs is an empty batch"):
        evaluator.compute_actions(np.zeros((0, 4), np.float32))
    with pytest.raises(RecurrentStateError, match="must be the ActingState"):
        trainer.compute_action(OBS, state={})
    with pytest.raises(ConfigError, match="batch_size must be an int >= 1"):
        evaluator.new_acting_state(0)


@pytest.mark.reliability
@pytest.mark.parametrize("framework", [[], ["--framework", "torch"]], ids=["numpy", "trainer"])
def test_a_newer_format_is_one_error_line_on_either_path(tmp_path, capsys, framework):
    path = tampered(tmp_path, PPO, lambda m: m.update(format_version=3, versions={"rlcore": "0.3.0"}))
    assert main(["rollout", str(path), "--episodes", "1", *framework]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and "checkpoint format 3 was written by rlcore 0.3.0" in errors[0], err
    assert "Traceback" not in err and "acting through its trainer" not in err


@pytest.mark.reliability
def test_a_tampered_spec_refused_by_numpy_still_rolls_out_through_its_trainer(tmp_path, capsys):
    path = tampered(tmp_path, PPO, lambda m: m["policy"].update(clip_actions="no"))
    assert main(["rollout", str(path), "--episodes", "2", "--seed", "0", "--json"]) == 2
    assert "clip_actions is 'no', not true or false" in capsys.readouterr().err
    assert main(["rollout", str(path), "--episodes", "2", "--seed", "0", "--json", "--framework", "torch"]) == 0
    through_trainer = [json.loads(line)["return"] for line in capsys.readouterr().out.splitlines()]
    assert main(["rollout", str(PPO), "--episodes", "2", "--seed", "0", "--json"]) == 0
    with_numpy = [json.loads(line)["return"] for line in capsys.readouterr().out.splitlines()]
    assert through_trainer == with_numpy


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda f: f.update(n=-5), "count n=-5 observations: not an int >= 0"),
        (lambda f: f.update(n="5"), "count n='5' observations"),
        (lambda f: f.update(n=True), "count n=True observations"),
    ],
    ids=["negative-count", "string-count", "bool-count"],
)
def test_filter_statistics_that_cannot_be_are_refused_by_the_trainer_too(tmp_path, edit, words):
    """The filter's refusal gets through: the file was edited (not: restore it with the same env and
    model config, which would not help)."""
    path = tampered(tmp_path, PPO, lambda m: edit(m["state"]["evaluator"]["filter"]))
    with pytest.raises(CheckpointError, match=words) as info:
        load_trainer(path)
    msg = str(info.value)
    assert "its observation-filter statistics (state.evaluator.filter) are not what rlcore writes: " in msg
    assert "the checkpoint was edited or damaged" in msg and "does not fit this PPO trainer" not in msg


@pytest.mark.reliability
def test_a_format_1_tf_checkpoint_of_a_custom_env_restores_once_registered(tmp_path, capsys):
    """The migration cannot make the unregistered env: numpy says to register it; so does the trainer."""
    import gymnasium as gym

    import rlcore

    path = tampered(tmp_path, PPO_TF_010, lambda m: m.update(env="Issue16CartPole-v0"))
    with pytest.raises(FrameworkRequiredError, match="its env 'Issue16CartPole-v0' cannot be made here"):
        rlcore.policy.load(path)
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and "unknown env 'Issue16CartPole-v0'" in errors[0]
    rlcore.register_env("Issue16CartPole-v0", lambda cfg: gym.make("CartPole-v1"), override=True)
    expected = json.loads((PPO_TF_010 / "expected.json").read_text())
    observations = np.asarray(expected["observations"], np.float32)
    assert rlcore.policy.load(path).compute_actions(observations).tolist() == expected["actions"]
    t = load_trainer(path)
    try:
        assert [int(t.compute_action(o)) for o in observations] == expected["actions"]
    finally:
        t.stop()


@pytest.mark.reliability
def test_a_custom_model_checkpoint_tampered_is_refused_not_fallen_back(tmp_path, capsys):
    from rl_torch.models import FullyConnectedNetwork
    from rlcore.models import ModelCatalog

    class Issue16Model(FullyConnectedNetwork):
        """A user's torch model: the catalog's fc network under a custom name."""

    ModelCatalog.register_custom_model("issue16_model", Issue16Model)
    config = {"num_workers": 0, "seed": 0, "train_batch_size": 200, "sgd_minibatch_size": 64, "num_sgd_iter": 1}
    config.update(framework="torch", model={"custom_model": "issue16_model", "fcnet_hiddens": [8]})
    with get_algorithm_class("PPO")(config=config, env="CartPole-v1") as t:
        t.train()
        saved = Path(t.save(tmp_path / "run"))
    dst = tmp_path / "edited" / saved.name
    shutil.copytree(saved, dst)
    rewrite_checkpoint_meta(dst, lambda m: m.update(format_version=7, versions={**m["versions"], "rlcore": "9.0.0"}))
    capsys.readouterr()
    assert main(["rollout", str(dst), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and "checkpoint format 7 was written by rlcore 9.0.0" in errors[0], err
    assert "acting through its trainer" not in err
