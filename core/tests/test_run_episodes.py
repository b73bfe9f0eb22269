"""VectorSampler.run_episodes / RolloutEvaluator.run_episodes, the hot loop of ES: exactly N
complete episodes over min(num_envs, N) envs, the episode index of every row, the filter frozen
during the call then updated, horizon, action conversion, sample() afresh afterwards, and env
errors named like sample()'s."""

from __future__ import annotations

import itertools
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlcore.env_checks import EnvObservationError
from rlcore.errors import EnvError
from rlcore.filters import MeanStdFilter, NoFilter
from rlcore.sampling import EpisodeRuns, VectorSampler


class Counter(gym.Env):
    """obs = [t, index]; reward 0.5 per step; terminates at ``term_at`` (per env), never truncates;
    records its resets and the actions it was given. ``raise_at``/``bad_at``: step numbers (of an
    episode) where step() raises or returns a NaN reward."""

    observation_space = gym.spaces.Box(-1e6, 1e6, (2,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def __init__(self, index: int, term_at: int | None = None, raise_at: int | None = None, bad_at: int | None = None):
        self.index, self.term_at, self.raise_at, self.bad_at = index, term_at, raise_at, bad_at
        self.t = 0
        self.resets = 0
        self.actions: list[Any] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        self.resets += 1
        return np.array([0.0, self.index], np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        self.actions.append(action)
        if self.t == self.raise_at:
            raise RuntimeError("the simulator crashed")
        reward = float("nan") if self.t == self.bad_at else 0.5
        return np.array([self.t, self.index], np.float32), reward, self.t == self.term_at, False, {}


def counters(num_envs: int, **kwargs: Any) -> tuple[VectorSampler, list[Counter]]:
    envs: list[Counter] = []

    def creator(config: dict) -> Counter:
        i = len(envs)
        env = Counter(i, **{k: (v(i) if callable(v) else v) for k, v in kwargs.items()})
        envs.append(env)
        return env

    return VectorSampler(creator, num_envs=num_envs, seed=0), envs


def zeros(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
    return np.zeros(len(obs), np.int64)


def test_cartpole_counts_lengths_and_steps() -> None:
    s = VectorSampler(lambda c: gym.make("CartPole-v1"), num_envs=4, seed=0)
    before = s.total_steps
    runs = s.run_episodes(lambda obs, eps: (obs[:, 2] > 0).astype(np.int64), 10)
    assert isinstance(runs, EpisodeRuns)
    assert runs.returns.shape == (10,) and runs.returns.dtype == np.float64
    assert runs.lengths.shape == (10,) and runs.lengths.dtype == np.int64
    assert (runs.lengths >= 8).all()  # a pole balanced by its angle lasts a while
    np.testing.assert_array_equal(runs.returns, runs.lengths)  # CartPole pays 1 per step
    assert int(runs.lengths.sum()) == runs.steps == s.total_steps - before
    assert s.get_metrics() == []  # run_episodes feeds no episode metrics


def test_same_seed_same_episodes() -> None:
    def run() -> EpisodeRuns:
        s = VectorSampler(lambda c: gym.make("CartPole-v1"), num_envs=3, seed=7)
        return s.run_episodes(lambda obs, eps: (obs[:, 2] + 0.01 * eps > 0).astype(np.int64), 8)

    a, b = run(), run()
    np.testing.assert_array_equal(a.returns, b.returns)
    np.testing.assert_array_equal(a.lengths, b.lengths)


def test_every_episode_index_runs_once_to_its_end() -> None:
    # env i's episodes last 2 + i steps: every index gets exactly its length in rows
    s, _ = counters(3, term_at=lambda i: 2 + i)
    rows: dict[int, int] = {}
    seen_obs_t: dict[int, list[float]] = {}

    def act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        assert episodes.dtype == np.int64 and len(episodes) == len(obs)
        assert len(set(episodes.tolist())) == len(episodes)  # one env per episode at a time
        for e, o in zip(episodes.tolist(), obs, strict=True):
            rows[e] = rows.get(e, 0) + 1
            seen_obs_t.setdefault(e, []).append(float(o[0]))
        return np.zeros(len(obs), np.int64)

    runs = s.run_episodes(act, 7)
    assert sorted(rows) == list(range(7))
    assert [rows[e] for e in range(7)] == runs.lengths.tolist()
    assert all(t == list(map(float, range(len(t)))) for t in seen_obs_t.values())  # each from a fresh reset
    np.testing.assert_allclose(runs.returns, 0.5 * runs.lengths)
    assert runs.steps == int(runs.lengths.sum())
    assert set(runs.lengths.tolist()) <= {2, 3, 4}
    assert runs.lengths[:3].tolist() == [2, 3, 4]  # episodes 0..2 start on envs 0..2


def test_fewer_episodes_than_envs_step_only_those_envs() -> None:
    s, envs = counters(4, term_at=3)
    runs = s.run_episodes(zeros, 2)
    assert runs.lengths.tolist() == [3, 3]
    assert [len(e.actions) for e in envs] == [3, 3, 0, 0]
    assert all(type(a) is int for a in envs[0].actions)  # Discrete actions go to the env as ints


def test_resets_start_from_the_fresh_state_and_every_env_is_reset_after() -> None:
    s, envs = counters(2, term_at=2)
    assert [e.resets for e in envs] == [1, 1]
    s.run_episodes(zeros, 5)  # episodes 0, 1 start where the construction's reset left them
    assert sum(e.resets for e in envs) == 2 + 3 + 2  # construction, 3 restarts, every env after
    s.run_episodes(zeros, 2)  # no step since: starts there again
    assert sum(e.resets for e in envs) == 7 + 2


def test_sample_after_run_episodes_starts_fresh_episodes() -> None:
    s, _ = counters(2, term_at=10)
    frag = s.sample(lambda obs: (np.zeros(len(obs), np.int64), {}), 3)
    s.run_episodes(zeros, 3)
    frag2 = s.sample(lambda obs: (np.zeros(len(obs), np.int64), {}), 4)
    assert frag2.columns["obs"][:, :, 0].T.tolist() == [[0.0, 1.0, 2.0, 3.0]] * 2
    assert not set(frag2.columns["eps_id"].ravel()) & set(frag.columns["eps_id"].ravel())
    assert s.get_metrics() == []
    # and run_episodes after sample() resets first (the envs were stepped)
    runs = s.run_episodes(zeros, 2)
    assert runs.lengths.tolist() == [10, 10]


def test_horizon_ends_episodes() -> None:
    s = VectorSampler(lambda c: Counter(0), num_envs=2, seed=0, horizon=7)
    runs = s.run_episodes(zeros, 5)
    assert runs.lengths.tolist() == [7] * 5 and runs.steps == 35


def test_filter_frozen_during_the_call_then_updated() -> None:
    f = MeanStdFilter((2,))
    s = VectorSampler(lambda c: Counter(1, term_at=4), num_envs=2, seed=0, obs_filter=f)
    n0, buf0 = f.rs.n, f.buffer.n
    mean0, scale0 = f._mean.copy(), f._scale.copy()
    fed: list[np.ndarray] = []
    frozen_n: set[int] = set()

    def act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        frozen_n.add(f.rs.n)
        fed.append(obs)
        return np.zeros(len(obs), np.int64)

    runs = s.run_episodes(act, 3)
    assert frozen_n == {n0}
    raw_t = np.concatenate([np.arange(4)] * 3).astype(np.float32)  # t = 0..3 in each episode
    expected = np.clip((np.stack([raw_t, np.ones_like(raw_t)], 1) - mean0) * scale0, -10, 10)
    got = np.concatenate(fed)
    np.testing.assert_allclose(np.sort(got[:, 0]), np.sort(expected[:, 0]), rtol=1e-6)
    # each observation fed to act is counted once: the two first observations were counted when
    # the sampler reset its envs (n0 == 2) and run_episodes started from them: not pushed again
    assert n0 == buf0 == 2 and len(got) == runs.steps
    assert f.rs.n == runs.steps and f.buffer.n == runs.steps
    n1 = f.rs.n
    s.run_episodes(act, 2, update_filter=False)
    assert f.rs.n == n1
    # the envs were reset after it (not counted yet): the next call counts them once, as fed
    fed.clear()
    runs = s.run_episodes(act, 2)
    assert f.rs.n == n1 + runs.steps == n1 + len(np.concatenate(fed))


def test_sample_after_run_episodes_counts_the_fresh_observations_once() -> None:
    """run_episodes leaves every env freshly reset, those first observations not yet counted; the
    sample() that feeds them to the policy counts them (N) with its T x N new ones."""
    f = MeanStdFilter((2,))
    s = VectorSampler(lambda c: Counter(1, term_at=4), num_envs=2, seed=0, obs_filter=f)
    s.run_episodes(zeros, 2)
    n1 = f.rs.n
    s.sample(lambda obs: (np.zeros(len(obs), np.int64), {}), 3)
    assert f.rs.n == n1 + 2 + 3 * 2
    s.sample(lambda obs: (np.zeros(len(obs), np.int64), {}), 3)  # started from counted observations
    assert f.rs.n == n1 + 2 + 6 * 2


def test_box_actions_are_clipped() -> None:
    class BoxEnv(Counter):
        action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    env = BoxEnv(0, term_at=2)
    s = VectorSampler(lambda c: env, num_envs=1, seed=0, obs_filter=NoFilter())
    s.run_episodes(lambda obs, eps: np.full((len(obs), 2), 5.0, np.float32), 1)
    assert [a.tolist() for a in env.actions] == [[1.0, 1.0]] * 2


def test_bad_arguments_and_actions() -> None:
    s, _ = counters(2, term_at=3)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_episodes must be an int >= 1"):
            s.run_episodes(zeros, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="act returned 1 actions for 2 observations; return one action per row"):
        s.run_episodes(lambda obs, eps: np.zeros(1, np.int64), 3)
    with pytest.raises(ValueError, match="act returned a scalar for 2 observations"):
        s.run_episodes(lambda obs, eps: 0, 3)  # type: ignore[arg-type,return-value]
    assert s.run_episodes(lambda obs, eps: [0] * len(obs), 2).lengths.tolist() == [3, 3]  # a list will do
    assert s.run_episodes(zeros, 2).lengths.tolist() == [3, 3]  # usable after the error


def test_env_step_error_names_the_env_when_only_some_run() -> None:
    # env 1 raises at step 2 of its 2nd episode: by then env 0 is idle (its episode was the last one)
    s, envs = counters(2, term_at=lambda i: 1 if i == 0 else 3)
    envs[1].raise_at = 99
    s.run_episodes(zeros, 2)
    envs[1].raise_at = 2
    with pytest.raises(EnvError, match=r"env 1 raised RuntimeError: the simulator crashed in step\(0\) at step 2 "):
        s.run_episodes(zeros, 2)


def test_env_bad_reward_names_the_env() -> None:
    s, _ = counters(3, term_at=5, bad_at=lambda i: 2 if i == 2 else None)
    with pytest.raises(EnvError, match=r"env 2's .*reward"):
        s.run_episodes(zeros, 3)


def test_env_bad_reset_observation_is_refused() -> None:
    class BadReset(Counter):
        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
            obs, info = super().reset(seed=seed)
            return (obs if self.resets < 2 else np.array([np.nan, 0], np.float32)), info

    s = VectorSampler(lambda c: BadReset(0, term_at=2), num_envs=1, seed=0)
    with pytest.raises(EnvObservationError, match=r"non-finite observation .* from reset\(\)"):
        s.run_episodes(zeros, 2)


def test_the_episodes_array_changes_only_when_an_episode_ends() -> None:
    s, _ = counters(3, term_at=lambda i: 2 + 2 * i)
    calls: list[tuple[np.ndarray, list[int]]] = []

    def act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        calls.append((episodes, episodes.tolist()))
        return np.zeros(len(obs), np.int64)

    s.run_episodes(act, 5)
    for (prev, prev_list), (cur, cur_list) in itertools.pairwise(calls):
        assert (cur is prev) == (cur_list == prev_list)
        assert cur.tolist() == cur_list  # never changed after it was passed


class Frames(gym.Env):
    """obs = [100 * episode + t] with episodes 10 * k + 1, 10 * k + 2, ... for env k; ends after ``length`` steps."""

    observation_space = gym.spaces.Box(0, 1e6, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, k: int, length: int) -> None:
        self.k, self.length, self.episode, self.t = k, length, 10 * k, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.array([100 * self.episode], np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.array([100 * self.episode + self.t], np.float32), 1.0, self.t == self.length, False, {}


def test_frame_stacks_hold_one_episode_each() -> None:
    from rlcore.models.catalog import ModelCatalog

    made: list[Frames] = []

    def creator(config: dict) -> Frames:
        made.append(Frames(len(made), 2 + 3 * len(made)))
        return made[-1]

    s = VectorSampler(
        creator,
        num_envs=3,
        seed=0,
        preprocessor_factory=lambda space: ModelCatalog.get_preprocessor(space, {"framestack": 3}),
    )
    s.sample(lambda obs: (np.zeros(len(obs), np.int64), {}), 4)  # the stacks hold frames of running episodes
    stacks: list[list[int]] = []

    def act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        stacks.extend([round(float(x)) for x in row.reshape(3)] for row in obs)
        return np.zeros(len(obs), np.int64)

    runs = s.run_episodes(act, 7)
    assert len(stacks) == runs.steps
    for f in stacks:
        t = f[-1] % 100
        assert f == [f[-1] - min(t, 2), f[-1] - min(t, 1), f[-1]], f"stack {f} mixes episodes"
        assert t <= 10
    first = s.sample(lambda obs: (np.zeros(len(obs), np.int64), {}), 1).columns["obs"][0]
    for row in first:  # sample() after: new episodes, stacks of their first frame only
        f = [round(float(x)) for x in row.reshape(3)]
        assert f == [f[-1]] * 3 and f[-1] % 100 == 0


def test_env_reset_error_between_episodes_names_the_env() -> None:
    class CrashOnReset(Counter):
        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
            if self.resets >= 1 and self.index == 1:
                raise OSError("the emulator lost its ROM")
            return super().reset(seed=seed)

    made: list[Counter] = []
    s = VectorSampler(lambda c: made.append(CrashOnReset(len(made), term_at=2)) or made[-1], num_envs=2, seed=0)
    with pytest.raises(EnvError, match=r"env 1 raised OSError: the emulator lost its ROM in reset\(\)") as info:
        s.run_episodes(zeros, 4)
    assert isinstance(info.value.__cause__, OSError)
