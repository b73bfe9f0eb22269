"""``rlcore rollout`` with only the core installed: a checkpoint of a catalog model acts with numpy
(no trainer, no framework, no plugin), and says so; what it cannot do is one clear error."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rlcore.cli import main
from rlcore.inference import load_policy
from rlcore.rollout import load_rollout_policy, rollout

from .test_inference import evaluator, save, trained


@pytest.fixture
def cartpole_checkpoint(tmp_path):
    ev = trained(evaluator("CartPole-v1", model={"fcnet_hiddens": [8], "framestack": 2}))
    path = save(ev, tmp_path, env="CartPole-v1")
    return ev, path


def _returns_with(new_state, act, episodes: int, seed: int) -> list[float]:
    """Episode returns of CartPole-v1 reset with seeds seed + i, acting with ``act(obs, state)``
    from ``new_state()`` at each episode's start."""
    env = gym.make("CartPole-v1")
    out = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        state, total, done = new_state(), 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs, state))
            total += float(reward)
            done = terminated or truncated
        out.append(total)
    return out


def test_rollout_cli_acts_with_numpy_on_a_core_checkpoint(cartpole_checkpoint, capsys):
    ev, path = cartpole_checkpoint
    assert main(["rollout", str(path.parent), "--episodes", "3", "--seed", "5", "--json"]) == 0
    captured = capsys.readouterr()
    assert "acting with numpy" in captured.err and str(path) in captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["episode"] for line in lines] == [1, 2, 3]
    # the same returns as the evaluator's own acting (Trainer.compute_action's path)
    expected = _returns_with(
        lambda: ev.new_acting_state(1), lambda obs, state: ev.compute_actions(obs[None], state=state)[0], 3, 5
    )
    assert [line["return"] for line in lines] == expected
    policy = load_policy(path)
    assert expected == _returns_with(
        policy.new_acting_state, lambda obs, state: policy.compute_action(obs, state), 3, 5
    )


def test_rollout_python_api_defaults_to_numpy(cartpole_checkpoint):
    _, path = cartpole_checkpoint
    chosen = load_rollout_policy(path, seed=0)
    assert chosen.acting_with == "numpy" and chosen.env_name == "CartPole-v1" and chosen.note is None
    episodes = list(rollout(path, episodes=2, seed=0, explore=True))
    assert len(episodes) == 2 and all(e.episode_length > 0 for e in episodes)


def test_rollout_in_a_fresh_process_imports_no_framework(cartpole_checkpoint):
    _, path = cartpole_checkpoint
    code = (
        "import sys\n"
        "from rlcore.cli import main\n"
        f"rc = main(['rollout', {str(path)!r}, '--episodes', '1', '--seed', '0'])\n"
        "print(rc, sorted(m for m in ('torch', 'tensorflow', 'ray') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines()[-1] == "0 []", out.stdout + out.stderr
    assert "acting with numpy" in out.stderr


def test_rollout_of_a_custom_model_names_the_plugin_or_falls_back_to_it(tmp_path, capsys):
    ev = evaluator("CartPole-v1")
    spec = ev.acting_spec()
    spec["model"] = {**spec["model"], "custom_model": "my_net"}
    spec["model_kind"] = "custom"
    path = save(ev, tmp_path, spec=spec, framework="torch", env="CartPole-v1")
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    if importlib.util.find_spec("rl_torch") is None:  # the core alone: one line naming the plugin to install
        errors = [line for line in err.splitlines() if line.startswith("rlcore: error:")]
        assert len(errors) == 1 and "custom model 'my_net'" in errors[0] and "rlcore-torch" in errors[0], err
        assert "pip install -c constraints.txt ./plugins/rl_torch" in errors[0]
    else:  # the plugin is installed: its trainer is tried, and stderr says why
        assert "its model is the custom model 'my_net' (framework torch): acting through its trainer" in err


def test_rollout_of_a_checkpoint_whose_env_cannot_be_made_blames_the_checkpoint(tmp_path, capsys):
    ev = trained(evaluator("CartPole-v1"))
    path = save(ev, tmp_path, env="NoSuchEnv-v0")
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and errors[0].startswith(f"rlcore: error: {path}: the env 'NoSuchEnv-v0'"), errors
    assert "unknown env 'NoSuchEnv-v0'" in errors[0]
    path = save(ev, tmp_path / "cfg", env="CartPole-v1", config={"env_config": {"nope": 1}})
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and "env_config key 'nope'" in errors[0] and str(path) in errors[0], errors


def test_rollout_observations_of_another_shape_than_the_checkpoints_are_one_error(tmp_path, capsys):
    """A checkpoint whose recorded observation space is not what its env returns (an env changed
    since): the first observation is refused naming the expected shape."""
    ev = trained(evaluator("Pendulum-v1"))
    spec = ev.acting_spec()
    path = save(ev, tmp_path, spec=spec, env="Pendulum-v1")
    assert main(["rollout", str(path), "--episodes", "1", "--seed", "0"]) == 0
    capsys.readouterr()
    path = save(ev, tmp_path / "other", spec=spec, env="CartPole-v1")
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and "shape (3,)" in errors[0], errors


def test_explore_rollouts_are_seeded(cartpole_checkpoint):
    _, path = cartpole_checkpoint
    first = [e.episode_reward for e in rollout(path, episodes=2, seed=3, explore=True)]
    again = [e.episode_reward for e in rollout(path, episodes=2, seed=3, explore=True)]
    assert first == again
    assert np.isfinite(first).all()


@pytest.mark.parametrize("where", ["before", "after"])
def test_rollout_framework_takes_a_name_never_the_checkpoint(cartpole_checkpoint, capsys, where):
    """``--framework NAME`` needs its NAME: given before the checkpoint, the checkpoint is not taken
    as the NAME (and then missed); given last without a NAME it is argparse's one error line."""
    _, path = cartpole_checkpoint
    argv = ["rollout", "--framework", str(path.parent)] if where == "before" else ["rollout", str(path), "--framework"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    if where == "before":
        assert "argument --framework: takes a framework name (torch, tf, or another a plugin provides), got " in err
        assert f"{str(path.parent)!r}, a path: give it as --framework NAME, before or after the checkpoint" in err
    else:
        assert "argument --framework: expected one argument" in err


FIXTURE_PPO_TORCH = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "checkpoints" / "0.1.0" / "ppo_torch"


def _without_training_plugins(fresh_registry, monkeypatch) -> None:
    """A registry as with the core alone: the training plugins disabled where they are installed."""
    fresh_registry()
    monkeypatch.setenv("RLCORE_DISABLE_PLUGINS", "algos,torch,tf,optimizers")
    fresh_registry()


def _why_absent(package: str) -> str:
    """What the error says of a first-party plugin that this session lacks or disabled."""
    if importlib.util.find_spec(package) is None:
        return f"not installed; pip install -c constraints.txt ./plugins/{package}"
    return f"its plugin {package.removeprefix('rl_')!r} is disabled by RLCORE_DISABLE_PLUGINS"


def test_rollout_framework_names_every_missing_plugin_at_once(fresh_registry, monkeypatch, capsys):
    _without_training_plugins(fresh_registry, monkeypatch)
    assert main(["rollout", str(FIXTURE_PPO_TORCH), "--episodes", "1", "--framework", "torch"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1, errors
    (error,) = errors
    assert "a PPO trainer of framework 'torch' (asked for here: --framework torch) needs " in error
    assert f"rlcore-algos (the algorithm PPO): {_why_absent('rl_algos')}" in error
    assert f"rlcore-torch (PPO's torch policy): {_why_absent('rl_torch')}" in error
    assert f"rlcore-optimizers (needed by the rlcore-algos trainers): {_why_absent('rl_optimizers')}" in error
    assert "without --framework, rlcore rollout acts with numpy alone" in error


@pytest.mark.parametrize("framework", ["jax", "numpy"])
def test_rollout_framework_without_a_policy_is_the_callers_not_the_checkpoints(
    fresh_registry, monkeypatch, capsys, framework
):
    _without_training_plugins(fresh_registry, monkeypatch)
    assert main(["rollout", str(FIXTURE_PPO_TORCH), "--episodes", "1", "--framework", framework]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert f"(asked for here: --framework {framework})" in error and "it was written by" not in error
    assert f"no installed or first-party plugin has a PPO policy for framework {framework!r}" in error
    assert (
        "frameworks with a PPO policy: tf (plugin rlcore-tf, not here), torch (plugin rlcore-torch, not here)" in error
    )
    assert f"rlcore-algos (the algorithm PPO): {_why_absent('rl_algos')}" in error


@pytest.mark.parametrize("framework", [None, "tf"])
def test_train_restore_names_every_missing_plugin_at_once(fresh_registry, monkeypatch, capsys, tmp_path, framework):
    """``rlcore train --restore`` of a checkpoint whose trainer's plugins are not here: one error
    with each of them (the algorithm's, its trainers' optimizers, the framework's)."""
    _without_training_plugins(fresh_registry, monkeypatch)
    argv = ["train", "--restore", str(FIXTURE_PPO_TORCH), "--local-dir", str(tmp_path)]
    assert main(argv + (["--framework", framework] if framework else [])) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    fw = framework or "torch"
    if framework:
        assert "a PPO trainer of framework 'tf' (asked for here: --framework tf, or the config's framework)" in error
    else:
        assert "the PPO trainer it was written by (env 'CartPole-v1', framework 'torch') needs plugins" in error
    for dist, what, package in [
        ("rlcore-algos", "the algorithm PPO", "rl_algos"),
        ("rlcore-optimizers", "needed by the rlcore-algos trainers", "rl_optimizers"),
        (f"rlcore-{fw}", f"PPO's {fw} policy", f"rl_{fw}"),
    ]:
        assert f"{dist} ({what}): {_why_absent(package)}" in error
    assert "numpy alone" not in error
