"""The conformance kit, parametrized over every evaluator the installed plugins register, and the
cross-framework checks: torch and TensorFlow evaluators of one config exchange weights and agree,
and the numpy acting mirror computes what both frameworks compute."""

from __future__ import annotations

import numpy as np
import pytest

from rlcore.models.numpy_forward import NumpyFCForward
from rlcore.testing import check_evaluator, check_weight_exchange
from rlcore.testing.checks import RegisteredEvaluatorFactory, registered_evaluator_factories
from rlcore.testing.envs import make_continuous_corridor, make_corridor

FACTORIES = registered_evaluator_factories()


def test_every_first_party_evaluator_is_covered():
    keys = {str(f) for f in FACTORIES}
    assert {"PPO/torch", "PPO/tf"} <= keys, keys


@pytest.mark.ray
@pytest.mark.parametrize("factory", FACTORIES, ids=str)
def test_conformance_of_every_registered_evaluator(factory, ray_session):
    passed = check_evaluator(factory)
    assert "ray_actor" in passed or "remote" not in factory(0).capabilities


MODEL_CONFIGS = [
    {"fcnet_hiddens": [16, 16]},
    {"fcnet_hiddens": [8], "fcnet_activation": "relu", "vf_share_layers": True},
    {"fcnet_hiddens": [8, 8], "fcnet_activation": "elu", "free_log_std": True},
    {"fcnet_hiddens": [8], "fcnet_activation": "swish"},
]


def pair(model, env_creator):
    def make(framework):
        return RegisteredEvaluatorFactory("PPO", framework, config={"model": model})

    return make("torch"), make("tf"), env_creator


EXCHANGE_CASES = [
    pytest.param(model, env, id=f"{name}-" + "-".join(f"{k}={v}" for k, v in model.items()))
    for model in MODEL_CONFIGS
    for name, env in [("discrete", make_corridor), ("continuous", make_continuous_corridor)]
    if not (model.get("free_log_std") and name == "discrete")  # the catalog rejects that pair
]


@pytest.mark.parametrize(("model", "env"), EXCHANGE_CASES)
def test_torch_and_tf_exchange_weights_and_agree(model, env):
    torch_f, tf_f, _ = pair(model, env)
    check_weight_exchange(lambda s: torch_f(s, env), lambda s: tf_f(s, env))


@pytest.mark.parametrize("model", MODEL_CONFIGS, ids=lambda m: "-".join(f"{k}={v}" for k, v in m.items()))
def test_numpy_acting_mirror_matches_both_frameworks(model):
    torch_f, tf_f, env = pair(model, make_continuous_corridor)
    ev_torch, ev_tf = torch_f(0, env), tf_f(0, env)
    ev_torch.learn_on_batch(ev_torch.sample())  # weights away from their initialization
    weights = ev_torch.get_weights()
    ev_tf.set_weights(weights)
    mirror = NumpyFCForward(ev_torch.policy.model_config)
    mirror.set_weights(weights)
    obs = np.random.default_rng(0).normal(size=(16, *ev_torch.obs_shape)).astype(np.float32)
    for ev in (ev_torch, ev_tf):
        dist_inputs, values = ev.policy.forward(obs)
        np.testing.assert_allclose(mirror(obs)[0], dist_inputs, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(mirror(obs)[1], values, rtol=1e-5, atol=1e-5)
        acting = ev.policy.compute_actions(obs, explore=False)[2]["action_dist_inputs"]
        np.testing.assert_allclose(acting, dist_inputs, rtol=1e-5, atol=1e-5)
    assert ev_torch.policy.uses_numpy_mirror and ev_tf.policy.uses_numpy_mirror, "fc models act through the mirror"


def test_numpy_inference_off_uses_the_framework():
    ev = RegisteredEvaluatorFactory("PPO", "torch", config={"numpy_inference": False})(0)
    assert not ev.policy.uses_numpy_mirror
    assert ev.sample().count > 0


@pytest.mark.parametrize("hiddens", [[], [200], [200, 8]])
def test_numpy_mirror_wide_and_empty_towers(hiddens):
    ev = RegisteredEvaluatorFactory("PPO", "torch", config={"model": {"fcnet_hiddens": hiddens}})(0)
    mirror = NumpyFCForward(ev.policy.model_config)
    mirror.set_weights(ev.get_weights())
    obs = np.random.default_rng(1).normal(size=(5, *ev.obs_shape)).astype(np.float32)
    for got, want in zip(mirror(obs), ev.policy.forward(obs), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("factory", FACTORIES, ids=str)
def test_registration_declares_what_the_class_declares(factory):
    from rlcore.testing.training import check_registration

    check_registration(factory)


@pytest.mark.ray
@pytest.mark.parametrize("factory", FACTORIES, ids=str)
def test_every_registered_evaluator_trains_with_every_applicable_optimizer(factory, ray_session):
    """The trainer drives it through each optimizer its capabilities allow, embedded and on 2 Ray workers."""
    from rlcore.testing.training import check_training

    runs = check_training(factory)
    caps = factory(0).capabilities
    assert "LocalSyncOptimizer@0" in runs and ("remote" not in caps or "LocalSyncOptimizer@2" in runs)
