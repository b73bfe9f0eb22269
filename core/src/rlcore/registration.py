"""Registration and lookup in code: the user-facing side of the plugin registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rlcore.plugins import get_registry
from rlcore.specs import Spec

Target = str | Callable[..., Any]


def _register_pair(
    kind: str, algorithm: str, framework: str, target: Target, summary: str, capabilities: Iterable[str], override: bool
) -> None:
    get_registry().register_spec(
        Spec(kind, algorithm, target, framework, summary, frozenset(capabilities)), override=override
    )


def register_evaluator(
    algorithm: str,
    framework: str,
    target: Target,
    *,
    summary: str = "",
    capabilities: Iterable[str] = (),
    override: bool = False,
) -> None:
    """Register a whole :class:`~rlcore.PolicyEvaluator` class (or lazy target) for (algorithm, framework)."""
    _register_pair("evaluator", algorithm, framework, target, summary, capabilities, override)


def register_optimizer(name: str, target: Target, *, summary: str = "", override: bool = False) -> None:
    """Register a :class:`~rlcore.PolicyOptimizer` class (or lazy target) under ``name``."""
    get_registry().register_spec(Spec("optimizer", name, target, summary=summary), override=override)


def register_algorithm(name: str, target: Target, *, summary: str = "", override: bool = False) -> None:
    """Register an algorithm (trainer class or lazy target) under ``name``."""
    get_registry().register_spec(Spec("algorithm", name, target, summary=summary), override=override)


def register_model(kind: str, framework: str, target: Target, *, summary: str = "", override: bool = False) -> None:
    """Register a model builder for a model kind in a framework."""
    get_registry().register_spec(Spec("model", kind, target, framework, summary), override=override)


def get_evaluator_class(algorithm: str, framework: str) -> Any:
    """The whole evaluator class registered for (algorithm, framework), imported.

    A pair that has a policy instead raises :class:`~rlcore.errors.UnknownNameError` saying so:
    its evaluator is the rollout evaluator around that policy (:func:`resolve_evaluator`).
    """
    from rlcore.errors import UnknownNameError

    registry = get_registry()
    registry.load()
    key = f"{algorithm}/{framework}"
    if key not in registry.specs["evaluator"] and key in registry.specs["policy"]:
        raise UnknownNameError(
            f"{key!r} is registered as a policy, not as a whole evaluator: its evaluator is the core's rollout "
            f"evaluator around it. Use rlcore.resolve_evaluator({algorithm!r}, {framework!r}) (what trainers do), "
            f"rlcore.get_policy_class({algorithm!r}, {framework!r}), or rlcore.testing.build_evaluator(...)."
        )
    return registry.get("evaluator", algorithm, framework).load()


def get_optimizer_class(name: str) -> Any:
    """The optimizer class registered under ``name``, imported."""
    return get_registry().get("optimizer", name).load()


def get_algorithm_class(name: str) -> Any:
    """The algorithm (trainer) class registered under ``name``, imported."""
    return get_registry().get("algorithm", name).load()


def get_model_builder(kind: str, framework: str) -> Any:
    """The builder registered for a model kind in a framework, imported."""
    return get_registry().get("model", kind, framework).load()


def get_spec(kind: str, name: str, framework: str | None = None) -> Spec:
    """The spec of a registered name, without importing its target."""
    return get_registry().get(kind, name, framework)


def register_policy(
    algorithm: str,
    framework: str,
    target: Target,
    *,
    summary: str = "",
    capabilities: Iterable[str] = (),
    override: bool = False,
) -> None:
    """Register a :class:`~rlcore.policy.Policy` class (or lazy target) for (algorithm, framework)."""
    _register_pair("policy", algorithm, framework, target, summary, capabilities, override)


def get_policy_class(algorithm: str, framework: str) -> Any:
    """The policy class registered for (algorithm, framework), imported."""
    return get_registry().get("policy", algorithm, framework).load()


def _shared_policies(algorithm: str) -> str:
    """A hint for an algorithm whose trainer builds another algorithm's policies (its class
    attribute ``policy_algorithm``: A2C trains A3C's), or ``""``."""
    from rlcore.errors import RLCoreError

    try:
        shared = getattr(get_algorithm_class(algorithm), "policy_algorithm", None)
    except RLCoreError:
        return ""
    if not shared or shared == algorithm:
        return ""
    return (
        f" The {algorithm} trainer has no policies of its own: it trains those registered for {shared!r} "
        f"(with the same postprocessing and loss); check them as {shared} (rlcore check-evaluator {shared})."
    )


def resolve_evaluator(algorithm: str, framework: str) -> tuple[Any, dict[str, Any]]:
    """``(evaluator_cls, evaluator_kwargs)`` for (algorithm, framework) (DESIGN section 3).

    The whole evaluator registered for the pair if there is one (built as
    ``cls(env_creator, config, worker_index)``); else the core's
    :class:`~rlcore.rollout_evaluator.RolloutEvaluator` around the registered policy, with the
    algorithm's ``postprocessing`` (kwargs ``policy`` and ``postprocess``, both by name so they
    travel to Ray workers). Raises :class:`~rlcore.errors.UnknownNameError` listing what exists
    (and which distribution provides it) when neither is registered, saying which algorithm's
    policies to ask for when the algorithm's trainer names another in ``policy_algorithm``
    (``A2C`` trains ``A3C``'s).
    """
    from rlcore.errors import ConfigError, UnknownNameError

    registry = get_registry()
    registry.load()
    key = f"{algorithm}/{framework}"
    if key in registry.specs["evaluator"]:
        return registry.get("evaluator", algorithm, framework).load(), {}
    if key not in registry.specs["policy"]:
        try:
            registry.get("policy", algorithm, framework)
        except UnknownNameError as exc:
            evaluators = ", ".join(registry.names("evaluator")) or "(none)"
            raise UnknownNameError(f"{exc} Whole evaluators: {evaluators}.{_shared_policies(algorithm)}") from None
    spec = registry.get("policy", algorithm, framework)
    algo = get_algorithm_class(algorithm)
    postprocess = getattr(algo, "postprocessing", None)
    if not postprocess:
        raise ConfigError(
            f"algorithm {algorithm!r} ({getattr(algo, '__module__', '?')}) names no postprocessing function "
            f"(class attribute `postprocessing = 'module:function'`), so the rollout evaluator cannot run its "
            f"policy {key!r}; set it, or register a whole evaluator for {key!r}."
        )
    from rlcore.rollout_evaluator import RolloutEvaluator

    spec.load()  # the plugin's status and the import are checked here, not in a Ray worker
    return RolloutEvaluator, {"policy": spec.target, "postprocess": postprocess}
