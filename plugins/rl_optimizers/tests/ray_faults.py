"""Kill a Ray actor in the tests and wait until it is really gone.

``ray.kill`` only asks: a task sent right after it may still run on the old actor. Both helpers
return once the death is visible, so the step a test runs next finds the worker dead.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any


def wait_dead(actor: Any, timeout_s: float = 60.0) -> bool:
    """Poll until a call on ``actor`` raises ``RayActorError``: True, or False after ``timeout_s``."""
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=10)
        except RayActorError:
            return True
        except GetTimeoutError:
            pass
        time.sleep(0.05)
    return False


def kill_and_wait(actor: Any, timeout_s: float = 60.0) -> None:
    """``ray.kill(actor)`` and poll until a call on it raises ``RayActorError``."""
    import ray

    ray.kill(actor)
    if not wait_dead(actor, timeout_s):
        raise AssertionError(f"the actor did not die within {timeout_s} s of ray.kill")


def sigkill_and_wait(actor: Any, timeout_s: float = 30.0) -> int:
    """SIGKILL the actor's process (its ``pid()`` method) and wait until the process is gone.

    Returns the pid.
    """
    import ray

    pid = ray.get(actor.pid.remote())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not die within {timeout_s} s of SIGKILL")
