"""StatelessCartPole-v1: CartPole-v1's dynamics, observations without the velocities, registered by
the plugin (lazily: loading the plugin imports no gymnasium)."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from rl_algos.envs import StatelessCartPole, make_stateless_cartpole
from rlcore.envs import get_env_creator, make_env
from rlcore.errors import ConfigError
from rlcore.plugins import get_registry


def test_observation_is_position_and_angle_float32():
    env = make_stateless_cartpole({})
    assert env.observation_space.shape == (2,) and env.observation_space.dtype == np.float32
    full = gym.make("CartPole-v1").observation_space
    np.testing.assert_array_equal(env.observation_space.low, full.low[[0, 2]])
    np.testing.assert_array_equal(env.observation_space.high, full.high[[0, 2]])
    assert env.action_space == gym.spaces.Discrete(2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2,) and obs.dtype == np.float32 and env.observation_space.contains(obs)


def test_same_dynamics_rewards_and_episode_ends_as_cartpole():
    ours, full = make_stateless_cartpole({}), gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    for episode in range(3):
        obs, _ = ours.reset(seed=episode)
        full_obs, _ = full.reset(seed=episode)
        np.testing.assert_array_equal(obs, full_obs[[0, 2]])
        done, steps = False, 0
        while not done:
            action = int(rng.integers(2))
            obs, reward, term, trunc, _ = ours.step(action)
            full_obs, full_reward, full_term, full_trunc, _ = full.step(action)
            np.testing.assert_array_equal(obs, full_obs[[0, 2]])
            assert (reward, term, trunc) == (full_reward, full_term, full_trunc)
            done, steps = term or trunc, steps + 1
        assert steps < 500  # random actions drop the pole


def test_time_limit_is_cartpoles_500_steps():
    env = make_stateless_cartpole({})
    assert env.spec is not None and env.spec.max_episode_steps == 500


def test_registered_through_the_plugin():
    spec = get_registry().load().specs["env"]["StatelessCartPole-v1"]
    assert spec.target == "rl_algos.envs:make_stateless_cartpole" and "velocities" in spec.summary
    assert isinstance(make_env("StatelessCartPole-v1"), StatelessCartPole)
    assert get_env_creator("StatelessCartPole-v1") is make_stateless_cartpole


def test_env_config_goes_to_cartpole_and_an_unknown_key_is_refused():
    assert make_stateless_cartpole({"render_mode": "rgb_array"}).render_mode == "rgb_array"
    with pytest.raises(ConfigError, match="velocity") as info:
        make_stateless_cartpole({"velocity": True})
    assert "CartPole-v1" in str(info.value)


def test_loading_the_plugin_imports_no_gymnasium():
    code = (
        "import sys; from rlcore.plugins import get_registry; get_registry().load(); "
        "assert 'StatelessCartPole-v1' in get_registry().specs['env']; "
        "print('gymnasium' in sys.modules, 'rl_algos.envs' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_wrapping_an_env_that_is_not_cartpole_is_refused_naming_its_space():
    with pytest.raises(
        ConfigError,
        match=r"StatelessCartPole wraps CartPole .* observation space Box\(.*\(3,\).*pass a CartPole-v1 env",
    ):
        StatelessCartPole(gym.make("Pendulum-v1"))
    assert StatelessCartPole(gym.make("CartPole-v1")).observation_space.shape == (2,)
