"""The rlcore plugin of rlcore-algos. Imports no framework and no Ray."""

from __future__ import annotations

from rlcore import hookimpl


@hookimpl
def rlcore_register_algorithms(register):
    """Register the algorithms of this distribution (lazy targets)."""
    register("PPO", "rl_algos.ppo:PPO", summary="Proximal Policy Optimization (clipped surrogate, adaptive KL)")
    register("DQN", "rl_algos.dqn:DQN", summary="DQN with double Q, dueling heads, n-step and prioritized replay")
