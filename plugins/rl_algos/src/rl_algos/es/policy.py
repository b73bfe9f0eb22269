"""ES's pure-numpy policy: the catalog's fc model in numpy, forward only, so ES runs with no framework.

:class:`ESNumpyPolicy` is registered as ``("ES", "numpy")`` (``framework: numpy``, ES's default).
Its weights are the catalog's canonical fc layout (:func:`rlcore.models.layout.fc_layout`,
initialized by :func:`rlcore.models.layout.init_weights` from the policy's seed, as the torch and
TensorFlow models are), its forward pass :class:`rlcore.models.numpy_forward.NumpyFCForward`, so
the same flat vector acts the same in ES/numpy, ES/torch and ES/tf. Acting, population acting and
the flat-weight methods come from :class:`~rlcore.model_policy.ForwardOnlyModelPolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rlcore.model_policy import ForwardOnlyModelPolicy
from rlcore.models.layout import Param, fc_layout, init_weights
from rlcore.models.numpy_forward import NumpyFCForward
from rlcore.policy import Weights

__all__ = ["ESNumpyPolicy"]


class ESNumpyPolicy(ForwardOnlyModelPolicy):
    """ES's policy in numpy: the seeded catalog fc model (``model.fcnet_hiddens``,
    ``fcnet_activation``, ``free_log_std``...), forward only.

    Config keys read here: ``model``. ``numpy_inference`` is always on here (the model *is*
    numpy), so population acting always takes the core's one batched forward over all rows
    (:func:`rlcore.models.numpy_forward.population_fc_logits`). Construction raises
    :class:`~rlcore.errors.UnsupportedOperationError` for image observations (vision models) and
    ``model.custom_model``, naming ``framework: torch`` / ``framework: tf`` (whose ES policies build
    those models), and for ``model.use_lstm`` (no ES policy is recurrent); the learning methods raise
    it too (ES updates the flat weights instead).
    """

    framework: ClassVar[str] = "numpy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"continuous", "discrete"})

    def __init__(
        self, observation_space: Any, action_space: Any, config: Mapping[str, Any], *, seed: int | None = None
    ) -> None:
        super().__init__(observation_space, action_space, {**dict(config), "numpy_inference": True}, seed=seed)

    def build(self) -> None:
        """The fc layout, its seeded initial weights and the numpy forward pass."""
        if self.model_kind != "fc":
            if self.model_kind == "custom":
                what, other = f"custom_model {self.model_config['custom_model']!r}", ""
            else:
                what = f"{self.model_kind} models (observations of shape {list(self.obs_shape)})"
                other = ", or flatten the observations"
            raise self._unsupported(
                f"{what}: the numpy ES policy builds the catalog's fully connected model only. Set framework: torch "
                "or framework: tf (their ES policies build vision and custom models; from the root of an rlcore "
                f"checkout: pip install -c constraints.txt ./plugins/rl_torch, or ./plugins/rl_tf){other}"
            )
        obs_dim = int(np.prod(self.obs_shape))
        self._layout = fc_layout(obs_dim, self.dist_spec.num_outputs, self.model_config)
        self.net = NumpyFCForward(self.model_config)
        self.w = init_weights(self._layout, self.seed)
        self.net.set_weights(self.w)

    def model_layout(self) -> list[Param]:
        """The catalog fc layout (the flat weights' order)."""
        return self._layout

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_inputs [B, n], values [B])`` of the fc model in numpy."""
        return self.net(np.asarray(obs, np.float32))

    def _get_weights(self) -> Weights:
        return {k: v.copy() for k, v in self.w.items()}

    def _set_weights(self, weights: Weights) -> None:
        self.w = {k: np.array(v, np.float32) for k, v in weights.items()}
        self.net.set_weights(self.w)
