"""Composite (Tuple / Dict) action spaces with torch: the Composite distribution against the core's
numpy sums of the parts, PPO's conformance suite on the kit's Tuple and Dict envs, the trainer's
structured actions, checkpoints and `rlcore rollout`, DQN's refusal. PPO learning the Tuple env in
both frameworks: tests/test_learning_composite.py."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from gymnasium import spaces

import rlcore
from rl_torch.distributions import Composite, make_dist
from rl_torch.ppo import PPOTorchPolicy
from rlcore.action_dist import dist_entropy, dist_kl, dist_logp, sample_actions
from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.models import ModelCatalog
from rlcore.testing import CompositePolicyContract
from rlcore.testing.envs import register_test_envs

BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 16,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16]},
}

NESTED = spaces.Dict(
    {
        "move": spaces.Tuple((spaces.Discrete(3, start=-1), spaces.Box(-2.0, 2.0, (2, 2), np.float32))),
        "arm": spaces.MultiDiscrete([[2, 3], [4, 5]]),
    }
)


@pytest.fixture(scope="module", autouse=True)
def _test_envs() -> None:
    register_test_envs()


class TestCompositeContract(CompositePolicyContract):
    """Every conformance check (reference loss included) on the kit's Tuple and Dict action space envs."""

    algorithm = "PPO"
    policy = PPOTorchPolicy
    config: ClassVar[dict[str, Any]] = BASE_CONFIG


def test_composite_logp_entropy_kl_are_the_numpy_sums_of_the_parts() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(32, spec.num_outputs)), rng.normal(size=(32, spec.num_outputs))
    acts, logp = sample_actions(spec, p, np.random.default_rng(1))
    dp, dq = make_dist(spec, torch.tensor(p)), make_dist(spec, torch.tensor(q))
    assert isinstance(dp, Composite)
    np.testing.assert_allclose(dp.logp(torch.tensor(acts)).numpy(), dist_logp(spec, p, acts), rtol=1e-6)
    np.testing.assert_allclose(dp.logp(torch.tensor(acts)).numpy(), logp, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dp.entropy().numpy(), dist_entropy(spec, p), rtol=1e-6)
    np.testing.assert_allclose(dp.kl(dq).numpy(), dist_kl(spec, p, q), rtol=1e-6)
    mode, _ = sample_actions(spec, p, rng, explore=False)
    np.testing.assert_allclose(dp.deterministic_sample().numpy(), mode, rtol=1e-6)
    drawn = dp.sample(torch.Generator().manual_seed(0))
    assert drawn.shape == (32, spec.action_shape[0]) and torch.isfinite(dp.logp(drawn)).all()


def test_dqn_refuses_a_composite_action_space() -> None:
    with pytest.raises(UnsupportedOperationError, match=r"needs a Discrete action space, got Tuple\(.*use a policy"):
        rlcore.get_algorithm_class("DQN")({"framework": "torch"}, env="TestTupleTarget-v0")


def test_free_log_std_is_refused_for_a_composite_action_space() -> None:
    with pytest.raises(ConfigError, match=r"free_log_std=True needs a Box action space; Tuple\(.*'composite'"):
        rlcore.get_algorithm_class("PPO")({"model": {"free_log_std": True}}, env="TestTupleTarget-v0")
