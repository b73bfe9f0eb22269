"""Evaluator factories shared by rl_tf's tests (a module, so Ray can receive them by value)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from rlcore.testing.envs import CorridorEnv, make_continuous_corridor, make_corridor

#: Small models keep the suite fast; lr is high enough that a few steps visibly lower the loss.
BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 16,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16, 16]},
}


@dataclass
class PPOFactory:
    """``factory(seed, env_creator=None) -> PPOTFEvaluator`` on ``env`` with ``BASE_CONFIG | config``."""

    env: Callable[..., Any] = make_corridor
    config: dict[str, Any] = field(default_factory=dict)

    def __call__(self, seed: int, env_creator: Callable[..., Any] | None = None) -> Any:
        from rl_tf.ppo import PPOTFEvaluator

        return PPOTFEvaluator(env_creator or self.env, {**BASE_CONFIG, **self.config, "seed": seed})


def discrete_factory() -> PPOFactory:
    """PPO on the kit's discrete corridor."""
    return PPOFactory(make_corridor)


def continuous_factory() -> PPOFactory:
    """PPO on the kit's continuous corridor, clipped value loss, gradient clipping, entropy bonus."""
    return PPOFactory(make_continuous_corridor, {"vf_clip_param": 1.0, "grad_clip": 0.5, "entropy_coeff": 0.01})


class MultiDiscreteCorridor(CorridorEnv):
    """The discrete corridor with ``MultiDiscrete([2, 3])`` actions: the first picks the direction."""

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__(env_config)
        self.action_space = spaces.MultiDiscrete([2, 3])  # type: ignore[assignment]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Move right when ``action[0] == 1``, else left."""
        assert self.action_space.contains(np.asarray(action)), action
        reward, terminated, truncated = self._advance(1.0 if int(action[0]) == 1 else -1.0)
        return self._obs(), reward, terminated, truncated, {}


def make_multi_discrete_corridor(env_config: dict[str, Any] | None = None) -> MultiDiscreteCorridor:
    """Creator of :class:`MultiDiscreteCorridor`."""
    return MultiDiscreteCorridor(env_config)
