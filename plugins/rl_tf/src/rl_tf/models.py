"""The catalog's model kinds in TensorFlow 2 (``tf.Module``, no Keras), in the canonical layout.

Each model is built from a :mod:`rlcore.models.layout` layout (TensorFlow's layout *is* the
canonical one: dense kernels ``[in, out]``, conv kernels HWIO, NHWC images) and starts from
``layout.init_weights(params, seed)``, so a torch and a TF model of one config and seed are
identical. ``model(obs) -> (dist_inputs [B, n], value [B])``; call it eagerly or inside a
``tf.function``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from rlcore.errors import ConfigError
from rlcore.models.catalog import ModelCatalog
from rlcore.models.layout import ACTIVATIONS, Param, check_weights, conv_layers, fc_layout, init_weights, vision_layout

__all__ = ["ACTIVATION_FNS", "CatalogModel", "FullyConnectedNetwork", "VisionNetwork", "get_activation"]

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

    def _dense(self, x: tf.Tensor, name: str) -> tf.Tensor:
        return tf.nn.bias_add(tf.matmul(x, self.params[f"{name}/kernel"]), self.params[f"{name}/bias"])

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
        config = ModelCatalog.resolve_model_config(model_config)
        shape = (int(obs_shape),) if isinstance(obs_shape, int | np.integer) else tuple(int(d) for d in obs_shape)
        self.obs_shape = shape
        self.obs_dim = int(math.prod(shape))
        self.num_outputs = int(num_outputs)
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
        filters = config["conv_filters"] or ModelCatalog.get_filter_config(shape)
        config["conv_filters"] = _normalize_filters(filters)
        self.obs_shape = shape
        self.num_outputs = int(num_outputs)
        self.conv = conv_layers(shape, config["conv_filters"])
        last = self.conv[-1]
        self.flat_dim = last.out_hw[0] * last.out_hw[1] * last.out_channels
        self.free_log_std = bool(config["free_log_std"])
        self.activation = get_activation(config["conv_activation"], "conv_activation")
        super().__init__(vision_layout(shape, self.num_outputs, config), seed, "vision")

    def __call__(self, obs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(dist_inputs [B, num_outputs (x2 with free_log_std)], value [B])``."""
        x = tf.cast(obs, tf.float32)
        for layer in self.conv:
            x = tf.nn.conv2d(x, self.params[f"{layer.name}/kernel"], layer.stride, layer.padding)
            x = self.activation(x + self.params[f"{layer.name}/bias"])
        x = tf.reshape(x, [-1, self.flat_dim])
        value = tf.reshape(self._dense(x, "value"), [-1])
        return self._with_log_std(self._dense(x, "logits")), value
