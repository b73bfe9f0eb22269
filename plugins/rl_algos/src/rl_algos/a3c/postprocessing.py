"""A3C's (and A2C's) trajectory postprocessing in numpy: GAE advantages and value targets.

The same estimator as PPO's (Schulman et al. 2016, eq. 16, through
:func:`rlcore.sampling.postprocess_gae`) with A3C's ``lambda`` (RLlib 2018 default 1.0:
discounted returns bootstrapped from the value of the fragment's last observation, minus the
value baseline, as Mnih et al. 2016's n-step A3C): terminated episodes are not bootstrapped,
truncated ones and the fragment's end are, from ``policy.compute_values`` of the final observation
(with the recurrent state recorded there, for a recurrent policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlcore.policy import Policy
from rlcore.rollout_evaluator import postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment, postprocess_gae


@postprocessing(needs_next_obs=False)
def postprocess_a3c(fragment: Fragment, policy: Policy, config: Mapping[str, Any]) -> SampleBatch:
    """Rows of ``fragment`` (env-major) with ``advantages`` and ``value_targets`` (float32 ``[N]``).

    Reads ``vf_preds`` from the policy's extras, ``gamma`` and ``lambda`` from ``config``.
    """
    return postprocess_gae(
        fragment, policy.compute_values, gamma=float(config["gamma"]), lambda_=float(config["lambda"])
    )
