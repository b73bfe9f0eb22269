"""Differentiable action distributions in PyTorch, for losses.

Acting (sampling actions and their log-probabilities during rollouts) happens in numpy in the
core (:mod:`rlcore.action_dist`); these classes compute the same quantities as differentiable
tensors: ``logp(actions)``, ``entropy()``, ``kl(other)``, plus ``sample()`` and
``deterministic_sample()``. Inputs follow :class:`rlcore.models.ActionDistSpec`: logits for
``categorical``, the concatenated logits of each sub-action for ``multi_categorical``, mean then
log std for ``diag_gaussian``, the actions themselves for ``deterministic`` and the parts'
inputs concatenated for ``composite`` (Tuple and Dict action spaces, :class:`Composite`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rlcore.errors import ConfigError
from rlcore.models.catalog import DIST_KINDS, ActionDistSpec

__all__ = [
    "ActionDistribution",
    "Categorical",
    "Composite",
    "Deterministic",
    "DiagGaussian",
    "MultiCategorical",
    "make_dist",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)


class ActionDistribution:
    """A batch of distributions parametrized by ``inputs [B, num_inputs]``.

    ``action_shape`` is the shape of one action (``sample()`` returns ``[B, *action_shape]``).
    """

    def __init__(self, inputs: Tensor, action_shape: Sequence[int] = ()) -> None:
        self.inputs = inputs
        self.action_shape = tuple(int(d) for d in action_shape)

    def logp(self, actions: Tensor) -> Tensor:
        """Log-probability (density) of ``actions`` ``[B, *action_shape]``, shape ``[B]``."""
        raise NotImplementedError

    def entropy(self) -> Tensor:
        """Entropy of each distribution, ``[B]``."""
        raise NotImplementedError

    def kl(self, other: ActionDistribution) -> Tensor:
        """``KL(self || other)`` per row, ``[B]`` (``other`` of the same kind and shape)."""
        raise NotImplementedError

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """A random action per row, ``[B, *action_shape]``."""
        raise NotImplementedError

    def deterministic_sample(self) -> Tensor:
        """The most likely action per row (argmax / mean), ``[B, *action_shape]``."""
        raise NotImplementedError

    def _check_other(self, other: ActionDistribution) -> None:
        if type(other) is not type(self):
            raise TypeError(f"KL between {type(self).__name__} and {type(other).__name__} is not defined")


class Categorical(ActionDistribution):
    """Categorical over ``n`` actions from logits ``[B, n]``; actions are indices ``[B]``."""

    def __init__(self, inputs: Tensor, action_shape: Sequence[int] = ()) -> None:
        super().__init__(inputs, action_shape)
        self.log_probs = F.log_softmax(inputs, dim=-1)

    def logp(self, actions: Tensor) -> Tensor:
        """``log softmax(logits)[action]``."""
        index = actions.reshape(-1, 1)
        if index.dtype != torch.int64:
            index = index.long()
        return self.log_probs.gather(1, index).reshape(-1)

    def entropy(self) -> Tensor:
        """``-sum p log p``."""
        return -(self.log_probs.exp() * self.log_probs).sum(-1)

    def kl(self, other: ActionDistribution) -> Tensor:
        """``sum p (log p - log q)``."""
        self._check_other(other)
        assert isinstance(other, Categorical)
        return (self.log_probs.exp() * (self.log_probs - other.log_probs)).sum(-1)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """Indices drawn from ``softmax(logits)``."""
        return torch.multinomial(self.log_probs.exp(), 1, generator=generator).reshape(-1)

    def deterministic_sample(self) -> Tensor:
        """``argmax(logits)``."""
        return self.inputs.argmax(dim=-1)


class MultiCategorical(ActionDistribution):
    """Independent categoricals, one per sub-action; inputs are their logits concatenated.

    ``input_lens`` gives each sub-action's number of choices; actions are ``[B, *action_shape]``
    integer indices (``prod(action_shape) == len(input_lens)``).
    """

    def __init__(self, inputs: Tensor, input_lens: Sequence[int], action_shape: Sequence[int] | None = None) -> None:
        lens = [int(n) for n in input_lens]
        super().__init__(inputs, (len(lens),) if action_shape is None else action_shape)
        if sum(lens) != inputs.shape[-1]:
            raise ConfigError(f"MultiCategorical input_lens {lens} sum to {sum(lens)}, inputs have {inputs.shape[-1]}")
        self.input_lens = lens
        self.cats = [Categorical(x) for x in torch.split(inputs, lens, dim=-1)]

    def logp(self, actions: Tensor) -> Tensor:
        """Sum of the sub-actions' log-probabilities."""
        flat = actions.reshape(actions.shape[0], -1)
        return torch.stack([c.logp(flat[:, i]) for i, c in enumerate(self.cats)], dim=1).sum(1)

    def entropy(self) -> Tensor:
        """Sum of the sub-distributions' entropies."""
        return torch.stack([c.entropy() for c in self.cats], dim=1).sum(1)

    def kl(self, other: ActionDistribution) -> Tensor:
        """Sum of the sub-distributions' KL divergences."""
        self._check_other(other)
        assert isinstance(other, MultiCategorical)
        return torch.stack([c.kl(o) for c, o in zip(self.cats, other.cats, strict=True)], dim=1).sum(1)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """One index per sub-action, ``[B, *action_shape]``."""
        return self._shape(torch.stack([c.sample(generator) for c in self.cats], dim=1))

    def deterministic_sample(self) -> Tensor:
        """The argmax of every sub-action."""
        return self._shape(torch.stack([c.deterministic_sample() for c in self.cats], dim=1))

    def _shape(self, flat: Tensor) -> Tensor:
        return flat.reshape(flat.shape[0], *self.action_shape)


class DiagGaussian(ActionDistribution):
    """Diagonal Gaussian from ``[B, 2 * d]`` inputs: the mean, then the log standard deviation."""

    def __init__(self, inputs: Tensor, action_shape: Sequence[int] | None = None) -> None:
        d = inputs.shape[-1] // 2
        super().__init__(inputs, (d,) if action_shape is None else action_shape)
        self.mean, self.log_std = inputs[:, :d], inputs[:, d:]
        self.std = self.log_std.exp()

    def logp(self, actions: Tensor) -> Tensor:
        """Log-density summed over the action dimensions."""
        z = (actions.reshape(self.mean.shape) - self.mean) / self.std
        d = self.mean.shape[-1]
        return -0.5 * z.square().sum(-1) - self.log_std.sum(-1) - _HALF_LOG_2PI * d

    def entropy(self) -> Tensor:
        """``sum(log_std + 0.5 * log(2 pi e))``."""
        return self.log_std.sum(-1) + _HALF_LOG_2PI_E * self.mean.shape[-1]

    def kl(self, other: ActionDistribution) -> Tensor:
        """Closed-form KL of two diagonal Gaussians."""
        self._check_other(other)
        assert isinstance(other, DiagGaussian)
        var_ratio_num = self.std.square() + (self.mean - other.mean).square()
        return (other.log_std - self.log_std + var_ratio_num / (2.0 * other.std.square()) - 0.5).sum(-1)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """``mean + std * N(0, 1)``."""
        noise = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return (self.mean + self.std * noise).reshape(self.mean.shape[0], *self.action_shape)

    def deterministic_sample(self) -> Tensor:
        """The mean."""
        return self.mean.reshape(self.mean.shape[0], *self.action_shape)


class Deterministic(ActionDistribution):
    """A point mass on the inputs (the actions themselves): logp, entropy and KL are zero."""

    def __init__(self, inputs: Tensor, action_shape: Sequence[int] | None = None) -> None:
        super().__init__(inputs, (inputs.shape[-1],) if action_shape is None else action_shape)

    def logp(self, actions: Tensor) -> Tensor:
        """Zeros (the log-density of a point mass is taken as 0, as in the core)."""
        return self.inputs.new_zeros(self.inputs.shape[0])

    def entropy(self) -> Tensor:
        """Zeros."""
        return self.inputs.new_zeros(self.inputs.shape[0])

    def kl(self, other: ActionDistribution) -> Tensor:
        """Zeros."""
        self._check_other(other)
        return self.inputs.new_zeros(self.inputs.shape[0])

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """The inputs."""
        return self.deterministic_sample()

    def deterministic_sample(self) -> Tensor:
        """The inputs."""
        return self.inputs.reshape(self.inputs.shape[0], *self.action_shape)


class Composite(ActionDistribution):
    """The distribution of a Tuple/Dict action space: independent parts, one per leaf of the
    composite :class:`~rlcore.models.ActionDistSpec`, each on its slice of the inputs (the slices
    come from the spec: the core computes them once). Actions are flat ``[B, D]`` (each part's flat
    action concatenated, Discrete parts as their index); ``logp``, ``entropy`` and ``kl`` are the
    sums of the parts'."""

    def __init__(self, inputs: Tensor, spec: ActionDistSpec | Any) -> None:
        super().__init__(inputs, tuple(spec.action_shape))
        params = spec.params
        self.action_slices = [(int(a), int(b)) for a, b in params["action_slices"]]
        self.parts = [
            make_dist(c, inputs[:, a:b]) for c, (a, b) in zip(params["children"], params["input_slices"], strict=True)
        ]

    def _split(self, actions: Tensor) -> list[Tensor]:
        flat = actions.reshape(actions.shape[0], -1)
        return [flat[:, a:b] for a, b in self.action_slices]

    def logp(self, actions: Tensor) -> Tensor:
        """Sum of the parts' log-probabilities."""
        return torch.stack([p.logp(a) for p, a in zip(self.parts, self._split(actions), strict=True)], 1).sum(1)

    def entropy(self) -> Tensor:
        """Sum of the parts' entropies."""
        return torch.stack([p.entropy() for p in self.parts], 1).sum(1)

    def kl(self, other: ActionDistribution) -> Tensor:
        """Sum of the parts' KL divergences."""
        self._check_other(other)
        assert isinstance(other, Composite)
        return torch.stack([p.kl(o) for p, o in zip(self.parts, other.parts, strict=True)], 1).sum(1)

    def _flat(self, parts: list[Tensor]) -> Tensor:
        return torch.cat([x.reshape(x.shape[0], -1).to(self.inputs.dtype) for x in parts], dim=1)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """Every part sampled, flat ``[B, D]``."""
        return self._flat([p.sample(generator) for p in self.parts])

    def deterministic_sample(self) -> Tensor:
        """Every part's most likely action, flat ``[B, D]``."""
        return self._flat([p.deterministic_sample() for p in self.parts])


def make_dist(spec: ActionDistSpec | Any, inputs: Tensor) -> ActionDistribution:
    """The distribution of ``spec.kind`` (an :class:`~rlcore.models.ActionDistSpec`) for ``inputs``."""
    kind = spec.kind
    params = spec.params
    shape = tuple(params.get("action_shape", ()))
    if kind == "categorical":
        return Categorical(inputs, shape)
    if kind == "multi_categorical":
        lens = params.get("input_lens") or params.get("nvec")
        if lens is None:
            raise ConfigError("a multi_categorical ActionDistSpec needs params['input_lens'] (or 'nvec')")
        return MultiCategorical(inputs, [int(n) for n in np.ravel(lens)], shape or None)
    if kind == "diag_gaussian":
        return DiagGaussian(inputs, shape or None)
    if kind == "deterministic":
        return Deterministic(inputs, shape or None)
    if kind == "composite":
        return Composite(inputs, spec)
    raise ConfigError(f"unknown action distribution kind {kind!r}; expected one of {DIST_KINDS}")
