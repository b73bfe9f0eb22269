"""A3CTFPolicy in the core's RolloutEvaluator: rlcore's conformance suite (discrete, continuous,
MultiDiscrete, Tuple and Dict actions), the loss against rl_algos' numpy reference, gradient
clipping, the core's rules for non-finite losses, registration, tracing and TensorFlow's threads."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
from rl_tf_testutil import poisoned, shifted, weights_close

import rlcore
from rl_algos.a3c import reference_loss as reference
from rl_tf import plugin
from rl_tf.a3c import INFO_KEYS, LOSS_COLUMNS, A3CTFPolicy
from rl_tf.ppo import PPOTFPolicy
from rlcore.errors import NonFiniteLossError, UnsupportedOperationError
from rlcore.rollout_evaluator import RolloutEvaluator
from rlcore.testing import (
    CHECKS,
    CompositePolicyContract,
    PolicyContract,
    PolicyEvaluatorFactory,
    RegisteredEvaluatorFactory,
    check_evaluator,
)
from rlcore.testing.envs import (
    make_continuous_corridor,
    make_corridor,
    make_image_corridor,
    make_multi_discrete_corridor,
    make_tuple_target,
)

#: Small models keep the suite fast; lr is high enough that a few steps visibly lower the loss.
BASE: dict[str, Any] = {"lr": 1e-3, "model": {"fcnet_hiddens": [16, 16]}}
#: The continuous contract's loss keys: gradient clipping that engages, an entropy bonus.
CONTINUOUS: dict[str, Any] = {**BASE, "grad_clip": 0.5, "entropy_coeff": 0.01}


class TestDiscreteContract(PolicyContract):
    """Every evaluator and policy conformance check (reference loss included) on the discrete corridor."""

    algorithm = "A3C"
    policy = A3CTFPolicy
    config: ClassVar[dict[str, Any]] = BASE


class TestContinuousContract(PolicyContract):
    """Every conformance check on the continuous corridor (grad clip, entropy bonus)."""

    algorithm = "A3C"
    policy = A3CTFPolicy
    env = make_continuous_corridor
    config: ClassVar[dict[str, Any]] = CONTINUOUS


class TestMultiDiscreteContract(PolicyContract):
    """Every conformance check on the MultiDiscrete corridor."""

    algorithm = "A3C"
    policy = A3CTFPolicy
    env = make_multi_discrete_corridor
    config: ClassVar[dict[str, Any]] = BASE


class TestCompositeContract(CompositePolicyContract):
    """Every conformance check on the kit's Tuple and Dict action space envs."""

    algorithm = "A3C"
    policy = A3CTFPolicy
    config: ClassVar[dict[str, Any]] = {**BASE, "model": {"fcnet_hiddens": [16]}}


# --------------------------------------------------------------------------- helpers
def factory(env: Callable[..., Any] = make_corridor, **config: Any) -> PolicyEvaluatorFactory:
    return PolicyEvaluatorFactory("A3C", A3CTFPolicy, env, {**BASE, **config})


# --------------------------------------------------------------------------- declarations
def test_policy_declares_what_the_reference_loss_reads() -> None:
    assert A3CTFPolicy.loss_columns == LOSS_COLUMNS == reference.LOSS_COLUMNS
    assert A3CTFPolicy.info_keys == INFO_KEYS == reference.INFO_KEYS
    assert A3CTFPolicy.framework == "tf"


def test_registered_with_its_capabilities_and_the_evaluator_checks_pass() -> None:
    spec = rlcore.get_spec("policy", "A3C", "tf")
    assert rlcore.get_policy_class("A3C", "tf") is A3CTFPolicy
    assert spec.plugin == "tf" and spec.distribution == "rlcore-tf"
    assert spec.capabilities == A3CTFPolicy.capabilities == frozenset(plugin.A3C_CAPABILITIES)
    assert "multi_device" not in A3CTFPolicy.capabilities
    cls, kwargs = rlcore.resolve_evaluator("A3C", "tf")
    assert cls is RolloutEvaluator and kwargs["policy"] == "rl_tf.a3c:A3CTFPolicy"
    assert str(kwargs["postprocess"]).endswith("postprocess_a3c")
    local_checks = [name for name in CHECKS if name != "ray_actor"]  # the contracts' test_ray_actor is marked ray
    passed = check_evaluator(RegisteredEvaluatorFactory("A3C", "tf", config=BASE), checks=local_checks)
    assert "compute_apply_equals_learn" in passed and "capabilities" in passed


# --------------------------------------------------------------------------- loss
@pytest.mark.parametrize(
    ("env", "config"),
    [
        (make_corridor, {"entropy_coeff": 0.05, "vf_loss_coeff": 0.25}),
        (make_continuous_corridor, {"entropy_coeff": 0.01}),
        (make_continuous_corridor, {"model": {"fcnet_hiddens": [16], "free_log_std": True}}),
        (make_multi_discrete_corridor, {"entropy_coeff": 0.02}),
        (make_tuple_target, {"entropy_coeff": 0.02}),
    ],
)
def test_loss_terms_match_numpy_reference(env: Callable[..., Any], config: dict[str, Any]) -> None:
    ev = factory(env, **config)(0)
    batch = ev.sample()
    shifted(ev)
    _, info = ev.compute_gradients(batch)
    ref = reference.a3c_loss(ev.policy, batch)
    assert list(info) == list(INFO_KEYS) and all(type(v) is float for v in info.values())
    for k, v in ref.items():
        assert info[k] == pytest.approx(v, rel=1e-4, abs=1e-5), k
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    assert info["grad_norm"] > 0


def test_policy_loss_on_fresh_samples_is_minus_mean_logp_times_advantage() -> None:
    ev = factory()(0)
    batch = ev.sample()
    _, info = ev.compute_gradients(batch)
    expected = -float(np.mean(batch["action_logp"].astype(np.float64) * batch["advantages"]))
    assert info["policy_loss"] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_grad_clip_scales_by_global_norm_and_compute_apply_equals_learn() -> None:
    ev = factory(grad_clip=0.5)(0)
    rng = np.random.default_rng(0)
    grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in ev.get_weights().items()}
    norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    assert norm > 0.5
    ev.apply_gradients(grads)
    m = ev.get_state()["optimizer"]["m"]  # after one step m = (1 - beta1) * clipped gradient
    weights_close(m, {k: 0.1 * 0.5 / (norm + 1e-6) * g for k, g in grads.items()}, rtol=1e-4, atol=1e-8)
    # the worker's gradient is the unclipped one; the learner clips where it applies it
    a, b = factory(make_continuous_corridor, grad_clip=0.05)(0), factory(make_continuous_corridor, grad_clip=0.05)(0)
    batch = a.sample()
    for _ in range(3):
        grads, info = b.compute_gradients(batch)
        assert info["grad_norm"] > 0.05, "the clip engages"
        assert math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values())) == pytest.approx(
            info["grad_norm"], rel=1e-4
        )
        b.apply_gradients(grads)
        a.learn_on_batch(batch)
    weights_close(a.get_weights(), b.get_weights())


def test_no_grad_clip_applies_the_whole_gradient() -> None:
    ev = factory(grad_clip=None)(0)
    grads = {k: np.full(v.shape, 3.0, np.float32) for k, v in ev.get_weights().items()}
    ev.apply_gradients(grads)
    m = ev.get_state()["optimizer"]["m"]
    weights_close(m, {k: 0.1 * g for k, g in grads.items()}, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("column", "term"), [("advantages", "policy_loss"), ("value_targets", "vf_loss")])
def test_nan_loss_is_refused_naming_the_term_and_changes_nothing(column: str, term: str) -> None:
    ev = factory()(0)
    batch = ev.sample()
    ev.learn_on_batch(batch)
    before_w, before_opt = ev.get_weights(), ev.get_state()["optimizer"]
    bad = poisoned(batch, column)
    with pytest.raises(NonFiniteLossError, match=rf"loss term '{term}'.*\['{column}'\].*Nothing was applied"):
        ev.learn_on_batch(bad)
    with pytest.raises(NonFiniteLossError, match=rf"loss term '{term}'.*No gradients were returned"):
        ev.compute_gradients(bad)
    weights_close(ev.get_weights(), before_w, rtol=0, atol=0)
    assert ev.get_state()["optimizer"]["step"] == before_opt["step"] == 1
    ev.learn_on_batch(batch)  # still usable


def test_multi_device_is_not_declared_and_refused() -> None:
    ev = factory()(0)
    with pytest.raises(UnsupportedOperationError, match=r"A3CTFPolicy does not support multi-device"):
        ev.load_batch(ev.sample())


def test_vision_model_learns() -> None:
    config = {"model": {"conv_filters": [[4, [2, 2], 1], [8, [4, 5], 1]]}, "env_config": {"height": 4, "length": 5}}
    ev = factory(make_image_corridor, **config)(0)
    assert not ev.policy.uses_numpy_mirror
    batch = ev.sample()
    before = ev.loss(batch)
    for _ in range(5):
        ev.learn_on_batch(batch)
    assert ev.loss(batch) < before


def test_graphs_are_traced_once_and_lr_schedule_needs_no_retrace() -> None:
    ev = factory(lr_schedule=[[0, 1e-3], [100, 0.0]])(0)
    policy = ev.policy
    for n in (1, 3, 8):
        policy.forward(np.zeros((n, 5), np.float32))
    batch = ev.sample()
    for rows in (32, 17, 5):
        ev.learn_on_batch(batch.slice(0, rows))
        ev.compute_gradients(batch.slice(0, rows))
        ev.loss(batch.slice(0, rows))
        ev.set_global_vars({"timestep": rows})
        ev.set_weights(ev.get_weights())
    assert policy.optimizer.lr == pytest.approx(1e-3 * (1 - 5 / 100))
    ev.apply_gradients(ev.compute_gradients(batch)[0])
    for fn in (policy._forward_fn, policy._grads_fn, policy._loss_fn, policy.optimizer._apply_fn):
        assert fn.function.experimental_get_tracing_count() == 1
    for fn in (policy._weights_fn, policy._assign_fn):
        assert fn.function.experimental_get_tracing_count() == 1


# --------------------------------------------------------------------------- threads
_THREADS = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    from rlcore.testing.policies import PolicyEvaluatorFactory
    from rl_tf.a3c import A3CTFPolicy

    threads = int(sys.argv[1])
    pools = tf.config.threading
    ev = PolicyEvaluatorFactory("A3C", A3CTFPolicy, None, {"num_cpu_threads": threads})(0)
    first = (pools.get_intra_op_parallelism_threads(), pools.get_inter_op_parallelism_threads())
    ev.learn_on_batch(ev.sample())
    # TensorFlow runs now: a second policy asking for other pools changes nothing and raises nothing
    other = PolicyEvaluatorFactory("A3C", A3CTFPolicy, None, {"num_cpu_threads": 3})(1)
    after = (pools.get_intra_op_parallelism_threads(), pools.get_inter_op_parallelism_threads())
    limited = (ev.policy.threads_limited, other.policy.threads_limited)
    print(json.dumps({"first": first, "limited": limited[0], "other_limited": limited[1], "after": after}))
    """
)


@pytest.mark.parametrize("threads", [1, 0])
def test_num_cpu_threads_caps_tensorflow_pools_in_a_fresh_process(threads: int) -> None:
    """A Ray worker is a fresh process: its policy fixes TensorFlow's pools to num_cpu_threads intra-op
    threads and one inter-op thread (0: TensorFlow's defaults); once TensorFlow runs, nothing changes."""
    import json

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", _THREADS, str(threads)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if threads:
        assert result["first"] == [1, 1] and result["limited"] is True
    else:
        assert result["first"] == [0, 0] and result["limited"] is False
    assert result["after"] == result["first"] and result["other_limited"] is False


def test_ppo_shares_the_base_and_keeps_multi_device() -> None:
    from rl_tf.actor_critic import ActorCriticTFPolicy

    assert issubclass(A3CTFPolicy, ActorCriticTFPolicy) and issubclass(PPOTFPolicy, ActorCriticTFPolicy)
    assert "multi_device" in PPOTFPolicy.capabilities


def test_global_norm_is_the_float64_euclidean_norm() -> None:
    from rl_tf.actor_critic import global_norm

    x = np.random.default_rng(0).standard_normal(40_000).astype(np.float32)
    assert global_norm(x) == pytest.approx(float(np.linalg.norm(x.astype(np.float64))), rel=1e-12)
    assert global_norm(np.zeros(3, np.float32)) == 0.0
