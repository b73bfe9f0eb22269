"""The AsyncOptimizer under A3C with real torch policies on two Ray workers: a gradient whose loss
is not finite (exploding rewards) is refused in the worker, named by its loss term, with the
learner's weights unchanged; with ``ignore_worker_failures`` it is counted, and a worker that
keeps failing still stops training with its error."""

from __future__ import annotations

import sys
from typing import Any

import gymnasium
import numpy as np
import pytest

from rl_algos.a3c import A3C
from rlcore import register_env
from rlcore.errors import NonFiniteLossError

ENV = "ExplodingRewardsCartPole-v0"
CONFIG = {"framework": "torch", "num_workers": 2, "grads_per_step": 6, "model": {"fcnet_hiddens": [16]}, "seed": 0}


class ExplodingRewards(gymnasium.Wrapper):
    """CartPole whose rewards are 1e30: finite, but the squared value error overflows float32."""

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, float(reward) * 1e30, terminated, truncated, info


def exploding_rewards(env_config: dict[str, Any]) -> gymnasium.Env:
    return ExplodingRewards(gymnasium.make("CartPole-v1"))


@pytest.fixture
def by_value(ray_session: Any) -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    register_env(ENV, exploding_rewards, override=True)


@pytest.mark.ray
@pytest.mark.reliability
def test_a_nonfinite_loss_in_a_worker_is_refused_naming_the_term_weights_unchanged(by_value: None):
    with A3C(CONFIG, env=ENV) as trainer:
        before = trainer.workers.local_evaluator.get_weights()
        with pytest.raises(NonFiniteLossError) as info:
            trainer.train()
        assert "'vf_loss'" in str(info.value), str(info.value)
        assert info.value.__notes__[0].startswith("(raised in remote worker ")
        after = trainer.workers.local_evaluator.get_weights()
        assert all(np.array_equal(before[k], after[k]) for k in before)
        assert trainer.workers.num_in_flight() == 0 and trainer.workers.num_failures == 0

    config = {**CONFIG, "ignore_worker_failures": True}
    with A3C(config, env=ENV) as trainer, pytest.warns(UserWarning, match="vf_loss"):
        with pytest.raises(NonFiniteLossError) as info:  # every gradient is refused: still stops
            trainer.train()
        assert "times in a row, more than max_worker_errors_in_a_row=3" in info.value.__notes__[-1]
        assert 4 <= trainer.optimizer.stats()["num_worker_errors"] <= 7  # the first worker past 3 in a row stops it
        assert trainer.optimizer.stats()["num_gradients_applied"] == 0
