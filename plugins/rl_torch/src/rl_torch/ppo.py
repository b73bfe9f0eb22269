"""PPO's policy evaluator in PyTorch.

:class:`PPOTorchEvaluator` subclasses the core's :class:`~rlcore.sampling_evaluator.SamplingEvaluator`
(envs, preprocessing, filters, numpy action sampling, GAE, metrics) and supplies the torch part: a
catalog model, the clipped-surrogate loss, gradients and Adam, all exchanged as numpy in the
canonical layout. ``learn_on_batch`` is one fused step on the batch it is given; the policy
optimizer does the epochs and minibatches (and standardizes the advantages over the whole train
batch: the loss does not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rl_torch.distributions import make_dist
from rl_torch.models import CatalogModel, FullyConnectedNetwork, VisionNetwork
from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, RLCoreError, UnsupportedOperationError
from rlcore.evaluator import Gradients, Weights
from rlcore.loss_config import PPO_LOSS_DEFAULTS
from rlcore.models.catalog import ModelCatalog
from rlcore.sample_batch import SampleBatch
from rlcore.sampling_evaluator import SamplingEvaluator

__all__ = ["LOSS_COLUMNS", "NonFiniteLossError", "PPOTorchEvaluator"]

#: The batch columns PPO's loss reads.
LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.ACTION_LOGP,
    sb.ACTION_DIST_INPUTS,
    sb.VF_PREDS,
    sb.ADVANTAGES,
    sb.VALUE_TARGETS,
)

#: Names of the loss statistics, in the order the loss computes them (then ``grad_norm``).
_STATS: tuple[str, ...] = ("loss", "policy_loss", "vf_loss", "entropy", "kl", "clip_frac")


class NonFiniteLossError(RLCoreError, FloatingPointError):
    """The loss (one of its terms) or the gradients are NaN or infinite; nothing was applied."""


class PPOTorchEvaluator(SamplingEvaluator):
    """PPO in PyTorch: clipped surrogate, (optionally clipped) value loss, entropy bonus, KL penalty.

    ``PPOTorchEvaluator(env_creator, config, worker_index=0)``. Reads the keys of
    :data:`~rlcore.sampling_evaluator.SAMPLING_DEFAULTS` and
    :data:`~rlcore.loss_config.PPO_LOSS_DEFAULTS` (missing keys take those defaults). The KL
    coefficient comes from ``set_global_vars({"kl_coeff": x})`` (default ``config["kl_coeff"]``).
    Weights, gradients and Adam's moments (in :meth:`get_state`) use the catalog's canonical names
    and layouts, so they are interchangeable with the TensorFlow evaluator's.
    """

    framework: ClassVar[str] = "torch"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"discrete", "continuous", "gradients", "remote", "multi_device"}
    )

    model: CatalogModel

    def __init__(self, env_creator: Callable[[dict[str, Any]], Any], config: dict[str, Any], worker_index: int = 0):
        super().__init__(env_creator, {**PPO_LOSS_DEFAULTS, **config}, worker_index)

    # -- construction -----------------------------------------------------------
    def build_model(self) -> None:
        """The catalog model (seeded), Adam, and the devices for multi-device learning."""
        cfg = self.config
        threads = int(cfg["num_cpu_threads"])
        if threads > 0 and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        for key in ("lr", "adam_epsilon", "clip_param"):
            if not float(cfg[key]) > 0:
                raise ConfigError(f"PPO config {key!r} must be > 0, got {cfg[key]!r}")
        if int(cfg["num_cpu_towers"]) < 1:
            raise ConfigError(f"PPO config 'num_cpu_towers' must be >= 1, got {cfg['num_cpu_towers']!r}")
        self.devices = self._pick_devices()
        self.device = self.devices[0]
        self.model = self._make_model().to(self.device)
        self.weight_names = self.model.weight_names()
        self._params = [p for _, p in self.model.named_canonical_parameters()]
        # The fused kernel (CPU and CUDA) costs a third of the foreach one on small MLPs.
        self.optimizer = torch.optim.Adam(self._params, lr=float(cfg["lr"]), eps=float(cfg["adam_epsilon"]), fused=True)
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
            self.observation_space, self.action_space, num_outputs, self.model_config, "torch"
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
        """The loss columns of ``batch`` (rows ``rows``) as tensors on ``device`` (no copy on CPU where possible)."""
        out: dict[str, Tensor] = {}
        for col in LOSS_COLUMNS:
            arr = batch[col] if rows is None else batch[col][rows]
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            if not (arr.flags.writeable and arr.flags.c_contiguous):
                arr = np.array(arr, order="C")
            t = torch.from_numpy(arr)
            out[col] = t if device.type == "cpu" else t.to(device)
        return out

    def _loss(self, model: CatalogModel, t: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """PPO's loss and its statistics ``[loss, policy_loss, vf_loss, entropy, kl, clip_frac]``."""
        cfg = self.config
        clip = float(cfg["clip_param"])
        kl_coeff = float(self.global_vars.get("kl_coeff", cfg["kl_coeff"]))
        entropy_coeff = float(cfg["entropy_coeff"])
        dist_inputs, values = model.forward(t[sb.OBS])
        dist = make_dist(self.dist_spec, dist_inputs)
        ratio = torch.exp(dist.logp(t[sb.ACTIONS]) - t[sb.ACTION_LOGP])
        adv = t[sb.ADVANTAGES]
        surrogate = torch.min(adv * ratio, adv * torch.clamp(ratio, 1.0 - clip, 1.0 + clip))
        policy_loss = -surrogate.mean()
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
        with torch.set_grad_enabled(entropy_coeff != 0.0 and torch.is_grad_enabled()):
            entropy = dist.entropy().mean()
        with torch.set_grad_enabled(kl_coeff != 0.0 and torch.is_grad_enabled()):
            kl = make_dist(self.dist_spec, t[sb.ACTION_DIST_INPUTS]).kl(dist).mean()
        if kl_coeff != 0.0:
            loss = torch.add(loss, kl, alpha=kl_coeff)
        if entropy_coeff != 0.0:
            loss = torch.sub(loss, entropy, alpha=entropy_coeff)
        with torch.no_grad():
            clip_frac = (torch.abs(ratio - 1.0) > clip).float().mean()
            stats = torch.stack([loss, policy_loss, vf_loss, entropy, kl, clip_frac])
        return loss, stats

    def _backward(self, towers: list[tuple[CatalogModel, dict[str, Tensor]]]) -> Tensor:
        """Gradients of the mean of the towers' losses into ``self.model``'s ``.grad``; returns mean stats."""
        self.optimizer.zero_grad(set_to_none=True)
        n = len(towers)
        stats_sum: Tensor | None = None
        for model, tensors in towers:
            loss, stats = self._loss(model, tensors)
            (loss if n == 1 else loss / n).backward()
            stats = stats.to(self.device)
            stats_sum = stats if stats_sum is None else stats_sum + stats
        for model in {id(m): m for m, _ in towers if m is not self.model}.values():
            with torch.no_grad():
                for p, rp in zip(self._params, (q for _, q in model.named_canonical_parameters()), strict=True):
                    if rp.grad is not None:
                        g = rp.grad.to(self.device)
                        p.grad = g if p.grad is None else p.grad.add_(g)
        for p in self._params:  # every parameter gets a gradient, so Adam's steps stay in lock-step
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        assert stats_sum is not None
        return stats_sum if n == 1 else stats_sum / n

    def _grad_norm(self) -> Tensor:
        return torch.nn.utils.get_total_norm([p.grad for p in self._params], foreach=True)

    def _info(self, stats: Tensor, grad_norm: Tensor, batch: Any, applying: bool) -> dict[str, float]:
        """The info dict as floats; raises :class:`NonFiniteLossError` on a NaN/inf term."""
        values = torch.cat([stats, grad_norm.reshape(1).to(stats.device)]).tolist()
        info = dict(zip((*_STATS, "grad_norm"), values, strict=True))
        bad = [k for k, v in info.items() if not np.isfinite(v)]
        if bad:
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLossError(self._nonfinite_message(bad, info, batch, applying))
        return info

    def _nonfinite_message(self, bad: list[str], info: dict[str, float], batch: Any, applying: bool) -> str:
        term = bad[0]
        what = "the gradients" if term == "grad_norm" else f"loss term {term!r}"
        cols = []
        if isinstance(batch, SampleBatch):
            cols = [
                c
                for c in LOSS_COLUMNS
                if c in batch and np.issubdtype(batch[c].dtype, np.floating) and not np.isfinite(batch[c]).all()
            ]
        weights = [n for n, p in zip(self.weight_names, self._params, strict=True) if not torch.isfinite(p).all()]
        hint = (
            f" Non-finite batch columns: {cols}."
            if cols
            else (f" Non-finite weights: {weights}." if weights else " The batch and weights are finite.")
        )
        done = (
            "nothing was applied: weights and optimizer state are unchanged"
            if applying
            else "no gradients were returned; weights are unchanged"
        )
        terms = ", ".join(f"{k}={v:.4g}" for k, v in info.items())
        return f"{type(self).__name__}: {what} is not finite ({terms}); {done}.{hint}"

    def _step(self, grad_norm: Tensor) -> None:
        """Global-norm clip (when ``grad_clip`` is set), then one Adam step."""
        clip = self.config["grad_clip"]
        if clip is not None:
            torch.nn.utils.clip_grads_with_norm_(self._params, float(clip), grad_norm, foreach=True)
        self.optimizer.step()

    # -- learning -----------------------------------------------------------------------
    def learn_on_batch(self, batch: SampleBatch) -> dict[str, float]:
        """One gradient step on the whole batch (loss, backward, clip, Adam); returns the info."""
        stats = self._backward([(self.model, self._to_tensors(batch, self.device))])
        grad_norm = self._grad_norm()
        info = self._info(stats, grad_norm, batch, applying=True)
        self._step(grad_norm)
        return info

    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, float]]:
        """Gradients of the loss on ``batch`` (canonical names and layouts, numpy) and the info."""
        stats = self._backward([(self.model, self._to_tensors(batch, self.device))])
        info = self._info(stats, self._grad_norm(), batch, applying=False)
        grads = {
            name: self.model.to_canonical(name, p.grad) for name, p in zip(self.weight_names, self._params, strict=True)
        }
        self.optimizer.zero_grad(set_to_none=True)
        return grads, info

    def apply_gradients(self, grads: Gradients) -> None:
        """Clip by global norm (``grad_clip``) and take one Adam step with canonical gradients."""
        unknown = sorted(set(grads) - set(self.weight_names))
        if unknown:
            raise ConfigError(f"gradients for unknown weights {unknown}; weights: {self.weight_names}")
        self.optimizer.zero_grad(set_to_none=True)
        for name, p in zip(self.weight_names, self._params, strict=True):
            g = grads.get(name)
            if g is None:
                p.grad = torch.zeros_like(p)
                continue
            if np.shape(g) != self.model.shapes[name]:
                raise ConfigError(f"gradient {name!r} has shape {np.shape(g)}, expected {self.model.shapes[name]}")
            p.grad = self.model.from_canonical(name, g, device=p.device)
        grad_norm = self._grad_norm()
        if not bool(torch.isfinite(grad_norm)):
            bad = [n for n in self.weight_names if n in grads and not np.isfinite(grads[n]).all()]
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLossError(
                f"{type(self).__name__}.apply_gradients: the gradients of {bad} are not finite; nothing was "
                "applied: weights and optimizer state are unchanged."
            )
        self._step(grad_norm)

    def loss(self, batch: SampleBatch) -> float:
        """The loss on ``batch``; changes nothing."""
        with torch.no_grad():
            _, stats = self._loss(self.model, self._to_tensors(batch, self.device))
        return float(stats[0])

    # -- multi-device -------------------------------------------------------------------
    def load_batch(self, batch: SampleBatch) -> int:
        """Copy each device's even share of the loss columns to it once; returns rows per device."""
        n = len(self.devices)
        per_device = batch.count // n
        if per_device < 1:
            raise ConfigError(f"load_batch got {batch.count} rows for {n} devices: at least one row per device")
        self._loaded = []
        for i, device in enumerate(self.devices):
            rows = slice(i * per_device, (i + 1) * per_device)
            tensors = self._to_tensors(batch, device, rows)
            if device.type == "cpu":  # own the memory: the caller may reuse the batch's arrays
                tensors = {k: v.clone() for k, v in tensors.items()}
            self._loaded.append(tensors)
        return per_device

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, float]:
        """One step on rows ``indices`` of every device's share: tower gradients averaged, clipped, applied once."""
        if not self._loaded:
            raise RLCoreError(f"{type(self).__name__}.learn_on_loaded_batch called before load_batch")
        idx = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64))
        towers = []
        for device, tensors in zip(self.devices, self._loaded, strict=True):
            d_idx = idx if device.type == "cpu" else idx.to(device)
            rows = {k: v.index_select(0, d_idx) for k, v in tensors.items()}
            towers.append((self._replica(device), rows))
        stats = self._backward(towers)
        grad_norm = self._grad_norm()
        info = self._info(stats, grad_norm, None, applying=True)
        self._step(grad_norm)
        return info

    def _replica(self, device: torch.device) -> CatalogModel:
        """The model copy on ``device`` with the current weights (the main model on its own device)."""
        model = self._replicas.get(device)
        if model is None:
            model = self._make_model().to(device)
            self._replicas[device] = model
        if model is not self.model:
            with torch.no_grad():
                for (_, p), (_, q) in zip(
                    self.model.named_canonical_parameters(), model.named_canonical_parameters(), strict=True
                ):
                    q.copy_(p)
        return model

    # -- weights and state ----------------------------------------------------------------
    def get_weights(self) -> Weights:
        """Copies of the weights (canonical names and layouts)."""
        return self.model.get_weights()

    def set_weights(self, weights: Weights) -> None:
        """Load canonical weights (validated against the layout)."""
        self.model.set_weights(weights)

    def extra_state(self) -> dict[str, Any]:
        """Adam's step count and first and second moments (canonical layouts), as numpy."""
        step, m, v = 0, {}, {}
        for name, p in zip(self.weight_names, self._params, strict=True):
            state = self.optimizer.state.get(p) or {}
            if "step" in state:
                step = int(state["step"])
                m[name] = self.model.to_canonical(name, state["exp_avg"])
                v[name] = self.model.to_canonical(name, state["exp_avg_sq"])
            else:
                m[name] = self.model.to_canonical(name, torch.zeros_like(p))
                v[name] = m[name].copy()
        return {"optimizer": {"step": np.array(step, dtype=np.int64), "m": m, "v": v}}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (a state without ``"optimizer"`` leaves Adam as it is)."""
        opt = state.get("optimizer")
        if opt is None:
            return
        step = int(np.asarray(opt["step"]))
        self.optimizer.state.clear()
        if step == 0:
            return
        for name, p in zip(self.weight_names, self._params, strict=True):
            self.optimizer.state[p] = {
                "step": torch.tensor(float(step), dtype=torch.float32),
                "exp_avg": self.model.from_canonical(name, opt["m"][name], device=p.device),
                "exp_avg_sq": self.model.from_canonical(name, opt["v"][name], device=p.device),
            }
