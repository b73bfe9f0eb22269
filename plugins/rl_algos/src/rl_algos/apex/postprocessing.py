"""Ape-X's trajectory postprocessing in numpy: DQN's n-step transitions, plus each row's initial
replay priority computed on the worker that sampled it.

With ``worker_side_prioritization`` (Horgan et al. 2018, section 3: "the actors compute initial
priorities"), every row gets ``priorities = |TD error| + prioritized_replay_eps`` from the worker's
own copy of the online and target networks (``policy.td_error(batch)``, the DQN policies of both
frameworks have it). The replay shard uses the column as the rows' initial priorities and drops it
before storing; without it, new rows get the shard's current maximum priority (Schaul et al. 2016).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rl_algos.dqn.postprocessing import postprocess_dqn
from rlcore.errors import UnsupportedOperationError
from rlcore.policy import Policy
from rlcore.rollout_evaluator import PolicyOutputError, postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment

#: The column of each row's initial replay priority (float32, ``|td_error| + prioritized_replay_eps``),
#: read and dropped by the ApexOptimizer's replay shards.
PRIORITIES = "priorities"


def worker_priorities(policy: Any, batch: SampleBatch, eps: float) -> np.ndarray:
    """``|policy.td_error(batch)| + eps`` as float32 ``[batch.count]``.

    Raises :class:`~rlcore.errors.UnsupportedOperationError` when the policy has no ``td_error``
    and :class:`~rlcore.rollout_evaluator.PolicyOutputError` when it returns anything but one
    finite number per row (naming the policy and what it returned)."""
    name = f"{type(policy).__module__}.{type(policy).__qualname__}"
    td_error = getattr(policy, "td_error", None)
    if not callable(td_error):
        raise UnsupportedOperationError(
            f"APEX's worker_side_prioritization computes each row's initial priority with policy.td_error(batch); "
            f"{name} has no td_error method: give the policy one (a float32 [B] array of TD errors), or set "
            "worker_side_prioritization: false (new rows then get the replay shard's maximum priority)"
        )
    td = np.asarray(td_error(batch))
    if td.shape != (batch.count,) or not np.issubdtype(td.dtype, np.number):
        raise PolicyOutputError(
            f"policy {name}.td_error returned an array of shape {list(td.shape)} and dtype {td.dtype} for a batch "
            f"of {batch.count} rows; it must return one TD error per row (float32 [{batch.count}])"
        )
    bad = ~np.isfinite(td)
    if bad.any():
        raise PolicyOutputError(
            f"policy {name}.td_error returned {int(bad.sum())} non-finite TD errors (first at row "
            f"{int(np.argmax(bad))}: {float(td[bad][0])!r}) for a batch of {batch.count} rows: the worker's online or "
            "target network gives non-finite Q values (diverged weights, or observations too large)"
        )
    return (np.abs(td.astype(np.float64)) + eps).astype(np.float32)


@postprocessing(needs_next_obs=True)
def postprocess_apex(fragment: Fragment, policy: Policy, config: Mapping[str, Any]) -> SampleBatch:
    """:func:`~rl_algos.dqn.postprocessing.postprocess_dqn`'s n-step transitions, plus the
    :data:`PRIORITIES` column when ``config["worker_side_prioritization"]`` (read with
    ``prioritized_replay_eps``). Raises what :func:`worker_priorities` raises."""
    batch = postprocess_dqn(fragment, policy, config)
    if config.get("worker_side_prioritization"):
        batch[PRIORITIES] = worker_priorities(policy, batch, float(config["prioritized_replay_eps"]))
    return batch
