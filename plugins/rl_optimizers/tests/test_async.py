"""AsyncOptimizer: gradients applied as they arrive, embedded (no Ray) and over two Ray actors
(fresh weights to the worker that sent each gradient, staleness), and its faults: a worker
raising inside compute_gradients, a non-finite gradient, a worker killed mid-task."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ray_faults import sigkill_and_wait
from toy import TRUE_W, ToyEvaluator

from rl_optimizers import async_grads
from rl_optimizers.async_grads import AsyncOptimizer, WorkerErrorWarning
from rlcore.errors import ConfigError, EnvError, GradientError, NonFiniteLossError
from rlcore.worker_set import WorkerCrashedError, WorkerSet

TESTS = Path(__file__).parent


def _embedded(**config: Any) -> tuple[ToyEvaluator, AsyncOptimizer]:
    ev = ToyEvaluator(config={"rows": 10, **config.pop("toy", {})})
    return ev, AsyncOptimizer(WorkerSet.from_evaluator(ev), config)


# ------------------------------------------------------------------------------ embedded (no Ray)
def test_embedded_applies_grads_per_step_locally():
    ev, opt = _embedded(grads_per_step=7)
    info = opt.step()
    assert ev.calls["sample"] == 7 and len(ev.applied) == 7  # sample + compute + apply, 7 times in turn
    assert len(ev.history) == 7 and all(
        np.array_equal(h, a) for h, a in zip(ev.history[1:], ev.applied[:-1], strict=True)
    )
    assert opt.num_steps_sampled == opt.num_steps_trained == 70
    stats = opt.stats()
    assert stats["num_gradients_applied"] == 7 and stats["staleness_max"] == 0.0 and stats["staleness_mean"] == 0.0
    assert stats["grads_per_s"] > 0 and stats["apply_time_s"] > 0 and stats["push_time_s"] == 0.0  # nothing pushed
    assert stats["num_gradients_dropped"] == stats["num_worker_errors"] == stats["num_worker_failures"] == 0
    assert stats["num_tasks_in_flight"] == 0 and opt.workers.num_in_flight() == 0
    assert set(info) == {"loss", "adv_mean", "kl"}
    for _ in range(30):
        opt.step()
    np.testing.assert_allclose(ev.w, TRUE_W, atol=0.05)  # it learns


def test_embedded_never_imports_ray():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from toy import ToyEvaluator\n"
        "from rl_optimizers.async_grads import AsyncOptimizer\n"
        "from rlcore.registration import get_optimizer_class\n"
        "from rlcore.worker_set import WorkerSet\n"
        "assert get_optimizer_class('AsyncOptimizer') is AsyncOptimizer\n"
        "opt = AsyncOptimizer(WorkerSet.from_evaluator(ToyEvaluator()), {'grads_per_step': 3})\n"
        "opt.step()\n"
        "assert opt.num_gradients_applied == 3\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3", None])
def test_grads_per_step_must_be_a_positive_int(value: Any):
    with pytest.raises(ConfigError) as info:
        _embedded(grads_per_step=value)
    assert str(info.value) == (
        f"AsyncOptimizer: grads_per_step must be an int >= 1 (gradients applied per step()), got {value!r}"
    )


def test_other_bad_config():
    with pytest.raises(ConfigError, match=r"max_worker_errors_in_a_row must be an int >= 1 .*got 0"):
        _embedded(max_worker_errors_in_a_row=0)
    with pytest.raises(ConfigError, match=r"ignore_worker_failures must be true or false, got 'yes'"):
        _embedded(ignore_worker_failures="yes")
    with pytest.raises(ConfigError, match=r"unknown config key 'grads_per_steps'.*grads_per_step"):
        _embedded(grads_per_steps=3)


def test_nonfinite_gradient_refused_naming_the_term_weights_untouched_embedded():
    ev, opt = _embedded(grads_per_step=3)
    opt.step()
    before = ev.get_weights()
    ev.set_faults(nan_grads=True)
    with pytest.raises(NonFiniteLossError) as info:
        opt.step()
    assert str(info.value).startswith(
        "AsyncOptimizer: the gradient from the local evaluator (ToyEvaluator) was not applied: loss term "
        "'policy_loss' is nan (policy_loss=nan, vf_loss=0.3, loss=nan); the gradients of ['w'] are not finite; "
        "the local weights are unchanged."
    )
    np.testing.assert_array_equal(ev.get_weights()["w"], before["w"])
    assert opt.num_gradients_applied == 3 and opt.num_gradients_dropped == 1 and opt.workers.num_in_flight() == 0


class Broken(ToyEvaluator):
    """Returns what ``config["out"]`` says: "inf_grads" (finite info), "nan_term" (finite grads)."""

    def compute_gradients(self, batch):
        grads, info = super().compute_gradients(batch)
        if self.out == "inf_grads":
            grads["w"][1] = np.inf
        else:
            info["adv_mean"] = float("nan")
        return grads, info


@pytest.mark.parametrize(
    ("out", "why"),
    [
        ("inf_grads", r"the gradients of \['w'\] are not finite \(loss terms: loss=[0-9.]+, adv_mean=[0-9.]+, kl=0\)"),
        ("nan_term", r"loss term 'adv_mean' is nan \(loss=[0-9.]+, adv_mean=nan, kl=0\); the local weights"),
    ],
)
def test_nonfinite_gradient_or_loss_term_alone_is_refused(out: str, why: str):
    ev = Broken(config={"rows": 10})
    ev.out = out
    opt = AsyncOptimizer(WorkerSet.from_evaluator(ev), {"grads_per_step": 2})
    with pytest.raises(NonFiniteLossError, match=why):
        opt.step()
    assert not ev.w.any() and ev.applied == []  # nothing applied


def test_an_error_of_the_local_evaluator_is_raised_even_when_ignoring_worker_failures():
    ev, opt = _embedded(grads_per_step=3, ignore_worker_failures=True)
    ev.set_faults(raise_times=1)
    with pytest.raises(ValueError, match="boom in compute_gradients of worker 0"):
        opt.step()
    assert opt.workers.num_in_flight() == 0
    opt.step()  # the next step goes on
    assert opt.num_gradients_applied == 3


def test_a_compute_gradients_that_breaks_the_contract_is_refused_naming_the_evaluator():
    ev, opt = _embedded(grads_per_step=2)
    ev.set_faults(grads_out="bare")  # returns the gradients without the info dict
    with pytest.raises(
        GradientError, match=r"ToyEvaluator\.compute_gradients returned dict, not the \(gradients, info"
    ):
        opt.step()
    assert ev.applied == [] and opt.workers.num_in_flight() == 0


class NoGradients(ToyEvaluator):
    capabilities = frozenset({"remote"})


def test_an_evaluator_without_the_gradients_capability_is_refused_when_built():
    with pytest.raises(
        ConfigError,
        match=r"AsyncOptimizer needs an evaluator with the 'gradients' capability .*"
        r"NoGradients has \['remote'\]\. Use an algorithm that learns on whole batches",
    ):
        AsyncOptimizer(WorkerSet.from_evaluator(NoGradients(config={"rows": 10})), {"grads_per_step": 2})


def test_a_local_gradient_that_does_not_fit_the_weights_is_raised_as_is():
    ev, opt = _embedded(grads_per_step=2, ignore_worker_failures=True)
    ev.set_faults(grads_out="wrong_shape")
    with pytest.raises(GradientError, match=r"ToyEvaluator\.apply_gradients: the gradients do not fit"):
        opt.step()
    assert not ev.w.any() and opt.num_gradients_applied == 0


def test_state_round_trip():
    _, opt = _embedded(grads_per_step=4)
    opt.step()
    opt.step()
    state = opt.get_state()
    assert state["version"] == 8 and state["num_gradients_applied"] == 8 and state["num_steps_trained"] == 80
    _, fresh = _embedded(grads_per_step=4)
    fresh.set_state(state)
    assert fresh.get_state() == state and fresh.version == 8
    fresh.set_state({"num_steps_sampled": 5, "num_steps_trained": 5})  # a state of another optimizer
    assert fresh.version == 0 and fresh.num_steps_sampled == 5


def test_registered():
    from rlcore.registration import get_optimizer_class

    assert get_optimizer_class("AsyncOptimizer") is AsyncOptimizer


# ------------------------------------------------------------------------------ two Ray workers
@pytest.fixture(scope="module")
def workers(ray_session: Any):
    import toy
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(toy)  # Ray workers don't have the tests folder on their path
    ws = WorkerSet(ToyEvaluator, None, {"rows": 10}, 2, num_cpus_per_worker=0.5)
    yield ws
    ws.stop()


@pytest.fixture
def ws(workers: WorkerSet) -> WorkerSet:
    """The module's two workers, faults off, the local weights zero."""
    workers.foreach_worker("set_faults", local=False)
    workers.local_evaluator.set_weights({"w": np.zeros(3, np.float32)})
    workers.local_evaluator.applied.clear()
    return workers


def _sigkill(ws: WorkerSet, i: int) -> None:
    """Kill worker ``i``'s process (SIGKILL) and wait until it is gone."""
    sigkill_and_wait(ws.remote_evaluators[i - 1])


def _weights_index(w: np.ndarray, versions: list[np.ndarray]) -> int:
    (found,) = [k for k, v in enumerate(versions) if np.array_equal(v, w)]
    return found


@pytest.mark.ray
@pytest.mark.parametrize("inline_bytes", [async_grads.INLINE_BYTES, 0])  # 0: every push through ray.put
def test_two_workers_pipeline_fresh_weights_and_staleness(ws: WorkerSet, inline_bytes: int, monkeypatch):
    monkeypatch.setattr(async_grads, "INLINE_BYTES", inline_bytes)
    history_before = [len(h) for h in ws.foreach_worker("get_history", local=False)]
    opt = AsyncOptimizer(ws, {"grads_per_step": 20})
    opt.step()
    stats = opt.stats()
    assert stats["num_gradients_applied"] == 20 and opt.num_steps_sampled == opt.num_steps_trained == 200
    assert ws.num_in_flight() == 0 and stats["num_tasks_in_flight"] == 0  # drained
    assert ws.local_evaluator.calls["sample"] == 0  # the local evaluator only applies
    # Each task used the local weights as they were when it was submitted: the first tasks the
    # step's starting weights, each next task of a worker the weights right after its previous
    # gradient was applied (pushed to that worker only).
    versions = [np.zeros(3, np.float32), *ws.local_evaluator.applied]
    used = [h[n:] for h, n in zip(ws.foreach_worker("get_history", local=False), history_before, strict=True)]
    assert sum(map(len, used)) == 20 and all(used)
    ks = [[_weights_index(w, versions) for w in u] for u in used]
    assert [k[0] for k in ks] == [0, 0]
    assert all(np.all(np.diff(k) >= 1) for k in ks)  # every next task of a worker: newer weights
    # the i-th gradient applied (i = 0..19) produced version i + 1; its staleness is i - (its k)
    assert stats["staleness_mean"] == pytest.approx((sum(range(20)) - sum(map(sum, ks))) / 20)
    assert 1 <= stats["staleness_max"] <= 19  # >= 1: the second of the first two gradients
    assert stats["staleness_mean_total"] == stats["staleness_mean"]
    assert stats["grads_per_s"] > 0 and stats["push_time_s"] > 0 and stats["wait_time_s"] > 0
    assert stats["apply_time_s"] > 0 and stats["num_worker_failures"] == 0

    # Results that arrive together (workers of the same speed) are no reason to apply more than
    # grads_per_step gradients: a worker whose result is still to be handled gets no second task.
    ws.foreach_worker("set_faults", 0.02, local=False)
    for n in (1, 2, 3, 5):
        opt = AsyncOptimizer(ws, {"grads_per_step": n})
        for _ in range(3):
            opt.step()
        assert opt.num_gradients_applied == 3 * n and ws.num_in_flight() == 0


@pytest.mark.ray
def test_weights_set_after_a_step_that_applied_nothing_reach_the_workers(ws: WorkerSet):
    """A step that raised before applying a gradient leaves the weights version unchanged; weights set
    on the local evaluator then (same version, new values) are what the next step pushes."""
    opt = AsyncOptimizer(ws, {"grads_per_step": 2})
    ws.foreach_worker("set_faults", 0.0, -1, local=False)  # every compute_gradients raises
    with pytest.raises(ValueError, match="boom in compute_gradients"):
        opt.step()
    assert opt.version == 0 and ws.num_in_flight() == 0
    ws.foreach_worker("set_faults", local=False)
    before = [len(h) for h in ws.foreach_worker("get_history", local=False)]
    new = np.array([3.0, 2.0, 1.0], np.float32)
    ws.local_evaluator.set_weights({"w": new})  # e.g. weights the user loads after the error
    opt.step()
    firsts = [h[n] for h, n in zip(ws.foreach_worker("get_history", local=False), before, strict=True)]
    for used in firsts:
        np.testing.assert_array_equal(used, new)


@pytest.mark.ray
def test_fewer_gradients_per_step_than_workers_take_turns(ws: WorkerSet):
    """grads_per_step 1 on 2 workers: each step starts on the next worker (none idles for good)."""
    before = [len(h) for h in ws.foreach_worker("get_history", local=False)]
    opt = AsyncOptimizer(ws, {"grads_per_step": 1})
    for _ in range(4):
        opt.step()
    after = [len(h) for h in ws.foreach_worker("get_history", local=False)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2]
    assert opt.num_gradients_applied == 4 and opt.stats()["staleness_max"] == 0.0 and ws.num_in_flight() == 0


@pytest.mark.ray
@pytest.mark.reliability
def test_worker_raising_in_compute_gradients_is_raised_with_its_traceback(ws: WorkerSet):
    ws.foreach_worker("set_faults", 0.0, -1, local=False, to=[2])
    failures = ws.num_failures
    opt = AsyncOptimizer(ws, {"grads_per_step": 10})
    with pytest.raises(ValueError) as info:
        opt.step()
    assert type(info.value) is ValueError and str(info.value) == "boom in compute_gradients of worker 2"
    notes = "\n".join(info.value.__notes__)
    assert "(raised in remote worker 2, pid " in notes
    assert "remote traceback:" in notes and "in compute_gradients" in notes and "toy.py" in notes
    assert opt.num_worker_errors == 1 and ws.num_in_flight() == 0  # the other task was waited for, dropped
    assert ws.num_failures == failures  # an error is no death: nothing recreated


@pytest.mark.ray
@pytest.mark.reliability
def test_ignore_worker_failures_counts_and_goes_on(ws: WorkerSet):
    ws.foreach_worker("set_faults", 0.0, 1, local=False, to=[2])  # raises once
    opt = AsyncOptimizer(ws, {"grads_per_step": 10, "ignore_worker_failures": True})
    with pytest.warns(WorkerErrorWarning, match=r"remote worker 2 \(ToyEvaluator\) raised ValueError: boom") as said:
        opt.step()
    assert "remote traceback:" in str(said[0].message) and "its gradient was dropped" in str(said[0].message)
    stats = opt.stats()
    assert stats["num_gradients_applied"] == 10 and stats["num_worker_errors"] == 1
    assert stats["num_gradients_dropped"] == 1 and ws.num_in_flight() == 0

    ws.foreach_worker("set_faults", 0.0, -1, local=False, to=[2])  # raises every time: still stops
    opt = AsyncOptimizer(ws, {"grads_per_step": 50, "ignore_worker_failures": True, "max_worker_errors_in_a_row": 2})
    with (
        pytest.warns(WorkerErrorWarning),
        pytest.raises(ValueError, match="boom in compute_gradients of worker 2") as info,
    ):
        opt.step()
    assert (
        "remote worker 2 (ToyEvaluator) raised 3 times in a row, more than max_worker_errors_in_a_row=2"
        in (info.value.__notes__[-1])
    )
    assert opt.num_worker_errors == 3 and ws.num_in_flight() == 0


@pytest.mark.ray
@pytest.mark.reliability
def test_nonfinite_gradient_from_a_worker_refused_weights_untouched(ws: WorkerSet):
    AsyncOptimizer(ws, {"grads_per_step": 4}).step()
    before = ws.local_evaluator.get_weights()["w"]
    ws.foreach_worker("set_faults", 0.0, 0, True, local=False)
    opt = AsyncOptimizer(ws, {"grads_per_step": 4})
    with pytest.raises(NonFiniteLossError) as info:
        opt.step()
    assert re.match(
        r"AsyncOptimizer: the gradient from remote worker [12] \(ToyEvaluator\) was not applied: loss term "
        r"'policy_loss' is nan \(policy_loss=nan, vf_loss=0\.3, loss=nan\); the gradients of \['w'\] are not finite; "
        r"the local weights are unchanged\. Lower lr, clip gradients \(grad_clip\)",
        str(info.value),
    )
    np.testing.assert_array_equal(ws.local_evaluator.get_weights()["w"], before)
    assert opt.num_gradients_applied == 0 and opt.num_gradients_dropped == 2 and ws.num_in_flight() == 0

    ws.foreach_worker("set_faults", local=False, to=[1])  # worker 2 alone sends NaN: dropped, counted
    opt = AsyncOptimizer(ws, {"grads_per_step": 6, "ignore_worker_failures": True, "max_worker_errors_in_a_row": 100})
    with pytest.warns(WorkerErrorWarning, match="loss term 'policy_loss' is nan"):
        opt.step()
    assert opt.num_gradients_applied == 6 and opt.num_worker_errors >= 1
    assert opt.num_gradients_dropped == opt.num_worker_errors
    assert np.isfinite(ws.local_evaluator.get_weights()["w"]).all()


@pytest.mark.ray
@pytest.mark.reliability
def test_a_gradient_from_a_worker_that_does_not_fit_is_refused_naming_the_worker(ws: WorkerSet):
    ws.foreach_worker("set_faults", 0.0, 0, False, "compute_gradients", "ValueError", "wrong_shape", local=False)
    opt = AsyncOptimizer(ws, {"grads_per_step": 4})
    with pytest.raises(GradientError) as info:
        opt.step()
    assert re.match(
        r"AsyncOptimizer: the gradient from remote worker [12] \(ToyEvaluator\) was not applied: ToyEvaluator"
        r"\.apply_gradients: the gradients do not fit the weights: .* The local weights are unchanged; the workers "
        r"must build the same policy and model as the local evaluator",
        str(info.value),
    )
    assert not ws.local_evaluator.get_weights()["w"].any() and ws.num_in_flight() == 0
    ws.foreach_worker("set_faults", local=False, to=[1])  # worker 2 alone sends wrong shapes: dropped
    opt = AsyncOptimizer(ws, {"grads_per_step": 6, "ignore_worker_failures": True, "max_worker_errors_in_a_row": 100})
    with pytest.warns(WorkerErrorWarning, match="gradients do not fit the weights"):
        opt.step()
    assert opt.num_gradients_applied == 6 and opt.num_worker_errors >= 1
    assert opt.num_gradients_dropped == opt.num_worker_errors


@pytest.mark.ray
@pytest.mark.reliability
def test_a_step_interrupted_on_the_driver_leaves_no_task_to_the_next(ws: WorkerSet):
    """Ctrl-C (KeyboardInterrupt) while a gradient is applied, the other worker's task in flight:
    the interrupt is not delayed, and the next step drops that stale task and applies exactly
    grads_per_step gradients (it applied 7 before)."""
    ws.foreach_worker("set_faults", 0.2, local=False)  # tasks take 0.2 s: one is in flight when the first applies
    local = ws.local_evaluator
    opt = AsyncOptimizer(ws, {"grads_per_step": 6})
    apply = local.apply_gradients

    def interrupted(grads: Any) -> None:
        raise KeyboardInterrupt

    local.apply_gradients = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            opt.step()
    finally:
        local.apply_gradients = apply
    assert ws.num_in_flight() <= 1  # not waited on (unless both results came back together)
    local.applied.clear()
    opt.step()
    assert len(local.applied) == 6 and ws.num_in_flight() == 0
    assert opt.num_gradients_dropped == 2  # the one interrupted, the other worker's (stale)


@pytest.mark.ray
@pytest.mark.reliability
def test_sigkill_mid_step_drops_and_goes_on(ws: WorkerSet):
    import ray

    ws.foreach_worker("set_faults", 0.3, local=False)  # each gradient takes 0.3 s
    failures = ws.num_failures
    pid = ray.get(ws.remote_evaluators[0].pid.remote())
    opt = AsyncOptimizer(ws, {"grads_per_step": 8})
    killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
    killer.start()
    began = time.monotonic()
    try:
        opt.step()
    finally:
        killer.join()
    stats = opt.stats()
    assert stats["num_gradients_applied"] == 8 and ws.num_in_flight() == 0
    assert ws.num_failures == failures + 1 and stats["num_worker_failures"] == ws.num_failures
    assert stats["num_gradients_dropped"] >= 1
    assert time.monotonic() - began < 60
    assert ray.get(ws.remote_evaluators[0].pid.remote()) != pid  # worker 1 was recreated


@pytest.mark.ray
@pytest.mark.reliability
def test_rlcore_errors_from_a_worker_sample_or_policy_come_back_as_one_line(ws: WorkerSet):
    ws.foreach_worker("set_faults", 0.0, 1, False, "sample", "EnvError", local=False, to=[1])
    ws.foreach_worker("set_faults", 0.05, 0, local=False, to=[2])
    with pytest.raises(EnvError) as info:
        AsyncOptimizer(ws, {"grads_per_step": 4}).step()
    assert str(info.value) == "env 'Toy-v0' of worker 1 returned a non-finite reward nan"
    assert len(info.value.__notes__) == 1 and info.value.__notes__[0].startswith("(raised in remote worker 1, pid ")

    # a first-party policy refuses a NaN loss in the worker: raised as it is, or counted when ignored
    ws.foreach_worker("set_faults", 0.0, 1, False, "compute_gradients", "NonFiniteLossError", local=False, to=[2])
    ws.foreach_worker("set_faults", 0.05, 0, local=False, to=[1])
    with pytest.raises(NonFiniteLossError, match="loss term 'policy_loss' is nan") as info:
        AsyncOptimizer(ws, {"grads_per_step": 4}).step()
    assert info.value.__notes__[0].startswith("(raised in remote worker 2, pid ")
    ws.foreach_worker("set_faults", 0.0, 1, False, "compute_gradients", "NonFiniteLossError", local=False, to=[2])
    opt = AsyncOptimizer(ws, {"grads_per_step": 4, "ignore_worker_failures": True})
    with pytest.warns(WorkerErrorWarning, match="remote worker 2 .* raised NonFiniteLossError"):
        opt.step()
    assert opt.num_gradients_applied == 4 and opt.num_worker_errors == 1 and ws.num_in_flight() == 0


@pytest.mark.ray
@pytest.mark.reliability
def test_a_worker_dead_between_steps_is_recreated_and_training_goes_on(ws: WorkerSet):
    opt = AsyncOptimizer(ws, {"grads_per_step": 6})
    opt.step()
    failures = ws.num_failures
    _sigkill(ws, 2)
    opt.step()  # worker 2's first task of the step finds it dead: dropped, recreated, resubmitted
    assert opt.num_gradients_applied == 12 and opt.num_gradients_dropped == 1
    assert ws.num_failures == failures + 1 and ws.num_in_flight() == 0
    versions = [np.zeros(3, np.float32), *ws.local_evaluator.applied]
    (w2,) = ws.foreach_worker("get_weights", local=False, to=[2])
    assert any(np.array_equal(w2["w"], v) for v in versions[6:])  # the new actor computed on this step's weights


@pytest.mark.ray
@pytest.mark.reliability
def test_without_recreation_a_dead_worker_stops_the_step_cleanly(workers: WorkerSet):
    import ray

    ws = WorkerSet(ToyEvaluator, None, {"rows": 10}, 1, num_cpus_per_worker=0.5, recreate_failed=False)
    try:
        ws.foreach_worker("set_faults", 0.5, local=False)
        pid = ray.get(ws.remote_evaluators[0].pid.remote())
        opt = AsyncOptimizer(ws, {"grads_per_step": 4})
        killer = threading.Timer(0.2, os.kill, (pid, signal.SIGKILL))
        killer.start()
        with pytest.raises(WorkerCrashedError, match=r"remote worker 1 .*recreate_failed_workers is false"):
            opt.step()
        killer.join()
        assert ws.num_in_flight() == 0 and opt.num_gradients_applied < 4
    finally:
        ws.stop()
