"""DQN's trajectory postprocessing in numpy: n-step transitions.

Each sampled step becomes ``(obs, action, R, next_obs, discount)`` with ``R`` the discounted sum of
up to ``n_step`` rewards within the episode (:func:`rlcore.postprocessing.n_step_returns`),
``next_obs`` the observation after the last summed step (the final observation of a truncated
episode, kept by the env runner), and ``discount = gamma ** steps``, or 0 when the episode
terminated within those steps, so the TD target is ``R + discount * Q_target(next_obs)`` (Sutton
and Barto 2018, section 7.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlcore import sample_batch as sb
from rlcore.policy import Policy
from rlcore.postprocessing import n_step_returns
from rlcore.rollout_evaluator import postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment, flatten_env_major

#: The column of the bootstrap factor of each transition (``float32``): a standard column.
DISCOUNTS = sb.DISCOUNTS


@postprocessing(needs_next_obs=True)
def postprocess_dqn(fragment: Fragment, policy: Policy, config: Mapping[str, Any]) -> SampleBatch:
    """n-step transitions of a fragment, flattened env-major.

    Columns: ``obs``, ``actions``, ``rewards`` (n-step sums, float32), ``next_obs``,
    ``discounts`` (float32), ``weights`` (ones: prioritized replay replaces them), the per-step
    ``terminateds``/``truncateds`` and ``eps_id``. Reads ``gamma`` and ``n_step`` from ``config``.
    """
    cols = fragment.columns
    t_len, n_envs = fragment.shape
    gamma, n = float(config["gamma"]), int(config["n_step"])
    rewards, steps, term_n = n_step_returns(cols[sb.REWARDS], cols[sb.TERMINATEDS], cols[sb.TRUNCATEDS], gamma, n)
    assert fragment.next_obs is not None, "postprocess_dqn needs the runner to keep next_obs"
    last = np.arange(t_len)[:, None] + steps - 1
    next_obs = fragment.next_obs[last, np.arange(n_envs)[None, :]]
    out = {
        sb.OBS: cols[sb.OBS],
        sb.ACTIONS: cols[sb.ACTIONS],
        sb.REWARDS: rewards,
        sb.NEXT_OBS: next_obs,
        sb.TERMINATEDS: cols[sb.TERMINATEDS],
        sb.TRUNCATEDS: cols[sb.TRUNCATEDS],
        DISCOUNTS: np.where(term_n, 0.0, gamma**steps).astype(np.float32),
        sb.WEIGHTS: np.ones((t_len, n_envs), np.float32),
        sb.EPS_ID: cols[sb.EPS_ID],
    }
    return SampleBatch({k: flatten_env_major(v) for k, v in out.items()})
