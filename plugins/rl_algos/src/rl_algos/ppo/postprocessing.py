"""PPO's trajectory postprocessing in numpy: GAE advantages and value targets.

Generalized advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous Control
Using Generalized Advantage Estimation", eq. 16) over each env's steps of a fragment, with
terminated episodes not bootstrapped and truncated ones (and the fragment's end) bootstrapped
from ``policy.compute_values`` of the final observation (:func:`rlcore.sampling.postprocess_gae`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlcore.policy import Policy
from rlcore.rollout_evaluator import postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment, postprocess_gae


@postprocessing(needs_next_obs=False)
def postprocess_ppo(fragment: Fragment, policy: Policy, config: Mapping[str, Any]) -> SampleBatch:
    """Rows of ``fragment`` (env-major) with ``advantages`` and ``value_targets`` (float32 ``[N]``).

    Reads ``vf_preds`` from the policy's extras, ``gamma`` and ``lambda`` from ``config``.
    """
    return postprocess_gae(
        fragment, policy.compute_values, gamma=float(config["gamma"]), lambda_=float(config["lambda"])
    )
