"""A3C's (and A2C's) loss in numpy (float64): the reference a framework's A3C policy is checked against.

It reads only the Policy contract (``compute_actions(obs, explore=False)`` extras for the current
``action_dist_inputs`` and ``vf_preds``; a recurrent batch, with ``seq_lens``, replayed sequence
by sequence from its recorded initial states through :func:`rlcore.sequences.replay_sequences`;
``config``, ``action_space``), so it checks any framework's A3C policy term by term::

    _, info = policy.compute_gradients(batch)
    ref = a3c_loss(policy, batch)
    assert info["loss"] == pytest.approx(ref["loss"], rel=1e-4)

Terms (Mnih et al. 2016; means over rows, where RLlib 2018 summed: :mod:`rl_algos.a3c.config`):
``policy_loss`` = -mean(logp(a) A), ``vf_loss`` = mean((V - V_targ)^2), ``entropy`` = mean(H);
``loss = policy_loss + vf_loss_coeff vf_loss - entropy_coeff entropy``. The log-probabilities and
entropies of every action kind (categorical, multi-categorical, diagonal Gaussian, composite
Tuple/Dict) come from :mod:`rlcore.action_dist`, once for every framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rl_algos.ppo.reference_loss import current_outputs
from rlcore import sample_batch as sb
from rlcore.action_dist import dist_entropy, dist_logp
from rlcore.models import ModelCatalog
from rlcore.sample_batch import SampleBatch

#: The batch columns A3C's loss reads (every A3C policy declares these as its ``loss_columns``).
LOSS_COLUMNS: tuple[str, ...] = (sb.OBS, sb.ACTIONS, sb.ADVANTAGES, sb.VALUE_TARGETS)

#: The action distribution kinds the reference covers (a composite one of their parts).
SUPPORTED_DISTS: tuple[str, ...] = ("categorical", "multi_categorical", "diag_gaussian", "composite")

#: The scalar keys of an A3C policy's learner info, in the order a non-finite one is blamed.
INFO_KEYS: tuple[str, ...] = ("policy_loss", "vf_loss", "entropy", "loss", "grad_norm")


def a3c_loss(policy: Any, batch: SampleBatch) -> dict[str, float]:
    """A3C's loss terms on ``batch`` under ``policy``'s current weights (``policy_loss``,
    ``vf_loss``, ``entropy``, ``loss``; see the module docstring), for categorical,
    multi-categorical, diagonal Gaussian and composite (Tuple/Dict) action distributions.

    Raises ValueError for another kind of action distribution, and what
    :func:`rlcore.sequences.replay_sequences` raises for a recurrent batch whose sequences are broken."""
    cfg = policy.config
    spec = ModelCatalog.get_action_dist(policy.action_space, cfg.get("model"))
    if spec.kind not in SUPPORTED_DISTS:
        raise ValueError(f"the reference A3C loss covers {', '.join(SUPPORTED_DISTS)} policies, not {spec.kind!r}")
    dist_inputs, values = current_outputs(policy, batch)
    logp = dist_logp(spec, dist_inputs, np.asarray(batch[sb.ACTIONS]))
    entropy = dist_entropy(spec, dist_inputs)
    adv = np.asarray(batch[sb.ADVANTAGES], dtype=np.float64)
    targets = np.asarray(batch[sb.VALUE_TARGETS], dtype=np.float64)
    out = {
        "policy_loss": float(-(logp * adv).mean()),
        "vf_loss": float(((values - targets) ** 2).mean()),
        "entropy": float(entropy.mean()),
    }
    out["loss"] = out["policy_loss"] + cfg["vf_loss_coeff"] * out["vf_loss"] - cfg["entropy_coeff"] * out["entropy"]
    return out
