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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from rlcore.plugins import Register

PROJECT = "rlcore"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorator that marks a function of a plugin module as an implementation of an rlcore hook.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def rlcore_register_policies(register: Register) -> None:
    """Register policies (a model and a loss), keyed by (algorithm, framework).

    Called once at plugin loading. Call
    ``register(algorithm, framework, target, summary="", capabilities=())`` for each policy,
    where ``target`` is ``"module:ClassName"`` of a :class:`rlcore.policy.Policy` subclass and
    ``capabilities`` a subset of :data:`rlcore.policy.POLICY_CAPABILITIES`. The evaluator of a
    pair is the registered whole evaluator if there is one, else the core's rollout evaluator
    around this policy with the algorithm's postprocessing.
    """


@hookspec
def rlcore_register_evaluators(register: Register) -> None:
    """Register whole policy evaluators, keyed by (algorithm, framework).

    For libraries that sample their own way; first-party algorithms register policies instead
    (``rlcore_register_policies``). A whole evaluator registered for a pair wins over the rollout
    evaluator around a policy of the same pair. Called once at plugin loading. Call
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
    ``"lstm"``, ``"q"``) or another kind a custom catalog asks for, and ``target`` builds the
    model (``target(obs_shape, num_outputs, model_config, seed=None)``). Kind ``"q"`` is the Q
    network of DQN-family algorithms, built by
    :meth:`rlcore.models.ModelCatalog.build_q_model` as ``target(obs_shape, num_actions,
    model_config, hiddens=[...], dueling=bool, seed=None)`` with the weights of
    :func:`rlcore.models.layout.q_layout` (fc trunk for flat observations, conv trunk for
    ``[H, W, C]`` images).
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

    Loggers and callbacks implement it; the core's built-in loggers (:mod:`rlcore.loggers`)
    write it to the trial folder and the progress display when the trainer runs in a trial
    (:func:`rlcore_on_trial_start`). Implementations may add keys to ``result`` (it is returned
    to the caller afterwards) but must not remove any (one that does fails like one that raises,
    and the keys are put back); the built-in loggers are ``trylast``, so
    keys added by other plugins are written. Event hooks are called one implementation at a
    time (:meth:`rlcore.plugins.PluginRegistry.call_event`): when some raise (``SystemExit``
    too), all the others still run; each plugin that raised is named in one
    :class:`rlcore.plugins.PluginWarning`, becomes ``broken``, and none of its event hooks is
    called again in the process, while training goes on. With ``RLCORE_STRICT_PLUGINS`` set,
    :class:`rlcore.loggers.LoggerError` naming each plugin and its error reaches the caller of
    ``train()`` instead. Wrapper implementations are not supported here.
    """


@hookspec
def rlcore_on_trial_start(trainer: Any, logdir: Path, params: dict[str, Any], stop: dict[str, float]) -> None:
    """Called once when a run with a results folder (a *trial*) starts, before its first ``train()``.

    ``rlcore train --env --run`` (:func:`rlcore.run.run_trial`) fires it; Ray Tune trials
    (``rlcore train -f``) do not, as Tune's own loggers write their folders. ``trainer`` is the
    built (and, with ``--restore``, restored) trainer; ``logdir`` the trial folder, which exists;
    ``params`` the full config plus ``env``, ``run`` and, when restored, ``restored_from``;
    ``stop`` the stop criteria (result key -> threshold). Loggers open their files here, keyed by
    the trainer (:class:`rlcore.loggers.TrialLogger`). Errors: as :func:`rlcore_on_train_result`
    (the trial goes on without the plugin; in strict mode it ends at once, and
    :func:`rlcore_on_trial_end` is still called).
    """


@hookspec
def rlcore_on_trial_end(trainer: Any, logdir: Path, result: dict[str, Any], error: BaseException | None) -> None:
    """Called once when a trial ends, after its last checkpoint, whatever ended it.

    ``result`` is the trial's last result (``{}`` when no iteration finished); ``error`` is what
    ended it: None when a stop criterion was reached, the ``KeyboardInterrupt`` when it was
    interrupted (Ctrl-C), else the exception raised by training or by a plugin. Loggers flush
    and close their files here. When some implementations raise, the others still run and
    each failing plugin is warned about as for :func:`rlcore_on_train_result`; in strict mode
    the errors reach the caller as :class:`rlcore.loggers.LoggerError` if the trial ended
    without error, else they are added as a note to the error in flight.
    """


#: Names of the registration hooks, in the order the plugin manager calls them.
REGISTRATION_HOOKS: tuple[str, ...] = (
    "rlcore_register_envs",
    "rlcore_register_models",
    "rlcore_register_policies",
    "rlcore_register_evaluators",
    "rlcore_register_optimizers",
    "rlcore_register_algorithms",
)

#: Names of the event hooks (loggers, callbacks): called one implementation at a time.
EVENT_HOOKS: tuple[str, ...] = ("rlcore_on_trial_start", "rlcore_on_train_result", "rlcore_on_trial_end")

RegisterFn = Callable[..., None]
