"""DQNTorchPolicy: rlcore's policy conformance suite (1-step and 3-step targets, inside the rollout
evaluator with DQN's n-step postprocessing) plus DQN specifics (loss and gradient vs rl_algos'
numpy reference, forward vs the numpy mirror, target network, NaN guard)."""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlcore
from rl_algos.dqn.reference_loss import dqn_loss, q_network
from rl_algos.envs import make_pixel_grid
from rl_torch import plugin
from rl_torch.dqn import INFO_KEYS, DQNTorchPolicy, QNetwork
from rlcore.errors import NonFiniteLossError, SampleBatchError, UnsupportedOperationError
from rlcore.models import ModelCatalog, layout
from rlcore.models.layout import check_weights
from rlcore.sample_batch import SampleBatch
from rlcore.testing import PolicyContract
from rlcore.testing.envs import make_continuous_corridor, make_corridor, make_image_corridor
from rlcore.testing.policies import PolicyEvaluatorFactory

BASE_CONFIG: dict[str, Any] = {
    "num_envs": 2,
    "rollout_fragment_length": 8,
    "lr": 1e-3,
    "model": {"fcnet_hiddens": [16]},
    "hiddens": [16],
}


def Factory(config: dict[str, Any] | None = None) -> PolicyEvaluatorFactory:
    """The rollout evaluator around DQNTorchPolicy with DQN's postprocessing, ``BASE_CONFIG | config``."""
    return PolicyEvaluatorFactory("DQN", DQNTorchPolicy, make_corridor, {**BASE_CONFIG, **(config or {})})


class TestContract(PolicyContract):
    """Every conformance check with 1-step targets (dueling, double Q: the defaults)."""

    algorithm = "DQN"
    composite_actions = False  # Q-learning needs Discrete actions: the refusal is asserted
    policy = DQNTorchPolicy
    config: ClassVar[dict[str, Any]] = BASE_CONFIG


class TestContractNStep(PolicyContract):
    """Every conformance check with 3-step targets, a plain Q head and no double Q."""

    algorithm = "DQN"
    composite_actions = False  # Q-learning needs Discrete actions: the refusal is asserted
    policy = DQNTorchPolicy
    config: ClassVar[dict[str, Any]] = {
        **BASE_CONFIG,
        "n_step": 3,
        "dueling": False,
        "double_q": False,
        "grad_clip": 0.1,
    }


# --------------------------------------------------------------------------- helpers
def perturbed(w: dict[str, np.ndarray], scale: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in w.items()}


def assert_state_equal(a: Any, b: Any, path: str = "state") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            assert_state_equal(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, path


def random_batch(ev: DQNTorchPolicy, n: int = 12, seed: int = 3) -> SampleBatch:
    """Rows with varied rewards, discounts, terminations and importance weights."""
    rng = np.random.default_rng(seed)
    dim = int(np.prod(ev.obs_shape))
    return SampleBatch(
        {
            "obs": rng.standard_normal((n, dim)).astype(np.float32),
            "actions": rng.integers(0, ev.num_actions, n).astype(np.int64),
            "rewards": rng.standard_normal(n).astype(np.float32) * 3,
            "next_obs": rng.standard_normal((n, dim)).astype(np.float32),
            "terminateds": rng.random(n) < 0.3,
            "truncateds": np.zeros(n, bool),
            "discounts": rng.choice([0.99, 0.99**2, 0.99**3], n).astype(np.float32),
            "weights": rng.uniform(0.2, 1.5, n).astype(np.float32),
            "eps_id": np.zeros(n, np.int64),
        }
    )


# --------------------------------------------------------------------------- loss
@pytest.mark.parametrize("dueling", [True, False])
@pytest.mark.parametrize("double_q", [True, False])
def test_loss_and_gradient_match_numpy_reference(dueling: bool, double_q: bool) -> None:
    ev = Factory({"dueling": dueling, "double_q": double_q, "huber_delta": 0.7})(0).policy
    # Online and target differ, so double Q's argmax picks differ from the target's own.
    ev.set_weights(perturbed(ev.get_weights(), 0.3, 1))
    ev.set_extra_state({"target": perturbed(ev.get_weights(), 0.3, 2)})
    batch = random_batch(ev)
    ref = dqn_loss(ev, batch, ev.get_state()["target"])
    grads, info = ev.compute_gradients(batch)
    assert list(info) == [*INFO_KEYS, "td_error"]
    assert all(type(info[k]) is float for k in INFO_KEYS)
    assert info["td_error"].dtype == np.float32 and info["td_error"].shape == (batch.count,)
    np.testing.assert_allclose(info["td_error"], ref["td_error"], rtol=1e-5, atol=1e-5)
    for key in ("loss", "mean_q", "mean_td_error"):
        np.testing.assert_allclose(info[key], ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert ev.loss(batch) == pytest.approx(ref["loss"], rel=1e-5)
    np.testing.assert_allclose(ev.td_error(batch), ref["td_error"], rtol=1e-5, atol=1e-5)
    # The output biases shift Q(obs, .) directly: their gradient is the Huber derivative per action
    # (nothing flows through the targets).
    dq = ref["dhuber"]
    per_action = np.bincount(batch["actions"], weights=dq, minlength=ev.num_actions)
    if dueling:  # Q = V + A - mean(A)
        np.testing.assert_allclose(grads["state_value_out/bias"], [dq.sum()], rtol=1e-4, atol=1e-6)
        expected = per_action - dq.sum() / ev.num_actions
        np.testing.assert_allclose(grads["advantage_out/bias"], expected, rtol=1e-4, atol=1e-6)
    else:
        np.testing.assert_allclose(grads["q_out/bias"], per_action, rtol=1e-4, atol=1e-6)
    squared = sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads.values())
    assert info["grad_norm"] == pytest.approx(np.sqrt(squared), rel=1e-4)


def test_q_forward_matches_numpy_q_network() -> None:
    for config in ({}, {"dueling": False, "model": {"fcnet_hiddens": [8, 8], "fcnet_activation": "relu"}}):
        ev = Factory(config)(0).policy
        ev.set_weights(perturbed(ev.get_weights(), 0.5, 4))
        obs = np.random.default_rng(0).standard_normal((6, *ev.obs_shape)).astype(np.float32)
        q = q_network(ev, ev.get_weights())(obs)
        np.testing.assert_allclose(ev.forward(obs)[0], q, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ev.compute_actions(obs, explore=False)[0], q.argmax(axis=1))
        check_weights(ev.q_layout(), ev.get_weights(), "q weights")


def test_target_network() -> None:
    ev = Factory()(None)  # unseeded: the target is still built equal to the online network
    assert_state_equal(ev.get_state()["target"], ev.get_weights())
    batch = ev.sample()
    for _ in range(3):
        ev.learn_on_batch(batch)
    target = ev.get_state()["target"]
    assert not np.array_equal(target["fc_0/kernel"], ev.get_weights()["fc_0/kernel"])
    ev.policy.update_target()
    assert_state_equal(ev.get_state()["target"], ev.get_weights())
    # the target lives in the state: a fresh evaluator restores it (and Adam) from there
    ev.learn_on_batch(batch)
    other = Factory()(1)
    other.set_state(ev.get_state())
    assert_state_equal(other.get_state(), ev.get_state())
    assert other.loss(batch) == ev.loss(batch)
    clone = pickle.loads(pickle.dumps(ev))
    assert_state_equal(clone.get_state(), ev.get_state())


def test_registered_through_the_plugin() -> None:
    assert rlcore.get_policy_class("DQN", "torch") is DQNTorchPolicy
    spec = rlcore.get_spec("policy", "DQN", "torch")
    assert spec.capabilities == DQNTorchPolicy.capabilities == frozenset(plugin.DQN_CAPABILITIES)


def test_unsupported_spaces_and_lr_schedule() -> None:
    with pytest.raises(UnsupportedOperationError, match="Discrete"):
        Factory()(0, env_creator=make_continuous_corridor)
    # images get the vision Q network (conv trunk) from the catalog, no refusal
    image = Factory()(0, env_creator=make_image_corridor).policy
    assert image.model.conv_trunk is not None and image.model_layout()[0].name == "conv_0/kernel"
    ev = Factory({"lr_schedule": [(0, 1e-3), (100, 1e-4)]})(0)
    ev.set_global_vars({"timestep": 100})
    assert ev.policy._adam.lr == pytest.approx(1e-4)
    batch = ev.sample()
    del batch["discounts"]
    with pytest.raises(SampleBatchError, match="discounts"):
        ev.learn_on_batch(batch)


def test_use_lstm_is_refused_naming_the_policy() -> None:
    """DQN's policy declares no 'recurrent': use_lstm is refused, in the evaluator and in the policy itself."""
    message = r"DQNTorchPolicy does not support recurrent models \(model config use_lstm=True\).*use_lstm to false"
    with pytest.raises(UnsupportedOperationError, match=message):
        Factory({"model": {"use_lstm": True}})(0)
    env = make_corridor({})
    with pytest.raises(UnsupportedOperationError, match=message):
        DQNTorchPolicy(env.observation_space, env.action_space, {**Factory()(0).config, "model": {"use_lstm": True}})


@pytest.mark.parametrize("column", ["rewards", "next_obs", "weights"])
def test_non_finite_loss_is_refused(column: str) -> None:
    ev = Factory()(0)
    batch = ev.sample()
    before = ev.get_state()
    bad = batch.copy()
    bad[column][2] = np.nan
    for call in (ev.learn_on_batch, ev.compute_gradients):
        with pytest.raises(NonFiniteLossError, match=rf"loss term 'loss'.*\['{column}'\].*applied"):
            call(bad)
    assert_state_equal(ev.get_state(), before)
    grads, _ = ev.compute_gradients(batch)
    grads["fc_0/kernel"][0, 0] = np.inf
    with pytest.raises(NonFiniteLossError, match=r"fc_0/kernel.*nothing was applied"):
        ev.apply_gradients(grads)
    assert_state_equal(ev.get_state(), before)


# --------------------------------------------------------------------------- vision Q network
#: A small conv stack for PixelGrid's 16x16 frames (model.dim 16: no resampling), ending 2x2x32.
VISION_MODEL: dict[str, Any] = {"dim": 16, "conv_filters": [[8, [4, 4], 2], [16, [4, 4], 2], [32, [3, 3], 1]]}
VISION_CONFIG: dict[str, Any] = {**BASE_CONFIG, "model": VISION_MODEL, "num_envs": 2, "rollout_fragment_length": 6}


class TestContractVision(PolicyContract):
    """Every conformance check on PixelGrid-v0's uint8 frames with the vision Q network (reference loss
    on image batches: rl_algos' numpy conv trunk)."""

    algorithm = "DQN"
    composite_actions = False
    policy = DQNTorchPolicy
    env = staticmethod(make_pixel_grid)
    config: ClassVar[dict[str, Any]] = VISION_CONFIG


class TestContractVisionFramestack(PolicyContract):
    """Every conformance check on PixelGrid-v0's blink variant with 2 stacked frames, a plain Q head,
    no double Q and 3-step targets."""

    algorithm = "DQN"
    composite_actions = False
    policy = DQNTorchPolicy
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
    """A rollout evaluator of DQNTorchPolicy on PixelGrid-v0 (``VISION_CONFIG | config``)."""
    factory = Factory({**VISION_CONFIG, **(config or {}), "env_config": env_config or {}})
    return factory(seed, env_creator=make_pixel_grid)


@pytest.mark.parametrize("dueling", [True, False])
def test_vision_q_network_builds_through_the_catalog_on_pixel_grid(dueling: bool) -> None:
    ev = vision({"dueling": dueling})
    policy = ev.policy
    assert policy.obs_shape == (16, 16, 1) and policy.model_kind == "vision"
    assert isinstance(policy.model, QNetwork) and policy.model.conv_trunk is not None
    expected = ModelCatalog.build_q_model(
        (16, 16, 1), 3, VISION_MODEL, "torch", hiddens=[16], dueling=dueling, seed=policy.seed
    )
    assert_state_equal(policy.get_weights(), expected.get_weights())  # the catalog's model, same seed
    names = [p.name for p in policy.model_layout()]
    assert names[:6] == [f"conv_{i}/{k}" for i in range(3) for k in ("kernel", "bias")]
    head = (
        ["advantage_fc_0", "advantage_out", "state_value_fc_0", "state_value_out"] if dueling else ["q_fc_0", "q_out"]
    )
    assert names[6:] == [f"{n}/{k}" for n in head for k in ("kernel", "bias")]
    assert policy.get_weights()["conv_0/kernel"].shape == (4, 4, 1, 8)  # canonical HWIO
    assert policy.get_weights()[names[6]].shape[0] == 2 * 2 * 32  # NHWC-flattened 2x2x32 features
    check_weights(
        layout.q_layout((16, 16, 1), 3, ModelCatalog.resolve_model_config(VISION_MODEL), [16], dueling),
        policy.get_weights(),
        "q weights",
    )
    batch = ev.sample()
    assert batch["obs"].dtype == np.float32 and batch["obs"].shape[1:] == (16, 16, 1)
    assert policy._mirror is None  # vision: acting goes through forward
    q, _ = policy.forward(batch["obs"])
    np.testing.assert_allclose(q, q_network(policy, policy.get_weights())(batch["obs"]), rtol=1e-4, atol=1e-5)


def test_vision_q_network_on_an_84x84x4_uint8_shape() -> None:
    """Atari's shape: the catalog's 84x84 filters (8x8/4, 4x4/2, 11x11/1 -> 1x1x256)."""
    space = gym.spaces.Box(0, 255, (84, 84, 4), np.uint8)
    model = ModelCatalog.build_q_model((84, 84, 4), 6, {}, "torch", hiddens=[32], dueling=True, seed=0)
    w = model.get_weights()
    assert w["conv_0/kernel"].shape == (8, 8, 4, 16) and w["conv_2/kernel"].shape == (11, 11, 32, 256)
    assert w["advantage_fc_0/kernel"].shape == (256, 32)
    obs = ModelCatalog.get_preprocessor(space, {}).transform_batch(
        np.random.default_rng(0).integers(0, 256, (3, 84, 84, 4), dtype=np.uint8)
    )
    with torch.no_grad():
        q = model(torch.from_numpy(obs))
    assert q.shape == (3, 6) and torch.isfinite(q).all()
    policy = DQNTorchPolicy(space, gym.spaces.Discrete(6), {**Factory()(0).config, "hiddens": [32], "model": {}})
    assert policy.forward(obs)[0].shape == (3, 6)


def test_vision_framestack_2_stacks_the_last_two_frames() -> None:
    """framestack 2 on PixelGrid's blink variant: 2 channels, oldest first; an episode's first frame fills both."""
    ev = vision(
        {"model": {**VISION_MODEL, "framestack": 2}, "num_envs": 1, "rollout_fragment_length": 10}, {"blink": True}
    )
    assert ev.policy.obs_shape == (16, 16, 2)
    assert ev.policy.get_weights()["conv_0/kernel"].shape == (4, 4, 2, 8)
    batch = ev.sample()  # one whole 10-step episode
    obs, next_obs = batch["obs"], batch["next_obs"]
    assert obs.shape == (10, 16, 16, 2)
    np.testing.assert_array_equal(obs[0, ..., 0], obs[0, ..., 1])
    np.testing.assert_array_equal(obs[1:, ..., 0], obs[:-1, ..., 1])  # the previous frame, then the current one
    np.testing.assert_array_equal(next_obs[:-1], obs[1:])
    assert np.isfinite(ev.learn_on_batch(batch)["loss"])


def test_q_builder_registered_for_the_catalog_and_apex_policy_is_dqns() -> None:
    assert rlcore.get_spec("model", "q", "torch").target == "rl_torch.dqn:QNetwork"
    assert rlcore.get_policy_class("APEX", "torch") is DQNTorchPolicy
    spec = rlcore.get_spec("policy", "APEX", "torch")
    assert spec.capabilities == DQNTorchPolicy.capabilities
