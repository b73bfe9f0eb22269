"""Checks that a framework's catalog models equal the core's numpy mirrors
(:func:`rlcore.models.numpy_forward.numpy_model`), shared by the framework plugins' tests.

A plugin's test builds each case's model through :class:`~rlcore.models.ModelCatalog` and passes
``run(fn, *arrays) -> tuple of numpy arrays``: ``fn`` called on the arrays as the framework's
tensors (a list argument: a list of tensors), without gradients, its outputs as numpy. The
checks set random canonical weights (:func:`random_canonical_weights`) in both through
``set_weights``, feed random observations and compare every output to 1e-5
(``assert_allclose(rtol=1e-5, atol=1e-5)``), raising ``AssertionError`` naming the output.

The cases: :data:`VISION_CASES` (the default 84x84 filters, small custom filters with stride > 1,
odd sizes, asymmetric SAME padding, 1x1 kernels, every conv activation, ``free_log_std``,
``vf_share_layers``, which the vision model ignores), :data:`Q_CASES` (the Q network on a conv
and an fc trunk, dueling or not, head ``hiddens`` ``[]`` and ``[16]``), :data:`LSTM_CASES` (conv
and fc trunks, 3 steps carrying the state) and :data:`FC_CASES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rlcore.models.layout import Param, init_weights

#: ``run(fn, *arrays)``: ``fn`` on the arrays as framework tensors, the outputs as numpy.
Runner = Callable[..., Sequence[Any]]

ODD_FILTERS: list[Any] = [[5, [3, 2], 2], [7, [3, 3], 3], [4, [2, 2], 1]]  # on 13x11: SAME pads (0, 1), (1, 1)
ONE_BY_ONE_FILTERS: list[Any] = [[4, [1, 1], 2], [3, 3, 1]]  # a 1x1 stride-2 layer, an int kernel

VISION_CASES: list[tuple[tuple[int, ...], dict[str, Any]]] = [
    ((84, 84, 4), {}),  # the catalog's default filters
    ((13, 11, 3), {"conv_filters": ODD_FILTERS}),
    ((13, 11, 3), {"conv_filters": ODD_FILTERS, "conv_activation": "elu", "free_log_std": True}),
    ((9, 7, 2), {"conv_filters": ONE_BY_ONE_FILTERS, "conv_activation": "tanh", "vf_share_layers": True}),
    ((10, 10, 1), {"conv_filters": [[6, [4, 4], 3], [5, [2, 2], 2]], "conv_activation": "swish"}),
]

Q_CASES: list[tuple[tuple[int, ...], dict[str, Any], list[int], bool]] = [
    *[((13, 11, 3), {"conv_filters": ODD_FILTERS}, h, d) for h in ([], [16]) for d in (False, True)],
    ((84, 84, 4), {}, [16], True),  # the default filters: one head is enough
    *[((6,), {"fcnet_hiddens": [8, 7]}, h, d) for h in ([], [16]) for d in (False, True)],
]

LSTM_CASES: list[tuple[tuple[int, ...], dict[str, Any]]] = [
    ((13, 11, 3), {"use_lstm": True, "lstm_cell_size": 6, "conv_filters": ODD_FILTERS}),
    ((9, 7, 2), {"use_lstm": True, "lstm_cell_size": 5, "conv_filters": ONE_BY_ONE_FILTERS, "free_log_std": True}),
    ((5,), {"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [8], "fcnet_activation": "relu"}),
]

FC_CASES: list[tuple[tuple[int, ...], dict[str, Any]]] = [
    ((3, 2), {"fcnet_hiddens": [8, 6], "free_log_std": True}),
    ((3, 2), {"fcnet_hiddens": [9], "vf_share_layers": True, "fcnet_activation": "elu"}),
]


def random_canonical_weights(layout: Sequence[Param], seed: int) -> dict[str, np.ndarray]:
    """Random canonical weights of a layout: normc kernels of ``seed`` (``init_weights``), biases
    and ``log_std`` moved off zero (normal, std 0.2), so every parameter shows in the outputs."""
    rng = np.random.default_rng(seed + 1000)
    weights = init_weights(list(layout), seed)
    for p in layout:
        if not p.name.endswith("/kernel"):
            weights[p.name] = (weights[p.name] + 0.2 * rng.standard_normal(p.shape)).astype(np.float32)
    return weights


def random_observations(shape: tuple[int, ...], batch: int, seed: int) -> np.ndarray:
    """Standard normal ``float32 [batch, *shape]`` observations."""
    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype(np.float32)


def _close(actual: Any, expected: Any, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-5, err_msg=what)


def _loaded(model: Any, mirror: Any, seed: int) -> None:
    """The same random canonical weights in the framework model and the mirror."""
    names = [p.name for p in mirror.layout]
    assert names == list(model.weight_names()), f"the mirror's layout {names} != the model's {model.weight_names()}"
    weights = random_canonical_weights(mirror.layout, seed)
    model.set_weights(weights)
    mirror.set_weights(weights)


def check_dist_model(model: Any, shape: tuple[int, ...], config: dict[str, Any], run: Runner, kind: str) -> None:
    """A catalog ``fc`` or ``vision`` model ``model`` built for ``(shape, 5 outputs, config)``
    equals ``numpy_model(kind, shape, 5, config)`` on random weights and observations."""
    from rlcore.models.numpy_forward import numpy_model

    mirror = numpy_model(kind, shape, 5, config)
    _loaded(model, mirror, seed=11)
    obs = random_observations(shape, 4 if shape[0] == 84 else 7, seed=5)
    out, value = run(model, obs)
    m_out, m_value = mirror(obs)
    assert m_out.shape == np.shape(out) == (len(obs), 10 if config.get("free_log_std") else 5)
    _close(m_out, out, "dist_inputs")
    _close(m_value, value, "value")


def check_q_model(
    model: Any, shape: tuple[int, ...], config: dict[str, Any], hiddens: list[int], dueling: bool, run: Runner
) -> None:
    """A Q network ``model`` built for ``(shape, 4 actions, config, hiddens, dueling)`` equals the
    ``numpy_model("q", ...)`` mirror: Q-values to 1e-5 and the same greedy actions."""
    from rlcore.models.numpy_forward import numpy_model

    mirror = numpy_model("q", shape, 4, config, hiddens=hiddens, dueling=dueling)
    assert mirror.action_outputs == "q"
    _loaded(model, mirror, seed=12)
    obs = random_observations(shape, 6, seed=6)
    (q,) = run(model, obs)
    m_q, m_max = mirror(obs)
    _close(m_q, q, "q-values")
    np.testing.assert_array_equal(m_max, m_q.max(axis=1))
    np.testing.assert_array_equal(m_q.argmax(axis=1), np.asarray(q).argmax(axis=1))


def check_lstm_model(model: Any, shape: tuple[int, ...], config: dict[str, Any], run: Runner, steps: int = 3) -> None:
    """A catalog LSTM ``model`` built for ``(shape, 3 outputs, config)`` equals the
    ``numpy_model("lstm", ...)`` mirror over ``steps`` steps of a batch of 5, each step's
    ``forward_step`` fed the state the framework returned the step before (outputs, values and
    both states compared at every step)."""
    from rlcore.models.numpy_forward import numpy_model

    mirror = numpy_model("lstm", shape, 3, config)
    assert mirror.recurrent and mirror.cell_size == config["lstm_cell_size"]
    _loaded(model, mirror, seed=13)
    state = mirror.initial_state(5)
    fw_state = list(state)
    for t in range(steps):
        obs = random_observations(shape, 5, seed=20 + t)
        out, value, h, c = run(lambda o, s: _flat_step(model, o, s), obs, fw_state)
        fw_state = [h, c]
        m_out, m_value, state = mirror(obs, state)
        _close(m_out, out, f"dist_inputs at step {t}")
        _close(m_value, value, f"value at step {t}")
        _close(state[0], h, f"state h at step {t}")
        _close(state[1], c, f"state c at step {t}")


def _flat_step(model: Any, obs: Any, state: Any) -> tuple[Any, Any, Any, Any]:
    out, value, (h, c) = model.forward_step(obs, state)
    return out, value, h, c
