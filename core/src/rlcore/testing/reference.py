"""Reference losses in numpy (float64), for testing an evaluator's loss in any framework.

A plugin that implements PPO or DQN in a new framework compares its ``compute_gradients`` stats
against these: they follow rlcore's loss definitions (``rlcore.loss_config``) term by term and
read only what every evaluator exposes (``forward``, ``config``, ``dist_spec``, weights).

    _, info = evaluator.compute_gradients(batch)
    ref = ppo_loss(evaluator, batch, kl_coeff=0.2)
    assert info["loss"] == pytest.approx(ref["loss"], rel=1e-4)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rlcore.action_dist import gaussian_logp
from rlcore.sample_batch import SampleBatch


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, numerically stable."""
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def ppo_loss(evaluator: Any, batch: SampleBatch, kl_coeff: float) -> dict[str, float]:
    """PPO's loss terms on ``batch`` from ``evaluator.forward``: ``policy_loss`` (clipped
    surrogate), ``vf_loss`` (clipped when ``vf_clip_param`` is set), ``entropy``, ``kl`` (old to
    new), ``clip_frac`` and the total ``loss``; categorical and diagonal-Gaussian policies."""
    cfg = evaluator.config
    dist_inputs, values = (np.asarray(x, dtype=np.float64) for x in evaluator.forward(batch["obs"]))
    old = np.asarray(batch["action_dist_inputs"], dtype=np.float64)
    acts = batch["actions"]
    if evaluator.dist_spec.kind == "categorical":
        lp, lp_old = log_softmax(dist_inputs), log_softmax(old)
        logp = np.take_along_axis(lp, np.asarray(acts)[:, None], 1)[:, 0]
        entropy = -(np.exp(lp) * lp).sum(-1)
        kl = (np.exp(lp_old) * (lp_old - lp)).sum(-1)
    else:
        d = dist_inputs.shape[1] // 2
        mean, log_std, mean0, log_std0 = dist_inputs[:, :d], dist_inputs[:, d:], old[:, :d], old[:, d:]
        logp = gaussian_logp(np.asarray(acts).reshape(len(acts), -1), mean, log_std)
        entropy = (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1)
        var_ratio = (np.exp(2 * log_std0) + (mean0 - mean) ** 2) / (2 * np.exp(2 * log_std))
        kl = (log_std - log_std0 + var_ratio - 0.5).sum(-1)
    adv, targets, old_v = batch["advantages"], batch["value_targets"], batch["vf_preds"]
    ratio = np.exp(logp - batch["action_logp"])
    c = cfg["clip_param"]
    surrogate = np.minimum(adv * ratio, adv * np.clip(ratio, 1 - c, 1 + c))
    vf_err = (values - targets) ** 2
    if cfg["vf_clip_param"] is not None:
        vc = cfg["vf_clip_param"]
        vf_err = np.maximum(vf_err, (old_v + np.clip(values - old_v, -vc, vc) - targets) ** 2)
    out = {
        "policy_loss": float(-surrogate.mean()),
        "vf_loss": float(vf_err.mean()),
        "entropy": float(entropy.mean()),
        "kl": float(kl.mean()),
        "clip_frac": float(np.mean(np.abs(ratio - 1) > c)),
    }
    out["loss"] = (
        out["policy_loss"]
        + kl_coeff * out["kl"]
        + cfg["vf_loss_coeff"] * out["vf_loss"]
        - cfg["entropy_coeff"] * out["entropy"]
    )
    return out


def q_network(evaluator: Any, weights: Mapping[str, np.ndarray]) -> Any:
    """The numpy mirror of ``evaluator``'s Q-network (catalog layout) holding ``weights``."""
    from rlcore.models.numpy_forward import NumpyQForward

    net = NumpyQForward(evaluator.model_config, list(evaluator.config["hiddens"]), bool(evaluator.config["dueling"]))
    net.set_weights(weights)
    return net


def dqn_loss(evaluator: Any, batch: SampleBatch, target_weights: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """DQN's loss on ``batch``: importance-weighted Huber of ``Q(obs, a) - (r + discount * (1 -
    terminated) * Q_target(next_obs, argmax))`` (argmax of the online net with ``double_q``).

    Returns ``loss``, ``mean_q``, ``mean_td_error``, ``td_error`` (per row) and ``dhuber`` (the
    loss's derivative with respect to each row's ``Q(obs, a)``).
    """
    online, target = q_network(evaluator, evaluator.get_weights()), q_network(evaluator, target_weights)
    rows = np.arange(batch.count)
    q_t = online(batch["obs"]).astype(np.float64)[rows, batch["actions"]]
    q_next_target = target(batch["next_obs"]).astype(np.float64)
    select = online(batch["next_obs"]) if evaluator.config["double_q"] else q_next_target
    q_tp1 = q_next_target[rows, select.argmax(1)]
    y = batch["rewards"] + batch["discounts"] * (1.0 - batch["terminateds"]) * q_tp1
    td = q_t - y
    delta = float(evaluator.config["huber_delta"])
    huber = np.where(np.abs(td) <= delta, 0.5 * td**2, delta * (np.abs(td) - 0.5 * delta))
    return {
        "loss": float(np.mean(batch["weights"] * huber)),
        "mean_q": float(q_t.mean()),
        "mean_td_error": float(td.mean()),
        "td_error": td,
        "dhuber": batch["weights"] * np.clip(td, -delta, delta) / batch.count,
    }
