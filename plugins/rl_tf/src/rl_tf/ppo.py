"""PPO's policy in TensorFlow 2: a catalog model (``tf.Module``), the clipped-surrogate loss, ``tf.function`` graphs.

:class:`PPOTFPolicy` subclasses the core's :class:`~rlcore.model_policy.ModelPolicy` (acting
through the numpy mirror, action sampling, the one rule for batches, gradients, non-finite losses
and pickling) and supplies the TensorFlow part: the model (built through the catalog and the model
registry), the loss, gradients and Adam, all exchanged as numpy in the canonical layout. Every
graph (forward, loss, flat gradient and info, multi-tower gradient, weights in and out, Adam's
update) is one ``tf.function`` traced once, on first use, from a fixed input signature.
``learn_on_batch`` is one step on the batch it is given (two graph calls: the gradient, then Adam
when the info is finite); the policy optimizer does the epochs and minibatches (and standardizes
the advantages over the whole train batch: the loss does not).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rl_tf.distributions import make_dist
from rl_tf.graph import GraphFunction, VariableWeights
from rl_tf.models import CatalogModel
from rl_tf.optim import Adam, flatten
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


class PPOTFPolicy(VariableWeights, ModelPolicy):
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
        fast = self._forward_fn.uses_fast_path
        self.optimizer = Adam(self._vars, self.weight_names, float(cfg["lr"]), float(cfg["adam_epsilon"]), fast=fast)

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
        """The graphs, each traced on first use. A learning step is two calls: the gradients and the
        info (checked for finiteness in Python: nothing is applied when it is not finite, and the core
        raises), then Adam's step on the flat gradient tensor (:meth:`rl_tf.optim.Adam.step`)."""
        obs_spec = tf.TensorSpec([None, *self.obs_shape], tf.float32)
        cols = self._column_specs()
        self._forward_fn = GraphFunction(self._graph_forward, [obs_spec])
        self._forward_fn.check_fast_path(np.zeros((1, *self.obs_shape), np.float32))
        fast = self._forward_fn.uses_fast_path
        self._loss_fn = GraphFunction(self._graph_loss, cols, fast=fast)
        self._grads_fn = GraphFunction(self._graph_grads, cols, fast=fast)
        n = len(self.devices)
        self._tower_fn = GraphFunction(self._graph_towers, [tf.TensorSpec([None], tf.int64)] + cols * n, fast=fast)
        # Every loaded row of one device: the plain gradient graph (the losses are means: order is free).
        self._tower_all_fn = self._grads_fn if n == 1 else GraphFunction(self._graph_towers_all, cols * n, fast=fast)
        self._build_weight_graphs(fast=fast)

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

    def _graph_grads(self, *cols: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(flat gradient, info values [INFO_KEYS])``: the last value is the (pre-clip) global norm."""
        grads, stats = self._loss_and_grads(cols)
        flat = flatten(grads)
        return flat, tf.concat([stats, [tf.norm(flat)]], 0)

    def _graph_towers(self, indices: tf.Tensor, *flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self._towers_grads(flat, indices)

    def _graph_towers_all(self, *flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return self._towers_grads(flat, None)

    def _towers_grads(self, flat: Sequence[tf.Tensor], indices: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor]:
        """Each device's gradients on its rows ``indices`` (every row when None), averaged over the
        devices on the first; the same outputs as :meth:`_graph_grads`."""
        n_cols = len(LOSS_COLUMNS)
        tower_grads, tower_stats = [], []
        for i, device in enumerate(self.devices):
            with tf.device(device):
                cols = list(flat[i * n_cols : (i + 1) * n_cols])
                if indices is not None:
                    cols = [tf.gather(c, indices) for c in cols]
                grads, stats = self._loss_and_grads(cols)
                tower_grads.append(flatten(grads))
            tower_stats.append(stats)
        with tf.device(self.devices[0]):
            if len(self.devices) == 1:
                grad, stats = tower_grads[0], tower_stats[0]
            else:
                scale = 1.0 / len(self.devices)
                grad, stats = tf.add_n(tower_grads) * scale, tf.add_n(tower_stats) * scale
            return grad, tf.concat([stats, [tf.norm(grad)]], 0)

    # -- acting ---------------------------------------------------------------------
    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs [B, n], values [B])`` as float32 numpy for filtered observations."""
        obs = self._check_obs(obs)
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

    def _step(self, out: list[tf.Tensor]) -> dict[str, float]:
        """Apply the gradients of a gradient graph's outputs when the info is finite; return the info."""
        grad, stats = out
        values = stats.numpy().tolist()
        if all(math.isfinite(v) for v in values):  # else nothing is applied and the core raises
            self.optimizer.step(grad, values[-1], self._grad_clip)
        return dict(zip(INFO_KEYS, values, strict=True))

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, float]]:
        grad, stats = self._grads_fn(*self._columns(batch))
        return self.optimizer.split(grad.numpy()), dict(zip(INFO_KEYS, stats.numpy().tolist(), strict=True))

    def _apply_gradients(self, grads: Gradients) -> None:
        flat = self.optimizer.join(grads)
        self.optimizer.step(flat, float(np.linalg.norm(flat.astype(np.float64))), self._grad_clip)

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, float]:
        return self._step(self._grads_fn(*self._columns(batch)))

    def _loss(self, batch: SampleBatch) -> float:
        return float(self._loss_fn(*self._columns(batch))[0].numpy()[0])

    # -- multi-device ------------------------------------------------------------------
    def _load_batch(self, batch: SampleBatch) -> int:
        """Copy each device's even share of the loss columns to it once; returns rows per device."""
        cols = self._columns(batch)
        per = len(cols[0]) // len(self.devices)
        loaded = []
        for i, device in enumerate(self.devices):
            # Copies in numpy first: later changes to the batch's arrays must not reach what is loaded.
            shares = [np.array(c[i * per : (i + 1) * per]) for c in cols]
            if device == "/CPU:0":
                loaded.append(tuple(tf.constant(x) for x in shares))
            else:
                with tf.device(device):
                    loaded.append(tuple(tf.identity(tf.constant(x)) for x in shares))
        self._loaded = loaded
        return per

    def _learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, float]:
        """One step on rows ``indices`` of every device's share: tower gradients averaged, clipped, applied once."""
        if not self._loaded:
            raise RLCoreError(f"{type(self).__name__}.learn_on_loaded_batch called before load_batch")
        per = int(self._loaded[0][0].shape[0])
        if indices.size == 0 or indices.min() < 0 or indices.max() >= per:
            raise IndexError(f"indices must be non-empty and within [0, {per}) (rows per device)")
        flat = [t for tower in self._loaded for t in tower]
        if indices.size == per and np.bincount(indices, minlength=per).max() == 1:
            return self._step(self._tower_all_fn(*flat))  # every loaded row once: no gather
        return self._step(self._tower_fn(indices, *flat))

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
        # One graph call reads every variable (a ``Variable.numpy()`` each costs ~10x more).
        return {n: np.array(t) for n, t in zip(self.weight_names, self._weights_fn(), strict=True)}

    def _set_weights(self, weights: Weights) -> None:
        # Checked by the core; one graph call assigns every variable (remote workers do this each round).
        self._assign_fn(*(np.asarray(weights[n], np.float32) for n in self.weight_names))

    def _set_learning_rate(self, lr: float) -> None:
        self.optimizer.lr = float(lr)  # a host value read by the next step: no TensorFlow call
