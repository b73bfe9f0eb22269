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
