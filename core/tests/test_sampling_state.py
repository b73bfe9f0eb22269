"""Per-env state in the env runner (VectorSampler): frame stacks and recurrent states.

The env's observation is ``100 * episode + t``, with episode numbers ``10 * k + 1, 10 * k + 2, ...``
for env ``k``, so every frame says which env and which episode it comes from, and the stack of a
frame ``v`` (``framestack=3``) can only be ``[v - min(t, 2), v - min(t, 1), v]`` (``t = v % 100``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlcore.filters import MeanStdFilter
from rlcore.models.catalog import ModelCatalog
from rlcore.sampling import EnvObservationError, VectorSampler, postprocess_gae

K = 3  # framestack
N_DISCRETE = 2000


class EpisodeEnv(gym.Env):
    """obs = 100 * episode + t; ends (terminated or truncated) after ``length`` steps."""

    action_space = gym.spaces.Discrete(2)

    def __init__(self, k: int, length: int, truncate: bool, kind: str = "box", bad_reset_at: int = 0) -> None:
        self.k, self.length, self.truncate, self.kind = k, length, truncate, kind
        self.bad_reset_at = bad_reset_at
        box = gym.spaces.Box(0, N_DISCRETE, (1,), np.float32)
        self.observation_space = {
            "box": box,
            "discrete": gym.spaces.Discrete(N_DISCRETE),
            "dict": gym.spaces.Dict({"v": box, "z": gym.spaces.Discrete(1)}),  # flattened: [v, 1]
        }[kind]
        self.episode, self.t = 10 * k, 0

    def _obs(self) -> Any:
        v = 100 * self.episode + self.t
        if self.kind == "discrete":
            return v
        if self.kind == "dict":
            return {"v": np.array([v], np.float32), "z": 0}
        return np.array([v], np.float32)

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        if self.bad_reset_at and self.episode == 10 * self.k + self.bad_reset_at:
            return np.array([-5.0], np.float32), {}
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        end = self.t == self.length
        return self._obs(), 1.0, end and not self.truncate, end and self.truncate, {}


def make_sampler(
    envs: list[tuple[int, bool]], *, kind: str = "box", framestack: int = K, **kwargs: Any
) -> VectorSampler:
    """One EpisodeEnv per ``(length, truncate)``, with a catalog preprocessor (framestack)."""
    specs: Iterator[tuple[int, tuple[int, bool]]] = iter(enumerate(envs))
    env_kwargs: dict[int, dict[str, Any]] = kwargs.pop("env_kwargs", {})

    def creator(_: dict) -> EpisodeEnv:
        k, (length, truncate) = next(specs)
        return EpisodeEnv(k, length, truncate, kind, **env_kwargs.get(k, {}))

    return VectorSampler(
        creator,
        num_envs=len(envs),
        preprocessor_factory=lambda space: ModelCatalog.get_preprocessor(space, {"framestack": framestack}),
        **kwargs,
    )


def frames(stack: np.ndarray, kind: str = "box") -> list[int]:
    """The raw frame values of one preprocessed stack, oldest first."""
    if kind == "discrete":
        return stack.reshape(K, N_DISCRETE).argmax(axis=1).tolist()
    if kind == "dict":
        return [round(float(x)) for x in stack.reshape(K, 2)[:, 0]]
    return [round(float(x)) for x in stack.reshape(K)]


def expected(v: int) -> list[int]:
    t = v % 100
    return [v - min(t, 2), v - min(t, 1), v]


def policy(obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return np.zeros(len(obs), np.int64), {}


def check_stacks(stacks: np.ndarray, kind: str, envs: list[int] | None = None) -> None:
    """Every stack holds frames of one episode of one env (the env whose row it is, if given)."""
    for j, stack in enumerate(stacks.reshape(-1, stacks.shape[-1])):
        f = frames(stack, kind)
        assert f == expected(f[-1]), f"stack {f} mixes episodes"
        if envs is not None:
            assert f[-1] // 1000 == envs[j], f"stack {f} in the row of env {envs[j]}"


# ------------------------------------------------------------------ frame stacks
@pytest.mark.parametrize("kind", ["box", "discrete", "dict"])
def test_every_stack_holds_one_episode_of_one_env(kind: str) -> None:
    # env 0: truncated after 3 steps; env 1: terminated after 5 (they reset at different steps)
    s = make_sampler([(3, True), (5, False)], kind=kind)
    frag = s.sample(policy, 12, keep_next_obs=True)
    obs, nxt = frag.columns["obs"], frag.next_obs
    assert nxt is not None
    t_max, n = frag.shape
    env_of = [k for _ in range(t_max) for k in range(n)]
    check_stacks(obs, kind, env_of)
    check_stacks(nxt, kind, env_of)
    check_stacks(frag.bootstrap_obs, kind, frag.bootstrap_index[:, 1].tolist())
    # env 0: episode 1 is 100, 101, 102, 103 (final); episode 2 starts at step 3 with a fresh stack
    assert [frames(obs[t, 0], kind) for t in range(5)] == [
        [100, 100, 100],
        [100, 100, 101],
        [100, 101, 102],
        [200, 200, 200],
        [200, 200, 201],
    ]
    # the truncated final observation: [t-2, t-1, t] of the ending episode, not the next reset frame
    assert frag.bootstrap_index[0].tolist() == [2, 0]
    assert frames(frag.bootstrap_obs[0], kind) == [101, 102, 103]
    assert frames(nxt[2, 0], kind) == [101, 102, 103]
    # env 1 is untouched by env 0's resets, and resets on its own after 5 steps
    assert [frames(obs[t, 1], kind) for t in range(3, 7)] == [
        [1101, 1102, 1103],
        [1102, 1103, 1104],
        [1200, 1200, 1200],
        [1200, 1200, 1201],
    ]
    assert frames(nxt[4, 1], kind) == [1103, 1104, 1105]  # terminated: next_obs only
    assert frag.columns["terminateds"][4, 1] and not frag.columns["truncateds"][4, 1]


def test_stacks_continue_across_fragments() -> None:
    s = make_sampler([(5, True), (7, True)])
    first = s.sample(policy, 4)
    second = s.sample(policy, 4)
    assert frames(first.columns["obs"][3, 0]) == [101, 102, 103]
    assert frames(second.columns["obs"][0, 0]) == [102, 103, 104]
    assert frames(first.bootstrap_obs[-1]) == [1102, 1103, 1104]  # the fragment's last observation
    check_stacks(second.columns["obs"], False, [0, 1] * 4)


def test_acting_state_over_two_episodes_and_fresh_state_per_call() -> None:
    s = make_sampler([(3, True)])
    state = s.new_acting_state(1)
    assert state.shape == (1, 1 + K) and state.dtype == np.float32
    seen = [frames(s.compute_obs([np.array([v], np.float32)], state)[0]) for v in (500, 501, 502, 503)]
    assert seen == [[500, 500, 500], [500, 500, 501], [500, 501, 502], [501, 502, 503]]
    s.reset_acting_state(state)  # a new episode
    seen = [frames(s.compute_obs([np.array([v], np.float32)], state)[0]) for v in (600, 601)]
    assert seen == [[600, 600, 600], [600, 600, 601]]
    # no state: each call is a fresh episode (and the same frame gives the same stack)
    for _ in range(2):
        assert frames(s.compute_obs(np.array([[702.0]], np.float32))[0]) == [702, 702, 702]
    with pytest.raises(
        ValueError, match=r"made for 1 episode, this batch has 2 observations: make it with new_acting_state\(2\)"
    ):
        s.compute_obs([np.array([1.0], np.float32)] * 2, state)


def test_acting_state_rows_are_separate_for_discrete() -> None:
    s = make_sampler([(3, True)], kind="discrete")
    state = s.new_acting_state(2)
    for pair in ((100, 1100), (101, 1101)):
        out = s.compute_obs(list(pair), state)
    assert frames(out[0], "discrete") == [100, 100, 101] and frames(out[1], "discrete") == [1100, 1100, 1101]
    s.reset_acting_state(state, [1])
    out = s.compute_obs([102, 1200], state)
    assert frames(out[0], "discrete") == [100, 101, 102] and frames(out[1], "discrete") == [1200, 1200, 1200]


@pytest.mark.parametrize("kind", ["box", "discrete", "dict"])
def test_acting_between_fragments_leaves_the_sampler_alone(kind: str) -> None:
    plain = make_sampler([(4, True), (6, False)], kind=kind)
    acted = make_sampler([(4, True), (6, False)], kind=kind)
    plain.sample(policy, 5)
    acted.sample(policy, 5)
    state_before = acted.prep_state.copy()
    raw = [EpisodeEnv(k, 5, True, kind).reset()[0] for k in (0, 1)]
    acted.compute_obs(raw)  # fresh state per call
    acting = acted.new_acting_state(2)
    acted.compute_obs(raw, acting)
    np.testing.assert_array_equal(acted.prep_state, state_before)
    a, b = plain.sample(policy, 5), acted.sample(policy, 5)
    np.testing.assert_array_equal(a.columns["obs"], b.columns["obs"])
    np.testing.assert_array_equal(a.bootstrap_obs, b.bootstrap_obs)


def test_the_filter_counts_each_observation_fed_to_the_policy_once() -> None:
    """MeanStdFilter statistics are shared across envs; final observations do not update them."""
    s = make_sampler([(2, True), (3, False)], filter_factory=lambda shape: MeanStdFilter(shape))
    assert s.obs_filter.rs.n == 2  # the first observations
    frag = s.sample(policy, 6, keep_next_obs=True)
    assert s.obs_filter.rs.n == 2 + 6 * 2  # env 0 truncated 3 times, env 1 terminated twice
    assert frag.bootstrap_index[:3].tolist() == [[1, 0], [3, 0], [5, 0]]
    # final observations are normalized (raw frames are >= 100; normalized ones are clipped to 10)
    assert frag.next_obs is not None
    np.testing.assert_array_equal(frag.bootstrap_obs[:3], frag.next_obs[[1, 3, 5], 0])
    assert np.abs(frag.bootstrap_obs).max() <= 10.0


def test_bad_reset_observation_names_its_env() -> None:
    s = make_sampler([(2, True), (3, True)], env_kwargs={1: {"bad_reset_at": 2}}, env_name="Ep-v0")
    with pytest.raises(
        EnvObservationError, match=r"after 6 sampled steps: observation array\(\[-5.\], .*\) of env 1 is outside"
    ):
        s.sample(policy, 4)


# ------------------------------------------------------------------ recurrent state
def counting_policy(obs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list, dict]:
    """state 0 counts steps ([N]); state 1 ([N, 2]) holds the last obs frame twice."""
    count, _last = state
    return np.zeros(len(obs), np.int64), [count + 1, np.repeat(obs[:, -1:], 2, axis=1)], {"c": count.copy()}


def test_recurrent_state_counts_restart_at_each_envs_episode_end() -> None:
    s = make_sampler([(3, True), (5, False)], framestack=1)
    init = [np.zeros((), np.float32), np.full(2, -1.0, np.float32)]
    frag = s.sample(counting_policy, 8, initial_state=init)
    counts = frag.columns["state_in_0"]
    assert counts.shape == (8, 2) and frag.columns["state_in_1"].shape == (8, 2, 2)
    assert counts[:, 0].tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert counts[:, 1].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    # the count fed in is the step's index in its episode
    np.testing.assert_array_equal(counts, frag.columns["obs"][..., 0] % 100)
    np.testing.assert_array_equal(frag.extras["c"], counts)
    # state 1: initial value at an episode's first step, else the previous frame
    s1 = frag.columns["state_in_1"][:, 0, 0]
    assert s1.tolist() == [-1, 100, 101, -1, 200, 201, -1, 300]
    # bootstrap states: after the truncated step (count 3), and after the fragment's last step
    assert frag.bootstrap_index.tolist() == [[2, 0], [5, 0], [7, 0], [7, 1]]
    assert frag.bootstrap_state[0].tolist() == [3, 3, 2, 3]
    # the state persists across fragments
    nxt = s.sample(counting_policy, 2, initial_state=init)
    assert nxt.columns["state_in_0"][:, 0].tolist() == [2, 0] and nxt.columns["state_in_0"][:, 1].tolist() == [3, 4]
    assert s.recurrent_state is not None and s.recurrent_state[0].tolist() == [1, 0]  # env 1 just ended
    # flattened env-major with the rest
    batch = postprocess_gae(frag, lambda o, state=None: np.zeros(len(o)), gamma=0.9, lambda_=1.0, vf_key="c")
    assert batch["state_in_0"].tolist() == counts[:, 0].tolist() + counts[:, 1].tolist()


def test_recurrent_state_shape_errors_and_stateless_form() -> None:
    s = make_sampler([(3, True)], framestack=1)
    with pytest.raises(ValueError, match="state_out of shapes"):
        s.sample(lambda o, st: (np.zeros(1, np.int64), [np.zeros(3)], {}), 2, initial_state=[np.zeros(())])
    s.reset_recurrent_state()
    s.sample(lambda o, st: (np.zeros(1, np.int64), [st[0] + 1], {}), 2, initial_state=[np.zeros(())])
    with pytest.raises(ValueError, match=r"reset_recurrent_state\(\)"):
        s.sample(counting_policy, 2, initial_state=[np.zeros(()), np.zeros(2)])
    # an empty state (a feed-forward policy through the recurrent form), and the plain form
    s2 = make_sampler([(3, True)], framestack=1)
    frag = s2.sample(lambda o, st: (np.zeros(len(o), np.int64), [], {}), 2, initial_state=[])
    assert not any(k.startswith("state_in_") for k in frag.columns) and frag.bootstrap_state == []
    assert "state_in_0" not in s2.sample(policy, 2).columns


def test_stateless_runner_takes_an_acting_state_too() -> None:
    """Callers may always hold an acting state; without a stateful preprocessor it is empty."""
    s = make_sampler([(3, True)], framestack=1)
    assert s.prep_state is None
    state = s.new_acting_state(2)
    assert state.shape == (2, 0)
    raw = [np.array([100.0], np.float32), np.array([1100.0], np.float32)]
    np.testing.assert_array_equal(s.compute_obs(raw, state), [[100.0], [1100.0]])
    s.reset_acting_state(state, [0])
    with pytest.raises(ValueError, match="one row per observation"):
        s.compute_obs(raw, s.new_acting_state(1))
