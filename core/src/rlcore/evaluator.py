"""The PolicyEvaluator contract: the data plane of rlcore (DESIGN section 4).

An evaluator holds a policy (model + loss) and a vector of environments. Everything that crosses
its boundary is framework-free: batches are :class:`~rlcore.sample_batch.SampleBatch` of numpy
arrays, weights and gradients are ``dict[str, np.ndarray]``, infos are dicts of Python floats.
That is what lets any optimizer drive any evaluator, local or a Ray actor, torch or TensorFlow.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, NamedTuple

import numpy as np

from rlcore.errors import UnsupportedOperationError
from rlcore.sample_batch import SampleBatch

Weights = dict[str, np.ndarray]
Gradients = dict[str, np.ndarray]

#: Capabilities an evaluator may declare in :attr:`PolicyEvaluator.capabilities`.
CAPABILITIES: frozenset[str] = frozenset({"discrete", "continuous", "recurrent", "remote", "gradients", "multi_device"})


class EpisodeMetrics(NamedTuple):
    """One finished episode, as returned by :meth:`PolicyEvaluator.get_metrics`."""

    episode_reward: float
    episode_length: int


class PolicyEvaluator(abc.ABC):
    """Samples experience with a policy and computes and applies its gradients.

    Constructor convention: ``Evaluator(env_creator, config, worker_index=0)`` where
    ``env_creator(env_config) -> gymnasium.Env`` and ``config`` is the algorithm's merged
    config dict. ``worker_index`` 0 is the local evaluator; remote ones count from 1.

    Subclasses declare what they support in :attr:`capabilities` (a subset of
    :data:`CAPABILITIES`). An operation they do not support must raise
    :class:`~rlcore.errors.UnsupportedOperationError`, never silently do nothing.
    """

    #: What this evaluator supports; the conformance kit checks each declared capability and
    #: asserts that undeclared ones raise :class:`UnsupportedOperationError`.
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients"})

    #: The env's spaces (gymnasium spaces), set by the constructor: the conformance kit checks
    #: that sampled actions lie inside ``action_space``.
    observation_space: Any
    action_space: Any
    #: Devices (towers) that :meth:`load_batch` splits a batch over.
    num_devices: int = 1

    # -- data ---------------------------------------------------------------
    @abc.abstractmethod
    def sample(self) -> SampleBatch:
        """Step the environments and return at least one row of postprocessed experience.

        Columns: at least ``obs`` (``float32``, ``[N, *obs_shape]`` after preprocessing),
        ``actions`` (``int64 [N]`` for discrete, ``float32 [N, *action_shape]`` for continuous
        actions), ``rewards`` (``float32 [N]``), ``terminateds`` and ``truncateds`` (``bool [N]``)
        and ``eps_id`` (``int64 [N]``), plus whatever the algorithm's loss needs (``advantages``,
        ``value_targets``, ``action_logp``...). Episodes that finish are reported by
        :meth:`get_metrics`.
        """

    @abc.abstractmethod
    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        """Actions for a batch of raw observations ``[B, *obs_shape]`` (filters applied, not updated).

        ``explore=False`` gives the deterministic action (argmax / mean); returns ``[B, ...]``
        elements of the action space.
        """

    # -- learning -----------------------------------------------------------
    @abc.abstractmethod
    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Gradients of the loss on ``batch`` (``name -> array`` shaped like the weights), plus
        an info dict of Python floats (``loss`` at least). Weights are not changed."""

    @abc.abstractmethod
    def apply_gradients(self, grads: Gradients) -> None:
        """Apply gradients (as returned by :meth:`compute_gradients`) with this evaluator's optimizer."""

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """Compute and apply gradients on ``batch``; returns the info dict.

        Equivalent to ``compute_gradients`` followed by ``apply_gradients``; subclasses override
        it with a faster fused step (and algorithms like PPO with several SGD epochs).
        """
        grads, info = self.compute_gradients(batch)
        self.apply_gradients(grads)
        return info

    def loss(self, batch: SampleBatch) -> float:
        """The scalar loss on ``batch`` without changing anything (used by the conformance kit)."""
        return float(self.compute_gradients(batch)[1]["loss"])

    # -- weights and state --------------------------------------------------
    @abc.abstractmethod
    def get_weights(self) -> Weights:
        """Policy weights as ``name -> np.ndarray`` copies (canonical catalog names)."""

    @abc.abstractmethod
    def set_weights(self, weights: Weights) -> None:
        """Load weights from :meth:`get_weights` of this or another evaluator of the same config."""

    def get_metrics(self) -> list[EpisodeMetrics]:
        """Episodes finished since the last call (the list is then cleared)."""
        return []

    def get_state(self) -> dict[str, Any]:
        """Everything a checkpoint needs: ``{"weights": ..., **extra}``; arrays and JSON-able values only."""
        return {"weights": self.get_weights()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.set_weights(state["weights"])

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Receive trainer-wide values (``timestep``, PPO's ``kl_coeff``...); default ignores them."""

    def get_filters(self, flush_after: bool = False) -> dict[str, Any]:
        """The observation filter: ``{"state": ..., "buffer": ...}``, or ``{}`` without a filter (the default).

        ``state`` is the filter's statistics (what :meth:`sync_filters` takes); ``buffer`` what was
        gathered since the last flush, emptied when ``flush_after``. After each iteration the
        :class:`~rlcore.worker_set.WorkerSet` merges the remote evaluators' buffers into the local
        filter (:meth:`merge_filter_buffers`) and sends the local ``state`` to every remote
        evaluator; a missing key means nothing to merge or send, so an evaluator without a filter
        overrides none of these three methods.
        """
        return {}

    def sync_filters(self, state: dict[str, Any]) -> None:
        """Replace the observation-filter statistics with ``state`` (from the local evaluator; default: no-op)."""

    def merge_filter_buffers(self, buffers: list[dict[str, Any]]) -> None:
        """Merge other evaluators' filter buffers (``get_filters(True)["buffer"]``) into this one's (default: no-op)."""

    # -- multi-device (capability "multi_device") ----------------------------
    def load_batch(self, batch: SampleBatch) -> int:
        """Split ``batch`` evenly over this evaluator's devices and keep it there.

        Returns the number of rows held per device (rows past an even split are dropped).
        Used by ``LocalMultiGPUOptimizer``, which sizes minibatches by ``self.num_devices``;
        evaluators without ``"multi_device"`` raise.
        """
        raise self._unsupported("multi-device learning (load_batch)")

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        """One SGD step on the rows ``indices`` of every device's loaded share, gradients averaged.

        A step therefore learns on ``len(indices) * num_devices`` rows.
        """
        raise self._unsupported("multi-device learning (learn_on_loaded_batch)")

    def new_acting_state(self, batch_size: int = 1) -> Any:
        """Per-episode acting state for ``batch_size`` envs, passed as ``compute_actions(...,
        state=...)`` by evaluators that keep one (frame stacks, recurrent state); None (the
        default): this evaluator's acting needs none."""
        return None

    def apply(self, fn: Any, *args: Any) -> Any:
        """Call ``fn(self, *args)`` here (on a remote evaluator, inside its process)."""
        return fn(self, *args)

    def stop(self) -> None:
        """Release environments and other resources."""

    # -- helpers ------------------------------------------------------------
    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"{type(self).__name__} does not support {what} (capabilities: {sorted(self.capabilities)})"
        )
