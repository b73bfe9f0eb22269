"""DQN's trainer: Deep Q-Networks (Mnih et al. 2015) with double Q, dueling heads, n-step targets and
prioritized replay (the 2018 RLlib Rainbow-lite defaults).

The rollout evaluator acts with the framework's DQN policy (epsilon-greedy) and turns fragments
into n-step transitions (:mod:`rl_algos.dqn.postprocessing`); the ``LocalSyncReplayOptimizer``
stores and replays them; this trainer anneals epsilon (sent to every evaluator as a global var)
and copies the online network into the target network every ``target_network_update_freq``
sampled steps.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rl_algos.common import build_env_for_check, close_env
from rl_algos.dqn.config import DEFAULT_CONFIG, SCHEMA
from rlcore.errors import ConfigError, RLCoreError, UnsupportedOperationError
from rlcore.models.layout import physical_memory_bytes
from rlcore.schedules import PiecewiseSchedule
from rlcore.trainer import Trainer


def on_a_ray_cluster() -> bool:
    """Whether this process is joined to a Ray with more than one live node (shards may spread)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return False
    return sum(1 for node in ray.nodes() if node.get("Alive")) > 1


def replay_memory_problem(
    obs_space: Any,
    model_config: Mapping[str, Any],
    buffer_size: int,
    owner: str = "DQN",
    holder: str = "the replay buffer",
    memory: int | None = None,
) -> str | None:
    """Why ``buffer_size`` rows of ``obs_space``'s observations, as the policies see them (the
    catalog's preprocessing and ``framestack``: images become 84x84 float32), cannot fit in
    ``memory`` bytes (default: this machine's physical memory); None when they fit or cannot be
    sized. A row holds obs and next_obs."""
    from rlcore.models.catalog import ModelCatalog

    memory = physical_memory_bytes() if memory is None else memory
    if memory is None:
        return None
    try:
        space = ModelCatalog.get_preprocessor(obs_space, dict(model_config)).observation_space
        obs_bytes = int(np.prod(space.shape)) * np.dtype(space.dtype).itemsize
    except RLCoreError:
        raise  # the catalog's refusal (an observation space of no values): the evaluator would raise it
    except Exception:  # noqa: BLE001 - the evaluator builds the preprocessor next and reports its error
        return None
    row = 2 * obs_bytes + 64  # obs, next_obs, the scalar columns and the priority trees
    need = buffer_size * row
    if need <= memory:
        return None
    gb = 1024**3
    return (
        f"{owner} config key 'buffer_size' ({buffer_size}): {holder} would hold {buffer_size} rows of "
        f"observations {tuple(space.shape)} {np.dtype(space.dtype).name} (obs and next_obs, about {row:,} bytes a "
        f"row), about {need / gb:.1f} GiB, more than this machine's {memory / gb:.1f} GiB of memory: it would "
        f"run out of memory mid-run. Lower buffer_size (at most about {memory // row:,} rows fit; "
        "leave room for the rest), or the observation size (framestack, the image)"
    )


def action_space_problem(space: Any, env: str = "the env", algorithm: str = "APEX") -> str | None:
    """Why ``algorithm`` (DQN, APEX) cannot act in ``space`` of ``env`` (None for a Discrete space)."""
    if getattr(space, "n", None) is not None and getattr(space, "shape", None) == ():
        return None
    return (
        f"{algorithm} needs a Discrete action space (Q-learning picks one of n actions); {env} has {space}. For Box, "
        "MultiDiscrete, Tuple or Dict action spaces use a policy-gradient algorithm: PPO, A3C or A2C "
        "(rlcore train --run PPO)"
    )


class DQN(Trainer):
    """DQN: off-policy Q-learning from a replay buffer with a periodically updated target network."""

    name = "DQN"
    config_schema = SCHEMA
    default_config = DEFAULT_CONFIG
    postprocessing = "rl_algos.dqn.postprocessing:postprocess_dqn"
    reference_loss = "rl_algos.dqn.reference_loss:dqn_loss"

    #: Who holds the replay rows, for the memory check's message.
    replay_holder: ClassVar[str] = "the replay buffer"
    #: Whether the replay rows may live on other machines (then this machine's memory is not the
    #: bound: the memory check is skipped with ``ray_address`` or on a multi-node Ray).
    replay_may_spread: ClassVar[bool] = False
    #: Whether construction refuses a non-Discrete action space here (else the policy refuses it,
    #: in its words; ``rlcore train -f``'s preflight always does).
    refuse_actions_at_construction: ClassVar[bool] = False

    @classmethod
    def _check_env(cls, creator: Any, config: Mapping[str, Any], env_name: Any, actions: bool) -> None:
        """Build one env with ``creator(config["env_config"])`` and close it; raise the creator's own
        :class:`~rlcore.errors.RLCoreError` (a bad ``env_config``),
        :class:`~rlcore.errors.UnsupportedOperationError` for an action space that is not Discrete
        (with ``actions``), and :class:`~rlcore.errors.ConfigError` naming ``buffer_size`` when its
        rows of the env's observations (as the policies see them) cannot fit in this machine's
        memory (see :attr:`replay_may_spread`). An env that fails to build otherwise is left to the
        evaluator, which reports its error."""
        env = build_env_for_check(creator, config)
        if env is None:
            return
        try:
            action_problem = action_space_problem(getattr(env, "action_space", None), f"env {env_name!r}", cls.name)
            memory_problem = None
            spread = cls.replay_may_spread and (config.get("ray_address") or on_a_ray_cluster())
            if not (actions and action_problem is not None) and not spread:
                memory_problem = replay_memory_problem(
                    getattr(env, "observation_space", None),
                    config.get("model") or {},
                    int(config.get("buffer_size") or 0),
                    cls.name,
                    cls.replay_holder,
                )
        finally:
            close_env(env)
        if actions and action_problem is not None:
            raise UnsupportedOperationError(action_problem)
        if memory_problem is not None:
            raise ConfigError(memory_problem)

    @classmethod
    def preflight(cls, config: Mapping[str, Any]) -> None:
        """The checks of a trial's validated ``config`` that need its env (:meth:`_check_env`, the
        action space included), run by ``rlcore train -f`` before Ray starts (a trial would fail
        with the same error)."""
        from rlcore.envs import get_env_creator

        if isinstance(config.get("env"), str):
            cls._check_env(get_env_creator(config["env"]), config, config["env"], actions=True)

    def check_env(self) -> None:
        """:meth:`_check_env` for this trainer's env and config (one env built and closed here)."""
        self._check_env(self.env_creator, self.config, self.env_name, self.refuse_actions_at_construction)

    def setup(self) -> None:
        """Refuse a ``buffer_size`` larger than this machine's memory (:meth:`check_env`),
        build the evaluators and the replay optimizer (the schema checked the replay sizes)."""
        cfg = self.config
        self.epsilon_schedule = PiecewiseSchedule(
            [(0, cfg["exploration_initial_eps"]), (cfg["exploration_timesteps"], cfg["exploration_final_eps"])]
        )
        self.epsilon = self.epsilon_schedule.value(0)
        self.check_env()
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
