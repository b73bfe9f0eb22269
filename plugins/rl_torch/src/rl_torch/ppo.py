"""PPO's policy evaluator in PyTorch.

:class:`PPOTorchEvaluator` subclasses the core's :class:`~rlcore.sampling_evaluator.SamplingEvaluator`
(envs, preprocessing, filters, numpy action sampling, GAE, metrics) and supplies the torch part: a
catalog model, the clipped-surrogate loss, gradients and Adam, all exchanged as numpy in the
canonical layout. ``learn_on_batch`` is one fused step on the batch it is given; the policy
optimizer does the epochs and minibatches (and standardizes the advantages over the whole train
batch: the loss does not).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rl_torch.common import (
    TorchEvaluatorState,
    adam_state,
    canonical_split,
    clip_and_step,
    flat_from_canonical,
    load_adam_state,
    loss_arrays,
    nonfinite_message,
    set_num_threads,
)
from rl_torch.distributions import make_dist
from rl_torch.models import CatalogModel, FullyConnectedNetwork, VisionNetwork
from rl_torch.optim import FlatAdam
from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, NonFiniteLossError, RLCoreError, SampleBatchError, UnsupportedOperationError
from rlcore.evaluator import Gradients
from rlcore.loss_config import PPO_INFO_KEYS, PPO_LOSS_COLUMNS, PPO_LOSS_DEFAULTS
from rlcore.models.catalog import ModelCatalog
from rlcore.sample_batch import SampleBatch
from rlcore.sampling_evaluator import SamplingEvaluator

__all__ = ["LOSS_COLUMNS", "NonFiniteLossError", "PPOTorchEvaluator"]

LOSS_COLUMNS = PPO_LOSS_COLUMNS
INFO_KEYS = PPO_INFO_KEYS

#: Per-row bounds of the policy ratio in the clipped surrogate, made with the loss tensors.
_RATIO_LO, _RATIO_HI = "_ratio_lo", "_ratio_hi"

#: The order in which a non-finite info value is blamed: the terms before their sum and the gradients.
_BLAME_ORDER: tuple[str, ...] = ("policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "loss", "grad_norm")

#: Attributes that hold torch objects: rebuilt, not pickled (see ``__getstate__``).
_TORCH_ATTRS: tuple[str, ...] = (
    "devices",
    "device",
    "model",
    "weight_names",
    "_params",
    "_adam",
    "_replicas",
    "_loaded",
)


class PPOTorchEvaluator(TorchEvaluatorState, SamplingEvaluator):
    """PPO in PyTorch: clipped surrogate, (optionally clipped) value loss, entropy bonus, KL penalty.

    ``PPOTorchEvaluator(env_creator, config, worker_index=0)``. Reads the keys of
    :data:`~rlcore.sampling_evaluator.SAMPLING_DEFAULTS` and
    :data:`~rlcore.loss_config.PPO_LOSS_DEFAULTS` (missing keys take those defaults). The KL
    coefficient comes from ``set_global_vars({"kl_coeff": x})`` (default ``config["kl_coeff"]``).
    Weights, gradients and Adam's moments (in :meth:`get_state`) use the catalog's canonical names
    and layouts, so they are interchangeable with the TensorFlow evaluator's. A non-finite loss
    term or gradient raises :class:`NonFiniteLossError` before anything is applied.
    """

    torch_attrs: ClassVar[tuple[str, ...]] = _TORCH_ATTRS

    framework: ClassVar[str] = "torch"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"discrete", "continuous", "gradients", "remote", "multi_device"}
    )

    model: CatalogModel

    def __init__(self, env_creator: Callable[[dict[str, Any]], Any], config: dict[str, Any], worker_index: int = 0):
        super().__init__(env_creator, {**PPO_LOSS_DEFAULTS, **config}, worker_index)

    # -- construction -----------------------------------------------------------
    def build_model(self) -> None:
        """Check the loss config, then build the seeded catalog model, Adam and the device list."""
        cfg = self.config
        for key in ("lr", "adam_epsilon", "clip_param"):
            if not float(cfg[key]) > 0:
                raise ConfigError(f"PPO config {key!r} must be > 0, got {cfg[key]!r}")
        if cfg["vf_clip_param"] is not None and not float(cfg["vf_clip_param"]) > 0:
            raise ConfigError(f"PPO config 'vf_clip_param' must be None or > 0, got {cfg['vf_clip_param']!r}")
        if cfg["grad_clip"] is not None and not float(cfg["grad_clip"]) > 0:
            raise ConfigError(f"PPO config 'grad_clip' must be None or > 0, got {cfg['grad_clip']!r}")
        if self.model_config["free_log_std"] and self.dist_spec.kind != "diag_gaussian":
            raise ConfigError(
                f"model config free_log_std=True needs a Box action space; {self.action_space} takes a "
                f"{self.dist_spec.kind!r} distribution. Set model.free_log_std to False."
            )
        if int(cfg["num_cpu_towers"]) < 1:
            raise ConfigError(f"PPO config 'num_cpu_towers' must be >= 1, got {cfg['num_cpu_towers']!r}")
        self._build_torch()

    def _build_torch(self) -> None:
        set_num_threads(int(self.config["num_cpu_threads"]))
        self.devices = self._pick_devices()
        self.device = self.devices[0]
        self.model = self._make_model().to(self.device)
        self.weight_names = self.model.weight_names()
        self._params = [p for _, p in self.model.named_canonical_parameters()]
        self._adam = FlatAdam(self._params, lr=float(self.config["lr"]), eps=float(self.config["adam_epsilon"]))
        # One model per distinct device; CPU towers share the one model and run one after another.
        self._replicas: dict[torch.device, CatalogModel] = {self.device: self.model}
        self._loaded: list[dict[str, Tensor]] = []

    def _pick_devices(self) -> list[torch.device]:
        num_gpus = float(self.config["num_gpus"] or 0)
        if num_gpus > 0 and torch.cuda.is_available():
            n = min(max(1, int(num_gpus)), torch.cuda.device_count())
            return [torch.device("cuda", i) for i in range(n)]
        return [torch.device("cpu")] * int(self.config["num_cpu_towers"])

    def _make_model(self) -> CatalogModel:
        kind = ModelCatalog.get_model_kind(self.obs_shape, self.model_config)
        num_outputs = self.dist_spec.num_outputs
        if kind == "fc":
            return FullyConnectedNetwork(self.obs_shape, num_outputs, self.model_config, seed=self.seed)
        if kind == "vision":
            return VisionNetwork(self.obs_shape, num_outputs, self.model_config, seed=self.seed)
        if kind == "lstm":
            raise UnsupportedOperationError(
                f"{type(self).__name__} does not support recurrent models (model config use_lstm=True) yet"
            )
        model = ModelCatalog.get_model(
            self.observation_space, self.action_space, num_outputs, self.model_config, self.framework, seed=self.seed
        )
        if not isinstance(model, CatalogModel):
            raise ConfigError(
                f"custom model {self.model_config['custom_model']!r} built a {type(model).__name__}; "
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
        arrays = loss_arrays(batch, LOSS_COLUMNS, "PPO", rows)
        clip = np.float32(self.config["clip_param"])
        negative = arrays[sb.ADVANTAGES] < 0
        arrays[_RATIO_LO] = np.where(negative, np.float32(1.0) - clip, np.float32(-np.inf))
        arrays[_RATIO_HI] = np.where(negative, np.float32(np.inf), np.float32(1.0) + clip)
        if device.type == "cpu":
            return {k: torch.from_numpy(v) for k, v in arrays.items()}
        return {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}

    def _loss(self, model: CatalogModel, t: dict[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
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

    def _gradients(
        self, towers: list[tuple[CatalogModel, dict[str, Tensor]]], columns: list[Mapping[str, Any]]
    ) -> tuple[Tensor, dict[str, float]]:
        """The flat gradient of the towers' mean loss and the info dict.

        Raises :class:`NonFiniteLossError` (nothing applied; ``columns`` are searched for the
        cause) when a loss term or the gradient norm is not finite.
        """
        self._adam.zero_grad()
        if len(towers) == 1:
            loss, stats = self._loss(*towers[0])
            loss.backward()
            grad = self._adam.flat_grad()
            values = torch.stack([*stats, grad.norm()]).detach().tolist()
        else:
            n = len(towers)
            tower_stats = []
            for model, tensors in towers:
                loss, stats = self._loss(model, tensors)
                (loss / n).backward()
                tower_stats.append(torch.stack(stats).detach().to(self.device))
            grad = self._adam.flat_grad()
            for model in {id(m): m for m, _ in towers if m is not self.model}.values():
                grad += FlatAdam.gather_grads([p for _, p in model.named_canonical_parameters()]).to(self.device)
            values = torch.cat([torch.stack(tower_stats).mean(0), grad.norm().reshape(1)]).tolist()
        info = dict(zip(INFO_KEYS, values, strict=True))
        bad = [k for k in _BLAME_ORDER if not math.isfinite(info[k])]
        if bad:
            raise NonFiniteLossError(self._nonfinite_message(bad, info, columns))
        return grad, info

    def _nonfinite_message(self, bad: list[str], info: dict[str, float], columns: list[Mapping[str, Any]]) -> str:
        params = zip(self.weight_names, self._params, strict=True)
        return nonfinite_message(type(self).__name__, bad, info, columns, LOSS_COLUMNS, params)

    def _apply(self, grad: Tensor, grad_norm: float) -> None:
        """Global-norm clip (``grad_clip``, torch's rule) then one Adam step, on the flat gradient."""
        clip_and_step(self._adam, grad, grad_norm, self.config["grad_clip"])

    # -- learning -----------------------------------------------------------------------
    def learn_on_batch(self, batch: SampleBatch) -> dict[str, float]:
        """One gradient step on the whole batch (loss, backward, clip, Adam); returns the info."""
        grad, info = self._gradients([(self.model, self._to_tensors(batch, self.device))], [batch])
        self._apply(grad, info["grad_norm"])
        return info

    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, float]]:
        """Gradients of the loss on ``batch`` (canonical names and layouts, numpy) and the info."""
        grad, info = self._gradients([(self.model, self._to_tensors(batch, self.device))], [batch])
        return canonical_split(self.model, self._adam, grad), info

    def apply_gradients(self, grads: Gradients) -> None:
        """Clip by global norm (``grad_clip``) and take one Adam step with canonical gradients."""
        self._apply(*flat_from_canonical(self.model, grads, type(self).__name__))

    def loss(self, batch: SampleBatch) -> float:
        """The loss on ``batch``; changes nothing."""
        with torch.no_grad():
            loss, _ = self._loss(self.model, self._to_tensors(batch, self.device))
        return float(loss)

    # -- multi-device -------------------------------------------------------------------
    def load_batch(self, batch: SampleBatch) -> int:
        """Copy each device's even share of the loss columns to it once; returns rows per device."""
        n = len(self.devices)
        per_device = batch.count // n
        if per_device < 1:
            raise SampleBatchError(f"a batch of {batch.count} rows cannot be split over {n} devices")
        self._loaded = []
        for i, device in enumerate(self.devices):
            tensors = self._to_tensors(batch, device, slice(i * per_device, (i + 1) * per_device))
            if device.type == "cpu":  # own the memory: the caller may reuse the batch's arrays
                tensors = {k: v.clone() for k, v in tensors.items()}
            self._loaded.append(tensors)
        return per_device

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, float]:
        """One step on rows ``indices`` of every device's share: tower gradients averaged, clipped, applied once."""
        if not self._loaded:
            raise RLCoreError(f"{type(self).__name__}.learn_on_loaded_batch called before load_batch")
        idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
        per_device = len(self._loaded[0][sb.OBS])
        if len(idx) == per_device and len(counts := np.bincount(idx)) == per_device and counts.max() == 1:
            # a permutation of every loaded row: the losses are means, so skip the gather
            towers = [(self._replica(d), tensors) for d, tensors in zip(self.devices, self._loaded, strict=True)]
        else:
            index = torch.from_numpy(idx)
            towers = []
            for device, tensors in zip(self.devices, self._loaded, strict=True):
                d_index = index if device.type == "cpu" else index.to(device)
                towers.append((self._replica(device), {k: v.index_select(0, d_index) for k, v in tensors.items()}))
        grad, info = self._gradients(towers, self._loaded)
        self._apply(grad, info["grad_norm"])
        return info

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
