"""The framework-free half of every policy built from catalog models.

:class:`ModelPolicy` is what the torch and TensorFlow policies of every algorithm share, written
once: the catalog's choices (model config, action distribution, model kind), acting (one batched
forward pass, numpy action sampling or epsilon-greedy, through the numpy mirror of catalog models
when the weights are in a catalog layout), the learning-rate schedule, and **one rule** for what
every policy must refuse:

* a batch without the columns of :attr:`Policy.loss_columns` raises
  :class:`~rlcore.errors.SampleBatchError` naming them;
* a gradient dict that is partial, has unknown names or wrong shapes raises
  :class:`~rlcore.errors.GradientError` (nothing is zero-filled);
* a non-finite loss term or gradient raises :class:`~rlcore.errors.NonFiniteLossError` naming
  the first bad term, every term, and the non-finite batch columns and weights; nothing is applied;
* pickling (what Ray does to ship a policy) carries the constructor arguments and
  :meth:`Policy.get_state` as numpy, never live framework objects, and rebuilds on load.

A framework plugin subclasses it and supplies :meth:`build`, :meth:`forward` and the underscore
methods (``_compute_gradients``, ``_apply_gradients``, ``_learn_on_batch``, ``_loss``,
``_get_weights``, ``_set_weights``, ...).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from rlcore import sample_batch as sb
from rlcore.action_dist import epsilon_greedy, sample_actions
from rlcore.errors import (
    ConfigError,
    GradientError,
    NonFiniteLossError,
    RLCoreError,
    SampleBatchError,
    UnsupportedOperationError,
)
from rlcore.models.layout import (
    Param,
    acting_layout,
    check_weights,
    flatten_weights,
    num_params,
    unflatten_weights,
)
from rlcore.policy import Gradients, Policy, StateBatches, Weights
from rlcore.sample_batch import SampleBatch
from rlcore.schedules import PiecewiseSchedule

ModelT = TypeVar("ModelT")

#: What a model's outputs mean to acting: ``"dist"`` (action-distribution inputs and values) or
#: ``"q"`` (Q-values per discrete action; acting is epsilon-greedy).
ACTION_OUTPUTS: tuple[str, ...] = ("dist", "q")

Forward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class RecurrentStateError(RLCoreError, ValueError):
    """A recurrent state passed to acting does not fit the policy's: the message says the tensors and
    shapes expected (one ``[B, *shape_j]`` array per ``initial_state()`` tensor) and what came."""


def check_recurrent_state(owner: str, state: Any, initial: list[np.ndarray], n: int, *, fix: str | None = None) -> None:
    """Raise :class:`RecurrentStateError` unless ``state`` is one ``[n, *shape_j]`` array per tensor
    of ``initial``; ``fix`` says what to do instead (default: a policy's own ``compute_actions``
    contract, the state_out of the last step passed back)."""
    expected = [(n, *np.shape(s)) for s in initial]
    got = [tuple(np.shape(s)) for s in state] if isinstance(state, list | tuple) else type(state).__name__
    if got != expected:
        raise RecurrentStateError(
            f"{owner}: the recurrent state has shapes {got} for {n} observations; expected {expected} "
            "(one [B, *shape] array per initial_state() tensor, one row per observation). "
            + (
                fix
                or "Start from the initial_state() of each row (or None) and pass back the state_out of the last step."
            )
        )


class ModelPolicy(Policy):
    """A :class:`~rlcore.policy.Policy` whose model comes from the catalog; framework-free half.

    After construction: ``obs_shape`` (the observation space's shape), ``model_config`` (merged
    with the catalog defaults), ``dist_spec`` (:class:`~rlcore.models.ActionDistSpec`),
    ``model_kind`` (``"fc"``, ``"vision"``, ``"lstm"``, ``"custom"``), ``rng`` (numpy, for acting),
    ``global_vars`` (the last trainer-wide values received), ``recurrent`` (True for the catalog's
    LSTM, ``use_lstm``), ``max_seq_len`` (the model config's, for chopping sequences).

    Recurrent policies (``model_kind == "lstm"``; the class must declare the ``"recurrent"``
    capability, else :class:`~rlcore.errors.UnsupportedOperationError` at construction) act one
    step at a time: :meth:`initial_state` is ``[h, c]`` zeros of ``lstm_cell_size``,
    :meth:`compute_actions` and :meth:`compute_values` take and advance it (through the numpy
    mirror of the fc-trunk LSTM, else the framework's :meth:`forward_step`); their batches need
    the ``seq_lens`` and ``state_in_*`` columns too (:attr:`required_columns`; see
    :mod:`rlcore.sequences` for the layout and padding helpers).

    Config keys read here (every algorithm schema that uses model policies has them):
    ``model``, ``lr_schedule`` (``[[timestep, lr], ...]`` or None), ``numpy_inference`` (act
    through the numpy mirror, default True). With :attr:`action_outputs` ``"q"`` also ``hiddens``
    and ``dueling`` (the Q head of :func:`~rlcore.models.layout.q_layout`). Epsilon for
    epsilon-greedy acting comes from ``set_global_vars({"epsilon": x})`` (0 until then).
    """

    #: See :data:`ACTION_OUTPUTS`.
    action_outputs: ClassVar[str] = "dist"
    #: Scalar keys of the learner info, in the order a non-finite one is blamed.
    info_keys: ClassVar[tuple[str, ...]] = ("loss",)

    def __init__(
        self, observation_space: Any, action_space: Any, config: Mapping[str, Any], *, seed: int | None = None
    ) -> None:
        from rlcore.models import ModelCatalog

        self.observation_space = observation_space
        self.action_space = action_space
        self.config = dict(config)
        self.seed = None if seed is None else int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.model_config = ModelCatalog.resolve_model_config(self.config.get("model"))
        self.obs_shape: tuple[int, ...] = tuple(int(d) for d in observation_space.shape)
        self.dist_spec = ModelCatalog.get_action_dist(action_space, self.model_config)
        self.model_kind = ModelCatalog.get_model_kind(self.obs_shape, self.model_config)
        if self.model_config["free_log_std"] and self.dist_spec.kind != "diag_gaussian":
            raise ConfigError(
                f"model config free_log_std=True needs a Box action space; {action_space} takes a "
                f"{self.dist_spec.kind!r} distribution. Set model.free_log_std to False."
            )
        if self.model_kind == "lstm" and "recurrent" not in self.capabilities:
            raise UnsupportedOperationError(recurrent_unsupported_message(type(self).__name__, self.capabilities))
        self.recurrent: bool = self.model_kind == "lstm"
        self.max_seq_len = int(self.model_config["max_seq_len"])
        self.cell_size = int(self.model_config["lstm_cell_size"])
        self.global_vars: dict[str, Any] = {}
        self.epsilon = 0.0
        self._version = 0
        if self.action_outputs == "q":
            self.num_actions  # noqa: B018 - raises for a non-Discrete action space
        self.build()
        self.layout: list[Param] = list(self.model_layout())
        self._mirror = self._make_mirror() if self.config.get("numpy_inference", True) else None
        self._mirror_version = -1
        points = self.config.get("lr_schedule")
        self.lr_schedule = PiecewiseSchedule(points) if points else None
        if self.lr_schedule is not None:
            self._set_learning_rate(self.lr_schedule.value(0))

    # -- what a framework supplies ---------------------------------------------------------
    @abc.abstractmethod
    def build(self) -> None:
        """Build the model (through the catalog), the loss and the optimizer; spaces are known."""

    @abc.abstractmethod
    def model_layout(self) -> list[Param]:
        """The canonical layout of the weights (the catalog model's ``layout``)."""

    @abc.abstractmethod
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model on filtered observations, as numpy, without gradients.

        ``action_outputs == "dist"``: ``(dist_inputs [B, n], values [B])``;
        ``"q"``: ``(q_values [B, num_actions], max_a Q [B])``.
        """

    def forward_step(self, obs: np.ndarray, state: StateBatches) -> tuple[np.ndarray, np.ndarray, StateBatches]:
        """One recurrent step of the model, as numpy, without gradients (recurrent policies).

        ``obs [B, *obs_shape]`` filtered observations, ``state = [h [B, c], c [B, c]]``; returns
        ``(dist_inputs [B, n], values [B], [h', c'])``. The default raises
        :class:`~rlcore.errors.UnsupportedOperationError`: a framework's recurrent policy
        implements it (acting uses it when the numpy mirror does not cover the model).
        """
        raise self._unsupported("recurrent models (forward_step)")

    @abc.abstractmethod
    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Canonical numpy gradients and the info; returned even when not finite (the core checks)."""

    @abc.abstractmethod
    def _apply_gradients(self, grads: Gradients) -> None:
        """Apply checked, complete, finite canonical gradients (clip, optimizer step)."""

    @abc.abstractmethod
    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """One fused step; must not apply anything when an :attr:`info_keys` value is not finite."""

    @abc.abstractmethod
    def _loss(self, batch: SampleBatch) -> float:
        """The scalar loss; changes nothing."""

    @abc.abstractmethod
    def _get_weights(self) -> Weights:
        """Copies of the weights (canonical names and layouts)."""

    @abc.abstractmethod
    def _set_weights(self, weights: Weights) -> None:
        """Load checked canonical weights."""

    def _set_learning_rate(self, lr: float) -> None:
        """Set the optimizer's learning rate (needed for ``lr_schedule``)."""
        raise self._unsupported("a learning-rate schedule (lr_schedule)")

    def _load_batch(self, batch: SampleBatch) -> int:
        raise self._unsupported("multi-device learning (load_batch)")

    def _learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        raise self._unsupported("multi-device learning (learn_on_loaded_batch)")

    def extra_state(self) -> dict[str, Any]:
        """Framework state beyond weights (optimizer moments, target network...), arrays and JSON only."""
        return {}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (missing entries are left as they are)."""

    # -- shape of the action space -----------------------------------------------------------
    @property
    def num_actions(self) -> int:
        """Size of a Discrete action space (Q-value policies pick one of n actions)."""
        space = self.action_space
        if getattr(space, "n", None) is None or space.shape != ():
            raise UnsupportedOperationError(
                f"{type(self).__name__} needs a Discrete action space, got {space}: Q-learning picks one of n "
                "actions. For Box, MultiDiscrete, Tuple or Dict action spaces use a policy-gradient algorithm (PPO)"
            )
        return int(space.n)

    def q_layout(self) -> list[Param]:
        """The canonical layout of the Q network (:func:`rlcore.models.layout.q_layout`): the
        ``model.fcnet_hiddens`` fc trunk for flat observations or the vision (conv) trunk for
        ``[H, W, C]`` images, then the ``hiddens`` head (``dueling`` streams or ``q_out``).

        Raises :class:`UnsupportedOperationError` for any other model kind (``use_lstm``,
        ``custom_model``): Q networks are built by :meth:`ModelCatalog.build_q_model`.
        """
        from rlcore.models.layout import q_layout

        if self.model_kind not in ("fc", "vision"):
            raise UnsupportedOperationError(
                f"{type(self).__name__} supports fully connected and vision Q networks only; got model kind "
                f"{self.model_kind!r} for observations of shape {list(self.obs_shape)}"
            )
        return q_layout(self.obs_shape, self.num_actions, self.model_config, self._q_hiddens(), self._q_dueling())

    def build_q_model(self) -> Any:
        """The Q network for this policy: ``ModelCatalog.build_q_model(obs_shape, num_actions,
        model_config, framework, hiddens=config["hiddens"], dueling=config["dueling"], seed=seed)``.

        Raises what :meth:`ModelCatalog.build_q_model` raises (``use_lstm``/``custom_model``
        refused, unknown framework)."""
        from rlcore.models import ModelCatalog

        return ModelCatalog.build_q_model(
            self.obs_shape,
            self.num_actions,
            self.model_config,
            self.framework,
            hiddens=self._q_hiddens(),
            dueling=self._q_dueling(),
            seed=self.seed,
        )

    def _q_hiddens(self) -> list[int]:
        return [int(h) for h in self.config.get("hiddens", [])]

    def _q_dueling(self) -> bool:
        return bool(self.config.get("dueling", False))

    def build_catalog_model(self, model_class: type[ModelT]) -> ModelT:
        """The catalog model for this policy: ``ModelCatalog.build_model(obs_shape, num_outputs,
        model_config, framework, seed)``.

        Raises :class:`ConfigError` when what was built is not a ``model_class`` (a custom model
        that is not the framework plugin's catalog model base class).
        """
        from rlcore.models import ModelCatalog

        model = ModelCatalog.build_model(
            self.obs_shape, self.dist_spec.num_outputs, self.model_config, self.framework, seed=self.seed
        )
        if not isinstance(model, model_class):
            raise ConfigError(
                f"model {self.model_config['custom_model'] or self.model_kind!r} built a {type(model).__name__}; "
                f"{type(self).__name__} needs a {model_class.__module__}.{model_class.__qualname__} subclass"
            )
        return model

    # -- acting ------------------------------------------------------------------------------
    def _make_mirror(self) -> Any:
        """The numpy mirror of the model when the weights are exactly a catalog fc layout (or the
        catalog LSTM's with an fc trunk), else None."""
        from rlcore.models.layout import fc_layout, lstm_layout, q_layout
        from rlcore.models.numpy_forward import NumpyFCForward, NumpyLSTMForward, NumpyQForward

        shapes = {p.name: p.shape for p in self.layout}
        if self.recurrent:
            if len(self.obs_shape) == 3 or self.action_outputs != "dist":
                return None
            expected_lstm = lstm_layout(self.obs_shape, self.dist_spec.num_outputs, self.model_config)
            if [(p.name, p.shape) for p in self.layout] != [(p.name, p.shape) for p in expected_lstm]:
                return None
            return NumpyLSTMForward(self.model_config)
        if self.model_kind != "fc":
            return None
        obs_dim = int(np.prod(self.obs_shape))
        if self.action_outputs == "q":
            hiddens, dueling = self._q_hiddens(), self._q_dueling()
            expected = q_layout(obs_dim, self.num_actions, self.model_config, hiddens, dueling)
            if shapes != {p.name: p.shape for p in expected}:
                return None
            q_mirror = NumpyQForward(self.model_config, hiddens, dueling)

            class _QMirror:
                set_weights = staticmethod(q_mirror.set_weights)

                def __call__(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                    q = q_mirror(obs)
                    return q, q.max(axis=1)

            return _QMirror()
        expected = fc_layout(obs_dim, self.dist_spec.num_outputs, self.model_config)
        if shapes != {p.name: p.shape for p in expected}:
            return None
        return NumpyFCForward(self.model_config)

    def _refreshed_mirror(self) -> Any:
        """The numpy mirror with the current weights (refreshed when they changed), or None."""
        mirror = self._mirror
        if mirror is not None and self._mirror_version != self._version:
            mirror.set_weights(self._get_weights())
            self._mirror_version = self._version
        return mirror

    def _acting_forward(self) -> Forward:
        """The numpy mirror (weights refreshed when they changed) or :meth:`forward`."""
        mirror = self._refreshed_mirror()
        return self.forward if mirror is None else mirror

    def _acting_step(self) -> Callable[[np.ndarray, StateBatches], tuple[np.ndarray, np.ndarray, StateBatches]]:
        """Recurrent acting: the numpy LSTM mirror (weights refreshed when they changed) or :meth:`forward_step`."""
        mirror = self._refreshed_mirror()
        return self.forward_step if mirror is None else mirror

    def initial_state(self) -> StateBatches:
        """``[h, c]``: zeros ``float32 [lstm_cell_size]`` each for a recurrent policy, ``[]`` otherwise."""
        if not self.recurrent:
            return []
        return [np.zeros(self.cell_size, np.float32), np.zeros(self.cell_size, np.float32)]

    def _batch_state(self, state: StateBatches | None, n: int) -> StateBatches:
        if state:
            if (
                len(state) != 2
                or np.shape(state[0]) != (n, self.cell_size)
                or np.shape(state[1]) != (n, self.cell_size)
            ):
                check_recurrent_state(type(self).__name__, state, self.initial_state(), n)
            return [np.asarray(s, dtype=np.float32) for s in state]
        return [np.zeros((n, self.cell_size), np.float32), np.zeros((n, self.cell_size), np.float32)]

    @property
    def uses_numpy_mirror(self) -> bool:
        """Whether acting runs through the numpy mirror of the catalog model."""
        return self._mirror is not None

    def compute_actions(
        self, obs: np.ndarray, state: StateBatches | None = None, explore: bool = True
    ) -> tuple[np.ndarray, StateBatches, dict[str, np.ndarray]]:
        """One batched forward pass, then numpy sampling (``"dist"``) or epsilon-greedy (``"q"``).

        ``"dist"`` extras: ``action_logp`` (``float32 [B]``), ``vf_preds`` (``float32 [B]``),
        ``action_dist_inputs`` (``float32 [B, n]``); ``"q"``: none. For a Tuple/Dict action space
        (a ``composite`` spec) the actions are flat ``float32 [B, D]`` and ``action_logp`` is the
        sum of the parts'; the sampler hands each env its action in the space's structure.

        A recurrent policy steps from ``state`` (``[h [B, c], c [B, c]]``; zeros, a new episode,
        when None or empty) and returns the next state (copies) as the second element.
        """
        if self.recurrent:
            return self._compute_recurrent(obs, state, explore)
        outputs, values = self._acting_forward()(obs)
        if self.action_outputs == "q":
            return epsilon_greedy(outputs, self.epsilon if explore else 0.0, self.rng), [], {}
        actions, logp = sample_actions(self.dist_spec, outputs, self.rng, explore=explore)
        return (
            actions,
            [],
            {
                sb.ACTION_LOGP: logp,
                sb.VF_PREDS: np.asarray(values, dtype=np.float32),
                sb.ACTION_DIST_INPUTS: np.asarray(outputs, dtype=np.float32),
            },
        )

    def _compute_recurrent(
        self, obs: np.ndarray, state: StateBatches | None, explore: bool
    ) -> tuple[np.ndarray, StateBatches, dict[str, np.ndarray]]:
        outputs, values, state_out = self._acting_step()(obs, self._batch_state(state, len(obs)))
        state_out = [np.array(s, dtype=np.float32, copy=True) for s in state_out]
        if self.action_outputs == "q":
            return epsilon_greedy(outputs, self.epsilon if explore else 0.0, self.rng), state_out, {}
        actions, logp = sample_actions(self.dist_spec, outputs, self.rng, explore=explore)
        return (
            actions,
            state_out,
            {
                sb.ACTION_LOGP: logp,
                sb.VF_PREDS: np.asarray(values, dtype=np.float32),
                sb.ACTION_DIST_INPUTS: np.asarray(outputs, dtype=np.float32),
            },
        )

    def compute_values(self, obs: np.ndarray, state: StateBatches | None = None) -> np.ndarray:
        """``V(obs)`` with the acting forward pass (so bootstrap values match ``vf_preds``).

        A recurrent policy evaluates from ``state`` (the state at ``obs``, as the sampler keeps it
        for bootstrapping; a new episode's zeros when None).
        """
        if self.action_outputs != "dist":
            raise self._unsupported("value estimates (compute_values)")
        if self.recurrent:
            return np.asarray(self._acting_step()(obs, self._batch_state(state, len(obs)))[1], dtype=np.float32)
        return np.asarray(self._acting_forward()(obs)[1], dtype=np.float32)

    # -- learning: the one rule --------------------------------------------------------------
    @property
    def required_columns(self) -> tuple[str, ...]:
        """The columns a learning batch must have: :attr:`loss_columns`, plus ``seq_lens`` and one
        ``state_in_j`` per state tensor for a recurrent policy."""
        if not self.recurrent:
            return tuple(self.loss_columns)
        states = tuple(f"{sb.STATE_IN_PREFIX}{j}" for j in range(len(self.initial_state())))
        return (*self.loss_columns, sb.SEQ_LENS, *states)

    def _check_columns(self, batch: Mapping[str, Any]) -> None:
        missing = [c for c in self.required_columns if c not in batch]
        if missing:
            raise SampleBatchError(
                f"{type(self).__name__}'s loss needs the columns {missing}, which the batch lacks "
                f"(it has {sorted(batch)}); train on batches from the rollout evaluator's sample()."
            )
        if self.recurrent and isinstance(batch, SampleBatch):
            from rlcore.sequences import check_sequences

            check_sequences(batch)

    def _check_finite(self, info: Mapping[str, Any], batches: Iterable[Mapping[str, Any]], outcome: str) -> None:
        bad = [k for k in self.info_keys if k in info and not math.isfinite(float(info[k]))]
        if bad:
            raise NonFiniteLossError(
                nonfinite_message(type(self).__name__, bad, info, batches, self.loss_columns, self._get_weights())
                + f" {outcome}"
            )

    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Gradients of the loss on ``batch`` and the info; raises on missing columns or non-finite terms."""
        self._check_columns(batch)
        grads, info = self._compute_gradients(batch)
        self._check_finite(info, [batch], "No gradients were returned; nothing was applied.")
        return grads, info

    def apply_gradients(self, grads: Gradients) -> None:
        """Check ``grads`` (complete, known names, shapes, finite), then one optimizer step."""
        self._apply_gradients(check_gradients(self.layout, grads, type(self).__name__))
        self._version += 1

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """One fused gradient step on ``batch``; returns the info dict."""
        self._check_columns(batch)
        info = self._learn_on_batch(batch)
        self._check_finite(info, [batch], "Nothing was applied: the weights and optimizer state are unchanged.")
        self._version += 1
        return info

    def loss(self, batch: SampleBatch) -> float:
        """The loss on ``batch``; changes nothing."""
        self._check_columns(batch)
        return float(self._loss(batch))

    def load_batch(self, batch: SampleBatch) -> int:
        """Split ``batch`` over :attr:`num_devices` devices; returns rows per device."""
        self._check_columns(batch)
        if batch.count < self.num_devices:
            raise SampleBatchError(f"a batch of {batch.count} rows cannot be split over {self.num_devices} devices")
        return int(self._load_batch(batch))

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        """One step on rows ``indices`` of every device's share, gradients averaged over devices."""
        info = self._learn_on_loaded_batch(np.asarray(indices, dtype=np.int64).reshape(-1))
        self._check_finite(info, [], "Nothing was applied: the weights and optimizer state are unchanged.")
        self._version += 1
        return info

    # -- weights, state, global vars -----------------------------------------------------------
    def get_weights(self) -> Weights:
        """Copies of the weights (canonical names and layouts)."""
        return self._get_weights()

    def set_weights(self, weights: Weights) -> None:
        """Load canonical weights (checked against the layout first)."""
        check_weights(self.layout, dict(weights), type(self).__name__)
        self._set_weights(dict(weights))
        self._version += 1

    # -- flat weights and population acting (gradient-free algorithms: ES, ARS, CEM) -------------
    @property
    def flat_layout(self) -> list[Param]:
        """The parameters that acting uses, in layout order: the flat parameter vector of
        gradient-free algorithms (ES) covers these only. For action-distribution outputs
        (``action_outputs == "dist"``) that is :attr:`layout` without the value branch
        (:func:`rlcore.models.layout.acting_layout`: ``value/*``, ``value_fc_i/*``), which never
        changes an action; for Q-value outputs the whole layout. :meth:`get_weights`,
        :meth:`set_weights` and checkpoints keep the whole layout."""
        layout = self.__dict__.get("_flat_layout_cache")
        if layout is None:
            layout = acting_layout(self.layout) if self.action_outputs == "dist" else list(self.layout)
            self.__dict__["_flat_layout_cache"] = layout
        return list(layout)

    @property
    def num_params(self) -> int:
        """The number of acting parameters (:attr:`flat_layout`'s scalars): the length of
        :meth:`get_flat_weights`."""
        size = self.__dict__.get("_num_params_cache")
        if size is None:
            size = self.__dict__["_num_params_cache"] = num_params(self.flat_layout)
        return int(size)

    def get_flat_weights(self) -> np.ndarray:
        """The acting weights as one ``float32 [num_params]`` vector (a copy): each weight of
        :attr:`flat_layout` raveled in C order, in layout order
        (:func:`rlcore.models.layout.flatten_weights`); the value branch is not in it."""
        weights, layout = self._get_weights(), self.flat_layout
        acting = {p.name: weights[p.name] for p in layout if p.name in weights}
        return flatten_weights(layout, acting, type(self).__name__)

    def set_flat_weights(self, flat: np.ndarray) -> None:
        """Load a flat vector from :meth:`get_flat_weights` (of this or an identical policy) into
        the acting weights (:attr:`flat_layout`); the other weights (the value branch) stay as
        they are.

        Raises :class:`~rlcore.errors.ConfigError` naming both sizes when ``flat`` is not
        ``[num_params]``, or when it holds NaN or infinite values (nothing is set then).
        """
        self._load_flat(flat, None)

    def _load_flat(self, flat: np.ndarray, base: Weights | None) -> None:
        """Set the acting weights from ``flat`` and every other weight from ``base`` (the current
        weights when None)."""
        acting = unflatten_weights(self.flat_layout, flat, type(self).__name__)
        weights = dict(self._get_weights() if base is None else base)
        weights.update(acting)
        self.set_weights(weights)

    def _flat_slices(self) -> dict[str, tuple[int, int, tuple[int, ...]]]:
        slices = self.__dict__.get("_flat_slices_cache")
        if slices is None:
            slices, start = {}, 0
            for p in self.flat_layout:
                n = math.prod(p.shape)
                slices[p.name] = (start, start + n, tuple(p.shape))
                start += n
            self.__dict__["_flat_slices_cache"] = slices
        return slices

    def compute_population_actions(self, flat_params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions of a population of weight vectors: row ``k`` is the action
        (``explore=False``: argmax, Gaussian mean, per-part modes) of this policy with the flat
        weights ``flat_params[k]`` (the acting weights, :attr:`flat_layout`) on the filtered
        observation ``obs[k]``; the format of :meth:`compute_actions`' actions (``[K, ...]``).

        Catalog fc models acting through the numpy mirror take one batched numpy forward over all
        K rows (:func:`rlcore.models.numpy_forward.population_fc_logits`, the policy tower only).
        Other models (vision, custom, ``numpy_inference: false``) run :meth:`forward` once per
        distinct row with :meth:`set_flat_weights`, then restore the weights there were before.

        Raises :class:`~rlcore.errors.UnsupportedOperationError` for recurrent policies and
        Q-value policies (``action_outputs == "q"``), :class:`~rlcore.errors.ConfigError` when
        ``flat_params`` is not ``[len(obs), num_params]`` or ``obs`` is not ``[K, *obs_shape]``.
        """
        if self.recurrent or self.action_outputs != "dist":
            raise self._unsupported(
                "population acting (compute_population_actions): population acting needs a feed-forward policy "
                f"with action-distribution outputs; this one is {'recurrent' if self.recurrent else 'a Q-value policy'}"
            )
        params = np.asarray(flat_params, dtype=np.float32)
        size = self.num_params
        if params.ndim != 2 or params.shape[1] != size or len(params) != len(obs):
            raise ConfigError(
                f"{type(self).__name__}.compute_population_actions: flat_params has shape {params.shape} for "
                f"{len(obs)} observations; expected [{len(obs)}, {size}] (one flat weight vector of {size:,} "
                "parameters per observation row)"
            )
        obs = np.asarray(obs)
        if tuple(obs.shape[1:]) != self.obs_shape:
            raise ConfigError(
                f"{type(self).__name__}.compute_population_actions: obs has shape {obs.shape}; expected "
                f"[{len(params)}, {', '.join(map(str, self.obs_shape))}] (one filtered observation of shape "
                f"{self.obs_shape} per flat weight row)"
            )
        from rlcore.models.numpy_forward import NumpyFCForward, population_fc_logits

        if isinstance(self._mirror, NumpyFCForward):
            k = len(params)  # the flat vector holds the policy tower only (flat_layout)
            stacked = {name: params[:, a:b].reshape(k, *shape) for name, (a, b, shape) in self._flat_slices().items()}
            outputs = population_fc_logits(self.model_config, stacked, obs)
        else:
            outputs = self._population_outputs_fallback(params, obs)
        return self._deterministic_actions(outputs)

    def _deterministic_actions(self, outputs: np.ndarray) -> np.ndarray:
        """``sample_actions(dist_spec, outputs, explore=False)``'s actions, without the log-probabilities
        (argmax of the logits, the Gaussian mean; other kinds through :func:`sample_actions`)."""
        spec = self.dist_spec
        if spec.kind == "categorical":
            return np.asarray(outputs.argmax(axis=1), dtype=np.int64)
        if spec.kind == "diag_gaussian":
            d = outputs.shape[1] // 2
            shape = tuple((getattr(spec, "params", None) or {}).get("action_shape", (d,)))
            return np.asarray(outputs[:, :d], dtype=np.float32).reshape(len(outputs), *shape)
        return sample_actions(spec, outputs, self.rng, explore=False)[0]

    def _population_outputs_fallback(self, params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        # Rows with identical weights share one forward. Grouped by their bytes in a dict: np.unique
        # (axis=0) sorts the [K, P] rows lexicographically, most of the call's time for vision models.
        groups: dict[bytes, list[int]] = {}
        for k, row in enumerate(params):
            groups.setdefault(row.tobytes(), []).append(k)
        saved = self._get_weights()
        outputs: np.ndarray | None = None
        try:
            for members in groups.values():
                rows = np.asarray(members, dtype=np.int64)
                self._load_flat(params[members[0]], saved)
                out = np.asarray(self.forward(obs[rows])[0], dtype=np.float32)
                if outputs is None:
                    outputs = np.empty((len(params), *out.shape[1:]), np.float32)
                outputs[rows] = out
        finally:
            self.set_weights(saved)
        assert outputs is not None or len(params) == 0
        return outputs if outputs is not None else np.zeros((0, self.dist_spec.num_outputs), np.float32)

    def get_state(self) -> dict[str, Any]:
        """Weights, global vars and :meth:`extra_state` (optimizer moments...)."""
        return {"weights": self.get_weights(), "global_vars": dict(self.global_vars), **self.extra_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.set_weights(state["weights"])
        self.set_global_vars(dict(state.get("global_vars", {})))
        self.set_extra_state(state)
        self._version += 1

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Keep trainer-wide values; ``timestep`` drives ``lr_schedule``, ``epsilon`` epsilon-greedy acting."""
        self.global_vars.update(global_vars)
        if "epsilon" in global_vars:
            self.epsilon = float(global_vars["epsilon"])
        if self.lr_schedule is not None and "timestep" in global_vars:
            self._set_learning_rate(self.lr_schedule.value(float(global_vars["timestep"])))

    # -- pickling: rebuild from the constructor arguments and the numpy state ----------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "init": (self.observation_space, self.action_space, self.config, self.seed),
            "state": self.get_state(),
            "rng": self.rng.bit_generator.state,
        }

    def __setstate__(self, data: dict[str, Any]) -> None:
        observation_space, action_space, config, seed = data["init"]
        self.__init__(observation_space, action_space, config, seed=seed)  # type: ignore[misc]
        self.set_state(data["state"])
        self.rng.bit_generator.state = data["rng"]


class ForwardOnlyModelPolicy(ModelPolicy):
    """A :class:`ModelPolicy` that only acts: for gradient-free algorithms (ES, ARS, CEM), which
    update its flat weights (:meth:`~ModelPolicy.set_flat_weights`) instead of learning from
    gradients.

    Subclasses supply :meth:`~ModelPolicy.build`, :meth:`~ModelPolicy.model_layout`,
    :meth:`~ModelPolicy.forward`, ``_get_weights`` and ``_set_weights``; the learning methods
    (``compute_gradients``, ``apply_gradients``, ``learn_on_batch``, ``loss``) raise
    :class:`~rlcore.errors.UnsupportedOperationError`. No loss columns; capabilities
    ``{"discrete", "continuous"}`` (no ``"gradients"``).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "continuous"})
    loss_columns: ClassVar[tuple[str, ...]] = ()

    def _no_gradients(self, method: str) -> UnsupportedOperationError:
        return self._unsupported(
            f"learning from gradients ({method}): this policy only acts; gradient-free algorithms such as ES "
            "update its flat weights"
        )

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        raise self._no_gradients("compute_gradients")

    def _apply_gradients(self, grads: Gradients) -> None:
        raise self._no_gradients("apply_gradients")

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        raise self._no_gradients("learn_on_batch")

    def _loss(self, batch: SampleBatch) -> float:
        raise self._no_gradients("loss")

    def apply_gradients(self, grads: Gradients) -> None:
        """Refused: raises :class:`~rlcore.errors.UnsupportedOperationError` (before any check of ``grads``)."""
        raise self._no_gradients("apply_gradients")


#: The methods a policy needs for gradient-free algorithms that perturb a flat parameter vector.
FLAT_WEIGHT_METHODS: tuple[str, ...] = ("get_flat_weights", "set_flat_weights", "compute_population_actions")


def flat_weight_layout(policy: Any, owner: str) -> list[Param]:
    """The layout of the policy's flat weights, for ``owner`` (an algorithm's name) to perturb:
    ``policy.flat_layout`` (the acting parameters, :attr:`ModelPolicy.flat_layout`) when it has
    one, else ``policy.layout``; when the policy has a flat-weight layout (a ``layout`` list of
    :class:`~rlcore.models.layout.Param` and :data:`FLAT_WEIGHT_METHODS`).

    Raises :class:`~rlcore.errors.UnsupportedOperationError` naming the policy class and what it lacks.
    """
    layout: Any = getattr(policy, "layout", None)
    lacks = [m for m in FLAT_WEIGHT_METHODS if not callable(getattr(policy, m, None))]
    if not isinstance(layout, list) or not all(isinstance(p, Param) for p in layout):
        lacks.insert(0, "layout (a list of Param)")
    if lacks:
        cls = type(policy)
        raise UnsupportedOperationError(
            f"{owner} perturbs a flat parameter vector, but {cls.__module__}.{cls.__qualname__} has no flat-weight "
            f"layout (it lacks {', '.join(lacks)}). Register a policy that subclasses "
            "rlcore.model_policy.ModelPolicy (ForwardOnlyModelPolicy for act-only policies), or whose weights "
            "are a list of rlcore.models.layout.Param in .layout"
        )
    acting: Any = getattr(policy, "flat_layout", None)
    if isinstance(acting, list) and all(isinstance(p, Param) for p in acting):
        return list(acting)
    return list(layout)


def recurrent_unsupported_message(owner: str, capabilities: Iterable[str]) -> str:
    """Why a policy without the ``"recurrent"`` capability refuses ``model.use_lstm``, and what to do."""
    return (
        f"{owner} does not support recurrent models (model config use_lstm=True): its capabilities "
        f"{sorted(capabilities)} lack 'recurrent'. Use an algorithm whose policy declares 'recurrent' "
        "(the first-party PPO, A3C and A2C do; `rlcore list-plugins` lists the installed policies), "
        "or set model.use_lstm to false."
    )


def check_gradients(layout: list[Param], grads: Mapping[str, Any], owner: str) -> Gradients:
    """``grads`` as float32 arrays after the one rule: every weight of ``layout`` has a gradient of
    its shape, no unknown names, every value finite.

    Raises :class:`~rlcore.errors.GradientError` (not a mapping, a value that is not numbers,
    missing, unknown, wrong shape) or :class:`~rlcore.errors.NonFiniteLossError`.
    """
    if not isinstance(grads, Mapping):
        raise GradientError(
            f"{owner}.apply_gradients: the gradients must be a dict of weight name -> array (what "
            f"compute_gradients returns), got {type(grads).__name__}"
        )
    shapes = {p.name: tuple(p.shape) for p in layout}
    missing = [n for n in shapes if n not in grads]
    unknown = sorted(str(n) for n in set(grads) - set(shapes))
    arrays: dict[str, np.ndarray] = {}
    for n in shapes:
        if n in grads:
            try:
                arrays[n] = np.asarray(grads[n], dtype=np.float32)
            except (TypeError, ValueError) as e:
                raise GradientError(
                    f"{owner}.apply_gradients: the gradient of {n!r} is not an array of numbers "
                    f"({type(grads[n]).__name__}: {e}); pass what compute_gradients returns"
                ) from None
    wrong = [f"{n}: {a.shape} != {shapes[n]}" for n, a in arrays.items() if a.shape != shapes[n]]
    if missing or unknown or wrong:
        raise GradientError(
            f"{owner}.apply_gradients: the gradients do not fit the weights: missing {missing}, unknown {unknown}, "
            f"wrong shapes {wrong}. Pass every gradient that compute_gradients returns (a partial dict is refused)."
        )
    bad = [n for n, a in arrays.items() if not np.isfinite(a).all()]
    if bad:
        raise NonFiniteLossError(
            f"{owner}.apply_gradients: the gradients of {bad} are not finite; nothing was applied: the weights "
            "and the optimizer state are unchanged."
        )
    return arrays


def nonfinite_message(
    owner: str,
    bad: list[str],
    info: Mapping[str, Any],
    batches: Iterable[Mapping[str, Any]],
    loss_columns: Iterable[str],
    weights: Mapping[str, np.ndarray],
) -> str:
    """Why a step was refused: the first non-finite term, every term, and the non-finite inputs."""
    what = "the gradient norm" if bad[0] == "grad_norm" else f"loss term {bad[0]!r}"
    terms = ", ".join(f"{k}={float(v):.4g}" for k, v in info.items() if np.ndim(v) == 0)
    batch_list = list(batches)
    cols = [
        c
        for c in loss_columns
        if any(
            c in b and np.asarray(b[c]).dtype.kind in "fc" and not np.isfinite(np.asarray(b[c])).all()
            for b in batch_list
        )
    ]
    bad_weights = [n for n, w in weights.items() if not np.isfinite(w).all()]
    hint = " The batch and the weights are finite: lower lr or set grad_clip."
    if cols or bad_weights:
        hint = f" Non-finite batch columns: {cols}; non-finite weights: {bad_weights}."
        if cols:
            hint += (
                " The batch comes from the env's rewards and observations (and the postprocessing's advantages "
                "and value targets computed from them): check the env, or scale its rewards (clip_rewards: true) "
                "and observations (observation_filter: MeanStdFilter)."
            )
        if bad_weights:
            hint += " The weights diverged: restore an earlier checkpoint, and lower lr or set grad_clip."
    return f"{owner}: {what} is not finite ({terms}).{hint}"


__all__ = [
    "ACTION_OUTPUTS",
    "FLAT_WEIGHT_METHODS",
    "ForwardOnlyModelPolicy",
    "ModelPolicy",
    "RecurrentStateError",
    "check_gradients",
    "check_recurrent_state",
    "flat_weight_layout",
    "nonfinite_message",
    "recurrent_unsupported_message",
]
