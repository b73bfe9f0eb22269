"""DQN's policy in PyTorch: a Q network, its target copy and the Huber TD loss.

:class:`DQNTorchPolicy` subclasses the core's :class:`~rlcore.model_policy.ModelPolicy` with
Q-value outputs (epsilon-greedy acting through the numpy Q mirror for fc networks, through
:meth:`DQNTorchPolicy.forward` for vision ones; the one rule for batches, gradients, non-finite
losses and pickling) and supplies the torch part: the Q network of
:func:`rlcore.models.layout.q_layout` (:class:`QNetwork`, built through the catalog as its
``("q", "torch")`` model: fc or conv trunk), a target network, the Huber TD loss (double Q optional)
and Adam, all exchanged as numpy in the canonical layout. The n-step transitions come from
rl_algos' DQN postprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    float_obs,
    load_adam_state,
    loss_arrays,
    set_num_threads,
)
from rl_torch.models import CatalogModel, _ConvTrunk, _vision_config, activation_fn
from rl_torch.optim import FlatAdam
from rlcore import sample_batch as sb
from rlcore.model_policy import ModelPolicy
from rlcore.models.catalog import ModelCatalog
from rlcore.models.layout import Param, q_layout
from rlcore.policy import Gradients
from rlcore.sample_batch import SampleBatch

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "DQNTorchPolicy", "QNetwork"]

#: The batch columns DQN's loss reads (the same as rl_algos' reference loss: checked by the kit).
LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.REWARDS,
    sb.NEXT_OBS,
    sb.TERMINATEDS,
    sb.DISCOUNTS,
    sb.WEIGHTS,
)
#: The float keys of the learner info, in order (``td_error``, a float32 array ``[B]``, follows them).
INFO_KEYS: tuple[str, ...] = ("loss", "mean_q", "mean_td_error", "grad_norm")


class QNetwork(CatalogModel):
    """The Q network of :func:`~rlcore.models.layout.q_layout`: ``model(obs) -> q [B, num_actions]``.

    ``QNetwork(obs_shape, num_actions, model_config, *, hiddens, dueling, seed=None)``, what the
    plugin registers as the catalog's ``("q", "torch")`` builder (policies build it through
    :meth:`rlcore.models.ModelCatalog.build_q_model`). The trunk: for ``[H, W, C]`` (NHWC) images
    the vision model's conv stack (``conv_filters``, ``conv_activation``; kernels stored OIHW,
    exchanged HWIO; features flattened in NHWC order, as TensorFlow), else the ``fc_i`` stack
    (``fcnet_hiddens``, ``fcnet_activation``) on the flattened observation. The head: ``hiddens``
    ReLU layers, then ``q_out``; dueling combines ``V + A - mean_a A``. Raises
    :class:`~rlcore.errors.ConfigError` for conv filters that do not fit the image.
    """

    def __init__(
        self,
        obs_shape: Sequence[int] | int,
        num_actions: int,
        model_config: dict[str, Any] | None,
        *,
        hiddens: Sequence[int],
        dueling: bool,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        shape = (int(obs_shape),) if isinstance(obs_shape, int | np.integer) else tuple(int(d) for d in obs_shape)
        self.num_actions = int(num_actions)
        self.num_head, self.dueling = len(hiddens), bool(dueling)
        stored: dict[str, str] = {}
        if len(shape) == 3:
            shape, config = _vision_config(shape, model_config or {}, "QNetwork")
            self.conv_trunk: _ConvTrunk | None = _ConvTrunk(shape, config)
            stored = self.conv_trunk.stored()
            self.num_trunk = 0
        else:
            config = ModelCatalog.resolve_model_config(model_config)
            self.conv_trunk = None
            self.num_trunk = len(config["fcnet_hiddens"])
        self.obs_shape = shape
        self.activation = activation_fn(config["fcnet_activation"])
        layout = q_layout(shape, self.num_actions, config, [int(h) for h in hiddens], self.dueling)
        self._init_params(layout, seed, stored)

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
        """Q-values ``[B, num_actions]`` for observations ``[B, *obs_shape]`` (float32)."""
        if self.conv_trunk is not None:
            h = self.conv_trunk(self.params, obs)
        else:
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


class DQNTorchPolicy(TorchModelWeights, ModelPolicy):
    """DQN in PyTorch: Huber TD loss on n-step targets, double Q, dueling head, target network, Adam.

    ``DQNTorchPolicy(observation_space, action_space, config, seed=None)`` with DQN's config
    (rl_algos' schema: ``lr``, ``adam_epsilon``, ``hiddens``, ``dueling``, ``double_q``,
    ``grad_clip``, ``huber_delta``, ``num_cpu_threads``, ``model``). Weights are the online
    network's (canonical names); :meth:`get_state` adds ``"target"`` (the target network's
    weights) and ``"optimizer"`` (Adam). The info of a step holds :data:`INFO_KEYS` (floats) and
    ``td_error`` (float32 ``[B]``). Discrete actions only; the Q network (fc trunk for flat
    observations, conv trunk for ``[H, W, C]`` images) comes from the catalog
    (:meth:`~rlcore.models.ModelCatalog.build_q_model`).
    """

    framework: ClassVar[str] = "torch"
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients"})
    action_outputs: ClassVar[str] = "q"
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    info_keys: ClassVar[tuple[str, ...]] = INFO_KEYS

    model: QNetwork
    target_model: QNetwork

    # -- construction -------------------------------------------------------------
    def build(self) -> None:
        """Build the seeded online and target networks and Adam."""
        set_num_threads(int(self.config["num_cpu_threads"]))
        self.model = self._make_model()
        self.target_model = self._make_model().requires_grad_(False)
        self._adam = FlatAdam(
            [p for _, p in self.model.named_canonical_parameters()],
            lr=float(self.config["lr"]),
            eps=float(self.config["adam_epsilon"]),
        )
        self.update_target()

    def model_layout(self) -> list[Param]:
        """The Q network's canonical layout."""
        return self.model.layout

    def _make_model(self) -> QNetwork:
        """The Q network from the catalog: its ``("q", "torch")`` model, :class:`QNetwork`
        (:meth:`~rlcore.model_policy.ModelPolicy.build_q_model`)."""
        model: QNetwork = self.build_q_model()
        return model

    # -- acting -------------------------------------------------------------------
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(q_values [B, num_actions], max_a Q [B])`` of the online network (numpy, no autograd)."""
        with torch.inference_mode():
            q = self.model(torch.from_numpy(float_obs(obs))).numpy()
        return q, q.max(axis=1)

    def update_target(self) -> None:
        """Copy the online network's weights into the target network."""
        with torch.no_grad():
            for (_, src), (_, dst) in zip(
                self.model.named_canonical_parameters(), self.target_model.named_canonical_parameters(), strict=True
            ):
                dst.copy_(src)

    # -- loss ---------------------------------------------------------------------
    def _to_tensors(self, batch: SampleBatch) -> dict[str, Tensor]:
        arrays = loss_arrays(batch, LOSS_COLUMNS)
        t = {k: torch.from_numpy(v) for k, v in arrays.items()}
        t[sb.TERMINATEDS] = t[sb.TERMINATEDS].to(torch.float32)
        t[sb.ACTIONS] = t[sb.ACTIONS].to(torch.int64).reshape(-1, 1)
        return t

    def _td(self, t: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, q_t, td)``: the weighted mean Huber TD error, Q(obs, actions) and the TD errors."""
        q_t = self.model(t[sb.OBS]).gather(1, t[sb.ACTIONS]).squeeze(1)
        with torch.no_grad():
            q_tp1_target = self.target_model(t[sb.NEXT_OBS])
            q_tp1_select = self.model(t[sb.NEXT_OBS]) if self.config["double_q"] else q_tp1_target
            q_tp1 = q_tp1_target.gather(1, q_tp1_select.argmax(dim=1, keepdim=True)).squeeze(1)
            target = t[sb.REWARDS] + t[sb.DISCOUNTS] * (1.0 - t[sb.TERMINATEDS]) * q_tp1
        td = q_t - target
        loss = torch.mean(t[sb.WEIGHTS] * huber(td, float(self.config["huber_delta"])))
        return loss, q_t, td

    def _gradients(self, batch: SampleBatch) -> tuple[Tensor, dict[str, Any]]:
        """The flat gradient of the loss on ``batch`` and the info (values may be non-finite)."""
        self._adam.zero_grad()
        loss, q_t, td = self._td(self._to_tensors(batch))
        loss.backward()
        grad = self._adam.flat_grad()
        td_error = td.detach()
        values = torch.stack([loss.detach(), q_t.detach().mean(), td_error.mean(), grad.norm()]).tolist()
        info: dict[str, Any] = dict(zip(INFO_KEYS, values, strict=True))
        info["td_error"] = td_error.numpy().astype(np.float32, copy=True)
        return grad, info

    # -- learning -------------------------------------------------------------------
    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        grad, info = self._gradients(batch)
        if all_finite_info(info):
            clip_and_step(self._adam, grad, info["grad_norm"], self.config["grad_clip"])
        return info

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        grad, info = self._gradients(batch)
        return canonical_split(self.model, self._adam, grad), info

    def _apply_gradients(self, grads: Gradients) -> None:
        grad, grad_norm = flat_from_canonical(self.model, grads)
        clip_and_step(self._adam, grad, grad_norm, self.config["grad_clip"])

    def _loss(self, batch: SampleBatch) -> float:
        with torch.no_grad():
            return float(self._td(self._to_tensors(batch))[0])

    def td_error(self, batch: SampleBatch) -> np.ndarray:
        """TD errors ``Q(obs, actions) - target`` (float32 ``[B]``) on ``batch``; changes nothing."""
        self._check_columns(batch)
        with torch.no_grad():
            return self._td(self._to_tensors(batch))[2].numpy().astype(np.float32)

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
