"""DQN's policy in TensorFlow 2: a ``tf.Module`` Q network, its target copy and the Huber TD loss.

:class:`DQNTFPolicy` subclasses the core's :class:`~rlcore.model_policy.ModelPolicy` with Q-value
outputs (epsilon-greedy acting through the numpy Q mirror; the one rule for batches, gradients,
non-finite losses and pickling) and supplies the TensorFlow part: the Q network of
:func:`rlcore.models.layout.q_layout` (:class:`QNetwork`, built through the catalog as its
``("q", "tf")`` model: fc or conv trunk), a target network, the Huber TD loss (double Q optional) and
Adam, all exchanged as numpy in the canonical layout. Every graph (Q forward, loss, flat gradient
and info, weights in and out, target sync, Adam's update) is one ``tf.function`` traced once, on
first use, from a fixed input signature. The n-step transitions come from rl_algos' DQN
postprocessing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rl_tf.graph import GraphFunction, VariableWeights
from rl_tf.models import CatalogModel, conv_stack, get_activation
from rl_tf.optim import Adam, flatten
from rlcore import sample_batch as sb
from rlcore.model_policy import ModelPolicy
from rlcore.models.layout import ConvLayer, Param, q_layout
from rlcore.policy import Gradients
from rlcore.sample_batch import SampleBatch

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "DQNTFPolicy", "QNetwork", "huber"]

#: The batch columns DQN's loss reads (the same as rl_algos' reference loss: checked by the kit).
LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.REWARDS,
    sb.NEXT_OBS,
    sb.TERMINATEDS,
    "discounts",
    sb.WEIGHTS,
)
#: The float keys of the learner info, in order (``td_error``, a float32 array ``[B]``, follows them).
INFO_KEYS: tuple[str, ...] = ("loss", "mean_q", "mean_td_error", "grad_norm")


class QNetwork(CatalogModel):
    """The Q network of :func:`~rlcore.models.layout.q_layout`: ``model(obs) -> q [B, num_actions]``.

    ``QNetwork(obs_shape, num_actions, model_config, *, hiddens, dueling, seed=None, name="q")``,
    what the plugin registers as the catalog's ``("q", "tf")`` builder (policies build it through
    :meth:`rlcore.models.ModelCatalog.build_q_model`). The trunk: for ``[H, W, C]`` (NHWC) images
    the vision model's conv stack (``conv_filters``, ``conv_activation``; HWIO kernels, every layer
    but the last SAME, features flattened in NHWC order), else the ``fc_i`` stack
    (``fcnet_hiddens``, ``fcnet_activation``) on the flattened observation. The head: ``hiddens``
    ReLU layers, then ``q_out``; dueling combines ``V + A - mean_a A``. Raises
    :class:`~rlcore.errors.ConfigError` for conv filters that do not fit the image.
    """

    def __init__(
        self,
        obs_shape: Sequence[int] | int,
        num_actions: int,
        model_config: Mapping[str, Any] | None,
        *,
        hiddens: Sequence[int],
        dueling: bool,
        seed: int | None = None,
        name: str = "q",
    ) -> None:
        config = self._resolve(obs_shape, num_actions, model_config)
        self.num_actions = self.num_outputs
        self.num_head, self.dueling = len(hiddens), bool(dueling)
        if len(self.obs_shape) == 3:
            self.conv: list[ConvLayer] | None = conv_stack(self.obs_shape, config)
            self.conv_activation = get_activation(config["conv_activation"], "conv_activation")
            self.num_trunk = 0
        else:
            self.conv = None
            self.num_trunk = len(config["fcnet_hiddens"])
        self.activation = get_activation(config["fcnet_activation"])
        layout = q_layout(self.obs_shape, self.num_actions, config, [int(h) for h in hiddens], self.dueling)
        super().__init__(layout, seed, name)

    def _stream(self, h: tf.Tensor, name: str) -> tf.Tensor:
        for j in range(self.num_head):
            h = tf.nn.relu(self._dense(h, f"{name}_fc_{j}"))
        return self._dense(h, f"{name}_out")

    def __call__(self, obs: tf.Tensor) -> tf.Tensor:
        """Q-values ``[B, num_actions]`` for (filtered) observations ``[B, *obs_shape]``."""
        if self.conv is not None:
            h = self._conv(obs, self.conv, self.conv_activation)
        else:
            h = tf.reshape(tf.cast(obs, tf.float32), [-1, self.obs_dim])
            for i in range(self.num_trunk):
                h = self.activation(self._dense(h, f"fc_{i}"))
        if not self.dueling:
            return self._stream(h, "q")
        adv = self._stream(h, "advantage")
        return self._stream(h, "state_value") + adv - tf.reduce_mean(adv, axis=1, keepdims=True)


def huber(x: tf.Tensor, delta: float) -> tf.Tensor:
    """``0.5 x^2`` where ``|x| <= delta``, else ``delta (|x| - 0.5 delta)`` (elementwise)."""
    abs_x = tf.abs(x)
    quad = tf.minimum(abs_x, delta)
    return 0.5 * tf.square(quad) + delta * (abs_x - quad)


class DQNTFPolicy(VariableWeights, ModelPolicy):
    """DQN in TensorFlow 2: Huber TD loss on n-step targets, double Q, dueling head, target network, Adam.

    ``DQNTFPolicy(observation_space, action_space, config, seed=None)`` with DQN's config
    (rl_algos' schema: ``lr``, ``adam_epsilon``, ``hiddens``, ``dueling``, ``double_q``,
    ``grad_clip``, ``huber_delta``, ``model``). Weights are the online network's (canonical
    names); :meth:`get_state` adds ``"target"`` (the target network's weights) and
    ``"optimizer"`` (Adam). The info of a step holds :data:`INFO_KEYS` (floats) and ``td_error``
    (float32 ``[B]``). Discrete actions only; the Q network (fc trunk for flat observations,
    conv trunk for ``[H, W, C]`` images) comes from the catalog
    (:meth:`~rlcore.models.ModelCatalog.build_q_model`). ``num_cpu_threads`` is not read:
    TensorFlow's thread pools are process-wide. The graphs may be called from another thread
    than the one that built the policy (Ape-X's learner thread), one thread at a time.
    """

    framework: ClassVar[str] = "tf"
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients"})
    action_outputs: ClassVar[str] = "q"
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    info_keys: ClassVar[tuple[str, ...]] = INFO_KEYS

    model: QNetwork
    target_model: QNetwork

    # -- construction -------------------------------------------------------------
    def build(self) -> None:
        """Build the seeded online and target networks (equal), Adam and the graphs."""
        cfg = self.config
        self.model = self._make_model()
        self.target_model = self._make_model()
        self.weight_names = self.model.weight_names()
        self._vars = [self.model.params[n] for n in self.weight_names]
        self._target_vars = [self.target_model.params[n] for n in self.weight_names]
        self._double_q = bool(cfg["double_q"])
        self._huber_delta = float(cfg["huber_delta"])
        self._grad_clip = None if cfg["grad_clip"] is None else float(cfg["grad_clip"])
        self._build_graphs()
        fast = self._q_fn.uses_fast_path
        self.optimizer = Adam(self._vars, self.weight_names, float(cfg["lr"]), float(cfg["adam_epsilon"]), fast=fast)
        self.update_target()

    def model_layout(self) -> list[Param]:
        """The Q network's canonical layout."""
        return self.model.layout

    def _make_model(self) -> QNetwork:
        """The Q network from the catalog: its ``("q", "tf")`` model, :class:`QNetwork`
        (:meth:`~rlcore.model_policy.ModelPolicy.build_q_model`)."""
        model: QNetwork = self.build_q_model()
        return model

    def _build_graphs(self) -> None:
        """The graphs, each traced on first use; a learning step is the gradient graph, a finiteness
        check of its info in Python, then Adam's step on the flat gradient (:meth:`rl_tf.optim.Adam.step`)."""
        obs = tf.TensorSpec([None, *self.obs_shape], tf.float32)
        vec = tf.TensorSpec([None], tf.float32)
        cols = [obs, tf.TensorSpec([None], tf.int64), vec, obs, vec, vec, vec]
        self._q_fn = GraphFunction(self.model, [obs])
        self._q_fn.check_fast_path(np.zeros((1, *self.obs_shape), np.float32))
        fast = self._q_fn.uses_fast_path
        self._loss_fn = GraphFunction(self._graph_loss, cols, fast=fast)
        self._grads_fn = GraphFunction(self._graph_grads, cols, fast=fast)
        self._sync_fn = GraphFunction(self._graph_sync, [], fast=fast)
        self._build_weight_graphs(fast=fast)

    # -- graph bodies (traced once each) ------------------------------------------
    def _td_target(self, cols: Sequence[tf.Tensor]) -> tf.Tensor:
        """``r + discount * (1 - terminated) * Q_target(s', a*)``, a* by the online net with double Q."""
        _, _, rewards, next_obs, terminateds, discounts, _ = cols
        q_target = self.target_model(next_obs)
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

    def _graph_grads(self, *cols: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``(flat gradient, info values [INFO_KEYS], td [B])``: the last info value is the global norm."""
        grads, stats, td = self._loss_and_grads(cols)
        flat = flatten(grads)
        return flat, tf.concat([stats, [tf.norm(flat)]], 0), td

    def _graph_sync(self) -> tf.Tensor:
        for t, o in zip(self._target_vars, self._vars, strict=True):
            t.assign(o)
        return tf.constant(True)

    # -- acting ---------------------------------------------------------------------
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(q_values [B, num_actions], max_a Q [B])`` of the online network (float32 numpy)."""
        obs = self._check_obs(obs)
        q = self._q_fn(obs)[0].numpy()
        return q, q.max(axis=1)

    def update_target(self) -> None:
        """Copy the online network's weights into the target network (one graph call)."""
        self._sync_fn()

    # -- learning -------------------------------------------------------------------
    def _columns(self, batch: SampleBatch) -> list[np.ndarray]:
        """The loss columns in the graphs' dtypes and shapes (the core checked that they exist)."""
        n = len(batch[sb.OBS])
        out = [np.asarray(batch[sb.OBS], np.float32), np.asarray(batch[sb.ACTIONS]).astype(np.int64).reshape(n)]
        out.append(np.asarray(batch[sb.REWARDS], np.float32).reshape(n))
        out.append(np.asarray(batch[sb.NEXT_OBS], np.float32))
        out += [np.asarray(batch[c], np.float32).reshape(n) for c in LOSS_COLUMNS[4:]]
        return out

    @staticmethod
    def _info(values: list[float], td: tf.Tensor) -> dict[str, Any]:
        info: dict[str, Any] = dict(zip(INFO_KEYS, values, strict=True))
        info["td_error"] = td.numpy()
        return info

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        grad, stats, td = self._grads_fn(*self._columns(batch))
        return self.optimizer.split(grad.numpy()), self._info(stats.numpy().tolist(), td)

    def _apply_gradients(self, grads: Gradients) -> None:
        flat = self.optimizer.join(grads)
        self.optimizer.step(flat, float(np.linalg.norm(flat.astype(np.float64))), self._grad_clip)

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        grad, stats, td = self._grads_fn(*self._columns(batch))
        values = stats.numpy().tolist()
        if all(math.isfinite(v) for v in values):  # else nothing is applied and the core raises
            self.optimizer.step(grad, values[-1], self._grad_clip)
        return self._info(values, td)

    def _loss(self, batch: SampleBatch) -> float:
        return float(self._loss_fn(*self._columns(batch))[0].numpy()[0])

    def td_error(self, batch: SampleBatch) -> np.ndarray:
        """TD errors ``Q(obs, actions) - target`` (float32 ``[B]``) on ``batch``; changes nothing."""
        self._check_columns(batch)
        return self._loss_fn(*self._columns(batch))[1].numpy()

    # -- weights and state ----------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """``{"target": target weights, "optimizer": Adam's step and moments}``, as numpy."""
        return {"target": self.target_model.get_weights(), "optimizer": self.optimizer.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (missing entries are left as they are)."""
        if state.get("target") is not None:
            self.target_model.set_weights(state["target"])
        if state.get("optimizer") is not None:
            self.optimizer.set_state(state["optimizer"])
