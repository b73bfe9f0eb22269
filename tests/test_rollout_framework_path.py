"""``rlcore rollout`` with the framework plugins installed: a custom model's checkpoint falls back to
its trainer (stderr says why), ``--framework NAME`` forces the trainer path (restored into that
framework: the checkpoint's own or another), and numpy acting is the default otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcore.cli import main
from rlcore.errors import CheckpointError
from rlcore.registration import get_algorithm_class
from rlcore.rollout import load_trainer

PPO_TINY = {"num_workers": 0, "seed": 0, "train_batch_size": 200, "sgd_minibatch_size": 64, "num_sgd_iter": 1}


def _checkpoint(tmp_path, framework: str, model: dict) -> str:
    with get_algorithm_class("PPO")(
        config={**PPO_TINY, "framework": framework, "model": model}, env="CartPole-v1"
    ) as t:
        t.train()
        return str(t.save(tmp_path))


def _returns(out: str) -> list[float]:
    return [json.loads(line)["return"] for line in out.splitlines()]


def test_a_custom_model_rolls_out_through_its_trainer_saying_why(tmp_path, capsys):
    from rl_torch.models import FullyConnectedNetwork
    from rlcore.models import ModelCatalog

    class RolloutTinyModel(FullyConnectedNetwork):
        """A user's torch model: the catalog's fc network under a custom name."""

    ModelCatalog.register_custom_model("rollout_tiny_model", RolloutTinyModel)
    path = _checkpoint(tmp_path, "torch", {"custom_model": "rollout_tiny_model", "fcnet_hiddens": [8]})
    capsys.readouterr()
    assert main(["rollout", path, "--episodes", "2", "--seed", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert (
        f"rlcore rollout: {path}: its model is the custom model 'rollout_tiny_model' (framework torch): "
        "acting through its trainer" in captured.err
    )
    assert "acting with torch" in captured.err and len(_returns(captured.out)) == 2


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_framework_flag_forces_the_trainer_and_acts_as_numpy_does(tmp_path, capsys, framework):
    path = _checkpoint(tmp_path, framework, {"fcnet_hiddens": [8]})
    capsys.readouterr()
    assert main(["rollout", path, "--episodes", "3", "--seed", "0", "--json"]) == 0
    numpy_run = capsys.readouterr()
    assert "acting with numpy" in numpy_run.err
    assert main(["rollout", "--framework", framework, path, "--episodes", "3", "--seed", "0", "--json"]) == 0
    trainer_run = capsys.readouterr()
    assert f"acting with {framework}" in trainer_run.err and "acting through its trainer" not in trainer_run.err
    assert _returns(trainer_run.out) == _returns(numpy_run.out)
    other = {"torch": "tf", "tf": "torch"}[framework]  # canonical weights restore into the other framework
    assert main(["rollout", path, "--episodes", "3", "--seed", "0", "--json", "--framework", other]) == 0
    other_run = capsys.readouterr()
    assert f"acting with {other}" in other_run.err and _returns(other_run.out) == _returns(numpy_run.out)


PPO_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "checkpoints" / "0.2.0" / "ppo_torch"


@pytest.mark.parametrize("framework", ["jax", "numpy"])
def test_framework_without_a_policy_names_the_frameworks_that_have_one(capsys, framework):
    """``--framework jax`` is the caller's choice, not the checkpoint's: said so, with the
    frameworks that have a PPO policy; no plugin is blamed as missing when all are installed."""
    assert main(["rollout", str(PPO_FIXTURE), "--episodes", "1", "--framework", framework]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert (
        f"no installed or first-party plugin has a PPO policy for framework {framework!r} (asked for here: "
        f"--framework {framework}); frameworks with a PPO policy: tf, torch; without --framework, rlcore rollout "
        "acts with numpy alone" in error
    )
    assert "it was written by" not in error and "missing here" not in error
    with pytest.raises(CheckpointError, match=rf"framework '{framework}' \(asked for here: config\['framework'\]"):
        load_trainer(PPO_FIXTURE, {"framework": framework})
