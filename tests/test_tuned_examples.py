"""Every shipped tuned example passes the experiment loader's checks against the real plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlcore.experiments import load_experiments

TUNED = sorted((Path(__file__).resolve().parents[1] / "tuned_examples").glob("*.yaml"))


@pytest.mark.parametrize("path", TUNED, ids=lambda p: p.name)
def test_shipped_tuned_examples_pass_name_and_config_checks(path):
    pytest.importorskip("rl_algos", reason="the algorithms plugin is not installed")
    specs = load_experiments(path)  # algorithm and env names, every grid point's config keys
    assert specs and all(spec.stop for spec in specs.values())


def test_the_stateless_cartpole_control_differs_from_the_lstm_example_only_in_its_model():
    """The learning tier compares these two files: same env, algorithm, stop and keys but the model."""
    import yaml

    folder = TUNED[0].parent
    (lstm,) = yaml.safe_load((folder / "stateless-cartpole-ppo-lstm.yaml").read_text()).values()
    (control,) = yaml.safe_load((folder / "stateless-cartpole-ppo-nolstm.yaml").read_text()).values()
    assert lstm["config"]["model"]["use_lstm"] and not control["config"]["model"].get("use_lstm")
    assert {k: v for k, v in lstm.items() if k != "config"} == {k: v for k, v in control.items() if k != "config"}
    assert {k: v for k, v in lstm["config"].items() if k != "model"} == {
        k: v for k, v in control["config"].items() if k != "model"
    }
