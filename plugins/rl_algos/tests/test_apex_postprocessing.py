"""APEX's postprocessing: DQN's n-step transitions plus, with ``worker_side_prioritization``, each
row's initial priority ``|td_error| + prioritized_replay_eps`` from the worker's policy; a policy
without ``td_error``, or one whose ``td_error`` is not one finite number per row, is refused naming it."""

from __future__ import annotations

import numpy as np
import pytest

from rl_algos.apex import PRIORITIES, postprocess_apex
from rl_algos.dqn.postprocessing import postprocess_dqn
from rlcore.errors import UnsupportedOperationError
from rlcore.rollout_evaluator import PolicyOutputError
from rlcore.sampling import VectorSampler
from rlcore.testing.envs import make_corridor


class TDPolicy:
    """A policy whose TD error is a known function of the batch: ``cell - 2 * rewards`` (signs vary)."""

    def __init__(self):
        self.calls = 0

    def td_error(self, batch):
        self.calls += 1
        return (batch["obs"].argmax(axis=1) - 2.0 * batch["rewards"]).astype(np.float32)


class NoTD:
    pass


class BadTD:
    def __init__(self, out):
        self.out = out

    def td_error(self, batch):
        return self.out(batch)


CONFIG = {"gamma": 0.5, "n_step": 2, "worker_side_prioritization": True, "prioritized_replay_eps": 1e-6}


def fragment(num_envs=2, steps=6):
    """Two corridors walked to the right: 4 steps to the goal (terminated), then a new episode."""
    runner = VectorSampler(make_corridor, num_envs=num_envs, seed=0)
    return runner.sample(lambda obs: (np.ones(len(obs), np.int64), {}), steps, keep_next_obs=True)


def test_priorities_are_the_absolute_td_errors_plus_eps():
    frag, policy = fragment(), TDPolicy()
    batch = postprocess_apex(frag, policy, CONFIG)
    expected = np.abs(batch["obs"].argmax(axis=1) - 2.0 * batch["rewards"]) + 1e-6
    assert batch["terminateds"].any()  # an episode ended within the fragment
    assert batch[PRIORITIES].dtype == np.float32 and batch[PRIORITIES].shape == (12,)
    np.testing.assert_allclose(batch[PRIORITIES], expected, rtol=1e-6)
    assert (batch[PRIORITIES] > 0).all() and policy.calls == 1
    # every other column is DQN's n-step transition, unchanged
    dqn = postprocess_dqn(frag, None, CONFIG)
    assert set(batch.keys()) == set(dqn.keys()) | {PRIORITIES}
    for key in dqn:
        np.testing.assert_array_equal(batch[key], dqn[key], err_msg=key)


def test_eps_keeps_a_zero_td_error_replayable():
    class Zero:
        def td_error(self, batch):
            return np.zeros(batch.count, np.float32)

    batch = postprocess_apex(fragment(), Zero(), {**CONFIG, "prioritized_replay_eps": 0.01})
    np.testing.assert_allclose(batch[PRIORITIES], 0.01)


def test_without_worker_side_prioritization_there_is_no_column_and_no_td_error_call():
    policy = TDPolicy()
    batch = postprocess_apex(fragment(), policy, {**CONFIG, "worker_side_prioritization": False})
    assert PRIORITIES not in batch and policy.calls == 0
    # and a policy without td_error is fine then
    postprocess_apex(fragment(), NoTD(), {**CONFIG, "worker_side_prioritization": False})


def test_the_postprocessing_keeps_next_obs():
    assert postprocess_apex.needs_next_obs is True


def test_a_policy_without_td_error_is_refused_naming_it_and_the_key():
    with pytest.raises(UnsupportedOperationError) as info:
        postprocess_apex(fragment(), NoTD(), CONFIG)
    msg = str(info.value)
    assert "NoTD has no td_error method" in msg and "worker_side_prioritization: false" in msg, msg


@pytest.mark.parametrize(
    ("out", "match"),
    [
        (lambda b: np.zeros(b.count - 1, np.float32), r"shape \[11\] .* for a batch of 12 rows"),
        (lambda b: np.zeros((b.count, 1), np.float32), r"shape \[12, 1\] .* for a batch of 12 rows"),
        (lambda b: np.array(["x"] * b.count), r"dtype <U1 for a batch of 12 rows"),
        (lambda b: np.full(b.count, np.nan, np.float32), r"returned 12 non-finite TD errors \(first at row 0: "),
        (
            lambda b: np.where(np.arange(b.count) == 5, np.inf, 0.0),
            r"returned 1 non-finite TD errors \(first at row 5: inf\)",
        ),
    ],
)
def test_a_td_error_that_is_not_one_finite_number_per_row_is_refused(out, match):
    with pytest.raises(PolicyOutputError, match=rf"policy .*BadTD\.td_error .*{match}"):
        postprocess_apex(fragment(), BadTD(out), CONFIG)
