"""The PolicyOptimizer contract: the control plane of rlcore (DESIGN section 4).

An optimizer drives a :class:`~rlcore.worker_set.WorkerSet` (one local evaluator and zero or
more remote ones) and decides how samples and gradients flow between them. It never imports a
deep-learning framework: it moves numpy arrays and calls the evaluator contract, so every
optimizer works with every evaluator. :class:`Timers` times its phases for :meth:`PolicyOptimizer.stats`.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator

if TYPE_CHECKING:
    from rlcore.worker_set import WorkerSet


class Timers:
    """Cumulative wall-clock seconds per named phase: ``with timers("sample"): ...``.

    ``Timers("sample", "learn")`` reports those phases (at 0.0) before they first run.
    :meth:`stats` gives ``{"<name>_time_s": seconds}``; a phase that raised still counts.
    """

    def __init__(self, *names: str) -> None:
        self.totals: dict[str, float] = dict.fromkeys(names, 0.0)
        self.counts: dict[str, int] = dict.fromkeys(names, 0)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as phase ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start
            self.counts[name] = self.counts.get(name, 0) + 1

    timer = __call__

    def stats(self) -> dict[str, float]:
        """``{"<name>_time_s": cumulative seconds}`` for every phase."""
        return {f"{name}_time_s": total for name, total in self.totals.items()}


class PolicyOptimizer(abc.ABC):
    """Runs one training step over a :class:`~rlcore.worker_set.WorkerSet`.

    ``workers.local_evaluator`` is a :class:`PolicyEvaluator` in this process (also
    :attr:`local_evaluator` here); ``workers`` reaches the remote ones (none when
    ``num_workers=0``, and then nothing touches Ray). ``config`` is the optimizer's own config
    dict. Subclasses time their phases with ``with self.timers("sample"): ...``; the totals are
    in :meth:`stats`. Raises ``TypeError`` when ``workers`` is not a WorkerSet (wrap a single
    evaluator with ``WorkerSet.from_evaluator(ev)``).
    """

    def __init__(self, workers: WorkerSet, config: dict[str, Any] | None = None) -> None:
        if not hasattr(workers, "foreach_worker"):
            raise TypeError(
                f"{type(self).__name__} takes a WorkerSet, got {type(workers).__name__}; wrap one evaluator with "
                "rlcore.worker_set.WorkerSet.from_evaluator(evaluator)"
            )
        self.workers = workers
        self.config = dict(config or {})
        self.num_steps_sampled = 0
        self.num_steps_trained = 0
        self.timers = Timers()

    @property
    def local_evaluator(self) -> PolicyEvaluator:
        """The evaluator in this process (``self.workers.local_evaluator``)."""
        return self.workers.local_evaluator

    @property
    def remote_evaluators(self) -> list[Any]:
        """The remote evaluators' Ray actor handles (``self.workers.remote_evaluators``)."""
        return self.workers.remote_evaluators

    @abc.abstractmethod
    def step(self) -> dict[str, Any]:
        """Run one round of sampling and learning; returns learner info (Python floats)."""

    def stats(self) -> dict[str, Any]:
        """Counters of this optimizer (``num_steps_sampled``, ``num_steps_trained``) and ``<phase>_time_s``."""
        return {
            "num_steps_sampled": self.num_steps_sampled,
            "num_steps_trained": self.num_steps_trained,
            **self.timers.stats(),
        }

    def collect_metrics(self) -> list[EpisodeMetrics]:
        """Finished episodes from the local and every remote evaluator since the last call."""
        return [EpisodeMetrics(*m) for part in self.workers.foreach_worker("get_metrics") for m in part]

    def get_state(self) -> dict[str, Any]:
        """Counters and any other state a checkpoint needs (JSON-able values and arrays only)."""
        return {"num_steps_sampled": self.num_steps_sampled, "num_steps_trained": self.num_steps_trained}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.num_steps_sampled = int(state["num_steps_sampled"])
        self.num_steps_trained = int(state["num_steps_trained"])

    def stop(self) -> None:
        """Release resources (the workers are owned by the trainer)."""
