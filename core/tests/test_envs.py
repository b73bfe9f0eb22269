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
