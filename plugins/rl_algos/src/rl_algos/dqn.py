"""Deep Q-Networks (Mnih et al. 2015) with double Q, dueling heads, n-step targets and
prioritized replay (the 2018 RLlib Rainbow-lite defaults).

The evaluator of the chosen framework acts epsilon-greedily and computes the Huber TD loss; the
``LocalSyncReplayOptimizer`` stores its n-step transitions and replays them; this trainer
anneals exploration and updates the target network.
"""

from __future__ import annotations

from typing import Any

from rlcore.errors import ConfigError
from rlcore.loss_config import DQN_LOSS_DEFAULTS
from rlcore.trainer import COMMON_CONFIG, Trainer

#: DQN's config: every key with its default. Loss and exploration keys come from ``rlcore.loss_config``.
DEFAULT_CONFIG: dict[str, Any] = {
    **COMMON_CONFIG,
    **DQN_LOSS_DEFAULTS,
    # Env steps per sample() of each evaluator (per env), and per train() iteration at least.
    "rollout_fragment_length": 4,
    "timesteps_per_iteration": 1000,
    # Replay: capacity, steps sampled before learning starts, rows per SGD step, and replayed
    # rows per sampled row (None: one SGD step of train_batch_size per sample() round).
    "buffer_size": 50000,
    "learning_starts": 1000,
    "train_batch_size": 32,
    "training_intensity": None,
    # Proportional prioritized replay (Schaul et al. 2016).
    "prioritized_replay": True,
    "prioritized_replay_alpha": 0.6,
    "prioritized_replay_beta": 0.4,
    "prioritized_replay_eps": 1e-6,
    # Sampled env steps between copies of the online network into the target network.
    "target_network_update_freq": 500,
}


class DQN(Trainer):
    """DQN: off-policy Q-learning from a replay buffer with a periodically updated target network."""

    name = "DQN"
    default_config = DEFAULT_CONFIG

    def setup(self) -> None:
        """Build the evaluators of ``config["framework"]`` and the replay optimizer."""
        cfg = self.config
        if cfg["learning_starts"] > cfg["buffer_size"]:
            raise ConfigError(
                f"learning_starts ({cfg['learning_starts']}) exceeds buffer_size ({cfg['buffer_size']}): "
                "learning would never start. Lower learning_starts or raise buffer_size."
            )
        self.build_evaluators("DQN")
        self.build_optimizer(
            "LocalSyncReplayOptimizer",
            {
                "buffer_size": cfg["buffer_size"],
                "learning_starts": cfg["learning_starts"],
                "train_batch_size": cfg["train_batch_size"],
                "training_intensity": cfg["training_intensity"],
                "prioritized_replay": cfg["prioritized_replay"],
                "prioritized_replay_alpha": cfg["prioritized_replay_alpha"],
                "prioritized_replay_beta": cfg["prioritized_replay_beta"],
                "prioritized_replay_eps": cfg["prioritized_replay_eps"],
                "seed": cfg["seed"],
            },
        )
        self.last_target_update = 0

    def step(self) -> dict[str, Any]:
        """Optimizer rounds until ``timesteps_per_iteration`` steps were sampled; target updates
        every ``target_network_update_freq`` sampled steps; epsilon follows the sampled steps."""
        opt = self.optimizer
        start = opt.num_steps_sampled
        info: dict[str, Any] = {}
        while opt.num_steps_sampled - start < self.config["timesteps_per_iteration"]:
            if opt.num_steps_sampled != start:  # the trainer sent this iteration's first timestep
                self.set_global_vars({"timestep": opt.num_steps_sampled})
            info = opt.step() or info
            if opt.num_steps_sampled - self.last_target_update >= self.config["target_network_update_freq"]:
                self.local_evaluator.update_target()  # type: ignore[attr-defined]
                self.last_target_update = opt.num_steps_sampled
        info = dict(info)
        info["epsilon"] = float(getattr(self.local_evaluator, "epsilon", 0.0))
        return info

    def extra_state(self) -> dict[str, Any]:
        """When the target network was last updated (in sampled steps)."""
        return {"last_target_update": self.last_target_update}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""
        self.last_target_update = int(state.get("last_target_update", self.last_target_update))
