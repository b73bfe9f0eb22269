"""TensorBoard event files written by rlcore read by TensorFlow and tensorboardX (and theirs by us).

Here, not in core/tests, because the core's own session has neither installed; the full session
has both (TensorFlow through rl_tf, tensorboardX through ray[tune]).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from rlcore.tensorboard import EventFileWriter, read_scalars


def _write_sample(logdir: Path) -> Path:
    with EventFileWriter(logdir) as writer:
        writer.add_scalars({"episode_reward_mean": 1.5, "info/learner/loss": 0.25}, step=1, wall_time=100.0)
        writer.add_scalars({"episode_reward_mean": -2.0}, step=2, wall_time=101.0)
        writer.add_scalars({"big_step": 3.0}, step=2**40, wall_time=102.0)
    return writer.path


def test_tensorflow_reads_our_file(tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="rl_tf not installed")
    path = _write_sample(tmp_path)
    events = list(tf.compat.v1.train.summary_iterator(str(path)))
    assert events[0].file_version == "brain.Event:2"
    rows = [(e.step, v.tag, v.simple_value) for e in events[1:] for v in e.summary.value]
    assert rows == read_scalars(path)
    assert [e.wall_time for e in events[1:]] == [100.0, 101.0, 102.0]


def test_protobuf_parses_our_events(tmp_path: Path) -> None:
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    path = _write_sample(tmp_path)
    data = path.read_bytes()
    events, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        events.append(event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length]))
        pos += 12 + length + 4
    assert events[0].file_version == "brain.Event:2"
    assert [(e.step, v.tag, v.simple_value) for e in events[1:] for v in e.summary.value] == read_scalars(path)


def test_we_read_tensorboardx_files(tmp_path: Path) -> None:
    tbx = pytest.importorskip("tensorboardX")
    with tbx.SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("a/b", 0.75, global_step=5)
        writer.add_scalar("c", -1.0, global_step=6)
    (path,) = tmp_path.glob("events.out.tfevents.*")
    assert read_scalars(path) == [(5, "a/b", 0.75), (6, "c", -1.0)]
