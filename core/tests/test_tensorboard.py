"""TensorBoard event files written through tensorboardX: what we write and the reader the tests use.

TensorFlow's own reader checks the same files in tests/test_tensorboard_interop.py.
"""

from __future__ import annotations

import math
import socket
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlcore.loggers.tensorboard_logger import TensorBoardWriter, flatten_scalars, read_scalars


def _write_sample(logdir: Path) -> Path:
    writer = TensorBoardWriter(logdir)
    writer.add_scalars({"episode_reward_mean": 1.5, "info/learner/loss": 0.25}, step=1, wall_time=100.0)
    writer.add_scalars({"episode_reward_mean": -2.0}, step=2, wall_time=101.0)
    writer.add_scalars({"big_step": 3.0}, step=2**40, wall_time=102.0)
    writer.close()
    return writer.path


def test_file_name_and_version_record(tmp_path: Path) -> None:
    logdir = tmp_path / "new" / "run"
    writer = TensorBoardWriter(logdir)
    writer.close()
    name = writer.path.name
    assert writer.path.parent == logdir and writer.path.is_file()
    assert name.startswith("events.out.tfevents.") and name.endswith(f".{socket.gethostname()}")
    data = writer.path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert len(data) == 8 + 4 + length + 4  # one record: the version event
    assert b"brain.Event:2" in data
    assert read_scalars(writer.path) == []


def test_two_writers_in_one_folder_do_not_clobber(tmp_path: Path) -> None:
    a, b = TensorBoardWriter(tmp_path), TensorBoardWriter(tmp_path)
    a.add_scalars({"x": 1.0}, step=1)
    b.add_scalars({"x": 2.0}, step=1)
    a.close()
    b.close()
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
    writer = TensorBoardWriter(tmp_path)
    writer.add_scalars(values, step=-3)
    writer.add_scalars({"nan_only": math.nan}, step=4)  # nothing left: no record
    writer.close()
    assert read_scalars(writer.path) == [
        (-3, "pi", float(np.float32(math.pi))),
        (-3, "np_int", 7.0),
        (-3, "np_float", 0.5),
        (-3, "huge", math.inf),
        (-3, "ünïcode/tag", 1.0),
    ]


def test_a_result_is_written_at_timesteps_total(tmp_path: Path) -> None:
    writer = TensorBoardWriter(tmp_path)
    result = {"training_iteration": 3, "timesteps_total": 600, "episode_reward_mean": 2.0, "config": {"lr": 0.1}}
    writer.add_result(result)
    writer.add_result({"training_iteration": 4, "loss": 1.0})  # no timesteps: the iteration is the step
    writer.close()
    assert read_scalars(writer.path) == [
        (600, "timesteps_total", 600.0),
        (600, "episode_reward_mean", 2.0),
        (4, "loss", 1.0),
    ]


def test_flushed_after_each_add(tmp_path: Path) -> None:
    writer = TensorBoardWriter(tmp_path)
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
