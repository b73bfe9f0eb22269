"""rlcore.sequences: chopping a row-aligned batch into recurrent sequences, padding, masking,
sequence-aware minibatches, and replaying a recurrent policy over its sequences (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from rlcore import sequences as sq
from rlcore.errors import SampleBatchError
from rlcore.sample_batch import EPS_ID, OBS, SEQ_LENS, SampleBatch


def test_chop_into_sequences_cuts_at_episode_changes_and_max_len():
    # RLlib's documented example
    np.testing.assert_array_equal(sq.chop_into_sequences(np.array([1, 1, 5, 5, 5, 5]), 3), [2, 3, 1])
    np.testing.assert_array_equal(sq.chop_into_sequences(np.array([7, 7, 7, 7, 7, 7, 7]), 3), [3, 3, 1])
    np.testing.assert_array_equal(sq.chop_into_sequences(np.array([1, 2, 3]), 20), [1, 1, 1])
    np.testing.assert_array_equal(sq.chop_into_sequences(np.array([4, 4, 4, 4]), 1), [1, 1, 1, 1])
    # a later return to an earlier id is still a new sequence (consecutive rows only)
    np.testing.assert_array_equal(sq.chop_into_sequences(np.array([1, 1, 2, 1]), 5), [2, 1, 1])
    assert sq.chop_into_sequences(np.zeros(0), 3).shape == (0,)
    assert sq.chop_into_sequences(np.array([1, 1]), 3).dtype == np.int32
    with pytest.raises(SampleBatchError, match="max_seq_len must be at least 1"):
        sq.chop_into_sequences(np.array([1]), 0)


def test_seq_lens_column_is_row_aligned():
    col = sq.seq_lens_column(np.array([1, 1, 5, 5, 5, 5]), 3)
    np.testing.assert_array_equal(col, [2, 0, 3, 0, 0, 1])
    np.testing.assert_array_equal(sq.sequence_starts(np.array([2, 3, 1])), [0, 2, 5])
    batch = SampleBatch({SEQ_LENS: col, EPS_ID: np.array([1, 1, 5, 5, 5, 5])})
    np.testing.assert_array_equal(sq.sequence_lengths(batch), [2, 3, 1])
    sq.check_sequences(batch, max_seq_len=3)


def _batch(eps=(1, 1, 5, 5, 5, 5, 9, 9), max_len=3):
    eps = np.array(eps)
    n = len(eps)
    return SampleBatch(
        {
            OBS: np.arange(n * 2, dtype=np.float32).reshape(n, 2),
            EPS_ID: eps,
            "state_in_0": np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32),
            "state_in_1": -np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32),
            SEQ_LENS: sq.seq_lens_column(eps, max_len),
        }
    )


def test_pad_unpad_round_trip_and_mask():
    lens = np.array([2, 3, 1])
    x = np.arange(6 * 2).reshape(6, 2)
    padded = sq.pad_sequences(x, lens)
    assert padded.shape == (3, 3, 2)
    np.testing.assert_array_equal(padded[0, 2], [0, 0])  # zeros in the padding
    np.testing.assert_array_equal(padded[1], x[2:5])
    np.testing.assert_array_equal(sq.unpad_sequences(padded, lens), x)
    mask = sq.sequence_mask(lens)
    np.testing.assert_array_equal(mask, [[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    assert sq.pad_sequences(x, lens, pad_to=5).shape == (3, 5, 2)
    np.testing.assert_array_equal(sq.unpad_sequences(sq.pad_sequences(x, lens, pad_to=5), lens), x)


def test_padded_indices_gather_and_valid():
    gather, valid, t = sq.padded_indices(np.array([2, 3, 1]), pad_to=4)
    assert t == 4
    np.testing.assert_array_equal(gather, [0, 1, -1, -1, 2, 3, 4, -1, 5, -1, -1, -1])
    np.testing.assert_array_equal(valid, [0, 1, 4, 5, 6, 8])
    with pytest.raises(SampleBatchError, match="pad_to=2 is shorter than the longest sequence"):
        sq.padded_indices(np.array([2, 3, 1]), pad_to=2)


def test_initial_states_are_state_in_at_the_starts():
    b = _batch()
    h, c = sq.initial_states(b)
    np.testing.assert_array_equal(h[:, 0], [0, 2, 5, 6])
    np.testing.assert_array_equal(c[:, 0], [0, -2, -5, -6])
    assert sq.state_columns(b) == ["state_in_0", "state_in_1"]


def test_padded_forward_inputs_are_what_a_recurrent_forward_pass_takes():
    b = _batch()  # sequences [2, 3, 1, 2] (eps 1 | 5 cut at 3 | 9)
    obs, (h, c), valid = sq.padded_forward_inputs(b)
    assert obs.shape == (4, 3, 2) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, sq.pad_sequences(b[OBS], sq.sequence_lengths(b)))
    np.testing.assert_array_equal(obs.reshape(12, 2)[valid], b[OBS])  # gathering valid gives the rows back
    assert valid.dtype == np.int64 and h.dtype == c.dtype == np.float32 and h.flags.c_contiguous
    np.testing.assert_array_equal(h[:, 0], [0, 2, 5, 6])
    np.testing.assert_array_equal(c[:, 0], [0, -2, -5, -6])
    other = np.ones((8, 2), np.float64)  # observations given apart from the batch (a framework's own copy)
    assert sq.padded_forward_inputs(b, other)[0].dtype == np.float32
    with pytest.raises(SampleBatchError, match="seq_lens"):
        sq.padded_forward_inputs(SampleBatch({OBS: b[OBS]}))


def test_check_sequences_names_the_bad_sequence():
    b = _batch()
    with pytest.raises(SampleBatchError, match=r"sequence 1 \(rows 2..4\) has 3 rows, more than max_seq_len=2"):
        sq.check_sequences(b, max_seq_len=2)
    crossing = b.copy()
    crossing[SEQ_LENS] = np.array([3, 0, 0, 3, 0, 0, 2, 0], np.int32)
    with pytest.raises(
        SampleBatchError, match=r"sequence 0 \(rows 0..2\) spans two episodes: eps_id changes from 1 to 5"
    ):
        sq.check_sequences(crossing)
    short = b.copy()
    short[SEQ_LENS] = np.array([2, 0, 3, 0, 0, 1, 1, 0], np.int32)
    with pytest.raises(SampleBatchError, match="inconsistent"):
        sq.check_sequences(short)
    cut = b.slice(1, 8)
    with pytest.raises(SampleBatchError, match="must start a sequence at row 0"):
        sq.check_sequences(cut)
    missing = SampleBatch({OBS: np.zeros((2, 1))})
    with pytest.raises(SampleBatchError, match="has no 'seq_lens' column"):
        sq.sequence_lengths(missing)
    negative = b.copy()
    negative[SEQ_LENS] = -b[SEQ_LENS]
    with pytest.raises(SampleBatchError, match="negative"):
        sq.sequence_lengths(negative)


def test_rechop_splits_sequences_never_joins():
    b = _batch()
    np.testing.assert_array_equal(sq.sequence_lengths(sq.rechop(b, 1)), np.ones(8))
    np.testing.assert_array_equal(sq.sequence_lengths(sq.rechop(b, 2)), [2, 2, 1, 1, 2])
    np.testing.assert_array_equal(sq.sequence_lengths(sq.rechop(b, 7)), [2, 3, 1, 2])
    assert SEQ_LENS in b and sq.sequence_lengths(b).tolist() == [2, 3, 1, 2]  # unchanged


def test_sequence_minibatches_keep_whole_sequences():
    b = _batch(eps=tuple(np.repeat(np.arange(10), 4)), max_len=3)  # lengths 3, 1 per episode
    seen = []
    for mb in sq.sequence_minibatches(b, 7, rng=0):
        assert mb.count <= 7
        sq.check_sequences(mb, max_seq_len=3)
        # each sequence's state_in runs on from its first row, in order
        for start, n in zip(sq.sequence_starts(sq.sequence_lengths(mb)), sq.sequence_lengths(mb), strict=True):
            np.testing.assert_array_equal(np.diff(mb["state_in_0"][start : start + n, 0]), np.ones(n - 1))
        seen.extend(mb[OBS][:, 0].tolist())
    assert sorted(seen) == sorted(b[OBS][:, 0].tolist())
    unshuffled = [mb.count for mb in sq.sequence_minibatches(b, 7, shuffle=False)]
    assert unshuffled == [7, 5, 7, 5, 7, 5, 4]  # 3+1+3, then 1+3+1 (the next 3 does not fit)...
    assert [mb.count for mb in sq.sequence_minibatches(b, 7, shuffle=False, drop_last=True)] == [7, 5, 7, 5, 7, 5]
    assert [mb.count for mb in sq.sequence_minibatches(b, 4, shuffle=False, drop_last=True)] == [4] * 10
    with pytest.raises(SampleBatchError, match="positive"):
        next(sq.sequence_minibatches(b, 0))


def test_sample_batch_shuffle_and_minibatches_are_sequence_aware():
    b = _batch(eps=tuple(np.repeat(np.arange(6), 4)), max_len=4)
    shuffled = b.shuffle(3)
    sq.check_sequences(shuffled)
    assert shuffled[EPS_ID].tolist() != b[EPS_ID].tolist()
    for mb in b.minibatches(8, rng=1):
        sq.check_sequences(mb)
        assert mb.count == 8
    plain = SampleBatch({OBS: np.arange(10)})
    assert sorted(plain.shuffle(0)[OBS].tolist()) == list(range(10))
    assert [m.count for m in plain.minibatches(4, shuffle=False)] == [4, 4, 2]


class _CountingPolicy:
    """compute_actions: the state counts the steps; extras echo obs and state."""

    def compute_actions(self, obs, state, explore):
        h = state[0] + 1
        return np.zeros(len(obs)), [h, state[1]], {"vf_preds": obs[:, 0] * 10 + h[:, 0], "action_dist_inputs": obs + 0}


def test_replay_sequences_steps_each_sequence_from_its_initial_state():
    b = _batch()
    out = sq.replay_sequences(_CountingPolicy(), b)
    # sequence starts 0, 2, 5, 6 with state_in_0 = row index at the start; steps count from it
    start_of_row = np.array([0, 0, 2, 2, 2, 5, 6, 6])
    t_of_row = np.array([0, 1, 0, 1, 2, 0, 0, 1])
    np.testing.assert_allclose(out["vf_preds"], b[OBS][:, 0] * 10 + start_of_row + t_of_row + 1)
    np.testing.assert_array_equal(out["action_dist_inputs"], b[OBS])
