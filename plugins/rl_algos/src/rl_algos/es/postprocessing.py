"""ES's trajectory postprocessing: none. ES learns from episode returns, which the workers'
``es_rollouts`` sum themselves; ``sample()`` still returns plain rows (the policy kit samples)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlcore.policy import Policy
from rlcore.rollout_evaluator import postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment, flatten_env_major


@postprocessing(needs_next_obs=False)
def postprocess_es(fragment: Fragment, policy: Policy, config: Mapping[str, Any]) -> SampleBatch:
    """The rows of ``fragment`` (its columns and the policy's extras) unchanged, env-major (each env's
    steps contiguous, as every algorithm's postprocessing lays them out); nothing is added."""
    out = {k: flatten_env_major(v) for k, v in fragment.columns.items()}
    out.update({k: flatten_env_major(v) for k, v in fragment.extras.items()})
    return SampleBatch(out)
