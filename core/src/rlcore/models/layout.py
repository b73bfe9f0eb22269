"""Canonical parameter layouts of the catalog models, and their numpy initialization.

Both framework plugins build their layers from these layouts and load the initial weights made
here, so a torch and a TensorFlow model built from one config and seed start identical and
exchange weights as ``dict[str, np.ndarray]``. Layout conventions (TensorFlow's):

* dense ``NAME/kernel`` is ``[in, out]``, ``NAME/bias`` is ``[out]``;
* conv ``conv_i/kernel`` is ``[kh, kw, in, out]`` (HWIO); images are NHWC; every conv layer
  but the last pads "SAME" (TensorFlow's rule: ``pad_total = max((ceil(in/s) - 1) * s + k - in, 0)``,
  ``pad_before = pad_total // 2``), the last pads "VALID"; features are flattened in NHWC order;
* fully connected: ``fc_i`` hidden layers, ``logits``; value ``value_fc_i`` then ``value`` (or
  ``value`` on the shared trunk when ``vf_share_layers``);
* vision: ``conv_i`` layers, then ``logits`` and ``value`` on the flattened features;
* Q networks (DQN family, :func:`q_layout`): the fc trunk (``fc_i``) for flat observations or
  the vision trunk (``conv_i``, flattened NHWC) for ``[H, W, C]`` images, then ``q_fc_j`` /
  ``q_out`` or, dueling, ``advantage_fc_j`` / ``advantage_out`` and ``state_value_fc_j`` /
  ``state_value_out``;
* ``free_log_std``: a ``log_std`` vector of size ``num_outputs``; the model then outputs
  ``concat(mean, log_std)`` (``2 * num_outputs`` dist inputs).

LSTM (``use_lstm``, :func:`lstm_layout`): the trunk is the fc trunk (``fc_i``,
``fcnet_hiddens``, ``fcnet_activation``) for flat observations or the conv trunk (``conv_i``,
flattened NHWC features) for ``[H, W, C]`` images, then one LSTM cell of ``c = lstm_cell_size``
units, then ``logits`` and ``value`` heads on the LSTM output (the value shares the trunk and
the LSTM; ``vf_share_layers`` is ignored with ``use_lstm``), and ``log_std`` with
``free_log_std``. The cell, exactly (every framework and the numpy mirror compute this):

* ``lstm/kernel [in, 4c]``, ``lstm/recurrent_kernel [c, 4c]``, ``lstm/bias [4c]``; the four
  gate blocks of ``4c`` are in the order **i, f, g, o** (input, forget, cell candidate, output:
  Keras' ``LSTMCell`` and torch's ``nn.LSTM`` order);
* ``z = x @ kernel + h @ recurrent_kernel + bias``; ``i, f, g, o = split(z, 4)``;
  ``c' = sigmoid(f) * c + sigmoid(i) * tanh(g)``; ``h' = sigmoid(o) * tanh(c')``; the heads
  read ``h'``;
* the recurrent **state is ``[h, c]``** (that order; RLlib 2018 used ``[c, h]``), each
  ``float32 [cell]`` per env, zeros at an episode's start;
* ``lstm/bias`` starts at zeros with 1.0 on the forget block (init kind ``("lstm_bias", 1.0)``);
  both kernels start normc 1.0 (normalized per output column).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlcore.errors import ConfigError

ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "elu", "swish", "linear")


@dataclass(frozen=True)
class Param:
    """One parameter: canonical name, shape and initializer (``("normc", std)``, ``("zeros",)`` or
    ``("lstm_bias", forget_bias)``: zeros with ``forget_bias`` on the forget-gate block)."""

    name: str
    shape: tuple[int, ...]
    init: tuple[Any, ...]


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer of a vision model."""

    name: str
    out_channels: int
    kernel: tuple[int, int]
    stride: int
    padding: str  # "SAME" or "VALID"
    in_channels: int
    out_hw: tuple[int, int]


def _dense(name: str, n_in: int, n_out: int, std: float) -> list[Param]:
    return [Param(f"{name}/kernel", (n_in, n_out), ("normc", std)), Param(f"{name}/bias", (n_out,), ("zeros",))]


def fc_layout(obs_dim: int, num_outputs: int, model_config: dict[str, Any]) -> list[Param]:
    """Parameters of the fully connected model, in a stable order."""
    hiddens = list(model_config.get("fcnet_hiddens", [256, 256]))
    params: list[Param] = []
    last = obs_dim
    for i, size in enumerate(hiddens):
        params += _dense(f"fc_{i}", last, size, 1.0)
        last = size
    params += _dense("logits", last, num_outputs, 0.01)
    if model_config.get("vf_share_layers", False):
        params += _dense("value", last, 1, 1.0)
    else:
        last = obs_dim
        for i, size in enumerate(hiddens):
            params += _dense(f"value_fc_{i}", last, size, 1.0)
            last = size
        params += _dense("value", last, 1, 1.0)
    if model_config.get("free_log_std", False):
        params.append(Param("log_std", (num_outputs,), ("zeros",)))
    return params


def q_layout(
    obs_shape: int | Sequence[int],
    num_actions: int,
    model_config: dict[str, Any],
    hiddens: list[int],
    dueling: bool,
) -> list[Param]:
    """Parameters of the Q network of DQN-family algorithms, in a stable order.

    ``obs_shape`` is the preprocessed observation shape (or, as before, the flat size as an
    int). The trunk, by its rank:

    * an int or any shape but ``[H, W, C]`` (flattened): the catalog's ``fc_i`` stack
      (``fcnet_hiddens``, ``fcnet_activation``);
    * ``[H, W, C]`` (images): the vision model's conv stack, exactly as :func:`vision_layout`
      (``conv_i/kernel [kh, kw, in, out]``, ``conv_i/bias``; ``conv_filters``, or
      :meth:`~rlcore.models.catalog.ModelCatalog.get_filter_config` when None; every layer but
      the last "SAME", the last "VALID"; ``conv_activation``), features flattened in NHWC order.

    The head adds ``hiddens`` ReLU layers and the outputs. Dueling: an advantage stream
    (``advantage_fc_j``, ``advantage_out``) and a state-value stream (``state_value_fc_j``,
    ``state_value_out``) with ``Q = V + A - mean(A)``; otherwise ``q_fc_j`` then ``q_out``.

    Raises :class:`~rlcore.errors.ConfigError` when the conv filters do not fit the image.
    """
    shape = (int(obs_shape),) if isinstance(obs_shape, int | np.integer) else tuple(int(d) for d in obs_shape)
    params, last = _trunk(shape, model_config)
    streams = [("advantage", num_actions), ("state_value", 1)] if dueling else [("q", num_actions)]
    for name, n_out in streams:
        width = last
        for j, size in enumerate(hiddens):
            params += _dense(f"{name}_fc_{j}", width, int(size), 1.0)
            width = int(size)
        params += _dense(f"{name}_out", width, n_out, 0.01 if name != "state_value" else 1.0)
    return params


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding ``(before, after)`` along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_layers(obs_shape: tuple[int, ...], filters: list[Any]) -> list[ConvLayer]:
    """The conv stack for an ``[H, W, C]`` input and ``[[out, [kh, kw], stride], ...]`` filters."""
    from rlcore.errors import ConfigError

    if len(obs_shape) != 3:
        raise ConfigError(f"a vision model needs [H, W, C] observations, got shape {obs_shape}")
    h, w, c = obs_shape
    layers = []
    for i, (out, kernel, stride) in enumerate(filters):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        padding = "VALID" if i == len(filters) - 1 else "SAME"
        if padding == "SAME":
            oh, ow = math.ceil(h / stride), math.ceil(w / stride)
        else:
            oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
        if oh < 1 or ow < 1:
            raise ConfigError(
                f"conv_filters {filters} shrink a {obs_shape[:2]} image below 1x1 at layer {i}; set model.conv_filters"
            )
        layers.append(ConvLayer(f"conv_{i}", int(out), (int(kh), int(kw)), int(stride), padding, c, (oh, ow)))
        h, w, c = oh, ow, int(out)
    return layers


def _conv_trunk(obs_shape: tuple[int, ...], model_config: dict[str, Any]) -> tuple[list[Param], int]:
    """The conv stack's parameters for ``[H, W, C]`` images and the size of its flattened
    (NHWC) output; ``conv_filters`` or the catalog's default filters for the shape."""
    from rlcore.models.catalog import ModelCatalog

    filters = model_config.get("conv_filters") or ModelCatalog.get_filter_config(obs_shape)
    layers = conv_layers(obs_shape, filters)
    params: list[Param] = []
    for layer in layers:
        kh, kw = layer.kernel
        params += [
            Param(f"{layer.name}/kernel", (kh, kw, layer.in_channels, layer.out_channels), ("normc", 1.0)),
            Param(f"{layer.name}/bias", (layer.out_channels,), ("zeros",)),
        ]
    last = layers[-1]
    return params, last.out_hw[0] * last.out_hw[1] * last.out_channels


def _trunk(shape: tuple[int, ...], model_config: dict[str, Any]) -> tuple[list[Param], int]:
    """The conv trunk for ``[H, W, C]`` shapes, else the ``fc_i`` trunk on the flattened
    observation (``fcnet_hiddens``); with the size of the trunk's output features."""
    if len(shape) == 3:
        return _conv_trunk(shape, model_config)
    params: list[Param] = []
    last = int(np.prod(shape))
    for i, size in enumerate(model_config.get("fcnet_hiddens", [256, 256])):
        params += _dense(f"fc_{i}", last, int(size), 1.0)
        last = int(size)
    return params, last


def vision_layout(obs_shape: tuple[int, ...], num_outputs: int, model_config: dict[str, Any]) -> list[Param]:
    """Parameters of the vision model (conv trunk shared by the logits and value heads)."""
    params, flat = _conv_trunk(tuple(int(d) for d in obs_shape), model_config)
    params += _dense("logits", flat, num_outputs, 0.01)
    params += _dense("value", flat, 1, 1.0)
    if model_config.get("free_log_std", False):
        params.append(Param("log_std", (num_outputs,), ("zeros",)))
    return params


def lstm_layout(obs_shape: tuple[int, ...], num_outputs: int, model_config: dict[str, Any]) -> list[Param]:
    """Parameters of the catalog's LSTM model (``use_lstm``), in a stable order: the fc trunk
    (flat observations) or conv trunk (``[H, W, C]`` images), ``lstm/kernel``,
    ``lstm/recurrent_kernel``, ``lstm/bias``, ``logits``, ``value``, ``log_std`` (with
    ``free_log_std``). See the module docstring for the cell's equations and gate order.

    Raises :class:`~rlcore.errors.ConfigError` for an ``lstm_cell_size`` below 1 or conv filters
    that do not fit the image.
    """
    from rlcore.errors import ConfigError

    cell = int(model_config.get("lstm_cell_size", 256))
    if cell < 1:
        raise ConfigError(f"model config lstm_cell_size must be at least 1, got {cell}")
    shape = tuple(int(d) for d in obs_shape)
    params, last = _trunk(shape, model_config)
    params += [
        Param("lstm/kernel", (last, 4 * cell), ("normc", 1.0)),
        Param("lstm/recurrent_kernel", (cell, 4 * cell), ("normc", 1.0)),
        Param("lstm/bias", (4 * cell,), ("lstm_bias", 1.0)),
    ]
    params += _dense("logits", cell, num_outputs, 0.01)
    params += _dense("value", cell, 1, 1.0)
    if model_config.get("free_log_std", False):
        params.append(Param("log_std", (num_outputs,), ("zeros",)))
    return params


def init_weights(params: list[Param], seed: int | None) -> dict[str, np.ndarray]:
    """float32 initial weights for a layout: normc columns (normalized per output unit), zero
    biases, LSTM biases with the forget-gate block at ``forget_bias`` (``("lstm_bias", 1.0)``).

    Raises :class:`~rlcore.errors.ConfigError` when the layout's weights alone would not fit in
    this machine's memory (a ``model.lstm_cell_size`` or ``fcnet_hiddens`` of 10**6, say), naming
    the largest weights, instead of a MemoryError from deep inside the framework."""
    _check_fits_in_memory(params)
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for p in params:
        if p.init[0] == "zeros":
            out[p.name] = np.zeros(p.shape, dtype=np.float32)
        elif p.init[0] == "lstm_bias":
            bias = np.zeros(p.shape, dtype=np.float32)
            cell = p.shape[0] // 4
            bias[cell : 2 * cell] = float(p.init[1])
            out[p.name] = bias
        elif p.init[0] == "normc":
            w = rng.standard_normal(p.shape)
            flat = w.reshape(-1, p.shape[-1])
            flat *= p.init[1] / np.sqrt((flat**2).sum(axis=0, keepdims=True))
            out[p.name] = flat.reshape(p.shape).astype(np.float32)
        else:  # pragma: no cover - layouts only use the kinds above
            raise ValueError(f"unknown initializer {p.init!r}")
    return out


def physical_memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say): the bound of the
    memory checks of model layouts, replay buffers and ES's noise table."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not a POSIX system that says
        return None


def _check_fits_in_memory(params: list[Param]) -> None:
    """Refuse a layout whose float32 weights (twice that while initialized in float64) exceed the
    machine's physical memory."""
    total = sum(math.prod(p.shape) for p in params)
    memory = physical_memory_bytes()
    if memory is None or total * 8 <= memory:
        return
    largest = sorted(params, key=lambda p: -math.prod(p.shape))[:3]
    named = ", ".join(f"{p.name} {tuple(p.shape)}" for p in largest)
    raise ConfigError(
        f"the model has {total:,} weights ({total * 4 / 2**30:,.1f} GiB as float32), more than this machine's "
        f"{memory / 2**30:,.1f} GiB of memory can hold (largest: {named}); lower the model config's sizes "
        "(lstm_cell_size, fcnet_hiddens, conv_filters)"
    )


def is_value_param(name: str) -> bool:
    """Whether a canonical parameter name belongs to the value branch of an action-distribution
    model (``value/*`` and the separate value tower's ``value_fc_i/*``): weights that only
    compute ``V(obs)`` and never change an action. The Q networks' ``state_value_*`` streams are
    not value-branch parameters (they make the Q-values that pick the action)."""
    head = name.split("/", 1)[0]
    return head == "value" or head.startswith("value_fc_")


def acting_layout(layout: Sequence[Param]) -> list[Param]:
    """The parameters of an action-distribution model's layout that acting uses: every parameter
    but the value branch (:func:`is_value_param`), in layout order. The flat parameter vector of
    gradient-free algorithms (ES) covers these only: perturbing the value branch would not change
    any action."""
    return [p for p in layout if not is_value_param(p.name)]


def num_params(layout: Sequence[Param]) -> int:
    """The number of scalars in a layout's weights (the length of its flat vector)."""
    return sum(math.prod(p.shape) for p in layout)


def flatten_weights(layout: Sequence[Param], weights: Mapping[str, np.ndarray], model: str = "the model") -> np.ndarray:
    """The weights as one ``float32 [num_params(layout)]`` vector: each weight raveled in C order,
    in layout order (the flat parameter vector of gradient-free algorithms such as ES).

    Raises :class:`~rlcore.errors.ConfigError` (from :func:`check_weights`, naming ``model``) when
    a weight is missing, unexpected or of the wrong shape.
    """
    check_weights(list(layout), dict(weights), model)
    if not layout:
        return np.zeros(0, np.float32)
    return np.concatenate([np.asarray(weights[p.name], dtype=np.float32).ravel() for p in layout])


def unflatten_weights(layout: Sequence[Param], flat: np.ndarray, model: str = "the model") -> dict[str, np.ndarray]:
    """The weights (float32 copies, canonical names and shapes) of a flat vector made by
    :func:`flatten_weights`.

    Raises :class:`~rlcore.errors.ConfigError` naming both sizes when ``flat`` is not a 1-D vector
    of ``num_params(layout)`` numbers, or when it holds NaN or infinite values.
    """
    size = num_params(layout)
    try:
        arr = np.asarray(flat, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"flat weights for {model} must be a float vector of {size:,} numbers; got {type(flat).__name__}: {e}"
        ) from None
    if arr.shape != (size,):
        raise ConfigError(
            f"flat weights for {model} have shape {arr.shape} ({arr.size:,} numbers); {model} has {size:,} "
            f"parameters, so pass a 1-D vector of {size:,} (what get_flat_weights returns)"
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ConfigError(f"flat weights for {model} hold {bad:,} NaN or infinite values of {size:,}; nothing was set")
    out: dict[str, np.ndarray] = {}
    start = 0
    for p in layout:
        n = math.prod(p.shape)
        out[p.name] = arr[start : start + n].reshape(p.shape).copy()
        start += n
    return out


def check_weights(expected: list[Param], weights: dict[str, np.ndarray], model: str) -> None:
    """Raise a clear error when ``weights`` do not match a layout (missing, extra, wrong shape)."""
    from rlcore.errors import ConfigError

    names = {p.name: p.shape for p in expected}
    missing = sorted(set(names) - set(weights))
    extra = sorted(set(weights) - set(names))
    bad = [
        f"{n}: {np.shape(weights[n])} != {s}" for n, s in names.items() if n in weights and np.shape(weights[n]) != s
    ]
    if missing or extra or bad:
        raise ConfigError(
            f"weights do not fit {model}: missing {missing}, unexpected {extra}, wrong shapes {bad}. "
            "Weights are exchanged between models built from the same model config."
        )
