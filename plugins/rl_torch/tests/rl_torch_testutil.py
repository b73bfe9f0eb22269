"""Helpers shared by rl_torch's policy tests (PPO, A3C: the same actor-critic base)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlcore.rollout_evaluator import RolloutEvaluator
from rlcore.testing.policies import PolicyEvaluatorFactory


def shifted(ev: RolloutEvaluator, scale: float = 0.3, seed: int = 5) -> None:
    """Move the weights away from the ones that sampled (PPO: ratios != 1, so the clips engage)."""
    rng = np.random.default_rng(seed)
    ev.set_weights(
        {k: v + scale * rng.standard_normal(v.shape).astype(np.float32) for k, v in ev.get_weights().items()}
    )


def assert_weights_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float = 1e-5, atol: float = 1e-6):
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=k)


def assert_learn_is_global_norm_clip_then_torch_adam(factory: PolicyEvaluatorFactory) -> None:
    """``learn_on_batch`` equals torch's ``clip_grad_norm_`` then ``torch.optim.Adam`` on the same
    gradients; ``factory`` must be built with ``grad_clip 0.05``, ``adam_epsilon 1.0``, ``lr 0.1``
    (a large eps makes Adam scale-sensitive, so a missing clip shows)."""
    ev = factory(0)
    batch = ev.sample()
    grads, info = ev.compute_gradients(batch)
    assert info["grad_norm"] > 0.05
    ref = {k: torch.nn.Parameter(torch.from_numpy(v)) for k, v in ev.get_weights().items()}
    for k, p in ref.items():
        p.grad = torch.from_numpy(grads[k])
    torch.nn.utils.clip_grad_norm_(list(ref.values()), 0.05)
    torch.optim.Adam(list(ref.values()), lr=0.1, eps=1.0).step()
    learned = ev.learn_on_batch(batch)
    assert learned == pytest.approx(info)
    assert_weights_close(ev.get_weights(), {k: p.detach().numpy() for k, p in ref.items()})
