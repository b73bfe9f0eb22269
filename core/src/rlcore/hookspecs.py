"""The hook specifications of rlcore.

A plugin is a module, found through the ``rlcore`` entry-point group, that implements some of
these hooks with :data:`hookimpl`::

    from rlcore import hookimpl

    @hookimpl
    def rlcore_register_evaluators(register):
        register("PPO", "torch", "my_pkg.ppo:MyPPOEvaluator", summary="PPO in torch")

Registration hooks receive a ``register`` callback and return nothing. They are called once,
when :func:`rlcore.load_plugins` first runs, and must not import a deep-learning framework:
they name *lazy targets* (``"module:attribute"``) that are imported only when built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from rlcore.plugins import Register

PROJECT = "rlcore"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorator that marks a function of a plugin module as an implementation of an rlcore hook.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rlcore_register_evaluators(register: Register) -> None:
    """Register policy evaluators, keyed by (algorithm, framework).

    Called once at plugin loading. Call
    ``register(algorithm, framework, target, summary="", capabilities=())`` for each
    evaluator, where ``target`` is ``"module:ClassName"`` of a
    :class:`rlcore.PolicyEvaluator` subclass and ``capabilities`` is a subset of
    :data:`rlcore.evaluator.CAPABILITIES`.
    """


@hookspec
def rlcore_register_optimizers(register: Register) -> None:
    """Register policy optimizers, keyed by class name.

    Called once at plugin loading. Call ``register(name, target, summary="")`` for each
    optimizer, where ``target`` is ``"module:ClassName"`` of a
    :class:`rlcore.PolicyOptimizer` subclass.
    """


@hookspec
def rlcore_register_algorithms(register: Register) -> None:
    """Register algorithms (trainers), keyed by their upper-case name (``PPO``, ``DQN``...).

    Called once at plugin loading. Call ``register(name, target, summary="")`` for each
    algorithm, where ``target`` is ``"module:TrainerClass"``.
    """


@hookspec
def rlcore_register_models(register: Register) -> None:
    """Register model implementations, keyed by (model kind, framework).

    Called once at plugin loading. Call ``register(kind, framework, target, summary="")``
    where ``kind`` is one of :data:`rlcore.models.MODEL_KINDS` (``"fc"``, ``"vision"``,
    ``"lstm"``) or another kind a custom catalog asks for, and ``target`` builds the model
    (``target(obs_dim_or_shape, num_outputs, model_config)``).
    """


@hookspec
def rlcore_register_envs(register: Register) -> None:
    """Register environments, keyed by id.

    Called once at plugin loading. Call ``register(name, target, summary="")`` where
    ``target`` is ``"module:creator"``, a callable taking an ``env_config`` dict and
    returning a ``gymnasium.Env``.
    """


@hookspec
def rlcore_on_train_result(trainer: Any, result: dict[str, Any]) -> None:
    """Called after every ``Trainer.train()`` with the trainer and its result dict.

    Loggers and callbacks implement it. They may add keys to ``result`` (it is returned to
    the caller afterwards) but must not remove any. An exception raised here propagates to
    the caller of ``train()``.
    """


#: Names of the registration hooks, in the order the plugin manager calls them.
REGISTRATION_HOOKS: tuple[str, ...] = (
    "rlcore_register_envs",
    "rlcore_register_models",
    "rlcore_register_evaluators",
    "rlcore_register_optimizers",
    "rlcore_register_algorithms",
)

RegisterFn = Callable[..., None]
