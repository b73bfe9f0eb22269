"""ES's pure-numpy policy: registered as ("ES", "numpy"), the catalog fc layout, flat weights, the
same actions from population acting as one weight vector at a time, no learning, pickling, and
the models it refuses (naming framework torch/tf)."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

from rl_algos.es.policy import ESNumpyPolicy
from rl_algos.es.postprocessing import postprocess_es
from rl_algos.plugin import ES_NUMPY_CAPABILITIES
from rlcore.errors import UnsupportedOperationError
from rlcore.model_policy import ForwardOnlyModelPolicy, flat_weight_layout
from rlcore.models.layout import acting_layout, fc_layout, init_weights, num_params
from rlcore.models.numpy_forward import NumpyFCForward
from rlcore.rollout_evaluator import RolloutEvaluator
from rlcore.testing.envs import make_continuous_corridor, make_corridor

CARTPOLE = gym.make("CartPole-v1")
BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def _policy(obs_space=CARTPOLE.observation_space, act_space=CARTPOLE.action_space, model=None, seed=0, **config):
    return ESNumpyPolicy(obs_space, act_space, {"model": model or {"fcnet_hiddens": [8]}, **config}, seed=seed)


def test_registered_as_es_numpy_with_its_capabilities():
    from rlcore.registration import get_policy_class

    assert get_policy_class("ES", "numpy") is ESNumpyPolicy
    assert issubclass(ESNumpyPolicy, ForwardOnlyModelPolicy)
    assert ESNumpyPolicy.capabilities == frozenset(ES_NUMPY_CAPABILITIES) and ESNumpyPolicy.framework == "numpy"
    assert "gradients" not in ESNumpyPolicy.capabilities


@pytest.mark.parametrize("model", [{"fcnet_hiddens": [8]}, {"fcnet_hiddens": []}, {"fcnet_hiddens": [4, 3]}])
def test_the_catalog_fc_layout_and_seeded_weights(model):
    policy = _policy(model=model, seed=3)
    from rlcore.models import ModelCatalog

    expected = fc_layout(4, 2, ModelCatalog.resolve_model_config(model))
    assert [(p.name, p.shape) for p in policy.layout] == [(p.name, p.shape) for p in expected]
    # the flat vector ES perturbs holds the acting parameters only (not the value branch)
    assert flat_weight_layout(policy, "ES") == policy.flat_layout == acting_layout(policy.layout)
    assert policy.num_params == num_params(acting_layout(expected)) == policy.get_flat_weights().size
    weights = init_weights(expected, 3)
    assert all(np.array_equal(policy.get_weights()[k], v) for k, v in weights.items())  # the seed's weights
    other = _policy(model=model, seed=4)
    assert not np.array_equal(policy.get_flat_weights(), other.get_flat_weights())


def test_forward_is_the_numpy_fc_model():
    policy = _policy(model={"fcnet_hiddens": [8], "fcnet_activation": "relu"})
    net = NumpyFCForward(policy.model_config)
    net.set_weights(policy.get_weights())
    obs = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    logits, values = policy.forward(obs)
    np.testing.assert_allclose(logits, net(obs)[0], rtol=1e-6)
    np.testing.assert_allclose(values, net(obs)[1], rtol=1e-6)
    actions = policy.compute_actions(obs, None, False)[0]
    np.testing.assert_array_equal(actions, np.argmax(logits, axis=1))


@pytest.mark.parametrize("numpy_inference", [True, False])
def test_flat_weights_round_trip_and_change_the_actions(numpy_inference):
    policy = _policy(numpy_inference=numpy_inference)
    flat = policy.get_flat_weights()
    assert flat.dtype == np.float32 and flat.shape == (policy.num_params,)
    obs = np.random.default_rng(1).standard_normal((32, 4)).astype(np.float32)
    before = policy.compute_actions(obs, None, False)[0]
    new = flat + np.random.default_rng(2).standard_normal(flat.size).astype(np.float32)
    policy.set_flat_weights(new)
    np.testing.assert_array_equal(policy.get_flat_weights(), new)
    assert not np.array_equal(policy.compute_actions(obs, None, False)[0], before)
    with pytest.raises(Exception, match=rf"{flat.size}.*{flat.size + 1}|{flat.size + 1}.*{flat.size}"):
        policy.set_flat_weights(np.zeros(flat.size + 1, np.float32))  # both sizes named


@pytest.mark.parametrize(
    ("act_space", "free_log_std"),
    [(CARTPOLE.action_space, False), (BOX, False), (BOX, True), (gym.spaces.MultiDiscrete([3, 2]), False)],
    ids=["Discrete", "Box", "Box-free_log_std", "MultiDiscrete"],
)
def test_population_actions_equal_one_weight_vector_at_a_time(act_space, free_log_std):
    policy = _policy(act_space=act_space, model={"fcnet_hiddens": [8], "free_log_std": free_log_std})
    rng = np.random.default_rng(0)
    k = 7
    theta = policy.get_flat_weights()
    params = theta + rng.standard_normal((k, theta.size)).astype(np.float32)
    params[3] = theta  # one row at the current weights
    obs = rng.standard_normal((k, 4)).astype(np.float32)
    actions = policy.compute_population_actions(params, obs)
    probe = _policy(act_space=act_space, model={"fcnet_hiddens": [8], "free_log_std": free_log_std})
    for row in range(k):
        probe.set_flat_weights(params[row])
        expected = probe.compute_actions(obs[row : row + 1], None, False)[0][0]
        np.testing.assert_allclose(np.asarray(actions[row], np.float64), np.asarray(expected, np.float64), atol=1e-5)
    np.testing.assert_array_equal(policy.get_flat_weights(), theta)  # unchanged by population acting


def test_population_acting_is_one_batched_numpy_forward_even_with_numpy_inference_false():
    """The model is numpy: numpy_inference false changes nothing (no per-row fallback)."""
    from rlcore.models.numpy_forward import NumpyFCForward

    policy = _policy(numpy_inference=False)
    assert isinstance(policy._mirror, NumpyFCForward) and policy.config["numpy_inference"] is True
    calls = []
    policy.set_flat_weights = lambda flat: calls.append(flat)  # the fallback's per-row path would call it
    rng = np.random.default_rng(0)
    params = policy.get_flat_weights() + rng.standard_normal((5, policy.num_params)).astype(np.float32)
    assert policy.compute_population_actions(params, rng.standard_normal((5, 4)).astype(np.float32)).shape == (5,)
    assert calls == []


def test_learning_is_refused_and_pickling_keeps_the_weights():
    policy = _policy()
    for call in (
        lambda: policy.learn_on_batch({}),
        lambda: policy.compute_gradients({}),
        lambda: policy.apply_gradients({}),
        lambda: policy.loss({}),
    ):
        with pytest.raises(UnsupportedOperationError, match="this policy only acts; gradient-free algorithms"):
            call()
    policy.set_flat_weights(policy.get_flat_weights() * 2)
    clone = pickle.loads(pickle.dumps(policy))
    np.testing.assert_array_equal(clone.get_flat_weights(), policy.get_flat_weights())
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        clone.compute_actions(obs, None, False)[0], policy.compute_actions(obs, None, False)[0]
    )


@pytest.mark.parametrize(
    ("obs_space", "model", "match"),
    [
        (
            gym.spaces.Box(0, 255, (16, 16, 3), np.uint8),
            {},
            r"does not support vision models \(observations of shape \[16, 16, 3\]\).*Set framework: torch or "
            r"framework: tf .*pip install -c constraints.txt ./plugins/rl_torch, or ./plugins/rl_tf\), or flatten",
        ),
        (
            CARTPOLE.observation_space,
            {"custom_model": "my_net"},
            r"does not support custom_model 'my_net': .*Set framework: torch or framework: tf",
        ),
        (CARTPOLE.observation_space, {"use_lstm": True}, r"does not support recurrent models .*use_lstm"),
    ],
    ids=["vision", "custom_model", "lstm"],
)
def test_models_other_than_fc_are_refused_naming_the_frameworks(obs_space, model, match):
    with pytest.raises(UnsupportedOperationError, match=match):
        _policy(obs_space=obs_space, model=model)


def test_samples_through_the_rollout_evaluator_with_the_identity_postprocessing():
    ev = RolloutEvaluator(
        lambda cfg: gym.make("CartPole-v1"),
        {"model": {"fcnet_hiddens": [8]}, "rollout_fragment_length": 10, "seed": 0},
        0,
        policy=ESNumpyPolicy,
        postprocess=postprocess_es,
    )
    batch = ev.sample()
    assert batch.count == 10 and {"obs", "actions", "rewards"} <= set(batch.keys())
    assert "advantages" not in batch  # nothing added: ES learns from episode returns
    assert isinstance(ev.policy, ESNumpyPolicy)


@pytest.mark.parametrize("env", [make_corridor, make_continuous_corridor], ids=["Discrete", "Box"])
def test_the_policy_kit_passes(env):
    """rlcore.testing's checks for a policy plugin (the evaluator checks but the Ray actor one, flat
    weights, pickling, outputs); the gradient and loss checks are not applicable to an act-only policy."""
    from rlcore.testing import PolicyEvaluatorFactory, check_policy
    from rlcore.testing.checks import CHECKS, check_evaluator

    factory = PolicyEvaluatorFactory("ES", ESNumpyPolicy, env, {"model": {"fcnet_hiddens": [8]}})
    ran = check_evaluator(factory, checks=[c for c in CHECKS if c != "ray_actor"])
    assert {"weight_round_trip", "state_round_trip", "pickle", "composite_actions"} <= set(ran), ran
    passed = check_policy(factory, evaluator_checks=False)
    assert {"flat_weights", "policy_pickle", "policy_outputs"} <= set(passed), passed
    assert not {"reference_loss", "partial_gradients_refused", "nonfinite_refused"} & set(passed), passed
