"""A numpy mirror of the catalog's fully connected model, for acting.

Sampling asks the policy for a batch of ``num_envs`` actions per env step. For the small MLPs of
classic-control tasks a deep-learning framework spends most of each call in dispatch overhead
(tens of microseconds in torch, hundreds in TensorFlow), more than the envs themselves take. The
canonical layout (:mod:`rlcore.models.layout`) fixes every parameter's name, shape and role, so
the fc model's forward pass is written once here, in numpy, and computes the same outputs as the
torch and TensorFlow models from their weights (tested to float tolerance). Learning stays in the
framework; the evaluator refreshes the mirror's weights at the start of each sampled fragment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rlcore.errors import ConfigError


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


def activation(model_config: Mapping[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """The numpy function of ``model_config["fcnet_activation"]`` (default tanh); ConfigError if it has none."""
    act = model_config.get("fcnet_activation", "tanh")
    if act not in ACTIVATIONS:
        raise ConfigError(f"fcnet_activation {act!r} has no numpy mirror; choose one of {sorted(ACTIVATIONS)}")
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
    """``forward(obs [B, d]) -> q_values [B, num_actions]`` of the Q network of
    :func:`rlcore.models.layout.q_layout`, for epsilon-greedy acting."""

    def __init__(self, model_config: Mapping[str, Any], hiddens: list[int], dueling: bool) -> None:
        self.act = activation(model_config)
        self.n_trunk = len(model_config.get("fcnet_hiddens", []))
        self.n_head = len(hiddens)
        self.dueling = dueling
        self.w: dict[str, np.ndarray] = {}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take canonical weights (float32)."""
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}

    def _stream(self, h: np.ndarray, name: str) -> np.ndarray:
        w = self.w
        for j in range(self.n_head):
            h = np.maximum(h @ w[f"{name}_fc_{j}/kernel"] + w[f"{name}_fc_{j}/bias"], 0.0)
        return h @ w[f"{name}_out/kernel"] + w[f"{name}_out/bias"]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Q-values for a batch of (preprocessed, filtered) observations."""
        w = self.w
        h = obs.reshape(len(obs), -1)
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
    ``free_log_std``). Call :meth:`set_weights` with canonical weights before the first step.
    Vision trunks act through the framework's ``forward_step``. Raises
    :class:`~rlcore.errors.ConfigError` for an activation without a numpy mirror.
    """

    def __init__(self, model_config: Mapping[str, Any]) -> None:
        self.act = activation(model_config)
        self.n_hidden = len(model_config.get("fcnet_hiddens", []))
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
        x = obs.reshape(len(obs), -1)
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
