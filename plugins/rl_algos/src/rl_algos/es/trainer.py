"""ES's trainer: Evolution Strategies (Salimans et al. 2017) as RLlib 2018 ran them.

``setup()`` checks the config against the env (the noise table must hold one perturbation of the
policy's parameters) before any worker starts, builds the rollout evaluators around the ES policy
of ``config["framework"]`` (``numpy`` by default: no deep-learning framework needed), makes the
noise table once from the seed and puts it in Ray's object store once (every task, and every
recreated worker, gets the same reference); :class:`~rl_algos.es.optimizer.ESOptimizer` runs the
iterations. ``episode_reward_mean`` and the other episode metrics are those of the evaluation
(unperturbed) episodes; the perturbed episodes are reported as ``perturbed_reward_mean``,
``perturbed_reward_max``, ``perturbed_reward_min``, ``perturbed_len_mean`` and
``perturbed_episodes_this_iter`` (top level) and in ``info.learner``.

Checkpoints hold the Adam/SGD state, the state of the rng that draws the tasks and the noise
table's ``{size, seed}`` (not the table: it is made again from the seed); restoring into a trainer
with another noise table is refused, naming both.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from rl_algos.es.config import DEFAULT_CONFIG, NOISE_SEED_2018, SCHEMA
from rl_algos.es.noise import NoiseTable, check_noise_size
from rl_algos.es.optimizer import OPTIMIZER_KEYS, ESOptimizer
from rlcore.errors import CheckpointError, UnsupportedOperationError
from rlcore.trainer import Trainer

#: The learner-info fields also reported at the top level of each result.
PERTURBED_FIELDS: dict[str, str] = {
    "perturbed_reward_mean": "perturbed_reward_mean",
    "perturbed_reward_max": "perturbed_reward_max",
    "perturbed_reward_min": "perturbed_reward_min",
    "perturbed_len_mean": "perturbed_len_mean",
    "perturbed_episodes_this_iter": "episodes_this_iter",
}


def noise_seed(config: Mapping[str, Any]) -> int:
    """The seed of the noise table: the config's ``seed``, or RLlib 2018's fixed 123 when None."""
    seed = config.get("seed")
    return NOISE_SEED_2018 if seed is None else int(seed)


def catalog_num_params(obs_space: Any, action_space: Any, model_config: Mapping[str, Any]) -> int | None:
    """The acting parameter count (the flat vector ES perturbs: the layout without the value
    branch, :func:`rlcore.models.layout.acting_layout`) of the catalog model an ES policy builds for
    these (raw) spaces: the fc model, or the vision model for images; None for the kinds ES
    policies refuse (custom, lstm), which the policy names itself."""
    from rlcore.models.catalog import ModelCatalog
    from rlcore.models.layout import acting_layout, fc_layout, num_params, vision_layout

    model = ModelCatalog.resolve_model_config(dict(model_config))
    shape = tuple(int(d) for d in ModelCatalog.get_preprocessor(obs_space, model).observation_space.shape)
    outputs = ModelCatalog.get_action_dist(action_space, model).num_outputs
    kind = ModelCatalog.get_model_kind(shape, model)
    if kind == "fc":
        return num_params(acting_layout(fc_layout(int(np.prod(shape)), outputs, model)))
    if kind == "vision":
        return num_params(acting_layout(vision_layout(shape, outputs, model)))
    return None


def policy_class_problem(algorithm: str, framework: str) -> str | None:
    """Why the policy registered for ``(algorithm, framework)`` cannot be perturbed as a flat
    vector, judged from its class before any evaluator is built (None when it can, or when a
    whole evaluator is registered: checked once it is built)."""
    from rlcore.model_policy import FLAT_WEIGHT_METHODS
    from rlcore.registration import get_policy_class, resolve_evaluator

    _, kwargs = resolve_evaluator(algorithm, framework)
    if "policy" not in kwargs:
        return None
    target = get_policy_class(algorithm, framework)
    lacks = [m for m in FLAT_WEIGHT_METHODS if not callable(getattr(target, m, None))]
    if not lacks:
        return None
    return (
        f"{algorithm} perturbs a flat parameter vector, but {target.__module__}.{target.__qualname__} (the policy "
        f"registered for {algorithm}/{framework}) has no flat-weight layout (it lacks {', '.join(lacks)}). Register "
        "a policy that subclasses rlcore.model_policy.ModelPolicy (ForwardOnlyModelPolicy for act-only policies), "
        "or whose weights are a list of rlcore.models.layout.Param in .layout"
    )


class NoEvaluationEpisodesWarning(UserWarning):
    """``eval_prob`` 0: no evaluation episode ever runs, so ``episode_reward_mean`` stays NaN (a stop
    on it never fires); the perturbed episodes' ``perturbed_reward_mean`` is still reported."""


class ES(Trainer):
    """Evolution Strategies: antithetic perturbations of the flat parameter vector, centered ranks,
    Adam (or SGD) with L2 decay; a shared noise table; no gradients, no deep-learning framework."""

    name = "ES"
    config_schema = SCHEMA
    default_config = DEFAULT_CONFIG
    postprocessing = "rl_algos.es.postprocessing:postprocess_es"
    reference_loss = None

    optimizer: ESOptimizer

    @classmethod
    def _check_env(cls, creator: Any, config: Mapping[str, Any]) -> None:
        """Build one env with ``creator(config["env_config"])``, count the catalog model's parameters
        for its spaces and close it; raise :class:`~rlcore.errors.ConfigError` naming both numbers
        when ``noise_size`` is smaller (:func:`~rl_algos.es.noise.check_noise_size`), and the
        creator's own :class:`~rlcore.errors.RLCoreError`. An env that fails to build otherwise,
        and a model the catalog refuses, are left to the evaluator, which reports its error."""
        from rl_algos.common import build_env_for_check, close_env

        env = build_env_for_check(creator, config)
        if env is None:
            return
        try:
            count = catalog_num_params(
                getattr(env, "observation_space", None), getattr(env, "action_space", None), config.get("model") or {}
            )
        except Exception:  # noqa: BLE001 - the policy builds the model next and raises in its words
            count = None
        finally:
            close_env(env)
        if count is not None:
            check_noise_size(int(config["noise_size"]), count)

    @classmethod
    def preflight(cls, config: Mapping[str, Any]) -> None:
        """The checks of a trial's validated ``config`` that need its env (:meth:`_check_env`), run
        by ``rlcore train -f`` before Ray starts (a trial would fail with the same error)."""
        from rlcore.envs import get_env_creator

        if isinstance(config.get("env"), str):
            cls._check_env(get_env_creator(config["env"]), config)

    def setup(self) -> None:
        """Check ``noise_size`` against the parameter count and the registered policy's flat-weight
        methods (before any worker starts), build the evaluators and the
        :class:`~rl_algos.es.optimizer.ESOptimizer` (the noise table is made and put in the object
        store once, at the first iteration: :meth:`shared_noise`).

        Raises :class:`~rlcore.errors.ConfigError` for a ``noise_size`` smaller than the policy's
        acting parameter count (its flat vector; both numbers) or larger than this machine's memory, and
        :class:`~rlcore.errors.UnsupportedOperationError` for a policy without a flat-weight layout
        (:func:`rlcore.model_policy.flat_weight_layout`) or an evaluator that cannot run episodes.
        """
        from rlcore.model_policy import flat_weight_layout

        cfg = self.config
        if float(cfg["eval_prob"]) == 0.0:
            warnings.warn(
                NoEvaluationEpisodesWarning(
                    "ES config key 'eval_prob' is 0: no evaluation episode of the unperturbed policy will run, so "
                    "episode_reward_mean (and a stop on it) stays NaN; perturbed_reward_mean is still reported. "
                    "Set eval_prob above 0 (RLlib 2018's 0.003; the tuned CartPole example's 0.3) to measure theta."
                ),
                stacklevel=3,
            )
        self._check_env(self.env_creator, cfg)
        problem = policy_class_problem("ES", cfg["framework"])
        if problem is not None:
            raise UnsupportedOperationError(problem)
        self.build_evaluators("ES")
        evaluator: Any = self.local_evaluator
        if not callable(getattr(evaluator, "run_episodes", None)) or getattr(evaluator, "policy", None) is None:
            raise UnsupportedOperationError(
                f"ES runs whole episodes through evaluator.run_episodes() with evaluator.policy; "
                f"{type(evaluator).__module__}.{type(evaluator).__qualname__} (for ES/{cfg['framework']}) has no "
                "such method or policy: register an ES policy (rlcore's rollout evaluator runs it) instead of a "
                "whole evaluator"
            )
        policy: Any = evaluator.policy
        flat_weight_layout(policy, "ES")
        check_noise_size(int(cfg["noise_size"]), int(policy.num_params))
        self._noise: NoiseTable | None = None
        self._noise_ref: Any = None
        self.optimizer = ESOptimizer(self.workers, {k: cfg[k] for k in OPTIMIZER_KEYS}, noise_source=self.shared_noise)

    def shared_noise(self) -> tuple[NoiseTable, Any]:
        """The noise table and its object-store reference, made at the first call (the first
        :meth:`train`): ``noise_size`` float32 values from the noise seed, put in Ray's object store
        once; later calls, and workers recreated later, get the same pair. With remote workers the
        driver's table is the object store's read-only copy (the array made here is freed, so the
        table is in this machine's memory once); embedded, the reference is the array itself.

        Acting, ``rlcore rollout`` and restoring a checkpoint never make it (at the default
        250,000,000 values it takes 1 GB and seconds to draw)."""
        if self._noise is None:
            noise = NoiseTable.create(int(self.config["noise_size"]), noise_seed(self.config))
            ref = self.workers.put(noise.array)
            if self.workers.num_remote:
                import ray

                noise = NoiseTable(ray.get(ref))
            self._noise, self._noise_ref = noise, ref
        return self._noise, self._noise_ref

    @property
    def noise(self) -> NoiseTable:
        """The shared noise table (:meth:`shared_noise`; made now if it was not yet)."""
        return self.shared_noise()[0]

    @property
    def noise_ref(self) -> Any:
        """What tasks pass for the table: its object-store reference (embedded: the array)."""
        return self.shared_noise()[1]

    def extra_result_fields(self, info: dict[str, Any]) -> dict[str, Any]:
        """The perturbed episodes' fields at the top level of each result too (``perturbed_reward_mean``
        ...; the episode metrics are the evaluation episodes'), so the loggers record them."""
        return {field: info.get(key, math.nan) for field, key in PERTURBED_FIELDS.items()}

    # -- checkpoints ----------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """The noise table's ``{size, seed}`` (the table is made again from them on restore)."""
        return {"noise": {"size": int(self.config["noise_size"]), "seed": int(noise_seed(self.config))}}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Check that the checkpoint's noise table is this trainer's. Raises
        :class:`~rlcore.errors.CheckpointError` naming both tables when it is not (the saved
        optimizer state and noise indices would mean other perturbations)."""
        saved = state.get("noise")
        if saved is None:
            return
        mine = self.extra_state()["noise"]
        if int(saved["size"]) != mine["size"] or int(saved["seed"]) != mine["seed"]:
            raise CheckpointError(
                f"the checkpoint was trained with the ES noise table noise_size {int(saved['size']):,} seed "
                f"{int(saved['seed'])}; this trainer's is noise_size {mine['size']:,} seed {mine['seed']}: restore "
                f"it with noise_size {int(saved['size'])} and seed {int(saved['seed'])} (the seed also draws the "
                "table: None means 123)"
            )
