"""Helpers shared by the torch evaluators: loss columns as arrays, canonical gradients and Adam
state, global-norm clipping and the non-finite loss report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from rl_torch.models import CatalogModel
from rl_torch.optim import FlatAdam
from rlcore.errors import NonFiniteLossError, SampleBatchError
from rlcore.models.layout import check_weights
from rlcore.sample_batch import SampleBatch

__all__ = [
    "adam_state",
    "all_finite",
    "canonical_split",
    "clip_and_step",
    "flat_from_canonical",
    "load_adam_state",
    "loss_arrays",
    "nonfinite_message",
    "set_num_threads",
]


def set_num_threads(threads: int) -> None:
    """Set torch's intra-op thread count when ``threads > 0`` and it differs."""
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def all_finite(values: Any) -> bool:
    """Whether an array or tensor holds no NaN or infinity (integers always do)."""
    return bool(torch.isfinite(torch.as_tensor(values)).all())


def loss_arrays(
    batch: SampleBatch, columns: Sequence[str], algo: str, rows: slice | None = None
) -> dict[str, np.ndarray]:
    """``columns`` of ``batch`` (``rows`` of them) as writable C-contiguous arrays, float64 made float32.

    Raises :class:`SampleBatchError` naming the missing columns.
    """
    arrays: dict[str, np.ndarray] = {}
    for col in columns:
        try:
            arr = batch[col] if rows is None else batch[col][rows]
        except KeyError:
            missing = [c for c in columns if c not in batch]
            raise SampleBatchError(
                f"{algo}'s loss needs the columns {missing}, which the batch lacks (it has {sorted(batch)}); "
                "train on batches from sample()."
            ) from None
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        if not (arr.flags.writeable and arr.flags.c_contiguous):
            arr = np.array(arr, order="C")
        arrays[col] = arr
    return arrays


def canonical_split(model: CatalogModel, adam: FlatAdam, flat: Tensor) -> dict[str, np.ndarray]:
    """A flat tensor laid out like ``adam``'s parameters (gradient, moment) as canonical numpy arrays."""
    return {n: model.to_canonical(n, x) for n, x in zip(model.weight_names(), adam.split(flat), strict=True)}


def flat_from_canonical(model: CatalogModel, grads: Mapping[str, Any], owner: str) -> tuple[Tensor, float]:
    """Canonical gradients as one flat tensor (``model``'s layout order) and its global norm.

    Raises :class:`NonFiniteLossError` when a gradient is not finite.
    """
    check_weights(model.layout, grads, "the gradients of " + type(model).__name__)
    device = next(iter(model.parameters())).device
    names = model.weight_names()
    grad = torch.cat([model.from_canonical(n, grads[n], device=device).reshape(-1) for n in names])
    grad_norm = float(grad.norm())
    if not np.isfinite(grad_norm):
        bad = [n for n in names if not np.isfinite(grads[n]).all()]
        raise NonFiniteLossError(
            f"{owner}.apply_gradients: the gradients of {bad} are not finite; nothing was "
            "applied: the weights and the optimizer state are unchanged."
        )
    return grad, grad_norm


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


def nonfinite_message(
    owner: str,
    bad: list[str],
    info: Mapping[str, float],
    columns: Iterable[Mapping[str, Any]],
    loss_columns: Sequence[str],
    named_params: Iterable[tuple[str, Tensor]],
) -> str:
    """Why a step was refused: the first non-finite term, every term, and the non-finite inputs."""
    what = "the gradient norm" if bad[0] == "grad_norm" else f"loss term {bad[0]!r}"
    terms = ", ".join(f"{k}={v:.4g}" for k, v in info.items())
    batches = list(columns)
    cols = [c for c in loss_columns if any(c in cs and not all_finite(cs[c]) for cs in batches)]
    weights = [n for n, p in named_params if not torch.isfinite(p).all()]
    hint = " The batch and the weights are finite."
    if cols or weights:
        hint = f" Non-finite batch columns: {cols}; non-finite weights: {weights}."
    return (
        f"{owner}: {what} is not finite ({terms}); nothing was applied: the weights and "
        f"the optimizer state are unchanged.{hint}"
    )


class TorchEvaluatorState:
    """Weights, learning rate and pickling shared by rl_torch's evaluators.

    The evaluator has ``self.model`` (a :class:`CatalogModel`), ``self._adam`` (a
    :class:`FlatAdam`), ``_build_torch()`` (builds both) and ``extra_state`` /
    ``set_extra_state``; ``torch_attrs`` names what ``_build_torch`` makes. Parameters are views
    of FlatAdam's flat buffer, which pickle would copy once per parameter: a pickled evaluator
    carries numpy weights and Adam state instead and rebuilds its torch side.
    """

    #: Attributes ``_build_torch`` creates (left out of the pickled state).
    torch_attrs: ClassVar[tuple[str, ...]] = ()
    model: CatalogModel
    _adam: FlatAdam

    def set_learning_rate(self, lr: float) -> None:
        """Set Adam's learning rate (used by ``lr_schedule``)."""
        self._adam.lr = float(lr)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of the model's weights (canonical names and layouts)."""
        return self.model.get_weights()

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Load canonical weights into the model (validated against the layout)."""
        self.model.set_weights(weights)

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self.torch_attrs}
        state["_torch_state"] = {"weights": self.get_weights(), **self.extra_state()}  # type: ignore[attr-defined]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        torch_state = state.pop("_torch_state")
        self.__dict__.update(state)
        self._build_torch()  # type: ignore[attr-defined]
        self.set_weights(torch_state["weights"])
        self.set_extra_state(torch_state)  # type: ignore[attr-defined]
