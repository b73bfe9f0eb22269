"""Recurrent sequences in row-aligned sample batches: chopping, padding, masking (numpy only).

Every recurrent policy (torch, TensorFlow, numpy) shares these helpers; none of them imports a
framework.

**Design: the batch stays row-aligned.** A :class:`~rlcore.sample_batch.SampleBatch` has one
row per env step in every column. A recurrent policy's batch carries, per row, the recurrent
state fed to the policy at that step (``state_in_0``, ``state_in_1``, ...: for the catalog's
LSTM ``[h, c]``, sampled by :class:`~rlcore.sampling.VectorSampler`) and the row-aligned
:data:`SEQ_LENS` column: at the first row of each sequence the sequence's length, 0 on every
other row. So ``batch["seq_lens"][batch["seq_lens"] > 0]`` is RLlib's ``seq_lens`` vector,
:func:`sequence_starts` the rows where sequences start and ``state_in_j`` at those rows
(:func:`initial_states`) the states each sequence starts from.

Sequences are cut by the rollout evaluator per sampled batch (never across two ``sample()``
calls), at every ``eps_id`` change and every ``max_seq_len`` rows (RLlib 2018's
``chop_into_sequences``). Concatenating batches, taking whole sequences
(:func:`sequence_minibatches`, :meth:`SampleBatch.shuffle` and :meth:`SampleBatch.minibatches`
when the batch has ``seq_lens``) and slicing at sequence starts keep the column valid;
:func:`check_sequences` says when it is not.

**Masking by unpadding.** A policy pads its inputs to ``[S, T, ...]`` (:func:`pad_sequences`,
or :func:`padded_indices` to gather inside the framework), runs its model over the ``T``
steps from :func:`initial_states`, then gathers the real rows back to ``[N, ...]`` (the
``valid`` positions of :func:`padded_indices`; :func:`unpad_sequences` in numpy). The loss then
stays row-wise: means over real rows are the masked means, so the loss formulas, their numpy
reference losses and the info numbers are the same for recurrent and plain batches. Gradients
do not flow into ``state_in`` (constants of the batch).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from rlcore.errors import SampleBatchError
from rlcore.sample_batch import ACTION_DIST_INPUTS, EPS_ID, OBS, SEQ_LENS, STATE_IN_PREFIX, VF_PREDS, SampleBatch

if TYPE_CHECKING:
    from rlcore.policy import Policy


def chop_into_sequences(eps_id: np.ndarray, max_seq_len: int) -> np.ndarray:
    """Lengths (``int32 [S]``) of the sequences of consecutive rows: a new sequence at every
    ``eps_id`` change and after every ``max_seq_len`` rows.

    ``chop_into_sequences([1, 1, 5, 5, 5, 5], 3) -> [2, 3, 1]``. Raises
    :class:`~rlcore.errors.SampleBatchError` for ``max_seq_len < 1``.
    """
    max_len = int(max_seq_len)
    if max_len < 1:
        raise SampleBatchError(f"max_seq_len must be at least 1, got {max_seq_len}")
    ids = np.asarray(eps_id).reshape(-1)
    n = len(ids)
    if n == 0:
        return np.zeros(0, np.int32)
    bounds = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1, [n]])
    runs = np.diff(bounds)
    full, rest = np.divmod(runs, max_len)
    counts = full + (rest > 0)
    # each run: `full` sequences of max_len, then one of `rest` if any
    lengths = np.full(int(counts.sum()), max_len, np.int32)
    ends = np.cumsum(counts) - 1
    has_rest = rest > 0
    lengths[ends[has_rest]] = rest[has_rest]
    return lengths


def seq_lens_column(eps_id: np.ndarray, max_seq_len: int) -> np.ndarray:
    """The row-aligned :data:`SEQ_LENS` column (``int32 [N]``): each sequence's length at its first
    row, 0 elsewhere (sequences of :func:`chop_into_sequences`)."""
    lengths = chop_into_sequences(eps_id, max_seq_len)
    return column_from_lengths(lengths)


def column_from_lengths(seq_lens: np.ndarray) -> np.ndarray:
    """The row-aligned :data:`SEQ_LENS` column for sequence lengths ``[S]`` (``int32 [sum]``)."""
    lengths = np.asarray(seq_lens, dtype=np.int32).reshape(-1)
    column = np.zeros(int(lengths.sum()), np.int32)
    column[sequence_starts(lengths)] = lengths
    return column


def sequence_starts(seq_lens: np.ndarray) -> np.ndarray:
    """Row index (``int64 [S]``) of the first row of each sequence, from lengths ``[S]``."""
    lengths = np.asarray(seq_lens, dtype=np.int64).reshape(-1)
    starts = np.zeros(len(lengths), np.int64)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def sequence_lengths(batch: SampleBatch) -> np.ndarray:
    """The sequence lengths ``int32 [S]`` of a batch's :data:`SEQ_LENS` column.

    Raises :class:`~rlcore.errors.SampleBatchError` when the batch has no such column or the
    column is inconsistent (negative, not starting at row 0, lengths not matching the zero rows
    between starts, not summing to the batch's rows), naming the first bad sequence.
    """
    if SEQ_LENS not in batch:
        raise SampleBatchError(
            f"the batch has no {SEQ_LENS!r} column (columns: {sorted(batch)}); recurrent policies learn on "
            "batches from a rollout evaluator whose policy is recurrent (model.use_lstm), which adds it"
        )
    column = np.asarray(batch[SEQ_LENS])
    if column.ndim != 1 or column.dtype.kind not in "iu":
        raise SampleBatchError(
            f"column {SEQ_LENS!r} must be integers [N] (a sequence's length at its first row, 0 elsewhere), "
            f"got {column.dtype}{list(column.shape)}"
        )
    n = len(column)
    if n == 0:
        return np.zeros(0, np.int32)
    if (column < 0).any():
        row = int(np.flatnonzero(column < 0)[0])
        raise SampleBatchError(f"column {SEQ_LENS!r} has a negative length {int(column[row])} at row {row}")
    positions = np.flatnonzero(column)
    lengths = column[positions].astype(np.int32)
    if not len(positions) or positions[0] != 0:
        raise SampleBatchError(
            f"column {SEQ_LENS!r} must start a sequence at row 0, got {column[:5].tolist()}...: the batch was cut "
            "inside a sequence (slice or take rows at sequence starts, or use sequence_minibatches)"
        )
    expected = sequence_starts(lengths)
    bad = np.flatnonzero(positions != expected)
    if len(bad) or int(lengths.sum()) != n:
        k = int(bad[0]) - 1 if len(bad) else len(lengths) - 1
        raise SampleBatchError(
            f"column {SEQ_LENS!r} is inconsistent: sequence {k} starts at row {int(positions[k])} with length "
            f"{int(lengths[k])}, but the next sequence starts at row "
            f"{int(positions[k + 1]) if k + 1 < len(positions) else n} (lengths sum to {int(lengths.sum())}, "
            f"the batch has {n} rows): the batch was cut inside a sequence or its rows reordered"
        )
    return lengths


def check_sequences(batch: SampleBatch, max_seq_len: int | None = None) -> None:
    """Check a batch's sequences: a consistent :data:`SEQ_LENS` column (:func:`sequence_lengths`),
    no sequence spanning two ``eps_id`` values (when the batch has ``eps_id``), none longer than
    ``max_seq_len`` (when given).

    Raises :class:`~rlcore.errors.SampleBatchError` naming the first bad sequence (its index,
    first row and length).
    """
    lengths = sequence_lengths(batch)
    starts = sequence_starts(lengths)
    if max_seq_len is not None:
        too_long = np.flatnonzero(lengths > int(max_seq_len))
        if len(too_long):
            k = int(too_long[0])
            raise SampleBatchError(
                f"sequence {k} (rows {int(starts[k])}..{int(starts[k] + lengths[k]) - 1}) has {int(lengths[k])} rows, "
                f"more than max_seq_len={int(max_seq_len)}"
            )
    if EPS_ID in batch and len(lengths):
        ids = np.asarray(batch[EPS_ID])
        changes = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        seq_of_row = np.repeat(np.arange(len(lengths)), lengths)
        crossing = changes[seq_of_row[changes] == seq_of_row[changes - 1]]
        if len(crossing):
            row = int(crossing[0])
            k = int(seq_of_row[row])
            raise SampleBatchError(
                f"sequence {k} (rows {int(starts[k])}..{int(starts[k] + lengths[k]) - 1}) spans two episodes: "
                f"eps_id changes from {ids[row - 1]} to {ids[row]} at row {row}; a sequence holds one episode's "
                "consecutive steps (the recurrent state restarts at an episode's first step)"
            )


def _lengths_and_pad(seq_lens: np.ndarray, pad_to: int | None) -> tuple[np.ndarray, int]:
    lengths = np.asarray(seq_lens, dtype=np.int64).reshape(-1)
    longest = int(lengths.max()) if len(lengths) else 0
    t = longest if pad_to is None else int(pad_to)
    if t < longest:
        raise SampleBatchError(f"pad_to={pad_to} is shorter than the longest sequence ({longest} rows)")
    return lengths, t


def sequence_mask(seq_lens: np.ndarray, pad_to: int | None = None) -> np.ndarray:
    """``bool [S, T]``: True at the real rows of each padded sequence (``T = max(seq_lens)`` or ``pad_to``)."""
    lengths, t = _lengths_and_pad(seq_lens, pad_to)
    return np.arange(t)[None, :] < lengths[:, None]


def padded_indices(seq_lens: np.ndarray, pad_to: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Index maps between rows ``[N]`` and padded sequences ``[S, T]`` (flattened ``[S*T]``).

    Returns ``(gather, valid, T)``: ``gather [S*T]`` the batch row at each padded position (-1 for
    padding), ``valid [N]`` the flat padded position of each batch row in row order (so
    ``padded.reshape(S*T, ...)[valid]`` unpads), ``T = max(seq_lens)`` or ``pad_to``. Raises
    :class:`~rlcore.errors.SampleBatchError` when ``pad_to`` is shorter than a sequence.
    """
    lengths, t = _lengths_and_pad(seq_lens, pad_to)
    mask = np.arange(t)[None, :] < lengths[:, None]
    valid = np.flatnonzero(mask.reshape(-1))
    gather = np.full(len(lengths) * t, -1, np.int64)
    gather[valid] = np.arange(len(valid))
    return gather, valid, t


def pad_sequences(x: np.ndarray, seq_lens: np.ndarray, pad_to: int | None = None) -> np.ndarray:
    """Rows ``[N, ...]`` as padded sequences ``[S, T, ...]`` with zeros in the padding."""
    arr = np.asarray(x)
    _, valid, t = padded_indices(seq_lens, pad_to)
    if len(arr) != len(valid):
        raise SampleBatchError(f"pad_sequences: {len(arr)} rows, but the sequence lengths sum to {len(valid)}")
    s = len(np.asarray(seq_lens).reshape(-1))
    out = np.zeros((s * t, *arr.shape[1:]), dtype=arr.dtype)
    out[valid] = arr
    return out.reshape(s, t, *arr.shape[1:])


def unpad_sequences(x: np.ndarray, seq_lens: np.ndarray) -> np.ndarray:
    """Padded sequences ``[S, T, ...]`` back to rows ``[N, ...]`` (the padding dropped)."""
    arr = np.asarray(x)
    s, t = arr.shape[:2]
    _, valid, _ = padded_indices(seq_lens, t)
    if len(np.asarray(seq_lens).reshape(-1)) != s:
        raise SampleBatchError(f"unpad_sequences: {s} padded sequences, but {len(np.asarray(seq_lens))} lengths")
    return arr.reshape(s * t, *arr.shape[2:])[valid]


def padded_forward_inputs(
    batch: SampleBatch, obs: np.ndarray | None = None
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """What a recurrent model's padded forward pass takes from a batch with ``seq_lens``.

    Returns ``(obs, states, valid)``: the observations as padded sequences ``[S, T, ...]`` float32
    (zeros in the padding; ``obs`` defaults to the batch's ``obs`` column), the state each sequence
    starts from (:func:`initial_states`, float32, C-contiguous, ``[S, *state_shape_j]`` each) and
    ``valid`` ``[N]`` int64, the flat positions in ``S * T`` of the batch's rows in row order: a
    policy runs its model over ``T`` from ``states`` and gathers ``valid`` to get row-aligned
    outputs (masking by unpadding). Raises :class:`~rlcore.errors.SampleBatchError` as
    :func:`sequence_lengths` and :func:`initial_states`.
    """
    seq_lens = sequence_lengths(batch)
    rows = np.asarray(batch[OBS] if obs is None else obs, np.float32)
    states = [np.ascontiguousarray(s, dtype=np.float32) for s in initial_states(batch)]
    return pad_sequences(rows, seq_lens), states, padded_indices(seq_lens)[1].astype(np.int64)


def state_columns(batch: SampleBatch) -> list[str]:
    """The batch's ``state_in_0``, ``state_in_1``, ... column names, in order (up to the first gap)."""
    names: list[str] = []
    while f"{STATE_IN_PREFIX}{len(names)}" in batch:
        names.append(f"{STATE_IN_PREFIX}{len(names)}")
    return names


def initial_states(batch: SampleBatch) -> list[np.ndarray]:
    """The recurrent state each sequence starts from: ``state_in_j`` at the sequence starts
    (``[S, *state_shape_j]`` per state tensor). Raises :class:`~rlcore.errors.SampleBatchError`
    as :func:`sequence_lengths`, or when the batch has no ``state_in_0`` column."""
    starts = sequence_starts(sequence_lengths(batch))
    names = state_columns(batch)
    if not names:
        raise SampleBatchError(
            f"the batch has no {STATE_IN_PREFIX}0 column (columns: {sorted(batch)}); a recurrent policy's batch "
            "carries the state fed at each step (sampled by the rollout evaluator)"
        )
    return [np.asarray(batch[name])[starts] for name in names]


def rechop(batch: SampleBatch, max_seq_len: int) -> SampleBatch:
    """A copy of ``batch`` whose sequences are cut again into pieces of at most ``max_seq_len``
    rows (each existing sequence is split; sequences are never joined). Since every row carries
    its own ``state_in``, a recurrent loss is the same for any chopping (what the kit checks)."""
    lengths = sequence_lengths(batch)
    max_len = int(max_seq_len)
    if max_len < 1:
        raise SampleBatchError(f"max_seq_len must be at least 1, got {max_seq_len}")
    new = np.concatenate([chop_into_sequences(np.zeros(int(n)), max_len) for n in lengths] or [np.zeros(0, np.int32)])
    out = batch.copy()
    out[SEQ_LENS] = column_from_lengths(new)
    return out


def sequence_minibatches(
    batch: SampleBatch,
    size: int,
    *,
    shuffle: bool = True,
    rng: np.random.Generator | int | None = None,
    drop_last: bool = False,
) -> Iterator[SampleBatch]:
    """Minibatches of whole sequences of about ``size`` rows each.

    Sequences (in a random order with ``shuffle``) are grouped while the group stays within
    ``size`` rows (a sequence longer than ``size`` is a minibatch of its own); each minibatch has
    its own consistent :data:`SEQ_LENS` column. ``drop_last`` drops a last group that is short
    only because the sequences ran out: fewer than ``size - max(seq_lens) + 1`` rows (every
    other group has at least that many, since the next sequence did not fit).
    Raises :class:`~rlcore.errors.SampleBatchError` for ``size < 1`` or a bad ``seq_lens`` column.
    """
    if size <= 0:
        raise SampleBatchError(f"minibatch size must be positive, got {size}")
    lengths = sequence_lengths(batch)
    order = np.random.default_rng(rng).permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    rows = _sequence_rows(lengths, order)
    bounds = [0]
    filled = 0
    for n in lengths[order].tolist():
        if filled and filled + n > size:
            bounds.append(bounds[-1] + filled)
            filled = 0
        filled += n
    full = size - int(lengths.max()) + 1 if len(lengths) else 1
    if filled and not (drop_last and filled < full):
        bounds.append(bounds[-1] + filled)
    for a, b in itertools.pairwise(bounds):
        yield batch.take(rows[a:b])


def _sequence_rows(lengths: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Row indices of the sequences taken in ``order`` (each sequence's rows in order), vectorized."""
    lens = lengths.astype(np.int64)[order]
    starts = sequence_starts(lengths)[order]
    offsets = sequence_starts(lens)  # where each taken sequence begins in the output
    return np.repeat(starts - offsets, lens) + np.arange(int(lens.sum()))


def shuffle_sequences(batch: SampleBatch, rng: np.random.Generator | int | None = None) -> SampleBatch:
    """A new batch with the whole sequences in a random order (rows within a sequence kept in order)."""
    lengths = sequence_lengths(batch)
    return batch.take(_sequence_rows(lengths, np.random.default_rng(rng).permutation(len(lengths))))


def replay_sequences(policy: Policy, batch: SampleBatch) -> dict[str, np.ndarray]:
    """Step ``policy.compute_actions(obs_t, state, explore=False)`` over every sequence of ``batch``
    at once (one batched call per time step, from :func:`initial_states`) under the policy's
    current weights; returns the row-aligned extras it gives (``action_dist_inputs``,
    ``vf_preds``...: ``[N, ...]`` in the batch's row order).

    The numpy reference of a recurrent loss: what the framework's padded forward pass must
    equal. Raises :class:`~rlcore.errors.SampleBatchError` as :func:`initial_states`.
    """
    lengths = sequence_lengths(batch).astype(np.int64)
    starts = sequence_starts(lengths)
    state = [np.array(s, copy=True) for s in initial_states(batch)]
    obs = np.asarray(batch[OBS])
    out: dict[str, np.ndarray] = {}
    for t in range(int(lengths.max()) if len(lengths) else 0):
        active = np.flatnonzero(lengths > t)
        rows = starts[active] + t
        _, state_out, extras = policy.compute_actions(obs[rows], [s[active] for s in state], False)
        for j, s in enumerate(state_out):
            state[j][active] = s
        for key, value in extras.items():
            arr = np.asarray(value)
            if key not in out:
                out[key] = np.zeros((batch.count, *arr.shape[1:]), dtype=arr.dtype)
            out[key][rows] = arr
    return out


#: The extras :func:`replay_sequences` returns for an actor-critic policy.
REPLAYED: tuple[str, ...] = (ACTION_DIST_INPUTS, VF_PREDS)

__all__ = [
    "REPLAYED",
    "SEQ_LENS",
    "check_sequences",
    "chop_into_sequences",
    "column_from_lengths",
    "initial_states",
    "pad_sequences",
    "padded_forward_inputs",
    "padded_indices",
    "rechop",
    "replay_sequences",
    "seq_lens_column",
    "sequence_lengths",
    "sequence_mask",
    "sequence_minibatches",
    "sequence_starts",
    "shuffle_sequences",
    "state_columns",
    "unpad_sequences",
]
