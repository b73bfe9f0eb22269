"""What rl_tf's actor-critic policies (PPO, A3C) share: model, graphs, Adam, weights, threads, recurrence.

:class:`ActorCriticTFPolicy` subclasses the core's :class:`~rlcore.model_policy.ModelPolicy`
(acting through the numpy mirror, action sampling, the one rule for batches, gradients, non-finite
losses and pickling) and supplies everything of a TensorFlow policy but its loss: the catalog model
(a ``tf.Module`` built through the model registry), the graphs (forward, loss statistics, flat
gradient and info, weights in and out, Adam's update), each one ``tf.function`` traced once on first
use from a fixed input signature, and the optimizer state. A subclass declares its
``loss_columns``, the order of its statistics (:attr:`ActorCriticTFPolicy.stat_keys`, without
``grad_norm``) and writes :meth:`ActorCriticTFPolicy._loss_terms` on the model's outputs.

Recurrent models (the catalog's ``use_lstm``: :class:`rl_tf.models.LSTMNetwork`) take the same
path: the loss graph's model inputs are the observations padded to ``[S, T, ...]`` (sequences of
the batch's ``seq_lens`` column, ``T`` the longest of the batch), the states at the sequence
starts and the flat positions of the real rows; the model runs over time with ``tf.scan`` and
its outputs are gathered back to one row per step, so the loss code stays row-wise (means over
the real rows are the masked means). The signature has ``None`` for ``S`` and ``T``: one trace
serves every padded length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rl_tf.graph import CatalogForward, GraphFunction, VariableWeights
from rl_tf.models import CatalogModel
from rl_tf.optim import Adam, flatten
from rlcore import sample_batch as sb
from rlcore.model_policy import ModelPolicy
from rlcore.models.layout import Param
from rlcore.policy import Gradients, StateBatches
from rlcore.sample_batch import SampleBatch

__all__ = ["ActorCriticTFPolicy", "global_norm", "limit_threads"]


def limit_threads(num_threads: int) -> bool:
    """Cap TensorFlow's thread pools: ``num_threads`` intra-op threads, one inter-op thread.

    ``num_threads <= 0`` leaves TensorFlow's defaults (every core). TensorFlow fixes its pools when
    its context starts (the first op or variable of the process), so this takes effect in a fresh
    process (a Ray worker building its policy) and is a no-op afterwards (the ``RuntimeError``
    TensorFlow raises then is swallowed). Returns whether the pools now have these sizes.
    """
    if num_threads <= 0:
        return False
    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(int(num_threads))
        threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the context already started: the pools are fixed for this process
        pass
    return (
        threading.get_intra_op_parallelism_threads() == num_threads
        and threading.get_inter_op_parallelism_threads() == 1
    )


def global_norm(flat: np.ndarray) -> float:
    """The float64 Euclidean norm of a flat gradient, element-wise (no BLAS call: numpy's dot of a
    long vector can start BLAS threads that contend with TensorFlow's; measured 7 ms instead of
    ~0.05 ms for an LSTM's 37k weights on this 2-core machine under load)."""
    x = np.asarray(flat, dtype=np.float64)
    return math.sqrt(float(np.add.reduce(x * x)))


class ActorCriticTFPolicy(CatalogForward, VariableWeights, ModelPolicy):
    """Base of rl_tf's actor-critic policies: catalog model, graphs, Adam, canonical weights.

    Config keys read here: ``lr``, ``adam_epsilon``, ``vf_loss_coeff``, ``entropy_coeff``,
    ``grad_clip`` (global-norm clip before Adam, None: none), ``num_cpu_threads`` (TensorFlow's
    intra-op threads when the process's TensorFlow has not started yet: :func:`limit_threads`),
    ``model``. Weights, gradients and Adam's moments (in :meth:`get_state`) use the catalog's
    canonical names and layouts, so they are interchangeable with the torch policies'.

    A subclass sets ``loss_columns`` (``obs`` first), :attr:`stat_keys` and ``info_keys``, and
    implements :meth:`_loss_terms`; :meth:`_setup_loss` reads its own config keys.
    """

    framework: ClassVar[str] = "tf"
    #: The statistics :meth:`_loss_terms` returns, in order; the info is these, then ``grad_norm``.
    stat_keys: ClassVar[tuple[str, ...]] = ("loss",)

    model: CatalogModel

    # -- construction -----------------------------------------------------------
    def build(self) -> None:
        """Cap the threads, build the seeded catalog model, the loss constants, the graphs and Adam."""
        cfg = self.config
        self.threads_limited = limit_threads(int(cfg.get("num_cpu_threads", 0) or 0))
        self.model = self._make_model()
        self.weight_names = self.model.weight_names()
        self._vars = [self.model.params[n] for n in self.weight_names]
        self._vf_coeff = float(cfg["vf_loss_coeff"])
        self._entropy_coeff = float(cfg["entropy_coeff"])
        self._grad_clip = None if cfg["grad_clip"] is None else float(cfg["grad_clip"])
        self._setup_loss()
        self.devices = self._pick_devices()
        self.num_devices = len(self.devices)
        self._build_graphs()
        fast = self._acting_fn.uses_fast_path
        self.optimizer = Adam(self._vars, self.weight_names, float(cfg["lr"]), float(cfg["adam_epsilon"]), fast=fast)

    def _setup_loss(self) -> None:
        """Read the subclass's own loss keys (called before the graphs are built)."""

    def model_layout(self) -> list[Param]:
        """The catalog model's canonical layout."""
        return self.model.layout

    def _make_model(self) -> CatalogModel:
        return self.build_catalog_model(CatalogModel)

    def _pick_devices(self) -> list[str]:
        return ["/CPU:0"]

    # -- signatures -------------------------------------------------------------------
    @property
    def _dist_dim(self) -> int:
        n = self.dist_spec.num_outputs
        return 2 * n if self.dist_spec.kind == "diag_gaussian" and self.model_config["free_log_std"] else n

    @property
    def _loss_cols(self) -> tuple[str, ...]:
        """The loss columns after ``obs`` (the model's inputs come first in every loss graph)."""
        return tuple(c for c in self.loss_columns if c != sb.OBS)

    def _action_spec(self) -> tf.TensorSpec:
        spec = self.dist_spec
        if spec.kind == "categorical":
            return tf.TensorSpec([None], tf.int64)
        if spec.kind == "multi_categorical":
            return tf.TensorSpec([None, len(tf.nest.flatten(list(spec.params["input_lens"])))], tf.int64)
        return tf.TensorSpec([None, int(np.prod(spec.action_shape, dtype=np.int64))], tf.float32)

    def _cell_size(self) -> int:
        return int(self.cell_size)

    def _model_specs(self) -> list[tf.TensorSpec]:
        """The model inputs of the loss graphs: ``[obs [N, *obs]]``, or for a recurrent model
        ``[obs [S, T, *obs], h0 [S, c], c0 [S, c], valid [N] int64]``."""
        if not self.recurrent:
            return [tf.TensorSpec([None, *self.obs_shape], tf.float32)]
        state = tf.TensorSpec([None, self._cell_size()], tf.float32)
        return [
            tf.TensorSpec([None, None, *self.obs_shape], tf.float32),
            state,
            state,
            tf.TensorSpec([None], tf.int64),
        ]

    def _column_specs(self) -> list[tf.TensorSpec]:
        """Model inputs, then one spec per column of :attr:`_loss_cols`."""
        specs = self._model_specs()
        for col in self._loss_cols:
            if col == sb.ACTIONS:
                specs.append(self._action_spec())
            elif col == sb.ACTION_DIST_INPUTS:
                specs.append(tf.TensorSpec([None, self._dist_dim], tf.float32))
            else:
                specs.append(tf.TensorSpec([None], tf.float32))
        return specs

    def _build_graphs(self) -> None:
        """The graphs, each traced on first use. A learning step is two calls: the gradients and the
        info (checked for finiteness in Python: nothing is applied when it is not finite, and the core
        raises), then Adam's step on the flat gradient tensor (:meth:`rl_tf.optim.Adam.step`)."""
        if self.recurrent:
            obs_spec = tf.TensorSpec([None, *self.obs_shape], tf.float32)
            state = tf.TensorSpec([None, self._cell_size()], tf.float32)
            self._step_fn = GraphFunction(self._graph_step, [obs_spec, state, state])
            c = self._cell_size()
            zeros = np.zeros((1, c), np.float32)
            self._step_fn.check_fast_path(np.zeros((1, *self.obs_shape), np.float32), zeros, zeros)
            self._acting_fn = self._step_fn
        else:
            self._acting_fn = self._build_forward_graph()
        fast = self._acting_fn.uses_fast_path
        cols = self._column_specs()
        self._loss_fn = GraphFunction(self._graph_loss, cols, fast=fast)
        self._grads_fn = GraphFunction(self._graph_grads, cols, fast=fast)
        self._build_extra_graphs(cols, fast)
        self._build_weight_graphs(fast=fast)

    def _build_extra_graphs(self, cols: list[tf.TensorSpec], fast: bool) -> None:
        """Subclass hook: more graphs over the loss graphs' signature ``cols``."""

    # -- graph bodies (traced once each) ------------------------------------------
    def _graph_step(self, obs: tf.Tensor, h: tf.Tensor, c: tf.Tensor) -> tuple[tf.Tensor, ...]:
        dist_inputs, values, (h2, c2) = self.model.forward_step(obs, [h, c])  # type: ignore[attr-defined]
        return dist_inputs, values, h2, c2

    def _model_outputs(self, model_inputs: Sequence[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """``(dist_inputs [N, n], values [N])`` of the batch's rows (inside a graph)."""
        if not self.recurrent:
            return self.model(model_inputs[0])
        obs, h0, c0, valid = model_inputs
        dist_inputs, values = self.model.forward_sequences(obs, [h0, c0])  # type: ignore[attr-defined]
        dist_inputs = tf.gather(tf.reshape(dist_inputs, [-1, self._dist_dim]), valid)
        values = tf.gather(tf.reshape(values, [-1]), valid)
        return dist_inputs, values

    def _split_args(self, args: Sequence[tf.Tensor]) -> tuple[Sequence[tf.Tensor], dict[str, tf.Tensor]]:
        k = len(self._model_specs())
        return args[:k], dict(zip(self._loss_cols, args[k:], strict=True))

    def _loss_terms(
        self, dist_inputs: tf.Tensor, values: tf.Tensor, cols: dict[str, tf.Tensor]
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """The loss and its statistics (a vector in :attr:`stat_keys` order), from the model's outputs
        on the batch rows and the other loss columns (by name)."""
        raise NotImplementedError

    def _loss_and_stats(self, args: Sequence[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        model_inputs, cols = self._split_args(args)
        dist_inputs, values = self._model_outputs(model_inputs)
        return self._loss_terms(dist_inputs, values, cols)

    def _loss_and_grads(self, args: Sequence[tf.Tensor]) -> tuple[list[tf.Tensor], tf.Tensor]:
        with tf.GradientTape() as tape:
            loss, stats = self._loss_and_stats(args)
        grads = tape.gradient(loss, self._vars, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return grads, stats

    def _graph_loss(self, *args: tf.Tensor) -> tf.Tensor:
        return self._loss_and_stats(args)[1]

    def _graph_grads(self, *args: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(flat gradient, info values [info order])``: the last value is the (pre-clip) global norm."""
        grads, stats = self._loss_and_grads(args)
        flat = flatten(grads)
        return flat, tf.concat([stats, [tf.norm(flat)]], 0)

    @property
    def info_order(self) -> tuple[str, ...]:
        """The keys of the info dicts, in the order the graphs compute them."""
        return (*self.stat_keys, "grad_norm")

    # -- acting ---------------------------------------------------------------------
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs [B, n], values [B])`` as float32 numpy for filtered observations (a
        recurrent model: one step from the initial state)."""
        if not self.recurrent:
            return super().forward(obs)
        obs = self._check_obs(obs)
        zeros = np.zeros((len(obs), self._cell_size()), np.float32)
        dist_inputs, values, _, _ = self._step_fn(obs, zeros, zeros)
        return dist_inputs.numpy(), values.numpy()

    def forward_step(self, obs: np.ndarray, state: StateBatches) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """One step of a recurrent model: ``(dist_inputs [B, n], values [B], [h' [B, c], c' [B, c]])``
        as float32 numpy from filtered observations and the state ``[h [B, c], c [B, c]]``.

        Raises :class:`~rlcore.errors.UnsupportedOperationError` for a model without recurrence and
        ``ValueError`` for observations or states of the wrong shape.
        """
        if not self.recurrent:
            raise self._unsupported(f"forward_step (the {self.model_kind!r} model keeps no recurrent state)")
        obs = self._check_obs(obs)
        c = self._cell_size()
        if len(state) != 2:
            raise ValueError(f"forward_step expects the state [h, c], got {len(state)} arrays")
        h0, c0 = (np.asarray(s, np.float32) for s in state)
        if h0.shape != (len(obs), c) or c0.shape != (len(obs), c):
            raise ValueError(
                f"forward_step expects states of shape [{len(obs)}, {c}] for {len(obs)} observations, "
                f"got {h0.shape} and {c0.shape}"
            )
        dist_inputs, values, h1, c1 = self._step_fn(obs, h0, c0)
        return dist_inputs.numpy(), values.numpy(), [h1.numpy(), c1.numpy()]

    # -- learning -------------------------------------------------------------------
    def _actions(self, batch: SampleBatch, n: int) -> np.ndarray:
        acts = np.asarray(batch[sb.ACTIONS])
        if self.dist_spec.kind == "categorical":
            return acts.astype(np.int64, copy=False).reshape(n)
        if self.dist_spec.kind == "multi_categorical":
            return acts.astype(np.int64, copy=False).reshape(n, -1)
        return acts.astype(np.float32, copy=False).reshape(n, -1)

    def _model_arrays(self, batch: SampleBatch) -> list[np.ndarray]:
        """The model inputs of :meth:`_model_specs` from the batch (sequences padded for a recurrent model)."""
        obs = np.asarray(batch[sb.OBS], np.float32)
        if not self.recurrent:
            return [obs]
        from rlcore import sequences

        padded, (h0, c0), valid = sequences.padded_forward_inputs(batch, obs)
        return [padded, h0, c0, valid]

    def _columns(self, batch: SampleBatch) -> list[np.ndarray]:
        """The loss graphs' inputs in their dtypes and shapes (the core checked that the columns exist)."""
        n = len(batch[sb.OBS])
        out = self._model_arrays(batch)
        for col in self._loss_cols:
            out.append(self._actions(batch, n) if col == sb.ACTIONS else np.asarray(batch[col], np.float32))
        return out

    def _info(self, stats: Any) -> dict[str, float]:
        return dict(zip(self.info_order, stats.numpy().tolist(), strict=True))

    def _step(self, out: list[tf.Tensor]) -> dict[str, float]:
        """Apply the gradients of a gradient graph's outputs when the info is finite; return the info."""
        grad, stats = out
        info = self._info(stats)
        if all(math.isfinite(v) for v in info.values()):  # else nothing is applied and the core raises
            self.optimizer.step(grad, info["grad_norm"], self._grad_clip)
        return info

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, float]]:
        grad, stats = self._grads_fn(*self._columns(batch))
        return self.optimizer.split(grad.numpy()), self._info(stats)

    def _apply_gradients(self, grads: Gradients) -> None:
        flat = self.optimizer.join(grads)
        self.optimizer.step(flat, global_norm(flat), self._grad_clip)

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, float]:
        return self._step(self._grads_fn(*self._columns(batch)))

    def _loss(self, batch: SampleBatch) -> float:
        stats = self._loss_fn(*self._columns(batch))[0].numpy()
        return float(stats[self.stat_keys.index("loss")])

    # -- weights and state ----------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Adam's step count and first and second moments (canonical names and layouts), as numpy."""
        return {"optimizer": self.optimizer.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (a state without ``"optimizer"`` leaves Adam as it is)."""
        opt = state.get("optimizer")
        if opt is not None:
            self.optimizer.set_state(opt)
