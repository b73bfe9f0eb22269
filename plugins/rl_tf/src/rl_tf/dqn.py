"""DQN's policy evaluator in TensorFlow 2: a ``tf.Module`` Q network, a target copy, ``tf.function`` graphs.

:class:`DQNTFEvaluator` subclasses :class:`~rlcore.q_evaluator.QSamplingEvaluator` (epsilon-greedy
acting through the numpy mirror, exploration schedule, n-step postprocessing) and supplies the Q
network of :func:`rlcore.models.layout.q_layout`, the Huber TD loss (double Q optional), Adam and
the target network. Every graph (Q forward, loss, gradients, apply, fused learn step, target
sync) is one ``tf.function`` traced once from a fixed input signature.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rl_tf.graph import GraphFunction, RebuildOnUnpickle
from rl_tf.models import CatalogModel, get_activation
from rl_tf.optim import Adam, ModelWeightsMixin, clip_and_apply, gradient_arrays, non_finite_inputs
from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, NonFiniteLossError, SampleBatchError, UnsupportedOperationError
from rlcore.evaluator import Gradients
from rlcore.loss_config import DQN_LOSS_COLUMNS
from rlcore.models.layout import Param
from rlcore.q_evaluator import QSamplingEvaluator
from rlcore.sample_batch import SampleBatch

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "STAT_NAMES", "DQNTFEvaluator", "QNetwork", "huber"]

LOSS_COLUMNS = DQN_LOSS_COLUMNS
#: Scalar keys of the learner info, in order (the info also has ``td_error``: float32 ``[B]``).
STAT_NAMES: tuple[str, ...] = ("loss", "mean_q", "mean_td_error", "grad_norm")
INFO_KEYS = STAT_NAMES  # the torch twin's name


class QNetwork(CatalogModel):
    """The Q network of :func:`~rlcore.models.layout.q_layout` (fc trunk, ReLU head, dueling or not).

    ``QNetwork(layout, obs_dim, num_fc, num_head, dueling, activation, seed)``;
    ``model(obs) -> q [B, num_actions]`` (dueling: ``V + A - mean_a A``).
    """

    def __init__(
        self,
        layout: list[Param],
        obs_dim: int,
        num_fc: int,
        num_head: int,
        dueling: bool,
        activation: str,
        seed: int | None,
        name: str = "q",
    ) -> None:
        self.obs_dim, self.num_fc, self.num_head, self.dueling = int(obs_dim), int(num_fc), int(num_head), dueling
        self.activation = get_activation(activation)
        super().__init__(layout, seed, name)

    def _stream(self, h: tf.Tensor, name: str) -> tf.Tensor:
        for j in range(self.num_head):
            h = tf.nn.relu(self._dense(h, f"{name}_fc_{j}"))
        return self._dense(h, f"{name}_out")

    def __call__(self, obs: tf.Tensor) -> tf.Tensor:
        """Q-values ``[B, num_actions]`` for (filtered) observations ``[B, ...]``."""
        h = tf.reshape(tf.cast(obs, tf.float32), [-1, self.obs_dim])
        for i in range(self.num_fc):
            h = self.activation(self._dense(h, f"fc_{i}"))
        if not self.dueling:
            return self._stream(h, "q")
        adv = self._stream(h, "advantage")
        return self._stream(h, "state_value") + adv - tf.reduce_mean(adv, axis=1, keepdims=True)


def huber(x: tf.Tensor, delta: float) -> tf.Tensor:
    """Elementwise Huber loss: ``0.5 x^2`` for ``|x| <= delta``, else ``delta (|x| - 0.5 delta)``."""
    abs_x = tf.abs(x)
    quad = tf.minimum(abs_x, delta)
    return 0.5 * tf.square(quad) + delta * (abs_x - quad)


class DQNTFEvaluator(ModelWeightsMixin, RebuildOnUnpickle, QSamplingEvaluator):
    """DQN (Huber TD loss, double Q, dueling head, n-step targets, target network) in TensorFlow 2.

    ``DQNTFEvaluator(env_creator, config, worker_index=0)``; ``config`` holds the keys of
    :data:`~rlcore.sampling_evaluator.SAMPLING_DEFAULTS` and :data:`~rlcore.loss_config.DQN_LOSS_DEFAULTS`.
    ``learn_on_batch`` is one fused step (loss, gradients, global-norm clip, Adam) whose info
    has :data:`STAT_NAMES` as floats and ``td_error`` (float32 ``[B]``, for prioritized replay).
    Weights are the online network's; the target network's are in ``extra_state()["target"]``.
    Only fc trunks and Discrete actions; ``num_cpu_threads`` is not read (TF's pools are process-wide).
    """

    framework: ClassVar[str] = "tf"

    def __init__(self, env_creator: Callable[[dict[str, Any]], Any], config: dict[str, Any], worker_index: int = 0):
        self._env_creator = env_creator
        self._user_config = dict(config)
        super().__init__(env_creator, config, worker_index)

    # -- model, loss, optimizer ---------------------------------------------------
    def build_model(self) -> None:
        """Build the online and target Q networks (equal), Adam and the graphs."""
        cfg = self.config
        for key in ("lr", "adam_epsilon", "huber_delta"):
            if not float(cfg[key]) > 0:
                raise ConfigError(f"DQN config {key!r} must be > 0, got {cfg[key]!r}")
        if self.model_kind != "fc":
            raise UnsupportedOperationError(
                f"{type(self).__name__} supports fully connected Q networks only; the model kind for "
                f"observations of shape {self.obs_shape} with this model config is {self.model_kind!r}"
            )
        layout = self.q_layout()  # raises UnsupportedOperationError unless the actions are Discrete
        args = (
            layout,
            int(np.prod(self.obs_shape)),
            len(self.model_config["fcnet_hiddens"]),
            len(self.config["hiddens"]),
            bool(cfg["dueling"]),
            self.model_config["fcnet_activation"],
            self.seed,
        )
        self.model = QNetwork(*args, name="q")
        self.target = QNetwork(*args, name="target_q")
        self.weight_names = self.model.weight_names()
        self._vars = [self.model.params[n] for n in self.weight_names]
        self._target_vars = [self.target.params[n] for n in self.weight_names]
        self.optimizer = Adam(self._vars, self.weight_names, float(cfg["lr"]), float(cfg["adam_epsilon"]))
        self._double_q = bool(cfg["double_q"])
        self._huber_delta = float(cfg["huber_delta"])
        self._grad_clip = None if cfg["grad_clip"] is None else float(cfg["grad_clip"])
        self._build_graphs()
        self.update_target()

    def _build_graphs(self) -> None:
        obs = tf.TensorSpec([None, *self.obs_shape], tf.float32)
        vec = tf.TensorSpec([None], tf.float32)
        cols = [obs, tf.TensorSpec([None], tf.int64), vec, obs, vec, vec, vec]
        self._q_fn = GraphFunction(self.model, [obs])
        self._q_fn.check_fast_path(np.zeros((1, *self.obs_shape), np.float32))
        fast = self._q_fn.uses_fast_path
        self._loss_fn = GraphFunction(self._graph_loss, cols, fast=fast)
        self._grads_fn = GraphFunction(self._graph_grads, cols, fast=fast)
        self._learn_fn = GraphFunction(self._graph_learn, cols, fast=fast)
        self._apply_fn = GraphFunction(self._graph_apply, [tf.TensorSpec(v.shape, tf.float32) for v in self._vars])
        self._sync_fn = GraphFunction(self._graph_sync, [], fast=fast)

    # -- graph bodies (traced once each) ------------------------------------------
    def _td_target(self, cols: Sequence[tf.Tensor]) -> tf.Tensor:
        """``r + discount * (1 - terminated) * Q_target(s', a*)``, a* by the online net with double Q."""
        _, _, rewards, next_obs, terminateds, discounts, _ = cols
        q_target = self.target(next_obs)
        a_star = tf.argmax(self.model(next_obs) if self._double_q else q_target, axis=1)
        q_tp1 = tf.gather(q_target, a_star, batch_dims=1)
        return tf.stop_gradient(rewards + discounts * (1.0 - terminateds) * q_tp1)

    def _loss_terms(self, cols: Sequence[tf.Tensor], target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(loss, [loss, mean_q, mean_td_error], td [B])`` with the online net on ``obs``."""
        obs, actions, _, _, _, _, weights = cols
        q_t = tf.gather(self.model(obs), actions, batch_dims=1)
        td = q_t - target
        loss = tf.reduce_mean(weights * huber(td, self._huber_delta))
        # Grappler's fused kernels can turn NaN inputs into finite outputs: a non-finite batch is a NaN loss.
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(c)) for c in cols if c.dtype == tf.float32])
        loss = tf.where(finite, loss, tf.constant(np.nan, tf.float32))
        return loss, tf.stack([loss, tf.reduce_mean(q_t), tf.reduce_mean(td)]), td

    def _loss_and_grads(self, cols: Sequence[tf.Tensor]) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
        target = self._td_target(cols)  # outside the tape: no gradient, no wasted backward pass
        with tf.GradientTape() as tape:
            loss, stats, td = self._loss_terms(cols, target)
        grads = tape.gradient(loss, self._vars, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return grads, stats, td

    def _graph_loss(self, *cols: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        _, stats, td = self._loss_terms(cols, self._td_target(cols))
        return stats, td

    def _graph_grads(self, *cols: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor]:
        grads, stats, td = self._loss_and_grads(cols)
        return grads, tf.concat([stats, [tf.linalg.global_norm(grads)]], 0), td

    def _graph_apply(self, *grads: tf.Tensor) -> tf.Tensor:
        return clip_and_apply(self.optimizer, grads, tf.constant(0.0), self._grad_clip)[1]

    def _graph_learn(self, *cols: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        grads, stats, td = self._loss_and_grads(cols)
        norm, applied = clip_and_apply(self.optimizer, grads, stats[0], self._grad_clip)
        return tf.concat([stats, [norm]], 0), td, applied

    def _graph_sync(self) -> tf.Tensor:
        for t, o in zip(self._target_vars, self._vars, strict=True):
            t.assign(o)
        return tf.constant(True)

    # -- acting ---------------------------------------------------------------------
    def q_forward(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``[B, num_actions]`` (float32 numpy) of the online network for filtered observations."""
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape[1:] != self.obs_shape:
            raise ValueError(
                f"q_forward expects observations of shape [B, {', '.join(map(str, self.obs_shape))}], got {obs.shape}"
            )
        return self._q_fn(obs)[0].numpy()

    def target_q_forward(self, obs: np.ndarray) -> np.ndarray:
        """Q-values of the target network (eager; for tests and diagnostics)."""
        return self.target(tf.constant(np.asarray(obs, np.float32))).numpy()

    def update_target(self) -> None:
        """Copy the online network's weights into the target network (one graph call)."""
        self._sync_fn()

    # -- learning -------------------------------------------------------------------
    def _columns(self, batch: SampleBatch | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        missing = [c for c in LOSS_COLUMNS if c not in batch]
        if missing:
            raise SampleBatchError(
                f"DQN's loss needs the columns {missing}, which the batch lacks (it has {sorted(batch)}); "
                "train on batches from sample() or a replay buffer of them."
            )
        n = len(batch[sb.OBS])
        out = [np.asarray(batch[sb.OBS], np.float32), np.asarray(batch[sb.ACTIONS]).astype(np.int64).reshape(n)]
        out += [np.asarray(batch[c], np.float32).reshape(n) for c in LOSS_COLUMNS[2:3]]
        out.append(np.asarray(batch[sb.NEXT_OBS], np.float32))
        out += [np.asarray(batch[c], np.float32).reshape(n) for c in LOSS_COLUMNS[4:]]
        return out

    @staticmethod
    def _info(stats: tf.Tensor, td: tf.Tensor) -> dict[str, Any]:
        info: dict[str, Any] = {k: float(v) for k, v in zip(STAT_NAMES, stats.numpy().tolist(), strict=False)}
        info["td_error"] = td.numpy()
        return info

    def _non_finite(self, info: Mapping[str, Any], cols: Sequence[np.ndarray], outcome: str) -> NonFiniteLossError:
        return NonFiniteLossError(
            f"{type(self).__name__}: the DQN loss or its gradients are not finite "
            f"{non_finite_inputs(info, STAT_NAMES, LOSS_COLUMNS, cols)}. "
            f"{outcome} Check the batch (observations, rewards) and lower lr or set grad_clip."
        )

    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Gradients of the loss on ``batch`` (canonical ``name -> array``) and the info dict."""
        cols = self._columns(batch)
        out = self._grads_fn(*cols)
        n = len(self._vars)
        info = self._info(out[n], out[n + 1])
        if not all(math.isfinite(info[k]) for k in STAT_NAMES):
            raise self._non_finite(info, cols, "No gradients were returned and nothing was applied.")
        return {name: g.numpy() for name, g in zip(self.weight_names, out[:n], strict=True)}, info

    def apply_gradients(self, grads: Gradients) -> None:
        """Clip by global norm (``grad_clip``) and take one Adam step; missing names get zeros."""
        self._apply_fn(*gradient_arrays(grads, self.weight_names, self._vars, type(self).__name__))

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """One fused step (loss, gradients, clip, Adam); info has :data:`STAT_NAMES` and ``td_error``."""
        cols = self._columns(batch)
        stats, td, applied = self._learn_fn(*cols)
        info = self._info(stats, td)
        if not bool(applied.numpy()):
            raise self._non_finite(info, cols, "Nothing was applied: the weights and optimizer state are unchanged.")
        return info

    def loss(self, batch: SampleBatch) -> float:
        """The scalar loss on ``batch`` (nothing changed)."""
        return float(self._loss_fn(*self._columns(batch))[0].numpy()[0])

    def td_error(self, batch: SampleBatch) -> np.ndarray:
        """TD errors ``Q(s, a) - target`` (float32 ``[B]``) on ``batch``, nothing changed."""
        return self._loss_fn(*self._columns(batch))[1].numpy()

    # -- weights and state ---------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """``{"optimizer": Adam state, "target": target weights}``, numpy, keyed by canonical names."""
        return {"optimizer": self.optimizer.get_state(), "target": self.target.get_weights()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore whichever of ``"target"`` and ``"optimizer"`` ``state`` has."""
        if "target" in state:
            self.target.set_weights(state["target"])
        if "optimizer" in state:
            self.optimizer.set_state(state["optimizer"])
