"""Fixtures of the rl_algos tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlcore


class ParamReturnEnv(gym.Env):
    """One-step episodes with the constant observation [1.0]: the reward is the action itself, so a
    deterministic policy's return is a function of its parameters only (no env randomness)."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1e6, 1e6, (1,), np.float32)

    def __init__(self, config=None):
        super().__init__()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, action):
        return np.ones(1, np.float32), float(np.asarray(action).reshape(-1)[0]), True, False, {}


@pytest.fixture
def param_return_env() -> str:
    """The name of :class:`ParamReturnEnv`, registered with rlcore (ES tests: returns from parameters only)."""
    rlcore.register_env("ESParamReturn-v0", ParamReturnEnv, override=True)
    return "ESParamReturn-v0"
