"""Numpy acting equals the framework's own, for every algorithm, framework and catalog model kind (issue 16).

For each algorithm (PPO, A2C, A3C, DQN, APEX, ES), framework (torch, tf; numpy for ES) and catalog model kind the
algorithm supports (fc, with its options; vision on rl_algos' ``PixelGrid-v0`` frames, with small
filters, the catalog's default 84x84 filters and a frame stack; lstm on an fc and a vision trunk
for the recurrent PPO/A2C/A3C; Box (clipped or not), Tuple, Dict, MultiDiscrete and shifted
Discrete action spaces; Discrete, Tuple and Dict observation spaces) an embedded trainer
(``num_workers: 0``: every one of them runs without Ray) trains one tiny iteration; its weights
are then widened with noise (so outputs are about 1, not the 0.01 of a fresh output layer) and it
saves. ``rlcore.policy.load`` reads the checkpoint without the trainer, and

* ``policy_outputs`` on raw observations equals the framework policy's own ``forward`` (or
  ``forward_step`` across an episode, with states on both sides) on the same observations put
  through the trainer's local evaluator's preprocessor and observation filter, to 1e-5;
* ``compute_action`` (deterministic) equals ``trainer.compute_action`` at every step of an episode
  of the env (with ``new_acting_state`` on both sides: frame stacks, recurrent states).

The trainers act with ``numpy_inference: false`` (their actions come from the framework's forward,
not from the core's numpy mirror of fc models), except the ``default-acting`` cases (the mirror,
as by default). A checkpoint of a custom model is refused by ``rlcore.policy.load`` with
``FrameworkRequiredError`` naming the framework plugin's distribution and the install command.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlcore.policy
from rlcore.envs import make_env, register_env
from rlcore.models import ModelCatalog
from rlcore.models.preprocessors import Preprocessor
from rlcore.registration import get_algorithm_class
from rlcore.testing.envs import register_test_envs

ATOL = RTOL = 1e-5
#: Steps of the episode over which actions are compared (and the first STATE_STEPS over which the
#: outputs of stateful models are compared with states on both sides).
EPISODE_STEPS = 30
STATE_STEPS = 5

FC = {"fcnet_hiddens": [16]}
SMALL_FILTERS = [[4, [4, 4], 2], [8, [4, 4], 2], [8, [4, 4], 1]]  # 16x16 -> 8x8 -> 4x4 -> 1x1 (valid)
VISION = {"dim": 16, "conv_filters": SMALL_FILTERS, "fcnet_hiddens": [16]}
VISION_84 = {}  # PixelGrid's 16x16 frames resized to the default dim 84: the catalog's default 84x84 filters
VISION_STACK = {**VISION, "framestack": 2}
LSTM = {"use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 5, "fcnet_hiddens": [8]}
LSTM_VISION = {**VISION, "use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 5}

#: Tiny per-algorithm configs: one iteration samples a few dozen steps and learns on them.
DQN_CONFIG: dict[str, Any] = {
    "timesteps_per_iteration": 32,
    "learning_starts": 16,
    "buffer_size": 200,
    "train_batch_size": 8,
    "rollout_fragment_length": 8,
    "hiddens": [8],
}
ALGO_CONFIGS: dict[str, dict[str, Any]] = {
    "PPO": {"train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 1, "rollout_fragment_length": 32},
    "A2C": {"train_batch_size": 32, "rollout_fragment_length": 16},
    "A3C": {"grads_per_step": 2, "rollout_fragment_length": 10},
    "DQN": DQN_CONFIG,
    "APEX": {**DQN_CONFIG, "num_replay_buffer_shards": 1, "target_network_update_freq": 50},
    "ES": {"noise_size": 100_000, "episodes_per_batch": 2, "train_batch_size": 20, "eval_prob": 0.5},
}


class DictObsCartPole(gym.Wrapper):
    """CartPole-v1 seen through a Dict observation whose keys are not sorted (``velocity``, ``position``,
    ``phase``), with a rank-2 Box part and a Discrete part, and actions ``Discrete(2, start=5)``."""

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.observation_space = gym.spaces.Dict(
            OrderedDict(
                velocity=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
                position=gym.spaces.Box(-5.0, 5.0, (2, 1), np.float32),
                phase=gym.spaces.Discrete(4),
            )
        )
        self.action_space = gym.spaces.Discrete(2, start=5)
        self.t = 0

    def _obs(self, obs: np.ndarray) -> OrderedDict:
        obs = np.asarray(obs, np.float32)
        return OrderedDict(velocity=obs[[1, 3]], position=obs[[0, 2]].reshape(2, 1), phase=self.t % 4)

    def reset(self, **kwargs: Any) -> tuple[OrderedDict, dict]:
        self.t = 0
        obs, info = self.env.reset(**kwargs)
        return self._obs(obs), info

    def step(self, action: Any) -> tuple[OrderedDict, float, bool, bool, dict]:
        assert self.action_space.contains(action), action
        obs, reward, terminated, truncated, info = self.env.step(int(action) - 5)
        self.t += 1
        return self._obs(obs), float(reward), terminated, truncated, info


DICT_OBS_ENV = "NumpyActingDictObsCartPole-v0"


class WithSquares(Preprocessor):
    """A user's numpy preprocessor: a flat observation followed by its squares."""

    def __init__(self, obs_space: gym.Space, options: Any = None) -> None:
        super().__init__(obs_space, options)
        self.shape = (2 * int(np.prod(obs_space.shape)),)

    def transform_batch(self, obs_batch: Any) -> np.ndarray:
        x = np.asarray(obs_batch, np.float32).reshape(len(obs_batch), -1)
        return np.concatenate([x, x * x], axis=1)


CUSTOM_PREPROCESSOR = "numpy_acting_with_squares"


def _register_envs() -> None:
    """The test envs, the Dict-observation env and the custom preprocessor, in this process."""
    register_test_envs()
    register_env(DICT_OBS_ENV, DictObsCartPole, override=True)
    ModelCatalog.register_custom_preprocessor(CUSTOM_PREPROCESSOR, WithSquares)


@dataclass(frozen=True)
class Case:
    """One trainer: algorithm, framework, what it is (the id), env and model."""

    algo: str
    framework: str
    what: str
    env: str
    model: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.algo}-{self.framework}-{self.what}"

    def trainer_config(self) -> dict[str, Any]:
        # numpy_inference false: the trainer acts through the framework's forward, not the core's
        # numpy mirror of fc models (the "default-acting" cases keep the default, the mirror)
        cfg = {**ALGO_CONFIGS[self.algo], "framework": self.framework, "num_workers": 0, "seed": 0}
        return {**cfg, "numpy_inference": False, "model": dict(self.model), **self.config}

    @property
    def stateful(self) -> bool:
        return bool(self.model.get("use_lstm")) or int(self.model.get("framestack", 1)) > 1


MEAN_STD = {"observation_filter": "MeanStdFilter"}
PIXELS = "PixelGrid-v0"

#: (algorithm, what, env, model, config) for each framework.
KINDS: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
    # PPO: every model kind and action space the catalog has
    ("PPO", "fc", "CartPole-v1", FC, MEAN_STD),
    ("PPO", "vision", PIXELS, VISION, {}),
    ("PPO", "vision-default-filters-84", PIXELS, VISION_84, {"train_batch_size": 32, "sgd_minibatch_size": 32}),
    ("PPO", "vision-framestack", PIXELS, VISION_STACK, {}),
    ("PPO", "lstm", "StatelessCartPole-v1", LSTM, MEAN_STD),
    ("PPO", "lstm-vision", PIXELS, LSTM_VISION, {}),
    ("PPO", "box-actions", "Pendulum-v1", FC, MEAN_STD),
    ("PPO", "tuple-actions", "TestTupleTarget-v0", FC, MEAN_STD),
    ("PPO", "dict-actions", "TestDictTarget-v0", FC, {}),
    ("PPO", "multidiscrete-actions", "TestMultiDiscreteCorridor-v0", FC, {}),
    ("PPO", "box-actions-unclipped", "Pendulum-v1", FC, {"clip_actions": False}),
    ("PPO", "box-actions-free-log-std", "Pendulum-v1", {**FC, "free_log_std": True}, {}),
    ("PPO", "discrete-obs", "FrozenLake-v1", FC, {}),
    ("PPO", "tuple-obs", "Blackjack-v1", FC, MEAN_STD),
    ("PPO", "dict-obs-shifted-actions", DICT_OBS_ENV, FC, MEAN_STD),
    ("PPO", "fc-framestack", "CartPole-v1", {**FC, "framestack": 3}, MEAN_STD),
    ("PPO", "custom-preprocessor", "CartPole-v1", {**FC, "custom_preprocessor": CUSTOM_PREPROCESSOR}, MEAN_STD),
    ("PPO", "fc-vf-share-layers", "CartPole-v1", {**FC, "vf_share_layers": True}, {}),
    ("PPO", "fc-default-acting", "CartPole-v1", FC, {**MEAN_STD, "numpy_inference": True}),
    # A2C and A3C: fc, vision, lstm
    ("A2C", "fc", "CartPole-v1", FC, MEAN_STD),
    ("A2C", "fc-relu", "CartPole-v1", {**FC, "fcnet_activation": "relu"}, {}),
    ("A2C", "vision", PIXELS, VISION, {}),
    ("A2C", "lstm", "StatelessCartPole-v1", LSTM, MEAN_STD),
    ("A3C", "fc", "CartPole-v1", FC, MEAN_STD),
    ("A3C", "vision", PIXELS, VISION, {}),
    ("A3C", "lstm", "CartPole-v1", LSTM, {}),
    # DQN and APEX: fc and vision Q networks (no lstm or custom Q networks in the catalog)
    ("DQN", "fc", "CartPole-v1", FC, MEAN_STD),
    ("DQN", "fc-no-dueling", "CartPole-v1", FC, {"dueling": False, "hiddens": [8, 8]}),
    ("DQN", "fc-default-acting", "CartPole-v1", FC, {"numpy_inference": True}),
    ("DQN", "vision", PIXELS, VISION, {}),
    ("DQN", "vision-tanh", PIXELS, {**VISION, "conv_activation": "tanh"}, {}),
    ("DQN", "dict-obs-shifted-actions", DICT_OBS_ENV, FC, {}),
    ("DQN", "vision-framestack", PIXELS, VISION_STACK, {}),
    ("DQN", "discrete-obs", "FrozenLake-v1", FC, {}),
    ("APEX", "fc", "CartPole-v1", FC, {}),
    ("APEX", "vision", PIXELS, VISION, {}),
    # ES: the framework's ES policy (fc or vision), one iteration on a small noise table
    ("ES", "fc", "CartPole-v1", FC, {}),
    ("ES", "vision", PIXELS, VISION, {}),
    ("ES", "box-actions", "Pendulum-v1", FC, {}),
]
CASES = [
    Case(algo, framework, what, env, model, config)
    for algo, what, env, model, config in KINDS
    for framework in ("torch", "tf")
] + [
    # ES's own numpy policy (its default framework: rlcore-algos alone trains it), fc only
    Case("ES", "numpy", "fc", "CartPole-v1", FC, MEAN_STD),
    Case("ES", "numpy", "box-actions", "Pendulum-v1", FC, {}),
]


@dataclass
class Built:
    case: Case
    trainer: Any
    path: Path
    loaded: Any
    raw_obs: list[Any]  # observations of a few episodes under random actions (a batch)


def _as_batch(raw_obs: list[Any], space: gym.Space) -> Any:
    """A batch of raw observations as both sides take it: an array for Box/Discrete spaces, else a list."""
    if isinstance(space, gym.spaces.Tuple | gym.spaces.Dict):
        return list(raw_obs)
    return np.stack([np.asarray(o) for o in raw_obs])


def _random_observations(case: Case, n: int, seed: int) -> list[Any]:
    env = make_env(case.env, case.config.get("env_config"))
    env.action_space.seed(seed)
    observations: list[Any] = []
    obs, _ = env.reset(seed=seed)
    while len(observations) < n:
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return observations


def _widen(weights: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The weights plus He-scaled noise (kernels ``N(0, 1/fan_in)``, other arrays ``N(0, 0.1)``).

    After one tiny iteration the catalog's initialization still shows: the output layers are drawn
    with std 0.01, so the outputs are about 0.01 and a comparison to 1e-5 would hold for little. With
    the noise they are about 1 and vary between observations, and deterministic actions vary too."""
    rng = np.random.default_rng(seed)
    wide = {}
    for name, w in weights.items():
        scale = 1.0 / np.sqrt(np.prod(w.shape[:-1])) if w.ndim >= 2 else 0.1
        wide[name] = (w + rng.normal(0.0, scale, w.shape)).astype(w.dtype)
    return wide


def _build(case: Case, folder: Path) -> Built:
    """The case's trainer after one iteration (weights widened), its checkpoint in ``folder`` and
    the checkpoint loaded with numpy. The caller stops the trainer."""
    _register_envs()
    trainer = get_algorithm_class(case.algo)(config=case.trainer_config(), env=case.env)
    try:
        result = trainer.train()
        assert result["training_iteration"] == 1
        policy = trainer.local_evaluator.policy
        assert policy.framework == case.framework
        if case.framework == "numpy":  # ES's numpy policy: its forward is the core's mirror itself
            pass
        elif not case.trainer_config()["numpy_inference"]:
            assert not policy.uses_numpy_mirror, "numpy_inference: false, yet the policy acts through the mirror"
        else:
            assert policy.uses_numpy_mirror, "numpy_inference: true, yet the fc policy acts without the mirror"
        trainer.local_evaluator.set_weights(_widen(trainer.local_evaluator.get_weights(), seed=len(case.id)))
        path = trainer.save(folder)
        loaded = rlcore.policy.load(path)
        assert loaded.policy.framework == "numpy" and loaded.policy.model_kind == policy.model_kind, repr(loaded)
        return Built(case, trainer, path, loaded, _random_observations(case, 32, seed=3))
    except BaseException:
        trainer.stop()
        raise


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The case's trainer after one iteration, its checkpoint and the checkpoint loaded with numpy."""
    case: Case = request.param
    result = _build(case, tmp_path_factory.mktemp(case.id))
    try:
        yield result
    finally:
        result.trainer.stop()


def _framework_outputs(policy: Any, x: np.ndarray, recurrent: list[np.ndarray]) -> tuple[np.ndarray, list]:
    """The framework policy's own outputs on filtered observations ``x`` (never the numpy mirror):
    ``forward`` (dist inputs or Q-values), or ``forward_step`` from ``recurrent`` for the LSTM."""
    if policy.recurrent:
        out, _, state = policy.forward_step(x, recurrent)
        return np.asarray(out), [np.asarray(s) for s in state]
    out, _ = policy.forward(x)
    return np.asarray(out), recurrent


def _assert_close(got: Any, want: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: numpy outputs have shape {got.shape}, the framework's {want.shape}"
    diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if got.size else 0.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{what}: max abs diff {diff:.3g}")


def test_loaded_policy_describes_the_checkpoint(built: Built) -> None:
    case, loaded, policy = built.case, built.loaded, built.trainer.local_evaluator.policy
    assert (loaded.algorithm, loaded.framework, loaded.env) == (case.algo, case.framework, case.env)
    assert loaded.recurrent == policy.recurrent
    ev = built.trainer.local_evaluator
    for mine, theirs in [(loaded.observation_space, ev.observation_space), (loaded.action_space, ev.action_space)]:
        assert mine == theirs and repr(mine) == repr(theirs)  # repr: a Dict's keys in the same order too


def test_policy_outputs_equal_the_framework_forward(built: Built) -> None:
    """A batch of raw observations, each a new episode on both sides (a fresh frame stack, the zero
    recurrent state); for stateful models (frame stacks, LSTM) then one episode step by step, the
    frame stacks and recurrent states carried by each side's own acting state."""
    case, ev, loaded = built.case, built.trainer.local_evaluator, built.loaded
    batch = _as_batch(built.raw_obs, ev.observation_space)
    x = ev.sampler.compute_obs(batch)  # the evaluator's preprocessor and filter (not updated)
    want, _ = _framework_outputs(ev.policy, x, ev.new_acting_state(len(x)).recurrent)
    got = loaded.policy_outputs(batch)
    assert np.asarray(got).dtype == np.float32
    _assert_close(got, want, f"{case.id}: policy_outputs of {len(x)} raw observations")
    assert np.ptp(want, axis=0).max() > 1e-2, f"{case.id}: the outputs hardly vary between observations: {want}"
    if not case.stateful:
        return
    env = make_env(case.env, case.config.get("env_config"))
    obs, _ = env.reset(seed=11)
    ours, theirs = ev.new_acting_state(1), loaded.new_acting_state(1)
    for t in range(STATE_STEPS):
        batch = _as_batch([obs], ev.observation_space)
        x = ev.sampler.compute_obs(batch, ours.prep)
        want, ours.recurrent = _framework_outputs(ev.policy, x, ours.recurrent)
        _assert_close(loaded.policy_outputs(batch, theirs), want, f"{case.id}: policy_outputs at episode step {t}")
        obs, _, terminated, truncated, _ = env.step(built.trainer.compute_action(obs))
        assert not (terminated or truncated), f"{case.env} ended within {STATE_STEPS} steps"
    env.close()


def _assert_same_action(got: Any, want: Any, space: gym.Space, what: str) -> None:
    if isinstance(space, gym.spaces.Tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{what}: {got!r} vs {want!r}"
        for i, sub in enumerate(space.spaces):
            _assert_same_action(got[i], want[i], sub, f"{what}[{i}]")
    elif isinstance(space, gym.spaces.Dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{what}: {got!r} vs {want!r}"
        for key, sub in space.spaces.items():
            _assert_same_action(got[key], want[key], sub, f"{what}[{key!r}]")
    elif isinstance(space, gym.spaces.Box):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=RTOL, atol=ATOL, err_msg=what)
        assert space.contains(np.asarray(got, dtype=space.dtype)), f"{what}: {got!r} outside {space}"
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=what)
        assert space.contains(got), f"{what}: {got!r} is not in {space}"


def test_deterministic_actions_equal_the_trainers_over_an_episode(built: Built) -> None:
    case, trainer, loaded = built.case, built.trainer, built.loaded
    env = make_env(case.env, case.config.get("env_config"))
    obs, _ = env.reset(seed=5)
    ours, theirs = trainer.new_acting_state(), loaded.new_acting_state()
    for t in range(EPISODE_STEPS):
        want = trainer.compute_action(obs, explore=False, state=ours)
        got = loaded.compute_action(obs, state=theirs, explore=False)
        _assert_same_action(got, want, env.action_space, f"{case.id}: step {t}'s action")
        obs, _, terminated, truncated, _ = env.step(want)
        if terminated or truncated:
            break
    env.close()


def test_deterministic_actions_of_a_batch_equal_the_evaluators(built: Built) -> None:
    """``compute_actions`` on a batch of raw observations (each row a new episode) equals the local
    evaluator's ``compute_actions``: arrays, or lists of Tuple/Dict actions."""
    ev, loaded = built.trainer.local_evaluator, built.loaded
    batch = _as_batch(built.raw_obs, ev.observation_space)
    want, got = ev.compute_actions(batch, explore=False), loaded.compute_actions(batch, explore=False)
    assert len(got) == len(want) == len(built.raw_obs)
    if isinstance(ev.action_space, gym.spaces.Tuple | gym.spaces.Dict):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _assert_same_action(a, b, ev.action_space, f"{built.case.id}: row {i}'s action")
    elif isinstance(ev.action_space, gym.spaces.Box):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{built.case.id}: actions")
    else:
        assert isinstance(got, np.ndarray) and got.dtype == np.asarray(want).dtype, (type(got), got)
        np.testing.assert_array_equal(got, want, err_msg=f"{built.case.id}: actions")


#: Every check of a built case, for the cases built outside the module's fixture.
CHECKS = (
    test_loaded_policy_describes_the_checkpoint,
    test_policy_outputs_equal_the_framework_forward,
    test_deterministic_actions_equal_the_trainers_over_an_episode,
    test_deterministic_actions_of_a_batch_equal_the_evaluators,
)

RAY_CASES = [
    Case("PPO", "torch", "fc-1-ray-worker", "CartPole-v1", FC, {**MEAN_STD, "num_workers": 1}),
    Case("A3C", "torch", "lstm-1-ray-worker", "StatelessCartPole-v1", LSTM, {**MEAN_STD, "num_workers": 1}),
]


@pytest.mark.ray
@pytest.mark.parametrize("case", RAY_CASES, ids=[c.id for c in RAY_CASES])
def test_a_checkpoint_of_a_trainer_with_a_ray_worker_acts_the_same(case, ray_session, tmp_path):
    """A remote worker samples and the local evaluator's filter is synced from it (MeanStdFilter): the
    checkpoint's statistics and weights are what the trainer acts with, and every check holds."""
    built = _build(case, tmp_path)
    try:
        assert built.trainer.workers.num_remote == 1
        filter_state = built.trainer.local_evaluator.get_filters()["state"]
        assert filter_state["n"] >= 10, f"the worker's observation statistics did not reach the trainer: {filter_state}"
        for check in CHECKS:
            check(built)
    finally:
        built.trainer.stop()


# ------------------------------------------------------------------ custom models need their framework
def _register_custom_models() -> dict[str, str]:
    """A tiny custom model per framework (the documented registration); returns framework -> name."""
    from rl_tf.models import FullyConnectedNetwork as TFFullyConnected
    from rl_torch.models import FullyConnectedNetwork as TorchFullyConnected

    class TinyTorchModel(TorchFullyConnected):
        """A user's torch model: the catalog's fc network under a custom name."""

    class TinyTFModel(TFFullyConnected):
        """A user's TF model: the catalog's fc network under a custom name."""

    names = {"torch": "numpy_acting_tiny_torch_model", "tf": "numpy_acting_tiny_tf_model"}
    ModelCatalog.register_custom_model(names["torch"], TinyTorchModel)
    ModelCatalog.register_custom_model(names["tf"], TinyTFModel)
    return names


@pytest.mark.parametrize("framework", ["torch", "tf"])
@pytest.mark.parametrize("algo", ["PPO", "A2C", "ES"])
def test_a_custom_model_checkpoint_says_it_needs_its_framework_plugin(algo, framework, tmp_path):
    from rlcore.errors import CheckpointError, FrameworkRequiredError
    from rlcore.rollout import load_trainer

    name = _register_custom_models()[framework]
    config = {**ALGO_CONFIGS[algo], "framework": framework, "num_workers": 0, "seed": 0}
    config["model"] = {"custom_model": name, "fcnet_hiddens": [8]}
    with get_algorithm_class(algo)(config=config, env="CartPole-v1") as trainer:
        trainer.train()
        path = trainer.save(tmp_path)
        obs = np.array([0.01, -0.02, 0.03, 0.04], np.float32)
        want = trainer.compute_action(obs)
    with pytest.raises(FrameworkRequiredError) as info:
        rlcore.policy.load(path)
    assert isinstance(info.value, CheckpointError)
    msg = str(info.value)
    plugin = {"torch": "rl_torch", "tf": "rl_tf"}[framework]
    for part in (str(path), repr(name), f"rlcore-{framework}", f"pip install -c constraints.txt ./plugins/{plugin}"):
        assert part in msg, f"{part!r} not in: {msg}"
    # with the plugin installed (and the model registered) the framework path acts as before
    trainer = load_trainer(path)
    try:
        assert trainer.compute_action(obs) == want
    finally:
        trainer.stop()
