"""AsyncOptimizer: gradients computed on the remote evaluators, applied on the local one as they
arrive (A3C; RLlib 2018's ``AsyncGradientsOptimizer``).

The asynchronous advantage actor-critic scheme of Mnih et al. 2016 ("Asynchronous Methods for
Deep Reinforcement Learning", ICML), in the form RLlib gave it (Liang et al. 2018, "RLlib:
Abstractions for Distributed Reinforcement Learning"): each remote evaluator samples a fragment
with the weights it was last sent and computes the gradient of its loss on it; the driver
applies each gradient to the local evaluator as soon as it arrives, sends the new weights back
to that worker only, and gives it the next task. Framework-free (numpy and the evaluator
contract) and Ray-free at import: Ray is reached only through the
:class:`~rlcore.worker_set.WorkerSet`'s task pool.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from rl_optimizers.common import CountsWorkerErrors, WorkerErrors, check_int, mean_info
from rl_optimizers.common import WorkerErrorWarning as WorkerErrorWarning  # re-exported: its home until now
from rlcore.config import merge_config
from rlcore.errors import ConfigError, GradientError, NonFiniteLossError
from rlcore.evaluator import Gradients, PolicyEvaluator, Weights
from rlcore.optimizer import PolicyOptimizer, Timers
from rlcore.worker_set import TaskResult, WorkerSet

DEFAULTS: dict[str, Any] = {
    "grads_per_step": 100,
    "ignore_worker_failures": False,
    "max_worker_errors_in_a_row": 3,
}


#: Weights up to this many bytes travel inside the task (Ray's own limit for inlined arguments,
#: ``max_direct_call_object_size``); larger ones are put in the object store once per version.
INLINE_BYTES = 100 * 1024


def sample_and_compute_gradients(
    evaluator: PolicyEvaluator, weights: Weights | None
) -> tuple[Gradients, dict[str, Any], int]:
    """One task of the optimizer, run in a worker: load ``weights`` (``None``: keep the current
    ones), ``sample()``, ``compute_gradients(batch)``. Returns ``(grads, info, batch.count)``.

    Module-level so that it pickles by reference. Raises whatever the evaluator raises
    (a :class:`~rlcore.errors.NonFiniteLossError` from a first-party policy, say).
    """
    if weights is not None:
        evaluator.set_weights(weights)
    batch = evaluator.sample()
    result = evaluator.compute_gradients(batch)
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
        raise GradientError(
            f"{type(evaluator).__name__}.compute_gradients returned {type(result).__name__}, not the "
            "(gradients, info dict) pair of the evaluator contract; fix the evaluator (rlcore "
            "check-evaluator tests it)"
        )
    grads, info = result
    return grads, info, int(batch.count)


def _check_int(name: str, value: Any, allowed: str) -> int:
    return check_int("AsyncOptimizer", name, value, 1, allowed)


class AsyncOptimizer(CountsWorkerErrors, PolicyOptimizer):
    """RLlib 2018's ``AsyncGradientsOptimizer`` (A3C, Mnih et al. 2016) on the WorkerSet's task pool.

    Each :meth:`step` applies exactly ``grads_per_step`` gradients to the local evaluator. It
    starts one task per remote evaluator (at most ``grads_per_step``; with fewer gradients per step
    than workers, each step starts with the workers after the previous step's first ones, so that
    every worker takes its turn): the worker loads the
    weights it is sent, samples one batch and computes its gradient
    (:func:`sample_and_compute_gradients`); each gradient is applied on the local evaluator as
    it arrives and the new weights go to that worker only, with its next task, until
    ``grads_per_step`` gradients are applied (weights up to :data:`INLINE_BYTES` travel inside
    the task; larger ones, and the first weights of a step that every worker gets, are put in
    Ray's object store once per version: with a ``ray.put`` per push, ~1 ms each, the tests'
    toy evaluator on 2 workers ran 230 gradients/s against 790 inline). The step then waits
    for the tasks still running (drained: nothing stays in flight between steps, so the
    trainer's filter syncs, metrics and checkpoints see idle workers). A new task is started
    only while the gradients applied plus the tasks in flight are fewer than
    ``grads_per_step``, so no gradient is computed only to be thrown away. Each task is tagged
    with the weights version it was computed on; the *staleness* of a gradient is the number of
    gradients applied in between (0 with one worker, ~``num_workers - 1`` on average).

    With ``num_workers=0`` (no remote evaluators) the local evaluator samples, computes and
    applies ``grads_per_step`` gradients in turn, one batch each (serial A2C-like SGD); Ray is
    never imported.

    Faults of a remote worker:

    * its process dies mid-task: the WorkerSet recreates it (with the current weights), its
      gradient is dropped and counted (``num_gradients_dropped``; the death in
      ``num_worker_failures``), a new task goes to the new worker and training goes on;
    * it raises inside ``sample``/``compute_gradients``: the exception is raised here, as the
      worker raised it (type, message, cause chain, a note naming the worker and, for a bug
      that is not an ``RLCoreError``, the remote traceback). With ``ignore_worker_failures`` the
      gradient is dropped instead, counted in ``num_worker_errors`` and ``num_gradients_dropped``,
      named in one :class:`WorkerErrorWarning` per worker and error, and the worker gets its
      next task; a worker whose tasks raise more than ``max_worker_errors_in_a_row`` times in a
      row (counted across steps, reset by a gradient applied) stops training with its last error;
    * it returns a non-finite gradient (or non-finite loss terms in its info): refused before
      it is applied with :class:`~rlcore.errors.NonFiniteLossError` naming the first non-finite
      loss term, the local weights unchanged (dropped and counted as a worker error under
      ``ignore_worker_failures``).

    When a step raises, the other tasks in flight are waited for and discarded first (not
    applied). The local evaluator's own errors (embedded mode, ``apply_gradients``) are always
    raised.

    Config: ``grads_per_step`` (int >= 1, default 100), ``ignore_worker_failures`` (bool,
    default False), ``max_worker_errors_in_a_row`` (int >= 1, default 3). :meth:`stats` adds
    ``grads_per_step``, ``num_gradients_applied``, ``num_gradients_dropped``,
    ``num_worker_errors``, ``staleness_mean``/``staleness_max`` (last step),
    ``staleness_mean_total``, ``grads_per_s`` (last step), ``wait_time_s``, ``apply_time_s``,
    ``push_time_s`` (cumulative) and the WorkerSet's counters (``num_worker_failures``,
    ``num_dropped_tasks``...). ``num_steps_sampled`` counts the rows of every gradient that came
    back (refused ones too), ``num_steps_trained`` those of the gradients applied.

    Raises :class:`~rlcore.errors.ConfigError` for an unknown key or a value out of range
    (``grads_per_step`` 0, 1.5, True...), or for an evaluator whose capabilities lack ``"gradients"``.
    """

    def __init__(self, workers: WorkerSet, config: dict[str, Any] | None = None) -> None:
        super().__init__(workers, merge_config(DEFAULTS, config))
        cfg = self.config
        capabilities = getattr(self.local_evaluator, "capabilities", None)
        if capabilities is not None and "gradients" not in capabilities:
            policy = getattr(self.local_evaluator, "policy_cls", None)
            owner = type(self.local_evaluator).__name__ + (f" of policy {policy.__qualname__}" if policy else "")
            raise ConfigError(
                f"AsyncOptimizer needs an evaluator with the 'gradients' capability (compute_gradients and "
                f"apply_gradients); {owner} has {sorted(capabilities)}. Use an algorithm that learns on whole "
                "batches (LocalSyncOptimizer, A2C), or declare 'gradients' in the policy's capabilities if it "
                "implements them"
            )
        self.grads_per_step = _check_int("grads_per_step", cfg["grads_per_step"], "gradients applied per step()")
        self.max_errors_in_a_row = _check_int(
            "max_worker_errors_in_a_row",
            cfg["max_worker_errors_in_a_row"],
            "errors of one worker tolerated in a row with ignore_worker_failures",
        )
        if not isinstance(cfg["ignore_worker_failures"], bool | np.bool_):
            raise ConfigError(
                f"AsyncOptimizer: ignore_worker_failures must be true or false, got {cfg['ignore_worker_failures']!r}"
            )
        self.ignore_worker_failures = bool(cfg["ignore_worker_failures"])
        self.timers = Timers("wait", "apply", "push")
        self.version = 0  # +1 per gradient applied: the weights version a task's tag refers to
        self.num_gradients_applied = 0
        self.num_gradients_dropped = 0
        self._errors = WorkerErrors(
            "AsyncOptimizer", "its gradient was dropped", self.ignore_worker_failures, self.max_errors_in_a_row
        )
        self._staleness_sum = 0
        self._last: dict[str, float] = {"staleness_mean": 0.0, "staleness_max": 0.0, "grads_per_s": 0.0}
        self._sent: tuple[int, Any, bool] | None = None  # (version, weights dict or ObjectRef, large)
        self._first_turn = 0  # where in the worker list the next step starts its first tasks

    # -- one step ----------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        """Apply ``grads_per_step`` gradients as they arrive; returns the mean info of their
        ``compute_gradients`` calls. Raises a worker's exception (see the class docstring),
        :class:`~rlcore.errors.NonFiniteLossError`, or
        :class:`~rlcore.worker_set.WorkerCrashedError` when a dead worker cannot be recreated."""
        workers = self.workers
        start = time.perf_counter()
        infos: list[dict[str, Any]] = []
        staleness: list[int] = []
        indices = workers.remote_worker_indices or [0]
        arrived: list[TaskResult] = []  # taken from the pool, not handled yet
        self._sent = None  # the local weights may have been set between steps (same version, new values)
        if workers.num_in_flight():  # left by a step interrupted on the driver (KeyboardInterrupt): stale
            self._discard_in_flight()
        try:
            turn = self._first_turn % len(indices)
            first = (indices[turn:] + indices[:turn])[: self.grads_per_step]
            self._first_turn = turn + len(first)
            for i in first:
                self._submit(i, shared=len(first) > 1)
            while workers.num_in_flight():
                with self.timers("wait"):
                    arrived = workers.completed(timeout=None, raise_errors=False)
                while arrived:
                    r = arrived.pop(0)
                    applied = self._handle(r, infos, staleness)
                    # the worker that answered gets the next task; after a dropped gradient, an
                    # idle worker first (one failing again and again must not starve the others)
                    others = [i for i in indices if i != r.worker_index]
                    for i in [r.worker_index, *others] if applied else [*others, r.worker_index]:
                        if len(staleness) + workers.num_in_flight() + len(arrived) >= self.grads_per_step:
                            break
                        if not workers.num_in_flight(i) and all(o.worker_index != i for o in arrived):
                            self._submit(i)
        except BaseException as e:
            self.num_gradients_dropped += len(arrived)
            if isinstance(e, Exception):  # an interrupt is not waited on: the next step drops what is left
                self._discard_in_flight()
            raise
        wall = time.perf_counter() - start
        self._last = {
            "staleness_mean": float(np.mean(staleness)) if staleness else 0.0,
            "staleness_max": float(max(staleness)) if staleness else 0.0,
            "grads_per_s": len(staleness) / wall if wall > 0 else 0.0,
        }
        return mean_info(infos)

    def _submit(self, i: int, shared: bool = False) -> None:
        """Start a gradient task on worker ``i`` with the current weights (the local evaluator: as
        they are); ``shared``: the same weights go to several workers now (put them in Ray's store)."""
        if i == 0:  # runs the whole task inline: not a push
            self.workers.submit(0, sample_and_compute_gradients, None, tag=self.version)
            return
        with self.timers("push"):
            self.workers.submit(i, sample_and_compute_gradients, self._weights(shared), tag=self.version)

    def _weights(self, shared: bool) -> Any:
        """The current weights to send: the dict itself (Ray inlines it in the task, one copy per
        task), or an ObjectRef put in the object store once for this version, when they are larger
        than Ray's inline limit or go to several workers."""
        cached = self._sent
        if cached is None or cached[0] != self.version:
            weights = self.local_evaluator.get_weights()
            cached = (self.version, weights, sum(np.asarray(a).nbytes for a in weights.values()) > INLINE_BYTES)
        version, payload, put = cached
        if (put or shared) and isinstance(payload, dict):
            payload = self.workers.put(payload)
        self._sent = (version, payload, put)
        return payload

    def _handle(self, r: TaskResult, infos: list[dict[str, Any]], staleness: list[int]) -> bool:
        """Apply ``r``'s gradient (its info to ``infos``, its staleness to ``staleness``), or count
        why not; returns whether it was applied. Raises what may not be ignored."""
        if not r.ok:
            self.num_gradients_dropped += 1
            if r.raised:
                assert r.error is not None
                self._worker_error(r.worker_index, r.error)
            return False  # or it died: the WorkerSet recreated the worker, which gets a new task
        grads, info, count = r.result
        self.num_steps_sampled += int(count)
        refusal = _nonfinite(grads, info)
        if refusal is not None:
            error = NonFiniteLossError(
                f"AsyncOptimizer: the gradient from {self._worker_name(r.worker_index)} was not applied: {refusal}; "
                "the local weights are unchanged. Lower lr, clip gradients (grad_clip), or check the env's "
                "rewards and observations (observation_filter: MeanStdFilter)"
            )
            self.num_gradients_dropped += 1
            if r.worker_index == 0:
                raise error
            self._worker_error(r.worker_index, error)
            return False
        try:
            with self.timers("apply"):
                self.local_evaluator.apply_gradients(grads)
        except GradientError as e:  # a remote gradient that does not fit the local weights
            self.num_gradients_dropped += 1
            if r.worker_index == 0:
                raise
            self._worker_error(
                r.worker_index,
                GradientError(
                    f"AsyncOptimizer: the gradient from {self._worker_name(r.worker_index)} was not applied: {e} "
                    "The local weights are unchanged; the workers must build the same policy and model as the "
                    "local evaluator"
                ),
            )
            return False
        except BaseException:  # the local evaluator's own error, or an interrupt: not applied
            self.num_gradients_dropped += 1
            raise
        staleness.append(self.version - int(r.tag))
        self._staleness_sum += staleness[-1]
        self.version += 1
        self.num_gradients_applied += 1
        self.num_steps_trained += int(count)
        self._errors.answered(r.worker_index)
        infos.append(dict(info))
        return True

    def _worker_name(self, i: int) -> str:
        if i == 0:
            return f"the local evaluator ({type(self.local_evaluator).__name__})"
        return f"remote worker {i} ({self.workers.evaluator_cls.__name__})"

    def _worker_error(self, i: int, error: BaseException) -> None:
        """Worker ``i``'s task raised (or sent a non-finite gradient): raise, or count and go on."""
        self._errors.report(i, self._worker_name(i), error)

    def _discard_in_flight(self) -> None:
        """Wait for the tasks still running and drop them (the step is raising).

        Keeps draining past an error of one task (a worker whose recreation failed too), with
        at most one attempt per task in flight plus one, so no task of this step leaks into the
        next."""
        attempts = self.workers.num_in_flight() + 1
        while self.workers.num_in_flight() and attempts > 0:
            attempts -= 1
            try:
                self.num_gradients_dropped += len(self.workers.completed(timeout=None, raise_errors=False))
            except Exception:  # noqa: BLE001 - the step's own error is the one to raise
                continue

    # -- reporting and checkpoints -------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """The base counters and phase times, the gradient counters, staleness and throughput,
        and the WorkerSet's ``num_worker_failures``/``num_dropped_tasks``."""
        applied = self.num_gradients_applied
        return {
            **super().stats(),
            "grads_per_step": self.grads_per_step,
            "num_gradients_applied": applied,
            "num_gradients_dropped": self.num_gradients_dropped,
            "num_worker_errors": self.num_worker_errors,
            **self._last,
            "staleness_mean_total": self._staleness_sum / applied if applied else 0.0,
            **self.workers.stats(),
        }

    def get_state(self) -> dict[str, Any]:
        """The base counters, the weights version and the gradient counters."""
        return {
            **super().get_state(),
            "version": self.version,
            "num_gradients_applied": self.num_gradients_applied,
            "num_gradients_dropped": self.num_gradients_dropped,
            "num_worker_errors": self.num_worker_errors,
            "staleness_sum": self._staleness_sum,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned (a state without the gradient counters, from a
        LocalSyncOptimizer's checkpoint say, restores the base counters and zeroes the others)."""
        super().set_state(state)
        self.version = int(state.get("version", 0))
        self.num_gradients_applied = int(state.get("num_gradients_applied", 0))
        self.num_gradients_dropped = int(state.get("num_gradients_dropped", 0))
        self.num_worker_errors = int(state.get("num_worker_errors", 0))
        self._staleness_sum = int(state.get("staleness_sum", 0))
        self._sent = None


def _nonfinite(grads: Gradients, info: dict[str, Any]) -> str | None:
    """Why a gradient may not be applied (numpy only), or None: the first non-finite scalar of
    ``info`` named as the loss term, else the names of the non-finite gradients."""
    bad_grads = []
    for name, g in grads.items() if isinstance(grads, dict) else ():
        try:
            if not np.isfinite(np.asarray(g, dtype=np.float64)).all():
                bad_grads.append(name)
        except (TypeError, ValueError):
            continue  # not numbers: apply_gradients refuses it (GradientError) naming the weight
    scalars = {
        k: float(v)
        for k, v in (info.items() if isinstance(info, dict) else ())
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
    }
    bad_terms = [k for k, v in scalars.items() if not math.isfinite(v)]
    if not bad_grads and not bad_terms:
        return None
    terms = ", ".join(f"{k}={v:.4g}" for k, v in scalars.items())
    if bad_terms:
        first = bad_terms[0]
        why = f"loss term {first!r} is {scalars[first]} ({terms})"
        return why + (f"; the gradients of {bad_grads} are not finite" if bad_grads else "")
    return f"the gradients of {bad_grads} are not finite (loss terms: {terms or 'none reported'})"
