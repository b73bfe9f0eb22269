"""Optimizer pieces shared by rl_tf's policies: Adam as a ``tf.Module`` and clip-then-apply.

Gradients reach :meth:`Adam.apply` already checked by the core (complete, shaped, finite:
:func:`rlcore.model_policy.check_gradients`); nothing here fills in or refuses gradients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from rlcore.errors import ConfigError

__all__ = ["Adam", "clip_and_apply"]


class Adam(tf.Module):
    """Adam over a list of variables, with its moments in ``tf.Variable`` slots.

    The update is torch.optim.Adam's (so both frameworks take the same step)::

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    :meth:`apply` works eagerly and inside ``tf.function``; :meth:`get_state` /
    :meth:`set_state` move ``{"step", "m", "v"}`` as numpy, keyed by canonical weight names.
    """

    def __init__(
        self,
        variables: Sequence[tf.Variable],
        names: Sequence[str],
        lr: float,
        epsilon: float = 1e-8,
        beta1: float = 0.9,
        beta2: float = 0.999,
    ) -> None:
        super().__init__(name="adam")
        self.vars = list(variables)
        self.names = list(names)
        self.epsilon, self.beta1, self.beta2 = float(epsilon), float(beta1), float(beta2)
        with self.name_scope:
            self.lr = tf.Variable(float(lr), dtype=tf.float64, trainable=False, name="lr")
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.m = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"m_{i}") for i, v in enumerate(self.vars)]
            self.v = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"v_{i}") for i, v in enumerate(self.vars)]

    def apply(self, grads: Sequence[tf.Tensor]) -> None:
        """One Adam step with ``grads`` (in the order of the variables)."""
        t = tf.cast(self.step.assign_add(1), tf.float64)
        step_size = tf.cast(self.lr / (1.0 - tf.pow(tf.constant(self.beta1, tf.float64), t)), tf.float32)
        bc2_sqrt = tf.cast(tf.sqrt(1.0 - tf.pow(tf.constant(self.beta2, tf.float64), t)), tf.float32)
        b1, b2 = self.beta1, self.beta2
        for var, g, m, v in zip(self.vars, grads, self.m, self.v, strict=True):
            m_t = m.assign(b1 * m + (1.0 - b1) * g)
            v_t = v.assign(b2 * v + (1.0 - b2) * tf.square(g))
            var.assign_sub(step_size * m_t / (tf.sqrt(v_t) / bc2_sqrt + self.epsilon))

    def get_state(self) -> dict[str, Any]:
        """``{"step": int64 0-d array, "m": {name: array}, "v": {name: array}}`` (copies)."""
        return {
            "step": np.array(self.step.numpy(), dtype=np.int64),
            "m": {n: np.array(s.numpy(), copy=True) for n, s in zip(self.names, self.m, strict=True)},
            "v": {n: np.array(s.numpy(), copy=True) for n, s in zip(self.names, self.v, strict=True)},
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`get_state` (names and shapes checked before anything is assigned)."""
        for key in ("m", "v"):
            slots = state[key]
            missing = sorted(set(self.names) - set(slots))
            bad = [
                f"{n}: {np.shape(slots[n])} != {tuple(var.shape)}"
                for n, var in zip(self.names, self.vars, strict=True)
                if n in slots and tuple(np.shape(slots[n])) != tuple(var.shape)
            ]
            if missing or bad or set(slots) - set(self.names):
                raise ConfigError(
                    f"optimizer state {key!r} does not fit the model: missing {missing}, wrong shapes {bad}, "
                    f"unexpected {sorted(set(slots) - set(self.names))}"
                )
        self.step.assign(int(np.asarray(state["step"])))
        for n, m, v in zip(self.names, self.m, self.v, strict=True):
            m.assign(np.asarray(state["m"][n], np.float32))
            v.assign(np.asarray(state["v"][n], np.float32))


def clip_and_apply(
    optimizer: Adam, grads: Sequence[tf.Tensor], loss: tf.Tensor, grad_clip: float | None
) -> tuple[tf.Tensor, tf.Tensor]:
    """Global-norm clip (torch's clip_grad_norm_ rule) then Adam, only when loss and norm are finite.

    Returns ``(pre-clip global norm, applied)``; for use inside ``tf.function``.
    """
    norm = tf.linalg.global_norm(grads)
    ok = tf.logical_and(tf.math.is_finite(norm), tf.math.is_finite(loss))

    def apply() -> tf.Tensor:
        g = list(grads)
        if grad_clip is not None:
            coef = tf.minimum(grad_clip / (norm + 1e-6), 1.0)
            g = [x * coef for x in g]
        optimizer.apply(g)
        return tf.constant(True)

    return norm, tf.cond(ok, apply, lambda: tf.constant(False))
