"""Numpy mirrors of the catalog models (fc, vision, LSTM, Q networks), for acting.

Sampling asks the policy for a batch of ``num_envs`` actions per env step. For the small MLPs of
classic-control tasks a deep-learning framework spends most of each call in dispatch overhead
(tens of microseconds in torch, hundreds in TensorFlow), more than the envs themselves take. The
canonical layout (:mod:`rlcore.models.layout`) fixes every parameter's name, shape and role, so
the fc model's forward pass is written once here, in numpy, and computes the same outputs as the
torch and TensorFlow models from their weights (tested to float tolerance). Learning stays in the
framework; the evaluator refreshes the mirror's weights at the start of each sampled fragment.

The vision trunk (``conv_i``) is mirrored too (:class:`NumpyConvTrunk`: TensorFlow's SAME
padding, the last layer VALID, NHWC, HWIO kernels, flattened in NHWC order), for the vision
model, the Q network and the LSTM on images, so a checkpoint of any catalog model acts with
numpy alone (:func:`numpy_model` builds the mirror a checkpoint's acting spec names). Sampling
(:meth:`rlcore.model_policy.ModelPolicy._make_mirror`) keeps conv models in the framework: on
84x84x4 images, batch 8, one thread each, the numpy trunk took 3.4-4.9 ms a call, torch's
3.5-8.6 ms and TensorFlow's 2.8-3.5 ms (not faster than TensorFlow), and OpenBLAS's own threads
on a busy 2-core machine made it 10x slower still.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from rlcore.errors import ConfigError
from rlcore.models.layout import ConvLayer, Param, conv_layers, same_padding


def _swish(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "elu": _elu,
    "swish": _swish,
    "linear": lambda x: x,
}


def activation(
    model_config: Mapping[str, Any], key: str = "fcnet_activation", default: str = "tanh"
) -> Callable[[np.ndarray], np.ndarray]:
    """The numpy function of ``model_config[key]`` (``fcnet_activation``, default tanh; or
    ``conv_activation``); ConfigError naming the key if it has none."""
    act = model_config.get(key, default)
    if act not in ACTIVATIONS:
        raise ConfigError(f"model config {key} {act!r} has no numpy mirror; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[act]


#: Hidden widths up to this are fused across the policy and value towers.
FUSE_MAX_WIDTH = 128


class NumpyFCForward:
    """``forward(obs [B, d]) -> (dist_inputs [B, n], values [B])`` of the catalog fc model.

    ``model_config`` is the resolved catalog config (``fcnet_hiddens``, ``fcnet_activation``,
    ``vf_share_layers``, ``free_log_std``). Call :meth:`set_weights` with canonical weights before
    the first forward (a ``log_std`` weight is appended to the logits, as ``free_log_std`` does).
    """

    def __init__(self, model_config: Mapping[str, Any]) -> None:
        self.act = activation(model_config)
        self.n_hidden = len(model_config.get("fcnet_hiddens", []))
        self.shared = bool(model_config.get("vf_share_layers", False))
        self.towers: list[list[tuple[np.ndarray, np.ndarray]]] = []
        self.log_std: np.ndarray | None = None

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take canonical weights and arrange them for the forward pass.

        Separate policy and value towers of narrow layers (up to :data:`FUSE_MAX_WIDTH` units) are
        fused: each layer of both becomes one matmul on the concatenated hidden state
        (block-diagonal kernels) and both heads one more, half the numpy calls for the same
        numbers. Wider towers stay separate (a block-diagonal kernel would double the work).
        """
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.log_std = w.get("log_std")
        self.n_out = w["logits/bias"].shape[0]

        def tower(prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
            return [(w[f"{prefix}_{i}/kernel"], w[f"{prefix}_{i}/bias"]) for i in range(self.n_hidden)]

        lk, vk = w["logits/kernel"], w["value/kernel"]
        widths = [w[f"fc_{i}/bias"].shape[0] for i in range(self.n_hidden)]
        if self.shared:
            self.towers = [tower("fc")]
            head = np.concatenate([lk, vk], axis=1)
        elif max(widths, default=0) > FUSE_MAX_WIDTH:
            self.towers = [tower("fc"), tower("value_fc")]
            head = _block_diag(lk, vk)
        else:
            fused = []
            for i, ((kp, bp), (kv, bv)) in enumerate(zip(tower("fc"), tower("value_fc"), strict=True)):
                kernel = np.concatenate([kp, kv], axis=1) if i == 0 else _block_diag(kp, kv)
                fused.append((np.ascontiguousarray(kernel), np.concatenate([bp, bv])))
            self.towers = [fused]
            head = _block_diag(lk, vk) if self.n_hidden else np.concatenate([lk, vk], axis=1)
        self.head = np.ascontiguousarray(head)
        self.head_bias = np.concatenate([w["logits/bias"], w["value/bias"]])

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's outputs for a batch of (preprocessed, filtered) observations."""
        x = obs.reshape(len(obs), -1)
        act = self.act
        features = []
        for layers in self.towers:
            h = x
            for kernel, bias in layers:
                h = act(h @ kernel + bias)
            features.append(h)
        h = features[0] if len(features) == 1 else np.concatenate(features, axis=1)
        out = h @ self.head + self.head_bias
        logits, values = out[:, : self.n_out], out[:, self.n_out]
        if self.log_std is not None:
            logits = np.concatenate([logits, np.broadcast_to(self.log_std, logits.shape)], axis=1)
        return logits, values


def _block_diag(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((a.shape[0] + b.shape[0], a.shape[1] + b.shape[1]), dtype=np.float32)
    out[: a.shape[0], : a.shape[1]] = a
    out[a.shape[0] :, a.shape[1] :] = b
    return out


class NumpyQForward:
    """``forward(obs [B, *obs_shape]) -> q_values [B, num_actions]`` of the Q network of
    :func:`rlcore.models.layout.q_layout`, for epsilon-greedy acting.

    The trunk is the ``fc_i`` stack on flattened observations, or, when ``obs_shape`` is given
    and is ``[H, W, C]``, the conv trunk (:class:`NumpyConvTrunk`). Raises
    :class:`~rlcore.errors.ConfigError` for an activation without a numpy mirror.
    """

    def __init__(
        self,
        model_config: Mapping[str, Any],
        hiddens: list[int],
        dueling: bool,
        obs_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.act = activation(model_config)
        self.conv = NumpyConvTrunk(obs_shape, model_config) if obs_shape is not None and len(obs_shape) == 3 else None
        self.n_trunk = 0 if self.conv is not None else len(model_config.get("fcnet_hiddens", []))
        self.n_head = len(hiddens)
        self.dueling = dueling
        self.w: dict[str, np.ndarray] = {}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take canonical weights (float32)."""
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        if self.conv is not None:
            self.conv.set_weights(self.w)

    def _stream(self, h: np.ndarray, name: str) -> np.ndarray:
        w = self.w
        for j in range(self.n_head):
            h = np.maximum(h @ w[f"{name}_fc_{j}/kernel"] + w[f"{name}_fc_{j}/bias"], 0.0)
        return h @ w[f"{name}_out/kernel"] + w[f"{name}_out/bias"]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Q-values for a batch of (preprocessed, filtered) observations."""
        w = self.w
        h = obs.reshape(len(obs), -1) if self.conv is None else self.conv(obs)
        for i in range(self.n_trunk):
            h = self.act(h @ w[f"fc_{i}/kernel"] + w[f"fc_{i}/bias"])
        if not self.dueling:
            return self._stream(h, "q")
        adv = self._stream(h, "advantage")
        return self._stream(h, "state_value") + adv - adv.mean(axis=1, keepdims=True)


class NumpyLSTMForward:
    """``forward(obs [B, d], [h [B, c], c [B, c]]) -> (dist_inputs [B, n], values [B], [h', c'])``
    of the catalog's LSTM model with an fc trunk (:func:`rlcore.models.layout.lstm_layout`; gate
    order i, f, g, o, state ``[h, c]``, see that module's docstring).

    ``model_config`` is the resolved catalog config (``fcnet_hiddens``, ``fcnet_activation``,
    ``free_log_std``; ``conv_filters``, ``conv_activation`` for images). Call :meth:`set_weights`
    with canonical weights before the first step. When ``obs_shape`` is given and is ``[H, W, C]``
    the trunk is the conv trunk (:class:`NumpyConvTrunk`). Raises
    :class:`~rlcore.errors.ConfigError` for an activation without a numpy mirror.
    """

    def __init__(self, model_config: Mapping[str, Any], obs_shape: tuple[int, ...] | None = None) -> None:
        self.act = activation(model_config)
        self.conv = NumpyConvTrunk(obs_shape, model_config) if obs_shape is not None and len(obs_shape) == 3 else None
        self.n_hidden = 0 if self.conv is not None else len(model_config.get("fcnet_hiddens", []))
        self.trunk: list[tuple[np.ndarray, np.ndarray]] = []
        self.log_std: np.ndarray | None = None

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take canonical weights (float32) and arrange them for the step.

        The recurrent kernel is stacked under the input kernel (one matmul on ``concat(x, h)``),
        and the columns of the sigmoid gates (i, f, o) are halved (exact in float32) so that one
        ``tanh`` gives every gate: ``sigmoid(z) = (tanh(z / 2) + 1) / 2``.
        """
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.trunk = [(w[f"fc_{i}/kernel"], w[f"fc_{i}/bias"]) for i in range(self.n_hidden)]
        if self.conv is not None:
            self.conv.set_weights(w)
        n = self.cell = w["lstm/recurrent_kernel"].shape[0]
        scale = np.full(4 * n, 0.5, np.float32)
        scale[2 * n : 3 * n] = 1.0  # g is a tanh gate
        kernel = np.concatenate([w["lstm/kernel"], w["lstm/recurrent_kernel"]], axis=0)
        self.kernel = np.ascontiguousarray(kernel * scale)
        self.bias = w["lstm/bias"] * scale
        self.n_out = w["logits/bias"].shape[0]
        self.head = np.ascontiguousarray(np.concatenate([w["logits/kernel"], w["value/kernel"]], axis=1))
        self.head_bias = np.concatenate([w["logits/bias"], w["value/bias"]])
        self.log_std = w.get("log_std")

    def __call__(self, obs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """One step for a batch of (preprocessed, filtered) observations and their states ``[h, c]``."""
        x = obs.reshape(len(obs), -1) if self.conv is None else self.conv(obs)
        for kernel, bias in self.trunk:
            x = self.act(x @ kernel + bias)
        h, c = (np.asarray(s, dtype=np.float32) for s in state)
        t = np.tanh(np.concatenate([x, h], axis=1) @ self.kernel + self.bias)
        n = self.cell
        gates = t + 1.0  # 2 * sigmoid for i, f, o
        c_new = 0.5 * (gates[:, n : 2 * n] * c + gates[:, :n] * t[:, 2 * n : 3 * n])
        h_new = 0.5 * gates[:, 3 * n :] * np.tanh(c_new)
        out = h_new @ self.head + self.head_bias
        logits, values = out[:, : self.n_out], out[:, self.n_out]
        if self.log_std is not None:
            logits = np.concatenate([logits, np.broadcast_to(self.log_std, logits.shape)], axis=1)
        return logits, values, [h_new, c_new]


def population_fc_logits(
    model_config: Mapping[str, Any], stacked: Mapping[str, np.ndarray], obs: np.ndarray
) -> np.ndarray:
    """The policy tower of the catalog fc model for a population: row ``k`` of the result is the
    ``dist_inputs`` of the model with weights ``{name: stacked[name][k]}`` on ``obs[k]``.

    ``stacked`` maps each canonical weight of the policy tower (``fc_i/kernel [K, in, out]``,
    ``fc_i/bias [K, out]``, ``logits/*``, and ``log_std [K, n]`` with ``free_log_std``) to its K
    versions (views of a ``[K, P]`` matrix of flat vectors are fine); ``obs`` is ``[K, *obs_shape]``
    (flattened here). One batched matmul per layer over the leading K axis. Returns ``float32
    [K, n]`` (``[K, 2n]`` with ``log_std`` appended, as :class:`NumpyFCForward` does). Raises
    :class:`~rlcore.errors.ConfigError` for an activation without a numpy mirror.
    """
    act = activation(model_config)
    n_hidden = len(model_config.get("fcnet_hiddens", []))
    h = np.asarray(obs, dtype=np.float32).reshape(len(obs), 1, -1)
    for i in range(n_hidden):
        h = act(np.matmul(h, stacked[f"fc_{i}/kernel"]) + stacked[f"fc_{i}/bias"][:, None, :])
    logits = (np.matmul(h, stacked["logits/kernel"]) + stacked["logits/bias"][:, None, :])[:, 0, :]
    log_std = stacked.get("log_std")
    if log_std is not None:
        logits = np.concatenate([logits, log_std], axis=1)
    return np.asarray(logits, dtype=np.float32)


class NumpyConvTrunk:
    """The catalog's conv trunk in numpy: ``trunk(obs [B, H, W, C]) -> features [B, f]``.

    Exactly the layers of :func:`rlcore.models.layout.conv_layers` for ``conv_filters`` (None: the
    catalog's default filters for the shape): HWIO kernels on NHWC images, every layer but the
    last padded SAME by TensorFlow's rule (:func:`~rlcore.models.layout.same_padding`), the last
    VALID, every layer followed by ``conv_activation``; the features are flattened in NHWC order,
    as the torch and TensorFlow models do. Each layer is one matmul of the strided windows
    (``sliding_window_view``, gathered in ``(kh, kw, C)`` order) with the kernel reshaped to
    ``[kh * kw * C, out]``. Raises :class:`~rlcore.errors.ConfigError` for a ``conv_activation``
    without a numpy mirror, a shape that is not ``[H, W, C]`` or filters that do not fit it.
    """

    def __init__(self, obs_shape: tuple[int, ...], model_config: Mapping[str, Any]) -> None:
        from rlcore.models.catalog import ModelCatalog

        shape = tuple(int(d) for d in obs_shape)
        if len(shape) != 3:
            raise ConfigError(f"a vision model needs [H, W, C] observations, got shape {list(shape)}")
        self.act = activation(model_config, "conv_activation", "relu")
        filters = model_config.get("conv_filters") or ModelCatalog.get_filter_config(shape)
        self.obs_shape = shape
        self.layers: list[ConvLayer] = conv_layers(shape, list(filters))
        # Per layer: ((top, bottom), (left, right)) zero padding, or None.
        self.pads: list[tuple[tuple[int, int], tuple[int, int]] | None] = []
        h, w = shape[0], shape[1]
        for layer in self.layers:
            kh, kw = layer.kernel
            pad = None
            if layer.padding == "SAME":
                pad = (same_padding(h, kh, layer.stride), same_padding(w, kw, layer.stride))
                if pad == ((0, 0), (0, 0)):
                    pad = None
            self.pads.append(pad)
            h, w = layer.out_hw
        last = self.layers[-1]
        self.num_features = last.out_hw[0] * last.out_hw[1] * last.out_channels
        self.kernels: list[tuple[np.ndarray, np.ndarray]] = []

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take the canonical ``conv_i/kernel`` (HWIO) and ``conv_i/bias`` weights (others are ignored)."""
        self.kernels = []
        for layer in self.layers:
            kernel = np.asarray(weights[f"{layer.name}/kernel"], dtype=np.float32)
            flat = np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1]))
            self.kernels.append((flat, np.asarray(weights[f"{layer.name}/bias"], dtype=np.float32)))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Flattened (NHWC) features ``float32 [B, f]`` of NHWC images ``[B, H, W, C]``."""
        x = np.asarray(obs, dtype=np.float32)
        b = len(x)
        for layer, pad, (kernel, bias) in zip(self.layers, self.pads, self.kernels, strict=True):
            (kh, kw), s = layer.kernel, layer.stride
            oh, ow = layer.out_hw
            if pad is not None:
                x = np.pad(x, ((0, 0), pad[0], pad[1], (0, 0)))
            if (kh, kw) == (1, 1):
                windows = x[:, : (oh - 1) * s + 1 : s, : (ow - 1) * s + 1 : s, :]
            else:
                # [B, oh, ow, C, kh, kw] -> [B, oh, ow, kh, kw, C], the kernel's (kh, kw, C) order
                windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[
                    :, : (oh - 1) * s + 1 : s, : (ow - 1) * s + 1 : s
                ]
                windows = windows.transpose(0, 1, 2, 4, 5, 3)
            out = windows.reshape(b * oh * ow, -1) @ kernel
            out += bias
            x = self.act(out).reshape(b, oh, ow, -1)
        return x.reshape(b, -1)


class NumpyVisionForward:
    """``forward(obs [B, H, W, C]) -> (dist_inputs [B, n], values [B])`` of the catalog vision model
    (:func:`rlcore.models.layout.vision_layout`: the conv trunk of :class:`NumpyConvTrunk`, then
    linear ``logits`` and ``value`` heads on the shared features; ``log_std`` appended with
    ``free_log_std``). ``model_config`` is the resolved catalog config. Raises
    :class:`~rlcore.errors.ConfigError` as :class:`NumpyConvTrunk` does.
    """

    def __init__(self, model_config: Mapping[str, Any], obs_shape: tuple[int, ...]) -> None:
        self.trunk = NumpyConvTrunk(obs_shape, model_config)
        self.log_std: np.ndarray | None = None

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take canonical weights (float32)."""
        w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        self.trunk.set_weights(w)
        self.n_out = w["logits/bias"].shape[0]
        self.head = np.ascontiguousarray(np.concatenate([w["logits/kernel"], w["value/kernel"]], axis=1))
        self.head_bias = np.concatenate([w["logits/bias"], w["value/bias"]])
        self.log_std = w.get("log_std")

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's outputs for a batch of (preprocessed, filtered) NHWC observations."""
        out = self.trunk(obs) @ self.head + self.head_bias
        logits, values = out[:, : self.n_out], out[:, self.n_out]
        if self.log_std is not None:
            logits = np.concatenate([logits, np.broadcast_to(self.log_std, logits.shape)], axis=1)
        return logits, values


class NumpyModel:
    """A numpy mirror built by :func:`numpy_model`: ``set_weights(canonical)``, then
    ``mirror(obs) -> (outputs [B, n], values [B])`` or, when :attr:`recurrent`,
    ``mirror(obs, [h, c]) -> (outputs, values, [h', c'])``.

    ``outputs`` are the action-distribution inputs (``action_outputs == "dist"``) or the Q-values
    (``"q"``, with ``values = max_a Q``), as :meth:`rlcore.model_policy.ModelPolicy.forward`
    returns them. Attributes: ``kind`` (``"fc"``, ``"vision"``, ``"lstm"``), ``action_outputs``,
    ``recurrent``, ``cell_size`` (LSTM; else 0), ``obs_shape``, ``layout`` (the canonical
    parameters the weights must match: :func:`rlcore.models.layout.check_weights`).
    """

    def __init__(
        self,
        forward: Any,
        *,
        kind: str,
        action_outputs: str,
        obs_shape: tuple[int, ...],
        layout: list[Param],
        cell_size: int = 0,
    ) -> None:
        self.forward = forward
        self.kind = kind
        self.action_outputs = action_outputs
        self.recurrent = kind == "lstm"
        self.cell_size = cell_size
        self.obs_shape = obs_shape
        self.layout = layout

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take canonical weights (checked against :attr:`layout`; ConfigError naming the misfit)."""
        from rlcore.models.layout import check_weights

        check_weights(self.layout, dict(weights), f"the numpy {self.kind} model")
        self.forward.set_weights(weights)

    def initial_state(self, batch_size: int = 1) -> list[np.ndarray]:
        """Zero ``[h, c]`` states ``float32 [batch_size, cell]`` (recurrent mirrors)."""
        return [np.zeros((batch_size, self.cell_size), np.float32) for _ in range(2)]

    def __call__(self, obs: np.ndarray, state: list[np.ndarray] | None = None) -> Any:
        """The outputs for a batch of (preprocessed, filtered) observations; see the class docstring."""
        obs = np.asarray(obs, dtype=np.float32)
        if self.recurrent:
            if state is None:
                state = self.initial_state(len(obs))
            return self.forward(obs, state)
        if self.action_outputs == "q":
            q = self.forward(obs)
            return q, q.max(axis=1)
        return self.forward(obs)


def numpy_model(
    kind: str,
    obs_shape: int | tuple[int, ...] | list[int],
    num_outputs: int,
    model_config: Mapping[str, Any] | None,
    *,
    action_outputs: str = "dist",
    hiddens: list[int] | None = None,
    dueling: bool = False,
) -> NumpyModel:
    """The numpy mirror of a catalog model (see :class:`NumpyModel`), for acting without a framework.

    ``kind`` is the catalog's model kind (:meth:`rlcore.models.ModelCatalog.get_model_kind`:
    ``"fc"``, ``"vision"``, ``"lstm"``; ``"q"`` is the same as ``action_outputs="q"``);
    ``obs_shape`` the preprocessed observation shape (``[H, W, C]`` for a conv trunk);
    ``num_outputs`` the number of action-distribution inputs before ``free_log_std``'s log std
    (or the number of actions of a Q network); ``model_config`` the model config (resolved here).
    ``action_outputs="q"`` mirrors the Q network of :func:`rlcore.models.layout.q_layout` with
    its head ``hiddens`` and ``dueling`` (fc trunk for flat observations, conv trunk for images).
    LSTMs run on the fc trunk (flat observations) or the conv trunk (images).

    Raises :class:`~rlcore.errors.ConfigError` when the model has no numpy mirror (a custom model,
    an activation without one, a Q network on an LSTM, an unknown kind), naming what, and for
    conv filters that do not fit the image.
    """
    from rlcore.models.catalog import ModelCatalog
    from rlcore.models.layout import fc_layout, lstm_layout, q_layout, vision_layout

    config = ModelCatalog.resolve_model_config(dict(model_config or {}))
    shape = (int(obs_shape),) if isinstance(obs_shape, int | np.integer) else tuple(int(d) for d in obs_shape)
    if kind == "q":
        action_outputs, kind = "q", ModelCatalog.get_model_kind(shape, config)
    if config["custom_model"] or kind == "custom":
        raise ConfigError(
            f"the custom model {config['custom_model']!r} has no numpy mirror: only the catalog's fc, vision and "
            "lstm models (and the Q networks on their trunks) do; act with its framework plugin"
        )
    if action_outputs not in ("dist", "q"):
        raise ConfigError(f"action_outputs {action_outputs!r} has no numpy mirror; use 'dist' or 'q'")
    if kind not in ("fc", "vision", "lstm"):
        raise ConfigError(f"the model kind {kind!r} has no numpy mirror; numpy mirrors cover 'fc', 'vision', 'lstm'")
    if len(shape) == 3 and config["conv_filters"] is None:
        config["conv_filters"] = ModelCatalog.get_filter_config(shape)
    n = int(num_outputs)
    if action_outputs == "q":
        if kind == "lstm":
            raise ConfigError("a Q network on an LSTM trunk (use_lstm with action_outputs 'q') has no numpy mirror")
        head = [int(h) for h in (hiddens or [])]
        layout = q_layout(shape, n, config, head, bool(dueling))
        q_net = NumpyQForward(config, head, bool(dueling), obs_shape=shape)
        return NumpyModel(q_net, kind=kind, action_outputs="q", obs_shape=shape, layout=layout)
    if kind == "lstm":
        layout = lstm_layout(shape, n, config)
        lstm = NumpyLSTMForward(config, obs_shape=shape)
        cell = int(config["lstm_cell_size"])
        return NumpyModel(lstm, kind=kind, action_outputs="dist", obs_shape=shape, layout=layout, cell_size=cell)
    if kind == "vision":
        layout = vision_layout(shape, n, config)
        return NumpyModel(
            NumpyVisionForward(config, shape), kind=kind, action_outputs="dist", obs_shape=shape, layout=layout
        )
    layout = fc_layout(int(np.prod(shape)), n, config)
    return NumpyModel(NumpyFCForward(config), kind=kind, action_outputs="dist", obs_shape=shape, layout=layout)
