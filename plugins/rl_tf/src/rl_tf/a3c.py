"""A3C's policy in TensorFlow 2: the actor-critic loss on rl_tf's actor-critic base.

:class:`A3CTFPolicy` subclasses :class:`rl_tf.actor_critic.ActorCriticTFPolicy` (the catalog
model, ``tf.function`` graphs traced once, Adam, canonical weights, recurrent models) and adds the
advantage actor-critic loss. A3C's workers compute gradients (``compute_gradients``) that the
learner applies (``apply_gradients``: global-norm clip to ``grad_clip``, then Adam); A2C calls
``learn_on_batch`` (the same two steps fused). The advantages and value targets come from rl_algos'
numpy postprocessing (GAE with ``lambda``).
"""

from __future__ import annotations

from typing import ClassVar

import tensorflow as tf

from rl_tf.actor_critic import ActorCriticTFPolicy
from rl_tf.distributions import make_dist
from rlcore import sample_batch as sb

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "A3CTFPolicy"]

#: The batch columns A3C's loss reads (the same as rl_algos' reference loss: checked by the kit).
LOSS_COLUMNS: tuple[str, ...] = (sb.OBS, sb.ACTIONS, sb.ADVANTAGES, sb.VALUE_TARGETS)
#: The keys of the learner info, in the order the loss computes them (and a non-finite one is blamed).
INFO_KEYS: tuple[str, ...] = ("policy_loss", "vf_loss", "entropy", "loss", "grad_norm")


class A3CTFPolicy(ActorCriticTFPolicy):
    """Advantage actor-critic in TensorFlow 2: policy gradient, value loss, entropy bonus; Adam.

    ``A3CTFPolicy(observation_space, action_space, config, seed=None)`` with A3C's config (rl_algos'
    schema: ``lr``, ``lr_schedule``, ``adam_epsilon``, ``vf_loss_coeff``, ``entropy_coeff``,
    ``grad_clip``, ``num_cpu_threads``, ``model``). The loss, means over the batch rows::

        policy_loss = -mean(logp(a) * A)
        vf_loss     = mean((V - V_target)^2)
        entropy     = mean(H(pi))
        loss        = policy_loss + vf_loss_coeff * vf_loss - entropy_coeff * entropy

    (RLlib 2018 summed over rows; means keep ``lr`` and ``grad_clip`` independent of the batch
    size.) The gradient is clipped by its global norm to ``grad_clip`` where it is applied.
    Discrete, Box, MultiDiscrete and Tuple/Dict action spaces; recurrent models (``use_lstm``)
    through the base's sequence path. ``num_cpu_threads`` caps TensorFlow's thread pools in a
    fresh process (2 Ray workers and the driver on 2 cores do not oversubscribe them).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "continuous", "gradients", "recurrent"})
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    stat_keys: ClassVar[tuple[str, ...]] = INFO_KEYS[:-1]
    info_keys: ClassVar[tuple[str, ...]] = INFO_KEYS

    def _loss_terms(
        self, dist_inputs: tf.Tensor, values: tf.Tensor, cols: dict[str, tf.Tensor]
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """A3C's loss and its statistics ``[policy_loss, vf_loss, entropy, loss]``."""
        dist = make_dist(self.dist_spec, dist_inputs)
        policy_loss = -tf.reduce_mean(dist.logp(cols[sb.ACTIONS]) * cols[sb.ADVANTAGES])
        vf_loss = tf.reduce_mean(tf.square(values - cols[sb.VALUE_TARGETS]))
        entropy = tf.reduce_mean(dist.entropy())
        loss = policy_loss + self._vf_coeff * vf_loss - self._entropy_coeff * entropy
        return loss, tf.stack([policy_loss, vf_loss, entropy, loss])
