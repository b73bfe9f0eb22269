"""PPO's loss in numpy (float64): the reference a framework's PPO policy is checked against.

It reads only the Policy contract (``compute_actions(obs, explore=False)`` extras for the current
``action_dist_inputs`` and ``vf_preds``, ``config``, ``action_space``; a recurrent batch, with
``seq_lens``, is replayed sequence by sequence from its recorded initial states through
:func:`rlcore.sequences.replay_sequences`), so it checks any framework's policy term by term::

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
from rlcore.action_dist import dist_entropy, dist_kl, dist_logp
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

#: The action distribution kinds the reference covers (a composite one of their parts).
SUPPORTED_DISTS: tuple[str, ...] = ("categorical", "multi_categorical", "diag_gaussian", "composite")

#: The scalar keys of a PPO policy's learner info, in the order a non-finite one is blamed.
INFO_KEYS: tuple[str, ...] = ("loss", "policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "grad_norm")


def current_outputs(policy: Any, batch: SampleBatch) -> tuple[np.ndarray, np.ndarray]:
    """``(action_dist_inputs, vf_preds)`` of every row of ``batch`` under ``policy``'s current weights
    (float64, row-aligned): one ``compute_actions(obs, None, explore=False)`` call for a plain batch;
    for a recurrent one (a ``seq_lens`` column) each sequence is stepped from its recorded initial
    state (:func:`rlcore.sequences.replay_sequences`), as the policy's own loss unrolls it."""
    if sb.SEQ_LENS in batch:
        from rlcore.sequences import replay_sequences

        out = replay_sequences(policy, batch)
        dist_inputs, values = out[sb.ACTION_DIST_INPUTS], out[sb.VF_PREDS]
    else:
        _, _, extras = policy.compute_actions(np.asarray(batch[sb.OBS]), None, False)
        dist_inputs, values = extras[sb.ACTION_DIST_INPUTS], extras[sb.VF_PREDS]
    return np.asarray(dist_inputs, dtype=np.float64), np.asarray(values, dtype=np.float64).reshape(-1)


def ppo_loss(policy: Any, batch: SampleBatch, kl_coeff: float | None = None) -> dict[str, float]:
    """PPO's loss terms on ``batch`` under ``policy``'s current weights (categorical, multi-categorical,
    diagonal Gaussian and composite (Tuple/Dict) action distributions); see the module docstring.
    Raises ValueError for another kind of action distribution.
    ``kl_coeff`` defaults to the one the policy uses now (its global var ``kl_coeff``, else ``config["kl_coeff"]``)."""
    cfg = policy.config
    if kl_coeff is None:
        kl_coeff = float(getattr(policy, "global_vars", {}).get("kl_coeff", cfg["kl_coeff"]))
    dist_inputs, values = current_outputs(policy, batch)
    old = np.asarray(batch[sb.ACTION_DIST_INPUTS], dtype=np.float64)
    acts = batch[sb.ACTIONS]
    spec = ModelCatalog.get_action_dist(policy.action_space, cfg.get("model"))
    if spec.kind not in SUPPORTED_DISTS:
        raise ValueError(f"the reference PPO loss covers {', '.join(SUPPORTED_DISTS)} policies, not {spec.kind!r}")
    # the terms of the action distribution, in numpy once for every framework (rlcore.action_dist)
    logp = dist_logp(spec, dist_inputs, np.asarray(acts))
    entropy = dist_entropy(spec, dist_inputs)
    kl = dist_kl(spec, old, dist_inputs)
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
