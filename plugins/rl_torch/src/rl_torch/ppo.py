"""PPO's policy in PyTorch: a catalog model and the clipped-surrogate loss.

:class:`PPOTorchPolicy` subclasses :class:`~rl_torch.actor_critic.ActorCriticTorchPolicy` (the
core's :class:`~rlcore.model_policy.ModelPolicy` with the torch model, devices, gradients, Adam and
state shared with A3C) and supplies PPO's loss and the multi-device (towers) learning.
``learn_on_batch`` is one fused step on the batch it is given; the policy optimizer does the epochs
and minibatches (and standardizes the advantages over the whole train batch: the loss does not).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rl_torch.actor_critic import ActorCriticTorchPolicy
from rl_torch.distributions import make_dist
from rl_torch.models import CatalogModel
from rlcore import sample_batch as sb
from rlcore.errors import RLCoreError, UnsupportedOperationError
from rlcore.sample_batch import SampleBatch

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "PPOTorchPolicy"]

#: The batch columns PPO's loss reads (the same as rl_algos' reference loss: checked by the kit).
LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.ACTION_LOGP,
    sb.ACTION_DIST_INPUTS,
    sb.VF_PREDS,
    sb.ADVANTAGES,
    sb.VALUE_TARGETS,
)
#: The keys of the learner info, in the order the loss computes them.
INFO_KEYS: tuple[str, ...] = ("loss", "policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "grad_norm")

#: Per-row bounds of the policy ratio in the clipped surrogate, made with the loss tensors.
_RATIO_LO, _RATIO_HI = "_ratio_lo", "_ratio_hi"


class PPOTorchPolicy(ActorCriticTorchPolicy):
    """PPO in PyTorch: clipped surrogate, (optionally clipped) value loss, entropy bonus, KL penalty.

    ``PPOTorchPolicy(observation_space, action_space, config, seed=None)`` with PPO's config
    (rl_algos' schema: ``lr``, ``adam_epsilon``, ``clip_param``, ``vf_clip_param``,
    ``vf_loss_coeff``, ``entropy_coeff``, ``kl_coeff``, ``grad_clip``, ``num_gpus``,
    ``num_cpu_towers``, ``num_cpu_threads``, ``model``). The KL coefficient comes from
    ``set_global_vars({"kl_coeff": x})`` (default ``config["kl_coeff"]``). Weights, gradients and
    Adam's moments (in :meth:`get_state`) use the catalog's canonical names and layouts, so they
    are interchangeable with the TensorFlow policy's. With ``model.use_lstm`` the loss runs over
    whole sequences (:mod:`rl_torch.actor_critic`); multi-device learning then is refused and the
    instance does not declare ``multi_device`` (PPO's trainer uses the LocalSyncOptimizer with
    sequence minibatches).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"discrete", "continuous", "gradients", "multi_device", "recurrent"}
    )
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    info_keys: ClassVar[tuple[str, ...]] = ("policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "loss", "grad_norm")
    stat_keys: ClassVar[tuple[str, ...]] = INFO_KEYS

    # -- construction -----------------------------------------------------------
    def build(self) -> None:
        """Build the seeded catalog model, Adam and the device list."""
        super().build()
        if self.recurrent:  # an even row split over devices would cut the sequences
            self.capabilities = type(self).capabilities - {"multi_device"}  # type: ignore[misc]
        # One model per distinct device; CPU towers share the one model and run one after another.
        self._replicas: dict[torch.device, CatalogModel] = {self.device: self.model}
        self._loaded: list[dict[str, Tensor]] = []

    # -- loss -------------------------------------------------------------------------
    def _extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """The per-row ratio bounds of the clipped surrogate (see :meth:`_loss_terms`)."""
        clip = np.float32(self.config["clip_param"])
        negative = arrays[sb.ADVANTAGES] < 0
        arrays[_RATIO_LO] = np.where(negative, np.float32(1.0) - clip, np.float32(-np.inf))
        arrays[_RATIO_HI] = np.where(negative, np.float32(np.inf), np.float32(1.0) + clip)

    def _loss_terms(self, model: CatalogModel, t: dict[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
        """PPO's loss and its statistics ``[loss, policy_loss, vf_loss, entropy, kl, clip_frac]``."""
        cfg = self.config
        kl_coeff = float(self.global_vars.get("kl_coeff", cfg["kl_coeff"]))
        entropy_coeff = float(cfg["entropy_coeff"])
        dist_inputs, values = self._model_outputs(model, t)
        dist = make_dist(self.dist_spec, dist_inputs)
        ratio = torch.exp(dist.logp(t[sb.ACTIONS]) - t[sb.ACTION_LOGP])
        adv = t[sb.ADVANTAGES]
        # min(A * r, A * clip(r, 1 - c, 1 + c)) == A * clamp(r, lo, hi) with lo = 1 - c where A < 0
        # (else -inf) and hi = 1 + c where A >= 0 (else +inf), bounds made with the tensors: the
        # same values and gradients in two autograd nodes instead of five.
        surrogate = torch.dot(adv, torch.clamp(ratio, t[_RATIO_LO], t[_RATIO_HI]))
        policy_loss = surrogate * (-1.0 / adv.shape[0])
        targets = t[sb.VALUE_TARGETS]
        if cfg["vf_clip_param"] is None:
            vf_loss = F.mse_loss(values, targets)
        else:
            c = float(cfg["vf_clip_param"])
            old_v = t[sb.VF_PREDS]
            clipped = old_v + torch.clamp(values - old_v, -c, c)
            vf_loss = torch.max(torch.square(values - targets), torch.square(clipped - targets)).mean()
        loss = torch.add(policy_loss, vf_loss, alpha=float(cfg["vf_loss_coeff"]))
        # Terms whose coefficient is 0 are only reported: computed without autograd.
        grad = torch.is_grad_enabled()
        with torch.set_grad_enabled(grad and entropy_coeff != 0.0):
            entropy = dist.entropy().mean()
        with torch.set_grad_enabled(grad and kl_coeff != 0.0):
            kl = make_dist(self.dist_spec, t[sb.ACTION_DIST_INPUTS]).kl(dist).mean()
        if kl_coeff != 0.0:
            loss = torch.add(loss, kl, alpha=kl_coeff)
        if entropy_coeff != 0.0:
            loss = torch.sub(loss, entropy, alpha=entropy_coeff)
        with torch.no_grad():
            clip_frac = (torch.abs(ratio - 1.0) > float(cfg["clip_param"])).float().mean()
        return loss, [loss, policy_loss, vf_loss, entropy, kl, clip_frac]

    # -- multi-device -------------------------------------------------------------------
    def _load_batch(self, batch: SampleBatch) -> int:
        """Copy each device's even share of the loss columns to it once; returns rows per device.

        Raises :class:`~rlcore.errors.UnsupportedOperationError` for a recurrent batch (``seq_lens``):
        an even row split would cut its sequences.
        """
        if self.recurrent or sb.SEQ_LENS in batch:
            raise self._no_sequence_split("load_batch")
        n = len(self.devices)
        per_device = batch.count // n
        self._loaded = []
        for i, device in enumerate(self.devices):
            tensors = self._to_tensors(batch, device, slice(i * per_device, (i + 1) * per_device))
            if device.type == "cpu":  # own the memory: the caller may reuse the batch's arrays
                tensors = {k: v.clone() for k, v in tensors.items()}
            self._loaded.append(tensors)
        return per_device

    def _learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, float]:
        """One step on rows ``indices`` of every device's share: tower gradients averaged, clipped, applied once."""
        if self.recurrent:
            raise self._no_sequence_split("learn_on_loaded_batch")
        if not self._loaded:
            raise RLCoreError(f"{type(self).__name__}.learn_on_loaded_batch called before load_batch")
        idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
        per_device = len(self._loaded[0][sb.OBS])
        if idx.size == 0 or idx.min() < 0 or idx.max() >= per_device:
            raise IndexError(f"indices must be non-empty and within [0, {per_device}) (rows per device)")
        if len(idx) == per_device and len(counts := np.bincount(idx)) == per_device and counts.max() == 1:
            # a permutation of every loaded row: the losses are means, so skip the gather
            towers = [(self._replica(d), tensors) for d, tensors in zip(self.devices, self._loaded, strict=True)]
        else:
            index = torch.from_numpy(idx)
            towers = []
            for device, tensors in zip(self.devices, self._loaded, strict=True):
                d_index = index if device.type == "cpu" else index.to(device)
                towers.append((self._replica(device), {k: v.index_select(0, d_index) for k, v in tensors.items()}))
        return self._step(towers)

    def _no_sequence_split(self, method: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"{type(self).__name__}.{method}: multi-device learning splits a batch's rows evenly over the devices, "
            "which would cut the sequences of a recurrent (model.use_lstm) batch; train it with learn_on_batch "
            "(the LocalSyncOptimizer: PPO's trainer uses it for use_lstm)"
        )

    def _replica(self, device: torch.device) -> CatalogModel:
        """The model on ``device`` with the current weights (the main model on its own device)."""
        model = self._replicas.get(device)
        if model is None:
            model = self._make_model().to(device)
            self._replicas[device] = model
        if model is not self.model:
            with torch.no_grad():
                for p, q in zip(self._params, (q for _, q in model.named_canonical_parameters()), strict=True):
                    q.copy_(p)
        return model
