"""Tests of the example plugin: the rlcore conformance suite, registration, and a little learning.

Run them against the *installed* distribution (``pip install examples/numpy_plugin``), the way a
third-party plugin is tested: the evaluator and env are found through rlcore's registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("rlcore_numpy_example", reason="install the example first: pip install examples/numpy_plugin")

import rlcore
from rlcore.testing import EvaluatorContract, check_evaluator

CONFIG: dict[str, Any] = {"num_envs": 2, "rollout_fragment_length": 16}


def make_evaluator(seed: int, env_creator: Callable[..., Any] | None = None) -> rlcore.PolicyEvaluator:
    """The factory the conformance kit calls: a fresh evaluator looked up by its registry key.

    Module-level, so that cloudpickle can send it to a Ray actor. Accepting ``env_creator`` lets
    the kit also build it on its own continuous test env and assert that this is refused.
    """
    cls = rlcore.get_evaluator_class("PG", "numpy")
    creator = env_creator or rlcore.get_env_creator("NumpyCorridor-v0")
    return cls(creator, {**CONFIG, "seed": seed})


class TestLinearPGContract(EvaluatorContract):
    """Every check of rlcore's evaluator contract, one test each."""

    capabilities = frozenset({"discrete", "gradients", "remote"})

    @pytest.fixture
    def evaluator_factory(self) -> Callable[..., rlcore.PolicyEvaluator]:
        return make_evaluator


def test_check_evaluator_in_one_call() -> None:
    """The same suite as one function call (what ``rlcore check-evaluator`` runs)."""
    passed = check_evaluator(make_evaluator, checks=["sample_schema", "weight_round_trip", "metrics"])
    assert passed == ["sample_schema", "weight_round_trip", "metrics"]


def test_registered_through_the_entry_point() -> None:
    """The plugin's hooks registered the env and the evaluator, with the class's capabilities."""
    from rlcore_numpy_example.evaluator import LinearPGEvaluator

    spec = rlcore.get_spec("evaluator", "PG", "numpy")
    assert spec.plugin == "numpy_example"
    assert spec.distribution == "rlcore-example-numpy"
    assert spec.capabilities == LinearPGEvaluator.capabilities
    assert rlcore.get_evaluator_class("PG", "numpy") is LinearPGEvaluator
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
        ev = rlcore.get_evaluator_class("PG", "numpy")(
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
    ev = rlcore.get_evaluator_class("PG", "numpy")(
        rlcore.get_env_creator("NumpyCorridor-v0"), {"seed": 0, "num_envs": 8, "rollout_fragment_length": 32}
    )
    returns = []
    for _ in range(30):
        ev.learn_on_batch(ev.sample())
        returns.extend(m.episode_reward for m in ev.get_metrics())
    first, last = np.mean(returns[:20]), np.mean(returns[-20:])
    assert last > first + 0.3, (first, last)
    assert last > 0.6, last  # the optimum is 1 - 5 * 0.05 = 0.75
