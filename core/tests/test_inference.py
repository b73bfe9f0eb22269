"""Numpy acting from a checkpoint (rlcore.inference, rlcore.policy.load) with the core alone.

Each checkpoint here is written by a real core RolloutEvaluator (its state, and its acting spec as
Trainer.save records it) around a core numpy ModelPolicy; the loaded policy must act exactly as
that evaluator's compute_actions does (the path of Trainer.compute_action): the preprocessor with
its frame stacks, the checkpoint's filter statistics, explore semantics, recurrent state, Box
clipping, Discrete start, composite actions. Then the refusals: wrong observations, custom
models, null specs, weights that do not fit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rlcore.policy
from rlcore.checkpoint import read_checkpoint, write_checkpoint
from rlcore.env_checks import ObservationArgumentError
from rlcore.errors import CheckpointError, ConfigError, FrameworkRequiredError
from rlcore.inference import LoadedPolicy, NumpyCatalogPolicy, load_policy
from rlcore.model_policy import RecurrentStateError
from rlcore.rollout_evaluator import RolloutEvaluator, postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import flatten_env_major
from rlcore.testing.envs import DictTargetEnv, TupleTargetEnv
from rlcore.testing.policies import NumpyLSTMPolicy

from .test_model_policy import NumpyPolicy, NumpyQPolicy

#: The references: the catalog fc model and Q network on the numpy mirrors written before numpy
#: acting existed (test_model_policy's policies).
RefPolicy, RefQPolicy = NumpyPolicy, NumpyQPolicy


@postprocessing()
def plain(fragment: Any, policy: Any, config: Any) -> SampleBatch:
    return SampleBatch({k: flatten_env_major(v) for k, v in fragment.columns.items()})


class StartEnv(gym.Env):
    """Box observations, Discrete(3, start=-1) actions."""

    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(3, start=-1)

    def __init__(self, env_config: dict | None = None) -> None:
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 4).astype(np.float32), {}

    def step(self, action):
        assert action in (-1, 0, 1), action
        self.t += 1
        return self.np_random.uniform(-1, 1, 4).astype(np.float32), float(action), self.t >= 20, False, {}


def evaluator(env: Any, policy: type = RefPolicy, **config: Any) -> RolloutEvaluator:
    creator = env if callable(env) and not isinstance(env, str) else (lambda cfg, name=env: gym.make(name))
    full = {
        "seed": 0,
        "num_envs": 2,
        "rollout_fragment_length": 16,
        "model": {"fcnet_hiddens": [8]},
        "observation_filter": "MeanStdFilter",
        **config,
    }
    return RolloutEvaluator(creator, full, policy=policy, postprocess=plain)


def save(ev: RolloutEvaluator, path: Any, *, spec: Any = "evaluator", framework: str = "numpy", **meta: Any) -> Any:
    """Write ``ev``'s state as a checkpoint with its acting spec (as Trainer.save records them)."""
    full_meta = {
        "algorithm": "PPO",
        "framework": framework,
        "env": "TestEnv-v0",
        "config": {"env_config": {}},
        "iteration": 1,
        "timesteps_total": 32,
        "versions": {"rlcore": "0.2.0"},
        "policy": ev.acting_spec() if spec == "evaluator" else spec,
        **meta,
    }
    return write_checkpoint(path / "checkpoint_000001", {"evaluator": ev.get_state()}, full_meta)


def trained(ev: RolloutEvaluator, fragments: int = 2) -> RolloutEvaluator:
    for _ in range(fragments):  # the filter's statistics move away from the identity
        ev.sample()
    return ev


def test_fc_policy_acts_as_the_evaluator_with_the_checkpoints_filter(tmp_path):
    ev = trained(evaluator("CartPole-v1"))
    path = save(ev, tmp_path)
    policy = rlcore.policy.load(path)
    assert isinstance(policy, LoadedPolicy) and isinstance(policy.policy, NumpyCatalogPolicy)
    assert (policy.algorithm, policy.framework, policy.env, policy.recurrent) == ("PPO", "numpy", "TestEnv-v0", False)
    obs = np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32) * [1, 1, 0.1, 1]
    obs = np.clip(obs, policy.observation_space.low, policy.observation_space.high).astype(np.float32)
    np.testing.assert_array_equal(policy.compute_actions(obs), ev.compute_actions(obs, explore=False))
    assert [policy.compute_action(o) for o in obs[:8]] == ev.compute_actions(obs[:8]).tolist()
    # the filter: the checkpoint's statistics, applied and never updated
    filtered = ev.sampler.obs_filter(obs, update=False)
    assert not np.allclose(filtered, obs)
    np.testing.assert_allclose(policy.policy_outputs(obs), ev.policy.forward(filtered)[0], rtol=1e-6, atol=1e-6)
    before = policy.pipeline.obs_filter.get_state()
    policy.compute_actions(obs)
    after = policy.pipeline.obs_filter.get_state()
    assert before["n"] == after["n"] and np.array_equal(before["mean"], after["mean"])


def test_explore_samples_with_the_seed_as_the_evaluator_does(tmp_path):
    ev = trained(evaluator("CartPole-v1"))
    path = save(ev, tmp_path)
    obs = np.tile(np.array([[0.01, 0.02, 0.03, 0.04]], np.float32), (200, 1))
    ev.policy.rng = np.random.default_rng(7)
    expected = ev.compute_actions(obs, explore=True)
    a = load_policy(path, seed=7).compute_actions(obs, explore=True)
    np.testing.assert_array_equal(a, expected)
    assert not np.array_equal(a, load_policy(path, seed=8).compute_actions(obs, explore=True))
    # explore=False is the mode, whatever the seed
    greedy = load_policy(path, seed=8).compute_actions(obs)
    assert len(set(greedy.tolist())) == 1 and len(set(a.tolist())) == 2


def test_q_policy_is_greedy_and_explores_with_the_recorded_epsilon(tmp_path):
    ev = trained(evaluator("CartPole-v1", RefQPolicy, hiddens=[4], dueling=True, observation_filter="NoFilter"))
    path = save(ev, tmp_path / "no-eps")
    obs = np.random.default_rng(2).normal(size=(100, 4)).astype(np.float32) * 0.05
    policy = load_policy(path)
    assert policy.spec["action_outputs"] == "q"
    greedy = ev.compute_actions(obs, explore=False)
    np.testing.assert_array_equal(policy.compute_actions(obs), greedy)
    np.testing.assert_array_equal(policy.compute_actions(obs, explore=True), greedy)  # no epsilon recorded: 0
    np.testing.assert_allclose(policy.policy_outputs(obs), ev.policy.forward(obs)[0], rtol=1e-6, atol=1e-6)
    ev.set_global_vars({"epsilon": 1.0})
    explored = load_policy(save(ev, tmp_path / "eps"), seed=0).compute_actions(obs, explore=True)
    assert 20 < int((explored != greedy).sum()) < 80  # epsilon 1: uniform actions, half of them not greedy


def test_frame_stacks_carry_across_calls_in_the_acting_state(tmp_path):
    ev = trained(evaluator("CartPole-v1", model={"fcnet_hiddens": [8], "framestack": 3}))
    policy = load_policy(save(ev, tmp_path))
    assert policy.pipeline.stateful
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=3)
    mine, theirs = policy.new_acting_state(), ev.new_acting_state(1)
    for _ in range(30):
        action = policy.compute_action(obs, state=mine)
        assert action == ev.compute_actions(obs[None], state=theirs)[0]
        np.testing.assert_array_equal(mine.prep, theirs.prep)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    assert np.any(mine.prep != policy.new_acting_state().prep)  # advanced in place
    with pytest.raises(RecurrentStateError, match=r"holds 0 preprocessor values .* this policy's preprocessor 13"):
        policy.compute_action(
            obs, state=load_policy(save(evaluator("CartPole-v1"), tmp_path / "flat")).new_acting_state()
        )
    # without a state each call is a new episode: the stack filled with this observation
    stacked = policy.pipeline.compute_obs(obs[None])
    np.testing.assert_array_equal(stacked, ev.sampler.compute_obs(obs[None]))


def test_recurrent_state_advances_in_place_as_the_evaluator_does(tmp_path):
    model = {"fcnet_hiddens": [8], "use_lstm": True, "lstm_cell_size": 5, "max_seq_len": 4}
    ev = trained(evaluator("CartPole-v1", NumpyLSTMPolicy, model=model))
    policy = load_policy(save(ev, tmp_path))
    assert policy.recurrent
    rng = np.random.default_rng(4)
    mine, theirs = policy.new_acting_state(3), ev.new_acting_state(3)
    assert [s.shape for s in mine.recurrent] == [(3, 5), (3, 5)]
    for _ in range(5):
        obs = (rng.normal(size=(3, 4)) * 0.05).astype(np.float32)
        np.testing.assert_array_equal(policy.compute_actions(obs, mine), ev.compute_actions(obs, state=theirs))
        for a, b in zip(mine.recurrent, theirs.recurrent, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert np.abs(mine.recurrent[0]).sum() > 0
    outputs_state = policy.new_acting_state(3)
    first = policy.policy_outputs(obs, outputs_state)
    assert np.abs(outputs_state.recurrent[1]).sum() > 0  # policy_outputs advances the state too
    assert not np.allclose(first, policy.policy_outputs(obs, outputs_state))
    with pytest.raises(RecurrentStateError, match="ActingState that new_acting_state"):
        policy.compute_actions(obs, [np.zeros((3, 5)), np.zeros((3, 5))])  # RLlib 2018's [h, c]
    with pytest.raises(RecurrentStateError, match=r"made for 3 episodes, this batch has 2 observations"):
        policy.compute_actions(obs[:2], policy.new_acting_state(3))
    wrong = policy.new_acting_state(3)
    wrong.recurrent = [np.zeros((3, 4), np.float32)] * 2
    with pytest.raises(RecurrentStateError, match=r"\(3, 5\)"):
        policy.compute_actions(obs, wrong)


@pytest.mark.parametrize("clip", [True, False], ids=["clipped", "unclipped"])
def test_box_actions_are_clipped_as_the_checkpoint_says(tmp_path, clip):
    ev = trained(evaluator("Pendulum-v1", clip_actions=clip))
    weights = ev.get_weights()
    weights["logits/bias"] = np.full_like(weights["logits/bias"], 5.0)  # the mean far outside [-2, 2]
    ev.set_weights(weights)
    policy = load_policy(save(ev, tmp_path))
    obs = np.random.default_rng(5).uniform(-1, 1, size=(16, 3)).astype(np.float32)
    actions = policy.compute_actions(obs)
    np.testing.assert_allclose(actions, ev.compute_actions(obs), rtol=1e-6)
    assert actions.shape == (16, 1) and actions.dtype == np.float32
    assert (np.abs(actions) <= 2.0).all() if clip else (actions > 2.0).all()


def test_discrete_actions_are_shifted_by_the_spaces_start(tmp_path):
    ev = trained(evaluator(StartEnv))
    policy = load_policy(save(ev, tmp_path))
    obs = np.random.default_rng(6).uniform(-1, 1, size=(200, 4)).astype(np.float32)
    actions = policy.compute_actions(obs, explore=True)
    assert set(actions.tolist()) == {-1, 0, 1}
    np.testing.assert_array_equal(policy.compute_actions(obs), ev.compute_actions(obs))
    assert policy.compute_action(obs[0]) in (-1, 0, 1)


@pytest.mark.parametrize("env", [TupleTargetEnv, DictTargetEnv], ids=["tuple", "dict"])
def test_composite_actions_come_in_the_spaces_structure(tmp_path, env):
    ev = trained(evaluator(env))
    policy = load_policy(save(ev, tmp_path))
    obs = np.random.default_rng(7).uniform(-1, 1, size=(5, 3)).astype(np.float32)
    mine, theirs = policy.compute_actions(obs), ev.compute_actions(obs)
    assert len(mine) == 5
    for a, b in zip(mine, theirs, strict=True):
        assert policy.action_space.contains(a), a
        assert json.dumps(_plain(a)) == json.dumps(_plain(b))
    single = policy.compute_action(obs[0])
    assert isinstance(single, tuple if env is TupleTargetEnv else dict) and policy.action_space.contains(single)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, tuple | list):
        return [_plain(v) for v in x]
    return np.asarray(x).tolist()


def test_observations_of_the_wrong_shape_name_the_expected_shape(tmp_path):
    policy = load_policy(save(evaluator("CartPole-v1"), tmp_path))
    with pytest.raises(ObservationArgumentError, match=r"pass one raw observation of shape \(4,\)"):
        policy.compute_action(np.zeros(3, np.float32))
    with pytest.raises(ObservationArgumentError, match=r"an array \[B, 4\]"):
        policy.compute_actions(np.zeros((2, 5), np.float32))
    with pytest.raises(ObservationArgumentError, match=r"which is one observation: pass \[obs\]"):
        policy.compute_actions(np.zeros(4, np.float32))
    with pytest.raises(ObservationArgumentError, match=r"of shape \(4,\)"):
        policy.compute_action(np.zeros((2, 4), np.float32))  # a batch where one observation is expected
    with pytest.raises(ObservationArgumentError, match=r"obs\[1\] is not an observation"):
        policy.compute_actions([np.zeros(4, np.float32), np.full(4, np.nan, np.float32)])
    with pytest.raises(ObservationArgumentError, match=r"\[B, 4\]"):
        policy.policy_outputs(np.zeros((2, 3), np.float32))
    with pytest.raises(ObservationArgumentError, match=r"of shape \(4,\)"):
        policy.compute_action("left")
    with pytest.raises(ObservationArgumentError, match=r"outside|not an observation"):
        policy.compute_action(np.array([9.0, 0, 0, 0], np.float32))  # beyond the space's 4.8
    with pytest.raises(ConfigError, match="seed must be an int >= 0 or None, got 'abc'"):
        load_policy(policy.path, seed="abc")


def test_a_custom_model_needs_its_framework_plugin_named(tmp_path):
    ev = evaluator("CartPole-v1")
    spec = ev.acting_spec()
    spec["model"] = {**spec["model"], "custom_model": "my_net"}
    spec["model_kind"] = "custom"
    path = save(ev, tmp_path, spec=spec, framework="torch")
    with pytest.raises(FrameworkRequiredError) as err:
        load_policy(path)
    text = str(err.value)
    assert str(path) in text and "custom model 'my_net' (framework torch)" in text
    assert "rlcore-torch" in text and "pip install -c constraints.txt ./plugins/rl_torch" in text
    assert "rlcore.rollout.load_trainer(path)" in text
    spec["model"]["custom_model"] = "tf_net"
    with pytest.raises(FrameworkRequiredError, match=r"rlcore-tf.*\./plugins/rl_tf"):
        load_policy(save(ev, tmp_path / "tf", spec=spec, framework="tf"))


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        (
            {"policy": None, "policy_unavailable": "the evaluator TOY is a whole PolicyEvaluator"},
            "whole PolicyEvaluator",
        ),
        ({"policy": None}, "recorded no acting spec"),
    ],
    ids=["reason", "no-reason"],
)
def test_a_null_spec_says_why_it_cannot_act(tmp_path, meta, words):
    ev = evaluator("CartPole-v1")
    path = save(ev, tmp_path, spec=meta.pop("policy"), **meta)
    with pytest.raises(CheckpointError, match="cannot act with numpy alone") as err:
        load_policy(path)
    assert words in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda w: w.pop("fc_0/kernel"), r"'fc_0/kernel' \(shape \[4, 8\]\) is missing"),
        (
            lambda w: w.update({"logits/bias": np.zeros(3, np.float32)}),
            r"'logits/bias' has shape \[3\], expected \[2\]",
        ),
        (lambda w: w.update({"extra/kernel": np.zeros(2, np.float32)}), "'extra/kernel' is not a parameter"),
    ],
    ids=["missing", "misshaped", "unexpected"],
)
def test_weights_that_do_not_fit_the_catalog_model_name_the_parameter(tmp_path, edit, words):
    ev = evaluator("CartPole-v1")
    state = ev.get_state()
    edit(state["weights"])
    meta = {
        "algorithm": "PPO",
        "framework": "torch",
        "env": "CartPole-v1",
        "config": {},
        "iteration": 1,
        "timesteps_total": 1,
        "versions": {},
        "policy": ev.acting_spec(),
    }
    path = write_checkpoint(tmp_path / "checkpoint_000001", {"evaluator": state}, meta)
    with pytest.raises(CheckpointError, match=words) as err:
        load_policy(path)
    assert "state.evaluator.weights" in str(err.value) and "catalog fc model" in str(err.value)


def test_other_acting_specs_that_do_not_fit_are_refused_naming_what(tmp_path):
    ev = trained(evaluator("CartPole-v1"))
    spec = ev.acting_spec()
    cases = [
        ({**spec, "model": {**spec["model"], "custom_preprocessor": "nope"}}, "custom preprocessor 'nope'"),
        ({**spec, "observation_filter": "Median"}, "observation_filter 'Median'"),
        ({**spec, "weights": ["learner", "weights"]}, r"no state\.learner"),
        ({**spec, "action_outputs": "logits"}, "action_outputs 'logits'"),
        ({k: v for k, v in spec.items() if k != "action_space"}, r"lacks \['action_space'\]"),
        ({**spec, "observation_space": {"type": "Box", "shape": [6]}}, "observation_space"),
    ]
    for i, (bad, words) in enumerate(cases):
        with pytest.raises(CheckpointError, match=words):
            load_policy(save(ev, tmp_path / str(i), spec=bad))
    # filter statistics of another shape than the observations
    state = ev.get_state()
    state["filter"] = {**state["filter"], "mean": np.zeros(6), "m2": np.zeros(6)}
    meta = {"algorithm": "PPO", "framework": "numpy", "env": "CartPole-v1", "config": {}, "iteration": 1}
    path = write_checkpoint(
        tmp_path / "f" / "checkpoint_000001",
        {"evaluator": state},
        {**meta, "timesteps_total": 1, "versions": {}, "policy": spec},
    )
    with pytest.raises(CheckpointError, match=r"MeanStdFilter statistics .* shape \[4\]"):
        load_policy(path)


def test_a_folder_of_checkpoints_loads_the_latest(tmp_path):
    ev = trained(evaluator("CartPole-v1"))
    save(ev, tmp_path)
    policy = load_policy(tmp_path)
    assert policy.path.name == "checkpoint_000001"
    assert read_checkpoint(tmp_path).meta["policy"] == policy.spec


def test_import_and_one_action_load_no_framework_and_no_ray(tmp_path):
    path = save(trained(evaluator("CartPole-v1")), tmp_path)
    code = (
        "import sys, numpy as np, rlcore.policy\n"
        f"p = rlcore.policy.load({str(path)!r})\n"
        "print(p.compute_action(np.zeros(4, np.float32)))\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'ray', 'rl_torch', 'rl_tf') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    action, loaded = out.stdout.splitlines()
    assert action in ("0", "1") and loaded == "[]"
    # rlcore.policy stays light: the inference module is imported by load() only
    code = "import sys, rlcore.policy\nprint('rlcore.inference' in sys.modules, 'rlcore.checkpoint' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "False"]
