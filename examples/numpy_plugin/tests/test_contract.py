"""Tests of the example plugin: the rlcore conformance suites (the policy and the whole evaluator),
registration, and a little learning through the PG algorithm.

Run them against the *installed* distribution (``pip install examples/numpy_plugin``), the way a
third-party plugin is tested: the evaluator and env are found through rlcore's registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest

pytest.importorskip("rlcore_numpy_example", reason="install the example first: pip install examples/numpy_plugin")

import rlcore
from rlcore.testing import EvaluatorContract, PolicyContract, check_evaluator

CONFIG: dict[str, Any] = {"num_envs": 2, "rollout_fragment_length": 16}


def make_evaluator(seed: int, env_creator: Callable[..., Any] | None = None) -> rlcore.PolicyEvaluator:
    """The factory the conformance kit calls: a fresh evaluator looked up by its registry key.

    Module-level, so that cloudpickle can send it to a Ray actor. Accepting ``env_creator`` lets
    the kit also build it on its own continuous test env and assert that this is refused.
    """
    cls = rlcore.get_evaluator_class("PG", "numpy_whole")
    creator = env_creator or rlcore.get_env_creator("NumpyCorridor-v0")
    return cls(creator, {**CONFIG, "seed": seed})


class TestLinearPGPolicy(PolicyContract):
    """Every check of rlcore's policy contract: the numpy policy inside the core's rollout evaluator
    with the PG algorithm's postprocessing (every evaluator check too), one test each."""

    algorithm = "PG"
    policy = "rlcore_numpy_example.policy:LinearPGPolicy"
    config: ClassVar[dict[str, Any]] = {"num_envs": 2, "rollout_fragment_length": 16}
    composite_actions = False  # Discrete actions only: the kit asserts it refuses Tuple/Dict spaces


class TestLinearPGContract(EvaluatorContract):
    """Every check of rlcore's evaluator contract on the whole evaluator, one test each."""

    capabilities = frozenset({"discrete", "gradients", "remote"})
    composite_actions = False  # Discrete actions only: the kit asserts it refuses Tuple/Dict spaces

    @pytest.fixture
    def evaluator_factory(self) -> Callable[..., rlcore.PolicyEvaluator]:
        return make_evaluator


def test_check_evaluator_in_one_call() -> None:
    """The same suite as one function call (what ``rlcore check-evaluator`` runs)."""
    passed = check_evaluator(make_evaluator, checks=["sample_schema", "weight_round_trip", "metrics"])
    assert passed == ["sample_schema", "weight_round_trip", "metrics"]


def test_registered_through_the_entry_point() -> None:
    """The plugin's hooks registered the env, the policy, the algorithm and the whole evaluator."""
    from rlcore_numpy_example.algorithm import PG
    from rlcore_numpy_example.evaluator import LinearPGEvaluator
    from rlcore_numpy_example.policy import LinearPGPolicy

    spec = rlcore.get_spec("evaluator", "PG", "numpy_whole")
    assert spec.plugin == "numpy_example"
    assert spec.distribution == "rlcore-example-numpy"
    assert spec.capabilities == LinearPGEvaluator.capabilities
    assert rlcore.get_evaluator_class("PG", "numpy_whole") is LinearPGEvaluator
    assert rlcore.get_policy_class("PG", "numpy") is LinearPGPolicy
    assert rlcore.get_spec("policy", "PG", "numpy").capabilities == LinearPGPolicy.capabilities
    assert rlcore.get_algorithm_class("PG") is PG
    env = rlcore.make_env("NumpyCorridor-v0", {"length": 4})
    assert env.observation_space.shape == (4,)


def test_truncation_bootstraps_and_termination_does_not() -> None:
    """value_targets = r + gamma * V(final obs) on truncation, = r on termination."""
    creator = rlcore.get_env_creator("NumpyCorridor-v0")
    gamma = 0.9
    for env_config, done_col, bootstrap in (
        ({"length": 6, "max_episode_steps": 1}, "truncateds", True),
        ({"length": 2, "max_episode_steps": 5}, "terminateds", False),
    ):
        ev = rlcore.get_evaluator_class("PG", "numpy_whole")(
            creator, {"seed": 0, "num_envs": 2, "rollout_fragment_length": 4, "gamma": gamma, "env_config": env_config}
        )
        w = ev.get_weights()
        w["vf/kernel"][:] = 0.5  # V(s) = 0.5 for every one-hot observation
        w["pi/bias"][:] = [-50.0, 50.0]  # always walk right
        ev.set_weights(w)
        batch = ev.sample()
        assert batch[done_col].all()
        expected = batch["rewards"] + (gamma * 0.5 if bootstrap else 0.0)
        np.testing.assert_allclose(batch["value_targets"], expected, rtol=1e-6)


def test_it_learns_a_little() -> None:
    """Mean episode return on the corridor improves within a few dozen iterations (well under a second)."""
    ev = rlcore.get_evaluator_class("PG", "numpy_whole")(
        rlcore.get_env_creator("NumpyCorridor-v0"), {"seed": 0, "num_envs": 8, "rollout_fragment_length": 32}
    )
    returns = []
    for _ in range(30):
        ev.learn_on_batch(ev.sample())
        returns.extend(m.episode_reward for m in ev.get_metrics())
    first, last = np.mean(returns[:20]), np.mean(returns[-20:])
    assert last > first + 0.3, (first, last)
    assert last > 0.6, last  # the optimum is 1 - 5 * 0.05 = 0.75


@pytest.mark.parametrize("framework", ["numpy", "numpy_whole"])
def test_the_pg_algorithm_learns_with_the_policy_and_with_the_whole_evaluator(framework: str) -> None:
    """The PG trainer (rlcore's Trainer, LocalSyncOptimizer) learns the corridor either way."""
    trainer = rlcore.get_algorithm_class("PG")({"framework": framework, "seed": 0}, env="NumpyCorridor-v0")
    try:
        first = trainer.train()["episode_reward_mean"]
        for _ in range(15):
            result = trainer.train()
    finally:
        trainer.stop()
    assert result["episode_reward_mean"] > max(first + 0.3, 0.6), (first, result["episode_reward_mean"])


def test_a_bad_config_value_is_refused_naming_the_key() -> None:
    with pytest.raises(rlcore.ConfigError, match=r"PG config key 'lr' is out of range"):
        rlcore.get_algorithm_class("PG")({"lr": -1.0}, env="NumpyCorridor-v0")
