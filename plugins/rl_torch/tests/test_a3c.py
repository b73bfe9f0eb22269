"""A3CTorchPolicy: rlcore's policy conformance suite (inside the rollout evaluator with A3C's GAE
postprocessing) on discrete, continuous and composite action spaces, plus A3C specifics (loss vs
rl_algos' numpy reference a3c_loss, global-norm clip then Adam, compute + apply == learn, NaN
guard, the registration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
from rl_torch_testutil import assert_learn_is_global_norm_clip_then_torch_adam, assert_weights_close, shifted

import rlcore
from rl_algos.a3c.reference_loss import a3c_loss
from rl_torch import plugin
from rl_torch.a3c import INFO_KEYS, A3CTorchPolicy
from rl_torch.actor_critic import ActorCriticTorchPolicy
from rl_torch.models import VisionNetwork
from rlcore.errors import NonFiniteLossError, SampleBatchError
from rlcore.rollout_evaluator import RolloutEvaluator
from rlcore.testing import CompositePolicyContract, PolicyContract, RegisteredEvaluatorFactory, check_evaluator
from rlcore.testing.envs import (
    make_continuous_corridor,
    make_corridor,
    make_image_corridor,
    make_multi_discrete_corridor,
    register_test_envs,
)
from rlcore.testing.policies import PolicyEvaluatorFactory

#: Small models keep the suite fast; lr is high enough that a few steps visibly lower the loss.
BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 16,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16, 16]},
}
CONTINUOUS: dict[str, Any] = {"grad_clip": 0.5, "entropy_coeff": 0.01, "lambda": 0.95}


def Factory(env: Callable[..., Any] = make_corridor, config: dict[str, Any] | None = None) -> PolicyEvaluatorFactory:
    """The rollout evaluator around A3CTorchPolicy with A3C's postprocessing and defaults, on ``env``
    with ``BASE_CONFIG | config``."""
    return PolicyEvaluatorFactory("A3C", A3CTorchPolicy, env, {**BASE_CONFIG, **(config or {})})


@pytest.fixture(scope="module", autouse=True)
def _test_envs() -> None:
    register_test_envs()


class TestDiscreteContract(PolicyContract):
    """Every conformance check on the kit's discrete corridor (weights exchanged with a second evaluator)."""

    algorithm = "A3C"
    policy = A3CTorchPolicy
    config: ClassVar[dict[str, Any]] = BASE_CONFIG

    @pytest.fixture
    def other_evaluator_factory(self) -> PolicyEvaluatorFactory:
        return Factory(make_corridor, {"num_envs": 1})


class TestContinuousContract(PolicyContract):
    """Every conformance check on the continuous corridor (grad clip, entropy bonus, GAE lambda)."""

    algorithm = "A3C"
    policy = A3CTorchPolicy
    env = make_continuous_corridor
    config: ClassVar[dict[str, Any]] = {**BASE_CONFIG, **CONTINUOUS}


class TestMultiDiscreteContract(PolicyContract):
    """Every conformance check on the MultiDiscrete corridor."""

    algorithm = "A3C"
    policy = A3CTorchPolicy
    env = make_multi_discrete_corridor
    config: ClassVar[dict[str, Any]] = BASE_CONFIG


class TestCompositeContract(CompositePolicyContract):
    """Every conformance check (reference loss included) on the kit's Tuple and Dict action space envs."""

    algorithm = "A3C"
    policy = A3CTorchPolicy
    config: ClassVar[dict[str, Any]] = {**BASE_CONFIG, "model": {"fcnet_hiddens": [16]}}


def test_the_registered_evaluator_passes_the_kit() -> None:
    """What a trainer builds for ("A3C", "torch"): the rollout evaluator around the registered policy."""
    factory = RegisteredEvaluatorFactory("A3C", "torch", config={"model": {"fcnet_hiddens": [8]}})
    assert check_evaluator(factory)  # raises AssertionError naming every failed check
    ev = factory(0)
    assert isinstance(ev, RolloutEvaluator) and type(ev.policy) is A3CTorchPolicy


def test_registered_through_the_plugin() -> None:
    assert rlcore.get_policy_class("A3C", "torch") is A3CTorchPolicy
    spec = rlcore.get_spec("policy", "A3C", "torch")
    assert spec.capabilities == A3CTorchPolicy.capabilities == frozenset(plugin.A3C_CAPABILITIES)
    assert issubclass(A3CTorchPolicy, ActorCriticTorchPolicy)


# --------------------------------------------------------------------------- loss
@pytest.mark.parametrize(
    ("env", "config"),
    [
        (make_corridor, {"entropy_coeff": 0.05, "vf_loss_coeff": 0.25}),
        (make_corridor, {"entropy_coeff": 0.0}),  # the entropy is reported, not differentiated
        (make_continuous_corridor, CONTINUOUS),
        (make_continuous_corridor, {"model": {"fcnet_hiddens": [16], "free_log_std": True}}),
        (make_multi_discrete_corridor, {"entropy_coeff": 0.01}),
    ],
)
def test_loss_terms_match_numpy_reference(env: Callable[..., Any], config: dict[str, Any]) -> None:
    ev = Factory(env, config)(0)
    batch = ev.sample()
    shifted(ev)
    _, info = ev.compute_gradients(batch)
    ref = a3c_loss(ev.policy, batch)
    assert list(info) == list(INFO_KEYS) and all(type(v) is float for v in info.values())
    assert np.abs(batch["advantages"]).min() > 0 and info["policy_loss"] != 0.0
    for k, v in ref.items():
        assert info[k] == pytest.approx(v, rel=1e-4, abs=1e-5), k
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    assert info["grad_norm"] > 0


def test_entropy_coeff_adds_the_bonus_to_the_gradient() -> None:
    with_bonus, without = Factory(make_corridor, {"entropy_coeff": 0.5})(0), Factory(make_corridor)(0)
    batch = with_bonus.sample()
    without.set_weights(with_bonus.get_weights())
    a, info = with_bonus.compute_gradients(batch)
    b, _ = without.compute_gradients(batch)
    assert info["entropy"] > 0 and not np.allclose(a["logits/kernel"], b["logits/kernel"])
    np.testing.assert_allclose(a["value/kernel"], b["value/kernel"], rtol=1e-6)  # the entropy ignores the value


# --------------------------------------------------------------------------- optimizer
def test_learn_is_global_norm_clip_then_torch_adam() -> None:
    assert_learn_is_global_norm_clip_then_torch_adam(
        Factory(make_corridor, {"grad_clip": 0.05, "adam_epsilon": 1.0, "lr": 0.1})
    )


@pytest.mark.parametrize("grad_clip", [0.01, None])
def test_compute_then_apply_equals_learn_on_batch(grad_clip: float | None) -> None:
    """The async path (gradients on a worker, applied on the learner) steps as the fused one."""
    worker, learner, fused = (
        Factory(make_continuous_corridor, {**CONTINUOUS, "grad_clip": grad_clip})(0) for _ in "abc"
    )
    for _ in range(3):
        batch = worker.sample()
        grads, info = worker.compute_gradients(batch)
        learner.apply_gradients(grads)
        assert fused.learn_on_batch(batch) == pytest.approx(info, rel=1e-5)
        assert_weights_close(learner.get_weights(), fused.get_weights())
        worker.set_weights(learner.get_weights())


def test_lr_schedule_sets_adams_learning_rate() -> None:
    ev = Factory(make_corridor, {"lr_schedule": [[0, 0.01], [100, 0.001]]})(0)
    assert ev.policy._adam.lr == pytest.approx(0.01)
    ev.set_global_vars({"timestep": 50})
    assert ev.policy._adam.lr == pytest.approx(0.0055)


# --------------------------------------------------------------------------- non-finite losses
@pytest.mark.parametrize(("column", "term"), [("advantages", "policy_loss"), ("value_targets", "vf_loss")])
def test_nan_in_the_loss_raises_and_applies_nothing(column: str, term: str) -> None:
    ev = Factory(make_corridor)(0)
    batch = ev.sample()
    ev.learn_on_batch(batch)
    before = ev.get_weights()
    bad = batch.copy()
    bad[column][3] = np.nan
    for call in (ev.learn_on_batch, ev.compute_gradients):
        with pytest.raises(NonFiniteLossError, match=rf"loss term '{term}'.*\['{column}'\].*applied"):
            call(bad)
    assert_weights_close(ev.get_weights(), before, rtol=0, atol=0)
    ev.learn_on_batch(batch)  # still learns on finite data
    assert all(np.isfinite(v).all() for v in ev.get_weights().values())


def test_missing_loss_columns_are_named() -> None:
    ev = Factory(make_corridor)(0)
    batch = ev.sample()
    del batch["value_targets"]
    with pytest.raises(SampleBatchError, match="value_targets"):
        ev.compute_gradients(batch)


def test_learns_on_images() -> None:
    config = {"model": {"conv_filters": [[4, [2, 2], 2], [8, [2, 3], 1]]}, "lr": 3e-3}
    ev = Factory(make_image_corridor, config)(0)
    assert isinstance(ev.policy.model, VisionNetwork)
    batch = ev.sample()
    before = ev.loss(batch)
    for _ in range(5):
        ev.learn_on_batch(batch)
    assert ev.loss(batch) < before
