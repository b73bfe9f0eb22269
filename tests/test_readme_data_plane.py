"""The README's plugin sections run as written: writing an algorithm, a framework plugin's policy
(and its conformance check), registering a whole evaluator, writing a logger."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(heading: str) -> list[str]:
    """The ```python blocks of the README section under ``heading`` (up to the next heading)."""
    section = README.read_text().split(heading + "\n", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]
    return [part.split("```", 1)[0] for part in section.split("```python\n")[1:]]


@pytest.fixture
def installed_registry():
    """A fresh registry with the installed plugins: what the README's code registers is gone after."""
    from rlcore import plugins

    old = plugins.set_registry(None)
    try:
        yield plugins.get_registry().load()
    finally:
        plugins.set_registry(old)


def run(code: str) -> dict:
    namespace: dict = {"__name__": "readme"}
    exec(compile(code, str(README), "exec"), namespace)
    return namespace


def test_writing_an_algorithm(installed_registry, capsys):
    pytest.importorskip("torch")
    (block,) = python_blocks("### Writing an algorithm")
    ns = run(block)
    assert ns["result"]["training_iteration"] == 3 and ns["result"]["timesteps_total"] >= 3 * 512
    out = capsys.readouterr().out.split()
    assert int(out[0]) == ns["result"]["timesteps_total"]
    from rlcore.errors import ConfigError

    with pytest.raises(ConfigError, match=r"MCPPO config key 'num_sgd_iter' is out of range: got 0"):
        ns["MCPPO"]({"num_sgd_iter": 0}, env="CartPole-v1")


def test_writing_a_framework_plugin(installed_registry, capsys):
    pytest.importorskip("torch")
    skeleton, check = python_blocks("### Writing a framework plugin: policies")
    ns = run(skeleton)
    assert issubclass(ns["MyPPOPolicy"], __import__("rlcore.model_policy").model_policy.ModelPolicy)
    run(check)
    assert "checks passed" in capsys.readouterr().out


def test_registering_a_whole_evaluator(installed_registry):
    (block,) = python_blocks("### Whole evaluators: libraries that sample their own way")
    run(block)
    import rlcore

    spec = rlcore.get_spec("evaluator", "PPO", "my_simulator")
    assert spec.target == "my_package.evaluator:MySimulatorPPOEvaluator" and "remote" in spec.capabilities


def test_writing_a_logger(installed_registry, tmp_path, monkeypatch, capsys):
    """The README's "Writing a logger" example (PPO on torch, a logger plugin keeping the best reward)."""
    import json

    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks("### Writing a logger")
    run(block)
    (trial,) = (tmp_path / "results" / "PPO_CartPole-v1").iterdir()
    rewards = [json.loads(line)["episode_reward_mean"] for line in (trial / "result.json").read_text().splitlines()]
    best = float((trial / "best.txt").read_text())
    assert best == max(r for r in rewards if r is not None)
    assert f"best episode_reward_mean {best}" in capsys.readouterr().out
