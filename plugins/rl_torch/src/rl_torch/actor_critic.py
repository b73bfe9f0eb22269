"""The torch half shared by the actor-critic policies (PPO, A3C): one catalog model with policy and
value outputs, trained by Adam on the flat gradient of a loss a subclass defines.

:class:`ActorCriticTorchPolicy` subclasses the core's :class:`~rlcore.model_policy.ModelPolicy`
(acting through the numpy mirror, action sampling, the one rule for batches, gradients,
non-finite losses and pickling) and supplies what every torch actor-critic needs: the model built
through the catalog and the model registry, its devices, Adam, weights and optimizer state
exchanged as numpy in the canonical layout, gradients with global-norm clipping (``grad_clip``,
torch's rule), and the recurrent forward of ``use_lstm`` models.

A subclass supplies the loss: :meth:`ActorCriticTorchPolicy._loss_terms` (the loss and its
statistics, in the order of :attr:`ActorCriticTorchPolicy.stat_keys`), ``loss_columns``,
``info_keys`` and optionally :meth:`ActorCriticTorchPolicy._extra_arrays` (per-row tensors the
loss needs beyond the batch columns).

**Recurrent models** (``model.use_lstm``): batches carry the row-aligned ``seq_lens`` column and
the states fed at each step (``state_in_0`` = h, ``state_in_1`` = c) from the rollout evaluator
(:mod:`rlcore.sequences`). The loss pads the observations to ``[S, T, ...]`` in numpy, runs
:meth:`rl_torch.models.LSTMNetwork.forward_sequences` from each sequence's initial state, and
gathers the real rows back ("masking by unpadding"), so the loss terms stay row-wise means over
the real rows: the same formulas (and numpy reference losses) as for plain batches. Gradients do
not flow into the sampled states.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from rl_torch.common import (
    TorchCatalogForward,
    TorchModelWeights,
    adam_state,
    all_finite_info,
    canonical_split,
    clip_and_step,
    flat_from_canonical,
    float_obs,
    load_adam_state,
    loss_arrays,
    set_num_threads,
)
from rl_torch.models import CatalogModel
from rl_torch.optim import FlatAdam
from rlcore import sample_batch as sb
from rlcore.model_policy import ModelPolicy
from rlcore.models.layout import Param
from rlcore.policy import Gradients, StateBatches
from rlcore.sample_batch import SampleBatch

__all__ = ["ActorCriticTorchPolicy"]

#: Keys of the loss tensors that carry the recurrent inputs (not batch columns).
_SEQ_OBS, _SEQ_H, _SEQ_C, _SEQ_VALID = "_seq_obs", "_seq_h", "_seq_c", "_seq_valid"


class ActorCriticTorchPolicy(TorchCatalogForward, TorchModelWeights, ModelPolicy):
    """Base of the torch actor-critic policies: catalog model, devices, Adam, gradients, state.

    Config keys read here: ``lr``, ``adam_epsilon``, ``grad_clip`` (None: no clip),
    ``num_cpu_threads``, ``num_gpus`` (default 0), ``num_cpu_towers`` (default 1) and ``model``
    (plus :class:`~rlcore.model_policy.ModelPolicy`'s ``lr_schedule`` and ``numpy_inference``).
    Subclasses set ``stat_keys`` (the info's keys, in order: the statistics of
    :meth:`_loss_terms`, then ``"grad_norm"``) and implement :meth:`_loss_terms`.
    """

    framework: ClassVar[str] = "torch"
    #: The keys of the learner info, in order: :meth:`_loss_terms`' statistics, then ``grad_norm``.
    stat_keys: ClassVar[tuple[str, ...]] = ("loss", "grad_norm")

    model: CatalogModel

    # -- construction -----------------------------------------------------------
    def build(self) -> None:
        """Build the seeded catalog model, Adam and the device list."""
        set_num_threads(int(self.config.get("num_cpu_threads", 1)))
        self.devices = self._pick_devices()
        self.num_devices = len(self.devices)
        self.device = self.devices[0]
        self.model = self._make_model().to(self.device)
        self.weight_names = self.model.weight_names()
        self._params = [p for _, p in self.model.named_canonical_parameters()]
        self._adam = FlatAdam(self._params, lr=float(self.config["lr"]), eps=float(self.config["adam_epsilon"]))

    def model_layout(self) -> list[Param]:
        """The catalog model's canonical layout."""
        return self.model.layout

    def _pick_devices(self) -> list[torch.device]:
        num_gpus = float(self.config.get("num_gpus") or 0)
        if num_gpus > 0 and torch.cuda.is_available():
            n = min(max(1, int(num_gpus)), torch.cuda.device_count())
            return [torch.device("cuda", i) for i in range(n)]
        return [torch.device("cpu")] * int(self.config.get("num_cpu_towers", 1))

    def _make_model(self) -> CatalogModel:
        return self.build_catalog_model(CatalogModel)

    # -- acting -------------------------------------------------------------------
    def forward_step(self, obs: np.ndarray, state: StateBatches) -> tuple[np.ndarray, np.ndarray, StateBatches]:
        """One step of the recurrent model: ``(dist_inputs [B, n], values [B], [h' [B, c], c' [B, c]])``
        as numpy (new arrays) from ``state = [h [B, c], c [B, c]]`` (empty: the initial zero state)."""
        if not self.recurrent:
            raise self._unsupported("recurrent steps (forward_step) of a model without use_lstm")
        obs = float_obs(obs)
        if not state:
            state = [np.zeros((obs.shape[0], self.cell_size), np.float32)] * 2
        dev = self.device
        with torch.inference_mode():
            h, c = (torch.from_numpy(np.asarray(s, dtype=np.float32)).to(dev) for s in state)
            dist_inputs, values, (h2, c2) = self.model.forward_step(  # type: ignore[operator]
                torch.from_numpy(obs).to(dev), (h, c)
            )
            return (
                dist_inputs.cpu().numpy(),
                values.cpu().numpy(),
                [np.array(h2.cpu().numpy(), copy=True), np.array(c2.cpu().numpy(), copy=True)],
            )

    # -- loss -------------------------------------------------------------------------
    def _extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Add per-row arrays the loss needs beyond the loss columns (e.g. PPO's ratio bounds)."""

    def _sequence_arrays(self, batch: SampleBatch, arrays: dict[str, np.ndarray]) -> None:
        """The padded observations ``[S, T, ...]``, initial states ``[S, c]`` and the flat padded
        positions of the real rows, for the recurrent forward (see the module docstring)."""
        from rlcore import sequences

        arrays[_SEQ_OBS], (arrays[_SEQ_H], arrays[_SEQ_C]), arrays[_SEQ_VALID] = sequences.padded_forward_inputs(
            batch, arrays[sb.OBS]
        )

    def _to_tensors(self, batch: SampleBatch, device: torch.device, rows: slice | None = None) -> dict[str, Tensor]:
        """The loss columns of ``batch`` (``rows`` of them) as float32/int64 tensors on ``device``,
        plus :meth:`_extra_arrays` and, for a recurrent model, the padded sequences.

        On the CPU the tensors share memory with the batch's arrays where they can.
        """
        arrays = loss_arrays(batch, self.loss_columns, rows)
        self._extra_arrays(arrays)
        if self.recurrent:  # whole sequences only: the multi-device split (rows) refuses recurrent batches
            self._sequence_arrays(batch, arrays)
        if device.type == "cpu":
            return {k: torch.from_numpy(v) for k, v in arrays.items()}
        return {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}

    def _model_outputs(self, model: CatalogModel, t: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(dist_inputs [N, n], values [N])`` of the batch's rows: one forward pass, or for a
        recurrent model the padded sequences' forward with the real rows gathered back."""
        if _SEQ_OBS not in t:
            return model.forward(t[sb.OBS])
        dist_inputs, values = model.forward_sequences(t[_SEQ_OBS], (t[_SEQ_H], t[_SEQ_C]))  # type: ignore[operator]
        valid = t[_SEQ_VALID]
        return dist_inputs.reshape(-1, dist_inputs.shape[-1])[valid], values.reshape(-1)[valid]

    def _loss_terms(self, model: CatalogModel, t: dict[str, Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The loss and its statistics (scalar tensors, in the order of :attr:`stat_keys` less ``grad_norm``)."""
        raise NotImplementedError

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
        return grad, dict(zip(self.stat_keys, values, strict=True))

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

    # -- weights and state ----------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Adam's step count and first and second moments (canonical names and layouts), as numpy."""
        return {"optimizer": adam_state(self.model, self._adam)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (a state without ``"optimizer"`` leaves Adam as it is)."""
        opt = state.get("optimizer")
        if opt is not None:
            load_adam_state(self.model, self._adam, opt)
