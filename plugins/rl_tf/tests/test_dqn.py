"""DQNTFEvaluator: rlcore's conformance suite (n_step 1 and 3) plus DQN specifics (loss vs a numpy
reference, q_forward vs the numpy mirror, target network, state, NaN guard, no retracing)."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from rl_tf_testutil import DQNFactory

from rl_tf.dqn import LOSS_COLUMNS, STAT_NAMES, DQNTFEvaluator
from rlcore.errors import ConfigError, NonFiniteLossError, SampleBatchError, UnsupportedOperationError
from rlcore.loss_config import DQN_LOSS_DEFAULTS
from rlcore.sample_batch import SampleBatch
from rlcore.testing import EvaluatorContract
from rlcore.testing.envs import make_continuous_corridor, make_corridor, make_image_corridor
from rlcore.testing.reference import dqn_loss, q_network


class TestContractOneStep(EvaluatorContract):
    """Every conformance check: dueling, double Q, 1-step targets."""

    capabilities = DQNTFEvaluator.capabilities

    @pytest.fixture
    def evaluator_factory(self) -> Callable[..., Any]:
        return DQNFactory(make_corridor, {"n_step": 1})


class TestContractThreeStep(EvaluatorContract):
    """Every conformance check: plain head, no double Q, 3-step targets, grad clip engaged."""

    capabilities = DQNTFEvaluator.capabilities

    @pytest.fixture
    def evaluator_factory(self) -> Callable[..., Any]:
        return DQNFactory(make_corridor, {"n_step": 3, "dueling": False, "double_q": False, "grad_clip": 0.05})


# --------------------------------------------------------------------------- helpers
def weights_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def perturbed(weights: dict[str, np.ndarray], scale: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: v + scale * rng.standard_normal(v.shape).astype(np.float32) for k, v in weights.items()}


def rich_batch(ev: DQNTFEvaluator, seed: int = 3) -> SampleBatch:
    """A sampled batch with varied weights, discounts and some terminated rows."""
    ev.sample()
    batch = ev.sample().copy()
    rng = np.random.default_rng(seed)
    n = batch.count
    batch["weights"] = rng.uniform(0.2, 1.5, n).astype(np.float32)
    batch["discounts"] = rng.choice([0.99, 0.99**2, 0.99**3], n).astype(np.float32)
    batch["terminateds"] = rng.random(n) < 0.3
    batch["rewards"] = rng.normal(0, 0.6, n).astype(np.float32)
    return batch


# --------------------------------------------------------------------------- loss
@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("dueling", [True, False])
def test_loss_terms_match_numpy_reference(double_q: bool, dueling: bool) -> None:
    ev = DQNFactory(config={"double_q": double_q, "dueling": dueling, "huber_delta": 0.5})(0)
    batch = rich_batch(ev)
    ev.set_weights(perturbed(ev.get_weights(), 0.4, 1))
    target_w = perturbed(ev.get_weights(), 0.4, 2)
    ev.set_extra_state({"target": target_w})
    ref = dqn_loss(ev, batch, target_w)
    assert 0 < np.mean(np.abs(ref["td_error"]) > 0.5) < 1, "both Huber regimes are exercised"
    _, info = ev.compute_gradients(batch)
    assert list(info) == [*STAT_NAMES, "td_error"]
    assert all(type(info[k]) is float for k in STAT_NAMES) and info["grad_norm"] > 0
    assert info["td_error"].dtype == np.float32 and info["td_error"].shape == (batch.count,)
    np.testing.assert_allclose(info["td_error"], ref["td_error"], rtol=1e-4, atol=1e-5)
    for k in ("loss", "mean_q", "mean_td_error"):
        assert info[k] == pytest.approx(ref[k], rel=1e-4, abs=1e-5), k
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(ev.td_error(batch), ref["td_error"], rtol=1e-4, atol=1e-5)
    learned = ev.learn_on_batch(batch)
    np.testing.assert_allclose(learned["td_error"], ref["td_error"], rtol=1e-4, atol=1e-5)
    assert learned["grad_norm"] == pytest.approx(info["grad_norm"], rel=1e-5)


def test_double_q_changes_the_target() -> None:
    evs = [DQNFactory(config={"double_q": d})(0) for d in (True, False)]
    batch = rich_batch(evs[0])
    online_w = perturbed(evs[0].get_weights(), 1.0, 1)
    target_w = perturbed(evs[0].get_weights(), 1.0, 2)
    for ev in evs:
        ev.set_weights(online_w)
        ev.set_extra_state({"target": target_w})
    assert not np.allclose(evs[0].td_error(batch), evs[1].td_error(batch))


def test_grad_clip_bounds_the_update_direction() -> None:
    """compute + apply with a tiny clip equals a learn step, and the clip uses the pre-clip norm."""
    a, b = (DQNFactory(config={"grad_clip": 1e-3})(0) for _ in range(2))
    batch = rich_batch(a)
    info = a.learn_on_batch(batch)
    grads, ginfo = b.compute_gradients(batch)
    assert info["grad_norm"] == pytest.approx(ginfo["grad_norm"], rel=1e-5) and info["grad_norm"] > 1e-3
    b.apply_gradients(grads)
    weights_close(a.get_weights(), b.get_weights())


# --------------------------------------------------------------------------- network and target
@pytest.mark.parametrize(
    "config",
    [
        {"dueling": True},
        {"dueling": False, "hiddens": []},
        {"model": {"fcnet_hiddens": [8, 8], "fcnet_activation": "relu"}},
    ],
)
def test_q_forward_matches_the_numpy_q_network(config: dict[str, Any]) -> None:
    ev = DQNFactory(config=config)(0)
    ev.set_weights(perturbed(ev.get_weights(), 0.3, 4))
    obs = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    q = ev.q_forward(obs)
    assert q.shape == (7, 2) and q.dtype == np.float32
    np.testing.assert_allclose(q, q_network(ev, ev.get_weights())(obs), rtol=1e-5, atol=1e-6)
    _, v = ev.forward(obs)
    np.testing.assert_array_equal(v, q.max(1))
    with pytest.raises(ValueError, match="q_forward expects observations"):
        ev.q_forward(np.zeros((2, 4), np.float32))


def test_weights_follow_the_canonical_q_layout_and_init() -> None:
    from rlcore.models.layout import init_weights

    ev = DQNFactory()(0)
    layout = ev.q_layout()
    assert ev.weight_names == [p.name for p in layout]
    weights_close(ev.get_weights(), init_weights(layout, ev.seed), rtol=0, atol=0)
    with pytest.raises(ConfigError):
        ev.set_weights({k: v for k, v in ev.get_weights().items() if k != "advantage_out/bias"})


def test_target_starts_equal_and_update_target_copies() -> None:
    ev = DQNFactory()(0)
    obs = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    weights_close(ev.extra_state()["target"], ev.get_weights(), rtol=0, atol=0)
    batch = ev.sample()
    for _ in range(3):
        ev.learn_on_batch(batch)
    assert not np.allclose(ev.target_q_forward(obs), ev.q_forward(obs))
    weights_close(ev.extra_state()["target"], DQNFactory()(0).get_weights(), rtol=0, atol=0)
    ev.update_target()
    weights_close(ev.extra_state()["target"], ev.get_weights(), rtol=0, atol=0)
    np.testing.assert_allclose(ev.target_q_forward(obs), ev.q_forward(obs), rtol=1e-6, atol=1e-7)
    ev.set_weights(perturbed(ev.get_weights(), 0.1, 0))  # set_weights leaves the target alone
    assert not np.allclose(ev.target_q_forward(obs), ev.q_forward(obs))


def test_state_round_trip_restores_target_and_optimizer() -> None:
    a = DQNFactory()(0)
    batch = a.sample()
    for _ in range(2):
        a.learn_on_batch(batch)
    a.update_target()
    a.learn_on_batch(batch)
    state = a.get_state()
    assert set(state) >= {"weights", "optimizer", "target"} and int(state["optimizer"]["step"]) == 3
    b = DQNFactory()(1)
    b.set_state(pickle.loads(pickle.dumps(state)))
    weights_close(b.extra_state()["target"], state["target"], rtol=0, atol=0)
    weights_close(b.get_state()["optimizer"]["m"], state["optimizer"]["m"], rtol=0, atol=0)
    a.learn_on_batch(batch)
    b.learn_on_batch(batch)
    weights_close(a.get_weights(), b.get_weights())


def test_pickled_evaluator_keeps_target_and_optimizer() -> None:
    a = DQNFactory()(0)
    a.learn_on_batch(a.sample())
    b = pickle.loads(pickle.dumps(a))
    assert isinstance(b, DQNTFEvaluator)
    weights_close(b.get_weights(), a.get_weights(), rtol=0, atol=0)
    weights_close(b.extra_state()["target"], a.extra_state()["target"], rtol=0, atol=0)
    assert int(b.extra_state()["optimizer"]["step"]) == 1


# --------------------------------------------------------------------------- NaN guard and bad input
@pytest.mark.parametrize("column", ["rewards", "next_obs"])
def test_nan_loss_raises_and_changes_nothing(column: str) -> None:
    ev = DQNFactory()(0)
    batch = ev.sample()
    ev.learn_on_batch(batch)
    before_w, before_opt = ev.get_weights(), ev.get_state()["optimizer"]
    bad = batch.copy()
    col = bad[column].copy()
    col[3] = np.nan
    bad[column] = col
    with pytest.raises(NonFiniteLossError, match=rf"\['{column}'\].*Nothing was applied"):
        ev.learn_on_batch(bad)
    with pytest.raises(NonFiniteLossError, match=column):
        ev.compute_gradients(bad)
    grads, _ = ev.compute_gradients(batch)
    grads["fc_0/kernel"][0, 0] = np.inf
    with pytest.raises(NonFiniteLossError, match=r"fc_0/kernel.*nothing was applied"):
        ev.apply_gradients(grads)
    weights_close(ev.get_weights(), before_w, rtol=0, atol=0)
    after_opt = ev.get_state()["optimizer"]
    assert after_opt["step"] == before_opt["step"]
    weights_close(after_opt["v"], before_opt["v"], rtol=0, atol=0)
    ev.learn_on_batch(batch)  # still usable


def test_continuous_and_image_envs_are_unsupported_at_construction() -> None:
    with pytest.raises(UnsupportedOperationError, match="Discrete"):
        DQNFactory(make_continuous_corridor)(0)
    with pytest.raises(UnsupportedOperationError, match="fully connected"):
        DQNFactory(make_image_corridor)(0)
    ev = DQNFactory()(0)
    for call in (lambda: ev.load_batch(ev.sample()), lambda: ev.learn_on_loaded_batch(np.arange(2))):
        with pytest.raises(UnsupportedOperationError):
            call()


@pytest.mark.parametrize(("key", "value"), [("lr", 0.0), ("adam_epsilon", -1.0), ("huber_delta", 0.0)])
def test_invalid_loss_config_is_a_config_error(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=key):
        DQNFactory(config={key: value})(0)


def test_missing_loss_columns_are_named() -> None:
    ev = DQNFactory()(0)
    batch = ev.sample()
    partial = SampleBatch({k: v for k, v in batch.items() if k not in ("discounts", "weights")})
    with pytest.raises(SampleBatchError, match=r"\['discounts', 'weights'\]"):
        ev.learn_on_batch(partial)
    assert set(LOSS_COLUMNS) <= set(batch)


# --------------------------------------------------------------------------- graphs, lr, defaults
def test_graphs_are_traced_once_and_lr_is_a_variable() -> None:
    ev = DQNFactory()(0)
    for n in (1, 3, 8):
        ev.q_forward(np.zeros((n, 5), np.float32))
    batch = ev.sample()
    for rows in (16, 5):
        ev.learn_on_batch(batch.slice(0, rows))
        ev.compute_gradients(batch.slice(0, rows))
        ev.loss(batch.slice(0, rows))
        ev.update_target()
    ev.apply_gradients(ev.compute_gradients(batch)[0])
    for fn in (ev._q_fn, ev._learn_fn, ev._grads_fn, ev._loss_fn, ev._apply_fn, ev._sync_fn):
        assert fn.function.experimental_get_tracing_count() == 1
    ev.set_learning_rate(0.0)
    before = ev.get_weights()
    ev.learn_on_batch(batch)
    weights_close(ev.get_weights(), before, rtol=0, atol=0)


def test_missing_config_keys_take_the_dqn_defaults() -> None:
    ev = DQNTFEvaluator(make_corridor, {"seed": 0, "model": {"fcnet_hiddens": [8]}, "hiddens": [8]})
    for key, value in DQN_LOSS_DEFAULTS.items():
        if key != "hiddens":
            assert ev.config[key] == value, key
    assert float(ev.optimizer.lr.numpy()) == pytest.approx(DQN_LOSS_DEFAULTS["lr"])


def test_adam_moved_to_optim_and_still_importable_from_ppo() -> None:
    from rl_tf import optim, ppo

    assert ppo.Adam is optim.Adam
