"""The Policy contract: what a framework plugin writes per algorithm (DESIGN section 4).

A policy is a model plus a loss, after RLlib's late-2018 split of its evaluator into a generic
evaluator and per-algorithm policy graphs. The generic :class:`~rlcore.rollout_evaluator.RolloutEvaluator`
owns the envs, preprocessing, observation filters and the algorithm's numpy postprocessing; it
asks the policy for actions once per env step (a batch over the vectorized envs) and hands it
postprocessed batches to learn on. Tensors stay inside the policy: everything crossing its
boundary is numpy (observations, actions, extras, weights, gradients) or Python floats (infos).

A policy is keyed in the registry by ``(algorithm, framework)``
(``rlcore_register_policies``); :class:`~rlcore.model_policy.ModelPolicy` is the framework-free
half that first-party policies built from catalog models share.
"""

from __future__ import annotations

import abc
import os
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from rlcore.errors import UnsupportedOperationError
from rlcore.sample_batch import SampleBatch

if TYPE_CHECKING:
    from rlcore.inference import LoadedPolicy

Weights = dict[str, np.ndarray]
Gradients = dict[str, np.ndarray]
#: Per-env recurrent state: one array ``[B, *state_shape]`` per state tensor (empty when not recurrent).
StateBatches = list[np.ndarray]

#: Capabilities a policy may declare in :attr:`Policy.capabilities`.
POLICY_CAPABILITIES: frozenset[str] = frozenset({"discrete", "continuous", "recurrent", "gradients", "multi_device"})


class Policy(abc.ABC):
    """A model and its loss, exchanged as numpy.

    ``Policy(observation_space, action_space, config, *, seed=None)``:

    * ``observation_space`` is the space of the observations the policy sees, i.e. after the
      catalog's preprocessing and the observation filter (a ``gymnasium.spaces.Box`` of
      ``float32``, shape ``obs_shape``);
    * ``action_space`` is the env's action space (actions are returned 0-based and unclipped;
      the env runner shifts and clips them for the env);
    * ``config`` is the algorithm's complete, validated config (its schema in rl_algos gives
      every key and default); a policy reads its loss keys from it;
    * ``seed`` seeds the initial weights and the policy's own random numbers (action sampling).

    Subclasses declare :attr:`capabilities` (a subset of :data:`POLICY_CAPABILITIES`) and
    :attr:`loss_columns`; an operation they do not support raises
    :class:`~rlcore.errors.UnsupportedOperationError`.
    """

    #: The framework of the implementation (``"torch"``, ``"tf"``, ``"numpy"``...).
    framework: ClassVar[str] = "numpy"
    #: What this policy supports; the conformance kit checks both ways.
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients"})
    #: The batch columns the loss reads (the kit compares them with the algorithm's reference loss).
    loss_columns: ClassVar[tuple[str, ...]] = ()
    #: Devices (towers) that :meth:`load_batch` splits a batch over.
    num_devices: int = 1

    observation_space: Any
    action_space: Any
    config: dict[str, Any]

    # -- acting ----------------------------------------------------------------------
    @abc.abstractmethod
    def compute_actions(
        self, obs: np.ndarray, state: StateBatches | None = None, explore: bool = True
    ) -> tuple[np.ndarray, StateBatches, dict[str, np.ndarray]]:
        """Actions for a batch of (preprocessed, filtered) observations ``[B, *obs_shape]``.

        Returns ``(actions [B, ...], state_out, extras)``: actions 0-based (``int64``) for
        discrete spaces, ``float32`` and unclipped for Box spaces; ``state_out`` the next
        recurrent state (``[]`` when not recurrent); ``extras`` per-row arrays that the
        algorithm's postprocessing reads (``action_logp``, ``vf_preds``, ``action_dist_inputs``...).
        ``explore=False`` gives the deterministic action (argmax, mean, greedy).

        Recurrent policies (capability ``"recurrent"``, a non-empty :meth:`initial_state`) take
        ``state``, one ``[B, *state_shape_j]`` array per state tensor (the state fed at this step;
        None means every row starts an episode) and return the next state as ``state_out``. The
        rollout evaluator keeps one state per env, records it per row as ``state_in_j`` and adds
        the ``seq_lens`` column (:mod:`rlcore.sequences`) to the batches the policy learns on.
        """

    def compute_values(self, obs: np.ndarray, state: StateBatches | None = None) -> np.ndarray:
        """Value estimates ``V(obs)`` (``float32 [B]``), for bootstrapping truncated trajectories.

        Actor-critic policies implement it; others raise :class:`UnsupportedOperationError`.
        A recurrent policy evaluates from ``state`` (the state at ``obs``, as in
        :meth:`compute_actions`; the sampler passes the state after a fragment's last step).
        """
        raise self._unsupported("value estimates (compute_values)")

    def initial_state(self) -> StateBatches:
        """The recurrent state of a new episode: one array ``[*state_shape]`` per tensor (``[]``: none).

        Non-empty for recurrent policies only (the catalog's LSTM: ``[h, c]``, zeros of
        ``lstm_cell_size``); the rollout evaluator samples with a state when it is.
        """
        return []

    # -- learning --------------------------------------------------------------------
    @abc.abstractmethod
    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Gradients of the loss on ``batch`` (canonical names, shaped like the weights) and an info
        dict of Python floats (``loss`` at least). Changes nothing."""

    @abc.abstractmethod
    def apply_gradients(self, grads: Gradients) -> None:
        """Apply gradients from :meth:`compute_gradients` (of this or an identical policy) with the
        policy's optimizer. Every weight must have a gradient: a partial dict is refused."""

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """One gradient step on ``batch`` (compute then apply); returns the info dict."""
        grads, info = self.compute_gradients(batch)
        self.apply_gradients(grads)
        return info

    def loss(self, batch: SampleBatch) -> float:
        """The scalar loss on ``batch``; changes nothing (used by the conformance kit)."""
        return float(self.compute_gradients(batch)[1]["loss"])

    # -- multi-device (capability "multi_device") --------------------------------------
    def load_batch(self, batch: SampleBatch) -> int:
        """Split ``batch`` evenly over the policy's devices and keep it there; returns rows per device."""
        raise self._unsupported("multi-device learning (load_batch)")

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        """One step on rows ``indices`` of every device's loaded share, gradients averaged over devices."""
        raise self._unsupported("multi-device learning (learn_on_loaded_batch)")

    # -- weights and state -------------------------------------------------------------
    @abc.abstractmethod
    def get_weights(self) -> Weights:
        """Copies of the weights, ``name -> np.ndarray`` (canonical catalog names and layouts)."""

    @abc.abstractmethod
    def set_weights(self, weights: Weights) -> None:
        """Load weights from :meth:`get_weights` of this or another policy of the same config."""

    def get_state(self) -> dict[str, Any]:
        """Everything a checkpoint needs: ``{"weights": ..., **extra}`` (optimizer moments, target
        networks...); arrays and JSON-able values only."""
        return {"weights": self.get_weights()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.set_weights(state["weights"])

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Trainer-wide values (``timestep``, ``kl_coeff``, ``epsilon``...); the default ignores them."""

    # -- helpers -----------------------------------------------------------------------
    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"{type(self).__name__} does not support {what} (capabilities: {sorted(self.capabilities)})"
        )


def load(path: str | os.PathLike[str], *, seed: int | None = None) -> LoadedPolicy:
    """A checkpoint's policy acting with numpy alone, without torch, TensorFlow, Ray or a plugin:
    ``rlcore.policy.load(path).compute_action(obs)``. See :func:`rlcore.inference.load_policy`
    (``seed`` seeds ``explore=True`` sampling).

    Raises:
        ConfigError: ``seed`` is not an int >= 0 or None.
        FrameworkRequiredError: the model is a custom model (names the framework plugin to install),
            or the checkpoint records no acting spec (the recorded reason: a whole evaluator...).
        CheckpointError: unreadable checkpoint or one of a newer format, an acting spec that was
            edited, weights that do not fit the catalog model (naming the first missing or
            mis-shaped parameter).
    """
    from rlcore.inference import load_policy

    return load_policy(path, seed=seed)


__all__ = ["POLICY_CAPABILITIES", "Gradients", "Policy", "StateBatches", "Weights", "load"]
