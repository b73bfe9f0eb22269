"""The built-in plugin ``tensorboard``: TensorBoard event files of a trial folder, through tensorboardX.

Each result becomes one event at step ``timesteps_total`` holding a scalar (``simple_value``,
float32) per finite numeric leaf of the result, named by its path (``info/learner/loss``);
``config`` and ``training_iteration`` are left out, as are bools, strings, lists and NaN.
tensorboardX names the file (``events.out.tfevents.<time>.<host>``), writes its version record
and frames every record (TFRecord, masked CRC32C); we write through its synchronous
``EventsWriter`` and flush after every result, so a killed run keeps what it reported
(tensorboardX's ``SummaryWriter`` queues events for a background thread).

:func:`read_scalars` reads such a file back (tests and scripts; ``rlcore plot`` reads
``result.json``). TensorBoard, ``tf.compat.v1.train.summary_iterator`` and tensorboardX read ours.
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlcore.loggers import TrialLogger

__all__ = ["TensorBoardLogger", "TensorBoardWriter", "flatten_scalars", "read_scalars"]

#: Result keys that are not plotted (the config; the iteration is a step, not a curve).
SKIPPED_KEYS: frozenset[str] = frozenset({"config", "training_iteration"})


def _as_scalar(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a finite real number (bools excluded)."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def flatten_scalars(result: Mapping[Any, Any], prefix: str = "") -> dict[str, float]:
    """Flatten a nested result dict into ``{"a/b/c": float}``, keeping only finite int/float leaves.

    Bools, NaN/inf, strings, lists and other non-scalars are left out; numpy scalars and 0-d
    arrays are converted. ``{"info": {"learner": {"loss": 0.3}}}`` becomes ``{"info/learner/loss": 0.3}``.
    """
    from rlcore.results import flatten

    flat = flatten(result, f"{prefix}/" if prefix else "")
    return {name: number for name, value in flat.items() if (number := _as_scalar(value)) is not None}


class TensorBoardWriter:
    """One event file in ``logdir``, written synchronously through tensorboardX's ``EventsWriter``."""

    def __init__(self, logdir: str | os.PathLike[str], filename_suffix: str = "") -> None:
        """Create ``logdir`` if needed and open a new event file there (tensorboardX names it)."""
        from tensorboardX.event_file_writer import EventsWriter

        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        before = set(self.logdir.glob("events.out.tfevents.*"))
        if before:  # tensorboardX's name has a 1 s resolution and it opens with "wb": never clobber a file
            filename_suffix = f".{len(before)}{filename_suffix}"
        self._events: Any = EventsWriter(str(self.logdir / "events"), filename_suffix)
        self._events.flush()
        #: Path of the event file.
        self.path = Path(self._events._file_name)

    def add_scalars(self, scalars: Mapping[str, Any], step: int, wall_time: float | None = None) -> None:
        """Write one event at ``step`` holding a float32 ``simple_value`` per tag, and flush it.

        Non-finite, non-numeric and bool values are skipped; nothing is written if none is left.
        ``wall_time`` defaults to now. Raises ``ValueError`` once closed.
        """
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        if self._events is None:
            raise ValueError(f"the TensorBoard writer of {self.path} is closed")
        values = [
            Summary.Value(tag=str(tag), simple_value=number)
            for tag, value in scalars.items()
            if (number := _as_scalar(value)) is not None
        ]
        if not values:
            return
        wall = time.time() if wall_time is None else float(wall_time)
        self._events.write_event(Event(wall_time=wall, step=int(step), summary=Summary(value=values)))
        self._events.flush()

    def add_result(self, result: Mapping[str, Any]) -> None:
        """Write a ``train()`` result's scalars at step ``timesteps_total`` (else ``training_iteration``)."""
        scalars = flatten_scalars({k: v for k, v in result.items() if k not in SKIPPED_KEYS})
        step = result.get("timesteps_total", result.get("training_iteration", 0))
        self.add_scalars(scalars, step=int(step or 0))

    def close(self) -> None:
        """Flush and close the file; closing twice is harmless."""
        if self._events is not None:
            self._events.close()
            self._events = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._events is None


class TensorBoardLogger(TrialLogger[TensorBoardWriter]):
    """Writes an event per result to a new event file in the trial folder."""

    def open(self, logdir: Path, params: Mapping[str, Any]) -> TensorBoardWriter:
        """Open a new event file in ``logdir``."""
        return TensorBoardWriter(logdir)

    def write(self, writer: TensorBoardWriter, result: Mapping[str, Any]) -> None:
        """Write ``result``'s scalars."""
        writer.add_result(result)

    def close(self, writer: TensorBoardWriter) -> None:
        """Close the event file."""
        writer.close()


def read_scalars(path: str | os.PathLike[str]) -> list[tuple[int, str, float]]:
    """The ``simple_value`` scalars of an event file as ``(step, tag, value)``, in file order.

    Both masked CRC32Cs of every record are checked; a truncated or corrupt file raises
    ``ValueError`` naming the file and the byte offset.
    """
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    path = Path(path)
    data = path.read_bytes()
    out: list[tuple[int, str, float]] = []
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if header_crc != masked_crc32c(header):
            raise ValueError(f"{path}: corrupt record length (CRC mismatch) at byte {pos}")
        end = pos + 12 + length
        if end + 4 > len(data):
            raise ValueError(f"{path}: truncated record at byte {pos} (needs {length} bytes of data)")
        payload = data[pos + 12 : end]
        (data_crc,) = struct.unpack("<I", data[end : end + 4])
        if data_crc != masked_crc32c(payload):
            raise ValueError(f"{path}: corrupt record data (CRC mismatch) at byte {pos}")
        try:
            event = Event.FromString(payload)
        except Exception as exc:
            raise ValueError(f"{path}: malformed event record at byte {pos}: {exc}") from exc
        out += [(event.step, v.tag, v.simple_value) for v in event.summary.value if v.HasField("simple_value")]
        pos = end + 4
    return out
