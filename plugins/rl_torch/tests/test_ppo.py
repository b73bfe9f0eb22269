"""PPOTorchPolicy: rlcore's policy conformance suite (inside the rollout evaluator with PPO's
postprocessing) on discrete and continuous envs, plus PPO specifics (loss vs rl_algos' numpy
reference, Adam vs torch.optim, CPU towers, optimizer state, NaN guard, kl_coeff)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from rl_torch_testutil import assert_learn_is_global_norm_clip_then_torch_adam, assert_weights_close, shifted

import rlcore
from rl_algos.ppo.reference_loss import ppo_loss
from rl_torch import plugin
from rl_torch.models import FullyConnectedNetwork, VisionNetwork
from rl_torch.optim import FlatAdam
from rl_torch.ppo import INFO_KEYS, PPOTorchPolicy
from rlcore.errors import (
    ConfigError,
    GradientError,
    NonFiniteLossError,
    RLCoreError,
    SampleBatchError,
    UnsupportedOperationError,
)
from rlcore.models import ModelCatalog
from rlcore.testing import PolicyContract
from rlcore.testing.envs import (
    make_continuous_corridor,
    make_corridor,
    make_image_corridor,
    make_multi_discrete_corridor,
)
from rlcore.testing.policies import PolicyEvaluatorFactory

#: Small models keep the suite fast; lr is high enough that a few steps visibly lower the loss.
BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 16,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16, 16]},
}
CONTINUOUS: dict[str, Any] = {"vf_clip_param": 1.0, "grad_clip": 0.5, "entropy_coeff": 0.01}


def Factory(env: Callable[..., Any] = make_corridor, config: dict[str, Any] | None = None) -> PolicyEvaluatorFactory:
    """``factory(seed, env_creator=None)``: the rollout evaluator around PPOTorchPolicy with PPO's
    postprocessing and defaults, on ``env`` with ``BASE_CONFIG | config``."""
    return PolicyEvaluatorFactory("PPO", PPOTorchPolicy, env, {**BASE_CONFIG, **(config or {})})


class TestDiscreteContract(PolicyContract):
    """Every conformance check on the kit's discrete corridor (weights exchanged with a second evaluator)."""

    algorithm = "PPO"
    policy = PPOTorchPolicy
    config: ClassVar[dict[str, Any]] = BASE_CONFIG

    @pytest.fixture
    def other_evaluator_factory(self) -> PolicyEvaluatorFactory:
        return Factory(make_corridor, {"num_envs": 1})


class TestContinuousContract(PolicyContract):
    """Every conformance check on the continuous corridor (clipped vf loss, grad clip, entropy bonus)."""

    algorithm = "PPO"
    policy = PPOTorchPolicy
    env = make_continuous_corridor
    config: ClassVar[dict[str, Any]] = {**BASE_CONFIG, **CONTINUOUS}

    @pytest.fixture
    def other_evaluator_factory(self) -> PolicyEvaluatorFactory:
        return Factory(make_continuous_corridor, {**CONTINUOUS, "rollout_fragment_length": 8})


# --------------------------------------------------------------------------- helpers
def assert_state_equal(a: Any, b: Any, path: str = "state") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            assert_state_equal(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, path


# --------------------------------------------------------------------------- loss
@pytest.mark.parametrize(
    ("env", "config"),
    [
        (make_corridor, {"entropy_coeff": 0.05}),
        (make_continuous_corridor, {"vf_clip_param": 0.5, "entropy_coeff": 0.01, "clip_param": 0.1}),
        (make_continuous_corridor, {"model": {"fcnet_hiddens": [16], "free_log_std": True}, "kl_coeff": 0.0}),
    ],
)
def test_loss_terms_match_numpy_reference(env: Callable[..., Any], config: dict[str, Any]) -> None:
    ev = Factory(env, config)(0)
    batch = ev.sample()
    adv = batch["advantages"]
    batch["advantages"] = (adv - adv.mean()) / adv.std()  # as the optimizer standardizes them
    shifted(ev)
    ev.set_global_vars({"kl_coeff": 0.7})
    _, info = ev.compute_gradients(batch)
    ref = ppo_loss(ev.policy, batch, 0.7)
    assert list(info) == list(INFO_KEYS) and all(type(v) is float for v in info.values())
    assert ref["kl"] > 1e-3 and 0.0 < ref["clip_frac"] < 1.0, "the clips and the KL term are exercised"
    assert (batch["advantages"] > 0).any() and (batch["advantages"] < 0).any()
    for k, v in ref.items():
        assert info[k] == pytest.approx(v, rel=1e-4, abs=1e-5), k
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    assert info["grad_norm"] > 0


def test_kl_coeff_follows_global_vars_and_state() -> None:
    ev = Factory(make_corridor)(0)
    batch = ev.sample()
    shifted(ev)
    ev.set_global_vars({"kl_coeff": 0.0})
    base, kl = ev.loss(batch), ev.compute_gradients(batch)[1]["kl"]
    ev.set_global_vars({"kl_coeff": 2.0})
    assert ev.loss(batch) == pytest.approx(base + 2.0 * kl, rel=1e-5)
    other = Factory(make_corridor)(1)
    other.set_state(ev.get_state())
    assert other.loss(batch) == pytest.approx(ev.loss(batch), rel=1e-6)


def test_threads_and_model_checks() -> None:
    Factory(make_corridor)(0)
    assert torch.get_num_threads() == 1  # num_cpu_threads: small MLPs are fastest on one thread
    with pytest.raises(ConfigError, match="free_log_std"):
        Factory(make_corridor, {"model": {"free_log_std": True}})(0)
    # use_lstm builds the recurrent policy (tests in test_lstm.py); without multi-device learning
    ev = Factory(make_corridor, {"model": {"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [4]}})(0)
    assert ev.policy.recurrent and "multi_device" not in ev.capabilities
    with pytest.raises(UnsupportedOperationError, match="cut the sequences"):
        ev.load_batch(ev.sample())


def test_registered_through_the_plugin() -> None:
    assert rlcore.get_policy_class("PPO", "torch") is PPOTorchPolicy
    spec = rlcore.get_spec("policy", "PPO", "torch")
    assert spec.capabilities == PPOTorchPolicy.capabilities == frozenset(plugin.PPO_CAPABILITIES)


def test_missing_loss_columns_are_named() -> None:
    ev = Factory(make_corridor)(0)
    batch = ev.sample()
    del batch["advantages"]
    with pytest.raises(SampleBatchError, match="advantages"):
        ev.learn_on_batch(batch)


def test_forward_is_numpy_in_numpy_out_without_autograd() -> None:
    ev = Factory(make_corridor)(0)
    obs = ev.sample()["obs"][:8]
    obs.flags.writeable = False  # e.g. from Ray's object store: copied, not warned about
    dist_inputs, values = ev.policy.forward(obs)
    assert dist_inputs.shape == (8, 2) and values.shape == (8,)
    assert dist_inputs.dtype == np.float32 and values.dtype == np.float32
    with torch.no_grad():
        ref_inputs, ref_values = ev.policy.model(torch.from_numpy(obs.copy()))
    np.testing.assert_array_equal(dist_inputs, ref_inputs.numpy())
    np.testing.assert_array_equal(values, ref_values.numpy())


# --------------------------------------------------------------------------- optimizer
def test_flat_adam_is_torch_adam() -> None:
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in params]
    adam = FlatAdam(params, lr=0.01, eps=1e-5)
    ref_adam = torch.optim.Adam(ref, lr=0.01, eps=1e-5)
    for step in range(5):
        grads = [torch.randn_like(p) * (step + 1) for p in params]
        adam.step(torch.cat([g.reshape(-1) for g in grads]))
        for p, g in zip(ref, grads, strict=True):
            p.grad = g.clone()
        ref_adam.step()
    for p, q in zip(params, ref, strict=True):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    # parameters are views of the flat buffer, their gradients views of the flat gradient
    assert params[0].data_ptr() == adam.flat.data_ptr()
    (params[0].sum() * 2).backward()
    assert torch.equal(adam.flat_grad()[:12], torch.full((12,), 2.0))


def test_learn_is_global_norm_clip_then_torch_adam() -> None:
    assert_learn_is_global_norm_clip_then_torch_adam(
        Factory(make_corridor, {"grad_clip": 0.05, "adam_epsilon": 1.0, "lr": 0.1})
    )


def test_state_round_trip_restores_adam() -> None:
    a, b = Factory(make_corridor)(0), Factory(make_corridor)(1)
    batch = a.sample()
    for _ in range(3):
        a.learn_on_batch(batch)
    state = a.get_state()
    assert int(state["optimizer"]["step"]) == 3
    assert set(state["optimizer"]["m"]) == set(state["weights"]) == set(state["optimizer"]["v"])
    b.set_state(state)
    assert_state_equal(b.get_state(), state)
    a.learn_on_batch(batch)
    b.learn_on_batch(batch)
    assert_weights_close(a.get_weights(), b.get_weights(), rtol=0, atol=0)
    fresh = Factory(make_corridor)(1)
    fresh.set_weights(state["weights"])  # the same weights without Adam's moments step differently
    fresh.learn_on_batch(batch)
    assert not np.allclose(fresh.get_weights()["fc_0/kernel"], a.get_weights()["fc_0/kernel"])


def test_pickle_keeps_weights_and_optimizer_state() -> None:
    ev = Factory(make_continuous_corridor, CONTINUOUS)(0)
    batch = ev.sample()
    ev.learn_on_batch(batch)
    clone = pickle.loads(pickle.dumps(ev))
    assert_state_equal(clone.get_state(), ev.get_state())
    ev.learn_on_batch(batch)
    clone.learn_on_batch(batch)
    assert_weights_close(clone.get_weights(), ev.get_weights(), rtol=0, atol=0)
    # the one rule (rlcore.model_policy): rebuilt from the config and the numpy state, envs new
    obs = batch["obs"][:8]
    np.testing.assert_array_equal(ev.compute_actions(obs), clone.compute_actions(obs))
    assert set(clone.sample()) == set(ev.sample())


# --------------------------------------------------------------------------- multi-device
@pytest.mark.parametrize("full", [True, False])
def test_two_cpu_towers_equal_learn_on_batch_of_the_union(full: bool) -> None:
    towers = Factory(make_continuous_corridor, {**CONTINUOUS, "num_cpu_towers": 2})(0)
    single = Factory(make_continuous_corridor, CONTINUOUS)(0)
    assert len(towers.policy.devices) == 2 == towers.num_devices
    batch = towers.sample()
    per_device = towers.load_batch(batch)
    assert per_device == batch.count // 2
    for step in range(2):
        idx = np.random.default_rng(step).permutation(per_device)
        idx = idx if full else idx[:5]
        union = batch.take(np.concatenate([idx, idx + per_device]))
        info_towers = towers.learn_on_loaded_batch(idx)
        info_single = single.learn_on_batch(union)
        assert info_towers == pytest.approx(info_single, rel=1e-4, abs=1e-6)
        assert_weights_close(towers.get_weights(), single.get_weights(), rtol=1e-5, atol=1e-6)


def test_learn_on_loaded_batch_needs_a_loaded_batch() -> None:
    with pytest.raises(RLCoreError, match="load_batch"):
        Factory(make_corridor)(0).learn_on_loaded_batch(np.arange(4))


# --------------------------------------------------------------------------- non-finite losses
@pytest.mark.parametrize(("column", "term"), [("advantages", "policy_loss"), ("value_targets", "vf_loss")])
def test_nan_in_the_loss_raises_and_applies_nothing(column: str, term: str) -> None:
    ev = Factory(make_corridor)(0)
    batch = ev.sample()
    ev.learn_on_batch(batch)
    before = ev.get_state()
    bad = batch.copy()
    bad[column][3] = np.nan
    for call in (ev.learn_on_batch, ev.compute_gradients):
        with pytest.raises(NonFiniteLossError, match=rf"loss term '{term}'.*\['{column}'\].*applied"):
            call(bad)
    ev.load_batch(bad)
    with pytest.raises(NonFiniteLossError, match=term):
        ev.learn_on_loaded_batch(np.arange(batch.count))
    assert issubclass(NonFiniteLossError, RLCoreError)
    assert_state_equal(ev.get_state(), before)
    ev.learn_on_batch(batch)  # still learns on finite data
    assert all(np.isfinite(v).all() for v in ev.get_weights().values())


def test_non_finite_gradients_are_refused() -> None:
    ev = Factory(make_corridor)(0)
    batch = ev.sample()
    grads, _ = ev.compute_gradients(batch)
    before = ev.get_state()
    grads["fc_1/kernel"][0, 0] = np.inf
    with pytest.raises(NonFiniteLossError, match=r"fc_1/kernel.*nothing was applied"):
        ev.apply_gradients(grads)
    assert_state_equal(ev.get_state(), before)


# --------------------------------------------------------------------------- other spaces
@pytest.mark.parametrize(
    ("env", "config"),
    [
        (make_multi_discrete_corridor, {"entropy_coeff": 0.01}),
        (  # images: a small conv stack on the 4x5 corridor picture (SAME 2x3, then VALID 1x1)
            make_image_corridor,
            {"model": {"conv_filters": [[4, [2, 2], 2], [8, [2, 3], 1]]}},
        ),
    ],
)
def test_learns_on_other_spaces(env: Callable[..., Any], config: dict[str, Any]) -> None:
    ev = Factory(env, config)(0)
    batch = ev.sample()
    assert all(ev.action_space.contains(a) for a in batch["actions"])
    before = ev.loss(batch)
    for _ in range(5):
        ev.learn_on_batch(batch)
    assert ev.loss(batch) < before
    if env is make_image_corridor:
        assert isinstance(ev.policy.model, VisionNetwork) and batch["obs"].shape[1:] == (4, 5, 1)


def test_gradients_and_optimizer_state_of_another_layout_are_refused() -> None:
    ev = Factory(make_corridor)(0)
    batch = ev.sample()
    grads, _ = ev.compute_gradients(batch)
    with pytest.raises(GradientError, match="missing"):
        ev.apply_gradients({k: v for k, v in grads.items() if k != "value/bias"})
    state = ev.get_state()
    state["optimizer"]["m"]["fc_0/kernel"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ConfigError, match=r"Adam moments 'm'.*wrong shapes"):
        ev.set_state(state)
    with pytest.raises(SampleBatchError, match="cannot be split over 2 devices"):
        Factory(make_corridor, {"num_cpu_towers": 2})(0).load_batch(batch.slice(0, 1))


def test_custom_models_are_built_seeded_through_the_catalog() -> None:
    ModelCatalog.register_custom_model("rl_torch_test_fc", FullyConnectedNetwork)
    ModelCatalog.register_custom_model("rl_torch_test_not_a_model", lambda *args, **kwargs: torch.nn.Linear(5, 2))
    ev = Factory(make_corridor, {"model": {"custom_model": "rl_torch_test_fc", "fcnet_hiddens": [8]}})(3)
    ref = FullyConnectedNetwork((5,), 2, {"fcnet_hiddens": [8]}, seed=3).get_weights()
    assert_weights_close(ev.get_weights(), ref, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="CatalogModel"):
        Factory(make_corridor, {"model": {"custom_model": "rl_torch_test_not_a_model"}})(0)
