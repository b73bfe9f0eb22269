"""A small pure-Python writer (and reader) of TensorBoard event files holding scalar summaries.

No TensorFlow, TensorBoard or protobuf is needed: records use TFRecord framing with masked
CRC32C checksums, and the ``Event``/``Summary`` protos are encoded by hand. The files are read by
TensorBoard and by ``tf.compat.v1.train.summary_iterator``.
"""

from __future__ import annotations

import math
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from rlcore.results import flatten

__all__ = ["EventFileWriter", "crc32c", "flatten_scalars", "masked_crc32c", "read_scalars"]


# --------------------------------------------------------------------------------------------- CRC32C


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) checksum of ``data``, as TFRecord uses it."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC32C that TFRecord stores: ``rotate_right(crc, 15) + 0xa282ead8`` mod 2**32."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _frame(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


# ------------------------------------------------------------------------------------ protobuf encoding


def _varint(value: int) -> bytes:
    """Protobuf varint; negative values as 64-bit two's complement (10 bytes), as int64 fields do."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _len_delimited(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _float32(value: float) -> bytes:
    """Little-endian float32; finite values beyond float32's range become +-inf rather than raising."""
    try:
        return struct.pack("<f", value)
    except OverflowError:
        return struct.pack("<f", math.copysign(math.inf, value))


def _encode_event(
    wall_time: float, step: int, *, file_version: str | None = None, summary: bytes | None = None
) -> bytes:
    """Encode an ``Event``: wall_time (1, double), step (2, int64), file_version (3) or summary (5)."""
    out = _key(1, 1) + struct.pack("<d", wall_time)
    if step:
        out += _key(2, 0) + _varint(step)
    if file_version is not None:
        out += _len_delimited(3, file_version.encode("utf-8"))
    if summary is not None:
        out += _len_delimited(5, summary)
    return out


def _encode_summary(values: Mapping[str, float]) -> bytes:
    """Encode a ``Summary`` with one ``Value`` (tag field 1, simple_value field 2) per item."""
    out = bytearray()
    for tag, value in values.items():
        val = _len_delimited(1, tag.encode("utf-8")) + _key(2, 5) + _float32(value)
        out += _len_delimited(1, val)
    return bytes(out)


# ---------------------------------------------------------------------------------------------- values


def _as_scalar(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a finite real number (bools excluded)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def flatten_scalars(result: Mapping[Any, Any], prefix: str = "") -> dict[str, float]:
    """Flatten a nested result dict into ``{"a/b/c": float}``, keeping only finite int/float leaves.

    Bools, NaN/inf, strings, lists and other non-scalars are left out; numpy scalars are converted.
    ``{"info": {"learner": {"loss": 0.3}}}`` becomes ``{"info/learner/loss": 0.3}``.
    """
    flat = flatten(result, f"{prefix}/" if prefix else "")
    return {name: number for name, value in flat.items() if (number := _as_scalar(value)) is not None}


# ---------------------------------------------------------------------------------------------- writer


class EventFileWriter:
    """Writes scalar summaries to a new TensorBoard event file in ``logdir``.

    The file is named ``events.out.tfevents.<time>.<hostname><filename_suffix>`` and starts with the
    ``brain.Event:2`` version event. Every :meth:`add_scalars` is flushed to the OS at once, so a killed
    process loses nothing it had written. Usable as a context manager.
    """

    def __init__(self, logdir: str | os.PathLike[str], filename_suffix: str = "") -> None:
        """Create ``logdir`` if needed and open a new event file there."""
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        base = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}"
        self._file: BinaryIO | None = None
        attempt = 0
        while self._file is None:
            # Never clobber another writer's file that was opened in the same second.
            name = base + (f".{attempt}" if attempt else "") + filename_suffix
            try:
                self._file = open(self.logdir / name, "xb")  # noqa: SIM115 (closed in close())
            except FileExistsError:
                attempt += 1
        #: Path of the event file.
        self.path = self.logdir / name
        self._lock = threading.Lock()
        self._write(_encode_event(now, 0, file_version="brain.Event:2"))

    def _write(self, event: bytes) -> None:
        with self._lock:
            if self._file is None:
                raise ValueError(f"EventFileWriter for {self.path} is closed")
            self._file.write(_frame(event))
            self._file.flush()

    def add_scalars(self, scalars: Mapping[str, float], step: int, wall_time: float | None = None) -> None:
        """Write one event at ``step`` holding a ``simple_value`` (float32) per tag.

        Non-finite and non-numeric values (and bools) are skipped silently; nothing is written if
        none is left. ``wall_time`` defaults to now.
        """
        values = {str(tag): number for tag, value in scalars.items() if (number := _as_scalar(value)) is not None}
        if not values:
            if self._file is None:
                raise ValueError(f"EventFileWriter for {self.path} is closed")
            return
        wall = time.time() if wall_time is None else float(wall_time)
        self._write(_encode_event(wall, int(step), summary=_encode_summary(values)))

    def flush(self) -> None:
        """Flush buffered records to the OS (a no-op once closed)."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        """Flush and close the file; closing twice is harmless."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._file is None

    def __enter__(self) -> EventFileWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventFileWriter({str(self.path)!r}{', closed' if self.closed else ''})"


# ---------------------------------------------------------------------------------------------- reader


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field, wire_type, value)`` of a protobuf message; value is int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire_type = key >> 3, key & 7
        value: Any
        if wire_type == 0:
            value, pos = _read_varint(buf, pos)
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            value, pos = buf[pos : pos + size], pos + size
        elif wire_type == 2:
            size, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        if pos > len(buf):
            raise ValueError("truncated protobuf field")
        yield field, wire_type, value


def _records(data: bytes, path: Path) -> Iterator[bytes]:
    """Yield the payloads of the TFRecords in ``data``, checking both CRCs of each."""
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if header_crc != masked_crc32c(header):
            raise ValueError(f"{path}: corrupt record length (CRC mismatch) at byte {pos}")
        start, end = pos + 12, pos + 12 + length
        if end + 4 > len(data):
            raise ValueError(f"{path}: truncated record at byte {pos} (needs {length} bytes of data)")
        payload = data[start:end]
        (data_crc,) = struct.unpack("<I", data[end : end + 4])
        if data_crc != masked_crc32c(payload):
            raise ValueError(f"{path}: corrupt record data (CRC mismatch) at byte {pos}")
        yield payload
        pos = end + 4


def read_scalars(path: str | os.PathLike[str]) -> list[tuple[int, str, float]]:
    """Read the scalar ``simple_value`` summaries of an event file as ``(step, tag, value)`` in file order.

    Both CRCs of every record are verified; a truncated or corrupt file raises ``ValueError`` naming it.
    """
    path = Path(path)
    out: list[tuple[int, str, float]] = []
    for payload in _records(path.read_bytes(), path):
        try:
            step, summaries = 0, []
            for field, wire_type, value in _fields(payload):
                if field == 2 and wire_type == 0:
                    step = value - (1 << 64) if value >= 1 << 63 else value
                elif field == 5 and wire_type == 2:
                    summaries.append(value)
            for summary in summaries:
                for field, wire_type, value in _fields(summary):
                    if field != 1 or wire_type != 2:
                        continue
                    tag, number = "", None
                    for vfield, vwire, vvalue in _fields(value):
                        if vfield == 1 and vwire == 2:
                            tag = vvalue.decode("utf-8")
                        elif vfield == 2 and vwire == 5:
                            (number,) = struct.unpack("<f", vvalue)
                    if number is not None:
                        out.append((step, tag, number))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: malformed event record: {err}") from err
    return out
