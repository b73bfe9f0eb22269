"""PPO's policy evaluator in TensorFlow 2: ``tf.Module`` models, ``tf.function`` graphs, own Adam.

:class:`PPOTFEvaluator` subclasses :class:`~rlcore.sampling_evaluator.SamplingEvaluator` (envs,
preprocessing, filters, numpy acting, GAE, metrics) and supplies the model, the clipped PPO
loss and the optimizer. Every graph (forward, loss, gradients, apply, fused learn step,
multi-tower step) is one ``tf.function`` traced once from a fixed input signature.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rl_tf.distributions import make_dist
from rl_tf.graph import GraphFunction, RebuildOnUnpickle
from rl_tf.models import CatalogModel, FullyConnectedNetwork, VisionNetwork
from rl_tf.optim import Adam, ModelWeightsMixin, clip_and_apply, gradient_arrays, non_finite_inputs
from rlcore import sample_batch as sb
from rlcore.errors import (
    ConfigError,
    NonFiniteLossError,
    RLCoreError,
    SampleBatchError,
    UnsupportedOperationError,
)
from rlcore.evaluator import Gradients
from rlcore.loss_config import PPO_INFO_KEYS, PPO_LOSS_COLUMNS, PPO_LOSS_DEFAULTS
from rlcore.models.catalog import ModelCatalog
from rlcore.sample_batch import SampleBatch
from rlcore.sampling_evaluator import SamplingEvaluator

__all__ = ["LOSS_COLUMNS", "STAT_NAMES", "Adam", "GraphFunction", "NonFiniteLossError", "PPOTFEvaluator"]

LOSS_COLUMNS = PPO_LOSS_COLUMNS
STAT_NAMES = PPO_INFO_KEYS

_MODELS: dict[str, type] = {"fc": FullyConnectedNetwork, "vision": VisionNetwork}


class PPOTFEvaluator(ModelWeightsMixin, RebuildOnUnpickle, SamplingEvaluator):
    """PPO (clipped surrogate, optional clipped value loss, entropy bonus, KL penalty) in TensorFlow 2.

    ``PPOTFEvaluator(env_creator, config, worker_index=0)``; ``config`` holds the keys of
    :data:`~rlcore.sampling_evaluator.SAMPLING_DEFAULTS` and :data:`~rlcore.loss_config.PPO_LOSS_DEFAULTS`
    (missing keys take those defaults). ``learn_on_batch`` is one fused gradient step on the
    whole batch; optimizers run the epochs and minibatches. ``kl_coeff`` follows
    ``set_global_vars({"kl_coeff": x})``. Multi-device: ``devices`` (``num_devices`` of them) are
    the GPUs when ``num_gpus > 0`` and TensorFlow sees some, else ``num_cpu_towers`` copies of
    ``/CPU:0``. ``num_cpu_threads`` is not read: TensorFlow's thread pools are process-wide and
    fixed once it starts (two intra-op threads learn faster than one on small MLPs here).
    """

    framework: ClassVar[str] = "tf"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"discrete", "continuous", "gradients", "remote", "multi_device"}
    )

    def __init__(self, env_creator: Callable[[dict[str, Any]], Any], config: dict[str, Any], worker_index: int = 0):
        self._env_creator = env_creator
        self._user_config = dict(config)
        super().__init__(env_creator, {**PPO_LOSS_DEFAULTS, **config}, worker_index)

    # -- model, loss, optimizer ---------------------------------------------------
    def build_model(self) -> None:
        """Build the catalog model (seeded), Adam, the kl_coeff variable and the graphs."""
        cfg = self.config
        spec = self.dist_spec
        for key in ("lr", "adam_epsilon", "clip_param"):
            if not float(cfg[key]) > 0:
                raise ConfigError(f"PPO config {key!r} must be > 0, got {cfg[key]!r}")
        if self.model_config["free_log_std"] and spec.kind != "diag_gaussian":
            raise ConfigError(
                f"model config free_log_std=True needs a Box action space; {self.action_space} takes a "
                f"{spec.kind!r} distribution. Set model.free_log_std to False."
            )
        self.model = self._make_model()
        self.weight_names = list(self.model.params)
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
        self._loaded: list[tuple[tf.Tensor, ...]] | None = None
        self._build_graphs()

    def _make_model(self) -> Any:
        kind = ModelCatalog.get_model_kind(self.obs_shape, self.model_config)
        num_outputs = self.dist_spec.num_outputs
        if kind in _MODELS:
            return _MODELS[kind](self.obs_shape, num_outputs, self.model_config, seed=self.seed)
        if kind == "lstm":
            raise UnsupportedOperationError(
                f"{type(self).__name__} does not support recurrent models (model.use_lstm=True); "
                f"capabilities: {sorted(self.capabilities)}"
            )
        model = ModelCatalog.get_model(self.observation_space, self.action_space, num_outputs, self.model_config, "tf")
        if not isinstance(model, CatalogModel):
            raise ConfigError(
                f"custom model {self.model_config['custom_model']!r} built a {type(model).__name__}; "
                f"{type(self).__name__} needs a rl_tf.models.CatalogModel subclass"
            )
        return model

    def _pick_devices(self) -> list[str]:
        num_gpus = float(self.config["num_gpus"] or 0)
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        if num_gpus > 0 and gpus:
            return gpus[: max(1, math.ceil(num_gpus))]
        towers = self.config["num_cpu_towers"]
        if isinstance(towers, bool) or not isinstance(towers, int | np.integer) or towers < 1:
            raise ConfigError(f"PPO config 'num_cpu_towers' must be an int >= 1, got {towers!r}")
        return ["/CPU:0"] * int(towers)

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

    def _clip_and_apply(self, grads: Sequence[tf.Tensor], loss: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Global-norm clip then Adam, only when loss and norm are finite (:func:`rl_tf.optim.clip_and_apply`)."""
        return clip_and_apply(self.optimizer, grads, loss, self._grad_clip)

    def _graph_loss(self, *cols: tf.Tensor) -> tf.Tensor:
        return self._loss_terms(cols)[1]

    def _graph_grads(self, *cols: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor]:
        grads, stats = self._loss_and_grads(cols)
        return grads, tf.concat([stats, [tf.linalg.global_norm(grads)]], 0)

    def _graph_apply(self, *grads: tf.Tensor) -> tf.Tensor:
        return self._clip_and_apply(grads, tf.constant(0.0))[1]

    def _graph_learn(self, *cols: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        grads, stats = self._loss_and_grads(cols)
        norm, applied = self._clip_and_apply(grads, stats[0])
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
            norm, applied = self._clip_and_apply(grads, stats[0])
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
    def _columns(self, batch: SampleBatch | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        missing = [c for c in LOSS_COLUMNS if c not in batch]
        if missing:
            raise SampleBatchError(
                f"PPO's loss needs the columns {missing}, which the batch lacks (it has {sorted(batch)}); "
                "train on batches from sample()."
            )
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

    def _info(self, stats: tf.Tensor) -> dict[str, Any]:
        return {k: float(v) for k, v in zip(STAT_NAMES, stats.numpy().tolist(), strict=True)}

    def _non_finite(self, info: Mapping[str, float], cols: Sequence[np.ndarray], outcome: str) -> NonFiniteLossError:
        terms = ["policy_loss", "vf_loss", "entropy", "kl"]
        bad = [t for t in terms if not math.isfinite(info.get(t, 0.0))]
        if not bad:
            bad = ["loss"] if not math.isfinite(info.get("loss", 0.0)) else ["gradients (grad_norm)"]
        return NonFiniteLossError(
            f"{type(self).__name__}: the PPO loss term(s) {', '.join(bad)} are not finite "
            f"{non_finite_inputs(info, STAT_NAMES, LOSS_COLUMNS, cols)}. "
            f"{outcome} Check the batch (observations, rewards, advantages) and lower lr or set grad_clip."
        )

    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Gradients of the loss on ``batch`` as canonical ``name -> array``, plus the info dict."""
        cols = self._columns(batch)
        out = self._grads_fn(*cols)
        info = self._info(out[-1])
        if not all(math.isfinite(v) for v in info.values()):
            raise self._non_finite(info, cols, "No gradients were returned and nothing was applied.")
        return {n: g.numpy() for n, g in zip(self.weight_names, out[:-1], strict=True)}, info

    def apply_gradients(self, grads: Gradients) -> None:
        """Clip by global norm (``grad_clip``) and take one Adam step with canonical gradients.

        A weight without a gradient in ``grads`` gets zeros; unknown names raise ConfigError.
        """
        arrays = gradient_arrays(grads, self.weight_names, self._vars, type(self).__name__)
        self._apply_fn(*arrays)

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        """One fused gradient step (loss, gradients, clip, Adam) on the whole batch; returns the info dict."""
        cols = self._columns(batch)
        stats, applied = self._learn_fn(*cols)
        info = self._info(stats)
        if not bool(applied.numpy()):
            raise self._non_finite(info, cols, "Nothing was applied: the weights and optimizer state are unchanged.")
        return info

    def loss(self, batch: SampleBatch) -> float:
        """The scalar loss on ``batch`` (no gradients, nothing changed)."""
        return float(self._loss_fn(*self._columns(batch))[0].numpy()[0])

    # -- multi-device ------------------------------------------------------------------
    def load_batch(self, batch: SampleBatch) -> int:
        """Split ``batch`` evenly over :attr:`devices` and copy each share there; returns rows per device."""
        cols = self._columns(batch)
        per = len(cols[0]) // len(self.devices)
        if per < 1:
            raise SampleBatchError(f"a batch of {len(cols[0])} rows cannot be split over {len(self.devices)} devices")
        loaded = []
        for i, device in enumerate(self.devices):
            with tf.device(device):  # tf.constant copies: later changes to the batch do not leak in
                loaded.append(tuple(tf.identity(tf.constant(c[i * per : (i + 1) * per])) for c in cols))
        self._loaded = loaded
        return per

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        """One step on rows ``indices`` of every device's share, gradients averaged over devices."""
        if self._loaded is None:
            raise RLCoreError(f"{type(self).__name__}.learn_on_loaded_batch called before load_batch(batch)")
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        per = int(self._loaded[0][0].shape[0])
        if idx.size == 0 or idx.min() < 0 or idx.max() >= per:
            raise IndexError(f"indices must be non-empty and within [0, {per}) (rows per device), got {indices!r}")
        flat = [t for tower in self._loaded for t in tower]
        stats, applied = self._tower_fn(idx, *flat)
        info = self._info(stats)
        if not bool(applied.numpy()):
            cols = [np.concatenate([t[k].numpy()[idx] for t in self._loaded]) for k in range(len(LOSS_COLUMNS))]
            raise self._non_finite(info, cols, "Nothing was applied: the weights and optimizer state are unchanged.")
        return info

    # -- weights and state ---------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """``{"optimizer": Adam state}``: step and moments as numpy, keyed by weight name."""
        return {"optimizer": self.optimizer.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore the Adam state when ``state`` has one."""
        if "optimizer" in state:
            self.optimizer.set_state(state["optimizer"])

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Keep trainer-wide values; ``kl_coeff`` goes into the loss."""
        super().set_global_vars(global_vars)
        if "kl_coeff" in global_vars:
            self._kl_coeff.assign(float(global_vars["kl_coeff"]))

    @property
    def kl_coeff(self) -> float:
        """The KL coefficient the loss uses now."""
        return float(self._kl_coeff.numpy())
