"""Ape-X's config schema: DQN's keys with Ape-X's defaults, plus the distributed replay's own.

Ape-X (Horgan et al. 2018, "Distributed Prioritized Experience Replay") runs many sampling
workers, each acting epsilon-greedily with its own fixed epsilon, that push their n-step
transitions (with initial priorities computed on the worker) to replay shards; one learner
replays prioritized batches from the shards, learns, and sends the new priorities back. rlcore's
``ApexOptimizer`` (rl_optimizers) is that data plane; this schema is the algorithm's config.

Defaults are RLlib 2018's ``agents/dqn/apex.py`` APEX_DEFAULT_CONFIG (ray 0.5-0.6; the same values
in ray 0.4's ``dqn/apex.py``), which are the paper's where it gives them:

======================================  ===========  ==========================================
key                                     default      source
======================================  ===========  ==========================================
``num_workers``                         32           RLlib 2018 (a 32-core node; paper: 360 actors)
``num_replay_buffer_shards``            4            RLlib 2018 ``optimizer.num_replay_buffer_shards``
``max_weight_sync_delay``               400          RLlib 2018 ``optimizer.max_weight_sync_delay``
                                                     (paper: actors copy weights every 400 frames)
``debug``                               False        RLlib 2018 ``optimizer.debug``
``n_step``                              3            paper (n = 3), RLlib 2018
``buffer_size``                         2000000      paper (2M transitions), RLlib 2018
``learning_starts``                     50000        paper (50000 transitions), RLlib 2018
``train_batch_size``                    512          paper (batch 512), RLlib 2018
``rollout_fragment_length``             50           RLlib 2018 ``sample_batch_size`` 50 (paper: 50)
``target_network_update_freq``          500000       RLlib 2018 (trained steps; paper: every 2500
                                                     learner updates x 512 rows ~ 1.3M)
``timesteps_per_iteration``             25000        RLlib 2018
``per_worker_exploration``              True         RLlib 2018; paper's epsilon_i schedule
``exploration_eps``                     0.4          paper (epsilon = 0.4), hard-coded in RLlib 2018
``exploration_alpha``                   7.0          paper (alpha = 7), hard-coded in RLlib 2018
``worker_side_prioritization``          True         RLlib 2018; paper (actors compute priorities)
``prioritized_replay_alpha``            0.6          paper (alpha = 0.6), RLlib 2018 (DQN's)
``prioritized_replay_beta``             0.4          paper (beta = 0.4), RLlib 2018 (DQN's)
``min_train_to_sample_ratio``           0.0          rlcore (0: learn as fast as possible, as 2018)
``sample_queue_depth``                  2            RLlib 2018 SAMPLE_QUEUE_DEPTH
``replay_queue_depth``                  4            RLlib 2018 REPLAY_QUEUE_DEPTH
``learner_queue_size``                  16           RLlib 2018 LEARNER_QUEUE_MAX_SIZE
``learner_thread``                      True         RLlib 2018 (the learner is a thread)
``max_shard_restarts``                  3            rlcore (as max_worker_restarts)
======================================  ===========  ==========================================

RLlib 2018's ``num_gpus: 1`` and ``min_iter_time_s: 30`` have no counterpart: rlcore's learner runs
on the CPU (``num_gpus: 0`` is accepted) and an APEX iteration is ``timesteps_per_iteration``
sampled steps (30 is accepted with a no-effect line). DQN's ``training_intensity`` is APEX's
``min_train_to_sample_ratio``, and Ape-X always replays by priority (``prioritized_replay: true``
accepted).

**Per-worker epsilon** (paper, section 4): remote worker ``i`` (``worker_index`` ``i + 1``, ``0 <= i
< N = num_workers``) acts with ``exploration_eps ** (1 + i / (N - 1) * exploration_alpha)``
(``N = 1``: ``exploration_eps``), fixed for the whole run; the local evaluator (the learner) acts
greedily. Embedded (``num_workers: 0``) the local evaluator samples, with ``exploration_eps``.
The episode metrics (``episode_reward_mean``...) count the least exploring third of the remote
workers, as RLlib 2018's Ape-X did (:func:`metrics_workers`).
With ``per_worker_exploration: false`` every worker anneals DQN's epsilon instead
(``exploration_initial_eps`` -> ``exploration_final_eps`` over ``exploration_timesteps``,
updated once per iteration).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from rl_algos.dqn.config import ALIASES_2018 as DQN_ALIASES_2018
from rl_algos.dqn.config import SCHEMA as DQN_SCHEMA
from rlcore.config_aliases import Alias, expand_keys
from rlcore.config_schema import Field, Schema

#: DQN's keys APEX does not have (its ApexOptimizer replays by priority from the shards, paced by
#: ``min_train_to_sample_ratio``), each with what to use instead.
DQN_ONLY_KEYS: dict[str, str] = {
    "training_intensity": "APEX paces the learner with min_train_to_sample_ratio (trained rows per sampled row)",
    "prioritized_replay": "APEX's replay shards always replay by priority",
}

#: The keys of RLlib 2018's ``optimizer`` mapping for Ape-X (AsyncReplayOptimizer kwargs), each a
#: top-level key today.
OPTIMIZER_2018_KEYS: tuple[str, ...] = ("max_weight_sync_delay", "num_replay_buffer_shards", "debug")


def _shards_fit(c: Mapping[str, Any]) -> str | None:
    """The replay sizes against the shards: learning can start, and each shard can replay a batch."""
    shards, size = c["num_replay_buffer_shards"], c["buffer_size"]
    if c["learning_starts"] > size:
        return (
            f"learning_starts ({c['learning_starts']}) exceeds what the {shards} replay shards hold together "
            f"(buffer_size {size}): learning would never start. Lower learning_starts or raise buffer_size."
        )
    if size // shards < c["train_batch_size"]:
        return (
            f"each of the {shards} replay shards holds buffer_size // num_replay_buffer_shards = {size // shards} "
            f"rows, fewer than train_batch_size ({c['train_batch_size']}): a shard could never replay a batch. "
            "Raise buffer_size, or lower train_batch_size or num_replay_buffer_shards."
        )
    return None


_OPTIMIZER_NOTE = (
    "RLlib 2018's AsyncReplayOptimizer settings: {max_weight_sync_delay, num_replay_buffer_shards, debug} "
    "are top-level keys today"
)

#: RLlib 2018 names of APEX's keys: DQN's, where the Ape-X keys (``per_worker_exploration``,
#: ``worker_side_prioritization``) are real keys, plus Ape-X's ``optimizer`` mapping.
ALIASES_2018: dict[str, Alias] = {
    **{k: a for k, a in DQN_ALIASES_2018.items() if k not in ("per_worker_exploration", "worker_side_prioritization")},
    "optimizer": Alias(
        None,
        _OPTIMIZER_NOTE,
        expand=expand_keys(OPTIMIZER_2018_KEYS),
    ),
    "optimizer_class": Alias(
        None,
        "rlcore's APEX uses its ApexOptimizer; remove the key",
        no_effect=("AsyncReplayOptimizer", "ApexOptimizer"),
    ),
    "gpu": Alias(None, "rlcore's APEX learns on the CPU (ray 0.4's gpu: true); remove the key", no_effect=(False,)),
    "async_updates": Alias(
        None, "rlcore's APEX learns on its learner thread from the replay shards; remove the key", no_effect=(False,)
    ),
    "multi_gpu_optimize": Alias(None, "rlcore's APEX learns on the CPU; remove the key", no_effect=(False,)),
    "num_gpus": Alias(
        None,
        "RLlib 2018's Ape-X learned on 1 GPU by default; rlcore's APEX learner thread runs on the CPU: remove the key",
        no_effect=(0,),
    ),
    "min_iter_time_s": Alias(
        None,
        "an rlcore APEX iteration is timesteps_per_iteration sampled steps, not a minimum time; remove the key",
        no_effect=(0, 1, 30),
    ),
    "prioritized_replay": Alias(None, DQN_ONLY_KEYS["prioritized_replay"] + "; remove the key", no_effect=(True,)),
    "sgd_batch_size": Alias(
        None,
        "ray 0.4 split each replayed train_batch_size into minibatches of this size; rlcore's APEX learner takes "
        "one SGD step per replayed batch of train_batch_size rows; remove the key",
    ),
    "num_sgd_iter": Alias(
        None,
        "ray 0.4 DQN read it in multi-GPU mode only; APEX paces its learner with min_train_to_sample_ratio",
        no_effect=(1,),
    ),
}

_DQN_FIELDS = {k: f for k, f in DQN_SCHEMA.fields.items() if k not in DQN_ONLY_KEYS}
_D = DQN_SCHEMA.fields

#: Ape-X's fields: DQN's with Ape-X's defaults, and the distributed replay's own.
_APEX_FIELDS: dict[str, Field] = {
    "num_workers": replace(
        _D["num_workers"],
        default=32,
        doc="remote sampling workers (Ray actors), each with its own epsilon (RLlib 2018: 32, for a 32-core "
        "node; use about one per core); 0: embedded, the local evaluator samples and learns in turn",
    ),
    "n_step": replace(_D["n_step"], default=3),
    "buffer_size": replace(
        _D["buffer_size"],
        default=2_000_000,
        doc="replay capacity over all shards together (transitions; each shard holds buffer_size // "
        "num_replay_buffer_shards, the remainder in shard 0)",
    ),
    "learning_starts": replace(
        _D["learning_starts"],
        default=50_000,
        doc="transitions in the shards together before learning starts (each shard replays once it holds "
        "its share, learning_starts // num_replay_buffer_shards)",
    ),
    "train_batch_size": replace(
        _D["train_batch_size"], default=512, doc="rows per learner update, replayed from one shard"
    ),
    "rollout_fragment_length": replace(
        _D["rollout_fragment_length"],
        default=50,
        doc="env steps per env per sample task (each task's batch goes to one replay shard)",
    ),
    "target_network_update_freq": replace(
        _D["target_network_update_freq"],
        default=500_000,
        doc="TRAINED steps (replayed rows) between target network copies, pushed to the workers too "
        "(RLlib 2018's Ape-X counted trained steps; DQN counts sampled ones)",
    ),
    "timesteps_per_iteration": replace(_D["timesteps_per_iteration"], default=25_000),
    "num_replay_buffer_shards": Field(
        4, "replay shards (Ray actors, each a prioritized replay buffer; plain objects when embedded)", int, min=1
    ),
    "max_weight_sync_delay": Field(
        400, "a worker's sampled steps between two copies of the learner's weights to it", int, min=1
    ),
    "debug": Field(False, "RLlib 2018's optimizer.debug: accepted, no effect (the stats are in info.optimizer)", bool),
    "per_worker_exploration": Field(
        True,
        "each remote worker i (0-based) acts with the fixed epsilon exploration_eps ** (1 + i / (num_workers - 1) "
        "* exploration_alpha); false: DQN's annealed epsilon on every worker",
        bool,
    ),
    "exploration_eps": Field(0.4, "the per-worker epsilon base (Ape-X paper: 0.4)", float, min=0, max=1),
    "exploration_alpha": Field(
        7.0, "the per-worker epsilon exponent spread (Ape-X paper: 7; 0: every worker exploration_eps)", float, min=0
    ),
    "worker_side_prioritization": Field(
        True,
        "workers compute each new row's initial priority |TD error| + prioritized_replay_eps with their own "
        "networks; false: new rows get the shard's maximum priority",
        bool,
    ),
    "min_train_to_sample_ratio": Field(
        0.0,
        "trained rows per sampled row (after learning_starts) the learner must keep up with: sampling waits while "
        "it lags behind; 0: sample and learn as fast as each can (RLlib 2018)",
        float,
        min=0,
    ),
    "sample_queue_depth": Field(2, "sample tasks in flight per worker", int, min=1),
    "replay_queue_depth": Field(4, "replay calls in flight per shard", int, min=1),
    "learner_queue_size": Field(16, "replayed batches waiting for the learner, at most", int, min=1),
    "learner_thread": Field(
        True, "learn in a background thread of the trainer's process; false: in step(), between the rounds", bool
    ),
    "max_shard_restarts": Field(
        3, "restarts in a row of a replay shard that died, before WorkerCrashedError", int, min=0
    ),
}

#: APEX's config schema (the common keys, DQN's loss, model and exploration keys, Ape-X's own).
_FIELDS = {**_DQN_FIELDS, **_APEX_FIELDS}
SCHEMA: Schema = Schema(
    _FIELDS,
    [_shards_fit],
    {**{k: a for k, a in DQN_SCHEMA.aliases.items() if k not in _FIELDS}, **ALIASES_2018},
)

#: APEX's defaults (``SCHEMA.defaults()``).
DEFAULT_CONFIG = SCHEMA.defaults()


def worker_epsilon(i: int, num_workers: int, eps: float, alpha: float) -> float:
    """The paper's epsilon of remote worker ``i`` (0-based, ``worker_index - 1``) of ``num_workers``:
    ``eps ** (1 + i / (num_workers - 1) * alpha)``; ``eps`` when there is one worker.

    Raises :class:`ValueError` for ``i`` outside ``0 .. num_workers - 1``."""
    if not 0 <= i < num_workers:
        raise ValueError(f"worker {i} is not one of 0 .. {num_workers - 1} (num_workers {num_workers})")
    if num_workers == 1:
        return float(eps)
    return float(eps ** (1.0 + i / (num_workers - 1) * alpha))


def per_worker_epsilons(num_workers: int, eps: float, alpha: float) -> dict[int, float]:
    """``{worker_index: epsilon}`` for the local evaluator (0) and each remote worker (1..N): the
    local one greedy (0.0) when there are remote workers, ``eps`` when it samples itself (N = 0)."""
    out = {0: float(eps) if num_workers == 0 else 0.0}
    out.update({i + 1: worker_epsilon(i, num_workers, eps, alpha) for i in range(num_workers)})
    return out


def metrics_workers(num_remote: int, per_worker_exploration: bool) -> list[int]:
    """The worker indices whose episodes ``episode_reward_mean`` (and the other episode metrics)
    count: with ``per_worker_exploration`` and remote workers, the least exploring third, the last
    ``ceil(N / 3)`` (RLlib 2018's choice: the others act with epsilons up to ``exploration_eps``, which
    hides what the policy learned); else every worker (0: the local evaluator)."""
    if not (per_worker_exploration and num_remote):
        return list(range(num_remote + 1))
    return list(range(num_remote - math.ceil(num_remote / 3) + 1, num_remote + 1))
