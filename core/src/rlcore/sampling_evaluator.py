"""The framework-free half of every evaluator that a deep-learning framework plugin writes.

:class:`SamplingEvaluator` owns the envs (through :class:`~rlcore.sampling.VectorSampler`), the
catalog preprocessor, the observation filter, episode metrics, numpy action sampling and the
state/filter plumbing. A framework plugin subclasses it and supplies the model: a batched
forward pass (:meth:`SamplingEvaluator.forward`), gradients and weights. The torch and the
TensorFlow evaluators therefore share every line that is not about tensors.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from rlcore import sample_batch as sb
from rlcore.action_dist import sample_actions
from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.filters import make_filter
from rlcore.models.numpy_forward import NumpyFCForward
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import VectorSampler, postprocess_gae
from rlcore.schedules import PiecewiseSchedule

#: Config keys every sampling evaluator reads, with their defaults.
SAMPLING_DEFAULTS: dict[str, Any] = {
    "seed": None,
    "num_envs": 1,
    "rollout_fragment_length": 200,
    "env_config": {},
    "env": None,
    "observation_filter": "NoFilter",
    "clip_actions": True,
    "model": {},
    "gamma": 0.99,
    "lambda": 1.0,
    # Act with the numpy mirror of catalog fc models (same outputs, no framework call per env
    # step); False: every action comes from the framework's own forward pass.
    "numpy_inference": True,
}


class SamplingEvaluator(PolicyEvaluator):
    """A :class:`PolicyEvaluator` that samples ``num_envs`` envs with one batched forward per step.

    ``SamplingEvaluator(env_creator, config, worker_index=0)``. Reads the keys of
    :data:`SAMPLING_DEFAULTS` from ``config`` (missing keys take those defaults). Subclasses
    implement :meth:`build_model` (called once spaces are known), :meth:`forward`, and the
    learning and weight methods of :class:`PolicyEvaluator`.

    After construction: ``observation_space``, ``action_space`` (the env's), ``obs_shape``
    (after preprocessing), ``dist_spec`` (the catalog's :class:`~rlcore.models.ActionDistSpec`),
    ``model_config`` (merged with the catalog defaults), ``rng`` (numpy, for acting).
    """

    framework: ClassVar[str] = "numpy"
    #: Defaults of the algorithm's own keys (loss, exploration), merged under the given config.
    config_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, env_creator: Callable[[dict[str, Any]], Any], config: dict[str, Any], worker_index: int = 0):
        from rlcore.models import ModelCatalog

        self.config = {**SAMPLING_DEFAULTS, **self.config_defaults, **config}
        self.worker_index = worker_index
        seed = self.config["seed"]
        self.seed: int | None = None if seed is None else int(seed) + 7919 * worker_index
        self.rng = np.random.default_rng(self.seed)
        self.model_config = ModelCatalog.resolve_model_config(self.config["model"])
        model_config = self.model_config
        self.sampler = VectorSampler(
            env_creator,
            self.config["env_config"],
            num_envs=int(self.config["num_envs"]),
            preprocessor_factory=lambda space: ModelCatalog.get_preprocessor(space, model_config),
            filter_factory=lambda shape: make_filter(self.config["observation_filter"], shape),
            seed=None if seed is None else int(seed),
            worker_index=worker_index,
            clip_actions=bool(self.config["clip_actions"]),
            env_name=str(self.config["env"] or "env"),
        )
        self.observation_space = self.sampler.observation_space
        self.action_space = self.sampler.action_space
        self.obs_shape = self.sampler.obs_shape
        self.dist_spec = ModelCatalog.get_action_dist(self.action_space, self.model_config)
        self.global_vars: dict[str, Any] = {}
        self.build_model()
        self._np_forward: NumpyFCForward | None = None
        kind = ModelCatalog.get_model_kind(self.obs_shape, self.model_config)
        if self.config["numpy_inference"] and kind == "fc" and self._has_catalog_fc_weights():
            self._np_forward = NumpyFCForward(self.model_config)
        self._acting: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] = self.forward
        points = self.config.get("lr_schedule")
        self.lr_schedule = PiecewiseSchedule(points) if points else None
        if self.lr_schedule is not None:
            self.set_learning_rate(self.lr_schedule.value(0))

    # -- what a framework supplies --------------------------------------------
    @abc.abstractmethod
    def build_model(self) -> None:
        """Build the model, the loss and the optimizer (spaces and ``dist_spec`` are known)."""

    @abc.abstractmethod
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs [B, num_outputs], values [B])`` as numpy for filtered obs, no gradients."""

    def _has_catalog_fc_weights(self) -> bool:
        """Whether this evaluator's weights are exactly the catalog fc layout (names and shapes)."""
        from rlcore.models.layout import fc_layout

        layout = fc_layout(int(np.prod(self.obs_shape)), self.dist_spec.num_outputs, self.model_config)
        weights = self.get_weights()
        return {p.name: p.shape for p in layout} == {k: tuple(np.shape(v)) for k, v in weights.items()}

    # -- acting and sampling --------------------------------------------------
    def acting_forward(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """The forward pass used while sampling: the numpy mirror (weights refreshed now) or
        :meth:`forward`."""
        if self._np_forward is None:
            return self.forward
        self._np_forward.set_weights(self.get_weights())
        return self._np_forward

    def policy_fn(self, obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Sample actions for a batch: one forward pass, numpy sampling."""
        dist_inputs, values = self._acting(obs)
        actions, logp = sample_actions(self.dist_spec, dist_inputs, self.rng, explore=True)
        return actions, {
            sb.ACTION_LOGP: logp,
            sb.VF_PREDS: np.asarray(values, dtype=np.float32),
            sb.ACTION_DIST_INPUTS: np.asarray(dist_inputs, dtype=np.float32),
        }

    def value_fn(self, obs: np.ndarray) -> np.ndarray:
        """V(obs) as numpy (with the acting forward pass, so bootstrap values match ``vf_preds``)."""
        return self._acting(obs)[1]

    def sample(self) -> SampleBatch:
        """``rollout_fragment_length`` steps of every env, with GAE advantages and value targets."""
        self._acting = self.acting_forward()
        fragment = self.sampler.sample(self.policy_fn, int(self.config["rollout_fragment_length"]))
        return postprocess_gae(
            fragment, self.value_fn, gamma=float(self.config["gamma"]), lambda_=float(self.config["lambda"])
        )

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        """Actions for raw observations (preprocessed and filtered here, filter not updated).

        Actions are returned as the env takes them: continuous ones clipped to the action space
        when ``clip_actions`` is set, discrete ones shifted by the space's ``start`` (the sample
        batch keeps the policy's own draw: unclipped, 0-based).
        """
        dist_inputs, _ = self.forward(self.sampler.compute_obs(obs))
        actions = sample_actions(self.dist_spec, dist_inputs, self.rng, explore=explore)[0]
        return self.sampler.to_env_actions(actions)

    def get_metrics(self) -> list[EpisodeMetrics]:
        """Episodes finished since the last call."""
        return self.sampler.get_metrics()

    # -- state ----------------------------------------------------------------
    def get_filters(self, flush_after: bool = False) -> dict[str, Any]:
        """The filter's state and, with ``flush_after``, its buffer since the last flush."""
        f = self.sampler.obs_filter
        return {"state": f.get_state(), "buffer": f.flush_buffer() if flush_after else {}}

    def sync_filters(self, state: dict[str, Any]) -> None:
        """Set the filter's statistics (``state`` from another evaluator's :meth:`get_filters`)."""
        self.sampler.obs_filter.set_state(state)

    def merge_filter_buffers(self, buffers: list[dict[str, Any]]) -> None:
        """Merge remote filter buffers into this (local) evaluator's statistics."""
        for buf in buffers:
            self.sampler.obs_filter.apply_buffer(buf)

    def get_state(self) -> dict[str, Any]:
        """Weights, filter statistics, global vars and whatever :meth:`extra_state` adds."""
        return {
            "weights": self.get_weights(),
            "filter": self.sampler.obs_filter.get_state(),
            "global_vars": dict(self.global_vars),
            **self.extra_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.set_weights(state["weights"])
        self.sampler.obs_filter.set_state(state.get("filter", {}))
        self.set_global_vars(state.get("global_vars", {}))
        self.set_extra_state(state)

    def extra_state(self) -> dict[str, Any]:
        """Framework state beyond weights (optimizer moments...), arrays and JSON values only."""
        return {}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Keep trainer-wide values (``kl_coeff``, ``timestep``...) in ``self.global_vars``.

        With an ``lr_schedule`` in the config, ``timestep`` sets the learning rate.
        """
        self.global_vars.update(global_vars)
        if self.lr_schedule is not None and "timestep" in global_vars:
            self.set_learning_rate(self.lr_schedule.value(float(global_vars["timestep"])))

    def set_learning_rate(self, lr: float) -> None:
        """Set the optimizer's learning rate (frameworks override; needed for ``lr_schedule``)."""
        raise self._unsupported("a learning-rate schedule (set_learning_rate)")

    def stop(self) -> None:
        """Close the envs."""
        self.sampler.close()
