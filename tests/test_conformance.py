"""The conformance kit, parametrized over every evaluator the installed plugins register, and the
cross-framework checks: torch and TensorFlow evaluators of one config exchange weights and agree,
and the numpy acting mirror computes what both frameworks compute."""

from __future__ import annotations

import numpy as np
import pytest

from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.models.numpy_forward import NumpyFCForward, NumpyLSTMForward
from rlcore.testing import check_evaluator, check_weight_exchange
from rlcore.testing.checks import RegisteredEvaluatorFactory, registered_evaluator_factories
from rlcore.testing.envs import make_continuous_corridor, make_corridor

FACTORIES = registered_evaluator_factories()


def test_every_first_party_evaluator_is_covered():
    keys = {str(f) for f in FACTORIES}
    assert {"PPO/torch", "PPO/tf", "A3C/torch", "A3C/tf"} <= keys, keys


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


def pair(model, env_creator, algorithm="PPO"):
    def make(framework):
        return RegisteredEvaluatorFactory(algorithm, framework, config={"model": model})

    return make("torch"), make("tf"), env_creator


EXCHANGE_CASES = [
    pytest.param(model, env, id=f"{name}-" + "-".join(f"{k}={v}" for k, v in model.items()))
    for model in MODEL_CONFIGS
    for name, env in [("discrete", make_corridor), ("continuous", make_continuous_corridor)]
    if not (model.get("free_log_std") and name == "discrete")  # the catalog rejects that pair
]


@pytest.mark.parametrize("algorithm", ["PPO", "A3C"])
@pytest.mark.parametrize(("model", "env"), EXCHANGE_CASES)
def test_torch_and_tf_exchange_weights_and_agree(model, env, algorithm):
    torch_f, tf_f, _ = pair(model, env, algorithm)
    check_weight_exchange(lambda s: torch_f(s, env), lambda s: tf_f(s, env))


LSTM_MODELS = [
    {"use_lstm": True, "lstm_cell_size": 8, "fcnet_hiddens": [8]},
    {"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [8, 8], "fcnet_activation": "relu", "max_seq_len": 5},
]
LSTM_CASES = [
    pytest.param(algorithm, model, env, id=f"{algorithm}-{name}-cell{model['lstm_cell_size']}")
    for algorithm in ("PPO", "A3C")
    for model in LSTM_MODELS
    for name, env in [("discrete", make_corridor), ("continuous", make_continuous_corridor)]
]


@pytest.mark.parametrize(("algorithm", "model", "env"), LSTM_CASES)
def test_lstm_policies_exchange_weights_and_agree_over_steps(algorithm, model, env):
    """torch and TF LSTM policies of one config take each other's weights and act alike over several
    steps (the recurrent state carried), not only on the first one."""
    torch_f, tf_f, _ = pair(model, env, algorithm)
    check_weight_exchange(lambda s: torch_f(s, env), lambda s: tf_f(s, env))


def trained_pair_and_mirror(model, algorithm, mirror_cls):
    """A torch evaluator after one learning step, a TF one with its weights, and a numpy mirror with them."""
    torch_f, tf_f, env = pair(model, make_continuous_corridor, algorithm)
    ev_torch, ev_tf = torch_f(0, env), tf_f(0, env)
    ev_torch.learn_on_batch(ev_torch.sample())  # weights away from their initialization
    weights = ev_torch.get_weights()
    ev_tf.set_weights(weights)
    mirror = mirror_cls(ev_torch.policy.model_config)
    mirror.set_weights(weights)
    return ev_torch, ev_tf, mirror


@pytest.mark.parametrize("algorithm", ["PPO", "A3C"])
def test_numpy_lstm_mirror_matches_both_frameworks_step_by_step(algorithm):
    ev_torch, ev_tf, mirror = trained_pair_and_mirror(LSTM_MODELS[0], algorithm, NumpyLSTMForward)
    rng = np.random.default_rng(0)
    init = ev_torch.policy.initial_state()
    states = {key: [np.repeat(s[None], 16, axis=0) for s in init] for key in ("mirror", "torch", "tf")}
    for _ in range(5):
        obs = rng.normal(size=(16, *ev_torch.obs_shape)).astype(np.float32)
        want, want_values, states["mirror"] = mirror(obs, states["mirror"])
        for key, ev in (("torch", ev_torch), ("tf", ev_tf)):
            dist_inputs, values, states[key] = ev.policy.forward_step(obs, states[key])
            np.testing.assert_allclose(dist_inputs, want, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(values, want_values, rtol=1e-5, atol=1e-5)
            for got, ref in zip(states[key], states["mirror"], strict=True):
                np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", MODEL_CONFIGS, ids=lambda m: "-".join(f"{k}={v}" for k, v in m.items()))
def test_numpy_acting_mirror_matches_both_frameworks(model):
    ev_torch, ev_tf, mirror = trained_pair_and_mirror(model, "PPO", NumpyFCForward)
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
    if "gradients" not in caps:  # gradient-free (ES): its own algorithm's optimizer moves the flat weights
        assert runs == [], f"no gradient optimizer applies to {factory}, yet it trained with {runs}"
        return
    assert "LocalSyncOptimizer@0" in runs and ("remote" not in caps or "LocalSyncOptimizer@2" in runs)


# -- vision Q networks (DQN, Ape-X): torch <-> TF -------------------------------------------------
VISION_Q_MODELS = [
    {"dim": 16, "conv_filters": [[8, [4, 4], 2], [16, [4, 4], 2], [32, [3, 3], 1]]},  # 2x2x32 features
    {"dim": 16, "conv_filters": [[8, [5, 5], 3], [8, [3, 3], 1]], "conv_activation": "tanh", "framestack": 2},
]


@pytest.mark.parametrize("dueling", [True, False], ids=["dueling", "plain"])
@pytest.mark.parametrize("model", VISION_Q_MODELS, ids=["relu", "tanh-framestack2"])
def test_torch_and_tf_vision_q_networks_exchange_weights_and_agree(model, dueling):
    """DQN's vision Q network on PixelGrid-v0's uint8 frames: one seed builds the same canonical
    weights in both frameworks, each takes the other's, and their Q-values agree to 1e-5."""
    config = {"model": model, "hiddens": [16], "dueling": dueling}
    torch_f, tf_f = (RegisteredEvaluatorFactory("DQN", fw, env="PixelGrid-v0", config=config) for fw in ("torch", "tf"))
    check_weight_exchange(torch_f, tf_f)
    ev_torch, ev_tf = torch_f(0), tf_f(0)
    assert ev_torch.policy.model_kind == ev_tf.policy.model_kind == "vision"
    w_torch, w_tf = ev_torch.get_weights(), ev_tf.get_weights()
    assert list(w_torch) == list(w_tf) and next(iter(w_torch)) == "conv_0/kernel"
    for k in w_torch:
        np.testing.assert_array_equal(w_torch[k], w_tf[k], err_msg=k)
    obs = ev_torch.sample()["obs"]  # preprocessed frames: float32 [B, 16, 16, k]
    rng = np.random.default_rng(3)
    moved = {k: (v + 0.2 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in w_torch.items()}
    for source, target in ((ev_torch, ev_tf), (ev_tf, ev_torch)):
        source.set_weights(moved)
        target.set_weights(source.get_weights())
        np.testing.assert_allclose(target.policy.forward(obs)[0], source.policy.forward(obs)[0], rtol=1e-5, atol=1e-5)


def test_torch_and_tf_q_networks_agree_on_84x84x4_frames():
    """The catalog's Atari-size Q network (84x84 filters) built in both frameworks from one seed."""
    import tensorflow as tf
    import torch

    from rlcore.models import ModelCatalog

    nets = {
        fw: ModelCatalog.build_q_model((84, 84, 4), 6, {}, fw, hiddens=[32], dueling=True, seed=1)
        for fw in ("torch", "tf")
    }
    w_torch, w_tf = nets["torch"].get_weights(), nets["tf"].get_weights()
    assert list(w_torch) == list(w_tf)
    for k in w_torch:
        np.testing.assert_array_equal(w_torch[k], w_tf[k], err_msg=k)
    obs = np.random.default_rng(0).uniform(-1, 1, (4, 84, 84, 4)).astype(np.float32)
    with torch.no_grad():
        q_torch = nets["torch"](torch.from_numpy(obs)).numpy()
    q_tf = nets["tf"](tf.constant(obs)).numpy()
    np.testing.assert_allclose(q_torch, q_tf, rtol=1e-5, atol=1e-5)


BAD_VISION_Q_MODELS = [
    (
        {"conv_filters": [[8, [4, 4], 4], [16, [8, 8], 1]]},
        ConfigError,
        r"conv_filters .* shrink a \(16, 16\) image below 1x1",
    ),
    ({"conv_filters": [[8, 4]]}, ConfigError, r"'conv_filters' must be None or a list of \[out_channels"),
    ({"conv_activation": "sigmoid"}, ConfigError, r"'conv_activation' is 'sigmoid'"),
    ({"custom_model": "nope"}, UnsupportedOperationError, r"custom_model='nope' is not supported for Q networks"),
    ({"use_lstm": True}, UnsupportedOperationError, r"DQN(Torch|TF)Policy does not support recurrent models"),
]


@pytest.mark.parametrize("framework", ["torch", "tf"])
@pytest.mark.parametrize(("model", "error", "message"), BAD_VISION_Q_MODELS, ids=lambda x: str(x)[:30])
def test_bad_vision_q_model_config_is_refused_at_construction_naming_the_key(framework, model, error, message):
    """Both frameworks refuse a bad model config of DQN's vision Q network on PixelGrid-v0 with one message."""
    config = {"model": {**VISION_Q_MODELS[0], **model}, "hiddens": [16]}
    with pytest.raises(error, match=message):
        RegisteredEvaluatorFactory("DQN", framework, env="PixelGrid-v0", config=config)(0)
