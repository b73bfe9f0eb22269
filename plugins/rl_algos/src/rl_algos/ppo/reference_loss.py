"""PPO's loss in numpy (float64): the reference a framework's PPO policy is checked against.

It reads only the Policy contract (``compute_actions(obs, explore=False)`` extras for the current
``action_dist_inputs`` and ``vf_preds``, ``config``, ``action_space``), so it checks any
framework's policy term by term::

    _, info = policy.compute_gradients(batch)
    ref = ppo_loss(policy, batch)  # the policy's kl_coeff, or pass one
    assert info["loss"] == pytest.approx(ref["loss"], rel=1e-4)

Terms (Schulman et al. 2017): ``policy_loss`` = -mean(min(A r, A clip(r, 1-c, 1+c))),
``vf_loss`` = mean((V - V_targ)^2) (the max with the clipped one when ``vf_clip_param``),
``entropy``, ``kl`` (old to new), ``clip_frac``; ``loss = policy_loss + kl_coeff kl +
vf_loss_coeff vf_loss - entropy_coeff entropy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlcore import sample_batch as sb
from rlcore.action_dist import dist_entropy, dist_kl, dist_logp, gaussian_logp
from rlcore.models import ModelCatalog
from rlcore.sample_batch import SampleBatch

#: The batch columns PPO's loss reads (every PPO policy declares these as its ``loss_columns``).
LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.ACTION_LOGP,
    sb.ACTION_DIST_INPUTS,
    sb.VF_PREDS,
    sb.ADVANTAGES,
    sb.VALUE_TARGETS,
)

#: The scalar keys of a PPO policy's learner info, in the order a non-finite one is blamed.
INFO_KEYS: tuple[str, ...] = ("loss", "policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "grad_norm")


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, numerically stable."""
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def ppo_loss(policy: Any, batch: SampleBatch, kl_coeff: float | None = None) -> dict[str, float]:
    """PPO's loss terms on ``batch`` under ``policy``'s current weights (categorical, diagonal
    Gaussian and composite (Tuple/Dict) action distributions); see the module docstring.
    ``kl_coeff`` defaults to the one the policy uses now (its global var ``kl_coeff``, else ``config["kl_coeff"]``)."""
    cfg = policy.config
    if kl_coeff is None:
        kl_coeff = float(getattr(policy, "global_vars", {}).get("kl_coeff", cfg["kl_coeff"]))
    _, _, extras = policy.compute_actions(np.asarray(batch[sb.OBS]), None, False)
    dist_inputs = np.asarray(extras[sb.ACTION_DIST_INPUTS], dtype=np.float64)
    values = np.asarray(extras[sb.VF_PREDS], dtype=np.float64)
    old = np.asarray(batch[sb.ACTION_DIST_INPUTS], dtype=np.float64)
    acts = batch[sb.ACTIONS]
    kind = ModelCatalog.get_action_dist(policy.action_space, cfg.get("model")).kind
    if kind == "categorical":
        lp, lp_old = log_softmax(dist_inputs), log_softmax(old)
        logp = np.take_along_axis(lp, np.asarray(acts)[:, None], 1)[:, 0]
        entropy = -(np.exp(lp) * lp).sum(-1)
        kl = (np.exp(lp_old) * (lp_old - lp)).sum(-1)
    elif kind == "diag_gaussian":
        d = dist_inputs.shape[1] // 2
        mean, log_std, mean0, log_std0 = dist_inputs[:, :d], dist_inputs[:, d:], old[:, :d], old[:, d:]
        logp = gaussian_logp(np.asarray(acts).reshape(len(acts), -1), mean, log_std)
        entropy = (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1)
        var_ratio = (np.exp(2 * log_std0) + (mean0 - mean) ** 2) / (2 * np.exp(2 * log_std))
        kl = (log_std - log_std0 + var_ratio - 0.5).sum(-1)
    elif kind == "composite":  # Tuple/Dict action spaces: sums over the parts (numpy, in the core)
        spec = ModelCatalog.get_action_dist(policy.action_space, cfg.get("model"))
        logp = dist_logp(spec, dist_inputs, np.asarray(acts))
        entropy = dist_entropy(spec, dist_inputs)
        kl = dist_kl(spec, old, dist_inputs)
    else:
        raise ValueError(
            f"the reference PPO loss covers categorical, diag_gaussian and composite policies, not {kind!r}"
        )
    adv, targets, old_v = batch[sb.ADVANTAGES], batch[sb.VALUE_TARGETS], batch[sb.VF_PREDS]
    ratio = np.exp(logp - batch[sb.ACTION_LOGP])
    c = cfg["clip_param"]
    surrogate = np.minimum(adv * ratio, adv * np.clip(ratio, 1 - c, 1 + c))
    vf_err = (values - targets) ** 2
    if cfg["vf_clip_param"] is not None:
        vc = cfg["vf_clip_param"]
        vf_err = np.maximum(vf_err, (old_v + np.clip(values - old_v, -vc, vc) - targets) ** 2)
    out = {
        "policy_loss": float(-surrogate.mean()),
        "vf_loss": float(vf_err.mean()),
        "entropy": float(entropy.mean()),
        "kl": float(kl.mean()),
        "clip_frac": float(np.mean(np.abs(ratio - 1) > c)),
    }
    out["loss"] = (
        out["policy_loss"]
        + kl_coeff * out["kl"]
        + cfg["vf_loss_coeff"] * out["vf_loss"]
        - cfg["entropy_coeff"] * out["entropy"]
    )
    return out
