"""StatelessCartPole-v1: CartPole-v1's dynamics, observations without the velocities, registered by
the plugin (lazily: loading the plugin imports no gymnasium). PixelGrid-v0: uint8 frames with one
shape drawn, reward 1 for naming it."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from rl_algos.envs import SHAPES, PixelGrid, StatelessCartPole, make_pixel_grid, make_stateless_cartpole
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


# -- PixelGrid-v0 ----------------------------------------------------------------------------------


def _shape_of(frame: np.ndarray) -> int:
    """The index in SHAPES of the one bright shape in a frame (the test's own reading of the pixels)."""
    rows, cols = np.nonzero(frame[..., 0] >= 128)
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert len(rows) == h * w, "one solid rectangle"
    return [(sh, sw) for _, sh, sw in SHAPES].index((h, w))


def test_pixel_grid_spaces_are_uint8_16x16x1_and_3_actions():
    env = make_env("PixelGrid-v0")
    assert isinstance(env, PixelGrid)
    assert env.observation_space == gym.spaces.Box(0, 255, (16, 16, 1), np.uint8)
    assert env.action_space == gym.spaces.Discrete(3)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (16, 16, 1) and env.observation_space.contains(obs)
    assert info["shape"] == _shape_of(obs)
    big = make_pixel_grid({"size": 24, "noise": 0})
    obs, _ = big.reset(seed=1)
    assert obs.shape == (24, 24, 1) and int((obs > 0).sum()) in (8, 16)  # noise 0: only the shape is lit


def test_pixel_grid_reward_is_one_for_naming_the_shape_shown_and_episodes_last_10_steps():
    env = make_pixel_grid({})
    obs, info = env.reset(seed=3)
    total, steps, seen = 0.0, 0, set()
    done = False
    while not done:
        right = _shape_of(obs)
        assert right == info["shape"]
        seen.add(right)
        action = right if steps % 2 == 0 else (right + 1) % 3  # right on even steps, wrong on odd ones
        obs, reward, term, trunc, info = env.step(action)
        assert reward == (1.0 if steps % 2 == 0 else 0.0) and not trunc
        total, steps, done = total + reward, steps + 1, term
    assert steps == 10 and total == 5.0 and seen == {0, 1, 2}
    with pytest.raises(ValueError, match=r"PixelGrid-v0 takes actions in Discrete\(3\), got 3"):
        env.step(3)


def test_pixel_grid_random_policy_scores_about_a_third():
    env = make_pixel_grid({})
    rng = np.random.default_rng(0)
    totals = []
    for episode in range(200):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            _, reward, done, _, _ = env.step(int(rng.integers(3)))
            total += reward
        totals.append(total)
    assert 3.0 < np.mean(totals) < 3.7


def test_pixel_grid_seeding_reproduces_frames_and_seed_option_seeds_the_first_reset():
    def frames(env, seed):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(9):
            out.append(env.step(0)[0])
        return np.stack(out)

    a, b = make_pixel_grid({}), make_pixel_grid({})
    np.testing.assert_array_equal(frames(a, 7), frames(b, 7))
    assert not np.array_equal(frames(a, 7), frames(b, 8))
    seeded = make_pixel_grid({"seed": 7})
    first, _ = seeded.reset()
    np.testing.assert_array_equal(first, make_pixel_grid({}).reset(seed=7)[0])
    assert not np.array_equal(seeded.reset()[0], first)  # the option seeds the first reset only


def test_pixel_grid_blink_shows_the_shape_on_every_second_frame_and_the_answer_carries_over():
    env = make_pixel_grid({"blink": True})
    obs, info = env.reset(seed=0)
    total, previous = 0.0, None
    for t in range(10):
        if t % 2 == 0:
            assert _shape_of(obs) == info["shape"]
        else:  # a blank frame: noise only, the answer is still the shape shown just before
            assert int(obs.max()) <= 40 and info["shape"] == previous
        previous = info["shape"]
        obs, reward, term, _, info = env.step(previous)
        total += reward
        assert term == (t == 9)
    assert total == 10.0


def test_pixel_grid_passes_gymnasiums_env_checker():
    from gymnasium.utils.env_checker import check_env

    for config in ({}, {"blink": True}, {"size": 8, "episode_len": 1, "noise": 0}):
        check_env(make_pixel_grid(config), skip_render_check=True)


def test_pixel_grid_registered_through_the_plugin_and_bad_env_config_refused_naming_the_key():
    spec = get_registry().load().specs["env"]["PixelGrid-v0"]
    assert spec.target == "rl_algos.envs:make_pixel_grid" and "uint8" in spec.summary
    with pytest.raises(ConfigError, match=r"no env_config key 'sise'. Did you mean 'size'\?"):
        make_pixel_grid({"sise": 16})
    for key, value, rule in (
        ("size", 7, "an int >= 8"),
        ("size", 16.0, "an int >= 8"),
        ("episode_len", 0, "an int >= 1"),
        ("noise", 128, r"an int in \[0, 127\]"),
        ("noise", True, r"an int in \[0, 127\]"),
        ("seed", -1, "an int >= 0"),
    ):
        with pytest.raises(ConfigError, match=rf"PixelGrid-v0 env_config '{key}' must be {rule}, got {value!r}"):
            make_pixel_grid({key: value})
    with pytest.raises(ConfigError, match="'blink' must be true or false, got 'yes'"):
        make_pixel_grid({"blink": "yes"})
