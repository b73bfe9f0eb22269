"""PPO's policy in PyTorch: a catalog model and the clipped-surrogate loss.

:class:`PPOTorchPolicy` subclasses the core's :class:`~rlcore.model_policy.ModelPolicy` (acting
through the numpy mirror, action sampling, the one rule for batches, gradients, non-finite losses
and pickling) and supplies the torch part: the model (built through the catalog and the model
registry), the loss, gradients and Adam, all exchanged as numpy in the canonical layout.
``learn_on_batch`` is one fused step on the batch it is given; the policy optimizer does the epochs
and minibatches (and standardizes the advantages over the whole train batch: the loss does not).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rl_torch.common import (
    TorchModelWeights,
    adam_state,
    all_finite_info,
    canonical_split,
    clip_and_step,
    flat_from_canonical,
    load_adam_state,
    loss_arrays,
    set_num_threads,
)
from rl_torch.distributions import make_dist
from rl_torch.models import CatalogModel
from rl_torch.optim import FlatAdam
from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, RLCoreError
from rlcore.model_policy import ModelPolicy
from rlcore.models.catalog import ModelCatalog
from rlcore.models.layout import Param
from rlcore.policy import Gradients
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


class PPOTorchPolicy(TorchModelWeights, ModelPolicy):
    """PPO in PyTorch: clipped surrogate, (optionally clipped) value loss, entropy bonus, KL penalty.

    ``PPOTorchPolicy(observation_space, action_space, config, seed=None)`` with PPO's config
    (rl_algos' schema: ``lr``, ``adam_epsilon``, ``clip_param``, ``vf_clip_param``,
    ``vf_loss_coeff``, ``entropy_coeff``, ``kl_coeff``, ``grad_clip``, ``num_gpus``,
    ``num_cpu_towers``, ``num_cpu_threads``, ``model``). The KL coefficient comes from
    ``set_global_vars({"kl_coeff": x})`` (default ``config["kl_coeff"]``). Weights, gradients and
    Adam's moments (in :meth:`get_state`) use the catalog's canonical names and layouts, so they
    are interchangeable with the TensorFlow policy's.
    """

    framework: ClassVar[str] = "torch"
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "continuous", "gradients", "multi_device"})
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    info_keys: ClassVar[tuple[str, ...]] = ("policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "loss", "grad_norm")

    model: CatalogModel

    # -- construction -----------------------------------------------------------
    def build(self) -> None:
        """Build the seeded catalog model, Adam and the device list."""
        set_num_threads(int(self.config["num_cpu_threads"]))
        self.devices = self._pick_devices()
        self.num_devices = len(self.devices)
        self.device = self.devices[0]
        self.model = self._make_model().to(self.device)
        self.weight_names = self.model.weight_names()
        self._params = [p for _, p in self.model.named_canonical_parameters()]
        self._adam = FlatAdam(self._params, lr=float(self.config["lr"]), eps=float(self.config["adam_epsilon"]))
        # One model per distinct device; CPU towers share the one model and run one after another.
        self._replicas: dict[torch.device, CatalogModel] = {self.device: self.model}
        self._loaded: list[dict[str, Tensor]] = []

    def model_layout(self) -> list[Param]:
        """The catalog model's canonical layout."""
        return self.model.layout

    def _pick_devices(self) -> list[torch.device]:
        num_gpus = float(self.config["num_gpus"] or 0)
        if num_gpus > 0 and torch.cuda.is_available():
            n = min(max(1, int(num_gpus)), torch.cuda.device_count())
            return [torch.device("cuda", i) for i in range(n)]
        return [torch.device("cpu")] * int(self.config["num_cpu_towers"])

    def _make_model(self) -> CatalogModel:
        model = ModelCatalog.build_model(
            self.obs_shape, self.dist_spec.num_outputs, self.model_config, self.framework, seed=self.seed
        )
        if not isinstance(model, CatalogModel):
            raise ConfigError(
                f"model {self.model_config['custom_model'] or self.model_kind!r} built a {type(model).__name__}; "
                f"{type(self).__name__} needs a rl_torch.models.CatalogModel subclass"
            )
        return model

    # -- acting -------------------------------------------------------------------
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs, values)`` as numpy for filtered observations, without autograd."""
        if obs.dtype != np.float32 or not obs.flags.writeable or not obs.flags.c_contiguous:
            obs = np.array(obs, dtype=np.float32, order="C")
        with torch.inference_mode():
            x = torch.from_numpy(obs)
            if self.device.type != "cpu":
                dist_inputs, values = self.model.forward(x.to(self.device))
                return dist_inputs.cpu().numpy(), values.cpu().numpy()
            dist_inputs, values = self.model.forward(x)
            return dist_inputs.numpy(), values.numpy()

    # -- loss -------------------------------------------------------------------------
    def _to_tensors(self, batch: SampleBatch, device: torch.device, rows: slice | None = None) -> dict[str, Tensor]:
        """The loss columns of ``batch`` (``rows`` of them) as float32/int64 tensors on ``device``,
        plus the per-row ratio bounds of the clipped surrogate (see :meth:`_loss`).

        On the CPU the tensors share memory with the batch's arrays where they can.
        """
        arrays = loss_arrays(batch, LOSS_COLUMNS, rows)
        clip = np.float32(self.config["clip_param"])
        negative = arrays[sb.ADVANTAGES] < 0
        arrays[_RATIO_LO] = np.where(negative, np.float32(1.0) - clip, np.float32(-np.inf))
        arrays[_RATIO_HI] = np.where(negative, np.float32(np.inf), np.float32(1.0) + clip)
        if device.type == "cpu":
            return {k: torch.from_numpy(v) for k, v in arrays.items()}
        return {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}

    def _loss_terms(self, model: CatalogModel, t: dict[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
        """PPO's loss and its statistics ``[loss, policy_loss, vf_loss, entropy, kl, clip_frac]``."""
        cfg = self.config
        kl_coeff = float(self.global_vars.get("kl_coeff", cfg["kl_coeff"]))
        entropy_coeff = float(cfg["entropy_coeff"])
        dist_inputs, values = model.forward(t[sb.OBS])
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

    def _gradients(self, towers: list[tuple[CatalogModel, dict[str, Tensor]]]) -> tuple[Tensor, dict[str, float]]:
        """The flat gradient of the towers' mean loss and the info (its values may be non-finite:
        callers apply only when :func:`all_finite_info` holds, and the core raises)."""
        self._adam.zero_grad()
        if len(towers) == 1:
            loss, stats = self._loss_terms(*towers[0])
            loss.backward()
            grad = self._adam.flat_grad()
            values = torch.stack([*stats, grad.norm()]).detach().tolist()
        else:
            n = len(towers)
            tower_stats = []
            for model, tensors in towers:
                loss, stats = self._loss_terms(model, tensors)
                (loss / n).backward()
                tower_stats.append(torch.stack(stats).detach().to(self.device))
            grad = self._adam.flat_grad()
            for model in {id(m): m for m, _ in towers if m is not self.model}.values():
                grad += FlatAdam.gather_grads([p for _, p in model.named_canonical_parameters()]).to(self.device)
            values = torch.cat([torch.stack(tower_stats).mean(0), grad.norm().reshape(1)]).tolist()
        return grad, dict(zip(INFO_KEYS, values, strict=True))

    def _step(self, towers: list[tuple[CatalogModel, dict[str, Tensor]]]) -> dict[str, float]:
        """Gradients, then global-norm clip (``grad_clip``, torch's rule) and Adam when the info is finite."""
        grad, info = self._gradients(towers)
        if all_finite_info(info):
            clip_and_step(self._adam, grad, info["grad_norm"], self.config["grad_clip"])
        return info

    # -- learning -----------------------------------------------------------------------
    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, float]:
        return self._step([(self.model, self._to_tensors(batch, self.device))])

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, float]]:
        grad, info = self._gradients([(self.model, self._to_tensors(batch, self.device))])
        return canonical_split(self.model, self._adam, grad), info

    def _apply_gradients(self, grads: Gradients) -> None:
        grad, grad_norm = flat_from_canonical(self.model, grads)
        clip_and_step(self._adam, grad, grad_norm, self.config["grad_clip"])

    def _loss(self, batch: SampleBatch) -> float:  # type: ignore[override]
        with torch.no_grad():
            loss, _ = self._loss_terms(self.model, self._to_tensors(batch, self.device))
        return float(loss)

    # -- multi-device -------------------------------------------------------------------
    def _load_batch(self, batch: SampleBatch) -> int:
        """Copy each device's even share of the loss columns to it once; returns rows per device."""
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

    # -- weights and state ----------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Adam's step count and first and second moments (canonical names and layouts), as numpy."""
        return {"optimizer": adam_state(self.model, self._adam)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (a state without ``"optimizer"`` leaves Adam as it is)."""
        opt = state.get("optimizer")
        if opt is not None:
            load_adam_state(self.model, self._adam, opt)
