"""A3C's numpy reference loss against hand-computed terms (categorical and Gaussian actions), and its
recurrent path: a batch with seq_lens is replayed sequence by sequence from the recorded states.
The policies here are numpy stubs of the Policy contract's acting part (no framework)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rl_algos.a3c import DEFAULT_CONFIG
from rl_algos.a3c.reference_loss import INFO_KEYS, LOSS_COLUMNS, a3c_loss
from rlcore.sample_batch import SampleBatch

CONFIG = {**DEFAULT_CONFIG, "vf_loss_coeff": 0.5, "entropy_coeff": 0.1}


class TablePolicy:
    """Acts from a fixed table: row i of obs [[i]] gets ``logits[i]`` and value ``values[i]``."""

    def __init__(self, action_space, logits, values):
        self.action_space, self.config = action_space, CONFIG
        self.logits, self.values = np.asarray(logits, np.float32), np.asarray(values, np.float32)

    def compute_actions(self, obs, state=None, explore=False):
        rows = np.asarray(obs)[:, 0].astype(int)
        return None, [], {"action_dist_inputs": self.logits[rows], "vf_preds": self.values[rows]}


def _batch(actions, adv, targets, **more):
    n = len(adv)
    cols = {"obs": np.arange(n, dtype=np.float32)[:, None], "actions": np.asarray(actions)}
    cols |= {"advantages": np.asarray(adv, np.float32), "value_targets": np.asarray(targets, np.float32)}
    return SampleBatch({**cols, **more})


def test_declares_the_a3c_policies_columns_and_info_keys():
    assert LOSS_COLUMNS == ("obs", "actions", "advantages", "value_targets")
    assert INFO_KEYS == ("policy_loss", "vf_loss", "entropy", "loss", "grad_norm")


def test_categorical_terms_by_hand():
    logits = [[0.0, 0.0], [np.log(3.0), 0.0]]  # p = (1/2, 1/2) and (3/4, 1/4)
    policy = TablePolicy(gym.spaces.Discrete(2), logits, [1.0, -1.0])
    out = a3c_loss(policy, _batch([0, 1], adv=[2.0, -0.5], targets=[0.0, 1.0]))
    logp = np.array([np.log(0.5), np.log(0.25)])
    entropy = np.array([np.log(2.0), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))])
    assert out["policy_loss"] == pytest.approx(-np.mean(logp * [2.0, -0.5]), rel=1e-6)
    assert out["vf_loss"] == pytest.approx(np.mean([1.0, 4.0]))  # (V - V_target)^2, a mean (2018: 0.5 x sum)
    assert out["entropy"] == pytest.approx(entropy.mean(), rel=1e-6)
    assert out["loss"] == pytest.approx(out["policy_loss"] + 0.5 * out["vf_loss"] - 0.1 * out["entropy"])


def test_gaussian_terms_by_hand():
    space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    policy = TablePolicy(space, [[0.5, np.log(2.0)]], [0.0])  # mean 0.5, std 2
    out = a3c_loss(policy, _batch(np.array([[1.5]], np.float32), adv=[3.0], targets=[0.0]))
    logp = -0.5 * (1.0 / 2.0) ** 2 - np.log(2.0) - 0.5 * np.log(2 * np.pi)
    assert out["policy_loss"] == pytest.approx(-3.0 * logp, rel=1e-6)
    assert out["entropy"] == pytest.approx(np.log(2.0) + 0.5 * np.log(2 * np.pi * np.e), rel=1e-6)


class CountingPolicy:
    """A recurrent stub: state [s]; logits [s, 0], value s, then s += obs (a running sum)."""

    action_space, config = gym.spaces.Discrete(2), CONFIG

    def compute_actions(self, obs, state=None, explore=False):
        s = state[0] if state else np.zeros((len(obs), 1), np.float32)
        logits = np.concatenate([s, np.zeros_like(s)], axis=1)
        return None, [s + np.asarray(obs, np.float32)], {"action_dist_inputs": logits, "vf_preds": s[:, 0].copy()}


def test_a_recurrent_batch_is_replayed_from_each_sequences_recorded_state():
    obs = np.array([[1.0], [2.0], [3.0], [1.0], [1.0]], np.float32)
    # two sequences: rows 0-2 start from state 10, rows 3-4 from state 0
    state_in = np.array([[10.0], [11.0], [13.0], [0.0], [1.0]], np.float32)
    batch = SampleBatch(
        {
            "obs": obs,
            "actions": np.zeros(5, np.int64),
            "advantages": np.ones(5, np.float32),
            "value_targets": np.zeros(5, np.float32),
            "seq_lens": np.array([3, 0, 0, 2, 0], np.int32),
            "state_in_0": state_in,
        }
    )
    out = a3c_loss(CountingPolicy(), batch)
    values = np.array([10.0, 11.0, 13.0, 0.0, 1.0])  # the state before each step: the recorded ones
    assert out["vf_loss"] == pytest.approx(np.mean(values**2))
    logp0 = values - np.logaddexp(values, 0.0)
    assert out["policy_loss"] == pytest.approx(-np.mean(logp0), rel=1e-6)
    # the later rows' state_in are not read: the replay carries the state forward from each start
    batch["state_in_0"] = np.array([[10.0], [-5.0], [-5.0], [0.0], [-5.0]], np.float32)
    assert a3c_loss(CountingPolicy(), batch) == pytest.approx(out)


def test_an_unsupported_distribution_is_refused(monkeypatch):
    from rlcore.models import ModelCatalog

    policy = TablePolicy(gym.spaces.Box(-1.0, 1.0, (1,), np.float32), [[0.0]], [0.0])
    original = ModelCatalog.get_action_dist
    # a deterministic (DDPG-style) action distribution, which the catalog gives when asked for it
    monkeypatch.setattr(
        ModelCatalog,
        "get_action_dist",
        staticmethod(lambda space, cfg=None, d=None: original(space, cfg, "deterministic")),
    )
    with pytest.raises(ValueError, match=r"the reference A3C loss covers .* not 'deterministic'"):
        a3c_loss(policy, _batch(np.array([[0.0]], np.float32), adv=[1.0], targets=[0.0]))
