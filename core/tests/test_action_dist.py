"""Numpy acting distributions: sampling frequencies and log-probabilities."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rlcore.action_dist import gaussian_logp, sample_actions
from rlcore.models.catalog import ActionDistSpec


def log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_categorical_frequencies_and_logp():
    spec = ActionDistSpec("categorical", 3)
    logits = np.tile(np.array([[0.0, 1.0, -1.0]]), (20000, 1))
    actions, logp = sample_actions(spec, logits, np.random.default_rng(0))
    freq = np.bincount(actions, minlength=3) / len(actions)
    np.testing.assert_allclose(freq, np.exp(log_softmax(logits[0])), atol=0.01)
    np.testing.assert_allclose(logp, log_softmax(logits)[np.arange(len(actions)), actions], rtol=1e-5)
    greedy, _ = sample_actions(spec, logits[:2], np.random.default_rng(0), explore=False)
    assert greedy.tolist() == [1, 1] and greedy.dtype == np.int64


def test_multi_categorical_and_gaussian():
    spec = ActionDistSpec("multi_categorical", 5, (2,), params={"input_lens": [2, 3]})
    x = np.zeros((4, 5))
    actions, logp = sample_actions(spec, x, np.random.default_rng(1))
    assert actions.shape == (4, 2) and np.allclose(logp, np.log(1 / 2) + np.log(1 / 3))
    g = ActionDistSpec("diag_gaussian", 4, (2,))
    inputs = np.array([[0.0, 1.0, 0.0, np.log(2.0)]] * 5000)
    a, lp = sample_actions(g, inputs, np.random.default_rng(2))
    assert abs(a[:, 0].mean()) < 0.05 and abs(a[:, 1].std() - 2.0) < 0.1
    np.testing.assert_allclose(lp, gaussian_logp(a, inputs[:, :2], inputs[:, 2:]), rtol=1e-4)
    mean, _ = sample_actions(g, inputs[:1], np.random.default_rng(2), explore=False)
    assert mean.tolist() == [[0.0, 1.0]]
    with pytest.raises(Exception, match="unknown action distribution"):
        sample_actions(SimpleNamespace(kind="beta"), x, np.random.default_rng(0))
