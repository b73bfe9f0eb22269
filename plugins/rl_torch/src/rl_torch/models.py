"""The catalog models in PyTorch: fully connected, vision and LSTM networks with canonical weights.

Both models are built from the core's canonical layouts (:mod:`rlcore.models.layout`) and start
from its numpy initial weights, so a torch model and a TensorFlow model built from one config and
seed are identical and exchange weights as ``dict[str, np.ndarray]``. Hidden dense kernels are
stored in the canonical ``[in, out]`` layout (``x @ kernel + bias``); the policy logits kernel is
kept as ``[out, in]`` and conv kernels as OIHW, the layouts torch multiplies fastest, and are
transposed / permuted to and from the canonical layout on the way out and in (weights, gradients
and optimizer moments alike).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlcore.errors import ConfigError, did_you_mean
from rlcore.models.catalog import ModelCatalog
from rlcore.models.layout import (
    ACTIVATIONS,
    Param,
    check_weights,
    conv_layers,
    fc_layout,
    init_weights,
    lstm_layout,
    same_padding,
)
from rlcore.models.layout import vision_layout as _vision_layout

__all__ = ["CatalogModel", "FullyConnectedNetwork", "LSTMNetwork", "VisionNetwork", "activation_fn"]

_ACTIVATION_FNS: dict[str, Callable[[Tensor], Tensor] | None] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "elu": F.elu,
    "swish": F.silu,  # TensorFlow's swish is x * sigmoid(x)
    "linear": None,
}


def activation_fn(name: str, key: str = "fcnet_activation") -> Callable[[Tensor], Tensor] | None:
    """The torch function of an activation in :data:`rlcore.models.layout.ACTIVATIONS` (None: linear).

    Raises :class:`~rlcore.errors.ConfigError` naming the model config ``key`` for an unknown name."""
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"model config {key!r} is {name!r}, an unknown activation.{did_you_mean(str(name), ACTIVATIONS)} "
            f"Choose one of {ACTIVATIONS}."
        )
    return _ACTIVATION_FNS[name]


def _transpose(x: Tensor) -> Tensor:
    return x.t()


#: How a parameter is stored in torch when not in the canonical layout: (from canonical, to canonical).
#: ``"conv"``: HWIO <-> torch's OIHW. ``"out_in"``: a dense ``[in, out]`` kernel kept as ``[out, in]``
#: (``F.linear``'s layout), which MKL multiplies 2-3x faster when ``out`` is small (policy logits).
_LAYOUTS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "conv": (lambda x: x.permute(3, 2, 0, 1), lambda x: x.permute(2, 3, 1, 0)),
    "out_in": (_transpose, _transpose),
}


class CatalogModel(nn.Module):
    """Base of the catalog models: parameters keyed by canonical name, exchanged as numpy.

    Subclasses call :meth:`_init_params` with their layout; ``model(obs) -> (dist_inputs [B, n],
    value [B])``. With ``free_log_std`` the model outputs ``concat(mean, log_std)``. ``params``
    holds the torch parameters by canonical name (in torch's layout where :data:`_LAYOUTS` says).
    """

    def __init__(self) -> None:
        super().__init__()
        self.layout: list[Param] = []
        self.params = nn.ParameterDict()
        # canonical name -> (torch-from-canonical, canonical-from-torch) for non-canonical storage
        self._convert: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {}

    def _init_params(self, layout: list[Param], seed: int | None, stored: dict[str, str] | None = None) -> None:
        """Create the parameters of ``layout`` from its seeded init; ``stored`` maps names to a :data:`_LAYOUTS` key."""
        self.layout = list(layout)
        self.shapes: dict[str, tuple[int, ...]] = {p.name: tuple(p.shape) for p in self.layout}
        for name, kind in (stored or {}).items():
            self._convert[name] = _LAYOUTS[kind]
        for name, value in init_weights(self.layout, seed).items():
            self.params[name] = nn.Parameter(self.from_canonical(name, value))
        self._refresh_plan()

    def _refresh_plan(self) -> None:
        """Cache direct references to the parameters for :meth:`forward` (dict lookups cost µs)."""
        # object.__setattr__: a Parameter assigned normally would be registered a second time.
        object.__setattr__(self, "_log_std", self.params.get("log_std"))

    def _apply(self, fn: Any, recurse: bool = True) -> CatalogModel:
        out = super()._apply(fn, recurse)
        self._refresh_plan()
        return out

    # -- canonical conversion ---------------------------------------------------
    def _from_canonical(self, name: str, x: Tensor) -> Tensor:
        conv = self._convert.get(name)
        return x if conv is None else conv[0](x)

    def to_canonical(self, name: str, x: Tensor) -> np.ndarray:
        """A numpy copy of ``x`` (shaped like parameter ``name`` in torch) in the canonical layout."""
        conv = self._convert.get(name)
        if conv is not None:
            x = conv[1](x)
        return np.array(x.detach().cpu().numpy(), dtype=np.float32, order="C", copy=True)

    def from_canonical(self, name: str, value: Any, device: torch.device | None = None) -> Tensor:
        """A new contiguous float32 tensor in torch's layout of parameter ``name`` from a canonical array."""
        x = torch.tensor(np.asarray(value, dtype=np.float32), device=device)
        return self._from_canonical(name, x).contiguous()

    def named_canonical_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(canonical name, parameter)`` in layout order."""
        return [(p.name, self.params[p.name]) for p in self.layout]

    # -- weights ------------------------------------------------------------------
    def weight_names(self) -> list[str]:
        """Canonical parameter names, in layout order."""
        return [p.name for p in self.layout]

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of the weights, canonical names and layouts (dense ``[in, out]``, conv HWIO)."""
        return {name: self.to_canonical(name, p) for name, p in self.named_canonical_parameters()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical weights (checked against the layout first; arrays are copied)."""
        check_weights(self.layout, weights, type(self).__name__)
        with torch.no_grad():
            for name, p in self.named_canonical_parameters():
                p.copy_(self.from_canonical(name, weights[name], device=p.device))

    def _dist_inputs(self, out: Tensor) -> Tensor:
        """Append the broadcast free ``log_std`` to the mean when the layout has one."""
        if self._log_std is None:
            return out
        return torch.cat([out, self._log_std.expand(out.shape[0], -1)], dim=1)


class FullyConnectedNetwork(CatalogModel):
    """Fully connected policy and value networks (``fc_i``, ``logits``; ``value_fc_i``, ``value``).

    ``FullyConnectedNetwork(obs_shape, num_outputs, model_config, seed=None)``; ``obs_shape`` is
    the preprocessed shape (flattened when its rank is above 1). Reads ``fcnet_hiddens``,
    ``fcnet_activation``, ``vf_share_layers`` and ``free_log_std`` from ``model_config``.
    """

    def __init__(
        self, obs_shape: Sequence[int] | int, num_outputs: int, model_config: dict[str, Any], seed: int | None = None
    ) -> None:
        super().__init__()
        config = ModelCatalog.resolve_model_config(model_config)
        shape = (int(obs_shape),) if isinstance(obs_shape, int | np.integer) else tuple(int(d) for d in obs_shape)
        self.obs_shape = shape
        self.obs_dim = int(np.prod(shape, dtype=np.int64))
        self.num_outputs = int(num_outputs)
        self.hiddens = [int(h) for h in config["fcnet_hiddens"]]
        self.activation = activation_fn(config["fcnet_activation"])
        self.vf_share_layers = bool(config["vf_share_layers"])
        self._init_params(fc_layout(self.obs_dim, self.num_outputs, config), seed, {"logits/kernel": "out_in"})

    def _refresh_plan(self) -> None:
        super()._refresh_plan()
        p, n = self.params, len(self.hiddens)
        self._pi = [(p[f"fc_{i}/kernel"], p[f"fc_{i}/bias"]) for i in range(n)]
        self._vf = (
            [] if self.vf_share_layers else [(p[f"value_fc_{i}/kernel"], p[f"value_fc_{i}/bias"]) for i in range(n)]
        )
        self._logits = (p["logits/kernel"], p["logits/bias"])
        self._value = (p["value/kernel"], p["value/bias"])

    def _tower(self, x: Tensor, layers: list[tuple[nn.Parameter, nn.Parameter]]) -> Tensor:
        act = self.activation
        for kernel, bias in layers:
            x = torch.addmm(bias, x, kernel)
            if act is not None:
                x = act(x)
        return x

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(dist_inputs [B, n], value [B])`` for observations ``[B, *obs_shape]``."""
        x = obs if obs.dim() == 2 else obs.reshape(obs.shape[0], self.obs_dim)
        features = self._tower(x, self._pi)
        out = F.linear(features, self._logits[0], self._logits[1])
        vf_features = features if self.vf_share_layers else self._tower(x, self._vf)
        value = torch.addmm(self._value[1], vf_features, self._value[0]).reshape(-1)
        return (out if self._log_std is None else self._dist_inputs(out)), value


class _ConvTrunk:
    """The conv trunk of the vision layouts (``conv_i``; SAME padding by TensorFlow's rule, the last
    layer VALID), every layer followed by the activation; features flattened in NHWC order."""

    def __init__(self, shape: tuple[int, ...], config: dict[str, Any]) -> None:
        self.activation = activation_fn(config["conv_activation"], "conv_activation")
        self.conv = conv_layers(shape, config["conv_filters"])
        # Per layer: (explicit F.pad amounts or None, conv2d padding argument).
        self.pads: list[tuple[tuple[int, int, int, int] | None, tuple[int, int]]] = []
        h, w = shape[0], shape[1]
        for layer in self.conv:
            kh, kw = layer.kernel
            if layer.padding == "SAME":
                top, bottom = same_padding(h, kh, layer.stride)
                left, right = same_padding(w, kw, layer.stride)
                if top == bottom and left == right:
                    self.pads.append((None, (top, left)))
                else:
                    self.pads.append(((left, right, top, bottom), (0, 0)))
            else:
                self.pads.append((None, (0, 0)))
            h, w = layer.out_hw

    def stored(self) -> dict[str, str]:
        """The conv kernels are kept OIHW (see :data:`_LAYOUTS`)."""
        return {f"{c.name}/kernel": "conv" for c in self.conv}

    def __call__(self, p: nn.ParameterDict, obs: Tensor) -> Tensor:
        """NHWC observations ``[B, H, W, C]`` -> flattened features ``[B, f]`` (NHWC order, as TensorFlow)."""
        x = obs.permute(0, 3, 1, 2)
        act = self.activation
        for layer, (pad, padding) in zip(self.conv, self.pads, strict=True):
            if pad is not None:
                x = F.pad(x, pad)
            x = F.conv2d(x, p[f"{layer.name}/kernel"], p[f"{layer.name}/bias"], stride=layer.stride, padding=padding)
            if act is not None:
                x = act(x)
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def _vision_config(obs_shape: Sequence[int], model_config: dict[str, Any], owner: str) -> tuple[tuple[int, ...], dict]:
    """The resolved model config with the catalog's conv filters for an ``[H, W, C]`` shape."""
    config = ModelCatalog.resolve_model_config(model_config)
    shape = tuple(int(d) for d in obs_shape)
    if len(shape) != 3:
        raise ConfigError(f"{owner} needs [H, W, C] observations, got shape {shape}")
    if config["conv_filters"] is None:
        config["conv_filters"] = ModelCatalog.get_filter_config(shape)
    return shape, config


class VisionNetwork(CatalogModel):
    """Conv trunk (``conv_i``; SAME padding by TensorFlow's rule, the last layer VALID) with
    ``logits`` and ``value`` heads on the NHWC-flattened features.

    ``VisionNetwork(obs_shape, num_outputs, model_config, seed=None)`` with ``obs_shape`` ``[H, W,
    C]`` (observations are NHWC). Reads ``conv_filters`` (None: the catalog's default for the
    shape), ``conv_activation`` and ``free_log_std``. Every conv layer is followed by the activation.
    """

    def __init__(
        self, obs_shape: Sequence[int], num_outputs: int, model_config: dict[str, Any], seed: int | None = None
    ) -> None:
        super().__init__()
        shape, config = _vision_config(obs_shape, model_config, "VisionNetwork")
        self.obs_shape = shape
        self.num_outputs = int(num_outputs)
        self.trunk = _ConvTrunk(shape, config)
        self.conv = self.trunk.conv
        layout = _vision_layout(shape, self.num_outputs, config)
        self._init_params(layout, seed, self.trunk.stored() | {"logits/kernel": "out_in"})

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(dist_inputs [B, n], value [B])`` for NHWC observations ``[B, H, W, C]``."""
        p = self.params
        features = self.trunk(p, obs)
        out = F.linear(features, p["logits/kernel"], p["logits/bias"])
        value = torch.addmm(p["value/bias"], features, p["value/kernel"]).reshape(-1)
        return self._dist_inputs(out), value


class LSTMNetwork(CatalogModel):
    """The catalog's recurrent model (``use_lstm``): the fc trunk (flat observations) or the conv
    trunk (``[H, W, C]`` images), one LSTM cell, then ``logits`` and ``value`` heads on its output
    (:func:`rlcore.models.layout.lstm_layout`).

    ``LSTMNetwork(obs_shape, num_outputs, model_config, seed=None)``; reads ``lstm_cell_size``,
    ``fcnet_hiddens``, ``fcnet_activation`` (fc trunk), ``conv_filters``, ``conv_activation``
    (conv trunk) and ``free_log_std``. The cell is computed with ``torch.addmm`` exactly as the
    layout module's docstring writes it (gates i, f, g, o; ``z = x @ kernel + h @ recurrent_kernel
    + bias``; state ``[h, c]``), the same arithmetic as the TensorFlow model and the numpy mirror;
    ``lstm/kernel`` and ``lstm/recurrent_kernel`` are stored canonical ``[in, 4c]``.

    * :meth:`forward_step`: one step of a batch from its states;
    * :meth:`forward_sequences`: padded sequences ``[S, T, ...]`` from their initial states;
    * :meth:`forward`: one step from the zero state (what a stateless caller sees).
    """

    def __init__(
        self, obs_shape: Sequence[int] | int, num_outputs: int, model_config: dict[str, Any], seed: int | None = None
    ) -> None:
        super().__init__()
        shape = (int(obs_shape),) if isinstance(obs_shape, int | np.integer) else tuple(int(d) for d in obs_shape)
        self.obs_shape = shape
        self.num_outputs = int(num_outputs)
        stored = {"logits/kernel": "out_in"}
        if len(shape) == 3:
            shape, config = _vision_config(shape, model_config, "LSTMNetwork")
            self.conv_trunk: _ConvTrunk | None = _ConvTrunk(shape, config)
            stored |= self.conv_trunk.stored()
            self.hiddens: list[int] = []
        else:
            config = ModelCatalog.resolve_model_config(model_config)
            self.conv_trunk = None
            self.hiddens = [int(h) for h in config["fcnet_hiddens"]]
        self.activation = activation_fn(config["fcnet_activation"])
        self.obs_dim = int(np.prod(shape, dtype=np.int64))
        self.cell_size = int(config["lstm_cell_size"])
        self._init_params(lstm_layout(shape, self.num_outputs, config), seed, stored)

    def _refresh_plan(self) -> None:
        super()._refresh_plan()
        p = self.params
        self._fc = [(p[f"fc_{i}/kernel"], p[f"fc_{i}/bias"]) for i in range(len(getattr(self, "hiddens", [])))]

    def initial_state(self) -> list[np.ndarray]:
        """``[h, c]``: zeros ``float32 [cell]`` each (an episode's start)."""
        return [np.zeros(self.cell_size, np.float32), np.zeros(self.cell_size, np.float32)]

    def _features(self, obs: Tensor) -> Tensor:
        """The trunk on ``[N, *obs_shape]`` observations -> ``[N, f]``."""
        if self.conv_trunk is not None:
            return self.conv_trunk(self.params, obs)
        x = obs.reshape(obs.shape[0], self.obs_dim)
        act = self.activation
        for kernel, bias in self._fc:
            x = torch.addmm(bias, x, kernel)
            if act is not None:
                x = act(x)
        return x

    def _cell(self, xw: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """One LSTM step from ``xw = x @ kernel + bias`` and the state: ``(h', c')``."""
        z = torch.addmm(xw, h, self.params["lstm/recurrent_kernel"])
        i, f, g, o = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def _heads(self, h: Tensor) -> tuple[Tensor, Tensor]:
        p = self.params
        out = F.linear(h, p["logits/kernel"], p["logits/bias"])
        value = torch.addmm(p["value/bias"], h, p["value/kernel"]).reshape(-1)
        return self._dist_inputs(out), value

    def forward_step(self, obs: Tensor, state: Sequence[Tensor]) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
        """``(dist_inputs [B, n], value [B], (h' [B, c], c' [B, c]))`` for ``obs [B, *obs_shape]``
        and ``state = (h [B, c], c [B, c])``."""
        p = self.params
        xw = torch.addmm(p["lstm/bias"], self._features(obs), p["lstm/kernel"])
        h, c = self._cell(xw, state[0], state[1])
        dist_inputs, value = self._heads(h)
        return dist_inputs, value, (h, c)

    def forward_sequences(self, obs: Tensor, state0: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """``(dist_inputs [S, T, n], values [S, T])`` for padded sequences ``obs [S, T, *obs_shape]``
        from their initial states ``(h [S, c], c [S, c])``. The trunk and the input projection run
        on all ``S*T`` rows at once, the cell steps through ``T``; rows past a sequence's end are
        computed too (callers keep the real rows)."""
        s, t = obs.shape[0], obs.shape[1]
        p = self.params
        xw = torch.addmm(p["lstm/bias"], self._features(obs.reshape(s * t, *obs.shape[2:])), p["lstm/kernel"])
        xw = xw.reshape(s, t, -1)
        h, c = state0[0], state0[1]
        outputs = []
        for step in range(t):
            h, c = self._cell(xw[:, step], h, c)
            outputs.append(h)
        dist_inputs, values = self._heads(torch.stack(outputs, dim=1).reshape(s * t, -1))
        return dist_inputs.reshape(s, t, -1), values.reshape(s, t)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(dist_inputs [B, n], value [B])``: one step from the zero state."""
        zeros = obs.new_zeros((obs.shape[0], self.cell_size))
        dist_inputs, value, _ = self.forward_step(obs, (zeros, zeros))
        return dist_inputs, value
