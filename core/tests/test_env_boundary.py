"""The env runner is the boundary: every value an env's creator, ``reset()`` and ``step()`` return
is checked where it enters, with one error naming the env, the worker, the call and the step; a
caller's observations (``compute_action(s)``) are checked against the same rule and named as the
caller's. Real gymnasium envs that misbehave, run through the VectorSampler, the RolloutEvaluator,
the Trainer and ``rlcore train``."""

from __future__ import annotations

import collections
import pickle
import re
import sys
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rlcore
from rlcore.env_checks import EnvObservationError, ObservationArgumentError, observation_problem
from rlcore.errors import ConfigError, EnvError, NonFiniteLossError
from rlcore.optimizer import PolicyOptimizer
from rlcore.policy import Policy
from rlcore.rollout_evaluator import RolloutEvaluator, postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import VectorSampler, flatten_env_major
from rlcore.trainer import COMMON_CONFIG, Trainer


# ------------------------------------------------------------------ a misbehaving env, one knob per fault
class Env(gym.Env):
    """Box(2) observations, Discrete(2) actions, episodes of ``length`` steps; every returned value
    can be replaced by a class attribute in a subclass (see :func:`env_with`)."""

    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Discrete(2)
    length = 5

    def __init__(self, env_config: dict[str, Any] | None = None) -> None:
        self.t = 0

    def obs(self) -> Any:
        return np.full(2, 0.1 * (self.t % 5), np.float32)

    def reward(self) -> Any:
        return 1.0

    def flags(self) -> tuple[Any, Any]:
        return self.t >= self.length, False

    def info(self) -> Any:
        return {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        super().reset(seed=seed)
        self.t = 0
        return self.obs(), {}

    def step(self, action: Any) -> Any:
        self.t += 1
        return (self.obs(), self.reward(), *self.flags(), self.info())


def env_with(**attrs: Any) -> type[Env]:
    return type("Bad", (Env,), attrs)


def sampler(env_cls: Any, num_envs: int = 2, **kwargs: Any) -> VectorSampler:
    return VectorSampler(lambda cfg: env_cls(cfg), num_envs=num_envs, seed=0, env_name="Bad-v0", **kwargs)


def zeros_policy(obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return np.zeros(len(obs), np.int64), {}


class RandomPolicy(Policy):
    """Uniform random discrete actions; a learning step that reports a loss from the rewards."""

    capabilities = frozenset({"discrete", "gradients"})

    def __init__(self, observation_space, action_space, config, *, seed=None):
        self.observation_space, self.action_space, self.config = observation_space, action_space, config
        self.rng = np.random.default_rng(seed)
        self.w = {"b": np.zeros(int(action_space.n), np.float32)}

    def compute_actions(self, obs, state=None, explore=True):
        return self.rng.integers(0, len(self.w["b"]), len(obs)).astype(np.int64), [], {}

    def compute_gradients(self, batch):
        loss = float(np.mean(batch["rewards"]))
        if not np.isfinite(loss):
            raise NonFiniteLossError(f"policy_loss is {loss}")
        return {"b": np.zeros_like(self.w["b"])}, {"policy_loss": loss}

    def apply_gradients(self, grads):
        pass

    def get_weights(self):
        return {k: v.copy() for k, v in self.w.items()}

    def set_weights(self, weights):
        self.w = {k: np.array(v) for k, v in weights.items()}


@postprocessing()
def as_rows(fragment, policy, config):
    return SampleBatch({k: flatten_env_major(v) for k, v in fragment.columns.items()})


def evaluator(env_cls: Any, **config: Any) -> RolloutEvaluator:
    config = {"seed": 0, "num_envs": 2, "rollout_fragment_length": 8, "env": "Bad-v0", **config}
    return RolloutEvaluator(lambda cfg: env_cls(cfg), config, 0, policy=RandomPolicy, postprocess=as_rows)


class OneBatch(PolicyOptimizer):
    def step(self) -> dict[str, Any]:
        batch = self.local_evaluator.sample()
        self.num_steps_sampled += batch.count
        return self.local_evaluator.learn_on_batch(batch)


class Toy(Trainer):
    name = "ENVTOY"
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "framework": "numpy", "rollout_fragment_length": 8}
    postprocessing = staticmethod(as_rows)

    def setup(self) -> None:
        self.build_evaluators("ENVTOY")
        self.optimizer = OneBatch(self.workers, {})


@pytest.fixture
def toy(fresh_registry):
    """Register the toy algorithm; ``toy(env_cls)`` registers it as env 'Bad-v0' and returns the name."""
    fresh_registry()
    rlcore.register_policy("ENVTOY", "numpy", RandomPolicy)
    rlcore.register_algorithm("ENVTOY", Toy)

    def register(env_cls: Any, name: str = "Bad-v0") -> str:
        rlcore.register_env(name, lambda cfg: env_cls(cfg), override=True)
        return name

    return register


WHERE = r"env 'Bad-v0' \(worker 0\) after \d+ sampled steps: "


# ------------------------------------------------------------------ reset() and step() results
@pytest.mark.reliability
@pytest.mark.parametrize("obs_size", [2, 3])
def test_old_gym_reset_returning_only_the_observation(obs_size):
    space = spaces.Box(-1.0, 1.0, (obs_size,), np.float32)
    cls = env_with(observation_space=space, reset=lambda self, seed=None, options=None: np.zeros(obs_size, np.float32))
    with pytest.raises(EnvError, match=WHERE + r"env 0's reset\(\) returned an array of shape") as exc:
        sampler(cls)
    assert "not (obs, info)" in str(exc.value) and "gymnasium's API" in str(exc.value)


@pytest.mark.reliability
def test_old_gym_reset_without_seed_keyword():
    cls = env_with(reset=lambda self: (np.zeros(2, np.float32), {}))
    with pytest.raises(EnvError, match=WHERE + r"env 0 raised TypeError: .*'seed'.* in reset\(\); gymnasium's reset "):
        sampler(cls)


@pytest.mark.reliability
def test_old_gym_four_tuple_step():
    cls = env_with(step=lambda self, a: (np.zeros(2, np.float32), 1.0, False, {}))
    with pytest.raises(EnvError, match=WHERE + r"env 0's step\(\) returned a tuple of 4 elements") as exc:
        sampler(cls).sample(zeros_policy, 3)
    assert "(obs, reward, terminated, truncated, info)" in str(exc.value)


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("reward", "why"),
    [
        (np.array([1.0]), r"array\(\[1.\]\): it is an array of shape \(1,\); a reward is a scalar"),
        (np.ones(3), r"it is an array of shape \(3,\)"),
        (None, r"None: it is a NoneType, not a real number"),
        (float("nan"), r"nan: it is not finite"),
        (-float("inf"), r"-inf: it is not finite"),
        ("1", r"'1': it is a str, not a real number"),
        (1 + 2j, r"it is a complex, not a real number"),
        (1e39, r"does not fit a float32"),
    ],
)
def test_bad_rewards_are_named_where_they_enter(reward, why):
    cls = env_with(reward=lambda self: reward)
    with pytest.raises(EnvError, match=WHERE + r"env 0's step\(\) returned the reward.*" + why) as exc:
        sampler(cls).sample(zeros_policy, 3)
    assert "(step 1 of its episode, action 0). Fix the env's step()" in str(exc.value)


@pytest.mark.parametrize(
    "reward", [np.float32(0.5), np.float64(0.5), np.array(0.5), 1, np.int64(2), True, np.array(0.5, np.float32)]
)
def test_real_scalar_rewards_are_accepted(reward):
    frag = sampler(env_with(reward=lambda self: reward)).sample(zeros_policy, 3)
    np.testing.assert_array_equal(frag.columns["rewards"], np.full((3, 2), float(reward), np.float32))


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("flags", "match"),
    [
        ((None, False), r"terminated=None \(NoneType\)"),
        ((False, None), r"truncated=None \(NoneType\)"),
        ((0, False), r"terminated=0 \(int\)"),
        ((False, "False"), r"truncated='False' \(str\)"),
        ((np.array([True]), False), r"terminated=array\(\[ True\]\) \(ndarray\)"),
    ],
)
def test_flags_must_be_bools(flags, match):
    cls = env_with(flags=lambda self: flags)
    with pytest.raises(EnvError, match=WHERE + r"env 0's step\(\) returned " + match + ".*must be bools"):
        sampler(cls).sample(zeros_policy, 3)


def test_numpy_bool_flags_and_dict_subclass_infos_are_accepted():
    cls = env_with(
        flags=lambda self: (np.bool_(self.t >= 3), np.False_),
        info=lambda self: collections.OrderedDict(t=self.t),
    )
    frag = sampler(cls).sample(zeros_policy, 6)
    assert frag.columns["terminateds"][:, 0].tolist() == [False, False, True, False, False, True]


@pytest.mark.reliability
def test_info_must_be_a_dict():
    with pytest.raises(
        EnvError, match=WHERE + r"env 0's step\(\) returned info None \(NoneType\): info must be a dict"
    ):
        sampler(env_with(info=lambda self: None)).sample(zeros_policy, 3)
    cls = env_with(reset=lambda self, seed=None, options=None: (np.zeros(2, np.float32), None))
    with pytest.raises(EnvError, match=r"reset\(\) returned \(obs, info\) with info a NoneType"):
        sampler(cls)


# ------------------------------------------------------------------ creators and exceptions
@pytest.mark.reliability
def test_a_creator_returning_none():
    with pytest.raises(EnvError, match=r"env 'Bad-v0' \(worker 0\): the env creator .* returned None") as exc:
        VectorSampler(lambda cfg: None, env_name="Bad-v0")
    assert "not a gymnasium.Env" in str(exc.value) and "make the creator return the env" in str(exc.value)


@pytest.mark.reliability
def test_a_raising_creator_keeps_its_exception_as_cause():
    def creator(cfg):
        raise FileNotFoundError("no such map: maps/level9.txt")

    with pytest.raises(EnvError, match=r"creator .*creator raised FileNotFoundError: no such map") as exc:
        VectorSampler(creator, {"map": "level9"}, env_name="Bad-v0", worker_index=3)
    assert "(worker 3)" in str(exc.value) and "env_config {'map': 'level9'}" in str(exc.value)
    assert isinstance(exc.value.__cause__, FileNotFoundError) and "\n" not in str(exc.value)


@pytest.mark.reliability
def test_a_creator_that_takes_no_env_config():
    with pytest.raises(EnvError, match=r"raised TypeError: .*; an env creator takes one argument, the env_config dict"):
        VectorSampler(lambda: Env(), env_name="Bad-v0")


@pytest.mark.reliability
def test_spaces_that_are_not_spaces_or_differ_between_envs():
    with pytest.raises(
        EnvError,
        match=r"returned an env whose observation_space is \(2,\) \(tuple\), not a gymnasium.spaces.Space.*env 0",
    ):
        sampler(env_with(observation_space=(2,)))
    sizes = iter([2, 3])

    class Varying(Env):
        def __init__(self, cfg=None):
            super().__init__(cfg)
            self.observation_space = spaces.Box(-1.0, 1.0, (next(sizes),), np.float32)

    with pytest.raises(EnvError, match=r"env 1's observation_space Box.*\(3,\).* differs from env 0's"):
        sampler(Varying)


@pytest.mark.reliability
def test_an_env_raising_mid_episode_after_1000_steps():
    class Crashing(Env):
        length = 10_000

        def step(self, action):
            if self.t == 1000:
                raise RuntimeError("physics exploded")
            return super().step(action)

    s = VectorSampler(lambda cfg: Crashing(cfg), num_envs=1, env_name="Bad-v0", worker_index=2)
    with pytest.raises(EnvError) as exc:
        for _ in range(20):
            s.sample(zeros_policy, 100)
    msg = str(exc.value)
    assert msg.startswith("env 'Bad-v0' (worker 2) after 1000 sampled steps: env 0 raised RuntimeError: physics")
    assert "in step(0) at step 1001 of its episode" in msg
    assert isinstance(exc.value.__cause__, RuntimeError)


@pytest.mark.reliability
def test_a_raising_reset_names_the_call():
    def reset(self, seed=None, options=None):
        raise ValueError("bad seed")

    with pytest.raises(EnvError, match=WHERE + r"env 0 raised ValueError: bad seed in reset\(\)"):
        sampler(env_with(reset=reset))


@pytest.mark.reliability
def test_an_action_the_env_rejects():
    s = VectorSampler(lambda cfg: gym.make("CartPole-v1"), num_envs=2, env_name="CartPole-v1")
    with pytest.raises(
        EnvError,
        match=r"env 0 raised AssertionError.* in step\(5\) at step 1 of its episode; the "
        r"action 5 is outside the action space Discrete\(2\)",
    ) as exc:
        s.sample(lambda obs: (np.full(len(obs), 5, np.int64), {}), 2)
    assert isinstance(exc.value.__cause__, AssertionError)


# ------------------------------------------------------------------ observations: one rule for every space
@pytest.mark.reliability
def test_object_dtype_observation_is_an_observation_error():
    cls = env_with(obs=lambda self: np.array([None, 1], dtype=object))
    with pytest.raises(EnvObservationError, match=r"of env 0 is outside Box.*it has dtype object.*from reset\(\)"):
        sampler(cls)


BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)
UNBOUNDED = spaces.Box(-np.inf, np.inf, (2,), np.float32)
TUPLE = spaces.Tuple((spaces.Discrete(3), BOX))
DICT = spaces.Dict({"pos": BOX, "cell": spaces.Discrete(3, start=1)})

BAD_OBSERVATIONS = [
    (BOX, np.zeros(3, np.float32), r"it has shape \(3,\), the space's is \(2,\)"),
    (BOX, np.array([0.0, 2.0]), r"2.0 at index \(1,\) is outside the space's bounds"),
    (BOX, np.array([0.0, np.nan], np.float32), r"non-finite observation"),
    (BOX, ["a", "b"], r"it has dtype <U1; Box observations are real numbers"),
    (UNBOUNDED, np.array([np.inf, 0.0], np.float32), r"non-finite observation"),
    (UNBOUNDED, np.array([1e39, 0.0]), r"does not fit the space's dtype float32"),
    (spaces.Discrete(3), 3, r"3 is outside \[0, 2\]"),
    (spaces.Discrete(3), 1.0, r"it has dtype float64; Discrete observations are integers"),
    (spaces.Discrete(3), np.array([1]), r"it has shape \(1,\), the space's is \(\)"),
    (spaces.MultiDiscrete([2, 3]), np.array([1, 3]), r"3 at index \(1,\) is outside \[0, 2\]"),
    (spaces.MultiBinary(2), np.array([0, 2]), r"2 at index \(1,\) is outside the space's bounds \[0, 1\]"),
    (TUPLE, (1, np.zeros(2, np.float32), 3), r"it has 3 components, the space has 2"),
    (TUPLE, (1, np.array([np.nan, 0.0], np.float32)), r"component 1 .*: it is not finite"),
    (TUPLE, np.zeros(2), r"it is an array of shape \(2,\) and dtype float64, not a tuple of 2 components"),
    (DICT, {"pos": np.zeros(2, np.float32)}, r"its keys \['pos'\] are not the space's"),
    (DICT, {"pos": np.zeros(2, np.float32), "cell": 1, "extra": 0}, r"are not the space's"),
    (
        DICT,
        {"pos": np.zeros(2, np.float32), "cell": 0},
        r"key 'cell' \(Discrete\(3, start=1\)\): 0 is outside \[1, 3\]",
    ),
]


@pytest.mark.reliability
@pytest.mark.parametrize(("space", "obs", "why"), BAD_OBSERVATIONS)
def test_bad_observations_of_every_space_from_step(space, obs, why):
    good = space.sample()
    cls = env_with(observation_space=space, obs=lambda self: obs if self.t == 2 else good)
    ev = evaluator(cls)
    with pytest.raises(EnvObservationError, match=r"env 'Bad-v0' \(worker 0\) after 4 sampled steps: .*" + why) as e:
        ev.sample()
    assert "env 0" in str(e.value) and "from step()" in str(e.value) and "Fix the env" in str(e.value)


@pytest.mark.parametrize(
    ("space", "obs"),
    [
        (BOX, [0.5, -0.5]),  # a list
        (BOX, np.array([1, 0])),  # integers in a float Box
        (UNBOUNDED, np.array([1e30, -1e30])),
        (spaces.Discrete(3), np.int64(2)),
        (spaces.Discrete(3), np.array(2)),
        (TUPLE, [2, np.zeros(2, np.float32)]),  # a list for a Tuple
        (DICT, {"cell": 3, "pos": np.zeros(2)}),  # float64 in a float32 Box: inside, as at top level
        (spaces.MultiBinary(2), np.array([True, False])),
    ],
)
def test_valid_observations_of_every_space_are_accepted(space, obs):
    assert observation_problem(obs, space) is None
    cls = env_with(observation_space=space, obs=lambda self: obs)
    assert evaluator(cls).sample().count == 16


@pytest.mark.reliability
def test_observation_outside_the_space_at_reset_names_reset():
    cls = env_with(obs=lambda self: np.array([5.0, 0.0], np.float32) if self.t == 0 else np.zeros(2, np.float32))
    with pytest.raises(EnvObservationError, match=r"after 0 sampled steps: observation .* of env 0 is outside .*reset"):
        sampler(cls)


# ------------------------------------------------------------------ through the Trainer and `rlcore train`
@pytest.mark.reliability
@pytest.mark.parametrize(
    ("env_cls", "match"),
    [
        (env_with(reward=lambda self: None if self.t == 3 else 1.0), r"env 0's step\(\) returned the reward None"),
        (env_with(reward=lambda self: np.nan if self.t == 3 else 1.0), r"env 0's step\(\) returned the reward nan"),
        # a None terminated flag: refused, not an episode that never ends
        (
            env_with(flags=lambda self: (None if self.t >= 5 else False, False)),
            r"env 0's step\(\) returned terminated=None",
        ),
    ],
)
def test_trainer_blames_the_env_not_the_loss(toy, env_cls, match):
    trainer = Toy({"seed": 0}, env=toy(env_cls))
    try:
        with pytest.raises(EnvError, match=r"env 'Bad-v0' \(worker 0\) after \d+ sampled steps: " + match):
            trainer.train()
    finally:
        trainer.stop()


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("env_cls", "message"),
    [
        (env_with(step=lambda self, a: (np.zeros(2, np.float32), 1.0, False, {})), "step() returned a tuple of 4"),
        (env_with(reward=lambda self: "1"), "returned the reward '1': it is a str, not a real number"),
    ],
)
def test_cli_train_reports_the_env_in_one_line(toy, env_cls, message, capsys, tmp_path):
    from rlcore.cli import main

    name = toy(env_cls)
    args = ["train", "--env", name, "--run", "ENVTOY", "--stop", '{"training_iteration": 2}']
    assert main([*args, "--local-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlcore: error: env 'Bad-v0' (worker 0)") and message in err
    assert "Traceback" not in err


@pytest.mark.reliability
def test_cli_train_env_config_unknown_to_a_gymnasium_env(toy, capsys, tmp_path):
    from rlcore.cli import main

    config = '{"env_config": {"sutton_barto": true}}'
    args = ["train", "--env", "CartPole-v1", "--run", "ENVTOY", "--config", config, "--local-dir", str(tmp_path)]
    assert main([*args, "--stop", '{"training_iteration": 1}', "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "env_config key 'sutton_barto' is not a keyword argument of the gymnasium env 'CartPole-v1'" in err
    assert "Did you mean 'sutton_barto_reward'?" in err and "It accepts: sutton_barto_reward, render_mode" in err


def test_env_config_is_a_gymnasium_envs_keyword_arguments(toy):
    env = rlcore.make_env("FrozenLake-v1", {"is_slippery": False, "map_name": "8x8", "max_episode_steps": 7})
    assert env.unwrapped.desc.shape == (8, 8) and env.spec.max_episode_steps == 7
    with pytest.raises(ConfigError, match=r"env_config key 'is_slipery' .* Did you mean 'is_slippery'\?"):
        rlcore.make_env("FrozenLake-v1", {"is_slipery": False})
    trainer = Toy({"seed": 0, "env_config": {"sutton_barto_reward": True}}, env="CartPole-v1")
    try:
        assert trainer.train()["timesteps_total"] == 8
    finally:
        trainer.stop()


# ------------------------------------------------------------------ a caller's observations
@pytest.fixture
def structured_toy(toy):
    tuple_cls = env_with(observation_space=TUPLE, obs=lambda self: (1, np.zeros(2, np.float32)))
    dict_cls = env_with(observation_space=DICT, obs=lambda self: {"cell": 1, "pos": np.zeros(2, np.float32)})
    return toy(tuple_cls, "Tuple-v0"), toy(dict_cls, "Dict-v0"), toy(Env, "Box-v0")


def test_compute_action_on_one_observation_of_every_space(structured_toy):
    tuple_env, dict_env, box_env = structured_toy
    for name, obs in [
        (tuple_env, (1, np.zeros(2, np.float32))),
        (tuple_env, [1, np.zeros(2, np.float32)]),  # a list is a Tuple observation too
        (dict_env, {"cell": 2, "pos": np.zeros(2, np.float32)}),
        (box_env, np.zeros(2, np.float32)),
        (box_env, [0.0, 0.5]),
    ]:
        trainer = Toy({"seed": 0}, env=name)
        try:
            assert trainer.compute_action(obs) in (0, 1)
            assert trainer.compute_action(obs, state=trainer.new_acting_state()) in (0, 1)
        finally:
            trainer.stop()


@pytest.mark.parametrize(
    ("env", "obs", "match"),
    [
        ("Box-v0", np.zeros(3), r"obs is not an observation of Box.*it has shape \(3,\).*of shape \(2,\)"),
        ("Box-v0", np.zeros((1, 2)), r"obs is not an observation of Box.*shape \(1, 2\)"),
        ("Tuple-v0", (1, np.zeros(2), 3), r"obs is not an observation of Tuple.*it has 3 components"),
        ("Dict-v0", {"pos": np.zeros(2)}, r"obs is not an observation of Dict.*its keys \['pos'\]"),
    ],
)
def test_compute_action_names_the_argument_not_the_env(structured_toy, env, obs, match):
    trainer = Toy({"seed": 0}, env=env)
    try:
        with pytest.raises(ObservationArgumentError, match=match) as exc:
            trainer.compute_action(obs)
        assert "Fix the env" not in str(exc.value) and not isinstance(exc.value, EnvError)
    finally:
        trainer.stop()


def test_rollout_evaluator_compute_actions_wants_a_batch():
    ev = evaluator(env_with(observation_space=TUPLE, obs=lambda self: (1, np.zeros(2, np.float32))))
    assert ev.compute_actions([(1, np.zeros(2)), (2, np.ones(2))]).shape == (2,)
    with pytest.raises(ObservationArgumentError, match=r"obs must be a batch of observations of Tuple.*pass \[obs\]"):
        ev.compute_actions((1, np.zeros(2)))
    box = evaluator(Env)
    assert box.compute_actions(np.zeros((3, 2))).shape == (3,)
    with pytest.raises(
        ObservationArgumentError, match=r"obs must be .*an array \[B, 2\].*one observation: pass \[obs\]"
    ):
        box.compute_actions(np.zeros(2))
    with pytest.raises(ObservationArgumentError, match=r"obs\[1\] is not an observation of Box.*shape \(3,\)"):
        box.compute_actions([np.zeros(2), np.zeros(3)])


# ------------------------------------------------------------------ errors travel from Ray workers
@pytest.mark.parametrize(
    "err",
    [
        EnvError("env 'Bad-v0' (worker 1) after 8 sampled steps: env 0 raised RuntimeError: x in step(1)"),
        EnvObservationError("env 'Bad-v0' (worker 1) after 8 sampled steps: observation 3 of env 0 is outside"),
        ObservationArgumentError("obs is not an observation of Box(-1.0, 1.0, (2,), float32)"),
    ],
)
def test_errors_pickle_with_their_message(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)


def test_a_wrapped_env_error_pickles_with_its_message():
    s = sampler(env_with(reward=lambda self: None))
    with pytest.raises(EnvError) as exc:
        s.sample(zeros_policy, 2)
    back = pickle.loads(pickle.dumps(exc.value))
    assert str(back) == str(exc.value)


# ------------------------------------------------------------------ more of the same kind
@pytest.mark.reliability
def test_rlcore_rollout_checks_what_the_env_returns(toy, tmp_path, capsys):
    from rlcore.cli import main

    class Flaky(Env):
        broken = False

        def reward(self):
            return "1" if Flaky.broken else 1.0

    name = toy(Flaky)
    args = ["train", "--env", name, "--run", "ENVTOY", "--stop", '{"training_iteration": 1}', "--checkpoint-at-end"]
    assert main([*args, "--local-dir", str(tmp_path), "--quiet"]) == 0
    (trial,) = (tmp_path / "ENVTOY_Bad-v0").iterdir()
    Flaky.broken = True
    capsys.readouterr()
    assert main(["rollout", str(trial), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "env 'Bad-v0' (rollout episode 1) at step 1: the env's step() returned the reward '1'" in err


@pytest.mark.reliability
def test_a_failing_creator_releases_the_envs_built_before_it():
    closed = []

    class Tracked(Env):
        def close(self):
            closed.append(self)

    built = iter([Tracked, Tracked, None])
    with pytest.raises(EnvError, match=r"returned None.*\(building env 2\)"):
        VectorSampler(lambda cfg: (lambda cls: cls and cls(cfg))(next(built)), num_envs=3, env_name="Bad-v0")
    assert len(closed) == 2


@pytest.mark.reliability
def test_close_closes_every_env_and_names_the_one_that_raised():
    closed = []

    class Closing(Env):
        def close(self):
            closed.append(self)
            if len(closed) == 1:
                raise OSError("display gone")

    s = sampler(Closing, num_envs=3)
    with pytest.raises(EnvError, match=r"env 0 raised OSError: display gone in close\(\)") as exc:
        s.close()
    assert len(closed) == 3 and isinstance(exc.value.__cause__, OSError)


def test_list_results_are_accepted_like_tuples():
    cls = env_with(
        reset=lambda self, seed=None, options=None: [np.zeros(2, np.float32), {}],
        step=lambda self, a: [np.zeros(2, np.float32), 0.5, False, False, {}],
    )
    frag = sampler(cls).sample(zeros_policy, 2)
    assert frag.columns["rewards"].tolist() == [[0.5, 0.5], [0.5, 0.5]]


@pytest.mark.ray
@pytest.mark.reliability
def test_an_env_error_in_a_ray_worker_names_that_worker(ray_session):
    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tests are not importable there
    config = {"seed": 0, "num_envs": 2, "rollout_fragment_length": 8, "env": "Bad-v0"}
    bad = env_with(reward=lambda self: None)
    actor = ray.remote(num_cpus=0.5)(RolloutEvaluator).remote(
        lambda cfg: bad(cfg), config, 1, policy=RandomPolicy, postprocess=as_rows
    )
    try:
        with pytest.raises(EnvError) as exc:
            ray.get(actor.sample.remote())
        assert "env 'Bad-v0' (worker 1) after 0 sampled steps: env 0's step() returned the reward None" in str(
            exc.value
        )
    finally:
        ray.kill(actor)


# ------------------------------------------------------------------ more of the same kind (attacker's second pass)
class _StrRaises(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def _raise(exc: BaseException) -> Any:
    raise exc


@pytest.mark.reliability
def test_env_exception_whose_str_raises_is_still_named():
    cls = env_with(step=lambda self, a: _raise(_StrRaises()))
    with pytest.raises(EnvError, match=WHERE + r"env 0 raised _StrRaises: <its str\(\) raised RuntimeError> in step"):
        sampler(cls).sample(zeros_policy, 3)


@pytest.mark.reliability
@pytest.mark.parametrize("call", ["reset", "step"])
def test_env_calling_sys_exit_is_an_env_error(call):
    cls = env_with(**{call: lambda self, *a, **k: sys.exit(3)})
    with pytest.raises(EnvError, match=WHERE + rf"env 0 raised SystemExit: 3 in {call}\(") as exc:
        sampler(cls).sample(zeros_policy, 3)
    assert isinstance(exc.value.__cause__, SystemExit)


@pytest.mark.reliability
def test_env_creator_calling_sys_exit_is_an_env_error():
    with pytest.raises(EnvError, match=r"the env creator .* raised SystemExit: 2 building env 0"):
        VectorSampler(lambda cfg: sys.exit(2), num_envs=1, seed=0, env_name="Bad-v0")


@pytest.mark.reliability
def test_keyboard_interrupt_in_an_env_propagates():
    cls = env_with(step=lambda self, a: _raise(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        sampler(cls).sample(zeros_policy, 3)


@pytest.mark.reliability
def test_creator_returning_a_vector_env_is_told_to_return_one_env(toy):
    name = toy(lambda cfg: gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2))
    with pytest.raises(
        EnvError, match=r"returned a gymnasium VectorEnv \(SyncVectorEnv of 2 envs\).*num_envs_per_worker"
    ):
        rlcore.get_algorithm_class("ENVTOY")({"env": name})


class RaisingPolicy(RandomPolicy):
    """Acts like RandomPolicy, then its compute_actions raises from its third call on."""

    calls = 0

    def compute_actions(self, obs, state=None, explore=True):
        self.calls += 1
        if self.calls > 2:
            raise _StrRaises() if self.config.get("hostile") else IndexError("weights row 7 out of range")
        return super().compute_actions(obs, state, explore)


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("hostile", "shown"), [(False, "IndexError: weights row 7 out of range"), (True, "_StrRaises: <its str() raised")]
)
def test_a_policy_raising_while_sampling_is_named_with_its_worker(hostile, shown):
    from rlcore.rollout_evaluator import PolicyRaisedError

    config = {"seed": 0, "num_envs": 2, "rollout_fragment_length": 8, "env": "Bad-v0", "hostile": hostile}
    ev = RolloutEvaluator(lambda cfg: Env(cfg), config, 3, policy=RaisingPolicy, postprocess=as_rows)
    with pytest.raises(PolicyRaisedError) as exc:
        ev.sample()
    assert re.match(
        rf"policy [\w.]*RaisingPolicy \(worker 3, after 4 sampled steps\) raised {re.escape(shown)}", str(exc.value)
    ), str(exc.value)
    assert "in compute_actions for a batch of 2 observations" in str(exc.value)
    assert exc.value.__cause__ is not None
    pickle.loads(pickle.dumps(exc.value))  # crosses from a Ray worker as it is


def test_a_fragment_too_big_to_allocate_is_a_config_error_naming_the_knob():
    with pytest.raises(ConfigError, match=r"a fragment of 1000000000000 steps x 2 envs .* GiB, more than this process"):
        sampler(Env).sample(zeros_policy, 10**12)  # ~30 TB of buffers: numpy refuses at once


class _SpaceNotReady(Env):
    @property  # type: ignore[override]
    def observation_space(self) -> Any:
        raise RuntimeError("space not ready")


@pytest.mark.reliability
def test_an_env_whose_space_property_raises_is_named():
    with pytest.raises(EnvError, match=r"returned an env whose observation_space raised RuntimeError: space not ready"):
        sampler(_SpaceNotReady)
