"""Adam for rl_tf's policies over one flat gradient: a learning step of a small policy is a few dozen ops.

The policies' gradient graphs return the gradient flattened (:func:`flatten`, layout order) with
its global norm; :class:`Adam` keeps its moments as two flat variables, so the update is a handful
of element-wise ops on one vector, then one ``assign_sub`` per weight. (TensorFlow's fused
``ResourceApplyAdam`` kernel costs more per call on this CPU than the ~10 element-wise ops it
replaces, and a per-variable update is ~8 ops per weight.) Gradients reach :meth:`Adam.step`
already checked by the core (complete, shaped, finite: :func:`rlcore.model_policy.check_gradients`);
nothing here fills in or refuses gradients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from rlcore.errors import ConfigError

__all__ = ["Adam", "flatten"]


def flatten(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    """The tensors' values in one float32 vector, in order (inside ``tf.function``)."""
    return tf.concat([tf.reshape(t, [-1]) for t in tensors], 0)


class Adam(tf.Module):
    """Adam over a list of variables with flat moment slots; torch.optim.Adam's update::

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    computed as ``w -= lr' m / (sqrt(v) + eps')`` with ``lr' = lr sqrt(1 - b2^t) / (1 - b1^t)`` and
    ``eps' = eps sqrt(1 - b2^t)`` (the same update) from host floats, after torch's global-norm
    clip (``g *= clip / (norm + 1e-6)`` when the norm exceeds ``clip``). The learning rate
    :attr:`lr` and the step count :attr:`step_count` are host values, so a learning-rate schedule
    costs no TensorFlow call. :meth:`get_state` / :meth:`set_state` move ``{"step", "m", "v"}`` as
    numpy keyed by canonical weight names; :meth:`split` / :meth:`join` convert flat vectors.
    """

    def __init__(
        self,
        variables: Sequence[tf.Variable],
        names: Sequence[str],
        lr: float,
        epsilon: float = 1e-8,
        beta1: float = 0.9,
        beta2: float = 0.999,
        *,
        fast: bool = True,
    ) -> None:
        from rl_tf.graph import GraphFunction

        super().__init__(name="adam")
        self.vars = list(variables)
        self.names = list(names)
        self.shapes = [tuple(int(d) for d in v.shape) for v in self.vars]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.size = sum(self.sizes)
        self._offsets = np.cumsum([0, *self.sizes])
        self.lr = float(lr)
        self.epsilon, self.beta1, self.beta2 = float(epsilon), float(beta1), float(beta2)
        self.step_count = 0
        with self.name_scope:
            self.m = tf.Variable(tf.zeros([self.size], tf.float32), trainable=False, name="m")
            self.v = tf.Variable(tf.zeros([self.size], tf.float32), trainable=False, name="v")
        flat = tf.TensorSpec([self.size], tf.float32)
        scalar = tf.TensorSpec([], tf.float32)
        self._apply_fn = GraphFunction(self._graph_apply, [flat, scalar, scalar], fast=fast)
        self._apply_scaled_fn = GraphFunction(self._graph_apply_scaled, [flat, scalar, scalar, scalar], fast=fast)

    # -- flat <-> canonical ----------------------------------------------------------------
    def split(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """A flat vector as ``name -> array`` shaped like each variable (copies)."""
        flat = np.asarray(flat, dtype=np.float32)
        return {
            n: flat[a:b].reshape(s).copy()
            for n, s, a, b in zip(self.names, self.shapes, self._offsets[:-1], self._offsets[1:], strict=True)
        }

    def join(self, arrays: Mapping[str, Any]) -> np.ndarray:
        """``name -> array`` (every name) as one float32 vector in variable order."""
        return np.concatenate([np.asarray(arrays[n], dtype=np.float32).reshape(-1) for n in self.names])

    # -- the step ------------------------------------------------------------------------------
    def step(self, flat_grad: Any, grad_norm: float, grad_clip: float | None = None) -> None:
        """One Adam step with the flat gradient (tensor or array, variable order) whose global norm
        is ``grad_norm``; clipped to ``grad_clip`` first when the norm exceeds it."""
        t = self.step_count + 1
        bc2_sqrt = math.sqrt(1.0 - self.beta2**t)
        lr = np.float32(self.lr * bc2_sqrt / (1.0 - self.beta1**t))
        eps = np.float32(self.epsilon * bc2_sqrt)
        if grad_clip is not None and grad_norm > grad_clip:
            self._apply_scaled_fn(flat_grad, np.float32(grad_clip / (grad_norm + 1e-6)), lr, eps)
        else:
            self._apply_fn(flat_grad, lr, eps)
        self.step_count = t

    def _update(self, g: tf.Tensor, lr: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        b1, b2 = self.beta1, self.beta2
        m_t = self.m.assign(b1 * self.m + (1.0 - b1) * g)
        v_t = self.v.assign(b2 * self.v + (1.0 - b2) * tf.square(g))
        update = lr * m_t / (tf.sqrt(v_t) + eps)
        for var, u, shape in zip(self.vars, tf.split(update, self.sizes), self.shapes, strict=True):
            var.assign_sub(tf.reshape(u, shape))
        return tf.constant(True)

    def _graph_apply(self, g: tf.Tensor, lr: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        return self._update(g, lr, eps)

    def _graph_apply_scaled(self, g: tf.Tensor, scale: tf.Tensor, lr: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
        return self._update(g * scale, lr, eps)

    # -- state ---------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """``{"step": int64 0-d array, "m": {name: array}, "v": {name: array}}`` (copies)."""
        return {
            "step": np.array(self.step_count, dtype=np.int64),
            "m": self.split(self.m.numpy()),
            "v": self.split(self.v.numpy()),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state` (names and shapes checked before anything is assigned)."""
        for key in ("m", "v"):
            slots = state[key]
            missing = sorted(set(self.names) - set(slots))
            bad = [
                f"{n}: {np.shape(slots[n])} != {s}"
                for n, s in zip(self.names, self.shapes, strict=True)
                if n in slots and tuple(np.shape(slots[n])) != s
            ]
            if missing or bad or set(slots) - set(self.names):
                raise ConfigError(
                    f"optimizer state {key!r} does not fit the model: missing {missing}, wrong shapes {bad}, "
                    f"unexpected {sorted(set(slots) - set(self.names))}"
                )
        m, v = self.join(state["m"]), self.join(state["v"])
        self.m.assign(m)
        self.v.assign(v)
        self.step_count = int(np.asarray(state["step"]))
