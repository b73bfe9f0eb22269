"""The rollout evaluator: env runner + a policy + an algorithm's postprocessing, and the errors at
its two boundaries (a policy's outputs, a postprocessing function's rows)."""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlcore.errors import UnsupportedOperationError
from rlcore.policy import Policy
from rlcore.rollout_evaluator import PolicyOutputError, PostprocessingError, RolloutEvaluator, postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import flatten_env_major, postprocess_gae
from rlcore.testing import CHECKS, check_evaluator
from rlcore.testing.envs import make_corridor


class TablePolicy(Policy):
    """Logits and values as free numpy parameters (one row for every observation)."""

    capabilities = frozenset({"discrete", "gradients"})
    loss_columns = ("obs", "actions", "advantages")

    def __init__(self, observation_space, action_space, config, *, seed=None):
        if not hasattr(action_space, "n"):
            raise UnsupportedOperationError(f"TablePolicy needs Discrete actions, got {action_space}")
        self.observation_space, self.action_space, self.config = observation_space, action_space, config
        self.rng = np.random.default_rng(seed)
        self.w = {"logits": np.zeros(action_space.n, np.float32), "value": np.zeros(1, np.float32)}

    def compute_actions(self, obs, state=None, explore=True):
        n = len(obs)
        z = np.broadcast_to(self.w["logits"], (n, len(self.w["logits"])))
        actions = (z + self.rng.gumbel(size=z.shape)).argmax(1) if explore else z.argmax(1)
        return actions.astype(np.int64), [], {"vf_preds": np.full(n, self.w["value"][0], np.float32)}

    def compute_values(self, obs, state=None):
        return np.full(len(obs), self.w["value"][0], np.float32)

    def compute_gradients(self, batch):
        """REINFORCE on the logits: loss = -mean(A * log softmax(logits)[a])."""
        adv = np.asarray(batch["advantages"], np.float64)
        z = self.w["logits"] - self.w["logits"].max()
        logp = z - np.log(np.exp(z).sum())
        onehot = np.eye(len(z))[batch["actions"]]
        g = -(adv[:, None] * (onehot - np.exp(logp))).mean(0)
        loss = float(-np.mean(adv * logp[batch["actions"]]))
        return {"logits": g.astype(np.float32), "value": np.zeros(1, np.float32)}, {"loss": loss}

    def apply_gradients(self, grads):
        self.w = {k: (v - 0.1 * grads[k]).astype(np.float32) for k, v in self.w.items()}

    def get_weights(self):
        return {k: v.copy() for k, v in self.w.items()}

    def set_weights(self, weights):
        self.w = {k: np.array(weights[k], np.float32) for k in self.w}


@postprocessing()
def gae(fragment, policy, config):
    return postprocess_gae(fragment, policy.compute_values, gamma=0.9, lambda_=0.95)


def make(policy=TablePolicy, postprocess=gae, seed=0, env_creator=None, **config):
    config = {"seed": seed, "num_envs": 2, "rollout_fragment_length": 8, **config}
    return RolloutEvaluator(env_creator or make_corridor, config, 0, policy=policy, postprocess=postprocess)


def test_samples_with_the_policy_and_postprocesses():
    ev = make()
    batch = ev.sample()
    assert batch.count == 16 and {"advantages", "value_targets", "vf_preds"} <= set(batch)
    assert ev.capabilities == {"discrete", "gradients", "remote"}
    assert ev.policy.observation_space.shape == ev.obs_shape


def test_passes_the_evaluator_conformance_kit():
    checks = [c for c in CHECKS if c != "ray_actor"]  # Ray: the registered policies' conformance tests
    passed = check_evaluator(lambda seed, env_creator=None: make(seed=seed, env_creator=env_creator), checks=checks)
    assert {"sample_schema", "pickle", "compute_apply_equals_learn", "metrics"} <= set(passed)


def test_targets_travel_by_name_and_pickle():
    ev = make(policy=f"{__name__}:TablePolicy", postprocess=f"{__name__}:gae")
    assert ev.policy_cls is TablePolicy and ev.postprocess is gae
    ev.set_weights({"logits": np.array([0.0, 3.0], np.float32), "value": np.ones(1, np.float32)})
    clone = pickle.loads(pickle.dumps(ev))
    np.testing.assert_array_equal(clone.get_weights()["logits"], [0.0, 3.0])
    assert clone.sample().count == 16


class ListPolicy(TablePolicy):
    def compute_actions(self, obs, state=None, explore=True):
        return [0] * len(obs), [], {}


class ShortPolicy(TablePolicy):
    def compute_actions(self, obs, state=None, explore=True):
        return np.zeros(len(obs) - 1, np.int64), [], {}


class BadExtraPolicy(TablePolicy):
    def compute_actions(self, obs, state=None, explore=True):
        actions, state, _ = super().compute_actions(obs, state, explore)
        return actions, state, {"vf_preds": 0.0}


class FloatActionsPolicy(TablePolicy):
    def compute_actions(self, obs, state=None, explore=True):
        actions, state, extras = super().compute_actions(obs, state, explore)
        return actions.astype(np.float32), state, extras


class ColumnActionsPolicy(TablePolicy):
    def compute_actions(self, obs, state=None, explore=True):
        actions, state, extras = super().compute_actions(obs, state, explore)
        return actions[:, None], state, extras


class ColumnValuesPolicy(TablePolicy):
    def compute_actions(self, obs, state=None, explore=True):
        actions, state, extras = super().compute_actions(obs, state, explore)
        return actions, state, {"vf_preds": extras["vf_preds"][:, None]}


class TwoValuesPolicy(TablePolicy):
    def compute_actions(self, obs, state=None, explore=True):
        actions, _, extras = super().compute_actions(obs, state, explore)
        return actions, extras


@pytest.mark.parametrize(
    ("policy", "what"),
    [
        (ListPolicy, "actions as list"),
        (ShortPolicy, r"actions as ndarray of shape \(1,\)"),
        (BadExtraPolicy, "extra 'vf_preds' as float"),
        (FloatActionsPolicy, r"actions as ndarray of shape \(2,\) \(float32\).*integers"),
        (ColumnActionsPolicy, r"actions as ndarray of shape \(2, 1\).*\[2, \*\(\)\]"),
        (ColumnValuesPolicy, r"extra 'vf_preds' as ndarray of shape \(2, 1\)"),
        (TwoValuesPolicy, "not \\(actions, state_out, extras\\) but as tuple"),
    ],
)
def test_a_policy_returning_non_numpy_or_misshaped_outputs_is_named(policy, what):
    with pytest.raises(PolicyOutputError, match=rf"policy .*{policy.__name__}.compute_actions returned {what}"):
        make(policy=policy).sample()


@postprocessing()
def drops_rows(fragment, policy, config):
    batch = gae(fragment, policy, config)
    return batch.slice(0, batch.count - 3)


@postprocessing()
def returns_a_dict(fragment, policy, config):
    return {k: flatten_env_major(v) for k, v in fragment.columns.items()}


@pytest.mark.parametrize(("fn", "got"), [(drops_rows, "13 rows"), (returns_a_dict, "dict")])
def test_a_postprocessing_function_that_drops_rows_is_named(fn, got):
    with pytest.raises(PostprocessingError, match=rf"{fn.__name__} returned {got} for a fragment of 8 steps x 2 envs"):
        make(postprocess=fn).sample()


def test_an_unsupported_action_space_is_the_policys_error():
    from rlcore.testing.envs import make_continuous_corridor

    with pytest.raises(UnsupportedOperationError, match="TablePolicy needs Discrete actions"):
        make(env_creator=make_continuous_corridor)


def test_state_holds_the_filter_and_the_policys_state():
    ev = make(observation_filter="MeanStdFilter")
    ev.sample()
    state = ev.get_state()
    assert set(state) == {"weights", "filter"}
    other = make(seed=1, observation_filter="MeanStdFilter")
    other.set_state(state)
    for key, value in ev.get_filters()["state"].items():
        np.testing.assert_array_equal(other.get_filters()["state"][key], value)
    assert isinstance(ev.sample(), SampleBatch)


# --------------------------------------------------------------------------- per-episode acting state
class Counter(gym.Env):
    """Observation ``100 * episode + t`` (t = 0 at reset); episodes of ``length`` steps, truncated."""

    observation_space = gym.spaces.Box(0, 1e6, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length=4):
        self.length, self.episode, self.t = length, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return np.array([100.0 * self.episode], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([100.0 * self.episode + self.t], np.float32)
        return obs, 0.0, False, self.t >= self.length, {}


class Recorder(TablePolicy):
    """Remembers every batch of observations it acted on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def compute_actions(self, obs, state=None, explore=True):
        self.seen.append(np.array(obs))
        return super().compute_actions(obs, state, explore)


def stacked(seed=0, **config):
    return make(
        policy=Recorder, seed=seed, env_creator=lambda cfg: Counter(), model={"framestack": 3, "fcnet_hiddens": [4]}
    )


def test_acting_state_carries_one_episode_and_restarts_with_a_fresh_one():
    ev = stacked()
    state = ev.new_acting_state(1)
    env = Counter()
    obs, _ = env.reset()
    for _ in range(3):
        ev.compute_actions(obs[None], state=state)
        obs, *_ = env.step(0)
    assert [s.ravel().tolist() for s in ev.policy.seen[-3:]] == [[100] * 3, [100, 100, 101], [100, 101, 102]]
    obs, _ = env.reset()
    ev.compute_actions(obs[None], state=ev.new_acting_state(1))  # a new episode: a fresh state
    assert ev.policy.seen[-1].ravel().tolist() == [200, 200, 200]
    ev.compute_actions(obs[None])  # no state: every call is an episode of its own
    assert ev.policy.seen[-1].ravel().tolist() == [200, 200, 200]


def test_an_acting_call_between_two_fragments_leaves_sampling_as_it_was():
    a, b = stacked(), stacked()
    a.sample(), b.sample()
    b.compute_actions(np.array([[555.0]], np.float32))
    b.compute_actions(np.array([[556.0]], np.float32), state=b.new_acting_state(1))
    fa, fb = a.sample(), b.sample()
    np.testing.assert_array_equal(fa["obs"], fb["obs"])
    for stack in fa["obs"]:  # every stack holds frames of one episode
        assert len({int(v) // 100 for v in stack}) == 1


def test_trainer_compute_action_and_rollout_reset_per_episode(tmp_path):
    from rlcore.rollout import _episodes

    class T:
        def __init__(self, ev):
            self.ev = ev

        def new_acting_state(self):
            return self.ev.new_acting_state(1)

        def compute_action(self, obs, explore=False, state=None):
            return self.ev.compute_actions(np.asarray(obs)[None], explore=explore, state=state)[0]

    ev = stacked()
    episodes = list(_episodes(Counter(), T(ev), 2, False, 0, 100))
    assert [e.episode_length for e in episodes] == [4, 4]
    firsts = [s.ravel().tolist() for s in ev.policy.seen if s.ravel()[0] == s.ravel()[-1]]
    assert firsts == [[100] * 3, [200] * 3]  # each episode's first stack holds its own reset frame only


def test_recurrent_bootstrap_values_see_the_state_at_the_bootstrap_observation():
    """GAE's bootstrap V(s) of a recurrent policy is computed with its state there, not the initial one."""
    from rlcore.sampling import VectorSampler

    runner = VectorSampler(lambda cfg: Counter(length=3), num_envs=1, seed=0)

    def policy_fn(obs, state):
        (count,) = state
        return np.zeros(len(obs), np.int64), [count + 1], {"vf_preds": np.zeros(len(obs), np.float32)}

    fragment = runner.sample(policy_fn, 5, initial_state=[np.zeros((), np.float32)])
    seen = []

    def value_fn(obs, state=None):
        seen.append(None if state is None else state[0].tolist())
        return np.zeros(len(obs), np.float32)

    postprocess_gae(fragment, value_fn, gamma=0.9, lambda_=1.0)
    # the truncated end of episode 1 (after 3 steps) and the fragment's end (2 steps into episode 2)
    assert seen == [[3.0, 2.0]]


LSTM_MODEL = {"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [4], "max_seq_len": 3}


def test_a_recurrent_policys_batch_has_row_aligned_sequences_and_state_in():
    from rlcore import sequences as sq
    from rlcore.testing.policies import NumpyLSTMPolicy

    ev = make(NumpyLSTMPolicy, model=LSTM_MODEL, rollout_fragment_length=10)
    batch = ev.sample()
    assert batch.count == 20
    lengths = sq.sequence_lengths(batch)
    sq.check_sequences(batch, max_seq_len=3)  # within one eps_id, at most max_seq_len
    assert lengths.sum() == 20 and lengths.max() == 3
    starts = sq.sequence_starts(lengths)
    # every episode's first row starts a sequence and is fed the initial (zero) state
    ids = batch["eps_id"]
    first_rows = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    assert set(first_rows) <= set(starts)
    new_episode = np.flatnonzero(np.r_[False, batch["terminateds"][:-1] | batch["truncateds"][:-1]])
    for row in new_episode:
        assert not batch["state_in_0"][row].any() and not batch["state_in_1"][row].any()
    # inside a sequence, state_in is the state_out of the previous step
    replay = sq.replay_sequences(ev.policy, batch)
    np.testing.assert_allclose(replay["vf_preds"], batch["vf_preds"], atol=1e-6)
    ev.learn_on_batch(batch)


def test_use_lstm_with_a_policy_without_recurrent_is_refused_naming_it():
    with pytest.raises(UnsupportedOperationError) as err:
        make(TablePolicy, model={"use_lstm": True})
    msg = str(err.value)
    assert "TablePolicy does not support recurrent models (model config use_lstm=True)" in msg
    assert "['discrete', 'gradients']" in msg and "rlcore list-plugins" in msg and "model.use_lstm to false" in msg


def test_acting_with_a_recurrent_state_that_does_not_fit_is_named():
    from rlcore.model_policy import RecurrentStateError
    from rlcore.testing.policies import NumpyLSTMPolicy

    ev = make(NumpyLSTMPolicy, model=LSTM_MODEL)
    obs = np.stack([ev.observation_space.sample() for _ in range(2)])
    state = ev.new_acting_state(2)
    first = ev.compute_actions(obs, state=state)
    assert state.recurrent[0].shape == (2, 4) and state.recurrent[0].any()
    ev.compute_actions(obs, state=state)
    np.testing.assert_array_equal(ev.compute_actions(obs, state=ev.new_acting_state(2)), first)
    state.recurrent = state.recurrent[:1]
    with pytest.raises(RecurrentStateError, match=r"the acting state: the recurrent state has shapes \[\(2, 4\)\]"):
        ev.compute_actions(obs, state=state)
    stateless = make()  # a policy without recurrent state given one
    bad = stateless.new_acting_state(2)
    bad.recurrent = [np.zeros((2, 4), np.float32)]
    with pytest.raises(RecurrentStateError, match=r"expected \[\]"):
        stateless.compute_actions(obs, state=bad)
    for given in ([np.zeros((2, 4), np.float32)] * 2, ()):  # RLlib 2018's [h, c], an empty tuple
        with pytest.raises(RecurrentStateError, match=r"must be the ActingState that new_acting_state\(\) returns"):
            ev.compute_actions(obs, state=given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state_out", "why"),
    [
        (lambda s: s[:1], r"returned state_out as arrays of shapes \[\(\d+, 4\)\] for a batch of \d+ observations"),
        (lambda s: None, r"returned state_out as NoneType .*one numpy array per initial_state\(\) tensor"),
        (lambda s: [x.reshape(-1) for x in s], r"returned state_out as arrays of shapes \[\(\d+,\), \(\d+,\)\]"),
        (
            lambda s: [np.full_like(x, np.nan) for x in s],
            r"returned a recurrent state_out whose tensors \[0, 1\] are not finite",
        ),
    ],
)
def test_a_recurrent_state_out_that_does_not_fit_is_refused_naming_the_policy(state_out: Any, why: str):
    from rlcore.testing.policies import NumpyLSTMPolicy

    class BadStateOut(NumpyLSTMPolicy):
        def compute_actions(self, obs: Any, state: Any = None, explore: bool = False) -> Any:
            actions, out, extras = super().compute_actions(obs, state, explore)
            return actions, state_out(out), extras

    ev = make(BadStateOut, model=LSTM_MODEL)
    with pytest.raises(PolicyOutputError, match=rf"policy .*BadStateOut\.compute_actions {why}"):
        ev.sample()
    obs = np.stack([ev.observation_space.sample() for _ in range(2)])
    with pytest.raises(PolicyOutputError, match=rf"policy .*BadStateOut\.compute_actions {why}"):
        ev.compute_actions(obs, state=ev.new_acting_state(2))  # acting with a state: the same check


@postprocessing()
def gae_without_eps_id(fragment, policy, config):
    batch = gae(fragment, policy, config)
    del batch["eps_id"]
    return batch


def test_seq_lens_come_from_the_fragment_when_postprocessing_drops_eps_id():
    from rlcore import sequences as sq
    from rlcore.testing.policies import NumpyLSTMPolicy

    with_ids = make(NumpyLSTMPolicy, model=LSTM_MODEL, rollout_fragment_length=10).sample()
    without = make(NumpyLSTMPolicy, postprocess=gae_without_eps_id, model=LSTM_MODEL, rollout_fragment_length=10)
    batch = without.sample()
    assert "eps_id" not in batch
    np.testing.assert_array_equal(batch["seq_lens"], with_ids["seq_lens"])
    # batches of two sample() calls concatenate into a batch whose sequences are still consistent
    both = SampleBatch.concat_samples([with_ids, with_ids])
    sq.check_sequences(both, max_seq_len=3)
    assert sq.sequence_lengths(both).sum() == 40
