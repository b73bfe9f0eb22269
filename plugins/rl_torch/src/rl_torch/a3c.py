"""A3C's policy in PyTorch: a catalog model and the advantage actor-critic loss.

:class:`A3CTorchPolicy` subclasses :class:`~rl_torch.actor_critic.ActorCriticTorchPolicy` (the
core's :class:`~rlcore.model_policy.ModelPolicy` with the torch model, Adam, gradients clipped by
global norm and the canonical weights shared with PPO) and supplies the loss. The advantages and
value targets come from rl_algos' numpy postprocessing (GAE with ``lambda``); the loss does not
standardize them. A3C (gradients computed on remote evaluators, applied on the local one by the
AsyncOptimizer) and A2C (one synchronous step per train batch) use this one policy.

Loss terms are **means over the batch's rows** (as SB3's A2C and later RLlib), where RLlib 2018
summed them (``pi_loss = -sum(logp A)``, ``vf_loss = 0.5 sum(delta^2)``): ``grad_clip`` and ``lr``
mean different things at the two scales.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from rl_torch.actor_critic import ActorCriticTorchPolicy
from rl_torch.distributions import make_dist
from rl_torch.models import CatalogModel
from rlcore import sample_batch as sb

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "A3CTorchPolicy"]

#: The batch columns A3C's loss reads (the same as rl_algos' reference loss: checked by the kit).
LOSS_COLUMNS: tuple[str, ...] = (sb.OBS, sb.ACTIONS, sb.ADVANTAGES, sb.VALUE_TARGETS)
#: The keys of the learner info, in the order the loss computes them.
INFO_KEYS: tuple[str, ...] = ("loss", "policy_loss", "vf_loss", "entropy", "grad_norm")


class A3CTorchPolicy(ActorCriticTorchPolicy):
    """Advantage actor-critic in PyTorch: policy gradient on the advantages, value loss, entropy bonus.

    ``A3CTorchPolicy(observation_space, action_space, config, seed=None)`` with A3C's config
    (rl_algos' schema: ``lr``, ``lr_schedule``, ``adam_epsilon``, ``grad_clip`` (global norm, None:
    no clip), ``vf_loss_coeff``, ``entropy_coeff``, ``num_cpu_threads``, ``model``)::

        policy_loss = -mean(logp(a) * A)
        vf_loss     = mean((V(s) - V_targ)^2)
        entropy     = mean(H(pi(.|s)))
        loss        = policy_loss + vf_loss_coeff * vf_loss - entropy_coeff * entropy

    Discrete, Box (diagonal Gaussian), MultiDiscrete and Tuple/Dict (composite) action spaces;
    recurrent models with ``model.use_lstm``. Weights, gradients and Adam's moments use the
    catalog's canonical names and layouts, interchangeable with the TensorFlow policy's.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "continuous", "gradients", "recurrent"})
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    info_keys: ClassVar[tuple[str, ...]] = ("policy_loss", "vf_loss", "entropy", "loss", "grad_norm")
    stat_keys: ClassVar[tuple[str, ...]] = INFO_KEYS

    def _loss_terms(self, model: CatalogModel, t: dict[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
        """A3C's loss and its statistics ``[loss, policy_loss, vf_loss, entropy]``."""
        cfg = self.config
        entropy_coeff = float(cfg["entropy_coeff"])
        dist_inputs, values = self._model_outputs(model, t)
        dist = make_dist(self.dist_spec, dist_inputs)
        adv = t[sb.ADVANTAGES]
        policy_loss = torch.dot(dist.logp(t[sb.ACTIONS]), adv) * (-1.0 / adv.shape[0])
        vf_loss = F.mse_loss(values, t[sb.VALUE_TARGETS])
        loss = torch.add(policy_loss, vf_loss, alpha=float(cfg["vf_loss_coeff"]))
        # With a zero coefficient the entropy is only reported: computed without autograd.
        with torch.set_grad_enabled(torch.is_grad_enabled() and entropy_coeff != 0.0):
            entropy = dist.entropy().mean()
        if entropy_coeff != 0.0:
            loss = torch.sub(loss, entropy, alpha=entropy_coeff)
        return loss, [loss, policy_loss, vf_loss, entropy]
