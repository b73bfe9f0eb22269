"""Faults in remote workers (real Ray actors, real kills): errors raised by the evaluator's code
come back as they were raised (type, message, cause chain; one line, no colour codes), and dead
processes are recreated with backoff up to ``max_worker_restarts``, then one clear error."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlcore.errors import ConfigError, RLCoreError
from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.sample_batch import SampleBatch
from rlcore.worker_set import RemoteWorkerError, WorkerCrashedError, WorkerSet, _death_reason


class Faulty(PolicyEvaluator):
    """A bare evaluator with faults on demand.

    ``config["starts_file"]``: every start of a remote worker appends a line there; a replacement
    (every start of worker 1 after its first) kills its own process while it starts when
    ``config["replacements_that_die"]`` is -1 (all) or >= its generation, or raises an
    ``RLCoreError`` when ``config["replacement_raises"]``; its very first start dies when
    ``config["first_start_dies"]``.
    """

    def __init__(self, env_creator: Any, config: dict[str, Any], worker_index: int = 0):
        self.worker_index = worker_index
        self.w = np.zeros(2, np.float32)
        starts_file = config.get("starts_file")
        if starts_file and worker_index == 1:
            with open(starts_file, "a") as fh:
                fh.write(f"{os.getpid()}\n")
            generation = len(Path(starts_file).read_text().splitlines()) - 1
            dying = int(config.get("replacements_that_die", 0))
            if (generation == 0 and config.get("first_start_dies")) or (
                generation and (dying < 0 or generation <= dying)
            ):
                os.kill(os.getpid(), signal.SIGKILL)  # a process that dies while it starts
                time.sleep(30)
            if generation and config.get("replacement_raises"):
                raise ConfigError(f"env_config of worker {worker_index} names no simulator")

    def sample(self) -> SampleBatch:
        return SampleBatch(obs=np.full((2, 2), self.worker_index, np.float32), eps_id=np.zeros(2))

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"w": self.w.copy()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.w = np.array(weights["w"], np.float32)

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        raise NotImplementedError("not needed here")

    def compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        raise NotImplementedError("not needed here")

    def apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        raise NotImplementedError("not needed here")

    def get_metrics(self) -> list[EpisodeMetrics]:
        return []

    # faults, called by name
    def pid(self) -> int:
        return os.getpid()

    def fail_chained(self) -> None:
        try:
            float("nan reward")
        except ValueError as exc:
            raise ConfigError("env 'Bad-v0' returned a non-finite reward nan at step 3") from exc

    def fail_plain(self) -> None:
        {}["missing"]  # a bug in the evaluator's code

    def fail_unpicklable(self) -> None:
        raise Unpicklable("holds a lock")

    def fail_from_hostile_cause(self) -> None:
        try:
            raise Hostile("unused")
        except Hostile as exc:
            raise ConfigError("the simulator failed") from exc


class Unpicklable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


class Hostile(Unpicklable):
    """An exception that neither pickles nor says what it is (its __str__ raises)."""

    def __str__(self) -> str:
        raise RuntimeError("no str")


def _no_ansi(text: str) -> None:
    assert "\x1b" not in text, repr(text)


@pytest.fixture
def by_value(ray_session: Any) -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[Faulty.__module__])  # tests are not importable there


def _set(config: dict[str, Any] | None = None, n: int = 1, **kwargs: Any) -> WorkerSet:
    return WorkerSet(Faulty, None, dict(config or {}), n, num_cpus_per_worker=0.5, **kwargs)


def _sigkill(ws: WorkerSet, i: int) -> None:
    """Kill worker ``i``'s process (SIGKILL) and wait until it is gone."""
    import ray

    pid = ray.get(ws.remote_evaluators[i - 1].pid.remote())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {i} (pid {pid}) did not die")


# ------------------------------------------------------------------ errors raised in a worker
@pytest.mark.ray
@pytest.mark.reliability
def test_an_error_raised_in_a_worker_comes_back_as_it_was_raised(by_value: None):
    ws = _set(n=2)
    try:
        for call in (lambda: ws.foreach_worker("fail_chained", local=False, to=[2]), lambda: _pooled(ws, 2)):
            with pytest.raises(ConfigError) as info:
                call()
            err = info.value
            assert type(err) is ConfigError
            assert str(err) == "env 'Bad-v0' returned a non-finite reward nan at step 3"  # one line, as embedded
            assert type(err.__cause__) is ValueError and "nan reward" in str(err.__cause__)
            assert err.__notes__[0].startswith("(raised in remote worker 2")
            assert len(err.__notes__) == 1  # an RLCoreError needs no remote traceback
            _no_ansi(str(err) + "".join(err.__notes__))
        assert ws.num_failures == 0  # an error is not a death: nothing recreated
        assert len(ws.foreach_worker("pid", local=False)) == 2  # both still answer
    finally:
        ws.stop()


def _pooled(ws: WorkerSet, i: int) -> None:
    ws.submit(i, "fail_chained")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ws.completed(timeout=10)
    raise AssertionError("the pooled task did not raise")


@pytest.mark.ray
@pytest.mark.reliability
def test_a_bug_in_a_worker_keeps_its_type_and_a_clean_remote_traceback(by_value: None):
    ws = _set()
    try:
        with pytest.raises(KeyError) as info:
            ws.foreach_worker("fail_plain", local=False)
        assert type(info.value) is KeyError and info.value.args == ("missing",)
        notes = "\n".join(info.value.__notes__)
        assert "remote traceback:" in notes and "in fail_plain" in notes
        _no_ansi(notes)
        with pytest.raises(RemoteWorkerError, match=r"^remote worker 1 \(Faulty\) raised .*Unpicklable: holds a lock"):
            ws.foreach_worker("fail_unpicklable", local=False)
        assert ws.num_failures == 0
    finally:
        ws.stop()


@pytest.mark.ray
@pytest.mark.reliability
def test_a_replacement_whose_constructor_raises_is_that_error_not_a_retry(by_value: None, tmp_path: Path):
    ws = _set({"starts_file": str(tmp_path / "starts"), "replacement_raises": True})
    try:
        _sigkill(ws, 1)
        with pytest.raises(ConfigError) as info:
            ws.foreach_worker("pid", local=False)
        assert str(info.value) == "env_config of worker 1 names no simulator"
        assert ws.num_failures == 1  # the kill; the constructor's error was not retried
        assert len((tmp_path / "starts").read_text().splitlines()) == 2
    finally:
        ws.stop()


# ------------------------------------------------------------------ dead processes
@pytest.mark.ray
@pytest.mark.reliability
def test_a_replacement_that_dies_while_starting_is_retried_with_backoff(by_value: None, tmp_path: Path):
    starts = tmp_path / "starts"
    ws = _set({"starts_file": str(starts), "replacements_that_die": 2}, max_worker_restarts=3)
    ws.restart_backoff_s = 0.5
    try:
        _sigkill(ws, 1)
        began = time.monotonic()
        assert ws.foreach_worker("sample", local=False) == []  # worker 1 died: no batch this round
        waited = time.monotonic() - began
        # the kill, then two replacements killed while starting: restarts after 0, 0.5 and 1.0 s
        assert ws.num_failures == 3 and len(starts.read_text().splitlines()) == 4
        assert waited >= 1.5
        assert [b.count for b in ws.foreach_worker("sample", local=False)] == [2]  # the third one works
        assert ws._consecutive[1] == 0  # it answered: the count starts again
    finally:
        ws.stop()


@pytest.mark.ray
@pytest.mark.reliability
def test_a_worker_that_dies_while_the_set_is_built_is_recreated(by_value: None, tmp_path: Path):
    starts = tmp_path / "starts"
    ws = _set({"starts_file": str(starts), "first_start_dies": True}, n=2)
    try:
        assert ws.num_failures == 1 and len(starts.read_text().splitlines()) == 2
        assert len(ws.foreach_worker("pid", local=False)) == 2
    finally:
        ws.stop()


@pytest.mark.ray
@pytest.mark.reliability
def test_a_worker_that_keeps_dying_is_one_clear_error(by_value: None, tmp_path: Path):
    ws = _set({"starts_file": str(tmp_path / "starts"), "replacements_that_die": -1}, max_worker_restarts=2)
    ws.restart_backoff_s = 0.1
    try:
        _sigkill(ws, 1)
        with pytest.raises(WorkerCrashedError) as info:
            ws.foreach_worker("pid", local=False)
        message = str(info.value)
        assert "\n" not in message
        _no_ansi(message)
        assert message.startswith("remote worker 1 (Faulty) died 3 times in a row (its worker process has died)")
        assert "restarted 2 times without answering a call (max_worker_restarts=2)" in message
        assert "raise max_worker_restarts" in message
        assert info.value.__cause__ is None and info.value.__suppress_context__
    finally:
        ws.stop()


@pytest.mark.ray
@pytest.mark.reliability
def test_no_restarts_allowed_and_recreation_off_are_one_line_each(by_value: None):
    ws = _set(max_worker_restarts=0)
    try:
        _sigkill(ws, 1)
        with pytest.raises(WorkerCrashedError, match=r"died 1 times in a row .*max_worker_restarts=0"):
            ws.foreach_worker("pid", local=False)
    finally:
        ws.stop()
    ws = _set(recreate_failed=False)
    try:
        _sigkill(ws, 1)
        ws.submit(1, "pid")
        with pytest.raises(WorkerCrashedError) as info:
            ws.completed(timeout=30)
        assert str(info.value) == (
            "remote worker 1 (Faulty) died (its worker process has died); recreate_failed_workers is false: "
            "set it to true to replace dead workers"
        )
    finally:
        ws.stop()


def test_max_worker_restarts_must_be_a_count():
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="max_worker_restarts must be an integer >= 0"):
            WorkerSet(Faulty, None, {}, 0, max_worker_restarts=bad)  # type: ignore[arg-type]


def test_the_backoff_doubles_up_to_its_cap():
    ws = WorkerSet(Faulty, None, {}, 0)
    ws.restart_backoff_s, ws.max_restart_backoff_s = 1.0, 5.0
    assert [ws._restart_delay(n) for n in range(1, 7)] == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_death_reason_is_one_short_line():
    class Died(Exception):
        pass

    text = (
        "The actor died unexpectedly before finishing this task.\n\tclass_name: X\n\tpid: 1\n"
        "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR ..."
    )
    assert _death_reason(Died(text)) == "its worker process has died"
    assert _death_reason(Died("The actor is dead because it was killed by `ray.kill`.")) == (
        "it was killed by `ray.kill`"
    )
    assert _death_reason(Died("\x1b[36msomething else\x1b[39m\nmore")) == "something else"
    assert isinstance(RemoteWorkerError("x"), RLCoreError)


# ------------------------------------------------------------------ what init_ray sets up
def test_task_events_are_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch):
    from rlcore.ray_init import task_events_enabled

    monkeypatch.delenv("RLCORE_RAY_TASK_EVENTS", raising=False)
    assert not task_events_enabled()
    for value, on in (("1", True), ("true", True), ("ON", True), ("0", False), ("", False), ("no", False)):
        monkeypatch.setenv("RLCORE_RAY_TASK_EVENTS", value)
        assert task_events_enabled() is on, value


@pytest.mark.ray
def test_rays_driver_messages_go_to_stderr_without_colour(capfd: pytest.CaptureFixture[str]):
    from ray._private import worker as ray_worker

    from rlcore.ray_init import _ray_messages_to_stderr

    _ray_messages_to_stderr()
    _ray_messages_to_stderr()  # once only: not wrapped twice
    assert getattr(ray_worker.print_to_stdstream, "_rlcore_to_stderr", False)
    line = "A worker died or was killed while executing a task by an unexpected system error."
    ray_worker.print_to_stdstream({"lines": [line], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    out, err = capfd.readouterr()
    assert out == "" and line in err and "\x1b" not in err


@pytest.mark.ray
@pytest.mark.reliability
def test_a_cause_that_neither_pickles_nor_prints_is_still_named(by_value: None):
    ws = _set(n=1)
    try:
        with pytest.raises(ConfigError) as info:
            ws.foreach_worker("fail_from_hostile_cause", local=False)
        assert str(info.value) == "the simulator failed"
        cause = info.value.__cause__
        assert type(cause) is RemoteWorkerError and str(cause) == "Hostile: <its str() raised RuntimeError>"
        assert ws.num_failures == 0
    finally:
        ws.stop()
