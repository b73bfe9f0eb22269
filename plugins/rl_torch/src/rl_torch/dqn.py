"""DQN's policy evaluator in PyTorch.

:class:`DQNTorchEvaluator` subclasses the core's :class:`~rlcore.q_evaluator.QSamplingEvaluator`
(epsilon-greedy acting through a numpy mirror, n-step postprocessing) and supplies the torch
part: the Q network of :func:`rlcore.models.layout.q_layout`, a target network, the Huber TD loss
(double Q optional) and Adam, all exchanged as numpy in the canonical layout.
"""

from __future__ import annotations

import math
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
from rl_torch.models import CatalogModel, activation_fn
from rl_torch.optim import FlatAdam
from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, NonFiniteLossError, UnsupportedOperationError
from rlcore.evaluator import Gradients
from rlcore.loss_config import DQN_LOSS_COLUMNS
from rlcore.models.layout import Param
from rlcore.q_evaluator import QSamplingEvaluator
from rlcore.sample_batch import SampleBatch

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "DQNTorchEvaluator", "QNetwork"]

LOSS_COLUMNS = DQN_LOSS_COLUMNS
#: The float keys of the learner info, in order (``td_error``, a float32 array ``[B]``, follows them).
INFO_KEYS: tuple[str, ...] = ("loss", "mean_q", "mean_td_error", "grad_norm")

#: Attributes that hold torch objects: rebuilt, not pickled (see ``__getstate__``).
_TORCH_ATTRS: tuple[str, ...] = ("model", "target_model", "_adam")


class QNetwork(CatalogModel):
    """The fc Q network of :func:`~rlcore.models.layout.q_layout`: ``model(obs) -> q [B, num_actions]``.

    ``QNetwork(layout, num_trunk, num_head, activation, dueling, seed=None)``: the trunk ``fc_i``
    uses ``activation``, the head layers ReLU; dueling combines ``V + A - mean_a A``.
    """

    def __init__(
        self, layout: list[Param], num_trunk: int, num_head: int, activation: str, dueling: bool, seed: int | None
    ) -> None:
        super().__init__()
        self.num_trunk, self.num_head, self.dueling = num_trunk, num_head, dueling
        self.activation = activation_fn(activation)
        self._init_params(layout, seed)

    def _refresh_plan(self) -> None:
        super()._refresh_plan()
        p = self.params

        def dense(prefix: str, n: int) -> list[tuple[Tensor, Tensor]]:
            return [(p[f"{prefix}_{i}/kernel"], p[f"{prefix}_{i}/bias"]) for i in range(n)]

        self._trunk = dense("fc", self.num_trunk)
        names = ("advantage", "state_value") if self.dueling else ("q",)
        out = {n: (p[f"{n}_out/kernel"], p[f"{n}_out/bias"]) for n in names}
        self._streams = {n: (dense(f"{n}_fc", self.num_head), out[n]) for n in names}

    def _stream(self, h: Tensor, name: str) -> Tensor:
        hidden, (kernel, bias) = self._streams[name]
        for k, b in hidden:
            h = torch.relu(torch.addmm(b, h, k))
        return torch.addmm(bias, h, kernel)

    def forward(self, obs: Tensor) -> Tensor:  # type: ignore[override]
        """Q-values ``[B, num_actions]`` for observations ``[B, *obs_shape]``."""
        h = obs.reshape(obs.shape[0], -1)
        act = self.activation
        for kernel, bias in self._trunk:
            h = torch.addmm(bias, h, kernel)
            if act is not None:
                h = act(h)
        if not self.dueling:
            return self._stream(h, "q")
        adv = self._stream(h, "advantage")
        return self._stream(h, "state_value") + adv - adv.mean(dim=1, keepdim=True)


def huber(x: Tensor, delta: float) -> Tensor:
    """``0.5 x^2`` where ``|x| <= delta``, else ``delta (|x| - 0.5 delta)`` (elementwise)."""
    return F.huber_loss(x, torch.zeros_like(x), reduction="none", delta=delta)


class DQNTorchEvaluator(TorchEvaluatorState, QSamplingEvaluator):
    """DQN in PyTorch: Huber TD loss on n-step targets, double Q, dueling head, target network, Adam.

    ``DQNTorchEvaluator(env_creator, config, worker_index=0)``; reads
    :data:`~rlcore.loss_config.DQN_LOSS_DEFAULTS` besides the sampling keys. Weights are the
    online network's (canonical names); :meth:`get_state` adds ``"target"`` (the target
    network's weights) and ``"optimizer"`` (Adam). The info of a step holds :data:`INFO_KEYS`
    (floats) and ``td_error`` (float32 ``[B]``). A non-finite loss or gradient raises
    :class:`~rlcore.errors.NonFiniteLossError` before anything is applied.
    """

    torch_attrs: ClassVar[tuple[str, ...]] = _TORCH_ATTRS

    framework: ClassVar[str] = "torch"

    model: QNetwork
    target_model: QNetwork

    # -- construction -------------------------------------------------------------
    def build_model(self) -> None:
        """Check the config, then build the seeded online and target networks and Adam."""
        cfg = self.config
        for key in ("lr", "adam_epsilon", "huber_delta"):
            if not float(cfg[key]) > 0:
                raise ConfigError(f"DQN config {key!r} must be > 0, got {cfg[key]!r}")
        if cfg["grad_clip"] is not None and not float(cfg["grad_clip"]) > 0:
            raise ConfigError(f"DQN config 'grad_clip' must be None or > 0, got {cfg['grad_clip']!r}")
        if int(cfg["n_step"]) < 1:
            raise ConfigError(f"DQN config 'n_step' must be >= 1, got {cfg['n_step']!r}")
        if self.model_kind != "fc":
            raise UnsupportedOperationError(
                f"{type(self).__name__} supports fully connected Q networks only; got model kind "
                f"{self.model_kind!r} for observations of shape {list(self.obs_shape)}"
            )
        self.q_layout()  # raises UnsupportedOperationError for a non-Discrete action space
        self._build_torch()

    def _make_model(self) -> QNetwork:
        return QNetwork(
            self.q_layout(),
            len(self.model_config["fcnet_hiddens"]),
            len(self.config["hiddens"]),
            self.model_config["fcnet_activation"],
            bool(self.config["dueling"]),
            self.seed,
        )

    def _build_torch(self) -> None:
        set_num_threads(int(self.config["num_cpu_threads"]))
        self.model = self._make_model()
        self.target_model = self._make_model().requires_grad_(False)
        self._adam = FlatAdam(
            [p for _, p in self.model.named_canonical_parameters()],
            lr=float(self.config["lr"]),
            eps=float(self.config["adam_epsilon"]),
        )
        self.update_target()

    # -- acting -------------------------------------------------------------------
    def q_forward(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``[B, num_actions]`` of the online network (numpy, no autograd)."""
        if obs.dtype != np.float32 or not obs.flags.writeable or not obs.flags.c_contiguous:
            obs = np.array(obs, dtype=np.float32, order="C")
        with torch.inference_mode():
            return self.model(torch.from_numpy(obs)).numpy()

    def update_target(self) -> None:
        """Copy the online network's weights into the target network."""
        with torch.no_grad():
            for (_, src), (_, dst) in zip(
                self.model.named_canonical_parameters(), self.target_model.named_canonical_parameters(), strict=True
            ):
                dst.copy_(src)

    # -- loss ---------------------------------------------------------------------
    def _to_tensors(self, batch: SampleBatch) -> dict[str, Tensor]:
        arrays = loss_arrays(batch, LOSS_COLUMNS, "DQN")
        t = {k: torch.from_numpy(v) for k, v in arrays.items()}
        t[sb.TERMINATEDS] = t[sb.TERMINATEDS].to(torch.float32)
        t[sb.ACTIONS] = t[sb.ACTIONS].to(torch.int64).reshape(-1, 1)
        return t

    def _loss(self, t: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, q_t, td)``: the weighted mean Huber TD error, Q(obs, actions) and the TD errors."""
        q_t = self.model(t[sb.OBS]).gather(1, t[sb.ACTIONS]).squeeze(1)
        with torch.no_grad():
            q_tp1_target = self.target_model(t[sb.NEXT_OBS])
            q_tp1_select = self.model(t[sb.NEXT_OBS]) if self.config["double_q"] else q_tp1_target
            q_tp1 = q_tp1_target.gather(1, q_tp1_select.argmax(dim=1, keepdim=True)).squeeze(1)
            target = t[sb.REWARDS] + t["discounts"] * (1.0 - t[sb.TERMINATEDS]) * q_tp1
        td = q_t - target
        loss = torch.mean(t[sb.WEIGHTS] * huber(td, float(self.config["huber_delta"])))
        return loss, q_t, td

    def _gradients(self, batch: SampleBatch) -> tuple[Tensor, dict[str, Any]]:
        """The flat gradient of the loss on ``batch`` and the info; raises on a non-finite loss or gradient."""
        self._adam.zero_grad()
        loss, q_t, td = self._loss(self._to_tensors(batch))
        loss.backward()
        grad = self._adam.flat_grad()
        td_error = td.detach()
        values = torch.stack([loss.detach(), q_t.detach().mean(), td_error.mean(), grad.norm()]).tolist()
        info: dict[str, Any] = dict(zip(INFO_KEYS, values, strict=True))
        bad = [k for k in INFO_KEYS if not math.isfinite(info[k])]
        if bad:
            params = self.model.named_canonical_parameters()
            raise NonFiniteLossError(nonfinite_message(type(self).__name__, bad, info, [batch], LOSS_COLUMNS, params))
        info["td_error"] = td_error.numpy().astype(np.float32, copy=True)
        return grad, info

    # -- learning -------------------------------------------------------------------
    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """One gradient step on the batch (loss, backward, clip, Adam); returns the info."""
        grad, info = self._gradients(batch)
        clip_and_step(self._adam, grad, info["grad_norm"], self.config["grad_clip"])
        return info

    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Gradients of the loss on ``batch`` (canonical names and layouts, numpy) and the info."""
        grad, info = self._gradients(batch)
        return canonical_split(self.model, self._adam, grad), info

    def apply_gradients(self, grads: Gradients) -> None:
        """Clip by global norm (``grad_clip``) and take one Adam step with canonical gradients."""
        grad, grad_norm = flat_from_canonical(self.model, grads, type(self).__name__)
        clip_and_step(self._adam, grad, grad_norm, self.config["grad_clip"])

    def loss(self, batch: SampleBatch) -> float:
        """The loss on ``batch``; changes nothing."""
        with torch.no_grad():
            return float(self._loss(self._to_tensors(batch))[0])

    def td_error(self, batch: SampleBatch) -> np.ndarray:
        """TD errors ``Q(obs, actions) - target`` (float32 ``[B]``) on ``batch``; changes nothing."""
        with torch.no_grad():
            return self._loss(self._to_tensors(batch))[2].numpy().astype(np.float32)

    # -- weights and state ----------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """``{"target": target weights, "optimizer": Adam's step and moments}``, as numpy."""
        return {"target": self.target_model.get_weights(), "optimizer": adam_state(self.model, self._adam)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (missing entries are left as they are)."""
        if state.get("target") is not None:
            self.target_model.set_weights(state["target"])
        if state.get("optimizer") is not None:
            load_adam_state(self.model, self._adam, state["optimizer"])
