"""The catalog's model kinds in TensorFlow 2 (``tf.Module``, no Keras), in the canonical layout: fc, vision, LSTM.

Each model is built from a :mod:`rlcore.models.layout` layout (TensorFlow's layout *is* the
canonical one: dense kernels ``[in, out]``, conv kernels HWIO, NHWC images) and starts from
``layout.init_weights(params, seed)``, so a torch and a TF model of one config and seed are
identical. ``model(obs) -> (dist_inputs [B, n], value [B])``; call it eagerly or inside a
``tf.function``. :class:`LSTMNetwork` (``use_lstm``) adds ``forward_step`` and
``forward_sequences`` (``tf.scan`` over time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from rlcore.errors import ConfigError
from rlcore.models.catalog import ModelCatalog
from rlcore.models.layout import (
    ACTIVATIONS,
    ConvLayer,
    Param,
    check_weights,
    conv_layers,
    fc_layout,
    init_weights,
    lstm_layout,
    vision_layout,
)

__all__ = [
    "ACTIVATION_FNS",
    "CatalogModel",
    "FullyConnectedNetwork",
    "LSTMNetwork",
    "VisionNetwork",
    "get_activation",
]

#: Activation name (``layout.ACTIVATIONS``) -> TensorFlow function.
ACTIVATION_FNS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "tanh": tf.tanh,
    "relu": tf.nn.relu,
    "elu": tf.nn.elu,
    "swish": tf.nn.silu,
    "linear": tf.identity,
}
assert set(ACTIVATION_FNS) == set(ACTIVATIONS), "ACTIVATION_FNS must cover layout.ACTIVATIONS"


def get_activation(name: str, key: str = "fcnet_activation") -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation function called ``name``, or a ConfigError naming the valid ones."""
    try:
        return ACTIVATION_FNS[name]
    except KeyError:
        raise ConfigError(f"model config {key!r} is {name!r}; valid activations: {', '.join(ACTIVATIONS)}") from None


class CatalogModel(tf.Module):
    """Base of the catalog models: one ``tf.Variable`` per layout parameter, canonical names.

    ``params`` maps canonical names to variables in layout order; ``trainable`` is that order
    as a list (the order gradients and optimizer slots use).
    """

    def __init__(self, layout: list[Param], seed: int | None, name: str) -> None:
        super().__init__(name=name)
        self.layout = list(layout)
        init = init_weights(self.layout, seed)
        with self.name_scope:
            self.params = {
                p.name: tf.Variable(init[p.name], trainable=True, name=p.name.replace("/", "_")) for p in self.layout
            }
        self.trainable = [self.params[p.name] for p in self.layout]

    def weight_names(self) -> list[str]:
        """Canonical parameter names, in layout order."""
        return [p.name for p in self.layout]

    def get_weights(self) -> dict[str, np.ndarray]:
        """``name -> float32 array`` copies of every parameter (canonical layout)."""
        return {name: np.array(var.numpy(), copy=True) for name, var in self.params.items()}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Load canonical weights (validated against the layout first; arrays are copied)."""
        check_weights(self.layout, dict(weights), type(self).__name__)
        for name, var in self.params.items():
            var.assign(np.asarray(weights[name], dtype=np.float32))

    def _resolve(
        self, obs_shape: tuple[int, ...] | int, num_outputs: int, model_config: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Set ``obs_shape``, ``obs_dim`` (flattened) and ``num_outputs``; return the resolved model config."""
        shape = (int(obs_shape),) if isinstance(obs_shape, int | np.integer) else tuple(int(d) for d in obs_shape)
        self.obs_shape = shape
        self.obs_dim = int(math.prod(shape))
        self.num_outputs = int(num_outputs)
        return ModelCatalog.resolve_model_config(model_config)

    def _dense(self, x: tf.Tensor, name: str) -> tf.Tensor:
        return tf.nn.bias_add(tf.matmul(x, self.params[f"{name}/kernel"]), self.params[f"{name}/bias"])

    def _conv(self, x: tf.Tensor, conv: list[ConvLayer], act: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
        """The conv trunk on NHWC images ``[N, H, W, C]``, flattened in NHWC order ``[N, f]``."""
        x = tf.cast(x, tf.float32)
        for layer in conv:
            x = tf.nn.conv2d(x, self.params[f"{layer.name}/kernel"], layer.stride, layer.padding)
            x = act(x + self.params[f"{layer.name}/bias"])
        last = conv[-1]
        return tf.reshape(x, [-1, last.out_hw[0] * last.out_hw[1] * last.out_channels])

    def _with_log_std(self, out: tf.Tensor) -> tf.Tensor:
        log_std = self.params.get("log_std")
        if log_std is None:
            return out
        return tf.concat([out, tf.zeros_like(out) + log_std], axis=1)


class FullyConnectedNetwork(CatalogModel):
    """Fully connected policy and value nets (``fcnet_hiddens``, ``fcnet_activation``).

    ``FullyConnectedNetwork(obs_shape, num_outputs, model_config, seed=None)``; observations
    of rank > 1 are flattened. Hidden layers use the activation, ``logits`` and ``value`` are
    linear; the value net has its own ``value_fc_i`` layers unless ``vf_share_layers``. With
    ``free_log_std`` the logits are the mean and a ``log_std`` parameter is appended.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...] | int,
        num_outputs: int,
        model_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        config = self._resolve(obs_shape, num_outputs, model_config)
        self.hiddens = [int(h) for h in config["fcnet_hiddens"]]
        self.vf_share_layers = bool(config["vf_share_layers"])
        self.free_log_std = bool(config["free_log_std"])
        self.activation = get_activation(config["fcnet_activation"])
        super().__init__(fc_layout(self.obs_dim, self.num_outputs, config), seed, "fc")

    def __call__(self, obs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(dist_inputs [B, num_outputs (x2 with free_log_std)], value [B])``."""
        x = tf.reshape(tf.cast(obs, tf.float32), [-1, self.obs_dim])
        act = self.activation
        h = x
        for i in range(len(self.hiddens)):
            h = act(self._dense(h, f"fc_{i}"))
        logits = self._dense(h, "logits")
        if not self.vf_share_layers:
            h = x
            for i in range(len(self.hiddens)):
                h = act(self._dense(h, f"value_fc_{i}"))
        value = tf.reshape(self._dense(h, "value"), [-1])
        return self._with_log_std(logits), value


def _normalize_filters(filters: Any) -> list[list[Any]]:
    """``conv_filters`` with int kernels written as ``[k, k]`` (the catalog accepts both)."""
    out = []
    for out_channels, kernel, stride in filters:
        kh, kw = (kernel, kernel) if isinstance(kernel, int | np.integer) else kernel
        out.append([int(out_channels), [int(kh), int(kw)], int(stride)])
    return out


def conv_stack(shape: tuple[int, ...], config: dict[str, Any]) -> list[ConvLayer]:
    """The conv layers of ``config["conv_filters"]`` on ``[H, W, C]`` images: the catalog's default
    filters for ``shape`` when None, int kernels written ``[k, k]`` (stored back in ``config``, which
    the layout functions read). Raises :class:`~rlcore.errors.ConfigError` for filters that shrink
    the image below 1x1."""
    config["conv_filters"] = _normalize_filters(config["conv_filters"] or ModelCatalog.get_filter_config(shape))
    return conv_layers(shape, config["conv_filters"])


class VisionNetwork(CatalogModel):
    """Conv trunk (``conv_filters``, ``conv_activation``) with linear ``logits`` and ``value`` heads.

    ``VisionNetwork(obs_shape, num_outputs, model_config, seed=None)`` for ``[H, W, C]`` (NHWC)
    observations. Every conv layer but the last pads SAME, the last VALID; every conv layer is
    followed by the activation; features are flattened in NHWC order. ``conv_filters=None``
    takes :meth:`ModelCatalog.get_filter_config`.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        num_outputs: int,
        model_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        config = ModelCatalog.resolve_model_config(model_config)
        shape = tuple(int(d) for d in obs_shape)
        if len(shape) != 3:
            raise ConfigError(f"VisionNetwork needs [H, W, C] observations, got shape {shape}")
        self.obs_shape = shape
        self.num_outputs = int(num_outputs)
        self.conv = conv_stack(shape, config)
        last = self.conv[-1]
        self.flat_dim = last.out_hw[0] * last.out_hw[1] * last.out_channels
        self.free_log_std = bool(config["free_log_std"])
        self.activation = get_activation(config["conv_activation"], "conv_activation")
        super().__init__(vision_layout(shape, self.num_outputs, config), seed, "vision")

    def __call__(self, obs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(dist_inputs [B, num_outputs (x2 with free_log_std)], value [B])``."""
        x = self._conv(obs, self.conv, self.activation)
        value = tf.reshape(self._dense(x, "value"), [-1])
        return self._with_log_std(self._dense(x, "logits")), value


class LSTMNetwork(CatalogModel):
    """The catalog's recurrent model (``use_lstm``): the fc trunk (flat observations) or the conv trunk
    (``[H, W, C]`` images), one LSTM cell, then ``logits`` and ``value`` heads on its output.

    ``LSTMNetwork(obs_shape, num_outputs, model_config, seed=None)`` in the layout of
    :func:`rlcore.models.layout.lstm_layout`; reads ``lstm_cell_size``, ``fcnet_hiddens`` and
    ``fcnet_activation`` (fc trunk), ``conv_filters`` and ``conv_activation`` (conv trunk),
    ``free_log_std``. The cell, as the layout module writes it (the torch model and the numpy
    mirror compute the same): gates i, f, g, o; ``z = x @ kernel + h @ recurrent_kernel + bias``;
    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``; ``h' = sigmoid(o) tanh(c')``; state ``[h, c]``.

    * :meth:`forward_step`: one step of a batch from its states;
    * :meth:`forward_sequences`: padded sequences ``[S, T, ...]`` from their initial states, the
      trunk on all ``S*T`` rows at once and ``tf.scan`` over ``T`` (any ``S`` and ``T`` in one
      traced graph);
    * ``model(obs)``: one step from the zero state (what a stateless caller sees).
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...] | int,
        num_outputs: int,
        model_config: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        config = self._resolve(obs_shape, num_outputs, model_config)
        shape = self.obs_shape
        self.conv: list[ConvLayer] = []
        self.hiddens: list[int] = []
        if len(shape) == 3:
            self.conv = conv_stack(shape, config)
            self.activation = get_activation(config["conv_activation"], "conv_activation")
        else:
            self.hiddens = [int(h) for h in config["fcnet_hiddens"]]
            self.activation = get_activation(config["fcnet_activation"])
        self.cell_size = int(config["lstm_cell_size"])
        self.free_log_std = bool(config["free_log_std"])
        super().__init__(lstm_layout(shape, self.num_outputs, config), seed, "lstm")

    def initial_state(self) -> list[np.ndarray]:
        """``[h, c]``: zeros ``float32 [cell]`` each (an episode's start)."""
        return [np.zeros(self.cell_size, np.float32), np.zeros(self.cell_size, np.float32)]

    def _input_projection(self, obs: tf.Tensor) -> tf.Tensor:
        """``trunk(obs) @ lstm/kernel + lstm/bias`` for ``obs [N, *obs_shape]`` -> ``[N, 4c]``."""
        if self.conv:
            x = self._conv(obs, self.conv, self.activation)
        else:
            x = tf.reshape(tf.cast(obs, tf.float32), [-1, self.obs_dim])
            for i in range(len(self.hiddens)):
                x = self.activation(self._dense(x, f"fc_{i}"))
        return self._dense(x, "lstm")

    def _cell(self, xw: tf.Tensor, h: tf.Tensor, c: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One LSTM step from ``xw = x @ kernel + bias`` and the state: ``(h', c')``."""
        z = xw + tf.matmul(h, self.params["lstm/recurrent_kernel"])
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, c

    def _heads(self, h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        value = tf.reshape(self._dense(h, "value"), [-1])
        return self._with_log_std(self._dense(h, "logits")), value

    def forward_step(self, obs: tf.Tensor, state: list[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        """``(dist_inputs [B, n], value [B], [h' [B, c], c' [B, c]])`` for ``obs [B, *obs_shape]``
        and ``state = [h [B, c], c [B, c]]``."""
        h, c = self._cell(self._input_projection(obs), tf.cast(state[0], tf.float32), tf.cast(state[1], tf.float32))
        dist_inputs, value = self._heads(h)
        return dist_inputs, value, [h, c]

    def forward_sequences(self, obs: tf.Tensor, state0: list[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """``(dist_inputs [S, T, n], values [S, T])`` for padded sequences ``obs [S, T, *obs_shape]``
        from their initial states ``[h [S, c], c [S, c]]``. Rows past a sequence's end are computed
        too (callers keep the real rows)."""
        obs = tf.cast(obs, tf.float32)
        dims = tf.shape(obs)
        s, t = dims[0], dims[1]
        xw = self._input_projection(tf.reshape(obs, [-1, *self.obs_shape]))
        xw = tf.transpose(tf.reshape(xw, [s, t, 4 * self.cell_size]), [1, 0, 2])  # time-major [T, S, 4c]
        h0, c0 = tf.cast(state0[0], tf.float32), tf.cast(state0[1], tf.float32)
        hs, _ = tf.scan(lambda carry, x: self._cell(x, carry[0], carry[1]), xw, initializer=(h0, c0))
        h = tf.reshape(tf.transpose(hs, [1, 0, 2]), [-1, self.cell_size])
        dist_inputs, values = self._heads(h)
        return tf.reshape(dist_inputs, [s, t, -1]), tf.reshape(values, [s, t])

    def __call__(self, obs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(dist_inputs [B, n], value [B])``: one step from the zero state."""
        zeros = tf.zeros([tf.shape(obs)[0], self.cell_size], tf.float32)
        dist_inputs, value, _ = self.forward_step(obs, [zeros, zeros])
        return dist_inputs, value
