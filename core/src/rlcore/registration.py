"""Registration and lookup in code: the user-facing side of the plugin registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rlcore.plugins import get_registry
from rlcore.specs import Spec

Target = str | Callable[..., Any]


def register_evaluator(
    algorithm: str,
    framework: str,
    target: Target,
    *,
    summary: str = "",
    capabilities: Iterable[str] = (),
    override: bool = False,
) -> None:
    """Register a :class:`~rlcore.PolicyEvaluator` class (or lazy target) for (algorithm, framework)."""
    get_registry().register_spec(
        Spec("evaluator", algorithm, target, framework, summary, frozenset(capabilities)), override=override
    )


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
    """The evaluator class registered for (algorithm, framework), imported."""
    return get_registry().get("evaluator", algorithm, framework).load()


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
