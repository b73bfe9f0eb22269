"""ReplayShard (one Ape-X replay shard, used as a plain object here) and
PrioritizedReplayBuffer.add(batch, priorities=...) for worker-side priorities."""

from __future__ import annotations

import numpy as np
import pytest

from rl_optimizers.apex import PRIORITIES, ReplayShard
from rl_optimizers.replay import PrioritizedReplayBuffer, ReplayError
from rlcore.sample_batch import BATCH_INDEXES, SampleBatch


def _batch(n: int, start: int = 0, priorities: np.ndarray | None = None) -> SampleBatch:
    b = SampleBatch(obs=np.arange(start, start + n, dtype=np.float32)[:, None], row=np.arange(start, start + n))
    if priorities is not None:
        b[PRIORITIES] = priorities
    return b


def test_add_with_priorities_sets_them_and_raises_the_max():
    buf = PrioritizedReplayBuffer(8, alpha=1.0, eps=1e-6, seed=0)
    buf.add(_batch(4), priorities=np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(buf.sum_tree.leaves[:4], [1, 2, 3, 4])
    assert buf.max_priority == 4.0 and buf.sum_tree.sum() == pytest.approx(10.0)
    buf.add(_batch(2, 4))  # no priorities: the largest so far
    np.testing.assert_allclose(buf.sum_tree.leaves[4:6], [4, 4])
    buf.add(_batch(4, 6), priorities=np.zeros(4))  # wraps: rows 6, 7, 0, 1; zero floored at eps
    np.testing.assert_allclose(buf.sum_tree.leaves[[6, 7, 0, 1]], 1e-6, rtol=1e-3)
    assert buf.min_tree.min() == pytest.approx(1e-6, rel=1e-3)


def test_add_with_more_rows_than_capacity_keeps_the_newest_priorities():
    buf = PrioritizedReplayBuffer(4, alpha=1.0, seed=0)
    buf.add(_batch(6), priorities=np.arange(1.0, 7.0))  # rows 2..5 kept, at 3..6
    assert sorted(buf.columns["row"].tolist()) == [2, 3, 4, 5]
    for slot in range(4):
        assert buf.sum_tree.leaves[slot] == pytest.approx(buf.columns["row"][slot] + 1.0)


@pytest.mark.parametrize(
    ("priorities", "why"),
    [
        (np.array([1.0, np.nan, 1.0]), r"priorities must be finite and >= 0; got nan at position 1"),
        (np.array([1.0, -1.0, 1.0]), r"got -1.0 at position 1"),
        (np.array([1.0, 1.0]), r"got 3 rows but 2 priorities"),
    ],
)
def test_add_refuses_bad_priorities_and_adds_nothing(priorities, why):
    buf = PrioritizedReplayBuffer(8, seed=0)
    with pytest.raises(ReplayError, match=why):
        buf.add(_batch(3), priorities=priorities)
    assert len(buf) == 0


def test_shard_waits_for_learning_starts_then_replays():
    shard = ReplayShard(0, 100, 10, 0.6, 0.4, 1e-6, seed=0)
    assert shard.add_batch(_batch(6)) == 6
    batch, size, nbytes = shard.replay(4)
    assert batch is None and size == 6 and nbytes > 0
    shard.add_batch(_batch(6, 6))
    batch, size, _ = shard.replay(4)
    assert batch is not None and batch.count == 4 and size == 12 and BATCH_INDEXES in batch
    stats = shard.stats()
    assert stats["size"] == 12 and stats["num_added"] == 12 and stats["num_replayed"] == 4
    assert stats["capacity"] == 100 and stats["generation"] == 0


def test_shard_takes_worker_priorities_and_does_not_store_the_column():
    shard = ReplayShard(0, 16, 0, 1.0, 0.4, 1e-6, seed=0)
    shard.add_batch(_batch(4, priorities=np.array([1.0, 1.0, 1.0, 97.0], np.float32)))
    assert PRIORITIES not in shard.buffer.columns
    rows = []
    for _ in range(20):
        batch, _, _ = shard.replay(4)
        assert batch is not None and PRIORITIES not in batch
        rows.extend(batch["row"].tolist())
    assert np.mean(np.array(rows) == 3) > 0.8  # 97% of the mass


def test_update_from_a_stale_generation_is_dropped():
    shard = ReplayShard(1, 16, 0, 1.0, 0.4, 1e-6, seed=0, generation=2)
    shard.add_batch(_batch(4))
    before = shard.buffer.sum_tree.leaves[:4].copy()
    shard.update_priorities(np.array([0, 1]), np.array([5.0, 5.0]), generation=1)
    np.testing.assert_array_equal(shard.buffer.sum_tree.leaves[:4], before)
    assert shard.stats()["num_updates_dropped"] == 1
    shard.update_priorities(np.array([0, 1]), np.array([5.0, 5.0]), generation=2)
    np.testing.assert_allclose(shard.buffer.sum_tree.leaves[:2], [5.0, 5.0])
    with pytest.raises(ReplayError, match="finite"):
        shard.update_priorities(np.array([0]), np.array([np.inf]), generation=2)


def test_shard_refuses_bad_replay_parameters():
    with pytest.raises(ReplayError, match="alpha"):
        ReplayShard(0, 16, 0, -1.0, 0.4, 1e-6, seed=0)
    assert ReplayShard(0, 16, 0, 0.6, 0.4, 1e-6, seed=0).ping() is True
