"""TensorBoard event files written by rlcore (through tensorboardX) read by TensorFlow, and others' by us.

Here, not in core/tests, because the core's own session has no TensorFlow; the full session has
it (through rl_tf).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rlcore.loggers.tensorboard_logger import TensorBoardWriter, read_scalars


def _write_sample(logdir: Path) -> Path:
    writer = TensorBoardWriter(logdir)
    writer.add_scalars({"episode_reward_mean": 1.5, "info/learner/loss": 0.25}, step=1, wall_time=100.0)
    writer.add_scalars({"episode_reward_mean": -2.0}, step=2, wall_time=101.0)
    writer.add_scalars({"big_step": 3.0}, step=2**40, wall_time=102.0)
    writer.close()
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


def test_tensorflow_reads_a_trial_folder(tmp_path: Path) -> None:
    """The built-in plugin ``tensorboard`` driven through its hooks, as in a run: TF reads every result."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow", reason="rl_tf not installed")
    from rlcore.plugins import PluginRegistry

    registry = PluginRegistry(entry_points_=[]).load()
    trainer = object()
    registry.call_event("rlcore_on_trial_start", trainer=trainer, logdir=tmp_path, params={}, stop={})
    for i in (1, 2):
        result = {"training_iteration": i, "timesteps_total": 10 * i, "info": {"learner": {"loss": 1.0 / i}}}
        registry.call_event("rlcore_on_train_result", trainer=trainer, result=result)
    registry.call_event("rlcore_on_trial_end", trainer=trainer, logdir=tmp_path, result={}, error=None)
    (path,) = tmp_path.glob("events.out.tfevents.*")
    rows = [
        (e.step, v.tag, v.simple_value) for e in tf.compat.v1.train.summary_iterator(str(path)) for v in e.summary.value
    ]
    assert (10, "info/learner/loss", 1.0) in rows and (20, "info/learner/loss", 0.5) in rows


def test_we_read_tensorboardx_summary_writer_files(tmp_path: Path) -> None:
    import tensorboardX

    with tensorboardX.SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("a/b", 0.75, global_step=5)
        writer.add_scalar("c", -1.0, global_step=6)
    (path,) = tmp_path.glob("events.out.tfevents.*")
    assert read_scalars(path) == [(5, "a/b", 0.75), (6, "c", -1.0)]
