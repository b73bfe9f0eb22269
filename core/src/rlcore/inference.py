"""Acting from a checkpoint with numpy alone: no torch, no TensorFlow, no Ray, no plugin.

A checkpoint of format 2 (:mod:`rlcore.checkpoint`; older formats are migrated on read) records
its acting spec (``checkpoint.json``'s ``"policy"``: the env's raw observation and action spaces,
the model config, the observation filter, ``clip_actions``, whether the model's outputs are
action-distribution inputs or Q-values) beside the canonical weights. For every catalog model
(fc, vision, LSTM, and the Q networks on their trunks) that is all acting needs:
:func:`load_policy` rebuilds the policy on the numpy mirror of the model
(:func:`rlcore.models.numpy_forward.numpy_model`), with the checkpoint's preprocessor and its
filter statistics, and acts exactly as ``Trainer.compute_action`` does::

    import rlcore.policy
    policy = rlcore.policy.load("results/PPO_CartPole-v1/.../checkpoint_000010")
    action = policy.compute_action(obs)

The observation side (check, preprocess with frame stacks, filter; actions clipped, shifted by
``start``, Tuple/Dict structured) is :class:`rlcore.sampling.ObservationPipeline` and
:class:`rlcore.rollout_evaluator.PolicyActing`, the same code the rollout evaluator acts with;
sampling and ``explore`` are :class:`rlcore.model_policy.ModelPolicy`'s (the distribution's mode
or greedy Q-values when ``explore`` is False).

A checkpoint whose model is a custom model needs its framework:
:class:`~rlcore.errors.FrameworkRequiredError` names the plugin to install.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rlcore.errors import CheckpointError, ConfigError, FrameworkRequiredError, RLCoreError, UnknownNameError
from rlcore.model_policy import ACTION_OUTPUTS, ForwardOnlyModelPolicy
from rlcore.models.layout import Param
from rlcore.policy import StateBatches, Weights
from rlcore.rollout_evaluator import ActingState, PolicyActing
from rlcore.sampling import ObservationPipeline

#: The keys of a checkpoint's acting spec (``meta["policy"]``) that acting reads.
SPEC_KEYS: tuple[str, ...] = (
    "observation_space",
    "action_space",
    "action_outputs",
    "model",
    "observation_filter",
    "clip_actions",
    "weights",
)


class NumpyCatalogPolicy(ForwardOnlyModelPolicy):
    """A catalog model's policy computed in numpy (framework ``"numpy"``), for acting only.

    ``NumpyCatalogPolicy(observation_space, action_space, config, *, action_outputs="dist", seed=None)``:
    ``observation_space`` is the preprocessed (policy) space, ``config`` holds ``model`` (and, for
    ``action_outputs="q"``, the Q head's ``hiddens`` and ``dueling``). The forward pass is
    :func:`rlcore.models.numpy_forward.numpy_model`'s mirror; acting (sampling, the mode,
    epsilon-greedy, the recurrent state) is :class:`~rlcore.model_policy.ModelPolicy`'s. Weights
    must be set (:meth:`set_weights`) before acting.

    Raises :class:`~rlcore.errors.ConfigError` for a model without a numpy mirror (a custom model,
    a Q network on an LSTM) and ``action_outputs`` other than ``"dist"``/``"q"``.
    """

    framework: ClassVar[str] = "numpy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "continuous", "recurrent"})

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        config: Mapping[str, Any],
        *,
        action_outputs: str = "dist",
        seed: int | None = None,
    ) -> None:
        if action_outputs not in ACTION_OUTPUTS:
            raise ConfigError(f"action_outputs must be one of {list(ACTION_OUTPUTS)}, got {action_outputs!r}")
        self.__dict__["action_outputs"] = action_outputs  # per instance (a class attribute in ModelPolicy)
        super().__init__(observation_space, action_space, {**config, "numpy_inference": False}, seed=seed)

    def build(self) -> None:
        from rlcore.models.numpy_forward import numpy_model

        q = self.action_outputs == "q"
        self.net = numpy_model(
            self.model_kind,
            self.obs_shape,
            self.num_actions if q else self.dist_spec.num_outputs,
            self.model_config,
            action_outputs=self.action_outputs,
            hiddens=self._q_hiddens(),
            dueling=self._q_dueling(),
        )
        self.w: Weights = {}

    def model_layout(self) -> list[Param]:
        return list(self.net.layout)

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.recurrent:
            outputs, values, _ = self.forward_step(obs, self._batch_state(None, len(obs)))
            return outputs, values
        outputs, values = self.net(obs)
        return np.asarray(outputs, np.float32), np.asarray(values, np.float32)

    def forward_step(self, obs: np.ndarray, state: StateBatches) -> tuple[np.ndarray, np.ndarray, StateBatches]:
        if not self.recurrent:
            raise self._unsupported("recurrent steps (forward_step) of a feed-forward model")
        outputs, values, state_out = self.net(obs, state)
        return np.asarray(outputs, np.float32), np.asarray(values, np.float32), list(state_out)

    def _get_weights(self) -> Weights:
        return {k: v.copy() for k, v in self.w.items()}

    def _set_weights(self, weights: Weights) -> None:
        self.w = {k: np.array(v, dtype=np.float32) for k, v in weights.items()}
        self.net.set_weights(self.w)


class LoadedPolicy:
    """A checkpoint's policy acting with numpy alone (:func:`load_policy`).

    Attributes: ``algorithm``, ``framework`` (the one it was trained with), ``env`` (the env's
    registry name), ``path`` (the checkpoint folder), ``meta`` (its ``checkpoint.json`` metadata,
    migrated), ``versions`` (the rlcore and plugin versions that wrote it), ``spec`` (the acting
    spec), ``observation_space`` (the env's raw observation space), ``action_space``,
    ``recurrent`` (an LSTM model), ``policy`` (the :class:`NumpyCatalogPolicy`), ``pipeline``
    (the :class:`~rlcore.sampling.ObservationPipeline`: preprocessor and the checkpoint's filter,
    never updated).

    Acting takes raw observations as the env returns them and gives actions as the env takes
    them (Box actions clipped when the checkpoint's ``clip_actions`` is set, Discrete actions
    shifted by ``start``, Tuple/Dict actions in the space's structure). ``state`` (from
    :meth:`new_acting_state`) carries an episode across calls (frame stacks, the LSTM's state)
    and is advanced in place; None makes each call a new episode. ``explore=False`` (the default)
    takes the distribution's mode or the greedy Q-value; ``explore=True`` samples with the
    policy's numpy generator (``seed``), and Q policies act epsilon-greedy with the checkpoint's
    last recorded ``epsilon`` (0 when none was recorded).
    """

    def __init__(self, checkpoint: Any, *, seed: int | None = None) -> None:
        from gymnasium import spaces

        meta: dict[str, Any] = checkpoint.meta
        self.path: Path = Path(checkpoint.path)
        self.meta = meta
        self.algorithm = str(meta["algorithm"])
        self.framework = str(meta["framework"])
        self.env = str(meta["env"])
        self.versions: dict[str, Any] = dict(meta.get("versions") or {})
        spec = self.spec = _acting_spec(self.path, meta)
        self.observation_space = _space(self.path, spec, "observation_space")
        self.action_space = _space(self.path, spec, "action_space")
        model_config = self._model_config(spec)
        preprocessor = self._preprocessor(model_config)
        self._check_size(preprocessor)
        evaluator_state = _evaluator_state(self.path, checkpoint.state, spec["weights"])
        try:
            q_head = spec.get("q_head") or {}
            self.policy = NumpyCatalogPolicy(
                spaces.Box(-np.inf, np.inf, tuple(preprocessor.shape), np.float32),
                self.action_space,
                {"model": model_config, "hiddens": list(q_head.get("hiddens") or []), "dueling": q_head.get("dueling")},
                action_outputs=str(spec["action_outputs"]),
                seed=seed,
            )
        except RLCoreError as exc:
            raise CheckpointError(f"{self.path}: its acting spec does not make a numpy policy here: {exc}") from exc
        weights_at = "state." + ".".join(str(k) for k in spec["weights"])
        weights = _weights(self.path, evaluator_state.get(spec["weights"][-1]), weights_at)
        # the weights fit the spec's model (and so its observation shape) before anything of the
        # observation's size is allocated (the filter's statistics, frame stacks)
        recorded_kind = spec.get("model_kind")
        if recorded_kind is not None and recorded_kind != self.policy.model_kind:
            raise CheckpointError(
                f"{self.path}: its acting spec says model_kind {str(recorded_kind)[:40]!r}, but its model config on "
                f"its observation space makes a catalog {self.policy.model_kind} model: the acting spec was edited; "
                "use another checkpoint (or load it with rlcore.rollout.load_trainer(path))"
            )
        _check_layout(self.path, self.policy.layout, weights, weights_at, self.policy.model_kind)
        obs_filter = self._filter(spec, tuple(preprocessor.shape), evaluator_state)
        try:
            self.pipeline = ObservationPipeline(
                self.observation_space,
                self.action_space,
                preprocessor=preprocessor,
                obs_filter=obs_filter,
                clip_actions=bool(spec["clip_actions"]),
                env_name=self.env,
            )
        except RLCoreError as exc:
            raise CheckpointError(f"{self.path}: its acting spec does not make a numpy policy here: {exc}") from exc
        self.policy.set_weights(weights)
        epsilon = _epsilon(self.path, evaluator_state.get("global_vars"), weights_at)
        if epsilon is not None:
            self.policy.set_global_vars({"epsilon": epsilon})
        self.recurrent: bool = self.policy.recurrent
        self.acting = PolicyActing(self.pipeline, self.policy)

    # -- loading -------------------------------------------------------------------------------
    def _model_config(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        from rlcore.models.catalog import resolve_model_config

        model = spec.get("model")
        if not isinstance(model, dict):
            raise CheckpointError(f"{self.path}: its acting spec's model is {type(model).__name__}, not a model config")
        try:
            config = resolve_model_config(model)
        except RLCoreError as exc:
            raise CheckpointError(f"{self.path}: its model config is not valid here: {exc}") from exc
        if config.get("custom_model") or spec.get("model_kind") == "custom":
            name = str(config.get("custom_model"))
            raise FrameworkRequiredError(
                framework_required_message(self.path, name, self.framework, self.algorithm),
                f"its model is the custom model {name!r} (framework {self.framework})",
            )
        return config

    def _preprocessor(self, model_config: dict[str, Any]) -> Any:
        from rlcore.models import ModelCatalog

        try:
            return ModelCatalog.get_preprocessor(self.observation_space, model_config)
        except UnknownNameError as exc:
            name = model_config.get("custom_preprocessor")
            raise CheckpointError(
                f"{self.path}: its model config names the custom preprocessor {name!r}, which is not registered "
                "in this process: import the package that registers it (ModelCatalog.register_custom_preprocessor) "
                f"before loading ({exc})"
            ) from None
        except RLCoreError as exc:
            raise CheckpointError(f"{self.path}: its observation space and model config do not fit: {exc}") from exc

    def _check_size(self, preprocessor: Any) -> None:
        """Refuse, before anything of that size is allocated, a preprocessed observation (or frame
        stack) larger than a checkpoint's space may be (an edited ``framestack``, ``dim`` or
        Discrete ``n``)."""
        from rlcore.space_codec import MAX_SPACE_VALUES

        shape = tuple(int(d) for d in preprocessor.shape)
        size = math.prod(shape)
        state_size = int(getattr(preprocessor, "state_size", 0) or 0)
        if size > MAX_SPACE_VALUES or state_size > MAX_SPACE_VALUES:
            raise CheckpointError(
                f"{self.path}: its observation space and model config make observations of shape {list(shape)} "
                f"({max(size, state_size)} values with the frame stack), more than the {MAX_SPACE_VALUES} rlcore "
                "acts on: the acting spec was edited; use another checkpoint"
            )

    def _filter(self, spec: Mapping[str, Any], shape: tuple[int, ...], evaluator_state: Mapping[str, Any]) -> Any:
        from rlcore.filters import make_filter

        name = spec.get("observation_filter")
        try:
            obs_filter = make_filter(str(name), shape)
        except RLCoreError as exc:
            raise CheckpointError(f"{self.path}: its observation_filter {name!r} is unknown here: {exc}") from exc
        state = evaluator_state.get("filter")
        if state:
            from rlcore.filters import FilterStatisticsError

            try:
                obs_filter.set_state(state)
            except FilterStatisticsError as exc:  # not a misfit of the spec: statistics no rlcore writes
                raise CheckpointError(
                    f"{self.path}: its {name} statistics (state.evaluator.filter) are not what rlcore writes: "
                    f"{exc}; the checkpoint was edited or damaged"
                ) from None
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(
                    f"{self.path}: its {name} statistics (state.evaluator.filter) do not fit observations of "
                    f"shape {list(shape)}: {type(exc).__name__}: {exc}"
                ) from None
        return obs_filter

    # -- acting ----------------------------------------------------------------------------------
    def new_acting_state(self, batch_size: int = 1) -> ActingState:
        """A fresh acting state for ``batch_size`` envs, each starting an episode (frame stacks,
        the LSTM's zero state); pass it to every call of the episode. Raises
        :class:`~rlcore.errors.ConfigError` for a ``batch_size`` that is not an int >= 1."""
        return self.acting.new_acting_state(batch_size)

    def compute_action(self, obs: Any, state: ActingState | None = None, explore: bool = False) -> Any:
        """The action for one raw observation, as the env takes it.

        Raises :class:`~rlcore.env_checks.ObservationArgumentError` for an ``obs`` that is not one
        observation of :attr:`observation_space` (naming the expected shape), and
        :class:`~rlcore.model_policy.RecurrentStateError` for a ``state`` that is not this
        policy's :class:`~rlcore.rollout_evaluator.ActingState` for one observation, and
        :class:`~rlcore.errors.ConfigError` for an ``explore`` that is not a bool.
        """
        return self.acting.compute_action(obs, explore, state)

    def compute_actions(self, obs_batch: Any, state: ActingState | None = None, explore: bool = False) -> Any:
        """Actions for a batch of raw observations (an array ``[B, *shape]`` or a list of B
        observations): an array ``[B, ...]``, or for a Tuple/Dict action space a list of B actions.

        Raises :class:`~rlcore.env_checks.ObservationArgumentError` (naming the row and the
        expected shape; also for an empty batch) and the other errors of :meth:`compute_action`;
        ``state`` needs one row per observation.
        """
        return self.acting.compute_actions(obs_batch, explore, state)

    def policy_outputs(self, obs_batch: Any, state: ActingState | None = None) -> np.ndarray:
        """The model's outputs for raw observations: the action-distribution inputs
        (``action_outputs "dist"``) or the Q-values (``"q"``), ``float32 [B, n]``.

        Observations are preprocessed and filtered as for acting; ``state`` is advanced in place
        as :meth:`compute_actions` advances it. Raises what :meth:`compute_actions` raises.
        """
        x, recurrent = self.acting.inputs(obs_batch, state)
        if self.recurrent:
            outputs, _, state_out = self.policy.forward_step(x, self.policy._batch_state(recurrent, len(x)))
            self.acting.advance(state, recurrent, [np.array(s, np.float32) for s in state_out])
        else:
            outputs, _ = self.policy.forward(x)
        return np.asarray(outputs, dtype=np.float32)

    def __repr__(self) -> str:
        return (
            f"LoadedPolicy({str(self.path)!r}: {self.algorithm} ({self.framework}) on {self.env}, "
            f"{self.policy.model_kind} model, {self.spec['action_outputs']} outputs)"
        )


def load_policy(path: str | os.PathLike[str], *, seed: int | None = None) -> LoadedPolicy:
    """A checkpoint's policy acting with numpy alone (see :class:`LoadedPolicy`).

    ``path`` is a checkpoint folder, or a folder holding checkpoints (the latest is taken);
    ``seed`` seeds the sampling of ``explore=True``.

    Raises:
        ConfigError: ``seed`` is not an int >= 0 or None.
        FrameworkRequiredError: the model is a custom model (the message names the framework
            plugin to install and how to act through it), or the checkpoint records no acting
            spec (the reason it recorded: a whole-evaluator plugin, a space without a JSON form,
            an env that could not be made when an old checkpoint was migrated).
        CheckpointError: the checkpoint is unreadable or of a newer format (see
            :func:`rlcore.checkpoint.read_checkpoint`), names a custom preprocessor not registered
            here, or holds weights that do not fit the catalog model of its spec (naming the first
            missing or mis-shaped parameter), or an acting spec, filter statistics, epsilon or
            weights that were edited into what rlcore never writes (naming the field; spaces of
            more than :data:`rlcore.space_codec.MAX_SPACE_VALUES` values are refused before
            anything of that size is allocated); ``path`` is not a path, or a save's ``.tmp``
            folder.
    """
    from rlcore.checkpoint import read_checkpoint

    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise ConfigError(f"load_policy: seed must be an int >= 0 or None, got {seed!r}")
    return LoadedPolicy(read_checkpoint(path), seed=seed)


def framework_required_message(path: Path | str, model: str, framework: str, algorithm: str) -> str:
    """Why a checkpoint of a custom model cannot act with numpy, and which plugin to install."""
    from rlcore.catalogue import load_catalogue
    from rlcore.plugins import install_hint

    entries = [e for e in load_catalogue() if e.name == framework] or [
        e for e in load_catalogue() if f"{algorithm}/{framework}" in e.names("policy")
    ]
    if entries:
        plugin = entries[0].distribution
        install = f"{install_hint(plugin)}"
    else:
        plugin = f"that provides the framework {framework!r}"
        install = "install that plugin"
    return (
        f"{path}: its model is the custom model {model!r} (framework {framework}); acting needs the framework "
        f"plugin {plugin} and the package that registers {model!r}: {install}, then "
        "rlcore.rollout.load_trainer(path) (rlcore rollout does this when the plugin is installed)"
    )


def _acting_spec(path: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint's acting spec, its fields checked; CheckpointError naming what is missing."""
    spec = meta.get("policy")
    if spec is None:
        why = meta.get("policy_unavailable") or (
            "it records no acting spec" if "policy" not in meta else "its acting spec is null (no reason was recorded)"
        )
        raise FrameworkRequiredError(
            f"{path}: this checkpoint cannot act with numpy alone: {why}. Act through its trainer (framework "
            f"{meta.get('framework')}, with its plugin installed): rlcore.rollout.load_trainer(path) "
            "(rlcore rollout does this when it can)",
            f"it cannot act with numpy alone ({why})",
        )
    if not isinstance(spec, dict):
        raise CheckpointError(f'{path}: checkpoint.json\'s "policy" is {type(spec).__name__}, not an acting spec')
    missing = [k for k in SPEC_KEYS if spec.get(k) is None]
    if missing:
        raise CheckpointError(
            f"{path}: its acting spec lacks {missing}"
            + (f" ({meta['policy_unavailable']})" if meta.get("policy_unavailable") else "")
            + ": it cannot act with numpy alone; load it with rlcore.rollout.load_trainer(path)"
        )
    weights_path = spec["weights"]
    if not isinstance(weights_path, list) or not weights_path or not all(isinstance(k, str) for k in weights_path):
        raise CheckpointError(f"{path}: its acting spec's weights path {weights_path!r} is not a list of state keys")
    for key, kinds, what in (
        ("clip_actions", (bool,), "true or false"),
        ("observation_filter", (str,), "a filter name"),
        ("model_kind", (str, type(None)), "a model kind name"),
    ):
        if not isinstance(spec.get(key), kinds):
            raise CheckpointError(
                f"{path}: its acting spec's {key} is {spec.get(key)!r:.60}, not {what}: the checkpoint was "
                "edited; use another checkpoint"
            )
    q_head = spec.get("q_head")
    if q_head is not None and not (
        isinstance(q_head, dict)
        and isinstance(q_head.get("hiddens", []), list)
        and all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in q_head.get("hiddens", []))
        and isinstance(q_head.get("dueling", False), bool)
    ):
        raise CheckpointError(
            f"{path}: its acting spec's q_head {str(q_head)[:100]} is not {{'hiddens': [positive ints], "
            "'dueling': true or false}: the checkpoint was edited; use another checkpoint"
        )
    if spec["action_outputs"] not in ACTION_OUTPUTS:
        raise CheckpointError(
            f"{path}: its acting spec's action_outputs {spec['action_outputs']!r} is not one of {list(ACTION_OUTPUTS)}"
        )
    return dict(spec)


def _space(path: Path, spec: Mapping[str, Any], key: str) -> Any:
    from rlcore.space_codec import space_from_json

    try:
        return space_from_json(spec[key])
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: its acting spec's {key}: {exc}") from None


def _evaluator_state(path: Path, state: Mapping[str, Any], weights_path: Sequence[str]) -> dict[str, Any]:
    """The state dict holding the weights (and the filter and global vars beside them)."""
    node: Any = state
    for i, key in enumerate(weights_path[:-1]):
        if not isinstance(node, Mapping) or key not in node:
            at = ".".join(["state", *weights_path[: i + 1]])
            raise CheckpointError(f"{path}: its state has no {at} (where its acting spec says the weights are)")
        node = node[key]
    if not isinstance(node, Mapping):
        raise CheckpointError(f"{path}: {'.'.join(['state', *weights_path[:-1]])} is not a dict of weights and filter")
    return dict(node)


def _weights(path: Path, weights: Any, at: str) -> dict[str, np.ndarray]:
    if not isinstance(weights, Mapping) or not all(isinstance(v, np.ndarray) for v in weights.values()):
        got = type(weights).__name__ if not isinstance(weights, Mapping) else "a dict holding non-arrays"
        raise CheckpointError(f"{path}: {at} is {got}, not the dict of canonical weights its acting spec names")
    for name, value in weights.items():
        if value.dtype.kind != "f":
            raise CheckpointError(
                f"{path}: {at}[{name!r}] is a {value.dtype} array; weights are floating-point: the checkpoint was "
                "edited; use another checkpoint"
            )
        with np.errstate(over="ignore"):
            if not np.isfinite(value.astype(np.float32)).all():
                raise CheckpointError(
                    f"{path}: {at}[{name!r}] holds values beyond float32's range: the checkpoint was edited; use "
                    "another checkpoint"
                )
    return dict(weights)


def _epsilon(path: Path, global_vars: Any, weights_at: str) -> float | None:
    """The exploration epsilon recorded beside the weights (None when none is); CheckpointError
    when ``global_vars`` is not a dict or its epsilon is not a number in [0, 1]."""
    if global_vars is None:
        return None
    at = weights_at.rsplit(".", 1)[0] + ".global_vars"
    if not isinstance(global_vars, Mapping):
        raise CheckpointError(
            f"{path}: {at} is {type(global_vars).__name__}, not a dict: the checkpoint was edited; "
            "use another checkpoint"
        )
    epsilon = global_vars.get("epsilon")
    if epsilon is None:
        return None
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0.0 <= float(epsilon) <= 1.0:
        raise CheckpointError(
            f"{path}: {at}.epsilon is {epsilon!r:.60}, not an exploration probability in [0, 1]: the checkpoint "
            "was edited; use another checkpoint"
        )
    return float(epsilon)


def _check_layout(path: Path, layout: list[Param], weights: Mapping[str, np.ndarray], at: str, kind: str) -> None:
    """CheckpointError naming the first parameter of ``layout`` missing or mis-shaped in ``weights``
    (then the first unexpected one)."""
    problems = []
    for p in layout:
        if p.name not in weights:
            problems.append(f"{p.name!r} (shape {list(p.shape)}) is missing")
        elif tuple(weights[p.name].shape) != tuple(p.shape):
            problems.append(f"{p.name!r} has shape {list(weights[p.name].shape)}, expected {list(p.shape)}")
    names = {p.name for p in layout}
    problems += [f"{name!r} is not a parameter of that model" for name in weights if name not in names]
    if problems:
        more = f" ({len(problems)} problems in all)" if len(problems) > 1 else ""
        raise CheckpointError(
            f"{path}: the weights at {at} do not fit the catalog {kind} model of its acting spec: "
            f"{problems[0]}{more}. The checkpoint was edited, or its model config is not the one it was trained with"
        )


__all__ = ["SPEC_KEYS", "LoadedPolicy", "NumpyCatalogPolicy", "framework_required_message", "load_policy"]
