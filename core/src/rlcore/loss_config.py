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

#: DQN's loss and acting (Huber TD loss, double Q, dueling head, n-step targets, epsilon-greedy).
DQN_LOSS_DEFAULTS: dict[str, Any] = {
    "lr": 5e-4,
    "lr_schedule": None,
    "adam_epsilon": 1e-8,
    # Hidden ReLU layers of the Q head (after the model's fcnet_hiddens trunk).
    "hiddens": [256],
    "dueling": True,
    "double_q": True,
    "n_step": 1,
    # Global-norm clip of the gradients (None: off).
    "grad_clip": 40.0,
    # Huber loss threshold on the TD error.
    "huber_delta": 1.0,
    # Epsilon-greedy: linear from initial to final over exploration_timesteps sampled steps.
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.02,
    "exploration_timesteps": 10000,
    "num_cpu_threads": 1,
}

#: Batch columns DQN's loss reads (``weights`` are the prioritized-replay importance weights).
DQN_LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.REWARDS,
    sb.NEXT_OBS,
    sb.TERMINATEDS,
    "discounts",
    sb.WEIGHTS,
)

#: The keys of a DQN evaluator's learner info; ``td_error`` (an array, one per row) comes besides.
DQN_INFO_KEYS: tuple[str, ...] = ("loss", "mean_q", "mean_td_error", "grad_norm")
