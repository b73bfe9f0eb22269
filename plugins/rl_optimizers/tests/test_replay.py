"""Replay buffers and segment trees (numpy only): ring storage, sampling, priorities, memory."""

from __future__ import annotations

import numpy as np
import pytest

from rl_optimizers.replay import (
    MinSegmentTree,
    PrioritizedReplayBuffer,
    ReplayBuffer,
    ReplayError,
    SumSegmentTree,
    update_trees,
)
from rlcore.errors import RLCoreError
from rlcore.sample_batch import SampleBatch


def rows(start: int, n: int) -> SampleBatch:
    ids = np.arange(start, start + n)
    return SampleBatch(
        obs=np.stack([ids, -ids], axis=1).astype(np.float32),
        actions=(ids % 3).astype(np.int64),
        rewards=ids.astype(np.float32),
        terminateds=ids % 2 == 0,
        eps_id=ids.astype(np.int32),
    )


def cartpole_batch(n: int) -> SampleBatch:
    return SampleBatch(
        obs=np.zeros((n, 4), np.float32),
        next_obs=np.zeros((n, 4), np.float32),
        actions=np.zeros(n, np.int64),
        rewards=np.zeros(n, np.float32),
        terminateds=np.zeros(n, bool),
        truncateds=np.zeros(n, bool),
    )


# ---- ring buffer -------------------------------------------------------------------------------


def test_ring_wraps_around_and_keeps_the_newest_rows():
    buf = ReplayBuffer(5, seed=0)
    buf.add(rows(0, 3))
    assert len(buf) == 3
    buf.add(rows(3, 4))  # 3, 4 at the end, then 5, 6 over 0, 1
    assert len(buf) == 5
    np.testing.assert_array_equal(buf.columns["eps_id"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buf.columns["obs"][:, 1], -np.array([5, 6, 2, 3, 4], np.float32))
    # more than the capacity: only the newest 5 (14..18) survive, where row-by-row adds would put them
    buf.add(rows(7, 12))
    np.testing.assert_array_equal(buf.columns["eps_id"], [15, 16, 17, 18, 14])
    buf.add(rows(19, 1))
    np.testing.assert_array_equal(buf.columns["eps_id"], [15, 16, 17, 18, 19])
    assert buf.num_added == 20


def test_dtypes_and_shapes_are_preserved_and_rows_stay_together():
    buf = ReplayBuffer(50, seed=1)
    buf.add(rows(0, 30))
    out = buf.sample(64 if len(buf) >= 64 else 30)
    src = rows(0, 1)
    for k in src:
        assert out[k].dtype == src[k].dtype and out[k].shape[1:] == src[k].shape[1:]
    ids = out["eps_id"]
    np.testing.assert_array_equal(out["batch_indexes"], ids)  # no wrap yet: row i holds id i
    np.testing.assert_array_equal(out["rewards"], ids.astype(np.float32))
    np.testing.assert_array_equal(out["terminateds"], ids % 2 == 0)
    np.testing.assert_array_equal(out["weights"], np.ones(30, np.float32))


def test_generated_columns_are_not_stored():
    buf = ReplayBuffer(10, seed=0)
    buf.add(rows(0, 6))
    again = buf.sample(4)
    buf.add(again)  # a replayed batch carries batch_indexes and weights: dropped, the rest stored
    assert "batch_indexes" not in buf.columns and "weights" not in buf.columns
    assert len(buf) == 10


def test_uniform_sampling_covers_every_row_evenly():
    buf = ReplayBuffer(100, seed=2)
    for s in range(0, 130, 13):
        buf.add(rows(s, 13))
    counts = sum(np.bincount(buf.sample(100)["batch_indexes"], minlength=100) for _ in range(1000))
    assert counts.sum() == 100_000
    assert counts.min() > 850 and counts.max() < 1150  # expected 1000, sd ~31


@pytest.mark.parametrize("cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_sampling_errors_say_how_many_the_buffer_holds(cls):
    buf = cls(100, seed=0)
    with pytest.raises(ReplayError, match="empty"):
        buf.sample(1)
    buf.add(rows(0, 10))
    with pytest.raises(ReplayError, match="asked for 11 items but the replay buffer holds only 10") as e:
        buf.sample(11)
    assert isinstance(e.value, RLCoreError) and isinstance(e.value, ValueError)
    with pytest.raises(ReplayError, match="non-negative"):
        buf.sample(-1)
    assert buf.sample(10).count == 10


@pytest.mark.parametrize("capacity", [0, -3, 2.5, None, True])
def test_capacity_is_validated(capacity):
    with pytest.raises(ReplayError, match="capacity must be a positive integer"):
        ReplayBuffer(capacity)


def test_mismatched_batches_are_rejected():
    buf = ReplayBuffer(10)
    buf.add(rows(0, 2))
    bad = rows(2, 2)
    del bad["eps_id"]
    with pytest.raises(ReplayError, match="do not match"):
        buf.add(bad)
    wide = rows(2, 2)
    wide["obs"] = np.zeros((2, 3), np.float32)
    with pytest.raises(ReplayError, match="shape"):
        buf.add(wide)
    floaty = rows(2, 2)
    floaty["actions"] = np.zeros(2, np.float32)
    with pytest.raises(ReplayError, match="dtype"):
        buf.add(floaty)


# ---- segment trees -----------------------------------------------------------------------------


def _reference_nodes(leaves: np.ndarray, op) -> np.ndarray:
    size = len(leaves)
    full = np.concatenate([np.zeros(size), leaves])
    for i in range(size - 1, 0, -1):
        full[i] = op(full[2 * i], full[2 * i + 1])
    return full[1:size]


@pytest.mark.parametrize("capacity", [1, 2, 3, 7, 8, 100, 1000])
def test_trees_match_a_brute_force_reference_under_random_updates_with_duplicates(capacity):
    rng = np.random.default_rng(capacity)
    s = SumSegmentTree(capacity, leaf_dtype=np.float64)
    m = MinSegmentTree(capacity, leaf_dtype=np.float64, node_dtype=np.float64)
    ref_sum = np.zeros(capacity)
    ref_min = np.full(capacity, np.inf)
    for step in range(40):
        k = int(rng.integers(1, 2 * capacity + 3))
        idx = rng.integers(0, capacity, k)  # many repeats when k > capacity
        val = rng.random(k) * 10
        if step % 2:
            s.update(idx, val)
            m.update(idx, val)
        else:
            update_trees([s, m], idx, [val, val])
        for i, v in zip(idx, val, strict=True):  # sequential semantics: the last write wins
            ref_sum[i] = v
            ref_min[i] = v
        np.testing.assert_array_equal(s.leaves[:capacity], ref_sum)
        np.testing.assert_allclose(s.nodes[1:], _reference_nodes(s.leaves, np.add), rtol=1e-12)
        np.testing.assert_array_equal(m.nodes[1:], _reference_nodes(m.leaves, np.minimum))
        assert s.sum() == pytest.approx(ref_sum.sum(), rel=1e-12)
        assert m.min() == ref_min.min()
        np.testing.assert_array_equal(s[idx], ref_sum[idx])


def test_update_range_matches_update():
    a = SumSegmentTree(37)
    b = SumSegmentTree(37)
    a.update(np.arange(37), np.linspace(0.1, 3, 37))
    b.update(np.arange(37), np.linspace(0.1, 3, 37))
    a.update_range(5, 30, 2.5)
    b.update(np.arange(5, 30), np.full(25, 2.5))
    np.testing.assert_array_equal(a.leaves, b.leaves)
    np.testing.assert_array_equal(a.nodes, b.nodes)


def test_tree_index_errors():
    t = SumSegmentTree(10)
    with pytest.raises(ReplayError, match="out of range"):
        t.update([10], [1.0])
    with pytest.raises(ReplayError, match="out of range"):
        t.update([-1], [1.0])
    with pytest.raises(ReplayError, match="3 indices but 2 values"):
        t.update([0, 1, 2], [1.0, 2.0])


@pytest.mark.parametrize("capacity", [1, 2, 5, 64, 1000])
def test_prefix_sum_search_matches_searchsorted(capacity):
    rng = np.random.default_rng(7)
    t = SumSegmentTree(capacity, leaf_dtype=np.float64)
    leaves = rng.integers(0, 16, capacity) / 4.0  # exact sums, so the boundaries are exact too
    leaves[rng.random(capacity) < 0.3] = 0.0  # zero-mass leaves are never found
    leaves[0] = 1.0
    t.update(np.arange(capacity), leaves)
    cums = np.cumsum(leaves)
    prefixes = np.concatenate([rng.random(5000) * cums[-1], [0.0], cums[:-1][leaves[1:] > 0]])
    got = t.find_prefixsum_idx(prefixes)
    np.testing.assert_array_equal(got, np.searchsorted(cums, prefixes, side="right"))
    assert (leaves[got] > 0).all()


# ---- prioritized -------------------------------------------------------------------------------


def test_prioritized_sampling_is_proportional_to_p_alpha():
    alpha = 0.6
    buf = PrioritizedReplayBuffer(8, alpha=alpha, seed=3)
    buf.add(rows(0, 8))
    prios = np.array([1, 2, 3, 4, 5, 6, 7, 8], np.float64)
    buf.update_priorities(np.arange(8), prios)
    expected = prios**alpha / (prios**alpha).sum()
    counts = np.zeros(8)
    for _ in range(20_000):
        counts += np.bincount(buf.sample(8)["batch_indexes"], minlength=8)
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.005)


def test_alpha_zero_is_uniform_and_beta_zero_gives_unit_weights():
    buf = PrioritizedReplayBuffer(4, alpha=0.0, beta=0.0, seed=0)
    buf.add(rows(0, 4))
    buf.update_priorities([0, 1, 2, 3], [1.0, 10.0, 100.0, 1000.0])
    outs = [buf.sample(3) for _ in range(10_000)]
    freq = np.bincount(np.concatenate([o["batch_indexes"] for o in outs]), minlength=4) / 30_000
    np.testing.assert_allclose(freq, 0.25, atol=0.01)
    np.testing.assert_array_equal(np.concatenate([o["weights"] for o in outs]), 1.0)


def test_importance_weights_follow_the_per_formula():
    alpha, beta = 0.7, 0.5
    buf = PrioritizedReplayBuffer(16, alpha=alpha, beta=0.4, seed=4)
    buf.add(rows(0, 10))  # 10 of 16 rows held
    prios = np.linspace(0.5, 5.0, 10)
    buf.update_priorities(np.arange(10), prios)
    out = SampleBatch.concat_samples([buf.sample(10, beta=beta) for _ in range(50)])
    p = prios**alpha / (prios**alpha).sum()
    w = (10 * p) ** -beta
    expected = w / w.max()  # the max weight belongs to the smallest priority
    np.testing.assert_allclose(out["weights"], expected[out["batch_indexes"]], rtol=1e-5)
    assert out["weights"].dtype == np.float32 and out["weights"].max() <= 1.0
    # the row data matches the indexes
    np.testing.assert_array_equal(out["eps_id"], out["batch_indexes"])


def test_new_rows_get_the_largest_priority_seen():
    alpha = 0.6
    buf = PrioritizedReplayBuffer(10, alpha=alpha, seed=0)
    buf.add(rows(0, 4))
    np.testing.assert_allclose(buf.sum_tree[np.arange(4)], 1.0)  # 1.0 before any update
    buf.update_priorities([0, 1], [5.0, 0.5])
    buf.update_priorities([1], [2.0])  # the max stays 5
    buf.add(rows(4, 3))
    np.testing.assert_allclose(buf.sum_tree[np.arange(4, 7)], 5.0**alpha, rtol=1e-6)
    np.testing.assert_allclose(buf.sum_tree[np.arange(4)], np.array([5.0, 2.0, 1.0, 1.0]) ** alpha, rtol=1e-6)
    assert buf.min_tree.min() == pytest.approx(1.0)
    assert buf.sum_tree.sum() == pytest.approx((5.0**alpha) * 4 + 2.0**alpha + 2)


def test_wrap_around_overwrites_priorities():
    buf = PrioritizedReplayBuffer(4, alpha=1.0, seed=0)
    buf.add(rows(0, 4))
    buf.update_priorities([0, 1, 2, 3], [0.1, 0.1, 0.1, 0.1])
    buf.add(rows(4, 2))  # rows 0, 1 overwritten at the max priority seen (1.0)
    np.testing.assert_allclose(buf.sum_tree[np.arange(4)], [1.0, 1.0, 0.1, 0.1], rtol=1e-6)
    assert buf.min_tree.min() == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -0.5])
def test_bad_priorities_are_rejected_and_nothing_changes(bad):
    buf = PrioritizedReplayBuffer(8, seed=0)
    buf.add(rows(0, 8))
    before = buf.sum_tree.sum(), buf.max_priority
    with pytest.raises(ReplayError, match="finite and >= 0"):
        buf.update_priorities([0, 1, 2], [1.0, bad, 2.0])
    assert (buf.sum_tree.sum(), buf.max_priority) == before


def test_priority_update_checks_indices_and_lengths():
    buf = PrioritizedReplayBuffer(8, seed=0)
    buf.add(rows(0, 4))
    with pytest.raises(ReplayError, match="rows held"):
        buf.update_priorities([4], [1.0])  # not filled yet
    with pytest.raises(ReplayError, match="2 indices but 1 priorities"):
        buf.update_priorities([0, 1], [1.0])


def test_zero_priority_is_floored_at_eps():
    buf = PrioritizedReplayBuffer(4, alpha=1.0, eps=1e-3, seed=0)
    buf.add(rows(0, 4))
    buf.update_priorities([0, 1, 2, 3], [0.0, 1.0, 1.0, 1.0])
    assert buf.min_tree.min() == pytest.approx(1e-3)
    assert np.isfinite(buf.sample(4)["weights"]).all()


@pytest.mark.parametrize(("kw", "match"), [({"alpha": -1}, "alpha"), ({"beta": np.nan}, "beta"), ({"eps": 0}, "eps")])
def test_prioritized_parameters_are_validated(kw, match):
    with pytest.raises(ReplayError, match=match):
        PrioritizedReplayBuffer(8, **kw)


# ---- memory ------------------------------------------------------------------------------------


def test_memory_of_a_1m_cartpole_buffer():
    capacity = 1_000_000
    raw_per_row = cartpole_batch(1).size_bytes()  # 16 + 16 + 8 + 4 + 1 + 1 = 46 bytes
    plain = ReplayBuffer(capacity)
    plain.add(cartpole_batch(8))  # allocates the column arrays (pages are touched only when written)
    assert plain.size_bytes() <= 1.2 * raw_per_row * capacity
    assert plain.size_bytes() == raw_per_row * capacity
    del plain
    prio = PrioritizedReplayBuffer(capacity)
    prio.add(cartpole_batch(8))
    assert prio.size_bytes() <= 1.5 * raw_per_row * capacity
    assert prio.size_bytes() == raw_per_row * capacity + prio.sum_tree.nbytes + prio.min_tree.nbytes
