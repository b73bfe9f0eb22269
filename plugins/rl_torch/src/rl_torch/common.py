"""Helpers shared by the torch policies: loss columns as arrays, canonical gradients and Adam
state, global-norm clipping, canonical weights and the acting forward of catalog models."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rl_torch.models import CatalogModel
from rl_torch.optim import FlatAdam
from rlcore.models.layout import check_weights
from rlcore.sample_batch import SampleBatch

__all__ = [
    "TorchCatalogForward",
    "TorchCatalogWeights",
    "TorchModelWeights",
    "adam_state",
    "all_finite_info",
    "canonical_split",
    "clip_and_step",
    "flat_from_canonical",
    "float_obs",
    "load_adam_state",
    "loss_arrays",
    "set_num_threads",
]


def set_num_threads(threads: int) -> None:
    """Set torch's intra-op thread count when ``threads > 0`` and it differs."""
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def float_obs(obs: np.ndarray) -> np.ndarray:
    """``obs`` as a writable C-contiguous float32 array (itself when it already is one), ready for
    ``torch.from_numpy``."""
    if obs.dtype != np.float32 or not obs.flags.writeable or not obs.flags.c_contiguous:
        return np.array(obs, dtype=np.float32, order="C")
    return obs


def all_finite_info(info: Mapping[str, Any]) -> bool:
    """Whether every scalar value of a learner info is finite (a step is applied only then)."""
    return all(math.isfinite(v) for v in info.values() if isinstance(v, float))


def loss_arrays(batch: SampleBatch, columns: Sequence[str], rows: slice | None = None) -> dict[str, np.ndarray]:
    """``columns`` of ``batch`` (``rows`` of them) as writable C-contiguous arrays, float64 made float32.

    The core checked that the columns exist (:meth:`rlcore.model_policy.ModelPolicy.learn_on_batch`).
    """
    arrays: dict[str, np.ndarray] = {}
    for col in columns:
        arr = batch[col] if rows is None else batch[col][rows]
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        if not (arr.flags.writeable and arr.flags.c_contiguous):
            arr = np.array(arr, order="C")
        arrays[col] = arr
    return arrays


def canonical_split(model: CatalogModel, adam: FlatAdam, flat: Tensor) -> dict[str, np.ndarray]:
    """A flat tensor laid out like ``adam``'s parameters (gradient, moment) as canonical numpy arrays."""
    return {n: model.to_canonical(n, x) for n, x in zip(model.weight_names(), adam.split(flat), strict=True)}


def flat_from_canonical(model: CatalogModel, grads: Mapping[str, Any]) -> tuple[Tensor, float]:
    """Canonical gradients (checked by the core: complete, finite) as one flat tensor in ``model``'s
    layout order, and its global norm."""
    device = next(iter(model.parameters())).device
    grad = torch.cat([model.from_canonical(n, grads[n], device=device).reshape(-1) for n in model.weight_names()])
    return grad, float(grad.norm())


def clip_and_step(adam: FlatAdam, grad: Tensor, grad_norm: float, clip: float | None) -> None:
    """Global-norm clip (torch's rule: ``clip / (norm + 1e-6)``) then one Adam step, on the flat gradient."""
    if clip is not None and grad_norm > float(clip):
        grad.mul_(float(clip) / (grad_norm + 1e-6))
    adam.step(grad)


def adam_state(model: CatalogModel, adam: FlatAdam) -> dict[str, Any]:
    """Adam's step count and moments ``m``, ``v`` (canonical names and layouts), as numpy."""
    return {
        "step": np.array(adam.step_count, dtype=np.int64),
        "m": canonical_split(model, adam, adam.exp_avg),
        "v": canonical_split(model, adam, adam.exp_avg_sq),
    }


def load_adam_state(model: CatalogModel, adam: FlatAdam, opt: Mapping[str, Any]) -> None:
    """Restore :func:`adam_state` (moments checked against the layout first)."""
    for key in ("m", "v"):
        check_weights(model.layout, opt[key], f"the Adam moments {key!r} of {type(model).__name__}")
    with torch.no_grad():
        for key, flat in (("m", adam.exp_avg), ("v", adam.exp_avg_sq)):
            for name, view in zip(model.weight_names(), adam.split(flat), strict=True):
                view.copy_(model.from_canonical(name, opt[key][name], device=view.device))
    adam.step_count = int(np.asarray(opt["step"]))


class TorchCatalogWeights:
    """Canonical weights of an rl_torch policy whose ``self.model`` is a :class:`CatalogModel`."""

    model: CatalogModel

    def _get_weights(self) -> dict[str, np.ndarray]:
        return self.model.get_weights()

    def _set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.model.set_weights(weights)


class TorchModelWeights(TorchCatalogWeights):
    """Weights and learning rate of an rl_torch policy whose ``self.model`` is a :class:`CatalogModel`
    trained by ``self._adam`` (a :class:`FlatAdam`): PPO's and DQN's (DQN: the online network)."""

    _adam: FlatAdam

    def _set_learning_rate(self, lr: float) -> None:
        self._adam.lr = float(lr)


class TorchCatalogForward:
    """The acting forward of an rl_torch policy whose ``self.model`` is a catalog model with
    action-distribution outputs (fc, vision, lstm) on ``self.device``: the actor-critic policies'
    and the gradient-free ones' (ES)."""

    model: CatalogModel
    device: torch.device
    recurrent: bool
    obs_shape: tuple[int, ...]

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs, values)`` as numpy for filtered observations, without autograd.

        A recurrent model runs one step from its initial (zero) state. Raises ``ValueError``
        naming the expected shape for observations that are not ``[B, *obs_shape]``.
        """
        if np.shape(obs)[1:] != self.obs_shape:
            raise ValueError(
                f"forward expects observations of shape [B, {', '.join(map(str, self.obs_shape))}], got {np.shape(obs)}"
            )
        if self.recurrent:
            dist_inputs, values, _ = self.forward_step(obs, [])  # type: ignore[attr-defined]
            return dist_inputs, values
        obs = float_obs(obs)
        with torch.inference_mode():
            x = torch.from_numpy(obs)
            if self.device.type != "cpu":
                dist_inputs, values = self.model.forward(x.to(self.device))
                return dist_inputs.cpu().numpy(), values.cpu().numpy()
            dist_inputs, values = self.model.forward(x)
            return dist_inputs.numpy(), values.numpy()
