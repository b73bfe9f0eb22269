"""Experience replay in numpy: a ring buffer, segment trees and a prioritized buffer.

No per-transition Python objects: the buffer stores each SampleBatch column in one preallocated
array (made from the first batch's dtypes and shapes), and the segment trees update and search
whole batches of indices at once, level by level.

Memory of the prioritized buffer: the sum tree keeps float32 leaves and float64 inner nodes (the
partial sums stay exact enough over a million items), the min tree float32 leaves and nodes:
``(4 + 8 + 4 + 4) * 2**ceil(log2(capacity))`` bytes on top of the columns, 21 MB at 1M.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlcore.errors import RLCoreError
from rlcore.sample_batch import BATCH_INDEXES, WEIGHTS, SampleBatch

#: Columns the buffers produce on sampling; they are not stored when a batch brings them.
GENERATED_COLUMNS = (BATCH_INDEXES, WEIGHTS)


class ReplayError(RLCoreError, ValueError):
    """A replay buffer was asked something it cannot answer (too many items, bad priorities...)."""


def _check_capacity(capacity: Any) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 1:
        raise ReplayError(f"replay capacity must be a positive integer, got {capacity!r}")
    return int(capacity)


# --------------------------------------------------------------------------------------------
# Segment trees
# --------------------------------------------------------------------------------------------


def _dedupe_sorted(a: np.ndarray) -> np.ndarray:
    """Drop repeats from a sorted array (cheaper than np.unique, which sorts again)."""
    if a.size < 2:
        return a
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


class SegmentTree:
    """A complete binary tree over ``2**k >= capacity`` leaves whose inner nodes hold ``op`` of their children.

    Leaves live in ``leaves`` (``leaf_dtype``), inner nodes in ``nodes`` (``node_dtype``; node 1 is
    the root, node ``i`` has children ``2i`` and ``2i+1``, and children ``>= size`` are leaves
    ``child - size``). Unset leaves hold the neutral element (0 for sum, +inf for min).
    """

    op: np.ufunc = np.add
    neutral: float = 0.0

    def __init__(
        self, capacity: int, leaf_dtype: np.dtype | type = np.float32, node_dtype: np.dtype | type = np.float64
    ) -> None:
        self.capacity = _check_capacity(capacity)
        self.size = max(2, 1 << (self.capacity - 1).bit_length())  # power of two, >= 2
        self.depth = self.size.bit_length() - 1  # levels of inner nodes
        self.leaves = np.full(self.size, self.neutral, dtype=leaf_dtype)
        self.nodes = np.full(self.size, self.neutral, dtype=node_dtype)  # index 0 unused

    @property
    def nbytes(self) -> int:
        """Bytes held by the tree's arrays."""
        return int(self.leaves.nbytes + self.nodes.nbytes)

    def __getitem__(self, indices: Any) -> np.ndarray:
        return self.leaves[indices]

    def reduce(self) -> float:
        """``op`` over every leaf (the root)."""
        return float(self.nodes[1])

    def _check_indices(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices).astype(np.int64, copy=False).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
            raise ReplayError(
                f"segment tree index out of range: got {int(idx.min())}..{int(idx.max())}, capacity is {self.capacity}"
            )
        return idx

    def update(self, indices: Any, values: Any) -> None:
        """Set ``leaves[indices] = values`` (last write wins for repeated indices) and recompute the parents."""
        update_trees([self], indices, [values])

    def update_range(self, start: int, stop: int, value: float) -> None:
        """Set leaves ``start:stop`` to ``value`` and recompute their parents (contiguous, so by slices)."""
        update_range_trees([self], start, stop, value)

    def _combine(self, out_lo: int, out_hi: int) -> None:
        """Recompute inner nodes ``out_lo..out_hi`` (inclusive, one level) from their children."""
        if 2 * out_lo >= self.size:  # children are leaves
            lo, hi = 2 * out_lo - self.size, 2 * out_hi - self.size + 2
            src = self.leaves
        else:
            lo, hi, src = 2 * out_lo, 2 * out_hi + 2, self.nodes
        self.op(src[lo:hi:2], src[lo + 1 : hi : 2], out=self.nodes[out_lo : out_hi + 1], dtype=self.nodes.dtype)


def update_trees(trees: Sequence[SegmentTree], indices: Any, values: Sequence[Any]) -> None:
    """Update several trees of the same size at the same leaf indices, sharing the index work.

    Repeated indices: the last value given for an index wins (as with sequential updates).
    """
    first = trees[0]
    if any(t.size != first.size for t in trees):
        raise ReplayError("trees updated together must have the same size")
    idx = first._check_indices(indices)
    vals = [np.broadcast_to(np.asarray(v), idx.shape) if np.ndim(v) == 0 else np.asarray(v).ravel() for v in values]
    for v in vals:
        if v.shape != idx.shape:
            raise ReplayError(f"got {idx.size} indices but {v.size} values")
    if idx.size == 0:
        return
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    keep = np.empty(idx.size, dtype=bool)
    keep[-1] = True
    np.not_equal(idx[1:], idx[:-1], out=keep[:-1])  # the last of each run of equal indices
    idx = idx[keep]
    for tree, v in zip(trees, vals, strict=True):
        tree.leaves[idx] = v[order][keep]
    # Parents, level by level. Repeats are dropped only while they are likely (the upper levels):
    # a repeated parent is just recomputed to the same value, and deduplicating costs more than
    # it saves where the indices are spread out.
    parents = (idx + first.size) >> 1
    child = 2 * parents - first.size
    for tree in trees:
        tree.nodes[parents] = tree.op(tree.leaves[child], tree.leaves[child + 1], dtype=tree.nodes.dtype)
    level_width = first.size >> 1
    while level_width > 1:
        parents >>= 1
        level_width >>= 1
        if level_width <= 4 * parents.size:
            parents = _dedupe_sorted(parents)
        child = 2 * parents
        for tree in trees:
            tree.nodes[parents] = tree.op(tree.nodes[child], tree.nodes[child + 1], dtype=tree.nodes.dtype)


def update_range_trees(trees: Sequence[SegmentTree], start: int, stop: int, value: Any) -> None:
    """Set leaves ``start:stop`` of several same-size trees to ``value`` and recompute the parents."""
    if stop <= start:
        return
    size = trees[0].size
    if any(t.size != size for t in trees):
        raise ReplayError("trees updated together must have the same size")
    for tree in trees:
        if start < 0 or stop > tree.capacity:
            raise ReplayError(f"segment tree range {start}:{stop} is outside 0:{tree.capacity}")
        tree.leaves[start:stop] = value
    lo, hi = (start + size) >> 1, (stop - 1 + size) >> 1
    while True:
        for tree in trees:
            tree._combine(lo, hi)
        if lo == 1:
            break
        lo, hi = lo >> 1, hi >> 1


class SumSegmentTree(SegmentTree):
    """Sums, with a vectorized prefix-sum search (float32 leaves, float64 inner nodes by default)."""

    op = np.add
    neutral = 0.0

    def sum(self) -> float:
        """The sum of every leaf."""
        return self.reduce()

    def find_prefixsum_idx(self, prefixes: Any) -> np.ndarray:
        """For each prefix ``m``, the highest index ``i`` with ``sum(leaves[:i]) <= m``.

        All queries descend together, one level per step. With ``0 <= m < sum()`` the index has a
        positive leaf; for ``m >= sum()`` it is past the last positive leaf (callers clamp it).
        """
        mass = np.array(prefixes, dtype=np.float64).ravel()
        i = np.ones(mass.size, dtype=np.int64)
        for _ in range(self.depth - 1):
            i <<= 1
            left = self.nodes[i]
            right = mass >= left
            mass -= np.where(right, left, 0.0)
            i += right
        i <<= 1
        i -= self.size
        i += mass >= self.leaves[i]
        return i


class MinSegmentTree(SegmentTree):
    """Minimums (float32 leaves and nodes by default: a minimum is exact in any dtype)."""

    op = np.minimum
    neutral = float("inf")

    def __init__(
        self, capacity: int, leaf_dtype: np.dtype | type = np.float32, node_dtype: np.dtype | type = np.float32
    ) -> None:
        super().__init__(capacity, leaf_dtype, node_dtype)

    def min(self) -> float:
        """The minimum over every leaf (+inf when none is set)."""
        return self.reduce()


# --------------------------------------------------------------------------------------------
# Buffers
# --------------------------------------------------------------------------------------------


class ReplayBuffer:
    """A ring buffer of transitions, one preallocated numpy array per column.

    The arrays are made on the first :meth:`add` from that batch's columns, dtypes and shapes
    (``capacity`` rows each); later batches must bring the same columns with the same trailing
    shapes (values are cast like numpy assignment, within the same kind). Columns named
    ``batch_indexes`` or ``weights`` are not stored: sampling produces them.
    """

    def __init__(self, capacity: int, seed: int | np.random.Generator | None = None) -> None:
        self.capacity = _check_capacity(capacity)
        self.rng = np.random.default_rng(seed)
        self._storage: dict[str, np.ndarray] = {}
        self._next = 0  # where the next row goes
        self._size = 0
        self.num_added = 0  # rows ever added

    def __len__(self) -> int:
        return self._size

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The storage arrays (``capacity`` rows; only the first ``len(self)`` are filled until it wraps)."""
        return self._storage

    def size_bytes(self) -> int:
        """Bytes held by the column arrays (0 before the first add)."""
        return int(sum(a.nbytes for a in self._storage.values()))

    def _allocate(self, batch: SampleBatch) -> None:
        for name, col in batch.items():
            if name in GENERATED_COLUMNS:
                continue
            self._storage[name] = np.zeros((self.capacity, *col.shape[1:]), dtype=col.dtype)
        if not self._storage:
            raise ReplayError(f"cannot store a batch without columns (other than {', '.join(GENERATED_COLUMNS)})")

    def _write(self, batch: SampleBatch) -> list[tuple[int, int]]:
        """Copy ``batch`` into the ring; returns the (start, stop) row ranges written (one or two)."""
        n = batch.count
        if n == 0:
            return []
        if not self._storage:
            self._allocate(batch)
        names = [k for k in batch if k not in GENERATED_COLUMNS]
        if set(names) != set(self._storage):
            raise ReplayError(
                f"batch columns {sorted(names)} do not match the buffer's {sorted(self._storage)}; "
                "every batch added to a replay buffer needs the same columns"
            )
        skip = max(0, n - self.capacity)  # only the newest `capacity` rows survive anyway
        start = (self._next + skip) % self.capacity
        rows = n - skip
        first = min(rows, self.capacity - start)
        ranges = [(start, start + first)]
        if first < rows:
            ranges.append((0, rows - first))
        for name, store in self._storage.items():
            col = batch[name]
            if col.shape[1:] != store.shape[1:]:
                raise ReplayError(
                    f"column {name!r} has rows of shape {col.shape[1:]} but the buffer stores {store.shape[1:]}"
                )
            if not np.can_cast(col.dtype, store.dtype, "same_kind"):
                raise ReplayError(f"column {name!r} of dtype {col.dtype} cannot be stored as {store.dtype}")
            store[start : start + first] = col[skip : skip + first]
            if first < rows:
                store[: rows - first] = col[skip + first :]
        self._next = (start + rows) % self.capacity
        self._size = min(self._size + rows, self.capacity)
        self.num_added += n
        return ranges

    def add(self, batch: SampleBatch) -> None:
        """Append the rows of ``batch``, overwriting the oldest rows once full."""
        self._write(batch)

    def _check_sample(self, n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ReplayError(f"number of items to sample must be a non-negative integer, got {n!r}")
        if self._size == 0:
            raise ReplayError(f"cannot sample {n} items from an empty replay buffer; add() batches first")
        if n > self._size:
            raise ReplayError(
                f"asked for {n} items but the replay buffer holds only {self._size} (capacity {self.capacity}); "
                "wait until it holds at least that many (learning_starts) or ask for fewer"
            )
        return int(n)

    def _gather(self, idx: np.ndarray) -> SampleBatch:
        out = SampleBatch({name: store.take(idx, axis=0) for name, store in self._storage.items()})
        out[BATCH_INDEXES] = idx
        return out

    def sample(self, n: int) -> SampleBatch:
        """``n`` rows drawn uniformly with replacement, plus ``batch_indexes`` (their rows in the
        buffer) and ``weights`` (all 1.0, so plain and prioritized batches have the same columns)."""
        n = self._check_sample(n)
        idx = self.rng.integers(0, self._size, n)
        out = self._gather(idx)
        out[WEIGHTS] = np.ones(n, dtype=np.float32)
        return out


def check_priorities(priorities: Any, n: int, what: str = "rows") -> np.ndarray:
    """``priorities`` as a new float64 vector of ``n`` finite values >= 0; :class:`ReplayError`
    otherwise (naming the first bad value and its position)."""
    p = np.array(priorities, dtype=np.float64).ravel()
    if p.size != n:
        raise ReplayError(f"got {n} {what} but {p.size} priorities")
    bad = ~np.isfinite(p) | (p < 0)
    if bad.any():
        where = np.flatnonzero(bad)
        raise ReplayError(
            f"priorities must be finite and >= 0; got {float(p[where[0]])!r} at position {int(where[0])} "
            f"({where.size} bad of {p.size}). A NaN or infinite TD error usually means the loss diverged"
        )
    return p


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016) on a sum tree and a min tree.

    Row ``i`` is drawn with probability ``P(i) = p_i**alpha / sum_k p_k**alpha``; the trees store
    ``p**alpha``. New rows get the largest priority seen so far (1.0 at first). :meth:`sample`
    draws stratified prefix sums (one uniform draw in each of ``n`` equal slices of the total) and
    returns importance weights ``(N * P(i))**-beta / max_j (N * P(j))**-beta``, the maximum over
    the whole buffer taken from the min tree, as in the PER paper and RLlib. Priorities given to
    :meth:`update_priorities` must be finite and >= 0; they are floored at ``eps`` (so a zero
    priority keeps a row reachable and the weights finite).
    """

    def __init__(
        self,
        capacity: int,
        alpha: float = 0.6,
        beta: float = 0.4,
        eps: float = 1e-6,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(capacity, seed)
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ReplayError(f"prioritized replay alpha must be finite and >= 0, got {alpha!r}")
        if not (np.isfinite(eps) and eps > 0):
            raise ReplayError(f"prioritized replay eps must be finite and > 0, got {eps!r}")
        self.alpha = float(alpha)
        self.beta = self._check_beta(beta)
        self.eps = float(eps)
        self.max_priority = 1.0
        self.sum_tree = SumSegmentTree(self.capacity)
        self.min_tree = MinSegmentTree(self.capacity)

    @staticmethod
    def _check_beta(beta: float) -> float:
        if not (np.isfinite(beta) and beta >= 0):
            raise ReplayError(f"prioritized replay beta must be finite and >= 0, got {beta!r}")
        return float(beta)

    def size_bytes(self) -> int:
        """Bytes of the column arrays plus both trees."""
        return super().size_bytes() + self.sum_tree.nbytes + self.min_tree.nbytes

    def add(self, batch: SampleBatch, priorities: Any = None) -> None:
        """Append the rows of ``batch`` at the maximum priority seen so far, or at ``priorities``
        (one per row, finite and >= 0, floored at ``eps``; Ape-X's worker-side priorities), which
        raise the maximum priority like :meth:`update_priorities`.

        Raises :class:`ReplayError` for priorities that are not one finite value >= 0 per row
        (nothing is added then)."""
        if priorities is None:
            value = self.max_priority**self.alpha
            trees = [self.sum_tree, self.min_tree]
            for start, stop in self._write(batch):
                update_range_trees(trees, start, stop, value)
            return
        p = check_priorities(priorities, batch.count)
        n = batch.count
        skip = max(0, n - self.capacity)  # the rows _write keeps: the newest `capacity`
        ranges = self._write(batch)
        if not ranges:
            return
        np.maximum(p, self.eps, out=p)
        self.max_priority = max(self.max_priority, float(p.max()))
        pa = p[skip:] ** self.alpha
        idx = np.concatenate([np.arange(start, stop) for start, stop in ranges])
        update_trees([self.sum_tree, self.min_tree], idx, [pa, pa])

    def sample(self, n: int, beta: float | None = None) -> SampleBatch:
        """``n`` rows by priority (stratified), with ``weights`` (float32) and ``batch_indexes``."""
        n = self._check_sample(n)
        beta = self.beta if beta is None else self._check_beta(beta)
        total = self.sum_tree.sum()
        prefixes = (np.arange(n) + self.rng.random(n)) * (total / max(n, 1))
        idx = self.sum_tree.find_prefixsum_idx(prefixes)
        np.minimum(idx, self._size - 1, out=idx)  # float round-off at the very end of the mass
        out = self._gather(idx)
        size = self._size
        p_min = self.min_tree.min() / total
        max_weight = (p_min * size) ** -beta
        p = self.sum_tree.leaves[idx].astype(np.float64) / total
        out[WEIGHTS] = ((p * size) ** -beta / max_weight).astype(np.float32)
        return out

    def update_priorities(self, indices: Any, priorities: Any) -> None:
        """Set the priorities of rows ``indices`` (as returned in ``batch_indexes``).

        Priorities must be finite and >= 0 (a NaN, an infinity or a negative value raises
        :class:`ReplayError` and nothing is changed); each is floored at ``eps``.
        """
        idx = np.asarray(indices).astype(np.int64, copy=False).ravel()
        p = check_priorities(priorities, idx.size, "indices")
        if idx.size == 0:
            return
        if idx.min() < 0 or idx.max() >= self._size:
            raise ReplayError(
                f"priority indices must be rows held in the buffer (0..{self._size - 1}), "
                f"got {int(idx.min())}..{int(idx.max())}"
            )
        np.maximum(p, self.eps, out=p)
        self.max_priority = max(self.max_priority, float(p.max()))
        pa = p**self.alpha
        update_trees([self.sum_tree, self.min_tree], idx, [pa, pa])
