"""A3C's numpy postprocessing: GAE (rlcore's postprocess_gae) with A3C's lambda, terminated episodes
not bootstrapped, truncated ones and the fragment's end bootstrapped from the value function."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rl_algos.a3c import DEFAULT_CONFIG, postprocess_a3c
from rlcore.sampling import VectorSampler, postprocess_gae


class Chain(gym.Env):
    """obs [t]; reward 1 per step; the episode ends at step 3: terminated, or truncated with ``trunc``."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, trunc=False):
        self.ends = (False, True) if trunc else (True, False)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.obs = np.zeros(1, np.float32)
        return self.obs.copy(), {}

    def step(self, action):
        self.obs += 1
        end = [e and self.obs[0] == 3 for e in self.ends]
        return self.obs.copy(), 1.0, end[0], end[1], {}


class ConstantValue:
    """The part of the Policy contract postprocessing reads: ``compute_values`` (of bootstrap obs)."""

    def __init__(self, value):
        self.value, self.calls = value, []

    def compute_values(self, obs, state=None):
        self.calls.append(np.asarray(obs).copy())
        return np.full(len(obs), self.value, np.float32)


def fragment(trunc: bool, steps: int = 6, vf: float = 0.0):
    runner = VectorSampler(lambda c: Chain(trunc), num_envs=1, seed=0)
    return runner.sample(lambda obs: (np.zeros(len(obs), np.int64), {"vf_preds": np.full(len(obs), vf)}), steps)


def test_defaults_are_rllib_2018s():
    assert DEFAULT_CONFIG["lambda"] == 1.0 and DEFAULT_CONFIG["gamma"] == 0.99


def test_terminated_episodes_are_discounted_returns_without_bootstrap():
    policy = ConstantValue(100.0)  # would show in every advantage if a terminated episode were bootstrapped
    b = postprocess_a3c(fragment(trunc=False), policy, {"gamma": 0.5, "lambda": 1.0})
    assert b["advantages"].tolist() == [1.75, 1.5, 1.0, 1.75, 1.5, 1.0]
    assert b["value_targets"].tolist() == [1.75, 1.5, 1.0, 1.75, 1.5, 1.0]
    assert b["advantages"].dtype == np.float32 and b["value_targets"].dtype == np.float32


def test_truncated_episodes_and_the_fragments_end_bootstrap_from_the_value_function():
    policy = ConstantValue(2.0)
    b = postprocess_a3c(fragment(trunc=True), policy, {"gamma": 0.5, "lambda": 1.0})
    assert b["value_targets"].tolist() == [2.0] * 6  # 1 + 0.5 * (1 + 0.5 * (1 + 0.5 * 2)) ... = 2
    assert [c[:, 0].tolist() for c in policy.calls] == [[3.0, 3.0]]  # both final observations, one call
    b = postprocess_a3c(fragment(trunc=False, steps=4), ConstantValue(2.0), {"gamma": 0.5, "lambda": 1.0})
    assert b["value_targets"].tolist() == [1.75, 1.5, 1.0, 2.0]  # the cut episode: 1 + 0.5 * V(obs 1)


@pytest.mark.parametrize("lambda_", [0.0, 0.5, 0.95, 1.0])
@pytest.mark.parametrize("trunc", [False, True])
def test_equals_postprocess_gae_with_a3cs_lambda(lambda_, trunc):
    frag = fragment(trunc, steps=5, vf=0.3)
    ours = postprocess_a3c(frag, ConstantValue(0.7), {"gamma": 0.9, "lambda": lambda_})
    ref = postprocess_gae(frag, ConstantValue(0.7).compute_values, gamma=0.9, lambda_=lambda_)
    columns = set(ref.keys())
    assert set(ours.keys()) == columns
    for key in columns:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)
    # the value targets are the advantages plus the sampled values, whatever lambda
    np.testing.assert_allclose(ours["advantages"], ours["value_targets"] - 0.3, rtol=1e-6, atol=1e-6)
