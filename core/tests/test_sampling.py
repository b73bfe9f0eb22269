"""VectorSampler and postprocess_gae: episodes, truncation bootstrapping, bad observations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlcore.filters import MeanStdFilter, make_filter
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import EnvObservationError, VectorSampler, flatten_env_major, postprocess_gae


class Counter(gym.Env):
    """obs = [t]; reward 1 per step; terminates at `term_at`, truncates at `trunc_at`."""

    observation_space = gym.spaces.Box(-1e6, 1e6, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, term_at=None, trunc_at=None, bad_at=None, bad_value=np.nan):
        self.term_at, self.trunc_at, self.bad_at, self.bad_value = term_at, trunc_at, bad_at, bad_value
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([self.t], np.float32)
        if self.bad_at is not None and self.t == self.bad_at:
            obs[0] = self.bad_value
        return obs, 1.0, self.t == self.term_at, self.t == self.trunc_at, {}


def const_policy(obs):
    n = len(obs)
    return np.zeros(n, np.int64), {"vf_preds": obs[:, 0].astype(np.float32) * 0 + 10.0}


def test_fragment_shapes_episodes_and_metrics():
    s = VectorSampler(lambda c: Counter(term_at=3), num_envs=2, seed=0)
    frag = s.sample(const_policy, 7)
    assert frag.shape == (7, 2)
    cols = frag.columns
    assert cols["terminateds"][:, 0].tolist() == [False, False, True, False, False, True, False]
    assert cols["obs"][:4, 0, 0].tolist() == [0.0, 1.0, 2.0, 0.0]  # reset after the terminal step
    eps = cols["eps_id"][:, 0]
    assert eps[0] == eps[2] != eps[3] == eps[5] != eps[6]
    assert len(set(cols["eps_id"][:, 1]) & set(eps)) == 0, "episode ids are unique across envs"
    assert [m.episode_length for m in s.get_metrics()] == [3, 3, 3, 3] and s.get_metrics() == []
    assert s.total_steps == 14


def test_truncation_bootstraps_from_the_final_observation():
    s = VectorSampler(lambda c: Counter(trunc_at=2), num_envs=1, seed=0)
    frag = s.sample(const_policy, 3)
    # bootstrap rows: the truncated step (t=1, final obs [2]) and the fragment's last step (obs [1])
    assert frag.bootstrap_index.tolist() == [[1, 0], [2, 0]]
    assert frag.bootstrap_obs[:, 0].tolist() == [2.0, 1.0]
    batch = postprocess_gae(frag, lambda obs: obs[:, 0] * 100.0, gamma=0.5, lambda_=1.0)
    adv = batch["advantages"]
    # V = 10 everywhere from the policy; next value of the truncated step = 200, fragment end = 100
    assert adv[1] == pytest.approx(1.0 + 0.5 * 200.0 - 10.0)
    assert adv[0] == pytest.approx(1.0 + 0.5 * 10.0 - 10.0 + 0.5 * adv[1])
    assert adv[2] == pytest.approx(1.0 + 0.5 * 100.0 - 10.0)
    np.testing.assert_allclose(batch["value_targets"], adv + 10.0)


def test_termination_does_not_bootstrap():
    s = VectorSampler(lambda c: Counter(term_at=2), num_envs=1, seed=0)
    batch = postprocess_gae(s.sample(const_policy, 2), lambda obs: obs[:, 0] * 100.0, gamma=0.5, lambda_=1.0)
    assert batch["advantages"][1] == pytest.approx(1.0 - 10.0)


def test_flatten_keeps_each_env_contiguous():
    x = np.arange(6).reshape(3, 2)  # [T=3, N=2]
    assert flatten_env_major(x).tolist() == [0, 2, 4, 1, 3, 5]
    s = VectorSampler(lambda c: Counter(term_at=100), num_envs=3, seed=0)
    batch = postprocess_gae(s.sample(const_policy, 4), lambda o: o[:, 0], gamma=0.9, lambda_=0.9)
    assert isinstance(batch, SampleBatch) and batch.count == 12
    assert len(batch.split_by_episode()) == 3


def test_nan_observation_names_env_and_step():
    s = VectorSampler(lambda c: Counter(bad_at=3), num_envs=2, seed=0, env_name="Counter-v0")
    with pytest.raises(
        EnvObservationError, match=r"env 'Counter-v0' \(worker 0\) after 6 sampled steps.*env 0 returned a non-finite"
    ):
        s.sample(const_policy, 5)


def test_observation_outside_space_is_reported():
    s = VectorSampler(lambda c: Counter(bad_at=2, bad_value=1e9), num_envs=1, seed=0, env_name="Counter-v0")
    with pytest.raises(EnvObservationError, match=r"outside Box"):
        s.sample(const_policy, 3)


def test_seeded_samplers_agree():
    def run(seed):
        s = VectorSampler(lambda c: gym.make("CartPole-v1"), num_envs=2, seed=seed)
        rng = np.random.default_rng(seed)
        return s.sample(lambda o: (rng.integers(0, 2, len(o)), {}), 20).columns["obs"]

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_filters_normalize_and_sync():
    f = MeanStdFilter((2,))
    x = np.random.default_rng(0).normal(5.0, 2.0, (1000, 2))
    y = f(x)
    assert abs(y.mean()) < 0.1 and abs(y.std() - 1) < 0.1
    g = MeanStdFilter((2,))
    g.apply_buffer(f.flush_buffer())
    np.testing.assert_allclose(g.rs.mean, f.rs.mean)
    assert f.flush_buffer()["n"] == 0
    h = make_filter("NoFilter", (2,))
    assert h(x).dtype == np.float32 and h.get_state() == {}
    from rlcore.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'MeanStdFilter'"):
        make_filter("MeanStdFiltre", (2,))
