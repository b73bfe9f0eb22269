"""Evaluator factories shared by rl_tf's tests (a module, so Ray can receive them by value).

Each factory builds the core's :class:`~rlcore.rollout_evaluator.RolloutEvaluator` around an rl_tf
policy with rl_algos' postprocessing and the algorithm's complete default config (rl_algos'
schema) plus small overrides; the policy is ``ev.policy``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlcore.testing.envs import make_corridor

PPO_POSTPROCESS = "rl_algos.ppo.postprocessing:postprocess_ppo"
DQN_POSTPROCESS = "rl_algos.dqn.postprocessing:postprocess_dqn"

#: Small models keep the suite fast; lr is high enough that a few steps visibly lower the loss.
BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 16,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16, 16]},
}


def ppo_config(**overrides: Any) -> dict[str, Any]:
    """PPO's complete default config (rl_algos' schema) with ``BASE_CONFIG`` and ``overrides``."""
    import rl_algos.ppo

    return {**rl_algos.ppo.DEFAULT_CONFIG, **BASE_CONFIG, **overrides}


@dataclass
class PPOFactory:
    """``factory(seed, env_creator=None) -> RolloutEvaluator`` with a PPOTFPolicy on ``env``."""

    env: Callable[..., Any] = make_corridor
    config: dict[str, Any] = field(default_factory=dict)

    def __call__(self, seed: int, env_creator: Callable[..., Any] | None = None) -> Any:
        from rl_tf.ppo import PPOTFPolicy
        from rlcore.rollout_evaluator import RolloutEvaluator

        return RolloutEvaluator(
            env_creator or self.env,
            ppo_config(**self.config, seed=seed),
            policy=PPOTFPolicy,
            postprocess=PPO_POSTPROCESS,
        )


#: Small DQN nets: [16] trunk, [16] head; lr high enough that a few steps visibly lower the loss.
DQN_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 8,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16]},
    "hiddens": [16],
}


def dqn_config(**overrides: Any) -> dict[str, Any]:
    """DQN's complete default config (rl_algos' schema) with ``DQN_CONFIG`` and ``overrides``."""
    import rl_algos.dqn

    return {**rl_algos.dqn.DEFAULT_CONFIG, **DQN_CONFIG, **overrides}


@dataclass
class DQNFactory:
    """``factory(seed, env_creator=None) -> RolloutEvaluator`` with a DQNTFPolicy on ``env``."""

    env: Callable[..., Any] = make_corridor
    config: dict[str, Any] = field(default_factory=dict)

    def __call__(self, seed: int, env_creator: Callable[..., Any] | None = None) -> Any:
        from rl_tf.dqn import DQNTFPolicy
        from rlcore.rollout_evaluator import RolloutEvaluator

        return RolloutEvaluator(
            env_creator or self.env,
            dqn_config(**self.config, seed=seed),
            policy=DQNTFPolicy,
            postprocess=DQN_POSTPROCESS,
        )


def weights_close(a: dict[str, Any], b: dict[str, Any], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Assert two weight (or moment) dicts have the same names, in order, and close arrays."""
    import numpy as np

    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def shifted(ev: Any, scale: float = 0.3, seed: int = 5) -> None:
    """Move the evaluator's weights away from the ones that sampled (ratios != 1, clips engage)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ev.set_weights(
        {k: v + scale * rng.standard_normal(v.shape).astype(np.float32) for k, v in ev.get_weights().items()}
    )


def poisoned(batch: Any, column: str, row: int = 3) -> Any:
    """A copy of ``batch`` with a NaN at ``row`` of ``column``."""
    import numpy as np

    bad = batch.copy()
    col = np.array(bad[column], dtype=np.float32, copy=True)
    col[row] = np.nan
    bad[column] = col
    return bad
