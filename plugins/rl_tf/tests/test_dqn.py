"""DQNTFPolicy in the core's RolloutEvaluator: rlcore's conformance suite (n_step 1 and 3) plus DQN
specifics (loss vs rl_algos' numpy reference, Q forward vs the numpy Q network, target network,
state, the core's rules for gradients and non-finite losses, no retracing)."""

from __future__ import annotations

import pickle
import threading
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
from rl_tf_testutil import DQN_CONFIG, DQNFactory, dqn_config

from rl_algos.dqn import DEFAULT_CONFIG
from rl_algos.dqn import reference_loss as reference
from rl_algos.dqn.reference_loss import dqn_loss, q_network
from rl_algos.envs import make_pixel_grid
from rl_tf.dqn import INFO_KEYS, LOSS_COLUMNS, DQNTFPolicy, QNetwork
from rl_tf.optim import Adam
from rlcore.errors import (
    ConfigError,
    GradientError,
    NonFiniteLossError,
    SampleBatchError,
    UnsupportedOperationError,
)
from rlcore.models import ModelCatalog
from rlcore.rollout_evaluator import RolloutEvaluator
from rlcore.sample_batch import SampleBatch
from rlcore.testing import PolicyContract
from rlcore.testing.envs import make_continuous_corridor, make_image_corridor


class TestContractOneStep(PolicyContract):
    """Every evaluator and policy conformance check: dueling, double Q, 1-step targets."""

    algorithm = "DQN"
    composite_actions = False  # Q-learning needs Discrete actions: the refusal is asserted
    policy = DQNTFPolicy
    config: ClassVar[dict[str, Any]] = {**DQN_CONFIG, "n_step": 1}


class TestContractThreeStep(PolicyContract):
    """Every conformance check: plain head, no double Q, 3-step targets, grad clip engaged."""

    algorithm = "DQN"
    composite_actions = False  # Q-learning needs Discrete actions: the refusal is asserted
    policy = DQNTFPolicy
    config: ClassVar[dict[str, Any]] = {
        **DQN_CONFIG,
        "n_step": 3,
        "dueling": False,
        "double_q": False,
        "grad_clip": 0.05,
    }


# --------------------------------------------------------------------------- helpers
def weights_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float = 1e-5, atol: float = 1e-6) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def perturbed(weights: dict[str, np.ndarray], scale: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: v + scale * rng.standard_normal(v.shape).astype(np.float32) for k, v in weights.items()}


def rich_batch(ev: RolloutEvaluator, seed: int = 3) -> SampleBatch:
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


def target_q(ev: RolloutEvaluator, obs: np.ndarray) -> np.ndarray:
    """The target network's Q-values (the numpy Q network holding the target weights)."""
    return q_network(ev.policy, ev.policy.extra_state()["target"])(obs)


def test_policy_declares_what_the_reference_loss_reads() -> None:
    assert DQNTFPolicy.loss_columns == LOSS_COLUMNS == reference.LOSS_COLUMNS
    assert DQNTFPolicy.info_keys == INFO_KEYS == reference.INFO_KEYS
    assert DQNTFPolicy.action_outputs == "q" and DQNTFPolicy.framework == "tf"


# --------------------------------------------------------------------------- loss
@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("dueling", [True, False])
def test_loss_terms_match_numpy_reference(double_q: bool, dueling: bool) -> None:
    ev = DQNFactory(config={"double_q": double_q, "dueling": dueling, "huber_delta": 0.5})(0)
    batch = rich_batch(ev)
    ev.set_weights(perturbed(ev.get_weights(), 0.4, 1))
    target_w = perturbed(ev.get_weights(), 0.4, 2)
    ev.policy.set_extra_state({"target": target_w})
    ref = dqn_loss(ev.policy, batch, target_w)
    assert 0 < np.mean(np.abs(ref["td_error"]) > 0.5) < 1, "both Huber regimes are exercised"
    _, info = ev.compute_gradients(batch)
    assert list(info) == [*INFO_KEYS, "td_error"]
    assert all(type(info[k]) is float for k in INFO_KEYS) and info["grad_norm"] > 0
    assert info["td_error"].dtype == np.float32 and info["td_error"].shape == (batch.count,)
    np.testing.assert_allclose(info["td_error"], ref["td_error"], rtol=1e-4, atol=1e-5)
    for k in ("loss", "mean_q", "mean_td_error"):
        assert info[k] == pytest.approx(ref[k], rel=1e-4, abs=1e-5), k
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(ev.policy.td_error(batch), ref["td_error"], rtol=1e-4, atol=1e-5)
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
        ev.policy.set_extra_state({"target": target_w})
    assert not np.allclose(evs[0].policy.td_error(batch), evs[1].policy.td_error(batch))


def test_grad_clip_bounds_the_update_direction() -> None:
    """compute + apply with a tiny clip equals a learn step, and the clip uses the pre-clip norm."""
    a, b = (DQNFactory(config={"grad_clip": 1e-3})(0) for _ in range(2))
    batch = rich_batch(a)
    info = a.learn_on_batch(batch)
    grads, ginfo = b.compute_gradients(batch)
    assert info["grad_norm"] == pytest.approx(ginfo["grad_norm"], rel=1e-5) and info["grad_norm"] > 1e-3
    b.apply_gradients(grads)
    weights_close(a.get_weights(), b.get_weights())


def test_partial_or_unknown_gradients_are_refused_not_zero_filled() -> None:
    ev = DQNFactory()(0)
    grads, _ = ev.compute_gradients(rich_batch(ev))
    before = ev.get_weights()
    with pytest.raises(GradientError, match=r"missing \['q_out/bias'\]|missing \['advantage_out/bias'\]"):
        ev.apply_gradients({k: v for k, v in grads.items() if k not in ("q_out/bias", "advantage_out/bias")})
    with pytest.raises(GradientError, match=r"unknown \['nope'\]"):
        ev.apply_gradients({**grads, "nope": np.zeros(2, np.float32)})
    weights_close(ev.get_weights(), before, rtol=0, atol=0)
    assert int(ev.get_state()["optimizer"]["step"]) == 0


# --------------------------------------------------------------------------- network and target
@pytest.mark.parametrize(
    "config",
    [
        {"dueling": True},
        {"dueling": False, "hiddens": []},
        {"model": {"fcnet_hiddens": [8, 8], "fcnet_activation": "relu"}},
    ],
)
def test_forward_matches_the_numpy_q_network(config: dict[str, Any]) -> None:
    ev = DQNFactory(config=config)(0)
    ev.set_weights(perturbed(ev.get_weights(), 0.3, 4))
    obs = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    q, v = ev.policy.forward(obs)
    assert q.shape == (7, 2) and q.dtype == np.float32
    np.testing.assert_allclose(q, q_network(ev.policy, ev.get_weights())(obs), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(v, q.max(1))
    assert ev.policy.uses_numpy_mirror
    np.testing.assert_array_equal(ev.policy.compute_actions(obs, explore=False)[0], q.argmax(1))
    with pytest.raises(ValueError, match="forward expects observations"):
        ev.policy.forward(np.zeros((2, 4), np.float32))


def test_weights_follow_the_canonical_q_layout_and_init() -> None:
    from rlcore.models.layout import init_weights

    ev = DQNFactory()(0)
    layout = ev.policy.q_layout()
    assert ev.policy.weight_names == [p.name for p in layout]
    weights_close(ev.get_weights(), init_weights(layout, ev.policy.seed), rtol=0, atol=0)
    with pytest.raises(ConfigError):
        ev.set_weights({k: v for k, v in ev.get_weights().items() if k != "advantage_out/bias"})


def test_target_starts_equal_and_update_target_copies() -> None:
    ev = DQNFactory()(0)
    policy = ev.policy
    obs = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    weights_close(policy.extra_state()["target"], ev.get_weights(), rtol=0, atol=0)
    batch = ev.sample()
    for _ in range(3):
        ev.learn_on_batch(batch)
    assert not np.allclose(target_q(ev, obs), policy.forward(obs)[0])
    weights_close(policy.extra_state()["target"], DQNFactory()(0).get_weights(), rtol=0, atol=0)
    policy.update_target()
    weights_close(policy.extra_state()["target"], ev.get_weights(), rtol=0, atol=0)
    np.testing.assert_allclose(target_q(ev, obs), policy.forward(obs)[0], rtol=1e-5, atol=1e-6)
    ev.set_weights(perturbed(ev.get_weights(), 0.1, 0))  # set_weights leaves the target alone
    assert not np.allclose(target_q(ev, obs), policy.forward(obs)[0])


def test_state_round_trip_restores_target_and_optimizer() -> None:
    a = DQNFactory()(0)
    batch = a.sample()
    for _ in range(2):
        a.learn_on_batch(batch)
    a.policy.update_target()
    a.learn_on_batch(batch)
    state = a.get_state()
    assert set(state) >= {"weights", "optimizer", "target"} and int(state["optimizer"]["step"]) == 3
    b = DQNFactory()(1)
    b.set_state(pickle.loads(pickle.dumps(state)))
    weights_close(b.policy.extra_state()["target"], state["target"], rtol=0, atol=0)
    weights_close(b.get_state()["optimizer"]["m"], state["optimizer"]["m"], rtol=0, atol=0)
    a.learn_on_batch(batch)
    b.learn_on_batch(batch)
    weights_close(a.get_weights(), b.get_weights())


def test_pickled_evaluator_keeps_target_and_optimizer() -> None:
    a = DQNFactory()(0)
    a.learn_on_batch(a.sample())
    for b in (pickle.loads(pickle.dumps(a)), pickle.loads(pickle.dumps(a.policy))):
        policy = getattr(b, "policy", b)
        assert isinstance(policy, DQNTFPolicy)
        weights_close(b.get_weights(), a.get_weights(), rtol=0, atol=0)
        weights_close(policy.extra_state()["target"], a.policy.extra_state()["target"], rtol=0, atol=0)
        assert int(policy.extra_state()["optimizer"]["step"]) == 1


# --------------------------------------------------------------------------- non-finite losses and bad input
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


def test_continuous_envs_are_unsupported_and_images_get_the_vision_q_network() -> None:
    with pytest.raises(UnsupportedOperationError, match="Discrete"):
        DQNFactory(make_continuous_corridor)(0)
    image = DQNFactory(make_image_corridor)(0).policy  # the catalog's vision Q network: no refusal
    assert image.model.conv is not None and image.weight_names[0] == "conv_0/kernel"
    ev = DQNFactory()(0)
    for call in (lambda: ev.load_batch(ev.sample()), lambda: ev.learn_on_loaded_batch(np.arange(2))):
        with pytest.raises(UnsupportedOperationError):
            call()


@pytest.mark.parametrize("model", [{"use_lstm": True}, {"use_lstm": True, "lstm_cell_size": 4, "max_seq_len": 3}])
def test_recurrent_models_are_refused_naming_the_policy(model: dict[str, Any]) -> None:
    """DQN's policy does not declare "recurrent": use_lstm is refused at construction, naming the
    policy, its capabilities and the fix (PPO and A3C's TF policies are recurrent)."""
    with pytest.raises(
        UnsupportedOperationError,
        match=r"DQNTFPolicy does not support recurrent models \(model config use_lstm=True\).*lack 'recurrent'.*"
        r"set model.use_lstm to false",
    ):
        DQNFactory(config={"model": {**DQN_CONFIG["model"], **model}})(0)


def test_missing_loss_columns_are_named() -> None:
    ev = DQNFactory()(0)
    batch = ev.sample()
    partial = SampleBatch({k: v for k, v in batch.items() if k not in ("discounts", "weights")})
    for call in (ev.learn_on_batch, ev.compute_gradients, ev.loss, ev.policy.td_error):
        with pytest.raises(SampleBatchError, match=r"\['discounts', 'weights'\]"):
            call(partial)
    assert set(LOSS_COLUMNS) <= set(batch)


# --------------------------------------------------------------------------- graphs, lr, config
def test_graphs_are_traced_once_and_lr_is_a_host_value() -> None:
    ev = DQNFactory(config={"lr_schedule": [[0, 1e-3], [100, 0.0]]})(0)
    policy = ev.policy
    for n in (1, 3, 8):
        policy.forward(np.zeros((n, 5), np.float32))
    batch = ev.sample()
    for rows in (16, 5):
        ev.learn_on_batch(batch.slice(0, rows))
        ev.compute_gradients(batch.slice(0, rows))
        ev.loss(batch.slice(0, rows))
        policy.update_target()
        ev.set_weights(ev.get_weights())
    ev.apply_gradients(ev.compute_gradients(batch)[0])
    weights = ev.get_weights()
    for value in (1e-6, 10.0, 1e-5, 20.0):  # norms below and above grad_clip (40): plain and scaled steps
        ev.apply_gradients({k: np.full_like(w, value) for k, w in weights.items()})
    ev.set_global_vars({"timestep": 100})  # the schedule's lr: 0
    assert policy.optimizer.lr == 0.0
    before = ev.get_weights()
    ev.learn_on_batch(batch)
    weights_close(ev.get_weights(), before, rtol=0, atol=0)
    adam = policy.optimizer
    fns = [policy._q_fn, policy._grads_fn, policy._loss_fn, policy._sync_fn, policy._weights_fn, policy._assign_fn]
    for fn in (*fns, adam._apply_fn, adam._apply_scaled_fn):
        assert fn.function.experimental_get_tracing_count() == 1


def test_the_policy_reads_its_loss_keys_from_the_complete_config() -> None:
    """Policies receive rl_algos' validated config whole (its defaults included) and read it as it is."""
    ev = DQNFactory()(0)
    policy = ev.policy
    for key, value in DEFAULT_CONFIG.items():
        if key not in ("seed", *DQN_CONFIG):
            assert policy.config[key] == value, key
    assert isinstance(policy.optimizer, Adam)
    assert policy.optimizer.lr == pytest.approx(DQN_CONFIG["lr"])
    assert policy.optimizer.epsilon == pytest.approx(DEFAULT_CONFIG["adam_epsilon"])
    assert policy._huber_delta == DEFAULT_CONFIG["huber_delta"] and policy._grad_clip == DEFAULT_CONFIG["grad_clip"]


def test_epsilon_greedy_acting_follows_global_vars() -> None:
    ev = DQNFactory()(0)
    obs = np.random.default_rng(2).normal(size=(200, 5)).astype(np.float32)
    greedy = ev.policy.forward(obs)[0].argmax(1)
    np.testing.assert_array_equal(ev.policy.compute_actions(obs)[0], greedy)  # epsilon 0 until the trainer sends one
    ev.set_global_vars({"epsilon": 1.0})
    assert (ev.policy.compute_actions(obs)[0] != greedy).any()
    np.testing.assert_array_equal(ev.policy.compute_actions(obs, explore=False)[0], greedy)


# --------------------------------------------------------------------------- vision Q network
#: A small conv stack for PixelGrid's 16x16 frames (model.dim 16: no resampling), ending 2x2x32.
VISION_MODEL: dict[str, Any] = {"dim": 16, "conv_filters": [[8, [4, 4], 2], [16, [4, 4], 2], [32, [3, 3], 1]]}
VISION_CONFIG: dict[str, Any] = {**DQN_CONFIG, "model": VISION_MODEL, "rollout_fragment_length": 6}


class TestContractVision(PolicyContract):
    """Every conformance check on PixelGrid-v0's uint8 frames with the vision Q network (reference loss
    on image batches: rl_algos' numpy conv trunk)."""

    algorithm = "DQN"
    composite_actions = False
    policy = DQNTFPolicy
    env = staticmethod(make_pixel_grid)
    config: ClassVar[dict[str, Any]] = VISION_CONFIG


class TestContractVisionFramestack(PolicyContract):
    """Every conformance check on PixelGrid-v0's blink variant with 2 stacked frames, a plain Q head,
    no double Q and 3-step targets."""

    algorithm = "DQN"
    composite_actions = False
    policy = DQNTFPolicy
    env = staticmethod(make_pixel_grid)
    config: ClassVar[dict[str, Any]] = {
        **VISION_CONFIG,
        "model": {**VISION_MODEL, "framestack": 2},
        "env_config": {"blink": True},
        "dueling": False,
        "double_q": False,
        "n_step": 3,
    }


def vision(config: dict[str, Any] | None = None, env_config: dict[str, Any] | None = None, seed: int = 0):
    """A rollout evaluator of DQNTFPolicy on PixelGrid-v0 (``VISION_CONFIG | config``)."""
    return DQNFactory(make_pixel_grid, {**VISION_CONFIG, **(config or {}), "env_config": env_config or {}})(seed)


@pytest.mark.parametrize("dueling", [True, False])
def test_vision_q_network_builds_through_the_catalog_on_pixel_grid(dueling: bool) -> None:
    ev = vision({"dueling": dueling})
    policy = ev.policy
    assert policy.obs_shape == (16, 16, 1) and policy.model_kind == "vision"
    assert isinstance(policy.model, QNetwork) and policy.model.conv is not None
    expected = ModelCatalog.build_q_model((16, 16, 1), 3, VISION_MODEL, "tf", hiddens=[16], dueling=dueling, seed=0)
    weights_close(policy.get_weights(), expected.get_weights(), rtol=0, atol=0)  # the catalog's model, same seed
    head = (
        ["advantage_fc_0", "advantage_out", "state_value_fc_0", "state_value_out"] if dueling else ["q_fc_0", "q_out"]
    )
    conv = [f"conv_{i}/{k}" for i in range(3) for k in ("kernel", "bias")]
    assert policy.weight_names == conv + [f"{n}/{k}" for n in head for k in ("kernel", "bias")]
    w = policy.get_weights()
    assert w["conv_0/kernel"].shape == (4, 4, 1, 8) and w[f"{head[0]}/kernel"].shape == (2 * 2 * 32, 16)
    batch = ev.sample()
    assert batch["obs"].dtype == np.float32 and batch["obs"].shape[1:] == (16, 16, 1)
    assert not policy.uses_numpy_mirror  # vision: acting goes through the Q graph
    q, v = policy.forward(batch["obs"])
    np.testing.assert_allclose(q, q_network(policy, w)(batch["obs"]), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(v, q.max(1))


def test_vision_q_network_on_an_84x84x4_uint8_shape() -> None:
    """Atari's shape: the catalog's 84x84 filters (8x8/4, 4x4/2, 11x11/1 -> 1x1x256)."""
    space = gym.spaces.Box(0, 255, (84, 84, 4), np.uint8)
    model = ModelCatalog.build_q_model((84, 84, 4), 6, {}, "tf", hiddens=[32], dueling=True, seed=0)
    w = model.get_weights()
    assert w["conv_0/kernel"].shape == (8, 8, 4, 16) and w["conv_2/kernel"].shape == (11, 11, 32, 256)
    assert w["advantage_fc_0/kernel"].shape == (256, 32)
    obs = ModelCatalog.get_preprocessor(space, {}).transform_batch(
        np.random.default_rng(0).integers(0, 256, (3, 84, 84, 4), dtype=np.uint8)
    )
    q = model(obs).numpy()
    assert q.shape == (3, 6) and np.isfinite(q).all()
    policy = DQNTFPolicy(space, gym.spaces.Discrete(6), dqn_config(hiddens=[32], model={}, seed=0))
    assert policy.forward(obs)[0].shape == (3, 6)


@pytest.mark.parametrize("image", [False, True], ids=["fc", "vision"])
def test_learn_on_batch_from_a_thread_matches_the_main_thread(image: bool) -> None:
    """Ape-X's learner runs learn_on_batch in a background thread: 20 updates there (the graphs traced
    there on first use) give the same weights, target and Adam state as 20 in the main thread."""
    make = (lambda: vision()) if image else (lambda: DQNFactory()(0))
    main, threaded = make(), make()
    batch = main.sample() if image else rich_batch(main)
    for _ in range(20):
        main.learn_on_batch(batch)
    main.policy.update_target()
    infos: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def learner() -> None:
        try:
            for _ in range(20):
                infos.append(threaded.learn_on_batch(batch))
            threaded.policy.update_target()
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(e)

    thread = threading.Thread(target=learner, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors, errors
    assert len(infos) == 20 and all(np.isfinite(i["loss"]) for i in infos)
    weights_close(threaded.get_weights(), main.get_weights(), rtol=1e-6, atol=1e-7)
    weights_close(threaded.policy.extra_state()["target"], main.policy.extra_state()["target"], rtol=1e-6, atol=1e-7)
    assert threaded.policy.optimizer.get_state()["step"] == main.policy.optimizer.get_state()["step"] == 20
    threaded.learn_on_batch(batch)  # and the main thread can go on using it


def test_q_builder_registered_for_the_catalog_and_apex_policy_is_dqns() -> None:
    import rlcore

    assert rlcore.get_spec("model", "q", "tf").target == "rl_tf.dqn:QNetwork"
    assert rlcore.get_policy_class("APEX", "tf") is DQNTFPolicy
    assert rlcore.get_spec("policy", "APEX", "tf").capabilities == DQNTFPolicy.capabilities
