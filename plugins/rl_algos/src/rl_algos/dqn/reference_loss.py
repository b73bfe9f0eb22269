"""DQN's loss in numpy (float64): the reference a framework's DQN policy is checked against.

The importance-weighted Huber loss of the TD error ``Q(obs, a) - (r + discount * (1 -
terminated) * Q_target(next_obs, a*))`` with ``a* = argmax_a Q(next_obs, a)`` of the online
network under ``double_q`` (van Hasselt et al. 2016), else of the target network (Mnih et al.
2015). Q-values come from the numpy mirror of the catalog Q network (:mod:`rlcore.models.numpy_forward`)
holding the policy's weights, so any framework's policy of that layout is checked. For image
observations ``[H, W, C]`` (the vision Q network: conv trunk of :func:`rlcore.models.layout.q_layout`)
the trunk is computed here in float64 (NHWC, HWIO kernels, TensorFlow's SAME padding, the last
layer VALID, every layer followed by ``conv_activation``, features flattened in NHWC order) and
the head by the same numpy mirror.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rl_algos.dqn.postprocessing import DISCOUNTS
from rlcore import sample_batch as sb
from rlcore.models import ModelCatalog
from rlcore.sample_batch import SampleBatch

#: The batch columns DQN's loss reads (``weights``: prioritized-replay importance weights).
LOSS_COLUMNS: tuple[str, ...] = (
    sb.OBS,
    sb.ACTIONS,
    sb.REWARDS,
    sb.NEXT_OBS,
    sb.TERMINATEDS,
    DISCOUNTS,
    sb.WEIGHTS,
)

#: The scalar keys of a DQN policy's learner info; ``td_error`` (float32 ``[B]``) comes besides.
INFO_KEYS: tuple[str, ...] = ("loss", "mean_q", "mean_td_error", "grad_norm")


def conv_trunk(obs: np.ndarray, weights: Mapping[str, np.ndarray], model_config: Mapping[str, Any]) -> np.ndarray:
    """The catalog's conv trunk on NHWC images ``[B, H, W, C]`` in float64: flattened features ``[B, f]``.

    ``model_config`` is resolved (``conv_filters`` None: the catalog's default for the shape)."""
    from numpy.lib.stride_tricks import sliding_window_view

    from rlcore.models.layout import conv_layers, same_padding
    from rlcore.models.numpy_forward import activation

    x = np.asarray(obs, np.float64)
    filters = model_config["conv_filters"] or ModelCatalog.get_filter_config(x.shape[1:])
    act = activation({"fcnet_activation": model_config["conv_activation"]})
    for layer in conv_layers(tuple(x.shape[1:]), filters):
        (kh, kw), s = layer.kernel, layer.stride
        if layer.padding == "SAME":
            pads = (same_padding(x.shape[1], kh, s), same_padding(x.shape[2], kw, s))
            x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
        windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::s, ::s]  # [B, oh, ow, C, kh, kw]
        windows = windows[:, : layer.out_hw[0], : layer.out_hw[1]]
        kernel = np.asarray(weights[f"{layer.name}/kernel"], np.float64)  # [kh, kw, C, out]
        x = act(np.einsum("bhwcij,ijco->bhwo", windows, kernel) + weights[f"{layer.name}/bias"])
    return x.reshape(len(x), -1)


def q_network(policy: Any, weights: Mapping[str, np.ndarray]) -> Any:
    """The numpy mirror of ``policy``'s Q network (catalog layout) holding ``weights``: a callable
    ``obs [B, *obs_shape] -> q [B, num_actions]`` (the conv trunk in float64 for image shapes)."""
    from rlcore.models.numpy_forward import NumpyQForward

    cfg = policy.config
    model_config = ModelCatalog.resolve_model_config(cfg.get("model"))
    if len(tuple(policy.obs_shape)) != 3:
        net = NumpyQForward(model_config, list(cfg["hiddens"]), bool(cfg["dueling"]))
        net.set_weights(weights)
        return net
    head = NumpyQForward({**model_config, "fcnet_hiddens": []}, list(cfg["hiddens"]), bool(cfg["dueling"]))
    head.set_weights({k: v for k, v in weights.items() if not k.startswith("conv_")})
    head.w = {k: v.astype(np.float64) for k, v in head.w.items()}
    return lambda obs: head(conv_trunk(obs, weights, model_config))


def dqn_loss(policy: Any, batch: SampleBatch, target_weights: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """DQN's loss on ``batch`` (see the module docstring). ``target_weights`` default to the
    policy's target network (``policy.get_state()["target"]``).

    Returns ``loss``, ``mean_q``, ``mean_td_error``, ``td_error`` (per row) and ``dhuber`` (the
    loss's derivative with respect to each row's ``Q(obs, a)``).
    """
    cfg = policy.config
    if target_weights is None:
        target_weights = policy.get_state()["target"]
    online, target = q_network(policy, policy.get_weights()), q_network(policy, target_weights)
    rows = np.arange(batch.count)
    q_t = online(batch[sb.OBS]).astype(np.float64)[rows, batch[sb.ACTIONS]]
    q_next_target = target(batch[sb.NEXT_OBS]).astype(np.float64)
    select = online(batch[sb.NEXT_OBS]) if cfg["double_q"] else q_next_target
    q_tp1 = q_next_target[rows, select.argmax(1)]
    y = batch[sb.REWARDS] + batch[DISCOUNTS] * (1.0 - batch[sb.TERMINATEDS]) * q_tp1
    td = q_t - y
    delta = float(cfg["huber_delta"])
    huber = np.where(np.abs(td) <= delta, 0.5 * td**2, delta * (np.abs(td) - 0.5 * delta))
    return {
        "loss": float(np.mean(batch[sb.WEIGHTS] * huber)),
        "mean_q": float(q_t.mean()),
        "mean_td_error": float(td.mean()),
        "td_error": td,
        "dhuber": batch[sb.WEIGHTS] * np.clip(td, -delta, delta) / batch.count,
    }
