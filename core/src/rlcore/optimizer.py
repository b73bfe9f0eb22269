"""The PolicyOptimizer contract: the control plane of rlcore (DESIGN section 4).

An optimizer owns one local evaluator and zero or more remote ones and decides how samples and
gradients flow between them. It never imports a deep-learning framework: it moves numpy arrays
and calls the evaluator contract, so every optimizer works with every evaluator.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator


class PolicyOptimizer(abc.ABC):
    """Runs one training step over a set of evaluators.

    ``local_evaluator`` is a :class:`PolicyEvaluator` in this process; ``remote_evaluators`` are
    Ray actor handles of the same evaluator class (empty when ``num_workers=0``, and then nothing
    touches Ray). ``config`` is the optimizer's own config dict.
    """

    def __init__(
        self,
        local_evaluator: PolicyEvaluator,
        remote_evaluators: Sequence[Any] = (),
        config: dict[str, Any] | None = None,
    ) -> None:
        self.local_evaluator = local_evaluator
        self.remote_evaluators = remote_evaluators  # a RemoteEvaluatorSet keeps its recovery logic
        self.config = dict(config or {})
        self.num_steps_sampled = 0
        self.num_steps_trained = 0

    @abc.abstractmethod
    def step(self) -> dict[str, Any]:
        """Run one round of sampling and learning; returns learner info (Python floats)."""

    def stats(self) -> dict[str, Any]:
        """Counters of this optimizer: ``num_steps_sampled``, ``num_steps_trained`` and others."""
        return {"num_steps_sampled": self.num_steps_sampled, "num_steps_trained": self.num_steps_trained}

    def collect_metrics(self) -> list[EpisodeMetrics]:
        """Finished episodes from the local and every remote evaluator since the last call."""
        from rlcore.remote import call_remotes

        metrics = list(self.local_evaluator.get_metrics())
        for part in call_remotes(self.remote_evaluators, "get_metrics"):
            metrics.extend(EpisodeMetrics(*m) for m in part)
        return metrics

    def get_state(self) -> dict[str, Any]:
        """Counters and any other state a checkpoint needs (JSON-able values and arrays only)."""
        return {"num_steps_sampled": self.num_steps_sampled, "num_steps_trained": self.num_steps_trained}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.num_steps_sampled = int(state["num_steps_sampled"])
        self.num_steps_trained = int(state["num_steps_trained"])

    def stop(self) -> None:
        """Release resources (remote actors are owned by the trainer)."""
