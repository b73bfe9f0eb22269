"""SampleBatch: columns of equal length, concat, slice, shuffle, minibatches."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from rlcore.errors import SampleBatchError
from rlcore.sample_batch import ACTIONS, EPS_ID, OBS, REWARDS, STANDARD_COLUMNS, SampleBatch


def make(n: int = 10, start: int = 0) -> SampleBatch:
    return SampleBatch(
        obs=np.arange(start, start + n, dtype=np.float32).reshape(n, 1).repeat(3, 1),
        actions=np.arange(start, start + n),
        rewards=np.ones(n, np.float32),
        eps_id=np.repeat(np.arange(start, start + n // 2), 2),
    )


def test_columns_and_count():
    b = make()
    assert b.count == 10 and len(b) == 4 and set(b) == {OBS, ACTIONS, REWARDS, EPS_ID}
    assert b[OBS].shape == (10, 3) and b[OBS].dtype == np.float32
    assert "SampleBatch(count=10" in repr(b)
    assert SampleBatch().count == 0


def test_unequal_lengths_are_rejected_with_clear_error():
    with pytest.raises(SampleBatchError, match=r"column 'rewards' has 3 rows but the batch has 4"):
        SampleBatch(obs=np.zeros((4, 2)), rewards=np.zeros(3))
    b = make(4)
    with pytest.raises(SampleBatchError, match="same first dimension"):
        b["vf_preds"] = np.zeros(5)
    with pytest.raises(SampleBatchError, match="scalar"):
        b["x"] = 1.0


def test_replacing_the_only_column_may_change_length():
    b = SampleBatch(obs=np.zeros(3))
    b["obs"] = np.zeros(5)
    assert b.count == 5


def test_missing_column_error_lists_columns():
    with pytest.raises(KeyError, match=r"no column 'advantages'.*'obs'"):
        make()["advantages"]


def test_concat_and_slice():
    a, b = make(4), make(6, start=100)
    c = a.concat(b)
    assert c.count == 10
    np.testing.assert_array_equal(c[ACTIONS], np.r_[np.arange(4), np.arange(100, 106)])
    s = c.slice(2, 5)
    assert s.count == 3 and s[ACTIONS].tolist() == [2, 3, 100]
    assert SampleBatch.concat_samples([]).count == 0
    with pytest.raises(SampleBatchError, match="different columns"):
        SampleBatch.concat_samples([a, SampleBatch(obs=np.zeros(2))])


def test_shuffle_is_one_permutation_for_all_columns_and_seeded():
    b = make(50)
    s1, s2 = b.shuffle(0), b.shuffle(0)
    np.testing.assert_array_equal(s1[ACTIONS], s2[ACTIONS])
    assert not np.array_equal(s1[ACTIONS], b[ACTIONS])
    np.testing.assert_array_equal(s1[OBS][:, 0], s1[ACTIONS].astype(np.float32))
    assert sorted(s1[ACTIONS].tolist()) == list(range(50))


def test_minibatches_cover_every_row_once():
    b = make(10)
    sizes = [m.count for m in b.minibatches(4, rng=1)]
    assert sizes == [4, 4, 2]
    seen = np.concatenate([m[ACTIONS] for m in b.minibatches(4, rng=1)])
    assert sorted(seen.tolist()) == list(range(10))
    assert [m.count for m in b.minibatches(4, drop_last=True, shuffle=False)] == [4, 4]
    with pytest.raises(SampleBatchError):
        list(b.minibatches(0))


def test_split_by_episode():
    parts = make(6).split_by_episode()
    assert [p[EPS_ID].tolist() for p in parts] == [[0, 0], [1, 1], [2, 2]]


def test_copy_take_pickle_and_bytes():
    b = make(4)
    c = b.copy()
    c[ACTIONS][0] = 99
    assert b[ACTIONS][0] == 0
    assert b.take(np.array([3, 0]))[ACTIONS].tolist() == [3, 0]
    r = pickle.loads(pickle.dumps(b))
    np.testing.assert_array_equal(r[OBS], b[OBS])
    assert b.size_bytes() == sum(v.nbytes for v in b.values())
    assert set(b.to_dict()) == set(b)


def test_standard_columns_are_documented_names():
    assert {"obs", "actions", "rewards", "terminateds", "truncateds", "next_obs", "action_logp"} <= set(
        STANDARD_COLUMNS
    )
    assert {"vf_preds", "advantages", "value_targets", "eps_id"} <= set(STANDARD_COLUMNS)
