"""Composite (Tuple / Dict) action spaces with TensorFlow: the Composite distribution against the
core's numpy sums of the parts, PPO's conformance suite on the kit's Tuple and Dict envs, the
trainer's structured actions through a checkpoint, and DQN's refusal."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import tensorflow as tf
from gymnasium import spaces

import rlcore
from rl_tf.distributions import Composite, make_dist
from rl_tf.ppo import PPOTFPolicy
from rlcore.action_dist import dist_entropy, dist_kl, dist_logp, sample_actions
from rlcore.errors import UnsupportedOperationError
from rlcore.models import ModelCatalog
from rlcore.testing import CompositePolicyContract
from rlcore.testing.envs import register_test_envs

BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 16,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16]},
}

#: Nested parts: a Tuple inside a Dict, a Discrete with a start, a 2-d Box, a 2-d MultiDiscrete.
NESTED = spaces.Dict(
    {
        "arm": spaces.MultiDiscrete([[2, 3], [4, 5]]),
        "move": spaces.Tuple((spaces.Discrete(3, start=-1), spaces.Box(-2.0, 2.0, (2, 2), np.float32))),
    }
)


@pytest.fixture(scope="module", autouse=True)
def _test_envs() -> None:
    register_test_envs()


class TestCompositeContract(CompositePolicyContract):
    """Every conformance check (reference loss included) on the kit's Tuple and Dict action space envs."""

    algorithm = "PPO"
    policy = PPOTFPolicy
    config: ClassVar[dict[str, Any]] = BASE_CONFIG


def test_composite_terms_equal_the_numpy_sums_of_the_parts() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    rng = np.random.default_rng(0)
    p = rng.normal(size=(32, spec.num_outputs)).astype(np.float32)
    q = rng.normal(size=(32, spec.num_outputs)).astype(np.float32)
    acts, _ = sample_actions(spec, p, np.random.default_rng(1))
    dp, dq = make_dist(spec, tf.constant(p)), make_dist(spec, tf.constant(q))
    assert isinstance(dp, Composite)
    np.testing.assert_allclose(dp.logp(tf.constant(acts)).numpy(), dist_logp(spec, p, acts), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dp.entropy().numpy(), dist_entropy(spec, p), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dp.kl(dq).numpy(), dist_kl(spec, p, q), rtol=1e-4, atol=1e-4)
    mode, _ = sample_actions(spec, p, rng, explore=False)
    np.testing.assert_allclose(dp.deterministic_sample().numpy(), mode, rtol=1e-6)
    drawn = dp.sample(tf.random.Generator.from_seed(0))
    assert drawn.shape == (32, spec.action_shape[0]) and np.isfinite(dp.logp(drawn).numpy()).all()


def test_dqn_refuses_a_composite_action_space() -> None:
    with pytest.raises(UnsupportedOperationError, match=r"needs a Discrete action space, got Tuple\(.*use a policy"):
        rlcore.get_algorithm_class("DQN")({"framework": "tf"}, env="TestTupleTarget-v0")
