"""Loss hyperparameters shared by the evaluators of every framework.

The evaluators of one algorithm in torch and in TensorFlow read the same keys with the same
defaults from here; the algorithm's full default config (rl_algos) includes them.
"""

from __future__ import annotations

from typing import Any

from rlcore import sample_batch as sb

#: PPO's loss (clipped surrogate, clipped value loss, entropy bonus, adaptive KL penalty).
PPO_LOSS_DEFAULTS: dict[str, Any] = {
    "lr": 3e-4,
    # [[timestep, lr], ...]: piecewise-linear learning rate over sampled timesteps (overrides lr).
    "lr_schedule": None,
    "adam_epsilon": 1e-5,
    "clip_param": 0.2,
    "vf_clip_param": None,
    "vf_loss_coeff": 0.5,
    "entropy_coeff": 0.0,
    "kl_coeff": 0.2,
    "grad_clip": None,
    "num_gpus": 0,
    "num_cpu_towers": 1,
    "num_cpu_threads": 1,
}

#: The batch columns PPO's loss reads (in this order: the TF graphs take them as arguments).
PPO_LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.ACTION_LOGP,
    sb.ACTION_DIST_INPUTS,
    sb.VF_PREDS,
    sb.ADVANTAGES,
    sb.VALUE_TARGETS,
)

#: The keys of a PPO evaluator's learner info (``compute_gradients`` / ``learn_on_batch``), in order.
PPO_INFO_KEYS: tuple[str, ...] = ("loss", "policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "grad_norm")
