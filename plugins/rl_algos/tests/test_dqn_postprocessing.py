"""DQN's numpy postprocessing: n-step transitions from the env runner's fragments."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rl_algos.dqn.postprocessing import postprocess_dqn
from rlcore.sampling import VectorSampler


class Chain(gym.Env):
    """obs [t]; reward 1 per step; terminates at step 3 or truncates at step 3 (``trunc``)."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, trunc=False):
        self.trunc, self.t = trunc, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == 3
        return np.array([self.t], np.float32), 1.0, done and not self.trunc, done and self.trunc, {}


CONFIG = {"gamma": 0.5, "n_step": 2}


def sample(trunc: bool):
    runner = VectorSampler(lambda c: Chain(trunc), num_envs=1, seed=0)
    fragment = runner.sample(lambda obs: (np.zeros(len(obs), np.int64), {}), 6, keep_next_obs=True)
    return postprocess_dqn(fragment, None, CONFIG)


def test_n_step_transitions_with_termination():
    b = sample(trunc=False)
    assert b["obs"][:, 0].tolist() == [0, 1, 2, 0, 1, 2]
    assert b["rewards"].tolist() == [1.5, 1.5, 1.0, 1.5, 1.5, 1.0]
    # the episode terminates within the 2 steps of rows 1 and 2: no bootstrap (discount 0)
    assert b["discounts"].tolist() == [0.25, 0.0, 0.0, 0.25, 0.0, 0.0]
    assert b["next_obs"][:, 0].tolist() == [2, 3, 3, 2, 3, 3]
    assert b["terminateds"].tolist() == [False, False, True, False, False, True]  # per step, as sampled
    assert b["weights"].tolist() == [1.0] * 6


def test_truncation_bootstraps_from_the_final_observation():
    b = sample(trunc=True)
    assert not b["terminateds"].any()
    assert b["discounts"].tolist() == [0.25, 0.25, 0.5, 0.25, 0.25, 0.5]
    assert b["next_obs"][:, 0].tolist() == [2, 3, 3, 2, 3, 3]


def test_epsilon_anneals_with_the_sampled_timesteps():
    from rl_algos.dqn import DEFAULT_CONFIG
    from rlcore.schedules import PiecewiseSchedule

    cfg = {**DEFAULT_CONFIG, "exploration_timesteps": 100, "exploration_final_eps": 0.1}
    sched = PiecewiseSchedule(
        [(0, cfg["exploration_initial_eps"]), (cfg["exploration_timesteps"], cfg["exploration_final_eps"])]
    )
    assert sched.value(0) == 1.0 and np.isclose(sched.value(50), 0.55) and np.isclose(sched.value(10_000), 0.1)
