"""Tiny deterministic gymnasium environments that ship with the conformance kit.

Each env is a corridor of ``length`` cells: the agent starts in cell 0 and reaches the goal in
the last cell. Every step costs ``step_reward`` (default ``-0.1``); reaching the goal pays
``goal_reward`` (default ``1.0``) and *terminates* the episode; after ``max_episode_steps``
(default ``20``) steps the episode is *truncated* (gymnasium's time-limit semantics), so both
kinds of episode end happen under a random policy. Rewards and transitions are deterministic
given the actions; the only randomness is the optional random start (``random_start=True``,
drawn from ``reset(seed=...)``'s generator).

Each creator takes an ``env_config`` dict (the rlcore convention) with the keys above.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = [
    "COMPOSITE_TEST_ENVS",
    "TEST_ENVS",
    "ContinuousCorridorEnv",
    "CorridorEnv",
    "DictTargetEnv",
    "ImageCorridorEnv",
    "MultiDiscreteCorridorEnv",
    "TupleTargetEnv",
    "make_continuous_corridor",
    "make_corridor",
    "make_dict_target",
    "make_image_corridor",
    "make_multi_discrete_corridor",
    "make_tuple_target",
    "register_test_envs",
]


class _CorridorBase(gym.Env[np.ndarray, Any]):
    """Shared bookkeeping: config, episode clock, reward and end-of-episode logic."""

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        cfg = dict(env_config or {})
        self.length = int(cfg.get("length", 5))
        self.max_episode_steps = int(cfg.get("max_episode_steps", 20))
        self.step_reward = float(cfg.get("step_reward", -0.1))
        self.goal_reward = float(cfg.get("goal_reward", 1.0))
        self.random_start = bool(cfg.get("random_start", False))
        if self.length < 2:
            raise ValueError(f"corridor length must be >= 2, got {self.length}")
        if self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {self.max_episode_steps}")
        self.pos = 0.0
        self.t = 0

    def _start(self) -> float:
        if self.random_start:
            return float(self.np_random.integers(0, self.length - 1))
        return 0.0

    def _advance(self, delta: float) -> tuple[float, bool, bool]:
        """Move by ``delta`` (clipped to the corridor); returns (reward, terminated, truncated)."""
        self.pos = float(np.clip(self.pos + delta, 0.0, self.length - 1))
        self.t += 1
        terminated = self.pos >= self.length - 1
        truncated = (not terminated) and self.t >= self.max_episode_steps
        reward = self.step_reward + (self.goal_reward if terminated else 0.0)
        return reward, terminated, truncated


class CorridorEnv(_CorridorBase):
    """Discrete corridor: ``Discrete(2)`` actions (0 = left, 1 = right), one-hot ``float32`` obs.

    ``observation_space`` is ``Box(0, 1, (length,), float32)``: the one-hot cell of the agent.
    """

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__(env_config)
        self.observation_space = spaces.Box(0.0, 1.0, (self.length,), np.float32)
        self.action_space = spaces.Discrete(2)

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, dtype=np.float32)
        obs[int(self.pos)] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start a new episode in cell 0 (or a random cell with ``random_start``)."""
        super().reset(seed=seed)
        self.pos, self.t = self._start(), 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Move one cell left (0) or right (1)."""
        if not self.action_space.contains(action):
            raise ValueError(f"CorridorEnv: action {action!r} is not in {self.action_space}")
        reward, terminated, truncated = self._advance(1.0 if int(action) == 1 else -1.0)
        return self._obs(), reward, terminated, truncated, {}


class ContinuousCorridorEnv(_CorridorBase):
    """Continuous corridor: ``Box(-1, 1, (1,))`` actions move the agent by that much.

    ``observation_space`` is ``Box(0, 1, (2,), float32)``: ``[position / (length - 1), t / max_steps]``.
    """

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__(env_config)
        self.observation_space = spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def _obs(self) -> np.ndarray:
        return np.array([self.pos / (self.length - 1), self.t / self.max_episode_steps], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start a new episode at position 0 (or a random cell with ``random_start``)."""
        super().reset(seed=seed)
        self.pos, self.t = self._start(), 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Move by ``clip(action[0], -1, 1)``."""
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (1,) or not np.all(np.isfinite(a)):
            raise ValueError(f"ContinuousCorridorEnv: action {action!r} must be one finite number")
        reward, terminated, truncated = self._advance(float(np.clip(a[0], -1.0, 1.0)))
        return self._obs(), reward, terminated, truncated, {}


class ImageCorridorEnv(CorridorEnv):
    """The discrete corridor seen as a ``uint8`` image ``[height, length, 1]`` (agent column = 255).

    Extra ``env_config`` key: ``height`` (default 4). For evaluators with vision models.
    """

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__(env_config)
        self.height = int(dict(env_config or {}).get("height", 4))
        self.observation_space = spaces.Box(0, 255, (self.height, self.length, 1), np.uint8)

    def _obs(self) -> np.ndarray:
        img = np.zeros((self.height, self.length, 1), dtype=np.uint8)
        img[:, int(self.pos), 0] = 255
        return img


class MultiDiscreteCorridorEnv(CorridorEnv):
    """The discrete corridor with ``MultiDiscrete([2, 3])`` actions: the first picks the direction."""

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__(env_config)
        self.action_space = spaces.MultiDiscrete([2, 3])

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move right when ``action[0] == 1``, else left (the second component is ignored)."""
        assert self.action_space.contains(np.asarray(action)), action
        reward, terminated, truncated = self._advance(1.0 if int(action[0]) == 1 else -1.0)
        return self._obs(), reward, terminated, truncated, {}


class TupleTargetEnv(gym.Env[np.ndarray, Any]):
    """A composite-action env: ``Tuple(Discrete(2), Box(-1, 1, (2,)))`` actions, both parts matter.

    Each step shows a target bit and a target point: the observation is ``Box(-1, 1, (3,))``
    ``[2 * bit - 1, x, y]`` (bit and point drawn anew every step from ``reset(seed=...)``'s
    generator). The reward is ``1`` when the Discrete part equals the bit, minus the Euclidean
    distance of the Box part (clipped to its bounds) to the point: at most 1 per step, about
    ``-0.6`` for a random policy. Episodes last ``episode_len`` steps (``env_config``, default 5)
    and end *terminated*. A Discrete-only or Box-only policy cannot score well: the return needs both.
    """

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        cfg = dict(env_config or {})
        self.episode_len = int(cfg.get("episode_len", 5))
        if self.episode_len < 1:
            raise ValueError(f"episode_len must be >= 1, got {self.episode_len}")
        self.observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space: spaces.Space[Any] = spaces.Tuple(
            (spaces.Discrete(2), spaces.Box(-1.0, 1.0, (2,), np.float32))
        )
        self.t = 0
        self.bit = 0
        self.point = np.zeros(2, np.float32)

    def _draw(self) -> np.ndarray:
        self.bit = int(self.np_random.integers(0, 2))
        self.point = self.np_random.uniform(-0.8, 0.8, 2).astype(np.float32)
        return np.array([2.0 * self.bit - 1.0, *self.point], dtype=np.float32)

    def _parts(self, action: Any) -> tuple[Any, Any]:
        return action[0], action[1]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode: a new target."""
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Reward ``[choice == bit] - |point - target|``, then a new target."""
        if not self.action_space.contains(action):
            raise ValueError(f"{type(self).__name__}: action {action!r} is not in {self.action_space}")
        choice, point = self._parts(action)
        dist = float(np.linalg.norm(np.clip(np.asarray(point, np.float64), -1.0, 1.0) - self.point))
        reward = float(int(choice) == self.bit) - dist
        self.t += 1
        return self._draw(), reward, self.t >= self.episode_len, False, {}


class DictTargetEnv(TupleTargetEnv):
    """:class:`TupleTargetEnv` with a ``Dict(choice=Discrete(2), point=Box(-1, 1, (2,)))`` action space."""

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__(env_config)
        self.action_space = spaces.Dict(
            {"choice": spaces.Discrete(2), "point": spaces.Box(-1.0, 1.0, (2,), np.float32)}
        )

    def _parts(self, action: Any) -> tuple[Any, Any]:
        return action["choice"], action["point"]


def make_tuple_target(env_config: dict[str, Any] | None = None) -> TupleTargetEnv:
    """Creator of :class:`TupleTargetEnv` (``Tuple(Discrete(2), Box(-1, 1, (2,)))`` actions)."""
    return TupleTargetEnv(env_config)


def make_dict_target(env_config: dict[str, Any] | None = None) -> DictTargetEnv:
    """Creator of :class:`DictTargetEnv` (``Dict(choice=Discrete(2), point=Box(-1, 1, (2,)))`` actions)."""
    return DictTargetEnv(env_config)


def make_corridor(env_config: dict[str, Any] | None = None) -> CorridorEnv:
    """Creator of :class:`CorridorEnv` (discrete actions)."""
    return CorridorEnv(env_config)


def make_continuous_corridor(env_config: dict[str, Any] | None = None) -> ContinuousCorridorEnv:
    """Creator of :class:`ContinuousCorridorEnv` (``Box`` actions)."""
    return ContinuousCorridorEnv(env_config)


def make_multi_discrete_corridor(env_config: dict[str, Any] | None = None) -> MultiDiscreteCorridorEnv:
    """Creator of :class:`MultiDiscreteCorridorEnv` (``MultiDiscrete`` actions)."""
    return MultiDiscreteCorridorEnv(env_config)


def make_image_corridor(env_config: dict[str, Any] | None = None) -> ImageCorridorEnv:
    """Creator of :class:`ImageCorridorEnv` (image observations, discrete actions)."""
    return ImageCorridorEnv(env_config)


#: Test env ids -> creators (``creator(env_config) -> gymnasium.Env``).
TEST_ENVS: dict[str, Callable[[dict[str, Any] | None], gym.Env]] = {
    "TestCorridor-v0": make_corridor,
    "TestContinuousCorridor-v0": make_continuous_corridor,
    "TestImageCorridor-v0": make_image_corridor,
    "TestMultiDiscreteCorridor-v0": make_multi_discrete_corridor,
}

#: Composite-action test env ids -> creators (Tuple and Dict action spaces; not corridors).
COMPOSITE_TEST_ENVS: dict[str, Callable[[dict[str, Any] | None], gym.Env]] = {
    "TestTupleTarget-v0": make_tuple_target,
    "TestDictTarget-v0": make_dict_target,
}


def register_test_envs(*, override: bool = True) -> None:
    """Register :data:`TEST_ENVS` and :data:`COMPOSITE_TEST_ENVS` with rlcore
    (``rlcore.make_env("TestCorridor-v0")`` then works)."""
    from rlcore.envs import register_env

    for name, creator in {**TEST_ENVS, **COMPOSITE_TEST_ENVS}.items():
        register_env(name, creator, summary=(creator.__doc__ or "").strip().splitlines()[0], override=override)
