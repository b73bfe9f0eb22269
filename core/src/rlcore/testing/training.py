"""End-to-end conformance: a registered evaluator driven by the trainer and every applicable optimizer.

The evaluator checks of :mod:`rlcore.testing.checks` call one evaluator at a time. What an
evaluator must also survive is being *driven*: built by a :class:`~rlcore.trainer.Trainer` through
the registry, its weights, filters and global vars moved by the :class:`~rlcore.worker_set.WorkerSet`
across processes, its batches concatenated and learned on by each optimizer. :func:`check_training`
does that for a few iterations, embedded and with 2 Ray workers, so that an evaluator relying on
any optional part of the contract (filters, state, metrics) having its documented default is
caught here, not on a user's first ``--num-workers 2`` run; :func:`check_registration` checks that
what the plugin registered (capabilities) is what the class declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rlcore.testing.checks import CheckNotApplicable, _fail

__all__ = ["TRAINING_OPTIMIZERS", "check_registration", "check_training"]

#: The optimizers :func:`check_training` drives an evaluator with, and the capability each needs.
TRAINING_OPTIMIZERS: dict[str, str] = {
    "LocalSyncOptimizer": "gradients",
    "LocalMultiGPUOptimizer": "multi_device",
    "LocalSyncReplayOptimizer": "gradients",
}

#: Small batches: the check is about the plumbing, not about learning.
_CONFIG: dict[str, Any] = {
    "num_envs_per_worker": 2,
    "rollout_fragment_length": 16,
    "train_batch_size": 64,
    "seed": 0,
}
#: Set when the algorithm's config has them, so that they fit the small train batch.
_FITTING: dict[str, Any] = {"sgd_minibatch_size": 32}
_OPTIMIZER_CONFIG: dict[str, dict[str, Any]] = {
    "LocalSyncOptimizer": {"train_batch_size": 64, "num_sgd_iter": 1},
    "LocalMultiGPUOptimizer": {"train_batch_size": 64, "num_sgd_iter": 1, "sgd_minibatch_size": 32},
    "LocalSyncReplayOptimizer": {
        "buffer_size": 1000,
        "learning_starts": 32,
        "train_batch_size": 32,
        "prioritized_replay": False,
    },
}


def _pair(factory: Any, check: str) -> tuple[str, str]:
    algorithm, framework = getattr(factory, "algorithm", None), getattr(factory, "framework", None)
    if not algorithm or framework is None:
        raise CheckNotApplicable(f"{check} needs a registered (algorithm, framework) pair (RegisteredEvaluatorFactory)")
    return str(algorithm), str(framework)


def check_registration(factory: Any) -> None:
    """The capabilities a plugin registered for the pair are those its class declares.

    For a policy, the rollout evaluator around it declares the policy's plus ``"remote"``.
    """
    from rlcore.plugins import get_registry

    check = "registration"
    algorithm, framework = _pair(factory, check)
    registry = get_registry()
    key = f"{algorithm}/{framework}"
    ev = factory(0)
    try:
        if key in registry.specs["evaluator"]:
            spec, declared = registry.specs["evaluator"][key], frozenset(ev.capabilities)
        else:
            spec = registry.specs["policy"][key]
            declared = frozenset(getattr(ev, "policy", ev).capabilities)
        if not spec.capabilities:
            raise CheckNotApplicable(f"{check}: {spec.kind} {key!r} was registered without capabilities")
        if frozenset(spec.capabilities) != declared:
            raise _fail(
                check,
                f"{spec.kind} {key!r} is registered with capabilities {sorted(spec.capabilities)} but its class "
                f"declares {sorted(declared)}",
                f"register it with capabilities={sorted(declared)} (or fix the class attribute).",
            )
    finally:
        ev.stop()


def _trainer_class(algorithm: str, optimizer: str) -> Any:
    """A trainer of ``algorithm`` (its config, postprocessing and evaluators) driven by ``optimizer``."""
    from rlcore.errors import UnknownNameError
    from rlcore.registration import get_algorithm_class
    from rlcore.trainer import COMMON_CONFIG, Trainer

    try:
        algo: Any = get_algorithm_class(algorithm)
    except UnknownNameError:
        algo = None

    class KitTrainer(Trainer):
        name = algorithm
        default_config = dict(algo.default_config) if algo is not None else dict(COMMON_CONFIG)
        config_schema = getattr(algo, "config_schema", None)

        def setup(self) -> None:
            self.build_evaluators(algorithm)
            self.build_optimizer(optimizer, {**_OPTIMIZER_CONFIG[optimizer], "seed": 0})

    return KitTrainer


def check_training(
    factory: Any, *, num_workers: Iterable[int] = (0, 2), iterations: int = 2, optimizers: Iterable[str] | None = None
) -> list[str]:
    """Train the registered pair for ``iterations`` with every applicable optimizer, for each
    ``num_workers`` (0: embedded; > 0: Ray workers, skipped when Ray is missing or the evaluator
    does not declare ``"remote"``). Each run must sample, count its timesteps, learn (weights
    change) and stop cleanly. Returns ``"<optimizer>@<workers>"`` for each run; raises an
    ``AssertionError`` naming the run that failed and why.
    """
    import importlib.util

    import numpy as np

    from rlcore.registration import get_optimizer_class
    from rlcore.testing.envs import register_test_envs

    check = "training"
    algorithm, framework = _pair(factory, check)
    ev = factory(0)
    caps = frozenset(ev.capabilities)
    action_space = ev.action_space
    ev.stop()
    env = "TestCorridor-v0" if getattr(action_space, "n", None) is not None else "TestContinuousCorridor-v0"
    register_test_envs()
    names = list(TRAINING_OPTIMIZERS if optimizers is None else optimizers)
    runs = []
    for n in num_workers:
        if n > 0 and ("remote" not in caps or importlib.util.find_spec("ray") is None):
            continue
        for name in names:
            if TRAINING_OPTIMIZERS.get(name, "gradients") not in caps:
                continue
            get_optimizer_class(name)  # a missing optimizer plugin says what to install
            label = f"{name}@{n}"
            trainer = None
            try:
                cls = _trainer_class(algorithm, name)
                config = {**_CONFIG, "framework": framework, "num_workers": n}
                # keys the algorithm has that must fit the small batch (PPO's minibatch)
                config |= {k: v for k, v in _FITTING.items() if k in cls.default_config}
                trainer = cls(config, env)
                before = trainer.local_evaluator.get_weights()
                total = 0
                for i in range(iterations):
                    result = trainer.train()
                    if result["timesteps_this_iter"] <= 0 or result["training_iteration"] != i + 1:
                        raise _fail(check, f"{label}: iteration {i + 1} sampled nothing: {result}", "sample rows.")
                    total += result["timesteps_this_iter"]
                if result["timesteps_total"] != total:
                    raise _fail(check, f"{label}: timesteps_total {result['timesteps_total']} != {total}", "count.")
                after = trainer.local_evaluator.get_weights()
                if all(np.array_equal(before[k], after[k]) for k in before):
                    raise _fail(check, f"{label}: {iterations} iterations changed no weight", "apply the gradients.")
                if n and trainer.workers.num_failures:
                    raise _fail(check, f"{label}: {trainer.workers.num_failures} worker failures", "see the logs.")
            except AssertionError:
                raise
            except Exception as exc:
                raise _fail(
                    check,
                    f"training {algorithm}/{framework} with {name} and num_workers={n} raised "
                    f"{type(exc).__name__}: {exc}",
                    "every optional part of the PolicyEvaluator contract must work with its documented default "
                    "(get_filters() -> {}, get_state(), set_global_vars...), embedded and on Ray workers.",
                ) from exc
            finally:
                if trainer is not None:
                    trainer.stop()
            runs.append(label)
    return runs
