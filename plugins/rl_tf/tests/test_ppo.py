"""PPOTFPolicy in the core's RolloutEvaluator: rlcore's conformance suite on discrete and continuous
envs, plus PPO specifics (loss vs rl_algos' numpy reference, Adam, towers, optimizer state, the
core's rules for gradients and non-finite losses, kl_coeff, no retracing)."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
import rl_tf_testutil as util
from rl_tf_testutil import PPOFactory, shifted, weights_close

from rl_algos.ppo import DEFAULT_CONFIG
from rl_algos.ppo import reference_loss as reference
from rl_algos.ppo.reference_loss import ppo_loss
from rl_tf.models import FullyConnectedNetwork
from rl_tf.optim import Adam
from rl_tf.ppo import INFO_KEYS, LOSS_COLUMNS, PPOTFPolicy
from rlcore.errors import (
    ConfigError,
    GradientError,
    NonFiniteLossError,
    RLCoreError,
    SampleBatchError,
    UnsupportedOperationError,
)
from rlcore.models import ModelCatalog
from rlcore.sample_batch import SampleBatch
from rlcore.testing import PolicyContract, checks
from rlcore.testing.envs import (
    make_continuous_corridor,
    make_corridor,
    make_image_corridor,
    make_multi_discrete_corridor,
)

#: The continuous contract's loss keys: clipped value loss, gradient clipping, entropy bonus.
CONTINUOUS: dict[str, Any] = {"vf_clip_param": 1.0, "grad_clip": 0.5, "entropy_coeff": 0.01}


class TestDiscreteContract(PolicyContract):
    """Every evaluator and policy conformance check on the kit's discrete corridor."""

    algorithm = "PPO"
    policy = PPOTFPolicy
    config: ClassVar[dict[str, Any]] = util.BASE_CONFIG


class TestContinuousContract(PolicyContract):
    """Every conformance check on the continuous corridor (clipped vf loss, grad clip, entropy bonus)."""

    algorithm = "PPO"
    policy = PPOTFPolicy
    env = make_continuous_corridor
    config: ClassVar[dict[str, Any]] = {**util.BASE_CONFIG, **CONTINUOUS}


# --------------------------------------------------------------------------- helpers
def test_policy_declares_what_the_reference_loss_reads() -> None:
    assert PPOTFPolicy.loss_columns == LOSS_COLUMNS == reference.LOSS_COLUMNS
    assert INFO_KEYS == reference.INFO_KEYS and set(PPOTFPolicy.info_keys) == set(INFO_KEYS)
    assert PPOTFPolicy.framework == "tf"


# --------------------------------------------------------------------------- loss and optimizer
@pytest.mark.parametrize(
    ("env", "config"),
    [
        (make_corridor, {"entropy_coeff": 0.05}),
        (make_continuous_corridor, {"vf_clip_param": 0.5, "entropy_coeff": 0.01, "clip_param": 0.1}),
        (make_continuous_corridor, {"model": {"fcnet_hiddens": [16], "free_log_std": True}}),
    ],
)
def test_loss_terms_match_numpy_reference(env: Callable[..., Any], config: dict[str, Any]) -> None:
    ev = PPOFactory(env, config)(0)
    batch = ev.sample()
    shifted(ev)
    ev.set_global_vars({"kl_coeff": 0.7})
    _, info = ev.compute_gradients(batch)
    ref = ppo_loss(ev.policy, batch, 0.7)
    assert list(info) == list(INFO_KEYS) and all(type(v) is float for v in info.values())
    assert ref["kl"] > 1e-3 and 0.0 < ref["clip_frac"] < 1.0, "the clips and the KL term are exercised"
    for k, v in ref.items():
        assert info[k] == pytest.approx(v, rel=1e-4, abs=1e-5), k
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    assert info["grad_norm"] > 0


def test_adam_step_matches_torch_formula() -> None:
    ev = PPOFactory(make_corridor, {"lr": 0.01, "adam_epsilon": 1e-5})(0)
    w = {k: v.astype(np.float64) for k, v in ev.get_weights().items()}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v2 = {k: np.zeros_like(v) for k, v in w.items()}
    rng = np.random.default_rng(0)
    for t in (1, 2, 3):
        grads = {k: rng.standard_normal(x.shape).astype(np.float32) for k, x in w.items()}
        ev.apply_gradients(grads)
        for k in w:
            m[k] = 0.9 * m[k] + 0.1 * grads[k]
            v2[k] = 0.999 * v2[k] + 0.001 * grads[k].astype(np.float64) ** 2
            denom = np.sqrt(v2[k]) / math.sqrt(1 - 0.999**t) + 1e-5
            w[k] = w[k] - 0.01 / (1 - 0.9**t) * m[k] / denom
    weights_close(ev.get_weights(), {k: x.astype(np.float32) for k, x in w.items()}, rtol=1e-5, atol=1e-6)
    state = ev.get_state()["optimizer"]
    assert state["step"] == 3
    weights_close(state["m"], {k: x.astype(np.float32) for k, x in m.items()}, rtol=1e-5, atol=1e-7)


def test_grad_clip_scales_by_global_norm_before_adam() -> None:
    ev = PPOFactory(make_corridor, {"grad_clip": 0.5})(0)
    rng = np.random.default_rng(0)
    grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in ev.get_weights().items()}
    norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    ev.apply_gradients(grads)
    m = ev.get_state()["optimizer"]["m"]  # after one step m = (1 - beta1) * clipped gradient
    coef = min(0.5 / (norm + 1e-6), 1.0)
    weights_close(m, {k: 0.1 * coef * g for k, g in grads.items()}, rtol=1e-4, atol=1e-8)


def test_compute_gradients_are_canonical_and_apply_equals_fused_learn() -> None:
    factory = PPOFactory(make_continuous_corridor, {"grad_clip": 0.1, "vf_clip_param": 1.0})
    a, b = factory(0), factory(0)
    batch = a.sample()
    grads, info = b.compute_gradients(batch)
    assert {k: g.shape for k, g in grads.items()} == {k: w.shape for k, w in a.get_weights().items()}
    assert all(g.dtype == np.float32 for g in grads.values())
    assert info["grad_norm"] > 0.1, "the clip engages"
    with pytest.raises(GradientError, match=r"unknown \['fc_9/kernel'\]"):
        b.apply_gradients({**grads, "fc_9/kernel": np.zeros(3, np.float32)})
    with pytest.raises(GradientError, match=r"wrong shapes \['value/bias"):
        b.apply_gradients({**grads, "value/bias": np.zeros(3, np.float32)})
    for _ in range(3):
        a.learn_on_batch(batch)
        b.apply_gradients(b.compute_gradients(batch)[0])
    weights_close(a.get_weights(), b.get_weights())


def test_partial_gradients_are_refused_not_zero_filled() -> None:
    """The core's one rule: a gradient dict without every weight raises GradientError and changes nothing
    (rl_tf used to fill the missing names with zeros and take the step)."""
    ev = PPOFactory()(0)
    grads, _ = ev.compute_gradients(ev.sample())
    before_w, before_opt = ev.get_weights(), ev.get_state()["optimizer"]
    partial = {k: v for k, v in grads.items() if k != "logits/bias"}
    with pytest.raises(GradientError, match=r"missing \['logits/bias'\].*partial dict is refused"):
        ev.apply_gradients(partial)
    with pytest.raises(GradientError, match="missing"):
        ev.apply_gradients({})
    weights_close(ev.get_weights(), before_w, rtol=0, atol=0)
    assert ev.get_state()["optimizer"]["step"] == before_opt["step"] == 0
    ev.apply_gradients(grads)  # the whole dict is applied
    assert ev.get_state()["optimizer"]["step"] == 1


def test_two_cpu_towers_equal_learn_on_batch_on_the_union() -> None:
    config = {"num_cpu_towers": 2, "grad_clip": 1.0}
    towers, single = PPOFactory(make_corridor, config)(0), PPOFactory(make_corridor, config)(0)
    assert towers.policy.devices == ["/CPU:0", "/CPU:0"] and towers.num_devices == 2
    batch = towers.sample()
    per = towers.load_batch(batch)
    assert per == batch.count // 2
    rng = np.random.default_rng(0)
    for _ in range(3):
        idx = rng.choice(per, size=6, replace=False)
        info_t = towers.learn_on_loaded_batch(idx)
        info_s = single.learn_on_batch(batch.take(np.concatenate([idx, per + idx])))
        for k in INFO_KEYS:
            assert info_t[k] == pytest.approx(info_s[k], rel=1e-4, abs=1e-6), k
    weights_close(towers.get_weights(), single.get_weights(), rtol=1e-5, atol=1e-6)
    with pytest.raises(IndexError, match="rows per device"):
        towers.learn_on_loaded_batch(np.array([per]))


def test_loaded_batch_is_a_copy() -> None:
    """Changing the batch's arrays after load_batch does not change what was loaded."""
    a, b = PPOFactory()(0), PPOFactory()(0)
    batch = a.sample()
    a.load_batch(batch)
    b.load_batch(batch.copy())
    batch["advantages"][:] = 1e3
    info_a, info_b = a.learn_on_loaded_batch(np.arange(8)), b.learn_on_loaded_batch(np.arange(8))
    assert info_a == info_b


def test_multi_device_check_of_the_kit_with_two_towers() -> None:
    checks.check_multi_device(PPOFactory(make_continuous_corridor, {"num_cpu_towers": 2, "grad_clip": 1.0}))
    assert PPOFactory(make_corridor, {"num_cpu_towers": 3})(0).num_devices == 3


def test_learn_on_loaded_batch_needs_a_loaded_batch() -> None:
    with pytest.raises(RLCoreError, match="before load_batch"):
        PPOFactory()(0).learn_on_loaded_batch(np.arange(2))


def test_state_round_trip_restores_optimizer_moments_and_kl_coeff() -> None:
    a, b = PPOFactory()(0), PPOFactory()(1)
    batch = a.sample()
    a.learn_on_batch(batch)
    a.learn_on_batch(batch)
    a.set_global_vars({"kl_coeff": 0.45})
    state = pickle.loads(pickle.dumps(a.get_state()))
    opt = state["optimizer"]
    assert opt["step"] == 2 and set(opt["m"]) == set(a.get_weights())
    assert all(np.abs(x).sum() > 0 for x in opt["v"].values())
    b.set_state(state)
    assert b.policy.global_vars["kl_coeff"] == pytest.approx(0.45)
    info_a, info_b = a.compute_gradients(batch)[1], b.compute_gradients(batch)[1]
    assert info_a["kl"] > 0 and info_b["loss"] == pytest.approx(info_a["loss"], rel=1e-6), "the KL term uses 0.45"
    for ev in (a, b):
        ev.learn_on_batch(batch)
    weights_close(a.get_weights(), b.get_weights(), rtol=1e-6, atol=1e-7)
    with pytest.raises(ConfigError, match="optimizer state"):
        b.policy.set_extra_state({"optimizer": {**opt, "m": {}}})


def test_kl_coeff_comes_from_global_vars() -> None:
    ev = PPOFactory()(0)
    batch = ev.sample()
    shifted(ev)
    _, info_default = ev.compute_gradients(batch)
    ev.set_global_vars({"kl_coeff": 0.0})
    _, info0 = ev.compute_gradients(batch)
    ev.set_global_vars({"kl_coeff": 2.0})
    _, info2 = ev.compute_gradients(batch)
    assert info2["kl"] > 0
    assert info2["loss"] - info0["loss"] == pytest.approx(2.0 * info2["kl"], rel=1e-3)
    kl_default = DEFAULT_CONFIG["kl_coeff"]  # the config's value until the trainer sends one
    assert info_default["loss"] - info0["loss"] == pytest.approx(kl_default * info2["kl"], rel=1e-3)


def test_lr_schedule_follows_the_timestep_without_retracing() -> None:
    ev = PPOFactory(make_corridor, {"lr_schedule": [[0, 1e-3], [100, 0.0]]})(0)
    assert ev.policy.optimizer.lr == pytest.approx(1e-3)
    batch = ev.sample()
    ev.learn_on_batch(batch)
    ev.set_global_vars({"timestep": 50})
    assert ev.policy.optimizer.lr == pytest.approx(5e-4)
    ev.set_global_vars({"timestep": 100})
    before = ev.get_weights()
    ev.learn_on_batch(batch)
    weights_close(ev.get_weights(), before, rtol=0, atol=0)
    assert ev.policy._grads_fn.function.experimental_get_tracing_count() == 1


@pytest.mark.parametrize(
    ("env", "config"),
    [
        (make_corridor, {}),
        (make_multi_discrete_corridor, {}),
        (make_continuous_corridor, {}),
        (make_continuous_corridor, {"model": {"fcnet_hiddens": [8], "free_log_std": True}}),
    ],
)
def test_fresh_samples_have_ratio_one(env: Callable[..., Any], config: dict[str, Any]) -> None:
    """TF's logp of the sampled actions equals numpy acting's: on fresh samples ratio == 1, KL == 0."""
    ev = PPOFactory(env, config)(0)
    batch = ev.sample()
    _, info = ev.compute_gradients(batch)
    assert info["kl"] == pytest.approx(0.0, abs=1e-6)
    assert info["clip_frac"] == 0.0
    assert info["policy_loss"] == pytest.approx(-float(batch["advantages"].mean()), rel=1e-5, abs=1e-6)


class TinyCustomModel(FullyConnectedNetwork):
    """A custom model: the catalog's fc model with one hidden layer of 3 units."""

    def __init__(self, obs_shape: tuple[int, ...], num_outputs: int, model_config: dict[str, Any]) -> None:
        super().__init__(obs_shape, num_outputs, {**model_config, "fcnet_hiddens": [3]})


def test_custom_models_come_from_the_catalog() -> None:
    ModelCatalog.register_custom_model("rl_tf_test_tiny", TinyCustomModel)
    ModelCatalog.register_custom_model("rl_tf_test_not_tf", lambda *args: object())
    ev = PPOFactory(make_corridor, {"model": {"custom_model": "rl_tf_test_tiny"}})(0)
    assert isinstance(ev.policy.model, TinyCustomModel) and ev.get_weights()["fc_0/kernel"].shape == (5, 3)
    ev.learn_on_batch(ev.sample())
    with pytest.raises(ConfigError, match="CatalogModel"):
        PPOFactory(make_corridor, {"model": {"custom_model": "rl_tf_test_not_tf"}})(0)


def test_catalog_models_are_built_through_the_model_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy asks ModelCatalog.build_model for its model (never imports a model class itself)."""
    calls = []
    build = ModelCatalog.build_model.__func__  # type: ignore[attr-defined]

    def spy(cls: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return build(cls, *args, **kwargs)

    monkeypatch.setattr(ModelCatalog, "build_model", classmethod(spy))
    ev = PPOFactory()(3)
    assert calls == [(((5,), 2, ev.policy.model_config, "tf"), {"seed": ev.policy.seed})]


# --------------------------------------------------------------------------- non-finite losses
def _poisoned(batch: SampleBatch, column: str) -> SampleBatch:
    bad = batch.copy()
    col = bad[column].copy()
    col[3] = np.nan
    bad[column] = col
    return bad


@pytest.mark.parametrize(("column", "term"), [("advantages", "policy_loss"), ("value_targets", "vf_loss")])
def test_nan_loss_raises_and_changes_nothing(column: str, term: str) -> None:
    ev = PPOFactory(make_corridor, {"num_cpu_towers": 2})(0)
    batch = ev.sample()
    ev.learn_on_batch(batch)
    before_w, before_opt = ev.get_weights(), ev.get_state()["optimizer"]
    bad = _poisoned(batch, column)
    with pytest.raises(NonFiniteLossError, match=rf"{term}.*\['{column}'\].*Nothing was applied") as err:
        ev.learn_on_batch(bad)
    assert isinstance(err.value, RLCoreError)
    with pytest.raises(NonFiniteLossError, match=term):
        ev.compute_gradients(bad)
    ev.load_batch(bad)
    with pytest.raises(NonFiniteLossError, match=rf"{term}.*Nothing was applied"):
        ev.learn_on_loaded_batch(np.arange(5))
    grads, _ = ev.compute_gradients(batch)
    grads["fc_0/kernel"][0, 0] = np.inf
    with pytest.raises(NonFiniteLossError, match=r"fc_0/kernel.*nothing was applied"):
        ev.apply_gradients(grads)
    weights_close(ev.get_weights(), before_w, rtol=0, atol=0)
    after_opt = ev.get_state()["optimizer"]
    assert after_opt["step"] == before_opt["step"]
    weights_close(after_opt["v"], before_opt["v"], rtol=0, atol=0)
    ev.learn_on_batch(batch)  # still usable


# --------------------------------------------------------------------------- graphs and config
def test_graphs_are_traced_once() -> None:
    ev = PPOFactory(make_corridor, {"num_cpu_towers": 2, "lr_schedule": [[0, 1e-3], [100, 0.0]]})(0)
    policy = ev.policy
    for n in (1, 3, 8):
        policy.forward(np.zeros((n, 5), np.float32))
    batch = ev.sample()
    ev.sample()
    for rows in (32, 17):
        ev.learn_on_batch(batch.slice(0, rows))
        ev.compute_gradients(batch.slice(0, rows))
        ev.loss(batch.slice(0, rows))
        ev.set_global_vars({"timestep": rows})
        ev.set_weights(ev.get_weights())
    ev.apply_gradients(ev.compute_gradients(batch)[0])
    ev.load_batch(batch)
    ev.learn_on_loaded_batch(np.arange(4))
    ev.learn_on_loaded_batch(np.arange(7))
    ev.learn_on_loaded_batch(np.random.default_rng(0).permutation(16))
    ev.load_batch(batch.slice(0, 20))
    ev.learn_on_loaded_batch(np.random.default_rng(1).permutation(10))
    for fn in (
        policy._forward_fn,
        policy._grads_fn,
        policy._loss_fn,
        policy.optimizer._apply_fn,
        policy._tower_fn,
        policy._tower_all_fn,
        policy._weights_fn,
        policy._assign_fn,
    ):
        assert fn.function.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="forward expects observations"):
        policy.forward(np.zeros((2, 4), np.float32))


def test_one_device_learns_on_every_loaded_row_with_the_plain_gradient_graph() -> None:
    """A permutation of every loaded row needs no gather: one device uses the gradient graph of
    learn_on_batch, and the step equals learn_on_batch on the loaded rows."""
    a, b = PPOFactory()(0), PPOFactory()(0)
    assert a.policy._tower_all_fn is a.policy._grads_fn
    batch = a.sample()
    a.load_batch(batch)
    perm = np.random.default_rng(0).permutation(batch.count)
    info_a = a.learn_on_loaded_batch(perm)
    info_b = b.learn_on_batch(batch)
    for k in INFO_KEYS:
        assert info_a[k] == pytest.approx(info_b[k], rel=1e-5, abs=1e-7), k
    weights_close(a.get_weights(), b.get_weights(), rtol=1e-6, atol=1e-7)
    assert a.policy._tower_fn.function.experimental_get_tracing_count() == 0


def test_the_policy_reads_its_loss_keys_from_the_complete_config() -> None:
    """Policies receive rl_algos' validated config whole (its defaults included) and read it as it is."""
    ev = PPOFactory(make_corridor, {"adam_epsilon": 1e-3, "clip_param": 0.3})(0)
    policy = ev.policy
    for key, value in DEFAULT_CONFIG.items():
        if key not in ("seed", "adam_epsilon", "clip_param", *util.BASE_CONFIG):
            assert policy.config[key] == value, key
    assert policy.optimizer.lr == pytest.approx(util.BASE_CONFIG["lr"])
    assert policy.optimizer.epsilon == pytest.approx(1e-3) and policy._clip_param == pytest.approx(0.3)
    assert isinstance(policy.optimizer, Adam) and policy.framework == "tf"


def test_free_log_std_is_a_weight_and_needs_a_box() -> None:
    ev = PPOFactory(make_continuous_corridor, {"model": {"fcnet_hiddens": [8], "free_log_std": True}})(0)
    assert ev.get_weights()["log_std"].shape == (1,)
    batch = ev.sample()
    assert batch["action_dist_inputs"].shape == (batch.count, 2)
    grads, _ = ev.compute_gradients(batch)
    assert np.abs(grads["log_std"]).sum() > 0
    with pytest.raises(ConfigError, match="free_log_std"):
        PPOFactory(make_corridor, {"model": {"free_log_std": True}})(0)


def test_recurrent_models_are_supported_and_sequences_are_not_split_over_devices() -> None:
    """use_lstm builds PPO's LSTM (test_lstm.py checks it); DQN still refuses it (test_dqn.py)."""
    ev = PPOFactory(make_corridor, {"model": {"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [4]}})(0)
    assert ev.policy.recurrent and "recurrent" in PPOTFPolicy.capabilities
    batch = ev.sample()
    assert {"seq_lens", "state_in_0", "state_in_1"} <= set(batch.keys())
    ev.learn_on_batch(batch)
    with pytest.raises(UnsupportedOperationError, match=r"multi-device learning on sequences.*learn_on_batch"):
        ev.load_batch(batch)


def test_vision_evaluator_samples_and_learns() -> None:
    config = {"model": {"conv_filters": [[4, [2, 2], 1], [8, [4, 5], 1]]}, "env_config": {"height": 4, "length": 5}}
    ev = PPOFactory(make_image_corridor, config)(0)
    assert ev.obs_shape == (4, 5, 1) and ev.policy.model.conv[-1].out_hw == (1, 1)
    assert not ev.policy.uses_numpy_mirror, "vision models act through the TF forward graph"
    batch = ev.sample()
    assert batch["obs"].shape == (batch.count, 4, 5, 1)
    before = ev.loss(batch)
    for _ in range(5):
        ev.learn_on_batch(batch)
    assert ev.loss(batch) < before


def test_missing_loss_columns_are_named() -> None:
    ev = PPOFactory()(0)
    batch = ev.sample()
    del batch["advantages"]
    for call in (ev.learn_on_batch, ev.compute_gradients, ev.loss, ev.load_batch):
        with pytest.raises(SampleBatchError, match=r"\['advantages'\]"):
            call(batch)


def test_pickled_evaluator_keeps_weights_optimizer_and_rng() -> None:
    ev = PPOFactory()(0)
    ev.learn_on_batch(ev.sample())
    ev.set_global_vars({"kl_coeff": 0.3})
    for clone in (pickle.loads(pickle.dumps(ev)), pickle.loads(pickle.dumps(ev.policy))):
        policy = getattr(clone, "policy", clone)
        assert isinstance(policy, PPOTFPolicy)
        weights_close(clone.get_weights(), ev.get_weights(), rtol=0, atol=0)
        assert clone.get_state()["optimizer"]["step"] == 1
        assert float(policy._kl_coeff.numpy()) == pytest.approx(0.3)
    clone = pickle.loads(pickle.dumps(ev))
    obs = np.zeros((4, 5), np.float32)
    np.testing.assert_array_equal(clone.compute_actions(obs, explore=True), ev.compute_actions(obs, explore=True))
