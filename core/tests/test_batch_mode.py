"""RLlib 2018's sampling keys on the rollout evaluator: ``batch_mode`` (truncate_episodes |
complete_episodes), ``horizon`` and ``clip_rewards``, with real gymnasium envs and the real
rollout evaluator and sampler (the algorithms' own trainers: tests/test_batch_mode.py)."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control import PendulumEnv

from rlcore.config_schema import COMMON_SCHEMA
from rlcore.errors import ConfigError
from rlcore.policy import Policy
from rlcore.rollout_evaluator import IncompleteEpisodeError, RolloutEvaluator, postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment, VectorSampler, concat_fragments, postprocess_gae
from rlcore.sequences import check_sequences, chop_into_sequences, replay_sequences, sequence_lengths

GAMMA = 0.9


class RandomPolicy(Policy):
    """Uniformly random actions (Discrete or Box) and a constant value ``VALUE``; with ``recurrent``,
    a state that counts the steps of the episode (``vf_preds`` = that count, values = the count)."""

    VALUE = 0.5
    capabilities = frozenset({"discrete", "continuous", "gradients"})

    def __init__(self, observation_space, action_space, config, *, seed=None):
        self.action_space, self.config = action_space, config
        self.rng = np.random.default_rng(seed)
        self.recurrent = bool(config.get("test_recurrent", False))

    def initial_state(self):
        return [np.zeros((), np.float32)] if self.recurrent else []

    def compute_actions(self, obs, state=None, explore=True):
        n, space = len(obs), self.action_space
        if isinstance(space, gym.spaces.Discrete):
            actions = self.rng.integers(space.n, size=n).astype(np.int64)
        else:
            actions = self.rng.uniform(space.low, space.high, (n, *space.shape)).astype(np.float32)
        if self.recurrent:
            (count,) = state
            return actions, [count + 1], {"vf_preds": count.astype(np.float32)}
        return actions, [], {"vf_preds": np.full(n, self.VALUE, np.float32)}

    def compute_values(self, obs, state=None):
        if self.recurrent:
            return np.asarray(state[0], np.float32)
        return np.full(len(obs), self.VALUE, np.float32)

    def compute_gradients(self, batch):
        return {}, {}

    def apply_gradients(self, grads):
        pass

    def get_weights(self):
        return {}

    def set_weights(self, weights):
        pass


@postprocessing()
def gae(fragment, policy, config):
    return postprocess_gae(fragment, policy.compute_values, gamma=GAMMA, lambda_=1.0)


@postprocessing(needs_next_obs=True)
def with_next_obs(fragment, policy, config):
    batch = postprocess_gae(fragment, policy.compute_values, gamma=GAMMA, lambda_=1.0)
    t_len, n = fragment.shape
    batch["next_obs"] = fragment.next_obs.swapaxes(0, 1).reshape(t_len * n, -1)
    return batch


def evaluator(env="CartPole-v1", postprocess=gae, **config):
    config = {"seed": 0, "num_envs": 1, "rollout_fragment_length": 5, "env": env, **config}
    creator = env if callable(env) else (lambda cfg: gym.make(env))
    if callable(env):
        config["env"] = "custom"
    return RolloutEvaluator(creator, config, 0, policy=RandomPolicy, postprocess=postprocess)


def episode_runs(batch: SampleBatch) -> list[tuple[int, int, int]]:
    """``(eps_id, start, stop)`` of each run of equal eps_id in batch order."""
    eps = batch["eps_id"]
    cuts = [0, *(np.flatnonzero(eps[1:] != eps[:-1]) + 1).tolist(), len(eps)]
    return [(int(eps[a]), a, b) for a, b in itertools.pairwise(cuts)]


def assert_whole_episodes(batch: SampleBatch, lengths: list[int]) -> list[tuple[int, int, int]]:
    """Every eps_id run is one whole episode (its last row, and only it, ends the episode) and
    the run lengths are the lengths of the episodes the sampler finished (its metrics)."""
    done = batch["terminateds"] | batch["truncateds"]
    runs = episode_runs(batch)
    assert len({r[0] for r in runs}) == len(runs), "an episode is split within the batch"
    for _, a, b in runs:
        assert done[b - 1], f"rows {a}:{b} do not end on an episode end"
        assert not done[a : b - 1].any(), f"rows {a}:{b} hold more than one episode"
    assert sorted(b - a for _, a, b in runs) == sorted(lengths)
    return runs


@pytest.mark.parametrize("num_envs", [1, 3])
def test_complete_episodes_ends_every_batch_on_episode_boundaries(num_envs):
    ev = evaluator(num_envs=num_envs, batch_mode="complete_episodes")
    seen: set[int] = set()
    sizes = []
    for _ in range(6):
        batch = ev.sample()
        lengths = [m.episode_length for m in ev.get_metrics()]
        runs = assert_whole_episodes(batch, lengths)
        assert batch.count >= 5 * num_envs
        ids = {r[0] for r in runs}
        assert not ids & seen, "an episode came back in two batches"
        seen |= ids
        sizes.append(batch.count)
    # random CartPole episodes (about 20 steps) are longer than 5 steps: fragments grow past 5 x N
    assert max(sizes) > 5 * num_envs


def test_truncate_episodes_is_the_default_and_cuts_fragments():
    ev = evaluator(num_envs=2)
    assert ev.config["batch_mode"] == "truncate_episodes"
    batch = ev.sample()
    assert batch.count == 10
    done = batch["terminateds"] | batch["truncateds"]
    assert not done[[4, 9]].all()  # fresh CartPole episodes do not end within 5 steps


def test_complete_episodes_gae_with_lambda_1_is_the_monte_carlo_return_minus_the_value():
    ev = evaluator(num_envs=2, batch_mode="complete_episodes")
    for _ in range(3):
        batch = ev.sample()
        for _, a, b in episode_runs(batch):
            assert batch["terminateds"][b - 1]  # random CartPole falls long before 500 steps
            rewards = batch["rewards"][a:b].astype(np.float64)
            returns = np.array([sum(GAMMA**k * r for k, r in enumerate(rewards[t:])) for t in range(b - a)])
            np.testing.assert_allclose(batch["advantages"][a:b], returns - RandomPolicy.VALUE, rtol=1e-5)


@pytest.mark.parametrize("horizon", [10, 12])
def test_a_truncated_episode_bootstraps_from_its_final_observation_across_calls(horizon):
    """Pendulum with horizon 12 (10: episodes end on a fragment's last step) and fragments of 5
    steps: each episode spans several fragments; its rows come back whole, next_obs continuous
    inside, the bootstrap value at its end."""
    ev = evaluator("Pendulum-v1", with_next_obs, num_envs=2, horizon=horizon, batch_mode="complete_episodes")
    batch = ev.sample()
    runs = assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()])
    assert {b - a for _, a, b in runs} == {horizon}
    for _, a, b in runs:
        assert batch["truncateds"][b - 1] and not batch["terminateds"][a:b].any()
        np.testing.assert_array_equal(batch["next_obs"][a : b - 1], batch["obs"][a + 1 : b])
        # the last row bootstraps V(final obs) = VALUE (lambda 1: the target is the bootstrapped return)
        r = batch["rewards"][b - 1]
        assert batch["value_targets"][b - 1] == pytest.approx(r + GAMMA * RandomPolicy.VALUE, rel=1e-5)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_complete_episodes_with_a_recurrent_state(num_envs):
    """The recurrent state fed in counts the steps of each episode, across sample() calls; a
    truncated episode's bootstrap value is computed with the state at its end."""
    ev = evaluator("Pendulum-v1", num_envs=num_envs, horizon=8, batch_mode="complete_episodes", test_recurrent=True)
    for _ in range(3):
        batch = ev.sample()
        runs = assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()])
        for _, a, b in runs:
            np.testing.assert_array_equal(batch["state_in_0"][a:b], np.arange(b - a))
            # V after the last step is the count there (8); vf_preds[t] = t
            r = batch["rewards"][b - 1]
            assert batch["value_targets"][b - 1] == pytest.approx(r + GAMMA * 8, rel=1e-5)
        # the row-aligned seq_lens column: whole episodes of 8 steps cut at max_seq_len (20: one each)
        check_sequences(batch, max_seq_len=20)
        assert sequence_lengths(batch).tolist() == [b - a for _, a, b in runs]


def test_complete_episodes_with_the_catalog_lstm_cuts_sequences_within_episodes():
    """use_lstm + complete_episodes: sequences of at most max_seq_len rows inside each whole episode,
    every episode's first row fed the zero state, and replaying them gives the sampled outputs."""
    from rlcore.testing import NumpyLSTMPolicy

    model = {"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [4], "max_seq_len": 7}
    ev = RolloutEvaluator(
        lambda cfg: gym.make("CartPole-v1"),
        {"seed": 1, "num_envs": 3, "rollout_fragment_length": 10, "batch_mode": "complete_episodes", "model": model},
        0,
        policy=NumpyLSTMPolicy,
        postprocess=gae,
    )
    for _ in range(2):
        batch = ev.sample()
        runs = assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()])
        check_sequences(batch, max_seq_len=7)
        lengths = sequence_lengths(batch)
        assert lengths.sum() == batch.count
        expected = np.concatenate([chop_into_sequences(np.zeros(b - a), 7) for _, a, b in runs])
        np.testing.assert_array_equal(lengths, expected)
        for _, a, _b in runs:
            assert not batch["state_in_0"][a].any() and not batch["state_in_1"][a].any()
        np.testing.assert_allclose(replay_sequences(ev.policy, batch)["vf_preds"], batch["vf_preds"], atol=1e-6)


def test_an_episode_that_never_ends_is_an_error_naming_the_fix():
    """PendulumEnv without gymnasium's TimeLimit never ends an episode."""
    ev = evaluator(lambda cfg: PendulumEnv(), rollout_fragment_length=10, batch_mode="complete_episodes")
    with pytest.raises(IncompleteEpisodeError, match=r"episode has run 10010 steps without ending") as info:
        ev.sample()
    assert "set horizon" in str(info.value) and "truncate_episodes" in str(info.value)
    # with a horizon the same env gives whole (truncated) episodes
    ev = evaluator(lambda cfg: PendulumEnv(), horizon=7, batch_mode="complete_episodes")
    batch = ev.sample()
    assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()])


class FirstEpisodeEndless(gym.Env):
    """CartPole-like counter env: its first episode runs 10,500 steps, every later one 7."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.episodes, self.t = 0, 0

    def reset(self, *, seed=None, options=None):
        self.episodes += 1
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= (10_500 if self.episodes == 1 else 7)
        return np.zeros(1, np.float32), 1.0, done, False, {}


def test_after_the_never_ending_error_sampling_starts_a_fresh_episode():
    """The abandoned episode's env is reset: the next batch holds whole episodes, never its tail."""
    ev = evaluator(lambda cfg: FirstEpisodeEndless(), rollout_fragment_length=50, batch_mode="complete_episodes")
    with pytest.raises(IncompleteEpisodeError, match=r"episode has run 10050 steps without ending"):
        ev.sample()
    assert ev.get_metrics() == []  # the abandoned episode is not reported
    batch = ev.sample()
    lengths = [m.episode_length for m in ev.get_metrics()]
    assert set(lengths) == {7} and batch.count == sum(lengths)
    assert_whole_episodes(batch, lengths)


def test_the_bound_covers_the_envs_own_time_limit():
    ev = evaluator(lambda cfg: gym.make("Pendulum-v1", max_episode_steps=50_000), batch_mode="complete_episodes")
    assert ev._episode_bound == 50_000


def test_horizon_truncates_resets_and_bootstraps():
    runner = VectorSampler(lambda cfg: gym.make("CartPole-v1"), num_envs=2, seed=0, horizon=4)

    def policy_fn(obs):
        return np.zeros(len(obs), np.int64), {}

    frag = runner.sample(policy_fn, 10, keep_next_obs=True)
    truncs = frag.columns["truncateds"]
    assert truncs[[3, 7]].all() and truncs.sum() == 4 and not frag.columns["terminateds"].any()
    assert [m.episode_length for m in runner.get_metrics()] == [4] * 4
    eps = frag.columns["eps_id"]
    assert (eps[4] != eps[3]).all() and (eps[3] == eps[0]).all()
    # the final observations are bootstrapped (with the fragment's end): (3, e), (7, e), (9, e)
    assert sorted(map(tuple, frag.bootstrap_index.tolist())) == [(3, 0), (3, 1), (7, 0), (7, 1), (9, 0), (9, 1)]
    for k, (t, e) in enumerate(frag.bootstrap_index.tolist()):
        np.testing.assert_array_equal(frag.bootstrap_obs[k], frag.next_obs[t, e])
    # the env was reset: the next row is a fresh CartPole state (|x| small), not the final one
    assert not np.array_equal(frag.columns["obs"][4], frag.next_obs[3])


def test_horizon_in_the_evaluator_gives_metrics_of_that_length():
    ev = evaluator(horizon=3, rollout_fragment_length=9)
    ev.sample()
    assert [m.episode_length for m in ev.get_metrics()] == [3, 3, 3]


def test_clip_rewards_clips_the_training_rewards_not_the_metrics():
    kwargs = {"horizon": 10, "rollout_fragment_length": 20, "num_envs": 2}
    raw_ev = evaluator("Pendulum-v1", **kwargs)
    clip_ev = evaluator("Pendulum-v1", clip_rewards=True, **kwargs)
    raw, clipped = raw_ev.sample(), clip_ev.sample()
    np.testing.assert_array_equal(raw["obs"], clipped["obs"])  # same seed, same steps
    assert raw["rewards"].min() < -1  # Pendulum's rewards go down to about -16
    np.testing.assert_array_equal(clipped["rewards"], np.sign(raw["rewards"]))
    raw_returns = [m.episode_reward for m in raw_ev.get_metrics()]
    assert [m.episode_reward for m in clip_ev.get_metrics()] == raw_returns
    sums = [float(raw["rewards"][i : i + 10].sum()) for i in range(0, 40, 10)]
    np.testing.assert_allclose(sorted(raw_returns), sorted(sums), rtol=1e-5)


def test_clip_rewards_defaults_to_off():
    assert COMMON_SCHEMA.fields["clip_rewards"].default is None
    ev = evaluator("Pendulum-v1", horizon=10)
    assert ev.sample()["rewards"].min() < -1


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("batch_mode", "complete", "'batch_mode'.*allowed.*truncate_episodes"),
        ("batch_mode", None, "'batch_mode'"),
        ("horizon", 0, "'horizon'"),
        ("horizon", 2.5, "'horizon'"),
        ("horizon", True, "'horizon'"),
        ("clip_rewards", "yes", "'clip_rewards'"),
        ("clip_rewards", 1, "'clip_rewards'"),
    ],
)
def test_bad_sampling_keys_are_refused_by_the_schema_and_the_evaluator(key, value, why):
    with pytest.raises(ConfigError, match=why):
        COMMON_SCHEMA.validate({key: value}, owner="PPO")
    with pytest.raises(ConfigError, match=why):
        evaluator(**{key: value})


def test_good_sampling_keys_pass_the_schema():
    COMMON_SCHEMA.validate({"batch_mode": "complete_episodes", "horizon": 200, "clip_rewards": True})
    COMMON_SCHEMA.validate({"batch_mode": "truncate_episodes", "horizon": None, "clip_rewards": None})


def _fragment(t_len: int, n: int, dones: dict[tuple[int, int], bool]) -> Fragment:
    """A fragment with the bootstrap entries a sampler makes: truncated ends and the fragment's end."""
    terms = np.zeros((t_len, n), bool)
    truncs = np.zeros((t_len, n), bool)
    for (t, e), truncated in dones.items():
        (truncs if truncated else terms)[t, e] = True
    index = [(t, e) for (t, e), truncated in dones.items() if truncated]
    index += [(t_len - 1, e) for e in range(n) if not (terms[-1, e] or truncs[-1, e])]
    obs = np.arange(t_len * n, dtype=np.float32).reshape(t_len, n, 1)
    boot = np.array([[100.0 + 10 * t + e] for t, e in index], np.float32).reshape(-1, 1)
    cols = {
        "obs": obs,
        "rewards": np.ones((t_len, n), np.float32),
        "terminateds": terms,
        "truncateds": truncs,
        "eps_id": np.zeros((t_len, n), np.int64),
    }
    return Fragment(cols, boot, np.array(index, np.int64).reshape(-1, 2), obs + 0.5, {"vf_preds": obs[..., 0]})


def test_take_and_concat_keep_the_bootstrap_entries_that_still_apply():
    frag = _fragment(6, 2, {(2, 0): True, (4, 1): False})
    head, tail = frag.take(0, 0, 3), frag.take(0, 3)
    assert head.shape == (3, 1) and tail.shape == (3, 1)
    assert head.bootstrap_index.tolist() == [[2, 0]] and head.bootstrap_obs[:, 0].tolist() == [120.0]
    assert tail.bootstrap_index.tolist() == [[2, 0]] and tail.bootstrap_obs[:, 0].tolist() == [150.0]
    # env 1's first 3 steps end nothing: their fragment-end entry is dropped when they are continued
    env1 = concat_fragments([frag.take(1, 0, 3), frag.take(1, 3, 5)])
    assert env1.shape == (5, 1) and len(env1.bootstrap_index) == 0
    np.testing.assert_array_equal(env1.columns["obs"][:, 0, 0], frag.columns["obs"][:5, 1, 0])
    np.testing.assert_array_equal(env1.next_obs, frag.next_obs[:5, 1:2])
    joined = concat_fragments([head, frag.take(1, 0, 5)])
    assert joined.bootstrap_index.tolist() == [[2, 0]]
    with pytest.raises(ValueError, match="non-empty range"):
        frag.take(0, 3, 3)
    with pytest.raises(ValueError, match="different numbers of envs"):
        concat_fragments([frag, head])


def test_complete_episodes_with_frame_stacks_and_a_mean_std_filter():
    """Per-env preprocessor state (frame stacks) and filter statistics carry on as in truncate mode:
    each episode's first row stacks its own first frame only (it fills the stack)."""
    ev = evaluator(
        num_envs=3,
        batch_mode="complete_episodes",
        model={"framestack": 3},
        observation_filter="NoFilter",
    )
    for _ in range(3):
        batch = ev.sample()
        for _, a, _b in assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()]):
            first = batch["obs"][a].reshape(3, 4)  # 3 frames of CartPole's 4 numbers, oldest first
            assert (first == first[2]).all()
            second = batch["obs"][a + 1].reshape(3, 4)
            assert (second[:2] == first[2]).all() and not (second[2] == first[2]).all()
    ev = evaluator(num_envs=2, batch_mode="complete_episodes", observation_filter="MeanStdFilter")
    batch = ev.sample()
    assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()])
