"""The core's numpy mirrors (:func:`rlcore.models.numpy_forward.numpy_model`) equal the TensorFlow
catalog models built through :class:`~rlcore.models.ModelCatalog` to 1e-5 (the cases and checks of
:mod:`rlcore.testing.numpy_mirror`; the torch twin is rl_torch's ``test_numpy_vision_mirror.py``):
vision models (default 84x84 and small custom filters), Q networks on conv and fc trunks, LSTMs on
conv and fc trunks over 3 steps, fc models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from rlcore.models import ModelCatalog
from rlcore.testing import numpy_mirror as nm


def run(fn: Any, *arrays: Any) -> list[np.ndarray]:
    """``fn`` on the arrays as TF constants (lists of arrays: lists of constants), outputs as numpy."""
    args = [[tf.constant(x) for x in a] if isinstance(a, list) else tf.constant(a) for a in arrays]
    out = fn(*args)
    return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]


@pytest.mark.parametrize(("shape", "config"), nm.VISION_CASES)
def test_vision_model_equals_tf(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    nm.check_dist_model(ModelCatalog.build_model(shape, 5, config, "tf", seed=3), shape, config, run, "vision")


@pytest.mark.parametrize(("shape", "config"), nm.FC_CASES)
def test_fc_model_equals_tf(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    nm.check_dist_model(ModelCatalog.build_model(shape, 5, config, "tf", seed=3), shape, config, run, "fc")


@pytest.mark.parametrize(("shape", "config", "hiddens", "dueling"), nm.Q_CASES)
def test_q_network_equals_tf(shape: tuple[int, ...], config: dict[str, Any], hiddens: list[int], dueling: bool) -> None:
    model = ModelCatalog.build_q_model(shape, 4, config, "tf", hiddens=hiddens, dueling=dueling, seed=3)
    nm.check_q_model(model, shape, config, hiddens, dueling, run)


@pytest.mark.parametrize(("shape", "config"), nm.LSTM_CASES)
def test_lstm_equals_tf_over_three_steps(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    nm.check_lstm_model(ModelCatalog.build_model(shape, 3, config, "tf", seed=3), shape, config, run)
