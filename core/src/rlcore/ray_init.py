"""Starting or joining Ray: :func:`init_ray` (used by the :class:`~rlcore.worker_set.WorkerSet` and Tune).

Nothing here imports Ray at module import time. Remote evaluators, their calls and their fault
tolerance live in :mod:`rlcore.worker_set`.

Two things differ from a bare ``ray.init()``:

* **Ray's task events are off** in the local Ray that rlcore starts (``task_events_report_interval_ms
  = 0``), and rlcore's worker actors do not record them on a cluster it joins
  (``enable_task_events=False``): Ray's GCS keeps an event record per call, which grew the
  ``gcs_server`` by 393 MB/hour during PPO with 2 workers (0.5 MB/hour without: the memory soak
  of benchmarks/BENCHMARKS.md). They feed Ray's dashboard task view and ``ray list tasks``; set
  ``RLCORE_RAY_TASK_EVENTS=1`` to keep them on.
* **Ray's messages to the driver go to stderr**: ``(raylet) A worker died or was killed...`` and
  the like, which Ray prints on stdout, where ``rlcore train --json`` writes its results (and
  without colour codes when stderr is not a terminal).
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, TextIO

#: Set to 1 (or true/yes/on) to keep Ray's task events (dashboard task view, ``ray list tasks``).
TASK_EVENTS_ENV = "RLCORE_RAY_TASK_EVENTS"


def task_events_enabled() -> bool:
    """Whether ``RLCORE_RAY_TASK_EVENTS`` asks for Ray's task events (default: off)."""
    return os.environ.get(TASK_EVENTS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed
        return False


def _ray_messages_to_stderr() -> None:
    """Route the lines Ray's driver prints for the cluster (``(raylet) A worker died...``, sent
    by its error-listener thread to ``sys.stdout``) to ``sys.stderr``, without colour codes when
    stderr is not a terminal (``RAY_COLOR_PREFIX=0`` unless set). No-op if Ray changed."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:  # pragma: no cover - another Ray layout: leave it
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None or getattr(original, "_rlcore_to_stderr", False):
        return
    if not _isatty(sys.stderr):  # a log file or a pipe: no colour codes around "(raylet)"
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")

    def print_to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        if isinstance(data, dict) and not data.get("is_err"):
            data = {**data, "is_err": True}
        original(data, ignore_prefix)

    print_to_stderr._rlcore_to_stderr = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = print_to_stderr


def machine_cpus() -> int:
    """The CPUs this process may use: its affinity mask (``os.sched_getaffinity``, else
    ``os.cpu_count()``), lowered to a container's CPU quota where Ray sees one."""
    import contextlib

    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    with contextlib.suppress(Exception):  # Ray's cgroup-aware count (a private helper): best effort
        from ray._private.utils import get_num_cpus

        count = min(count, int(get_num_cpus(override_docker_cpu_warning=True)))
    return max(count, 1)


#: The most logical CPUs per core of this machine that rlcore starts a local Ray with to fit a
#: trial or embedded workers (oversubscribed); past that a config is refused before Ray starts.
MAX_CPUS_PER_CORE = 64


def check_oversubscription(need: int, have: int, what: str) -> None:
    """Refuse, in one line and before Ray starts, a local Ray of ``need`` logical CPUs on a machine of
    ``have`` cores beyond :data:`MAX_CPUS_PER_CORE` per core (``what``: who asks, for the message):
    that many processes would not train but thrash (and Ray refuses past 1e14).

    Raises :class:`~rlcore.errors.ConfigError`."""
    from rlcore.errors import ConfigError

    limit = MAX_CPUS_PER_CORE * have
    if need > limit:
        raise ConfigError(
            f"{what} and this machine has {have} CPUs: rlcore oversubscribes a local Ray up to {limit} logical "
            f"CPUs ({MAX_CPUS_PER_CORE} per core), not {need:g}; lower num_workers, num_cpus_per_worker or "
            "resources_per_trial, or join a cluster that has them with --ray-address"
        )


def _workers_need(workers: int, cpus_per_worker: float) -> str:
    return (
        f"{workers} remote worker{'s' if workers != 1 else ''} ask{'s' if workers == 1 else ''} for "
        f"{workers * cpus_per_worker:g} CPUs (num_workers {workers} x num_cpus_per_worker {cpus_per_worker:g})"
    )


def _check_cluster_cpus(workers: int, cpus_per_worker: float, where: str) -> None:
    """Refuse, in one line, workers that the Ray cluster ``where`` can never place (they would wait forever)."""
    import ray

    from rlcore.errors import ConfigError

    need, have = workers * cpus_per_worker, float(ray.cluster_resources().get("CPU", 0))
    if need > have + 1e-9:
        raise ConfigError(
            f"{_workers_need(workers, cpus_per_worker)} but {where} has {have:g}, so they would wait forever; "
            "lower num_workers or num_cpus_per_worker, or use a larger cluster"
        )


def init_ray(
    address: str | None = None, num_cpus: int | None = None, *, workers: int = 0, cpus_per_worker: float = 1.0
) -> None:
    """Start a local Ray (or join ``address``, else ``$RAY_ADDRESS``) unless one is already
    initialized in this process.

    ``workers`` remote workers of ``cpus_per_worker`` CPUs each are to be placed on it: a local Ray
    that this starts (``num_cpus`` None) gets enough logical CPUs for them when this machine
    (:func:`machine_cpus`) has fewer, and says so in one line on stderr (oversubscribed cores);
    a Ray joined or already initialized with fewer CPUs is refused.

    The local Ray records no task events unless ``RLCORE_RAY_TASK_EVENTS=1``, and Ray's messages
    for the driver go to stderr (see the module's docstring).

    Raises :class:`~rlcore.errors.ConfigError` when the workers need more than
    :data:`MAX_CPUS_PER_CORE` logical CPUs per core of this machine (before Ray starts), when
    nothing answers at ``address``, joining fails,
    or a Ray joined or already initialized has fewer CPUs than the workers ask for.
    """
    import ray

    _ray_messages_to_stderr()
    address = address or os.environ.get("RAY_ADDRESS") or None  # as ray.init does: join it, never size it
    if ray.is_initialized():
        if workers:
            _check_cluster_cpus(workers, cpus_per_worker, "the Ray this process already started (ray.init)")
        return
    if address:
        _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as exc:
            from rlcore.errors import ConfigError

            hint = ""
            if os.environ.get("RAY_AUTH_MODE") != "token":
                hint = (
                    " If the cluster was started with `ray start` (Ray >= 2.59 enables token authentication), set "
                    "RAY_AUTH_MODE=token and make its token available (~/.ray/auth_token, RAY_AUTH_TOKEN or "
                    "RAY_AUTH_TOKEN_PATH)."
                )
            raise ConfigError(f"cannot join the Ray cluster at {address!r}: {exc}.{hint}") from None
        if workers:
            _check_cluster_cpus(workers, cpus_per_worker, f"the Ray cluster at {address}")
    else:
        need = math.ceil(workers * cpus_per_worker - 1e-9)
        if num_cpus is None and need > (have := machine_cpus()):
            check_oversubscription(need, have, _workers_need(workers, cpus_per_worker))
            num_cpus = need
            print(
                f"rlcore: {_workers_need(workers, cpus_per_worker)} and this machine has {have}: starting Ray with "
                f"{need} logical CPUs (oversubscribed)",
                file=sys.stderr,
                flush=True,
            )
        system_config = {} if task_events_enabled() else {"task_events_report_interval_ms": 0}
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, _system_config=system_config)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at a ``host:port`` address (Ray itself retries for minutes)."""
    import socket

    from rlcore.errors import ConfigError

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", "ray://...": left to Ray
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(
            f"nothing answers at the Ray address {address!r} ({exc}); start a head node there with "
            "`ray start --head --port PORT`, or drop --ray-address to run a local Ray"
        ) from None
