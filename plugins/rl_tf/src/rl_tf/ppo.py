"""PPO's policy in TensorFlow 2: the clipped-surrogate loss on rl_tf's actor-critic base.

:class:`PPOTFPolicy` subclasses :class:`rl_tf.actor_critic.ActorCriticTFPolicy` (the catalog model,
the ``tf.function`` graphs traced once, Adam, canonical weights, recurrent models) and adds PPO's
loss, the KL coefficient variable and multi-device towers. ``learn_on_batch`` is one step on the
batch it is given (two graph calls: the gradient, then Adam when the info is finite); the policy
optimizer does the epochs and minibatches (and standardizes the advantages over the whole train
batch: the loss does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from rl_tf.actor_critic import ActorCriticTFPolicy
from rl_tf.distributions import make_dist
from rl_tf.graph import GraphFunction
from rl_tf.optim import flatten
from rlcore import sample_batch as sb
from rlcore.errors import RLCoreError
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


class PPOTFPolicy(ActorCriticTFPolicy):
    """PPO in TensorFlow 2: clipped surrogate, (optionally clipped) value loss, entropy bonus, KL penalty.

    ``PPOTFPolicy(observation_space, action_space, config, seed=None)`` with PPO's config
    (rl_algos' schema: ``lr``, ``adam_epsilon``, ``clip_param``, ``vf_clip_param``,
    ``vf_loss_coeff``, ``entropy_coeff``, ``kl_coeff``, ``grad_clip``, ``num_gpus``,
    ``num_cpu_towers``, ``num_cpu_threads``, ``model``). The KL coefficient comes from
    ``set_global_vars({"kl_coeff": x})`` (default ``config["kl_coeff"]``); it is a variable read by
    the compiled graphs. Weights, gradients and Adam's moments (in :meth:`get_state`) use the
    catalog's canonical names and layouts, so they are interchangeable with the torch policy's.
    ``num_cpu_threads`` caps TensorFlow's thread pools when the process's TensorFlow has not
    started yet (a Ray worker): :func:`rl_tf.actor_critic.limit_threads`.

    Multi-device: ``devices`` (``num_devices`` of them) are the GPUs when ``num_gpus > 0`` and
    TensorFlow sees some, else ``num_cpu_towers`` copies of ``/CPU:0``. A batch with sequences
    (``seq_lens``: a recurrent model) cannot be split over devices; train it with
    ``learn_on_batch``.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"discrete", "continuous", "gradients", "multi_device", "recurrent"}
    )
    loss_columns: ClassVar[tuple[str, ...]] = LOSS_COLUMNS
    stat_keys: ClassVar[tuple[str, ...]] = INFO_KEYS[:-1]
    info_keys: ClassVar[tuple[str, ...]] = ("policy_loss", "vf_loss", "entropy", "kl", "clip_frac", "loss", "grad_norm")

    # -- construction -----------------------------------------------------------
    def build(self) -> None:
        """The base's build; a recurrent instance does not declare ``multi_device`` (as the torch
        PPO: an even row split over devices would cut the sequences), so the
        LocalMultiGPUOptimizer refuses it when it is built, before anything is sampled."""
        super().build()
        if self.recurrent:
            self.capabilities = type(self).capabilities - {"multi_device"}  # type: ignore[misc]

    def _setup_loss(self) -> None:
        cfg = self.config
        self._kl_coeff = tf.Variable(float(cfg["kl_coeff"]), dtype=tf.float32, trainable=False, name="kl_coeff")
        self._clip_param = float(cfg["clip_param"])
        self._vf_clip = None if cfg["vf_clip_param"] is None else float(cfg["vf_clip_param"])
        self._loaded: list[tuple[tf.Tensor, ...]] = []

    def _pick_devices(self) -> list[str]:
        num_gpus = float(self.config["num_gpus"] or 0)
        if num_gpus > 0:
            gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
            if gpus:
                return gpus[: max(1, min(len(gpus), int(num_gpus)))]
        return ["/CPU:0"] * int(self.config["num_cpu_towers"])

    def _build_extra_graphs(self, cols: list[tf.TensorSpec], fast: bool) -> None:
        n = len(self.devices)
        self._tower_fn = GraphFunction(self._graph_towers, [tf.TensorSpec([None], tf.int64)] + cols * n, fast=fast)
        # Every loaded row of one device: the plain gradient graph (the losses are means: order is free).
        self._tower_all_fn = self._grads_fn if n == 1 else GraphFunction(self._graph_towers_all, cols * n, fast=fast)

    # -- graph bodies (traced once each) ------------------------------------------
    def _loss_terms(
        self, dist_inputs: tf.Tensor, values: tf.Tensor, cols: dict[str, tf.Tensor]
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """PPO's loss and its statistics ``[loss, policy_loss, vf_loss, entropy, kl, clip_frac]``."""
        adv, targets, old_vf = cols[sb.ADVANTAGES], cols[sb.VALUE_TARGETS], cols[sb.VF_PREDS]
        dist = make_dist(self.dist_spec, dist_inputs)
        old = make_dist(self.dist_spec, cols[sb.ACTION_DIST_INPUTS])
        ratio = tf.exp(dist.logp(cols[sb.ACTIONS]) - cols[sb.ACTION_LOGP])
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

    # -- multi-device ------------------------------------------------------------------
    def _load_batch(self, batch: SampleBatch) -> int:
        """Copy each device's even share of the loss columns to it once; returns rows per device."""
        if self.recurrent or sb.SEQ_LENS in batch:
            raise self._unsupported(
                "multi-device learning on sequences (load_batch with a recurrent model: rows split over devices "
                "would cut sequences); use learn_on_batch (rlcore's LocalSyncOptimizer, simple_optimizer: true)"
            )
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

    # -- global vars ----------------------------------------------------------------
    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        """Keep trainer-wide values; ``kl_coeff`` goes into the loss (a variable the graphs read)."""
        super().set_global_vars(global_vars)
        if "kl_coeff" in global_vars:
            self._kl_coeff.assign(float(global_vars["kl_coeff"]))
