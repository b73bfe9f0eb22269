"""Evolution Strategies (Salimans et al. 2017; RLlib 2018's ES): config schema, shared noise table,
centered ranks and the flat-vector update, the pure-numpy ES policy, workers' rollouts, trainer."""

from rl_algos.es.config import ALIASES_2018, DEFAULT_CONFIG, SCHEMA
from rl_algos.es.noise import NoiseTable, check_noise_size
from rl_algos.es.ranks import SGD, Adam, batched_weighted_sum, compute_centered_ranks, es_gradient
from rl_algos.es.trainer import ES, NoEvaluationEpisodesWarning
from rl_algos.es.worker import es_rollouts

__all__ = [
    "ALIASES_2018",
    "DEFAULT_CONFIG",
    "ES",
    "SCHEMA",
    "SGD",
    "Adam",
    "NoEvaluationEpisodesWarning",
    "NoiseTable",
    "batched_weighted_sum",
    "check_noise_size",
    "compute_centered_ranks",
    "es_gradient",
    "es_rollouts",
]
