"""PPOTFEvaluator: rlcore's conformance suite on discrete and continuous envs, plus PPO specifics
(loss vs a numpy reference, Adam, towers, optimizer state, NaN guard, kl_coeff, no retracing)."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import rl_tf_testutil as util
from rl_tf_testutil import PPOFactory

from rl_tf.models import FullyConnectedNetwork
from rl_tf.ppo import LOSS_COLUMNS, STAT_NAMES, NonFiniteLossError, PPOTFEvaluator
from rlcore.errors import ConfigError, RLCoreError, UnsupportedOperationError
from rlcore.loss_config import PPO_LOSS_DEFAULTS
from rlcore.models import ModelCatalog
from rlcore.sample_batch import SampleBatch
from rlcore.sampling_evaluator import SAMPLING_DEFAULTS
from rlcore.testing import EvaluatorContract, checks
from rlcore.testing.envs import (
    make_continuous_corridor,
    make_corridor,
    make_image_corridor,
    make_multi_discrete_corridor,
)
from rlcore.testing.reference import ppo_loss


class TestDiscreteContract(EvaluatorContract):
    """Every conformance check on the kit's discrete corridor."""

    capabilities = PPOTFEvaluator.capabilities

    @pytest.fixture
    def evaluator_factory(self) -> Callable[..., Any]:
        return util.discrete_factory()


class TestContinuousContract(EvaluatorContract):
    """Every conformance check on the continuous corridor (clipped vf loss, grad clip, entropy bonus)."""

    capabilities = PPOTFEvaluator.capabilities

    @pytest.fixture
    def evaluator_factory(self) -> Callable[..., Any]:
        return util.continuous_factory()


# --------------------------------------------------------------------------- helpers
def weights_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def shifted(ev: PPOTFEvaluator, scale: float = 0.3, seed: int = 5) -> None:
    """Move the weights away from the ones that sampled, so ratios != 1 and the clips engage."""
    rng = np.random.default_rng(seed)
    ev.set_weights(
        {k: v + scale * rng.standard_normal(v.shape).astype(np.float32) for k, v in ev.get_weights().items()}
    )


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
    ref = ppo_loss(ev, batch, 0.7)
    assert set(info) == set(STAT_NAMES) and all(type(v) is float for v in info.values())
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
    assert info["grad_norm"] > 0.1, "the clip engages"
    with pytest.raises(ConfigError, match="unknown weights"):
        b.apply_gradients({**grads, "fc_9/kernel": np.zeros(3, np.float32)})
    with pytest.raises(ConfigError, match="shape"):
        b.apply_gradients({**grads, "value/bias": np.zeros(3, np.float32)})
    for _ in range(3):
        a.learn_on_batch(batch)
        b.apply_gradients(b.compute_gradients(batch)[0])
    weights_close(a.get_weights(), b.get_weights())


def test_two_cpu_towers_equal_learn_on_batch_on_the_union() -> None:
    config = {"num_cpu_towers": 2, "grad_clip": 1.0}
    towers, single = PPOFactory(make_corridor, config)(0), PPOFactory(make_corridor, config)(0)
    assert towers.devices == ["/CPU:0", "/CPU:0"]
    batch = towers.sample()
    per = towers.load_batch(batch)
    assert per == batch.count // 2
    rng = np.random.default_rng(0)
    for _ in range(3):
        idx = rng.choice(per, size=6, replace=False)
        info_t = towers.learn_on_loaded_batch(idx)
        info_s = single.learn_on_batch(batch.take(np.concatenate([idx, per + idx])))
        for k in STAT_NAMES:
            assert info_t[k] == pytest.approx(info_s[k], rel=1e-4, abs=1e-6), k
    weights_close(towers.get_weights(), single.get_weights(), rtol=1e-5, atol=1e-6)
    with pytest.raises(IndexError, match="rows per device"):
        towers.learn_on_loaded_batch(np.array([per]))


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
    assert b.kl_coeff == pytest.approx(0.45)
    for ev in (a, b):
        ev.learn_on_batch(batch)
    weights_close(a.get_weights(), b.get_weights(), rtol=1e-6, atol=1e-7)
    with pytest.raises(ConfigError, match="optimizer state"):
        b.set_extra_state({"optimizer": {**opt, "m": {}}})


def test_kl_coeff_comes_from_global_vars() -> None:
    ev = PPOFactory()(0)
    assert ev.kl_coeff == pytest.approx(PPO_LOSS_DEFAULTS["kl_coeff"])
    batch = ev.sample()
    shifted(ev)
    ev.set_global_vars({"kl_coeff": 0.0})
    _, info0 = ev.compute_gradients(batch)
    ev.set_global_vars({"kl_coeff": 2.0})
    _, info2 = ev.compute_gradients(batch)
    assert info2["kl"] > 0
    assert info2["loss"] - info0["loss"] == pytest.approx(2.0 * info2["kl"], rel=1e-3)


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
    assert isinstance(ev.model, TinyCustomModel) and ev.get_weights()["fc_0/kernel"].shape == (5, 3)
    ev.learn_on_batch(ev.sample())
    with pytest.raises(ConfigError, match="CatalogModel"):
        PPOFactory(make_corridor, {"model": {"custom_model": "rl_tf_test_not_tf"}})(0)


@pytest.mark.parametrize(("key", "value"), [("lr", 0.0), ("clip_param", -0.1), ("num_cpu_towers", 0)])
def test_invalid_loss_config_is_a_config_error(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        PPOFactory(make_corridor, {key: value})(0)


# --------------------------------------------------------------------------- NaN guard
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
    with pytest.raises(NonFiniteLossError, match="Nothing was applied"):
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
    ev = PPOFactory(make_corridor, {"num_cpu_towers": 2})(0)
    for n in (1, 3, 8):
        ev.forward(np.zeros((n, 5), np.float32))
    batch = ev.sample()
    ev.sample()
    for rows in (32, 17):
        ev.learn_on_batch(batch.slice(0, rows))
        ev.compute_gradients(batch.slice(0, rows))
        ev.loss(batch.slice(0, rows))
    ev.apply_gradients(ev.compute_gradients(batch)[0])
    ev.load_batch(batch)
    ev.learn_on_loaded_batch(np.arange(4))
    ev.learn_on_loaded_batch(np.arange(7))
    for fn in (ev._forward_fn, ev._learn_fn, ev._grads_fn, ev._loss_fn, ev._apply_fn, ev._tower_fn):
        assert fn.function.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="forward expects observations"):
        ev.forward(np.zeros((2, 4), np.float32))


def test_missing_config_keys_take_the_defaults() -> None:
    ev = PPOTFEvaluator(make_corridor, {"seed": 0, "model": {"fcnet_hiddens": [8]}})
    for key, value in {**SAMPLING_DEFAULTS, **PPO_LOSS_DEFAULTS}.items():
        if key not in ("seed", "model"):
            assert ev.config[key] == value, key
    assert ev.framework == "tf"


def test_free_log_std_is_a_weight_and_needs_a_box() -> None:
    ev = PPOFactory(make_continuous_corridor, {"model": {"fcnet_hiddens": [8], "free_log_std": True}})(0)
    assert ev.get_weights()["log_std"].shape == (1,)
    batch = ev.sample()
    assert batch["action_dist_inputs"].shape == (batch.count, 2)
    grads, _ = ev.compute_gradients(batch)
    assert np.abs(grads["log_std"]).sum() > 0
    with pytest.raises(ConfigError, match="free_log_std"):
        PPOFactory(make_corridor, {"model": {"free_log_std": True}})(0)


def test_recurrent_models_are_unsupported() -> None:
    with pytest.raises(UnsupportedOperationError, match="recurrent"):
        PPOFactory(make_corridor, {"model": {"use_lstm": True}})(0)


def test_vision_evaluator_samples_and_learns() -> None:
    config = {"model": {"conv_filters": [[4, [2, 2], 1], [8, [4, 5], 1]]}, "env_config": {"height": 4, "length": 5}}
    ev = PPOFactory(make_image_corridor, config)(0)
    assert ev.obs_shape == (4, 5, 1) and ev.model.conv[-1].out_hw == (1, 1)
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
    with pytest.raises(RLCoreError, match=r"\['advantages'\]"):
        ev.learn_on_batch(batch)


def test_pickled_evaluator_keeps_weights_optimizer_and_rng() -> None:
    ev = PPOFactory()(0)
    ev.learn_on_batch(ev.sample())
    clone = pickle.loads(pickle.dumps(ev))
    weights_close(clone.get_weights(), ev.get_weights(), rtol=0, atol=0)
    assert clone.get_state()["optimizer"]["step"] == 1
    obs = np.zeros((4, 5), np.float32)
    np.testing.assert_array_equal(clone.compute_actions(obs, explore=True), ev.compute_actions(obs, explore=True))
    assert LOSS_COLUMNS[0] == "obs"
