"""PPO's policy in TensorFlow 2: a catalog model (``tf.Module``), the clipped-surrogate loss, ``tf.function`` graphs.

:class:`PPOTFPolicy` subclasses the core's :class:`~rlcore.model_policy.ModelPolicy` (acting
through the numpy mirror, action sampling, the one rule for batches, gradients, non-finite losses
and pickling) and supplies the TensorFlow part: the model (built through the catalog and the model
registry), the loss, gradients and Adam, all exchanged as numpy in the canonical layout. Every
graph (forward, loss, gradients, apply, fused learn step, multi-tower step) is one ``tf.function``
traced once from a fixed input signature. ``learn_on_batch`` is one fused step on the batch it is
given; the policy optimizer does the epochs and minibatches (and standardizes the advantages over
the whole train batch: the loss does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rl_tf.distributions import make_dist
from rl_tf.graph import GraphFunction
from rl_tf.models import CatalogModel
from rl_tf.optim import Adam, clip_and_apply
from rlcore import sample_batch as sb
from rlcore.errors import ConfigError, RLCoreError
from rlcore.model_policy import ModelPolicy
from rlcore.models.catalog import ModelCatalog
from rlcore.models.layout import Param
from rlcore.policy import Gradients, Weights
from rlcore.sample_batch import SampleBatch

__all__ = ["INFO_KEYS", "LOSS_COLUMNS", "PPOTFPolicy"]

#: The batch columns PPO's loss reads (the same as rl_algos' reference loss: checked by the kit).
LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.ACTION_LOGP,
    sb.ACTION_DIST_INPUTS,
    sb.VF_PREDS,
    sb.ADVANTAGES,
    sb.VALUE_TARGETS,
)
#: The keys of the learner info, in the order the loss computes them.
INFO_KEYS: tuple[str, ...] = ("loss", "policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "grad_norm")


class PPOTFPolicy(ModelPolicy):
    """PPO in TensorFlow 2: clipped surrogate, (optionally clipped) value loss, entropy bonus, KL penalty.

    ``PPOTFPolicy(observation_space, action_space, config, seed=None)`` with PPO's config
    (rl_algos' schema: ``lr``, ``adam_epsilon``, ``clip_param``, ``vf_clip_param``,
    ``vf_loss_coeff``, ``entropy_coeff``, ``kl_coeff``, ``grad_clip``, ``num_gpus``,
    ``num_cpu_towers``, ``model``). The KL coefficient comes from ``set_global_vars({"kl_coeff":
    x})`` (default ``config["kl_coeff"]``); it is a variable read by the compiled graphs. Weights,
    gradients and Adam's moments (in :meth:`get_state`) use the catalog's canonical names and
    layouts, so they are interchangeable with the torch policy's.

    Multi-device: ``devices`` (``num_devices`` of them) are the GPUs when ``num_gpus > 0`` and
    TensorFlow sees some, else ``num_cpu_towers`` copies of ``/CPU:0``. ``num_cpu_threads`` is not
    read: TensorFlow's thread pools are process-wide and fixed once it starts.
    """

    framework: ClassVar[str] = "tf"
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "continuous", "gradients", "multi_device"})
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    info_keys: ClassVar[tuple[str, ...]] = ("policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "loss", "grad_norm")

    model: CatalogModel

    # -- construction -----------------------------------------------------------
    def build(self) -> None:
        """Build the seeded catalog model, Adam, the kl_coeff variable, the devices and the graphs."""
        cfg = self.config
        self.model = self._make_model()
        self.weight_names = self.model.weight_names()
        self._vars = [self.model.params[n] for n in self.weight_names]
        self.optimizer = Adam(self._vars, self.weight_names, float(cfg["lr"]), float(cfg["adam_epsilon"]))
        self._kl_coeff = tf.Variable(float(cfg["kl_coeff"]), dtype=tf.float32, trainable=False, name="kl_coeff")
        self._clip_param = float(cfg["clip_param"])
        self._vf_clip = None if cfg["vf_clip_param"] is None else float(cfg["vf_clip_param"])
        self._vf_coeff = float(cfg["vf_loss_coeff"])
        self._entropy_coeff = float(cfg["entropy_coeff"])
        self._grad_clip = None if cfg["grad_clip"] is None else float(cfg["grad_clip"])
        self.devices = self._pick_devices()
        self.num_devices = len(self.devices)
        self._loaded: list[tuple[tf.Tensor, ...]] = []
        self._build_graphs()

    def model_layout(self) -> list[Param]:
        """The catalog model's canonical layout."""
        return self.model.layout

    def _make_model(self) -> CatalogModel:
        model = ModelCatalog.build_model(
            self.obs_shape, self.dist_spec.num_outputs, self.model_config, self.framework, seed=self.seed
        )
        if not isinstance(model, CatalogModel):
            raise ConfigError(
                f"model {self.model_config['custom_model'] or self.model_kind!r} built a {type(model).__name__}; "
                f"{type(self).__name__} needs a rl_tf.models.CatalogModel subclass"
            )
        return model

    def _pick_devices(self) -> list[str]:
        num_gpus = float(self.config["num_gpus"] or 0)
        if num_gpus > 0:
            gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
            if gpus:
                return gpus[: max(1, min(len(gpus), int(num_gpus)))]
        return ["/CPU:0"] * int(self.config["num_cpu_towers"])

    def _column_specs(self) -> list[tf.TensorSpec]:
        spec = self.dist_spec
        if spec.kind == "categorical":
            act = tf.TensorSpec([None], tf.int64)
        elif spec.kind == "multi_categorical":
            act = tf.TensorSpec([None, len(tf.nest.flatten(list(spec.params["input_lens"])))], tf.int64)
        else:
            act = tf.TensorSpec([None, int(np.prod(spec.action_shape, dtype=np.int64))], tf.float32)
        vec = tf.TensorSpec([None], tf.float32)
        return [
            tf.TensorSpec([None, *self.obs_shape], tf.float32),
            act,
            vec,
            tf.TensorSpec([None, self._dist_dim], tf.float32),
            vec,
            vec,
            vec,
        ]

    @property
    def _dist_dim(self) -> int:
        n = self.dist_spec.num_outputs
        return 2 * n if self.dist_spec.kind == "diag_gaussian" and self.model_config["free_log_std"] else n

    def _build_graphs(self) -> None:
        obs_spec = tf.TensorSpec([None, *self.obs_shape], tf.float32)
        cols = self._column_specs()
        self._forward_fn = GraphFunction(self._graph_forward, [obs_spec])
        self._forward_fn.check_fast_path(np.zeros((1, *self.obs_shape), np.float32))
        fast = self._forward_fn.uses_fast_path
        self._loss_fn = GraphFunction(self._graph_loss, cols, fast=fast)
        self._grads_fn = GraphFunction(self._graph_grads, cols, fast=fast)
        self._learn_fn = GraphFunction(self._graph_learn, cols, fast=fast)
        grad_specs = [tf.TensorSpec(v.shape, tf.float32) for v in self._vars]
        self._apply_fn = GraphFunction(self._graph_apply, grad_specs, fast=fast)
        tower_specs = [tf.TensorSpec([None], tf.int64)] + cols * len(self.devices)
        self._tower_fn = GraphFunction(self._graph_towers, tower_specs, fast=fast)

    # -- graph bodies (traced once each) ------------------------------------------
    def _graph_forward(self, obs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self.model(obs)

    def _loss_terms(self, cols: Sequence[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        """PPO's loss and its statistics ``[loss, policy_loss, vf_loss, entropy, kl, clip_frac]``."""
        obs, actions, old_logp, old_inputs, old_vf, adv, targets = cols
        dist_inputs, values = self.model(obs)
        dist = make_dist(self.dist_spec, dist_inputs)
        old = make_dist(self.dist_spec, old_inputs)
        ratio = tf.exp(dist.logp(actions) - old_logp)
        c = self._clip_param
        surr = tf.minimum(adv * ratio, adv * tf.clip_by_value(ratio, 1.0 - c, 1.0 + c))
        policy_loss = -tf.reduce_mean(surr)
        vf_err = tf.square(values - targets)
        if self._vf_clip is not None:
            clipped = old_vf + tf.clip_by_value(values - old_vf, -self._vf_clip, self._vf_clip)
            vf_err = tf.maximum(vf_err, tf.square(clipped - targets))
        vf_loss = tf.reduce_mean(vf_err)
        entropy = tf.reduce_mean(dist.entropy())
        kl = tf.reduce_mean(old.kl(dist))
        loss = policy_loss + self._kl_coeff * kl + self._vf_coeff * vf_loss - self._entropy_coeff * entropy
        clip_frac = tf.reduce_mean(tf.cast(tf.abs(ratio - 1.0) > c, tf.float32))
        return loss, tf.stack([loss, policy_loss, vf_loss, entropy, kl, clip_frac])

    def _loss_and_grads(self, cols: Sequence[tf.Tensor]) -> tuple[list[tf.Tensor], tf.Tensor]:
        with tf.GradientTape() as tape:
            loss, stats = self._loss_terms(cols)
        grads = tape.gradient(loss, self._vars, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return grads, stats

    def _graph_loss(self, *cols: tf.Tensor) -> tf.Tensor:
        return self._loss_terms(cols)[1]

    def _graph_grads(self, *cols: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor]:
        grads, stats = self._loss_and_grads(cols)
        return grads, tf.concat([stats, [tf.linalg.global_norm(grads)]], 0)

    def _graph_apply(self, *grads: tf.Tensor) -> tf.Tensor:
        return clip_and_apply(self.optimizer, grads, tf.constant(0.0), self._grad_clip)[1]

    def _graph_learn(self, *cols: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        grads, stats = self._loss_and_grads(cols)
        norm, applied = clip_and_apply(self.optimizer, grads, stats[0], self._grad_clip)
        return tf.concat([stats, [norm]], 0), applied

    def _graph_towers(self, indices: tf.Tensor, *flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        n_cols = len(LOSS_COLUMNS)
        tower_grads, tower_stats = [], []
        for i, device in enumerate(self.devices):
            with tf.device(device):
                cols = [tf.gather(c, indices) for c in flat[i * n_cols : (i + 1) * n_cols]]
                grads, stats = self._loss_and_grads(cols)
            tower_grads.append(grads)
            tower_stats.append(stats)
        with tf.device(self.devices[0]):
            scale = 1.0 / len(self.devices)
            grads = [tf.add_n(list(gs)) * scale for gs in zip(*tower_grads, strict=True)]
            stats = tf.add_n(tower_stats) * scale
            norm, applied = clip_and_apply(self.optimizer, grads, stats[0], self._grad_clip)
        return tf.concat([stats, [norm]], 0), applied

    # -- acting ---------------------------------------------------------------------
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs [B, n], values [B])`` as float32 numpy for filtered observations."""
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape[1:] != self.obs_shape:
            raise ValueError(
                f"forward expects observations of shape [B, {', '.join(map(str, self.obs_shape))}], got {obs.shape}"
            )
        dist_inputs, values = self._forward_fn(obs)
        return dist_inputs.numpy(), values.numpy()

    # -- learning -------------------------------------------------------------------
    def _columns(self, batch: SampleBatch) -> list[np.ndarray]:
        """The loss columns in the graphs' dtypes and shapes (the core checked that they exist)."""
        n = len(batch[sb.OBS])
        acts = np.asarray(batch[sb.ACTIONS])
        if self.dist_spec.kind == "categorical":
            acts = acts.astype(np.int64, copy=False).reshape(n)
        elif self.dist_spec.kind == "multi_categorical":
            acts = acts.astype(np.int64, copy=False).reshape(n, -1)
        else:
            acts = acts.astype(np.float32, copy=False).reshape(n, -1)
        out = [np.asarray(batch[sb.OBS], np.float32), acts]
        out += [np.asarray(batch[c], np.float32) for c in LOSS_COLUMNS[2:]]
        return out

    @staticmethod
    def _info(stats: tf.Tensor) -> dict[str, float]:
        return dict(zip(INFO_KEYS, stats.numpy().tolist(), strict=True))

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, float]]:
        out = self._grads_fn(*self._columns(batch))
        n = len(self._vars)
        return {name: g.numpy() for name, g in zip(self.weight_names, out[:n], strict=True)}, self._info(out[n])

    def _apply_gradients(self, grads: Gradients) -> None:
        self._apply_fn(*(grads[n] for n in self.weight_names))

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, float]:
        # When the loss or the gradient norm is not finite the graph applies nothing (``applied``
        # is False) and the info says why: the core raises NonFiniteLossError from it.
        stats, _applied = self._learn_fn(*self._columns(batch))
        return self._info(stats)

    def _loss(self, batch: SampleBatch) -> float:
        return float(self._loss_fn(*self._columns(batch))[0].numpy()[0])

    # -- multi-device ------------------------------------------------------------------
    def _load_batch(self, batch: SampleBatch) -> int:
        """Copy each device's even share of the loss columns to it once; returns rows per device."""
        cols = self._columns(batch)
        per = len(cols[0]) // len(self.devices)
        loaded = []
        for i, device in enumerate(self.devices):
            with tf.device(device):  # tf.constant copies: later changes to the batch do not leak in
                loaded.append(tuple(tf.identity(tf.constant(c[i * per : (i + 1) * per])) for c in cols))
        self._loaded = loaded
        return per

    def _learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, float]:
        """One step on rows ``indices`` of every device's share: tower gradients averaged, clipped, applied once."""
        if not self._loaded:
            raise RLCoreError(f"{type(self).__name__}.learn_on_loaded_batch called before load_batch")
        per = int(self._loaded[0][0].shape[0])
        if indices.size == 0 or indices.min() < 0 or indices.max() >= per:
            raise IndexError(f"indices must be non-empty and within [0, {per}) (rows per device)")
        stats, _applied = self._tower_fn(indices, *(t for tower in self._loaded for t in tower))
        return self._info(stats)

    # -- weights and state ----------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Adam's step count and first and second moments (canonical names and layouts), as numpy."""
        return {"optimizer": self.optimizer.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state` (a state without ``"optimizer"`` leaves Adam as it is)."""
        opt = state.get("optimizer")
        if opt is not None:
            self.optimizer.set_state(opt)

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Keep trainer-wide values; ``kl_coeff`` goes into the loss (a variable the graphs read)."""
        super().set_global_vars(global_vars)
        if "kl_coeff" in global_vars:
            self._kl_coeff.assign(float(global_vars["kl_coeff"]))

    def _get_weights(self) -> Weights:
        return self.model.get_weights()

    def _set_weights(self, weights: Weights) -> None:
        self.model.set_weights(weights)

    def _set_learning_rate(self, lr: float) -> None:
        self.optimizer.lr.assign(float(lr))
