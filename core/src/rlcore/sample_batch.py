"""SampleBatch: a mapping of column name to numpy array, all with the same first dimension."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np

from rlcore.errors import SampleBatchError

OBS = "obs"
ACTIONS = "actions"
REWARDS = "rewards"
TERMINATEDS = "terminateds"
TRUNCATEDS = "truncateds"
NEXT_OBS = "next_obs"
ACTION_LOGP = "action_logp"
ACTION_DIST_INPUTS = "action_dist_inputs"
VF_PREDS = "vf_preds"
ADVANTAGES = "advantages"
VALUE_TARGETS = "value_targets"
EPS_ID = "eps_id"
WEIGHTS = "weights"
#: The factor of the bootstrap term of an n-step TD target (``gamma ** steps``, 0 after termination).
DISCOUNTS = "discounts"
BATCH_INDEXES = "batch_indexes"
#: Recurrent policies' batches: at the first row of each sequence its length, 0 on the other rows
#: (row-aligned; see :mod:`rlcore.sequences`).
SEQ_LENS = "seq_lens"
#: Prefix of the columns holding the recurrent state fed to the policy at each step
#: (``state_in_0``, ``state_in_1``, ...; the same constant as :data:`rlcore.sampling.STATE_IN_PREFIX`).
STATE_IN_PREFIX = "state_in_"

#: The standard column names, in documentation order.
STANDARD_COLUMNS: tuple[str, ...] = (
    OBS,
    ACTIONS,
    REWARDS,
    TERMINATEDS,
    TRUNCATEDS,
    NEXT_OBS,
    ACTION_LOGP,
    ACTION_DIST_INPUTS,
    VF_PREDS,
    ADVANTAGES,
    VALUE_TARGETS,
    EPS_ID,
    WEIGHTS,
    DISCOUNTS,
    BATCH_INDEXES,
    SEQ_LENS,
)


class SampleBatch(MutableMapping[str, np.ndarray]):
    """Columns of experience: ``name -> np.ndarray`` whose first dimensions are all equal.

    ``SampleBatch(obs=..., actions=...)`` or ``SampleBatch({"obs": ...})``. Values are converted
    with :func:`numpy.asarray`; a scalar or a column of another length raises
    :class:`~rlcore.errors.SampleBatchError`. Standard column names are module constants
    (``OBS``, ``ACTIONS``, ``REWARDS``, ``TERMINATEDS``, ``TRUNCATEDS``, ``NEXT_OBS``,
    ``ACTION_LOGP``, ``VF_PREDS``, ``ADVANTAGES``, ``VALUE_TARGETS``, ``EPS_ID``).
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None, /, **columns: Any) -> None:
        self._data: dict[str, np.ndarray] = {}
        merged = {**(dict(data) if data is not None else {}), **columns}
        for name, value in merged.items():
            self[name] = value

    # Mapping protocol -------------------------------------------------------
    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(f"SampleBatch has no column {key!r}; columns: {sorted(self._data)}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        arr = np.asarray(value)
        if arr.ndim == 0:
            raise SampleBatchError(f"column {key!r} is a scalar; every column needs a first (batch) dimension")
        if self._data:
            count = self.count
            if len(arr) != count and not (len(self._data) == 1 and key in self._data):
                raise SampleBatchError(
                    f"column {key!r} has {len(arr)} rows but the batch has {count} "
                    f"(columns {self._lengths()}); all columns must have the same first dimension"
                )
        self._data[key] = arr

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        """The number of columns (use :attr:`count` for rows)."""
        return len(self._data)

    def __repr__(self) -> str:
        cols = ", ".join(f"{k}: {v.dtype}{list(v.shape)}" for k, v in self._data.items())
        return f"SampleBatch(count={self.count}, {cols})"

    def _lengths(self) -> dict[str, int]:
        return {k: len(v) for k, v in self._data.items()}

    # Rows -------------------------------------------------------------------
    @property
    def count(self) -> int:
        """The number of rows (0 for a batch with no columns)."""
        for v in self._data.values():
            return len(v)
        return 0

    def copy(self) -> SampleBatch:
        """A copy whose arrays are copies too."""
        return SampleBatch({k: v.copy() for k, v in self._data.items()})

    def slice(self, start: int, end: int) -> SampleBatch:
        """Rows ``start:end`` (views, not copies)."""
        return SampleBatch({k: v[start:end] for k, v in self._data.items()})

    def take(self, indices: np.ndarray) -> SampleBatch:
        """The rows at ``indices`` (copies), in that order."""
        return SampleBatch({k: v[indices] for k, v in self._data.items()})

    def shuffle(self, rng: np.random.Generator | int | None = None) -> SampleBatch:
        """A new batch with the rows in a random order (one permutation for every column).

        With a :data:`SEQ_LENS` column (a recurrent policy's batch) whole sequences are permuted,
        the rows of each kept in order (:func:`rlcore.sequences.shuffle_sequences`).
        """
        if SEQ_LENS in self._data:
            from rlcore.sequences import shuffle_sequences

            return shuffle_sequences(self, rng)
        gen = np.random.default_rng(rng)
        return self.take(gen.permutation(self.count))

    def minibatches(
        self,
        size: int,
        *,
        shuffle: bool = True,
        rng: np.random.Generator | int | None = None,
        drop_last: bool = False,
    ) -> Iterator[SampleBatch]:
        """Yield minibatches of ``size`` rows (the last may be smaller unless ``drop_last``).

        With a :data:`SEQ_LENS` column (a recurrent policy's batch) minibatches hold whole
        sequences, grouped up to ``size`` rows each (:func:`rlcore.sequences.sequence_minibatches`).
        :meth:`take` and :meth:`slice` stay raw row operations.
        """
        if size <= 0:
            raise SampleBatchError(f"minibatch size must be positive, got {size}")
        if SEQ_LENS in self._data:
            from rlcore.sequences import sequence_minibatches

            yield from sequence_minibatches(self, size, shuffle=shuffle, rng=rng, drop_last=drop_last)
            return
        batch = self.shuffle(rng) if shuffle else self
        n = batch.count
        stop = n - n % size if drop_last else n
        for start in range(0, stop, size):
            yield batch.slice(start, min(start + size, n))

    def split_by_episode(self) -> list[SampleBatch]:
        """Consecutive runs of equal ``eps_id`` as separate batches."""
        ids = self[EPS_ID]
        if self.count == 0:
            return []
        cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        bounds = [0, *cuts.tolist(), self.count]
        return [self.slice(a, b) for a, b in itertools.pairwise(bounds)]

    @staticmethod
    def concat_samples(batches: Iterable[SampleBatch]) -> SampleBatch:
        """Concatenate batches row-wise. All must have the same columns."""
        batches = [b for b in batches if b.count > 0 or len(b) > 0]
        if not batches:
            return SampleBatch()
        keys = list(batches[0].keys())
        for b in batches[1:]:
            if set(b.keys()) != set(keys):
                raise SampleBatchError(
                    f"cannot concatenate batches with different columns: {sorted(keys)} vs {sorted(b.keys())}"
                )
        return SampleBatch({k: np.concatenate([b[k] for b in batches]) for k in keys})

    def concat(self, other: SampleBatch) -> SampleBatch:
        """This batch followed by ``other``."""
        return SampleBatch.concat_samples([self, other])

    def to_dict(self) -> dict[str, np.ndarray]:
        """A plain dict of the columns (the arrays are not copied)."""
        return dict(self._data)

    def size_bytes(self) -> int:
        """Bytes held by the column arrays."""
        return int(sum(v.nbytes for v in self._data.values()))

    def __getstate__(self) -> dict[str, np.ndarray]:
        return self._data

    def __setstate__(self, state: dict[str, np.ndarray]) -> None:
        self._data = state
