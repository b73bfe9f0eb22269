"""Tests of the pure-Python TensorBoard event writer: format and round trip (TF/tensorboardX interop: tests/)."""

from __future__ import annotations

import math
import socket
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlcore.tensorboard import EventFileWriter, crc32c, flatten_scalars, masked_crc32c, read_scalars


def _write_sample(logdir: Path) -> Path:
    with EventFileWriter(logdir) as writer:
        writer.add_scalars({"episode_reward_mean": 1.5, "info/learner/loss": 0.25}, step=1, wall_time=100.0)
        writer.add_scalars({"episode_reward_mean": -2.0}, step=2, wall_time=101.0)
        writer.add_scalars({"big_step": 3.0}, step=2**40, wall_time=102.0)
    return writer.path


def test_crc32c_known_answers() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4 test vector
    assert masked_crc32c(b"") == 0xA282EAD8


def test_file_name_and_version_record(tmp_path: Path) -> None:
    logdir = tmp_path / "new" / "run"
    with EventFileWriter(logdir, filename_suffix=".v2") as writer:
        pass
    name = writer.path.name
    assert writer.path.parent == logdir
    assert name.startswith("events.out.tfevents.")
    assert name.endswith(f".{socket.gethostname()}.v2")
    assert name.split(".")[3].isdigit()
    data = writer.path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert len(data) == 8 + 4 + length + 4
    assert b"brain.Event:2" in data
    assert read_scalars(writer.path) == []


def test_two_writers_in_one_second_do_not_clobber(tmp_path: Path) -> None:
    with EventFileWriter(tmp_path) as a, EventFileWriter(tmp_path) as b:
        a.add_scalars({"x": 1.0}, step=1)
        b.add_scalars({"x": 2.0}, step=1)
    assert a.path != b.path
    assert read_scalars(a.path) == [(1, "x", 1.0)]
    assert read_scalars(b.path) == [(1, "x", 2.0)]


def test_round_trip(tmp_path: Path) -> None:
    path = _write_sample(tmp_path)
    assert read_scalars(path) == [
        (1, "episode_reward_mean", 1.5),
        (1, "info/learner/loss", 0.25),
        (2, "episode_reward_mean", -2.0),
        (2**40, "big_step", 3.0),
    ]


def test_values_are_float32_and_odd_values_skipped(tmp_path: Path) -> None:
    values: dict[str, Any] = {
        "pi": math.pi,
        "np_int": np.int64(7),
        "np_float": np.float32(0.5),
        "huge": 1e40,  # finite in float64, beyond float32: written as inf
        "nan": math.nan,
        "inf": math.inf,
        "flag": True,
        "np_flag": np.bool_(False),
        "text": "hello",
        "none": None,
        "ünïcode/tag": 1,
    }
    with EventFileWriter(tmp_path) as writer:
        writer.add_scalars(values, step=-3)
        writer.add_scalars({"nan_only": math.nan}, step=4)  # nothing left: no record
    rows = read_scalars(writer.path)
    assert rows == [
        (-3, "pi", float(np.float32(math.pi))),
        (-3, "np_int", 7.0),
        (-3, "np_float", 0.5),
        (-3, "huge", math.inf),
        (-3, "ünïcode/tag", 1.0),
    ]


def test_flushed_after_each_add(tmp_path: Path) -> None:
    writer = EventFileWriter(tmp_path)
    writer.add_scalars({"a": 1.0}, step=1)
    # Another reader sees the record before close (as after a killed process).
    assert read_scalars(writer.path) == [(1, "a", 1.0)]
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.add_scalars({"a": 2.0}, step=2)


def test_truncated_file_raises(tmp_path: Path) -> None:
    path = _write_sample(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) - 10, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"truncated.*") as info:
            read_scalars(path)
        assert str(path) in str(info.value)


def test_corrupt_file_raises(tmp_path: Path) -> None:
    path = _write_sample(tmp_path)
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # inside the last record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC") as info:
        read_scalars(path)
    assert str(path) in str(info.value)
    data = bytearray(_write_sample(tmp_path / "b").read_bytes())
    data[0] ^= 0x01  # the first record's length
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="length"):
        read_scalars(path)


def test_flatten_scalars() -> None:
    result = {
        "episode_reward_mean": 1.0,
        "episode_reward_min": math.nan,
        "episodes_this_iter": 3,
        "done": False,
        "config": {"env": "CartPole-v1", "lr": 1e-3, "model": {"fcnet_hiddens": [64, 64]}},
        "info": {
            "learner": {"default_policy": {"loss": np.float32(0.3), "kl": np.float64(math.inf)}},
            "num_steps": np.int64(100),
            "flag": np.bool_(True),
            "arr0d": np.array(2.5),
            "arr": np.zeros(3),
        },
        "hist": [1.0, 2.0],
        "none": None,
    }
    flat = flatten_scalars(result)
    assert flat == {
        "episode_reward_mean": 1.0,
        "episodes_this_iter": 3.0,
        "config/lr": 1e-3,
        "info/learner/default_policy/loss": pytest.approx(0.3),
        "info/num_steps": 100.0,
        "info/arr0d": 2.5,
    }
    assert all(type(v) is float for v in flat.values())
    assert flatten_scalars({"a": {"b": 1}}, prefix="ray/tune") == {"ray/tune/a/b": 1.0}
    assert flatten_scalars({}) == {}
