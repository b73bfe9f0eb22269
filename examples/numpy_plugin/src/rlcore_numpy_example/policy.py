"""A pure-numpy policy: a linear softmax policy and a linear value baseline (REINFORCE with baseline).

It implements the :class:`rlcore.policy.Policy` contract with nothing but numpy, the smaller thing a
new framework writes per algorithm: a model and its loss. The core's rollout evaluator runs it
(vectorized envs, preprocessing, episodes, Ray workers) with the ``PG`` algorithm's postprocessing
(:mod:`rlcore_numpy_example.algorithm`). Weights are ``dict[str, np.ndarray]`` with ``[in, out]``
layouts; gradients are analytic; the optimizer is plain SGD.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from rlcore import sample_batch as sb
from rlcore.errors import UnsupportedOperationError
from rlcore.model_policy import check_gradients
from rlcore.models.layout import Param, check_weights
from rlcore.policy import Gradients, Policy, StateBatches, Weights
from rlcore.sample_batch import SampleBatch


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def pg_gradients(
    weights: dict[str, np.ndarray], batch: SampleBatch, vf_coeff: float
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Analytic gradients (float32) and the info of the REINFORCE + value loss of the linear
    policy with ``weights`` on ``batch`` (``obs``, ``actions``, ``advantages``, ``value_targets``).

    Advantages are standardized over the batch; ``loss = -mean(logp(a|s) A) + vf_coeff * 0.5 *
    mean((V(s) - G)^2)``. Shared by the policy and the whole evaluator of this example.
    """
    x = np.asarray(batch[sb.OBS], np.float64).reshape(batch.count, -1)
    acts = np.asarray(batch[sb.ACTIONS], np.int64)
    adv = np.asarray(batch[sb.ADVANTAGES], np.float64)
    targets = np.asarray(batch[sb.VALUE_TARGETS], np.float64)
    n = len(x)
    if n > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    logp_all = _log_softmax(x @ w["pi/kernel"] + w["pi/bias"])
    probs = np.exp(logp_all)
    pi_loss = -np.mean(logp_all[np.arange(n), acts] * adv)
    onehot = np.zeros_like(probs)
    onehot[np.arange(n), acts] = 1.0
    d_logits = -(onehot - probs) * adv[:, None] / n
    err = (x @ w["vf/kernel"] + w["vf/bias"])[:, 0] - targets
    d_values = vf_coeff * err / n
    grads = {
        "pi/kernel": x.T @ d_logits,
        "pi/bias": d_logits.sum(axis=0),
        "vf/kernel": x.T @ d_values[:, None],
        "vf/bias": np.array([d_values.sum()]),
    }
    info = {
        "loss": float(pi_loss + vf_coeff * 0.5 * np.mean(err**2)),
        "policy_loss": float(pi_loss),
        "vf_loss": float(0.5 * np.mean(err**2)),
        "entropy": float(-(probs * logp_all).sum(axis=1).mean()),
    }
    return {k: g.astype(np.float32) for k, g in grads.items()}, info


class LinearPGPolicy(Policy):
    """REINFORCE with a linear softmax policy and a linear value baseline, in numpy.

    ``LinearPGPolicy(observation_space, action_space, config, seed=None)``: observations are the
    (preprocessed, flat) ``float32`` vectors of ``observation_space``; ``Discrete`` actions only.
    Config keys: ``lr`` (SGD step size) and ``vf_coeff`` (weight of the value loss). Weights:
    ``pi/kernel [obs_dim, num_actions]``, ``pi/bias [num_actions]``, ``vf/kernel [obs_dim, 1]``,
    ``vf/bias [1]`` (float32). The loss is ``-mean(logp(a|s) * A_normalized) + vf_coeff * 0.5 *
    mean((V(s) - G)^2)`` (Williams 1992, with a learned baseline).
    """

    framework: ClassVar[str] = "numpy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients"})
    loss_columns: ClassVar[tuple[str, ...]] = (sb.OBS, sb.ACTIONS, sb.ADVANTAGES, sb.VALUE_TARGETS)

    def __init__(self, observation_space: Any, action_space: Any, config: dict[str, Any], *, seed: int | None = None):
        if not isinstance(action_space, spaces.Discrete):
            raise UnsupportedOperationError(f"LinearPGPolicy supports Discrete action spaces only, got {action_space}")
        self.observation_space, self.action_space, self.config = observation_space, action_space, dict(config)
        obs_dim, n_act = int(np.prod(observation_space.shape)), int(action_space.n)
        self.layout = [
            Param("pi/kernel", (obs_dim, n_act), ("normc", 0.01)),
            Param("pi/bias", (n_act,), ("zeros",)),
            Param("vf/kernel", (obs_dim, 1), ("zeros",)),
            Param("vf/bias", (1,), ("zeros",)),
        ]
        init_rng, act_rng = np.random.default_rng(seed).spawn(2)
        self.rng = act_rng
        self._w = {
            "pi/kernel": (0.01 * init_rng.standard_normal((obs_dim, n_act))).astype(np.float32),
            "pi/bias": np.zeros(n_act, np.float32),
            "vf/kernel": np.zeros((obs_dim, 1), np.float32),
            "vf/bias": np.zeros(1, np.float32),
        }

    # -- model ---------------------------------------------------------------------
    def _forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(obs, np.float32).reshape(len(obs), -1)
        return x @ self._w["pi/kernel"] + self._w["pi/bias"], (x @ self._w["vf/kernel"] + self._w["vf/bias"])[:, 0]

    def compute_actions(
        self, obs: np.ndarray, state: StateBatches | None = None, explore: bool = True
    ) -> tuple[np.ndarray, StateBatches, dict[str, np.ndarray]]:
        """Sampled (or greedy) actions, with ``action_logp``, ``vf_preds`` and the logits
        (``action_dist_inputs``) as extras."""
        logits, values = self._forward(obs)
        logp = _log_softmax(logits)
        if explore:
            cdf = np.cumsum(np.exp(logp), axis=1)
            u = self.rng.random(len(logp))[:, None]
            actions = np.minimum((u > cdf).sum(axis=1), logp.shape[1] - 1).astype(np.int64)
        else:
            actions = logp.argmax(axis=1).astype(np.int64)
        extras = {
            sb.ACTION_LOGP: logp[np.arange(len(actions)), actions].astype(np.float32),
            sb.VF_PREDS: values,
            sb.ACTION_DIST_INPUTS: logits.astype(np.float32),
        }
        return actions, [], extras

    def compute_values(self, obs: np.ndarray, state: StateBatches | None = None) -> np.ndarray:
        """``V(obs)`` (float32 ``[B]``), for bootstrapping truncated episodes."""
        return self._forward(obs)[1]

    # -- learning --------------------------------------------------------------------
    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Analytic gradients of the REINFORCE + value loss on ``batch`` (weights untouched)."""
        return pg_gradients(self._w, batch, float(self.config["vf_coeff"]))

    def apply_gradients(self, grads: Gradients) -> None:
        """One SGD step ``w -= lr * g`` (every weight needs its gradient: the core's one rule)."""
        checked = check_gradients(self.layout, grads, type(self).__name__)
        lr = np.float32(self.config["lr"])
        self._w = {k: (v - lr * checked[k]).astype(np.float32) for k, v in self._w.items()}

    # -- weights -----------------------------------------------------------------------
    def get_weights(self) -> Weights:
        """Copies of the weights."""
        return {k: v.copy() for k, v in self._w.items()}

    def set_weights(self, weights: Weights) -> None:
        """Load copies of weights of the same names and shapes."""
        check_weights(self.layout, dict(weights), type(self).__name__)
        self._w = {k: np.array(weights[k], dtype=np.float32, copy=True) for k in self._w}
