"""rlcore.testing: the framework-agnostic conformance kit for policy evaluators (DESIGN section 7).

* :class:`PolicyContract` and :func:`check_policy` do the same for a framework plugin's policy,
  inside the core's rollout evaluator with its algorithm's postprocessing;
* :func:`check_training` drives a registered (algorithm, framework) pair through the trainer and
  every applicable optimizer, embedded and on 2 Ray workers; :func:`check_registration` checks
  that the registration declares what the class declares;
* :func:`check_evaluator` runs every check on ``factory(seed) -> PolicyEvaluator`` and raises an
  ``AssertionError`` that says what broke and how to fix it;
* :class:`CompositePolicyContract` runs the policy checks on the kit's Tuple and Dict action spaces;
* :class:`EvaluatorContract` is a pytest base class that a plugin subclasses to get one test per
  check;
* :func:`check_weight_exchange` checks that two evaluators of one config (say torch and TF)
  accept each other's weights and agree on their outputs (over several acting steps with a
  recurrent state for recurrent ones);
* :func:`check_recurrent` (one of :data:`CHECKS`) checks recurrent policies (``model.use_lstm``):
  sampled sequences and states, a loss that does not depend on how sequences are cut, acting
  with a state; :class:`NumpyLSTMPolicy` is a numpy recurrent policy to compare with;
* :func:`registered_evaluator_factories` gives a picklable factory for every registered
  evaluator, to parametrize the suite over everything installed;
* :data:`TEST_ENVS` and the ``make_*corridor`` creators are tiny deterministic gymnasium envs;
* :func:`find_checkpoint_fixtures`, :func:`check_fixture_actions` and :func:`check_fixture_returns`
  replay checkpoints frozen by an older version (:mod:`rlcore.testing.checkpoint_fixtures`).

Importing this package is cheap: names are imported on first use (PEP 562), and pytest only by
:mod:`rlcore.testing.contract`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "check_evaluator": "rlcore.testing.checks",
    "check_weight_exchange": "rlcore.testing.checks",
    "check_recurrent": "rlcore.testing.checks",
    "NumpyLSTMPolicy": "rlcore.testing.policies",
    "CHECKS": "rlcore.testing.checks",
    "RegisteredEvaluatorFactory": "rlcore.testing.checks",
    "registered_evaluator_factories": "rlcore.testing.checks",
    "EvaluatorContract": "rlcore.testing.contract",
    "CompositePolicyContract": "rlcore.testing.contract",
    "PolicyContract": "rlcore.testing.contract",
    "PolicyEvaluatorFactory": "rlcore.testing.policies",
    "build_evaluator": "rlcore.testing.policies",
    "check_policy": "rlcore.testing.policies",
    "check_flat_weights": "rlcore.testing.policies",
    "check_training": "rlcore.testing.training",
    "check_registration": "rlcore.testing.training",
    "TEST_ENVS": "rlcore.testing.envs",
    "COMPOSITE_TEST_ENVS": "rlcore.testing.envs",
    "CorridorEnv": "rlcore.testing.envs",
    "ContinuousCorridorEnv": "rlcore.testing.envs",
    "ImageCorridorEnv": "rlcore.testing.envs",
    "make_corridor": "rlcore.testing.envs",
    "make_continuous_corridor": "rlcore.testing.envs",
    "make_image_corridor": "rlcore.testing.envs",
    "register_test_envs": "rlcore.testing.envs",
    "MultiDiscreteCorridorEnv": "rlcore.testing.envs",
    "make_multi_discrete_corridor": "rlcore.testing.envs",
    "TupleTargetEnv": "rlcore.testing.envs",
    "DictTargetEnv": "rlcore.testing.envs",
    "make_tuple_target": "rlcore.testing.envs",
    "make_dict_target": "rlcore.testing.envs",
    "check_plugin": "rlcore.testing.plugins",
    "check_plugins_import_light": "rlcore.testing.plugins",
    "CheckpointFixture": "rlcore.testing.checkpoint_fixtures",
    "find_checkpoint_fixtures": "rlcore.testing.checkpoint_fixtures",
    "check_fixture_actions": "rlcore.testing.checkpoint_fixtures",
    "check_fixture_returns": "rlcore.testing.checkpoint_fixtures",
    "rewrite_checkpoint_meta": "rlcore.testing.checkpoint_fixtures",
}

__all__ = [
    "CHECKS",
    "CheckpointFixture",
    "check_fixture_actions",
    "check_fixture_returns",
    "find_checkpoint_fixtures",
    "rewrite_checkpoint_meta",
    "COMPOSITE_TEST_ENVS",
    "TEST_ENVS",
    "CompositePolicyContract",
    "ContinuousCorridorEnv",
    "CorridorEnv",
    "DictTargetEnv",
    "EvaluatorContract",
    "ImageCorridorEnv",
    "PolicyContract",
    "PolicyEvaluatorFactory",
    "build_evaluator",
    "check_flat_weights",
    "check_policy",
    "check_registration",
    "check_training",
    "MultiDiscreteCorridorEnv",
    "NumpyLSTMPolicy",
    "RegisteredEvaluatorFactory",
    "TupleTargetEnv",
    "check_evaluator",
    "check_plugin",
    "check_plugins_import_light",
    "check_recurrent",
    "check_weight_exchange",
    "make_continuous_corridor",
    "make_corridor",
    "make_dict_target",
    "make_image_corridor",
    "make_multi_discrete_corridor",
    "make_tuple_target",
    "register_test_envs",
    "registered_evaluator_factories",
]

if TYPE_CHECKING:
    from rlcore.testing.checkpoint_fixtures import (
        CheckpointFixture,
        check_fixture_actions,
        check_fixture_returns,
        find_checkpoint_fixtures,
    )
    from rlcore.testing.checks import (
        CHECKS,
        RegisteredEvaluatorFactory,
        check_evaluator,
        check_recurrent,
        check_weight_exchange,
        registered_evaluator_factories,
    )
    from rlcore.testing.contract import CompositePolicyContract, EvaluatorContract, PolicyContract
    from rlcore.testing.envs import (
        COMPOSITE_TEST_ENVS,
        TEST_ENVS,
        ContinuousCorridorEnv,
        CorridorEnv,
        DictTargetEnv,
        ImageCorridorEnv,
        MultiDiscreteCorridorEnv,
        TupleTargetEnv,
        make_continuous_corridor,
        make_corridor,
        make_dict_target,
        make_image_corridor,
        make_multi_discrete_corridor,
        make_tuple_target,
        register_test_envs,
    )
    from rlcore.testing.plugins import check_plugin, check_plugins_import_light
    from rlcore.testing.policies import (
        NumpyLSTMPolicy,
        PolicyEvaluatorFactory,
        build_evaluator,
        check_flat_weights,
        check_policy,
    )
    from rlcore.testing.training import check_registration, check_training


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rlcore.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
