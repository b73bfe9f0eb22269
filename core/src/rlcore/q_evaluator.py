"""The framework-free half of DQN-family evaluators.

:class:`QSamplingEvaluator` acts epsilon-greedily through a numpy mirror of the Q network
(:class:`~rlcore.models.numpy_forward.NumpyQForward`), anneals epsilon over sampled timesteps,
and turns each sampled fragment into n-step transitions. A framework plugin supplies the Q
network, the TD loss and the target network.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from rlcore import sample_batch as sb
from rlcore.errors import UnsupportedOperationError
from rlcore.loss_config import DQN_LOSS_DEFAULTS
from rlcore.models.layout import Param, q_layout
from rlcore.models.numpy_forward import NumpyQForward
from rlcore.postprocessing import n_step_returns
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import Fragment, flatten_env_major
from rlcore.sampling_evaluator import SamplingEvaluator
from rlcore.schedules import PiecewiseSchedule


class QSamplingEvaluator(SamplingEvaluator):
    """Epsilon-greedy sampling and n-step postprocessing for Q-learning evaluators.

    Reads :data:`~rlcore.loss_config.DQN_LOSS_DEFAULTS` (``hiddens``, ``dueling``, ``n_step``,
    ``exploration_*``...) besides the sampling keys. ``sample()`` returns rows with ``obs``,
    ``actions``, ``rewards`` (n-step discounted sums), ``next_obs`` (the observation after the
    last summed step), ``discounts`` (the factor of the bootstrap term: ``gamma ** steps``, or 0
    when the episode terminated within those steps), ``weights`` (ones; prioritized replay
    replaces them), and the per-step ``terminateds``, ``truncateds`` and ``eps_id``. The TD
    target is ``rewards + discounts * (1 - terminateds) * Q_target(next_obs)``. Only
    ``Discrete`` actions.

    Subclasses implement :meth:`build_model`, :meth:`q_forward`, :meth:`update_target` and the
    learning and weight methods; their weights follow :meth:`q_layout`.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients", "remote"})
    config_defaults: ClassVar[dict[str, Any]] = DQN_LOSS_DEFAULTS

    def __init__(self, env_creator: Callable[[dict[str, Any]], Any], config: dict[str, Any], worker_index: int = 0):
        super().__init__(env_creator, config, worker_index)
        cfg = self.config
        self.epsilon_schedule = PiecewiseSchedule(
            [(0, cfg["exploration_initial_eps"]), (max(1, cfg["exploration_timesteps"]), cfg["exploration_final_eps"])]
        )
        self.epsilon = self.epsilon_schedule.value(0)
        self._q_mirror: NumpyQForward | None = None
        if cfg["numpy_inference"] and self.model_kind == "fc":
            self._q_mirror = NumpyQForward(self.model_config, list(cfg["hiddens"]), bool(cfg["dueling"]))
        self._q_acting: Callable[[np.ndarray], np.ndarray] = self.q_forward

    # -- what a framework supplies ------------------------------------------------------
    @abc.abstractmethod
    def q_forward(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``[B, num_actions]`` (numpy) of the online network for filtered observations."""

    @abc.abstractmethod
    def update_target(self) -> None:
        """Copy the online network's weights into the target network."""

    # -- shared ---------------------------------------------------------------------------
    @property
    def model_kind(self) -> str:
        """The catalog model kind of the trunk (``fc`` or ``vision``)."""
        from rlcore.models import ModelCatalog

        return ModelCatalog.get_model_kind(self.obs_shape, self.model_config)

    @property
    def num_actions(self) -> int:
        """Size of the discrete action space."""
        space = self.action_space
        if getattr(space, "n", None) is None or space.shape != ():
            raise UnsupportedOperationError(
                f"{type(self).__name__} needs a Discrete action space, got {space}: Q-learning picks one of n actions"
            )
        return int(space.n)

    def q_layout(self) -> list[Param]:
        """The canonical parameter layout of this evaluator's (fc) Q network."""
        return q_layout(
            int(np.prod(self.obs_shape)),
            self.num_actions,
            self.model_config,
            list(self.config["hiddens"]),
            bool(self.config["dueling"]),
        )

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(q_values, max_a Q)`` so the generic acting helpers work on Q-values."""
        q = self.q_forward(obs)
        return q, q.max(axis=1)

    def policy_fn(self, obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Epsilon-greedy actions for a batch: one forward pass."""
        q = self._q_acting(obs)
        return self._epsilon_greedy(q, self.epsilon), {}

    def _epsilon_greedy(self, q: np.ndarray, epsilon: float) -> np.ndarray:
        actions = q.argmax(axis=1)
        if epsilon > 0:
            explore = self.rng.random(len(q)) < epsilon
            if explore.any():
                actions = np.where(explore, self.rng.integers(0, q.shape[1], len(q)), actions)
        return actions.astype(np.int64)

    def sample(self) -> SampleBatch:
        """``rollout_fragment_length`` epsilon-greedy steps of every env, as n-step transitions."""
        if self._q_mirror is not None:
            self._q_mirror.set_weights(self.get_weights())
            self._q_acting = self._q_mirror
        fragment = self.sampler.sample(self.policy_fn, int(self.config["rollout_fragment_length"]), keep_next_obs=True)
        return self.postprocess_n_step(fragment)

    def postprocess_n_step(self, fragment: Fragment) -> SampleBatch:
        """n-step transitions of a fragment, flattened env-major."""
        cols = fragment.columns
        t_len, n_envs = fragment.shape
        gamma, n = float(self.config["gamma"]), int(self.config["n_step"])
        rewards, steps, term_n = n_step_returns(cols[sb.REWARDS], cols[sb.TERMINATEDS], cols[sb.TRUNCATEDS], gamma, n)
        assert fragment.next_obs is not None
        last = np.arange(t_len)[:, None] + steps - 1
        next_obs = fragment.next_obs[last, np.arange(n_envs)[None, :]]
        out = {
            sb.OBS: cols[sb.OBS],
            sb.ACTIONS: cols[sb.ACTIONS],
            sb.REWARDS: rewards,
            sb.NEXT_OBS: next_obs,
            sb.TERMINATEDS: cols[sb.TERMINATEDS],
            sb.TRUNCATEDS: cols[sb.TRUNCATEDS],
            "discounts": np.where(term_n, 0.0, gamma**steps).astype(np.float32),
            sb.WEIGHTS: np.ones((t_len, n_envs), np.float32),
            sb.EPS_ID: cols[sb.EPS_ID],
        }
        return SampleBatch({k: flatten_env_major(v) for k, v in out.items()})

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        """Greedy actions (epsilon-greedy with ``explore``) for raw observations."""
        q = self.q_forward(self.sampler.compute_obs(obs))
        return self.sampler.to_env_actions(self._epsilon_greedy(q, self.epsilon if explore else 0.0))

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """``timestep`` anneals epsilon (and the learning rate, with ``lr_schedule``)."""
        super().set_global_vars(global_vars)
        if "timestep" in global_vars:
            self.epsilon = self.epsilon_schedule.value(float(global_vars["timestep"]))
