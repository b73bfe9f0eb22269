"""Adam over one flat buffer: the learning step of small policies costs a few kernels, not dozens.

``torch.optim.Adam`` spends 100-250 µs per step in Python bookkeeping on a small MLP (grouping
tensors, per-parameter state and step tensors), and global-norm clipping takes a norm per
parameter. Here every parameter is a view into one flat tensor and every ``.grad`` a view into
one flat gradient buffer (autograd accumulates into an existing ``.grad`` in place), so zeroing,
the global norm, clipping and the Adam update are one kernel each, whatever the number of layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["FlatAdam"]


class FlatAdam:
    """Adam (``torch.optim.Adam``'s update, no weight decay) on parameters re-pointed into one flat buffer.

    ``FlatAdam(params, lr, eps=1e-8, betas=(0.9, 0.999))`` copies the parameters (float32, all on
    one device) into ``self.flat`` and makes each parameter's ``.data`` a view of its slice and
    its ``.grad`` a view of the same slice of ``self.grad``: the module keeps working unchanged.
    ``exp_avg``, ``exp_avg_sq`` (flat) and ``step_count`` are the optimizer state.
    """

    def __init__(
        self, params: Sequence[nn.Parameter], lr: float, eps: float = 1e-8, betas: tuple[float, float] = (0.9, 0.999)
    ) -> None:
        self.params = list(params)
        self.lr, self.eps, self.betas = float(lr), float(eps), (float(betas[0]), float(betas[1]))
        self.numels = [p.numel() for p in self.params]
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
            for p, view in zip(self.params, self.split(self.flat), strict=True):
                p.data = view
        self.grad = torch.zeros_like(self.flat)
        self._grad_views = self.split(self.grad)
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.step_count = 0
        self.zero_grad()

    def split(self, flat: Tensor) -> list[Tensor]:
        """Views of a flat tensor shaped like each parameter."""
        return [x.view_as(p) for x, p in zip(torch.split(flat, self.numels), self.params, strict=True)]

    def zero_grad(self) -> None:
        """Zero the flat gradient buffer (and re-attach it as the parameters' ``.grad`` if it was replaced)."""
        self.grad.zero_()
        for p, view in zip(self.params, self._grad_views, strict=True):
            if p.grad is not view:
                p.grad = view

    def flat_grad(self) -> Tensor:
        """The flat gradient buffer after a backward pass (gradients set elsewhere are copied in)."""
        for p, view in zip(self.params, self._grad_views, strict=True):
            if p.grad is not view:  # someone set .grad (or None): bring it back into the buffer
                if p.grad is None:
                    view.zero_()
                else:
                    view.copy_(p.grad)
                p.grad = view
        return self.grad

    @staticmethod
    def gather_grads(params: Sequence[nn.Parameter]) -> Tensor:
        """``params``' ``.grad`` concatenated (zeros where there is none), then set to None."""
        grads = [p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel()) for p in params]
        for p in params:
            p.grad = None
        return torch.cat(grads)

    @torch.no_grad()
    def step(self, grad: Tensor) -> None:
        """One Adam update of the flat parameters with the flat gradient ``grad``."""
        self.step_count += 1
        beta1, beta2 = self.betas
        self.exp_avg.lerp_(grad, 1.0 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        # torch's m_hat / (sqrt(v_hat) + eps) with the bias corrections folded into two scalars
        bias_correction1 = 1.0 - beta1**self.step_count
        bias_correction2_sqrt = math.sqrt(1.0 - beta2**self.step_count)
        denom = self.exp_avg_sq.sqrt().add_(self.eps * bias_correction2_sqrt)
        self.flat.addcdiv_(self.exp_avg, denom, value=-self.lr * bias_correction2_sqrt / bias_correction1)
