"""The core's numpy mirrors (:func:`rlcore.models.numpy_forward.numpy_model`) equal the torch catalog
models built through :class:`~rlcore.models.ModelCatalog` to 1e-5 (the cases and checks of
:mod:`rlcore.testing.numpy_mirror`): the vision model (the default 84x84 filters, small custom
filters with stride > 1, odd sizes, asymmetric SAME padding, 1x1 kernels, conv activations,
``free_log_std``), the Q network on the conv and fc trunks (dueling or not, head ``hiddens`` ``[]``
and ``[16]``), the LSTM on the conv and fc trunks over 3 steps carrying its state, and the fc model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from rlcore.models import ModelCatalog
from rlcore.testing import numpy_mirror as nm


def run(fn: Any, *arrays: Any) -> list[np.ndarray]:
    """``fn`` on the arrays as torch tensors (lists of arrays: lists of tensors), outputs as numpy."""
    args = [[torch.from_numpy(x) for x in a] if isinstance(a, list) else torch.from_numpy(a) for a in arrays]
    with torch.no_grad():
        out = fn(*args)
    return [t.numpy() for t in (out if isinstance(out, tuple | list) else (out,))]


@pytest.mark.parametrize(("shape", "config"), nm.VISION_CASES)
def test_vision_model_equals_torch(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    nm.check_dist_model(ModelCatalog.build_model(shape, 5, config, "torch", seed=3), shape, config, run, "vision")


@pytest.mark.parametrize(("shape", "config"), nm.FC_CASES)
def test_fc_model_equals_torch(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    nm.check_dist_model(ModelCatalog.build_model(shape, 5, config, "torch", seed=3), shape, config, run, "fc")


@pytest.mark.parametrize(("shape", "config", "hiddens", "dueling"), nm.Q_CASES)
def test_q_network_equals_torch(
    shape: tuple[int, ...], config: dict[str, Any], hiddens: list[int], dueling: bool
) -> None:
    model = ModelCatalog.build_q_model(shape, 4, config, "torch", hiddens=hiddens, dueling=dueling, seed=3)
    nm.check_q_model(model, shape, config, hiddens, dueling, run)


@pytest.mark.parametrize(("shape", "config"), nm.LSTM_CASES)
def test_lstm_equals_torch_over_three_steps(shape: tuple[int, ...], config: dict[str, Any]) -> None:
    nm.check_lstm_model(ModelCatalog.build_model(shape, 3, config, "torch", seed=3), shape, config, run)
