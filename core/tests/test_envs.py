"""Env registration: custom creators with env_config, gymnasium ids, clear unknown-env errors."""

from __future__ import annotations

import gymnasium as gym
import pytest

import rlcore
from rlcore.errors import UnknownNameError


def test_custom_env_gets_env_config(fresh_registry):
    fresh_registry()
    seen = {}

    def creator(env_config):
        seen.update(env_config)
        return gym.make("CartPole-v1")

    rlcore.register_env("MyCartPole-v0", creator)
    env = rlcore.make_env("MyCartPole-v0", {"size": 3})
    assert seen == {"size": 3} and env.action_space.n == 2


def test_gymnasium_ids_work_as_they_are(fresh_registry):
    fresh_registry()
    env = rlcore.make_env("CartPole-v1", {"max_episode_steps": 7})
    env.reset(seed=0)
    steps = 0
    truncated = terminated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(steps % 2)
        steps += 1
    assert steps <= 7


def test_unknown_env_lists_registered_and_suggests(fresh_registry):
    fresh_registry()
    rlcore.register_env("MyEnv-v0", lambda cfg: None)
    with pytest.raises(UnknownNameError) as exc:
        rlcore.make_env("CartPol-v1")
    msg = str(exc.value)
    assert "unknown env 'CartPol-v1'" in msg and "'CartPole-v1'" in msg and "MyEnv-v0" in msg
    assert "rlcore.register_env" in msg


def test_register_env_rejects_non_callables(fresh_registry):
    fresh_registry()
    with pytest.raises(TypeError, match="callable creator"):
        rlcore.register_env("X-v0", 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["StatelessCartPole-v1", "PixelGrid-v0"])
def test_a_first_party_plugins_env_without_its_plugin_names_the_plugin(fresh_registry, monkeypatch, name):
    """registry.toml knows which distribution provides an env: asking for one whose plugin is not
    here says which and how to get it (not installed: the pip line; disabled: that)."""
    import importlib.util

    fresh_registry()
    monkeypatch.setenv("RLCORE_DISABLE_PLUGINS", "algos")  # as with the core alone where rl_algos is installed
    fresh_registry()
    with pytest.raises(UnknownNameError) as exc:
        rlcore.make_env(name)
    msg = str(exc.value)
    assert msg.startswith(f"unknown env {name!r}: it is provided by the distribution rlcore-algos"), msg
    if importlib.util.find_spec("rl_algos") is None:
        assert "which is not installed; pip install -c constraints.txt ./plugins/rl_algos" in msg
    else:
        assert msg.endswith("but its plugin 'algos' is disabled by RLCORE_DISABLE_PLUGINS"), msg


def test_rollout_of_a_checkpoint_of_a_first_party_plugins_env_names_the_plugin(
    fresh_registry, monkeypatch, tmp_path, capsys
):
    """A format-2 checkpoint acts without its env (rlcore.policy.load), but rlcore rollout makes the
    env: without its plugin, the one error line names the distribution that provides it."""
    from rlcore.cli import main

    from .test_inference import evaluator, save

    fresh_registry()
    monkeypatch.setenv("RLCORE_DISABLE_PLUGINS", "algos")
    fresh_registry()
    path = save(evaluator("CartPole-v1"), tmp_path, env="StatelessCartPole-v1")
    rlcore.policy.load(path).compute_action([0.0, 0.0, 0.0, 0.0])
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert "the env 'StatelessCartPole-v1' it was written for" in error
    assert "unknown env 'StatelessCartPole-v1': it is provided by the distribution rlcore-algos" in error
