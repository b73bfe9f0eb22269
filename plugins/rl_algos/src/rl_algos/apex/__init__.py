"""Ape-X (distributed prioritized replay DQN): config schema, worker-side priorities, trainer."""

from rl_algos.apex.config import DEFAULT_CONFIG, SCHEMA, metrics_workers, per_worker_epsilons, worker_epsilon
from rl_algos.apex.postprocessing import PRIORITIES, postprocess_apex
from rl_algos.apex.trainer import APEX

__all__ = [
    "APEX",
    "DEFAULT_CONFIG",
    "PRIORITIES",
    "SCHEMA",
    "metrics_workers",
    "per_worker_epsilons",
    "postprocess_apex",
    "worker_epsilon",
]
