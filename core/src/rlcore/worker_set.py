"""The WorkerSet: the local evaluator and its remote copies on Ray (DESIGN section 4c).

A :class:`WorkerSet` holds one local :class:`~rlcore.evaluator.PolicyEvaluator` (worker index 0,
in this process) and ``num_workers`` remote ones: Ray actors of the very same class, worker
indices ``1..num_workers``. Every optimizer reaches the evaluators through it:

* synchronous group calls: :meth:`WorkerSet.foreach_worker` (results in worker order);
* asynchronous tasks: :meth:`WorkerSet.submit` a call to one worker, take results as they finish
  with :meth:`WorkerSet.completed` (``ray.wait``), resubmit (A3C's gradients, Ape-X's sampling);
  :class:`AsyncTaskPool` is the same pool over any Ray actors (Ape-X's replay shards);
* weights: :meth:`WorkerSet.sync_weights` (put in the object store once, pushed to all workers or
  to some); shared read-only data: :meth:`WorkerSet.put` (ES's noise table);
* the optional parts of the evaluator contract: :meth:`WorkerSet.sync_filters`,
  :meth:`WorkerSet.set_global_vars`, :meth:`WorkerSet.set_state`, each of which works with the
  base class's defaults (no filter: nothing to sync);
* fault tolerance, in one place: a remote evaluator whose actor died (``RayActorError``) is
  recreated with the local evaluator's current weights and filter, the last restored state and
  the global vars sent since; its in-flight tasks are dropped (each one counted in
  :attr:`WorkerSet.num_dropped_tasks`, the death in :attr:`WorkerSet.num_failures`), and
  training goes on, for the synchronous calls and the task pool alike. A worker is restarted at
  most ``max_worker_restarts`` times in a row (a replacement that dies while it starts counts),
  with an exponential backoff between attempts, then :class:`WorkerCrashedError`;
* errors from workers: an exception raised by the evaluator's code in a worker (its constructor
  included) is not a death. It is raised in the driver as the very exception the worker raised,
  same type, same message, same ``__cause__`` chain (Ray's ``RayTaskError`` wrapper, with its
  colour-coded remote traceback, is taken off), with a note naming the worker: a run with
  workers fails with the same error line as the same fault in an embedded run.

With ``num_workers=0`` there are no actors and Ray is never imported: every call runs on the
local evaluator, and a task submitted to worker 0 runs at once, its result waiting in the pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import pickle
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from rlcore.errors import ConfigError, RLCoreError

#: A method name of the evaluator contract (``"sample"``) or a function ``fn(evaluator, *args)``.
Call = str | Callable[..., Any]


class WorkerCrashedError(RLCoreError, RuntimeError):
    """A remote evaluator died and could not be (or may not be) recreated.

    Raised when ``recreate_failed`` is off, and when one worker died more than
    ``max_worker_restarts`` times in a row without one call answered in between (a replacement
    that dies while it starts counts as one of them).
    """


class RemoteWorkerError(RLCoreError, RuntimeError):
    """An exception raised inside a remote worker that could not be brought back as it was (its
    class does not pickle); the message keeps its type name and text."""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CHAIN_KEY = "_rlcore_remote_cause"


def _keep_chain(exc: BaseException) -> None:
    """In a worker: keep ``exc``'s ``__cause__`` chain in its ``__dict__`` (pickled with it;
    ``__cause__`` itself is not), for :func:`_restore_chain` in the driver."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        cause = e.__cause__
        if cause is not None:
            try:
                pickle.dumps(cause)
            except Exception:  # noqa: BLE001 - an unpicklable cause: its words instead
                try:
                    words = f"{type(cause).__name__}: {cause}"
                except Exception as err:  # noqa: BLE001 - its __str__ raises too: still named
                    words = f"{type(cause).__name__}: <its str() raised {type(err).__name__}>"
                cause = RemoteWorkerError(words)
            with contextlib.suppress(AttributeError, TypeError):  # no __dict__: the chain ends here
                e.__dict__[_CHAIN_KEY] = cause
        e = cause


def _restore_chain(exc: BaseException) -> None:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        cause = getattr(e, "__dict__", {}).pop(_CHAIN_KEY, None)
        if isinstance(cause, BaseException):
            e.__cause__ = cause
        e = e.__cause__


def _remote_class(evaluator_cls: type) -> type:
    """The class a worker's actor runs: ``evaluator_cls`` whose constructor keeps its exception
    (raised by ``_rlcore_ready``, a task error like any other, instead of killing the actor) and
    whose public methods keep their exception's ``__cause__`` chain across pickling."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self._rlcore_init_error = None
        try:
            base_init: Callable[..., None] = evaluator_cls.__init__  # type: ignore[misc]
            base_init(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - raised by _rlcore_ready, in the driver
            _keep_chain(exc)
            self._rlcore_init_error = exc

    def _rlcore_ready(self: Any) -> None:
        if self._rlcore_init_error is not None:
            raise self._rlcore_init_error

    namespace: dict[str, Any] = {"__init__": __init__, "_rlcore_ready": _rlcore_ready, "__doc__": evaluator_cls.__doc__}
    for name in dir(evaluator_cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(evaluator_cls, name)
        if inspect.isfunction(attr) and not inspect.iscoroutinefunction(attr) and not inspect.isgeneratorfunction(attr):
            namespace[name] = _chain_keeping(attr)
    remote_cls = type(evaluator_cls.__name__, (evaluator_cls,), namespace)
    remote_cls.__qualname__ = evaluator_cls.__qualname__
    return remote_cls


def _chain_keeping(fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools

    @functools.wraps(fn)
    def method(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            _keep_chain(exc)
            raise

    return method


def _death_reason(error: BaseException) -> str:
    """A short reason from a ``RayActorError``'s many lines: "it was killed by `ray.kill`"."""
    text = _ANSI.sub("", str(error))
    match = re.search(r"The actor is dead because (.+?)(?:\.\s|\.$|$)", text, re.M)
    if match:
        return match.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(error).__name__


def unwrap_remote_error(error: BaseException, worker: str = "a remote worker") -> BaseException:
    """The exception a remote call raised, out of Ray's ``RayTaskError`` around it.

    Returns the worker's own exception (same type, message and ``__cause__`` chain) with a note
    naming ``worker``; a :class:`RemoteWorkerError` with its type and text when it did not pickle;
    ``error`` itself when it is not a task error (a dead actor's ``RayActorError``, say).
    """
    from ray.exceptions import RayError, RayTaskError

    if not isinstance(error, RayTaskError):
        return error
    cause: Any = error
    while isinstance(cause, RayTaskError):  # a task error raised by a task a worker waited for
        cause = cause.cause
    remote_tb = _ANSI.sub("", str(error)).strip()  # "ray::Cls.method() (pid=..., ip=...)", the frames, the error
    if not isinstance(cause, BaseException) or (isinstance(cause, RayError) and not isinstance(cause, RLCoreError)):
        last = [line for line in remote_tb.splitlines() if line.strip()]
        cause = RemoteWorkerError(f"{worker} raised {last[-1].strip() if last else type(error).__name__}")
    else:
        _restore_chain(cause)
    found = re.search(r"\bpid=(\d+)", remote_tb)
    pid = found.group(1) if found else None
    with contextlib.suppress(Exception):
        cause.add_note(f"(raised in {worker}{f', pid {pid}' if pid else ''})")
        if remote_tb and not isinstance(cause, RLCoreError):  # a bug in the worker's code: where it was
            cause.add_note(f"remote traceback:\n{remote_tb}")
    cause.__suppress_context__ = True
    return cause


@dataclasses.dataclass(frozen=True)
class TaskResult:
    """The outcome of one submitted task: its ``result``, or the ``error`` that dropped it.

    ``worker_index`` and ``tag`` are what the task was submitted with; ``name`` is the method's
    (or the function's) name. A task whose actor died comes back with ``ok`` False and ``error``
    the ``RayActorError``: the worker was recreated, and a caller that keeps one task per worker
    in flight resubmits to it. With ``completed(raise_errors=False)``, a task that raised inside
    its worker comes back too: ``ok`` False, ``raised`` True and ``error`` the exception the
    worker raised (as :func:`unwrap_remote_error` gives it); the worker is alive and unchanged.
    """

    worker_index: int
    name: str
    result: Any = None
    error: BaseException | None = None
    tag: Any = None
    raised: bool = False

    @property
    def ok(self) -> bool:
        """Whether the task ran to its end (else it was dropped and :attr:`error` says why)."""
        return self.error is None


@dataclasses.dataclass
class _Task:
    worker_index: int
    actor: Any
    name: str
    tag: Any


def _name(fn: Call) -> str:
    return fn if isinstance(fn, str) else getattr(fn, "__name__", type(fn).__name__)


def _remote_call(actor: Any, fn: Call, args: tuple[Any, ...]) -> Any:
    """Start ``fn`` on an actor: a method by name, or ``fn(evaluator, *args)`` through ``apply``."""
    if isinstance(fn, str):
        return getattr(actor, fn).remote(*args)
    return actor.apply.remote(fn, *args)


class AsyncTaskPool:
    """Calls in flight on Ray actors, taken back as they finish (``ray.wait``).

    Any Ray actors will do (a :class:`WorkerSet` keeps one for its evaluators; Ape-X's replay
    shards can have their own): :meth:`submit` names the actor and an index for it. Every
    submitted task comes back exactly once from :meth:`completed`, as a :class:`TaskResult` that
    holds its result or, if its actor died, the ``RayActorError`` (then ``on_actor_died(index,
    actor, error)`` is called, if given). A task that raised inside the actor raises from
    :meth:`completed` the exception it raised (:func:`unwrap_remote_error`; the other finished
    tasks wait for the next call), or, with ``raise_errors=False``, comes back as a
    :class:`TaskResult` with ``raised`` True and that exception as its ``error`` (so the caller
    knows which worker's task it was).
    """

    def __init__(self, on_actor_died: Callable[[int, Any, BaseException], None] | None = None) -> None:
        self.on_actor_died = on_actor_died
        self._tasks: dict[Any, _Task] = {}  # ObjectRef -> task, in submission order
        self._done: deque[TaskResult] = deque()

    def submit(self, worker_index: int, actor: Any, fn: Call, *args: Any, tag: Any = None) -> Any:
        """Start ``fn`` (a method name, or ``fn(evaluator, *args)`` run by the actor's ``apply``) on
        ``actor``; returns its ObjectRef. ``tag`` comes back in the :class:`TaskResult`."""
        ref = _remote_call(actor, fn, args)
        self._tasks[ref] = _Task(worker_index, actor, _name(fn), tag)
        return ref

    def add_done(self, result: TaskResult) -> None:
        """Queue a result known already (a call run locally) for the next :meth:`completed`."""
        self._done.append(result)

    def num_in_flight(self, worker_index: int | None = None) -> int:
        """Tasks submitted and not yet returned by :meth:`completed` (of one worker, or all)."""
        pending = sum(1 for t in self._tasks.values() if worker_index is None or t.worker_index == worker_index)
        waiting = sum(1 for r in self._done if worker_index is None or r.worker_index == worker_index)
        return pending + waiting

    def drop(self, worker_index: int, error: BaseException) -> int:
        """Give up the running tasks of ``worker_index`` (its actor died): they come back from
        :meth:`completed` with ``error``. Returns how many were dropped."""
        refs = [ref for ref, t in self._tasks.items() if t.worker_index == worker_index]
        for ref in refs:
            t = self._tasks.pop(ref)
            self._done.append(TaskResult(t.worker_index, t.name, error=error, tag=t.tag))
        return len(refs)

    def clear(self) -> None:
        """Forget every task (their actors are being stopped)."""
        self._tasks.clear()
        self._done.clear()

    def _take_done(self, out: list[TaskResult], limit: int | None) -> None:
        while self._done and (limit is None or len(out) < limit):
            out.append(self._done.popleft())

    def completed(
        self, timeout: float | None = None, max_results: int | None = None, *, raise_errors: bool = True
    ) -> list[TaskResult]:
        """The tasks that have finished, the first to finish first.

        Waits up to ``timeout`` seconds (``None``: until one finishes; ``0``: only look) when no
        result is ready; returns ``[]`` when nothing is in flight or nothing finished in time.
        At most ``max_results`` results (the rest stay for the next call). Raises the exception
        of a task that raised inside its actor; with ``raise_errors=False`` that task comes back
        instead, as a :class:`TaskResult` with ``raised`` True and the exception in ``error``.
        Raises ``ValueError`` for ``max_results < 1``.
        """
        if max_results is not None and max_results < 1:
            raise ValueError(f"max_results must be >= 1 or None, got {max_results!r}")
        out: list[TaskResult] = []
        self._take_done(out, max_results)
        if (max_results is not None and len(out) >= max_results) or not self._tasks:
            return out
        import ray
        from ray.exceptions import RayActorError

        refs = list(self._tasks)
        first, _ = ray.wait(refs, num_returns=1, timeout=0 if out else timeout)
        if not first:
            return out
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        ordered = first + [r for r in ready if r not in first]
        raised: BaseException | None = None
        for ref in ordered:
            if max_results is not None and len(out) >= max_results:
                break
            task = self._tasks.pop(ref, None)
            if task is None:  # dropped while handling an earlier result
                continue
            try:
                value = ray.get(ref)
            except RayActorError as exc:
                out.append(TaskResult(task.worker_index, task.name, error=exc, tag=task.tag))
                if self.on_actor_died is not None:
                    try:
                        self.on_actor_died(task.worker_index, task.actor, exc)
                    except BaseException:  # recovery failed: keep what finished for the next call
                        self._done.extendleft(reversed(out))
                        raise
                continue
            except Exception as exc:  # noqa: BLE001 - raised below, once the finished results are kept
                error = unwrap_remote_error(exc, f"remote worker {task.worker_index}")
                if not raise_errors:
                    out.append(TaskResult(task.worker_index, task.name, error=error, tag=task.tag, raised=True))
                    continue
                raised = raised or error
                continue
            out.append(TaskResult(task.worker_index, task.name, value, tag=task.tag))
        self._take_done(out, max_results)
        if raised is not None:
            self._done.extendleft(reversed(out))
            raise raised
        return out


class WorkerSet:
    """The local evaluator and ``num_workers`` remote ones (Ray actors of the same class).

    The local evaluator is ``evaluator_cls(env_creator, config, 0, **evaluator_kwargs)``; remote
    worker ``i`` (``1 <= i <= num_workers``) is ``evaluator_cls(env_creator, config, i,
    **evaluator_kwargs)`` built inside a Ray actor with ``num_cpus_per_worker`` CPUs and
    ``num_gpus_per_worker`` GPUs, so everything passed must pickle. Ray is started (or joined at
    ``ray_address``) when there are remote workers, and never imported when there are none.
    Methods that take a worker index take these indices: 0 is the local evaluator, ``i`` is
    ``remote_evaluators[i - 1]``.

    A worker whose actor dies is recreated (unless ``recreate_failed`` is False) at most
    ``max_worker_restarts`` times in a row, counted per worker and reset by every call it answers:
    the first restart is immediate, each next one waits twice as long (:attr:`restart_backoff_s`,
    then 2x, 4x..., at most :attr:`max_restart_backoff_s`). A replacement that dies while it starts
    is one more death in a row. An exception raised by the evaluator's own code in a worker (its
    constructor, a call) is not a death: it is raised here as the worker raised it.

    Raises :class:`~rlcore.errors.ConfigError` for a negative ``num_workers`` or
    ``max_worker_restarts``, the evaluator's own exception when its constructor raises in a
    worker, and :class:`WorkerCrashedError` when a worker dies and may not (or can no longer) be
    replaced.
    """

    #: Seconds before the second restart in a row of one worker (doubled for each next one).
    restart_backoff_s: float = 1.0
    #: The longest wait between two restarts of one worker.
    max_restart_backoff_s: float = 30.0

    local_evaluator: Any
    _actor_cls: Any
    _actors: list[Any]

    def __init__(
        self,
        evaluator_cls: type,
        env_creator: Callable[[dict[str, Any]], Any],
        config: dict[str, Any],
        num_workers: int,
        *,
        evaluator_kwargs: dict[str, Any] | None = None,
        num_cpus_per_worker: float = 1,
        num_gpus_per_worker: float = 0,
        recreate_failed: bool = True,
        max_worker_restarts: int = 3,
        ray_address: str | None = None,
    ) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError(f"num_workers must be an integer >= 0, got {num_workers!r}")
        if isinstance(max_worker_restarts, bool) or not isinstance(max_worker_restarts, int) or max_worker_restarts < 0:
            raise ConfigError(f"max_worker_restarts must be an integer >= 0, got {max_worker_restarts!r}")
        self.evaluator_cls = evaluator_cls
        self.env_creator = env_creator
        self.config = config
        self.evaluator_kwargs = dict(evaluator_kwargs or {})
        self.recreate_failed = recreate_failed
        self.max_worker_restarts = max_worker_restarts
        self._setup_bookkeeping()
        self.local_evaluator = evaluator_cls(env_creator, config, 0, **self.evaluator_kwargs)
        if num_workers > 0:
            import ray

            from rlcore.ray_init import init_ray, task_events_enabled

            init_ray(ray_address, workers=num_workers, cpus_per_worker=num_cpus_per_worker)
            options: dict[str, Any] = {"num_cpus": num_cpus_per_worker, "num_gpus": num_gpus_per_worker}
            if not task_events_enabled():
                options["enable_task_events"] = False  # Ray's GCS would keep an event per call (memory)
            self._actor_cls = ray.remote(**options)(_remote_class(evaluator_cls))
            self._actors = [self._make(i) for i in range(1, num_workers + 1)]
            try:
                for i in range(1, num_workers + 1):
                    self._start(i, self._actors[i - 1], [])
            except BaseException:
                self.stop()  # nobody else holds the actors
                raise

    @classmethod
    def from_evaluator(cls, local_evaluator: Any) -> WorkerSet:
        """An embedded set (no remote workers, no Ray) around an evaluator built already."""
        self = cls.__new__(cls)
        self.evaluator_cls = type(local_evaluator)
        self.env_creator = None  # type: ignore[assignment]
        self.config = getattr(local_evaluator, "config", {})
        self.evaluator_kwargs = {}
        self.recreate_failed = True
        self.max_worker_restarts = 3
        self._setup_bookkeeping()
        self.local_evaluator = local_evaluator
        return self

    def _setup_bookkeeping(self) -> None:
        self._actor_cls = None
        self._actors = []
        #: Remote evaluators that died (each one recreated unless ``recreate_failed`` is off).
        self.num_failures = 0
        #: Calls lost with the actors that died (synchronous calls and pool tasks).
        self.num_dropped_tasks = 0
        self._consecutive: dict[int, int] = {}
        self._generations: dict[int, int] = {}  # recreations per worker index (seed offsets)
        self._restored_state: Any = None  # ObjectRef of the last set_state, for recreated workers
        self._global_vars: dict[str, Any] = {}
        self._pool = AsyncTaskPool(on_actor_died=self._task_actor_died)
        self._stopped = False

    # -- who is there ------------------------------------------------------------------
    @property
    def remote_evaluators(self) -> list[Any]:
        """The Ray actor handles of the remote evaluators (worker ``i`` at ``[i - 1]``); a copy."""
        return list(self._actors)

    @property
    def num_remote(self) -> int:
        """How many remote evaluators there are (0: embedded mode, no Ray)."""
        return len(self._actors)

    @property
    def remote_worker_indices(self) -> list[int]:
        """``[1, ..., num_remote]``."""
        return list(range(1, len(self._actors) + 1))

    def stats(self) -> dict[str, int]:
        """``num_remote_workers``, ``num_worker_failures``, ``num_dropped_tasks``, ``num_tasks_in_flight``."""
        return {
            "num_remote_workers": self.num_remote,
            "num_worker_failures": self.num_failures,
            "num_dropped_tasks": self.num_dropped_tasks,
            "num_tasks_in_flight": self._pool.num_in_flight(),
        }

    # -- synchronous calls -----------------------------------------------------------
    def foreach_worker(self, fn: Call, *args: Any, local: bool = True, to: Iterable[int] | None = None) -> list[Any]:
        """Call ``fn`` on the local evaluator (unless ``local=False``) and on the remote workers
        ``to`` (worker indices; default all) in parallel, and wait; the results in worker order.

        ``fn`` is a method name (``"get_metrics"``) or a function ``fn(evaluator, *args)`` (run in
        the worker's process through its ``apply``; it must pickle). Arguments go to every worker
        as they are (an ObjectRef from :meth:`put` reaches the local evaluator resolved). A worker
        whose actor died is recreated and has no result: the list is then shorter (see
        :meth:`foreach_worker_with_index`). An exception raised inside a worker is raised here.
        """
        return [r for _, r in self.foreach_worker_with_index(fn, *args, local=local, to=to)]

    def foreach_worker_with_index(
        self, fn: Call, *args: Any, local: bool = True, to: Iterable[int] | None = None
    ) -> list[tuple[int, Any]]:
        """As :meth:`foreach_worker`, as ``(worker_index, result)`` pairs (0 = local)."""
        launched = self._launch(fn, args, self._indices(to))
        out: list[tuple[int, Any]] = []
        if local:
            out.append((0, self._call_local(fn, args)))
        out.extend(self._gather(launched))
        return out

    def _indices(self, to: Iterable[int] | None) -> list[int]:
        if to is None:
            return self.remote_worker_indices
        indices = [int(i) for i in to]
        for i in indices:
            if not 1 <= i <= len(self._actors):
                raise IndexError(f"no remote worker {i}: remote workers are 1..{len(self._actors)}")
        return indices

    def _call_local(self, fn: Call, args: tuple[Any, ...]) -> Any:
        if self._actors:
            import ray

            args = tuple(ray.get(a) if isinstance(a, ray.ObjectRef) else a for a in args)
        if isinstance(fn, str):
            return getattr(self.local_evaluator, fn)(*args)
        return fn(self.local_evaluator, *args)

    def _launch(self, fn: Call, args: tuple[Any, ...], indices: list[int]) -> list[tuple[int, Any, Any]]:
        return [(i, self._actors[i - 1], _remote_call(self._actors[i - 1], fn, args)) for i in indices]

    def _gather(self, launched: list[tuple[int, Any, Any]]) -> list[tuple[int, Any]]:
        if not launched:
            return []
        import ray
        from ray.exceptions import RayActorError

        out = []
        raised: BaseException | None = None
        for i, actor, ref in launched:
            try:
                out.append((i, ray.get(ref)))
            except RayActorError as exc:
                self.num_dropped_tasks += 1
                self._actor_died(i, actor, exc)
            except Exception as exc:  # noqa: BLE001 - raised once every worker's call is back
                raised = raised or unwrap_remote_error(exc, self._worker_name(i))
            else:
                self._consecutive[i] = 0
        if raised is not None:
            raise raised
        return out

    def _worker_name(self, i: int) -> str:
        return f"remote worker {i} ({self.evaluator_cls.__name__})"

    # -- asynchronous tasks ------------------------------------------------------------
    def submit(self, worker_index: int, fn: Call, *args: Any, tag: Any = None) -> None:
        """Start ``fn`` (a method name or ``fn(evaluator, *args)``) on one worker, without waiting.

        Take its :class:`TaskResult` from :meth:`completed`. Worker 0 is the local evaluator: the
        call runs now and its result waits in the pool (so an asynchronous optimizer also runs
        embedded); an exception it raises is raised here. Raises ``IndexError`` for an unknown
        worker.
        """
        if worker_index == 0:
            self._pool.add_done(TaskResult(0, _name(fn), self._call_local(fn, args), tag=tag))
            return
        (i,) = self._indices([worker_index])
        self._pool.submit(i, self._actors[i - 1], fn, *args, tag=tag)

    def completed(
        self, timeout: float | None = None, max_results: int | None = None, *, raise_errors: bool = True
    ) -> list[TaskResult]:
        """Results of submitted tasks as they finish (see :meth:`AsyncTaskPool.completed`).

        A task whose actor died comes back with ``ok`` False; by then the worker was recreated
        (with the current weights) and a resubmission to the same index reaches the new actor.
        A task that raised inside its worker raises its exception here (with a note naming the
        worker; the other finished results wait for the next call), or with
        ``raise_errors=False`` comes back with ``raised`` True and the exception as ``error``
        (the worker is alive: a resubmission reaches the same actor).
        """
        results = self._pool.completed(timeout, max_results, raise_errors=raise_errors)
        for r in results:
            if (r.ok or r.raised) and r.worker_index:  # it answered: not a death in a row
                self._consecutive[r.worker_index] = 0
        return results

    def num_in_flight(self, worker_index: int | None = None) -> int:
        """Submitted tasks whose results :meth:`completed` has not returned yet (one worker's, or all)."""
        return self._pool.num_in_flight(worker_index)

    # -- data to the workers -----------------------------------------------------------
    def put(self, obj: Any) -> Any:
        """Put read-only data in Ray's object store once (an ObjectRef to pass to calls, where
        each worker gets it resolved); without remote workers, ``obj`` itself."""
        if not self._actors:
            return obj
        import ray

        return ray.put(obj)

    def sync_weights(self, weights: dict[str, Any] | None = None, to: Iterable[int] | None = None) -> None:
        """Send ``weights`` (default: the local evaluator's) to the remote workers ``to`` (worker
        indices; default all), put in the object store once. No-op without remote workers."""
        indices = self._indices(to) if self._actors else []
        if not indices:
            return
        import ray

        ref = ray.put(self.local_evaluator.get_weights() if weights is None else weights)
        self._gather(self._launch("set_weights", (ref,), indices))

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Send trainer-wide values to every evaluator (kept for workers recreated later)."""
        self._global_vars.update(global_vars)
        self.local_evaluator.set_global_vars(global_vars)
        self._gather(self._launch("set_global_vars", (global_vars,), self.remote_worker_indices))

    def set_state(self, state: dict[str, Any], *, local: bool = True) -> None:
        """Load an evaluator state (a restore) into every remote evaluator, and into the local one
        unless ``local=False``. Workers recreated later get it too (then the current weights)."""
        if local:
            self.local_evaluator.set_state(state)
        self._global_vars = {}  # the state brings its own
        if not self._actors:
            return
        import ray

        self._restored_state = ray.put(state)
        self._gather(self._launch("set_state", (self._restored_state,), self.remote_worker_indices))

    def sync_filters(self) -> None:
        """Merge the remote evaluators' observation-filter buffers into the local filter and send
        its state back to all of them.

        Follows the contract's defaults: an evaluator's ``get_filters(flush_after=True)`` may be
        ``{}`` (no filter, nothing gathered) and the local one's ``get_filters()`` may have no
        ``"state"`` (nothing sent). No-op without remote workers.
        """
        if not self._actors:
            return
        gathered = self.foreach_worker("get_filters", True, local=False)
        buffers = [g["buffer"] for g in gathered if isinstance(g, dict) and g.get("buffer") is not None]
        if buffers:
            self.local_evaluator.merge_filter_buffers(buffers)
        state = self._local_filter_state()
        if state is not None:
            self._gather(self._launch("sync_filters", (state,), self.remote_worker_indices))

    def _local_filter_state(self) -> Any:
        filters = self.local_evaluator.get_filters()
        return filters.get("state") if isinstance(filters, dict) else None

    # -- fault tolerance ---------------------------------------------------------------
    def _task_actor_died(self, worker_index: int, actor: Any, error: BaseException) -> None:
        self.num_dropped_tasks += 1
        self._actor_died(worker_index, actor, error)

    def _actor_died(self, i: int, actor: Any, error: BaseException) -> None:
        """Worker ``i``'s actor ``actor`` died: recreate it (unless replaced already) and drop its tasks."""
        if self._stopped or i > len(self._actors) or self._actors[i - 1] is not actor:
            return  # an old handle of a worker recreated already
        self.num_failures += 1
        self._consecutive[i] = self._consecutive.get(i, 0) + 1
        if not self.recreate_failed:
            raise WorkerCrashedError(
                f"{self._worker_name(i)} died ({_death_reason(error)}); recreate_failed_workers is false: "
                "set it to true to replace dead workers"
            ) from None
        self.num_dropped_tasks += self._pool.drop(i, error)
        self._recreate(i, error)

    def _make(self, i: int) -> Any:
        """Worker ``i``'s actor; a recreated one gets a seed of its own (``seed + 104729 * generation``),
        so that it does not replay the episodes its predecessor sampled."""
        generation = self._generations.get(i, 0)
        config = self.config
        if generation and config.get("seed") is not None:
            config = {**config, "seed": int(config["seed"]) + 104729 * generation}
        return self._actor_cls.remote(self.env_creator, config, i, **self.evaluator_kwargs)

    def _restart_delay(self, deaths_in_a_row: int) -> float:
        """No wait before the first restart, then ``restart_backoff_s`` doubled each time (capped)."""
        if deaths_in_a_row <= 1:
            return 0.0
        return float(min(self.restart_backoff_s * 2 ** (deaths_in_a_row - 2), self.max_restart_backoff_s))

    def _recreate(self, i: int, error: BaseException) -> None:
        """New actors for worker ``i`` until one starts (each with the last restored state, then the
        local evaluator's current weights and filter, then the global vars sent since), waiting
        longer before each attempt; :class:`WorkerCrashedError` past ``max_worker_restarts``."""
        import ray
        from ray.exceptions import RayActorError

        while True:
            deaths = self._consecutive.get(i, 0)
            if deaths > self.max_worker_restarts:
                raise WorkerCrashedError(
                    f"{self._worker_name(i)} died {deaths} times in a row ({_death_reason(error)}), restarted "
                    f"{deaths - 1} times without answering a call (max_worker_restarts={self.max_worker_restarts}): "
                    "its process keeps dying (out of memory? killed? a crash in native code?); see the worker logs "
                    "in Ray's session folder (/tmp/ray/session_latest/logs), or raise max_worker_restarts"
                ) from None
            time.sleep(self._restart_delay(deaths))
            with contextlib.suppress(Exception):  # dead already
                ray.kill(self._actors[i - 1])
            self._generations[i] = self._generations.get(i, 0) + 1
            actor = self._make(i)
            self._actors[i - 1] = actor
            setup: list[tuple[str, Any]] = []
            if self._restored_state is not None:
                setup.append(("set_state", (self._restored_state,)))
            setup.append(("set_weights", (ray.put(self.local_evaluator.get_weights()),)))
            state = self._local_filter_state()
            if state is not None:
                setup.append(("sync_filters", (state,)))
            if self._global_vars:
                setup.append(("set_global_vars", (dict(self._global_vars),)))
            try:
                self._start(i, actor, setup)
                return
            except RayActorError as exc:  # the replacement died while it started: one more death
                self.num_failures += 1
                self._consecutive[i] = deaths + 1
                error = exc

    def _start(self, i: int, actor: Any, setup: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Wait until worker ``i``'s new ``actor`` is built and has run the ``setup`` calls.

        Raises the evaluator's own exception when its constructor (or a setup call) raised, and
        the ``RayActorError`` when the actor died meanwhile (a first start recreates it in turn).
        """
        import ray
        from ray.exceptions import RayActorError

        refs = [actor._rlcore_ready.remote()] + [getattr(actor, name).remote(*args) for name, args in setup]
        for ref in refs:
            try:
                ray.get(ref)
            except RayActorError as exc:
                if setup:  # a replacement: _recreate counts it and tries again
                    raise
                self._actor_died(i, actor, exc)  # a first start: recreated like any dead worker
                return
            except Exception as exc:  # noqa: BLE001 - the evaluator's own error, its cause chain kept (no `from`)
                raise unwrap_remote_error(exc, self._worker_name(i))  # noqa: B904

    # -- the end -----------------------------------------------------------------------
    def stop(self) -> None:
        """Kill the remote actors and stop the local evaluator (once; later calls do nothing)."""
        if self._stopped:
            return
        self._stopped = True
        self._pool.clear()
        if self._actors:
            import ray

            for a in self._actors:
                with contextlib.suppress(Exception):  # gone already
                    ray.kill(a)
        self._actors = []
        self.local_evaluator.stop()
