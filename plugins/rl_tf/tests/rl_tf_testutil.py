"""Evaluator factories shared by rl_tf's tests (a module, so Ray can receive them by value)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlcore.testing.envs import make_continuous_corridor, make_corridor

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


#: Small DQN nets: [16] trunk, [16] head; lr high enough that a few steps visibly lower the loss.
DQN_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 8,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16]},
    "hiddens": [16],
}


@dataclass
class DQNFactory:
    """``factory(seed, env_creator=None) -> DQNTFEvaluator`` on ``env`` with ``DQN_CONFIG | config``."""

    env: Callable[..., Any] = make_corridor
    config: dict[str, Any] = field(default_factory=dict)

    def __call__(self, seed: int, env_creator: Callable[..., Any] | None = None) -> Any:
        from rl_tf.dqn import DQNTFEvaluator

        return DQNTFEvaluator(env_creator or self.env, {**DQN_CONFIG, **self.config, "seed": seed})
