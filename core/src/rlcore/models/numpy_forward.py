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


class NumpyFCForward:
    """``forward(obs [B, d]) -> (dist_inputs [B, n], values [B])`` of the catalog fc model.

    ``model_config`` is the resolved catalog config (``fcnet_hiddens``, ``fcnet_activation``,
    ``vf_share_layers``, ``free_log_std``). Call :meth:`set_weights` with canonical weights before
    the first forward.
    """

    def __init__(self, model_config: Mapping[str, Any]) -> None:
        act = model_config.get("fcnet_activation", "tanh")
        if act not in ACTIVATIONS:
            raise ConfigError(f"fcnet_activation {act!r} has no numpy mirror; choose one of {sorted(ACTIVATIONS)}")
        self.act = ACTIVATIONS[act]
        self.n_hidden = len(model_config.get("fcnet_hiddens", []))
        self.shared = bool(model_config.get("vf_share_layers", False))
        self.free_log_std = bool(model_config.get("free_log_std", False))
        self.w: dict[str, np.ndarray] = {}

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Take canonical weights (float32 copies)."""
        self.w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}

    def _tower(self, x: np.ndarray, prefix: str) -> np.ndarray:
        w = self.w
        for i in range(self.n_hidden):
            x = self.act(x @ w[f"{prefix}_{i}/kernel"] + w[f"{prefix}_{i}/bias"])
        return x

    def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's outputs for a batch of (preprocessed, filtered) observations."""
        w = self.w
        x = obs.reshape(len(obs), -1)
        h = self._tower(x, "fc")
        logits = h @ w["logits/kernel"] + w["logits/bias"]
        hv = h if self.shared else self._tower(x, "value_fc")
        values = (hv @ w["value/kernel"] + w["value/bias"])[:, 0]
        if self.free_log_std:
            logits = np.concatenate([logits, np.broadcast_to(w["log_std"], logits.shape)], axis=1)
        return logits, values
