"""Starting or joining Ray: :func:`init_ray` (used by the :class:`~rlcore.worker_set.WorkerSet` and Tune).

Nothing here imports Ray at module import time. Remote evaluators, their calls and their fault
tolerance live in :mod:`rlcore.worker_set`.
"""

from __future__ import annotations

import os


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start a local Ray (or join ``address``) unless one is already initialized in this process.

    Raises :class:`~rlcore.errors.ConfigError` when nothing answers at ``address`` or joining fails.
    """
    import ray

    if ray.is_initialized():
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
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


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
