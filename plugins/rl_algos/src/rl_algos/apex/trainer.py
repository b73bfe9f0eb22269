"""Ape-X's trainer (Horgan et al. 2018): DQN's policies and loss on a distributed prioritized replay.

``num_workers`` remote workers sample with their own fixed epsilons (:func:`~rl_algos.apex.config.
per_worker_epsilons`), compute each new row's initial priority (:mod:`rl_algos.apex.postprocessing`)
and push their batches straight to the replay shards; the local evaluator learns from the shards in
a background thread. All of that is rl_optimizers' ``ApexOptimizer``; this trainer sets it up,
hands it each worker's epsilon through its generic ``per_worker_vars``, copies the online network
into the target network every ``target_network_update_freq`` *trained* steps (on the learner, under
its lock) and sends the new target network to the workers, whose TD errors need it.

``episode_reward_mean`` and the other episode metrics count the least exploring third of the
workers (with ``per_worker_exploration``; RLlib 2018's choice), whose epsilons are the smallest.

The replay shards' contents are not saved in checkpoints (as DQN's buffer): a restored run refills
``learning_starts`` before it learns again.
"""

from __future__ import annotations

import warnings
from typing import Any

from rl_algos.apex.config import DEFAULT_CONFIG, DQN_ONLY_KEYS, SCHEMA, metrics_workers, per_worker_epsilons
from rl_algos.dqn.trainer import DQN
from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.schedules import PiecewiseSchedule
from rlcore.trainer import Trainer

#: DQN's annealed-epsilon keys (and their RLlib 2018 names), which per_worker_exploration replaces.
ANNEALED_EPSILON_KEYS: tuple[str, ...] = (
    "exploration_initial_eps",
    "exploration_final_eps",
    "exploration_timesteps",
    "exploration_fraction",
    "schedule_max_timesteps",
)


class AnnealedEpsilonIgnoredWarning(UserWarning):
    """DQN's annealed-epsilon keys given to APEX with ``per_worker_exploration`` on: no effect."""


#: The ApexOptimizer's settings, taken from the APEX config as they are.
OPTIMIZER_KEYS: tuple[str, ...] = (
    "num_replay_buffer_shards",
    "buffer_size",
    "learning_starts",
    "train_batch_size",
    "prioritized_replay_alpha",
    "prioritized_replay_beta",
    "prioritized_replay_eps",
    "max_weight_sync_delay",
    "min_train_to_sample_ratio",
    "sample_queue_depth",
    "replay_queue_depth",
    "learner_queue_size",
    "learner_thread",
    "worker_side_prioritization",
    "max_shard_restarts",
    "seed",
    "debug",
)


def _update_target(evaluator: PolicyEvaluator) -> Any:
    """On the learner: copy the online network into the target network; the weights copied."""
    policy = getattr(evaluator, "policy", None)
    if policy is None or not hasattr(policy, "update_target"):
        raise UnsupportedOperationError(
            f"APEX updates a target network through its evaluator's policy.update_target(); "
            f"{type(evaluator).__name__} has no such policy"
        )
    policy.update_target()
    return evaluator.get_weights()


def _target_weights(evaluator: PolicyEvaluator) -> Any:
    """On the learner: its target network's weights (the policy state's ``"target"``)."""
    return evaluator.policy.get_state()["target"]  # type: ignore[attr-defined]


def _set_target(evaluator: PolicyEvaluator, weights: Any) -> None:
    """On a worker: load ``weights`` into its policy's target network (for its TD errors)."""
    evaluator.policy.set_extra_state({"target": weights})  # type: ignore[attr-defined]


class APEX(DQN):
    """Ape-X DQN: many workers with their own epsilons feed prioritized replay shards; one learner."""

    name = "APEX"
    config_schema = SCHEMA
    default_config = DEFAULT_CONFIG
    postprocessing = "rl_algos.apex.postprocessing:postprocess_apex"
    reference_loss = "rl_algos.dqn.reference_loss:dqn_loss"

    def __init__(self, config: dict[str, Any] | None = None, env: str | None = None) -> None:
        """As :class:`~rlcore.trainer.Trainer`. Raises :class:`~rlcore.errors.ConfigError` for a
        DQN-only key (``training_intensity``, ``prioritized_replay: false``: saying what APEX has
        instead), the replay sizes against the shards (``learning_starts`` above what the shards
        hold together, a shard smaller than ``train_batch_size``), ``num_replay_buffer_shards < 1``
        or ``min_train_to_sample_ratio < 0`` (each naming the key); and
        :class:`~rlcore.errors.UnsupportedOperationError` for an env whose action space is not
        Discrete, before any worker starts. Warns (:class:`AnnealedEpsilonIgnoredWarning`) when DQN's
        annealed-epsilon keys are given, other than at their defaults, with ``per_worker_exploration``
        on (they have no effect)."""
        given = config if isinstance(config, dict) else {}
        #: DQN's annealed-epsilon keys given (warned about in setup(), once the config is valid); a
        #: value equal to the default is not (a checkpoint's saved config, restored, holds every key).
        self._annealed_given = [
            k
            for k in ANNEALED_EPSILON_KEYS
            if k in given and not (k in DEFAULT_CONFIG and given[k] == DEFAULT_CONFIG[k])
        ]
        if isinstance(config, dict) and "training_intensity" in config:
            raise ConfigError(
                f"APEX unknown config key 'training_intensity': it is DQN's (replayed rows per sampled row); "
                f"{DQN_ONLY_KEYS['training_intensity']}: give min_train_to_sample_ratio instead, or run DQN"
            )
        super().__init__(config, env)

    # -- setup ------------------------------------------------------------------------------
    replay_holder = "the replay shards"
    replay_may_spread = True  # the shards are Ray actors: on a cluster they spread over its nodes
    refuse_actions_at_construction = True  # before any worker starts

    def setup(self) -> None:
        """Refuse a non-Discrete action space, build the APEX evaluators (the DQN policies of
        ``config["framework"]``) and the ``ApexOptimizer`` with each worker's epsilon, and send
        the learner's target network to the workers (their initial priorities use it)."""
        cfg = self.config
        if cfg["per_worker_exploration"] and self._annealed_given:
            ignored = ", ".join(map(repr, self._annealed_given))
            warnings.warn(
                AnnealedEpsilonIgnoredWarning(
                    f"APEX config {'keys' if len(self._annealed_given) > 1 else 'key'} {ignored} "
                    f"{'have' if len(self._annealed_given) > 1 else 'has'} no effect with per_worker_exploration: "
                    "true (each worker acts with its fixed epsilon exploration_eps ** (1 + i / (num_workers - 1) * "
                    "exploration_alpha)): set exploration_eps and exploration_alpha, or per_worker_exploration: "
                    "false for DQN's annealed epsilon"
                ),
                stacklevel=3,
            )
        self.check_env()
        self.epsilon_schedule = PiecewiseSchedule(
            [(0, cfg["exploration_initial_eps"]), (cfg["exploration_timesteps"], cfg["exploration_final_eps"])]
        )
        n = int(cfg["num_workers"])
        if cfg["per_worker_exploration"]:
            #: ``{worker_index: epsilon}``: 0 the local evaluator, 1..N the remote workers.
            self.worker_epsilons = per_worker_epsilons(n, cfg["exploration_eps"], cfg["exploration_alpha"])
            per_worker_vars: dict[int, dict[str, Any]] | None = {
                i: {"epsilon": e} for i, e in self.worker_epsilons.items()
            }
        else:
            self.worker_epsilons = {}
            per_worker_vars = None
        self.epsilon = self.worker_epsilons.get(0, self.epsilon_schedule.value(0))
        self.build_evaluators("APEX")
        if per_worker_vars is not None:
            self.local_evaluator.set_global_vars(per_worker_vars[0])
        self.build_optimizer(
            "ApexOptimizer", {**{k: cfg[k] for k in OPTIMIZER_KEYS}, "per_worker_vars": per_worker_vars}
        )
        self.last_target_update = 0
        self._worker_failures_seen = 0
        # the workers' target networks are their own (worker-seeded) initial ones: give them the
        # learner's now, or their priorities' TD errors use another network until the first update
        self.update_target()

    # -- training ---------------------------------------------------------------------------
    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """With ``per_worker_exploration``, the values as given (each worker keeps its own epsilon,
        sent by the optimizer); without, DQN's annealed ``epsilon`` added for every worker."""
        if self.config["per_worker_exploration"]:
            Trainer.set_global_vars(self, global_vars)
        else:
            DQN.set_global_vars(self, global_vars)

    def update_target(self) -> None:
        """Copy the online network into the target network on the learner (under its lock), and
        send it to the remote workers when they compute priorities (their TD errors use it)."""
        weights = self.optimizer.run_on_learner(_update_target)  # type: ignore[attr-defined]
        self._send_target(weights)

    def _send_target(self, weights: Any) -> None:
        """Load ``weights`` into every remote worker's target network (when they compute priorities)."""
        self._worker_failures_seen = self.workers.num_failures
        if self.config["worker_side_prioritization"] and self.workers.num_remote:
            self.workers.foreach_worker(_set_target, self.workers.put(weights), local=False)

    def _resend_target_if_recreated(self) -> None:
        """A worker recreated since the last send has its own initial target network: send the
        learner's current one again (to every worker: recreations are rare)."""
        if self.workers.num_failures != self._worker_failures_seen:
            self._send_target(self.optimizer.run_on_learner(_target_weights))  # type: ignore[attr-defined]

    def step(self) -> dict[str, Any]:
        """Optimizer steps until ``timesteps_per_iteration`` steps were sampled; the target network
        is updated every ``target_network_update_freq`` trained steps (and sent again to the workers
        after a worker was recreated). Returns the learner's info
        (``{}`` until the shards reach ``learning_starts``)."""
        opt = self.optimizer
        start = opt.num_steps_sampled
        info: dict[str, Any] = {}
        while opt.num_steps_sampled - start < self.config["timesteps_per_iteration"]:
            info = opt.step() or info
            self._resend_target_if_recreated()
            if opt.num_steps_trained - self.last_target_update >= self.config["target_network_update_freq"]:
                self.update_target()
                self.last_target_update = opt.num_steps_trained
        return dict(info)

    def metrics_workers(self) -> list[int]:
        """The workers whose episodes the episode metrics count (:func:`~rl_algos.apex.config.metrics_workers`)."""
        return metrics_workers(self.workers.num_remote, self.config["per_worker_exploration"])

    def collect_metrics(self) -> list[EpisodeMetrics]:
        """The episodes of :meth:`metrics_workers` finished since the last call (every worker's
        are taken off it, so none pile up)."""
        keep = set(self.metrics_workers())
        parts = self.workers.foreach_worker_with_index("get_metrics")
        return [EpisodeMetrics(*m) for i, part in parts if i in keep for m in part]

    def extra_state(self) -> dict[str, Any]:
        """When the target network was last updated (in trained steps)."""
        return {"last_target_update": self.last_target_update}

    def stop(self) -> None:
        """Stop the optimizer (its learner thread, tasks in flight, replay shards), then the workers."""
        optimizer = getattr(self, "optimizer", None)
        try:
            if optimizer is not None:
                optimizer.stop()
        finally:
            super().stop()
