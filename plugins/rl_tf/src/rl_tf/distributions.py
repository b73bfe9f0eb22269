"""Differentiable action distributions in TensorFlow, for losses.

Acting samples in numpy (:mod:`rlcore.action_dist`); these classes give the loss its
``logp``, ``entropy`` and ``kl`` on the same ``dist_inputs`` layouts (see
:class:`rlcore.models.ActionDistSpec`): ``categorical`` logits ``[B, n]``;
``multi_categorical`` the logits of each sub-action concatenated; ``diag_gaussian`` mean then
log std ``[B, 2d]``; ``deterministic`` the actions themselves; ``composite`` (Tuple and Dict
action spaces) the parts' inputs concatenated (:class:`Composite`). All per-row results are ``[B]``
(summed over action dimensions). ``sample()`` draws with TensorFlow's global generator (or the
``tf.random.Generator`` given); evaluators act through numpy instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from rlcore.errors import ConfigError

__all__ = [
    "ActionDistribution",
    "Categorical",
    "Composite",
    "Deterministic",
    "DiagGaussian",
    "MultiCategorical",
    "make_dist",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _generator(generator: tf.random.Generator | None) -> tf.random.Generator:
    return tf.random.get_global_generator() if generator is None else generator


class ActionDistribution:
    """A batch of action distributions parametrized by ``inputs`` ``[B, num_inputs]``."""

    def __init__(self, inputs: tf.Tensor) -> None:
        self.inputs = tf.convert_to_tensor(inputs, dtype=tf.float32)

    def logp(self, actions: tf.Tensor) -> tf.Tensor:
        """Log-probability (density) of ``actions``, ``[B]``."""
        raise NotImplementedError

    def entropy(self) -> tf.Tensor:
        """Entropy of each distribution, ``[B]``."""
        raise NotImplementedError

    def kl(self, other: ActionDistribution) -> tf.Tensor:
        """``KL(self || other)`` per row, ``[B]``."""
        raise NotImplementedError

    def sample(self, generator: tf.random.Generator | None = None) -> tf.Tensor:
        """One random action per row."""
        raise NotImplementedError

    def deterministic_sample(self) -> tf.Tensor:
        """The most likely action per row (argmax / mean)."""
        raise NotImplementedError


class Categorical(ActionDistribution):
    """Softmax over ``[B, n]`` logits; actions are integer indices ``[B]``."""

    def __init__(self, inputs: tf.Tensor) -> None:
        super().__init__(inputs)
        self.log_probs = tf.nn.log_softmax(self.inputs, axis=-1)

    def logp(self, actions: tf.Tensor) -> tf.Tensor:
        """``log softmax(logits)[action]``."""
        idx = tf.cast(tf.reshape(actions, [-1]), tf.int32)
        return tf.gather(self.log_probs, idx, axis=1, batch_dims=1)

    def entropy(self) -> tf.Tensor:
        """``-sum p log p``."""
        return -tf.reduce_sum(tf.exp(self.log_probs) * self.log_probs, axis=-1)

    def kl(self, other: ActionDistribution) -> tf.Tensor:
        """``sum p (log p - log q)``."""
        assert isinstance(other, Categorical)
        return tf.reduce_sum(tf.exp(self.log_probs) * (self.log_probs - other.log_probs), axis=-1)

    def sample(self, generator: tf.random.Generator | None = None) -> tf.Tensor:
        """Gumbel-max sample, ``int64 [B]``."""
        u = _generator(generator).uniform(tf.shape(self.inputs), minval=1e-12, maxval=1.0)
        return tf.argmax(self.inputs - tf.math.log(-tf.math.log(u)), axis=-1)

    def deterministic_sample(self) -> tf.Tensor:
        """Argmax, ``int64 [B]``."""
        return tf.argmax(self.inputs, axis=-1)


class MultiCategorical(ActionDistribution):
    """Independent categoricals over consecutive logit slices of ``input_lens``; actions ``[B, k]``.

    Actions of any shape ``[B, *action_shape]`` with ``prod(action_shape) == k`` are accepted
    (flattened row-major, the order of ``input_lens``).
    """

    def __init__(self, inputs: tf.Tensor, input_lens: Sequence[int], action_shape: Sequence[int] | None = None) -> None:
        super().__init__(inputs)
        self.input_lens = [int(n) for n in input_lens]
        self.action_shape = tuple(action_shape) if action_shape is not None else (len(self.input_lens),)
        self.cats = [Categorical(x) for x in tf.split(self.inputs, self.input_lens, axis=-1)]

    def logp(self, actions: tf.Tensor) -> tf.Tensor:
        """Sum of the sub-actions' log-probabilities."""
        flat = tf.reshape(actions, [-1, len(self.cats)])
        return tf.add_n([c.logp(flat[:, i]) for i, c in enumerate(self.cats)])

    def entropy(self) -> tf.Tensor:
        """Sum of the entropies."""
        return tf.add_n([c.entropy() for c in self.cats])

    def kl(self, other: ActionDistribution) -> tf.Tensor:
        """Sum of the per-sub-action KLs."""
        assert isinstance(other, MultiCategorical)
        return tf.add_n([a.kl(b) for a, b in zip(self.cats, other.cats, strict=True)])

    def _shape(self, flat: tf.Tensor) -> tf.Tensor:
        return tf.reshape(flat, [-1, *self.action_shape])

    def sample(self, generator: tf.random.Generator | None = None) -> tf.Tensor:
        """One index per sub-action, ``int64 [B, *action_shape]``."""
        gen = _generator(generator)
        return self._shape(tf.stack([c.sample(gen) for c in self.cats], axis=-1))

    def deterministic_sample(self) -> tf.Tensor:
        """Argmax of each sub-action, ``int64 [B, *action_shape]``."""
        return self._shape(tf.stack([c.deterministic_sample() for c in self.cats], axis=-1))


class DiagGaussian(ActionDistribution):
    """Diagonal Gaussian; ``inputs`` = mean ``[B, d]`` then log std ``[B, d]``; actions ``[B, *shape]``."""

    def __init__(self, inputs: tf.Tensor, action_shape: Sequence[int] | None = None) -> None:
        super().__init__(inputs)
        self.mean, self.log_std = tf.split(self.inputs, 2, axis=-1)
        self.std = tf.exp(self.log_std)
        self.action_shape = tuple(action_shape) if action_shape is not None else None

    def _shape(self, flat: tf.Tensor) -> tf.Tensor:
        return flat if self.action_shape is None else tf.reshape(flat, [-1, *self.action_shape])

    def logp(self, actions: tf.Tensor) -> tf.Tensor:
        """``-0.5 sum z^2 - sum log_std - 0.5 d log(2 pi)`` with ``z = (a - mean) / std``."""
        a = tf.reshape(tf.cast(actions, tf.float32), tf.shape(self.mean))
        z = (a - self.mean) / self.std
        d = tf.cast(tf.shape(self.mean)[-1], tf.float32)
        return -0.5 * tf.reduce_sum(tf.square(z), axis=-1) - tf.reduce_sum(self.log_std, axis=-1) - 0.5 * _LOG_2PI * d

    def entropy(self) -> tf.Tensor:
        """``sum (log_std + 0.5 log(2 pi e))``."""
        return tf.reduce_sum(self.log_std + 0.5 * (_LOG_2PI + 1.0), axis=-1)

    def kl(self, other: ActionDistribution) -> tf.Tensor:
        """``sum (log s2 - log s1 + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2)``."""
        assert isinstance(other, DiagGaussian)
        return tf.reduce_sum(
            other.log_std
            - self.log_std
            + (tf.square(self.std) + tf.square(self.mean - other.mean)) / (2.0 * tf.square(other.std))
            - 0.5,
            axis=-1,
        )

    def sample(self, generator: tf.random.Generator | None = None) -> tf.Tensor:
        """``mean + std * N(0, 1)``, ``float32 [B, *action_shape]``."""
        return self._shape(self.mean + self.std * _generator(generator).normal(tf.shape(self.mean)))

    def deterministic_sample(self) -> tf.Tensor:
        """The mean."""
        return self._shape(self.mean)


class Deterministic(ActionDistribution):
    """A point mass at ``inputs`` (the actions themselves): logp, entropy and kl are 0."""

    def __init__(self, inputs: tf.Tensor, action_shape: Sequence[int] | None = None) -> None:
        super().__init__(inputs)
        self.action_shape = tuple(action_shape) if action_shape is not None else None

    def _zeros(self) -> tf.Tensor:
        return tf.zeros(tf.shape(self.inputs)[:1], dtype=tf.float32)

    def logp(self, actions: tf.Tensor) -> tf.Tensor:
        """Zeros ``[B]`` (what numpy acting records)."""
        return self._zeros()

    def entropy(self) -> tf.Tensor:
        """Zeros ``[B]``."""
        return self._zeros()

    def kl(self, other: ActionDistribution) -> tf.Tensor:
        """Zeros ``[B]``."""
        return self._zeros()

    def sample(self, generator: tf.random.Generator | None = None) -> tf.Tensor:
        """The inputs."""
        return self.deterministic_sample()

    def deterministic_sample(self) -> tf.Tensor:
        """The inputs, shaped ``[B, *action_shape]``."""
        return self.inputs if self.action_shape is None else tf.reshape(self.inputs, [-1, *self.action_shape])


class Composite(ActionDistribution):
    """The distribution of a Tuple/Dict action space: independent parts, one per leaf of the
    composite :class:`~rlcore.models.ActionDistSpec`, each on its slice of the inputs (slices from
    the spec, computed once by the core). Actions are flat ``[B, D]`` float32; ``logp``,
    ``entropy`` and ``kl`` are the sums of the parts'."""

    def __init__(self, inputs: tf.Tensor, spec: Any) -> None:
        super().__init__(inputs)
        params = spec.params
        self.action_shape = tuple(spec.action_shape)
        self.action_slices = [(int(a), int(b)) for a, b in params["action_slices"]]
        self.parts = [
            make_dist(c, self.inputs[:, int(a) : int(b)])
            for c, (a, b) in zip(params["children"], params["input_slices"], strict=True)
        ]

    def logp(self, actions: tf.Tensor) -> tf.Tensor:
        """Sum of the parts' log-probabilities."""
        flat = tf.reshape(tf.cast(actions, tf.float32), [-1, self.action_shape[0]])
        return tf.add_n([p.logp(flat[:, a:b]) for p, (a, b) in zip(self.parts, self.action_slices, strict=True)])

    def entropy(self) -> tf.Tensor:
        """Sum of the parts' entropies."""
        return tf.add_n([p.entropy() for p in self.parts])

    def kl(self, other: ActionDistribution) -> tf.Tensor:
        """Sum of the parts' KL divergences."""
        assert isinstance(other, Composite)
        return tf.add_n([p.kl(o) for p, o in zip(self.parts, other.parts, strict=True)])

    def _flat(self, parts: list[tf.Tensor]) -> tf.Tensor:
        n = tf.shape(self.inputs)[0]
        return tf.concat([tf.reshape(tf.cast(x, tf.float32), [n, -1]) for x in parts], axis=1)

    def sample(self, generator: tf.random.Generator | None = None) -> tf.Tensor:
        """Every part sampled, flat ``float32 [B, D]``."""
        gen = _generator(generator)
        return self._flat([p.sample(gen) for p in self.parts])

    def deterministic_sample(self) -> tf.Tensor:
        """Every part's most likely action, flat ``float32 [B, D]``."""
        return self._flat([p.deterministic_sample() for p in self.parts])


def make_dist(spec: Any, inputs: tf.Tensor) -> ActionDistribution:
    """The distribution of an :class:`~rlcore.models.ActionDistSpec` over ``inputs``."""
    kind = spec.kind
    params = getattr(spec, "params", {}) or {}
    shape = tuple(params.get("action_shape", getattr(spec, "action_shape", ()))) or None
    if kind == "categorical":
        return Categorical(inputs)
    if kind == "multi_categorical":
        lens = params.get("input_lens") or params.get("nvec")
        if lens is None:
            raise ConfigError("a multi_categorical ActionDistSpec needs params['input_lens']")
        flat_lens = tf.nest.flatten(list(lens))
        return MultiCategorical(inputs, flat_lens, shape)
    if kind == "diag_gaussian":
        return DiagGaussian(inputs, shape)
    if kind == "deterministic":
        return Deterministic(inputs, shape)
    if kind == "composite":
        return Composite(inputs, spec)
    raise ConfigError(
        f"unknown action distribution kind {kind!r}; expected categorical, multi_categorical, "
        "diag_gaussian, deterministic or composite"
    )
