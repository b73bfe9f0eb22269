"""rlcore: a slim reinforcement-learning core with pluggable frameworks, optimizers and algorithms.

Importing ``rlcore`` is cheap: it imports no torch, TensorFlow or Ray, and no numpy either until
a numpy-backed name (``SampleBatch``, ``ModelCatalog``...) is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rlcore.hookspecs import hookimpl

__version__ = "0.2.0"

# name -> module that defines it; imported on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "SampleBatch": "rlcore.sample_batch",
    "PolicyEvaluator": "rlcore.evaluator",
    "EpisodeMetrics": "rlcore.evaluator",
    "PolicyOptimizer": "rlcore.optimizer",
    "ModelCatalog": "rlcore.models",
    "merge_config": "rlcore.config",
    "register_env": "rlcore.envs",
    "make_env": "rlcore.envs",
    "get_env_creator": "rlcore.envs",
    "register_evaluator": "rlcore.registration",
    "register_policy": "rlcore.registration",
    "get_policy_class": "rlcore.registration",
    "resolve_evaluator": "rlcore.registration",
    "Policy": "rlcore.policy",
    "register_optimizer": "rlcore.registration",
    "register_algorithm": "rlcore.registration",
    "register_model": "rlcore.registration",
    "get_evaluator_class": "rlcore.registration",
    "get_optimizer_class": "rlcore.registration",
    "get_algorithm_class": "rlcore.registration",
    "get_model_builder": "rlcore.registration",
    "get_spec": "rlcore.registration",
    "load_plugins": "rlcore.plugins",
    "get_registry": "rlcore.plugins",
    "Spec": "rlcore.specs",
    "RLCoreError": "rlcore.errors",
    "ConfigError": "rlcore.errors",
    "UnknownNameError": "rlcore.errors",
    "PluginError": "rlcore.errors",
    "UnsupportedOperationError": "rlcore.errors",
}

__all__ = [
    "__version__",
    "hookimpl",
    "ConfigError",
    "EpisodeMetrics",
    "ModelCatalog",
    "PluginError",
    "PolicyEvaluator",
    "PolicyOptimizer",
    "RLCoreError",
    "SampleBatch",
    "Spec",
    "UnknownNameError",
    "UnsupportedOperationError",
    "get_algorithm_class",
    "get_env_creator",
    "get_evaluator_class",
    "get_model_builder",
    "get_optimizer_class",
    "get_registry",
    "get_spec",
    "load_plugins",
    "make_env",
    "merge_config",
    "register_algorithm",
    "register_env",
    "register_evaluator",
    "register_policy",
    "get_policy_class",
    "resolve_evaluator",
    "Policy",
    "register_model",
    "register_optimizer",
]

if TYPE_CHECKING:
    from rlcore.config import merge_config
    from rlcore.envs import get_env_creator, make_env, register_env
    from rlcore.errors import ConfigError, PluginError, RLCoreError, UnknownNameError, UnsupportedOperationError
    from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
    from rlcore.models import ModelCatalog
    from rlcore.optimizer import PolicyOptimizer
    from rlcore.plugins import get_registry, load_plugins
    from rlcore.policy import Policy
    from rlcore.registration import (
        get_algorithm_class,
        get_evaluator_class,
        get_model_builder,
        get_optimizer_class,
        get_policy_class,
        get_spec,
        register_algorithm,
        register_evaluator,
        register_model,
        register_optimizer,
        register_policy,
        resolve_evaluator,
    )
    from rlcore.sample_batch import SampleBatch
    from rlcore.specs import Spec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rlcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
