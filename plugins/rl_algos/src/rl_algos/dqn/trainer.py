"""DQN's trainer: Deep Q-Networks (Mnih et al. 2015) with double Q, dueling heads, n-step targets and
prioritized replay (the 2018 RLlib Rainbow-lite defaults).

The rollout evaluator acts with the framework's DQN policy (epsilon-greedy) and turns fragments
into n-step transitions (:mod:`rl_algos.dqn.postprocessing`); the ``LocalSyncReplayOptimizer``
stores and replays them; this trainer anneals epsilon (sent to every evaluator as a global var)
and copies the online network into the target network every ``target_network_update_freq``
sampled steps.
"""

from __future__ import annotations

from typing import Any

from rl_algos.dqn.config import DEFAULT_CONFIG, SCHEMA
from rlcore.errors import UnsupportedOperationError
from rlcore.schedules import PiecewiseSchedule
from rlcore.trainer import Trainer


class DQN(Trainer):
    """DQN: off-policy Q-learning from a replay buffer with a periodically updated target network."""

    name = "DQN"
    config_schema = SCHEMA
    default_config = DEFAULT_CONFIG
    postprocessing = "rl_algos.dqn.postprocessing:postprocess_dqn"
    reference_loss = "rl_algos.dqn.reference_loss:dqn_loss"

    def setup(self) -> None:
        """Build the evaluators and the replay optimizer (the schema checked the replay sizes)."""
        cfg = self.config
        self.epsilon_schedule = PiecewiseSchedule(
            [(0, cfg["exploration_initial_eps"]), (cfg["exploration_timesteps"], cfg["exploration_final_eps"])]
        )
        self.epsilon = self.epsilon_schedule.value(0)
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

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """With ``timestep``, also send the annealed ``epsilon`` (linear over ``exploration_timesteps``)."""
        if "timestep" in global_vars:
            self.epsilon = self.epsilon_schedule.value(float(global_vars["timestep"]))
            global_vars = {**global_vars, "epsilon": self.epsilon}
        super().set_global_vars(global_vars)

    def update_target(self) -> None:
        """Copy the local policy's online network into its target network."""
        policy = getattr(self.local_evaluator, "policy", None)
        if policy is None or not hasattr(policy, "update_target"):
            raise UnsupportedOperationError(
                f"DQN updates a target network through its evaluator's policy.update_target(); "
                f"{type(self.local_evaluator).__name__} has no such policy"
            )
        policy.update_target()

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
                self.update_target()
                self.last_target_update = opt.num_steps_sampled
        info = dict(info)
        info["epsilon"] = float(self.epsilon)
        return info

    def extra_state(self) -> dict[str, Any]:
        """When the target network was last updated (in sampled steps)."""
        return {"last_target_update": self.last_target_update}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""
        self.last_target_update = int(state.get("last_target_update", self.last_target_update))
