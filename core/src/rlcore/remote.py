"""Ray glue: remote evaluators as Ray actors of the very same evaluator class.

Nothing here imports Ray at module import time; with ``num_workers=0`` none of it runs. A remote
evaluator whose actor dies is recreated (with the latest broadcast weights and filters) and the
call retried once; the failures are counted and reported in the trainer's result.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rlcore.sample_batch import SampleBatch


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Start a local Ray (or join ``address``) unless one is already initialized in this process."""
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


class RemoteEvaluatorSet(Sequence[Any]):
    """``num_workers`` Ray actors of ``evaluator_cls``, built as ``cls(env_creator, config, i)``, i >= 1.

    Behaves as a sequence of actor handles (what the :class:`~rlcore.PolicyOptimizer` contract
    calls ``remote_evaluators``) and adds fault-tolerant group calls.
    """

    def __init__(
        self,
        evaluator_cls: type,
        env_creator: Callable[[dict[str, Any]], Any],
        config: dict[str, Any],
        num_workers: int,
        *,
        num_cpus_per_worker: float = 1,
        recreate_failed: bool = True,
    ) -> None:
        import ray

        self._actor_cls: Any = ray.remote(num_cpus=num_cpus_per_worker)(evaluator_cls)
        self._env_creator = env_creator
        self._config = config
        self.recreate_failed = recreate_failed
        self.num_failures = 0
        self._last_weights: Any = None
        self._last_filters: Any = None
        self.actors = [self._make(i + 1) for i in range(num_workers)]

    def _make(self, index: int) -> Any:
        return self._actor_cls.remote(self._env_creator, self._config, index)

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        return self.actors[i]

    def __len__(self) -> int:
        return len(self.actors)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.actors)

    def _recreate(self, i: int) -> None:
        import ray

        self.num_failures += 1
        if not self.recreate_failed:
            raise RuntimeError(f"remote evaluator {i + 1} died and recreate_failed_workers is off")
        with contextlib.suppress(Exception):  # it is dead already
            ray.kill(self.actors[i])
        actor = self._make(i + 1)
        if self._last_weights is not None:
            ray.get(actor.set_weights.remote(self._last_weights))
        if self._last_filters is not None:
            ray.get(actor.sync_filters.remote(self._last_filters))
        self.actors[i] = actor

    def call_all(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Call ``method`` on every actor in parallel and return the results in order.

        An actor that died is recreated and the call retried on the new one.
        """
        import ray
        from ray.exceptions import RayActorError

        refs = [getattr(a, method).remote(*args, **kwargs) for a in self.actors]
        out = []
        for i, ref in enumerate(refs):
            try:
                out.append(ray.get(ref))
            except RayActorError:
                self._recreate(i)
                out.append(ray.get(getattr(self.actors[i], method).remote(*args, **kwargs)))
        return out

    def sync_weights(self, weights: dict[str, Any]) -> None:
        """Broadcast weights to every actor (put in the object store once)."""
        import ray

        self._last_weights = ray.put(weights)
        self.call_all("set_weights", self._last_weights)

    def set_state(self, state: dict[str, Any]) -> None:
        """Load an evaluator state (a restore) into every actor; recreated actors get it too."""
        import ray

        self._last_weights = ray.put(state["weights"])
        self._last_filters = state.get("filter")
        self.call_all("set_state", state)

    def sync_filters(self, state: dict[str, Any]) -> None:
        """Broadcast observation-filter statistics to every actor."""
        self._last_filters = state
        self.call_all("sync_filters", state)

    def sample(self) -> list[SampleBatch]:
        """One ``sample()`` from every actor, in parallel."""
        return self.call_all("sample")

    def stop(self) -> None:
        """Kill every actor."""
        import ray

        for a in self.actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(a)
        self.actors = []


def collect_samples(local: Any, remotes: Sequence[Any], min_rows: int) -> list[SampleBatch]:
    """Sample until at least ``min_rows`` rows: from the local evaluator when there are no remote
    ones (the embedded mode), else in parallel rounds from every remote evaluator."""
    batches: list[SampleBatch] = []
    rows = 0
    while rows < min_rows:
        new = [local.sample()] if not remotes else _remote_sample(remotes)
        batches.extend(new)
        rows += sum(b.count for b in new)
    return batches


def _remote_sample(remotes: Sequence[Any]) -> list[SampleBatch]:
    if isinstance(remotes, RemoteEvaluatorSet):
        return remotes.sample()
    import ray

    return list(ray.get([r.sample.remote() for r in remotes]))


def broadcast_weights(weights: dict[str, Any], remotes: Sequence[Any]) -> None:
    """Send weights to every remote evaluator (no-op without any)."""
    if not remotes:
        return
    if isinstance(remotes, RemoteEvaluatorSet):
        remotes.sync_weights(weights)
        return
    import ray

    ref = ray.put(weights)
    ray.get([r.set_weights.remote(ref) for r in remotes])


def call_remotes(remotes: Sequence[Any], method: str, *args: Any) -> list[Any]:
    """Call ``method`` on every remote evaluator and wait for the results."""
    if not remotes:
        return []
    if isinstance(remotes, RemoteEvaluatorSet):
        return remotes.call_all(method, *args)
    import ray

    return list(ray.get([getattr(r, method).remote(*args) for r in remotes]))
