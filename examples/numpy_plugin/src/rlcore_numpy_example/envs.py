"""The example's environment: a corridor where walking right reaches the goal."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class NumpyCorridor(gym.Env[np.ndarray, np.int64]):
    """``length`` cells; start in cell 0; action 1 moves right, 0 moves left.

    Each step costs 0.05; reaching the last cell pays 1.0 and terminates; after
    ``max_episode_steps`` steps the episode is truncated. Observations are the one-hot cell
    (``float32``). ``env_config`` keys: ``length`` (6), ``max_episode_steps`` (25).
    """

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        cfg = dict(env_config or {})
        self.length = int(cfg.get("length", 6))
        self.max_episode_steps = int(cfg.get("max_episode_steps", 25))
        self.observation_space = spaces.Box(0.0, 1.0, (self.length,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.pos = 0
        self.t = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, dtype=np.float32)
        obs[self.pos] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Back to cell 0."""
        super().reset(seed=seed)
        self.pos, self.t = 0, 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Move one cell; see the class docstring for rewards and episode ends."""
        self.pos = int(np.clip(self.pos + (1 if int(action) == 1 else -1), 0, self.length - 1))
        self.t += 1
        terminated = self.pos == self.length - 1
        truncated = not terminated and self.t >= self.max_episode_steps
        reward = -0.05 + (1.0 if terminated else 0.0)
        return self._obs(), reward, terminated, truncated, {}


def make_corridor(env_config: dict[str, Any] | None = None) -> NumpyCorridor:
    """Env creator (``creator(env_config) -> gymnasium.Env``), the form rlcore registers."""
    return NumpyCorridor(env_config)
