"""rl_torch's policy for Evolution Strategies (ES): a catalog model that only acts.

ES (Salimans et al. 2017) never differentiates: it perturbs the policy's flat weight vector
(:meth:`~rlcore.model_policy.ModelPolicy.get_flat_weights`), evaluates the perturbations and
moves the weights by a rank-weighted sum of the noise. :class:`ESTorchPolicy` is therefore the
catalog model (fc or vision; the core refuses ``use_lstm``) with a forward pass and canonical
weights in and out, and nothing else: no loss, no optimizer, no autograd. Acting, population
acting (:meth:`~rlcore.model_policy.ModelPolicy.compute_population_actions`) and the flat-weight
methods come from :class:`~rlcore.model_policy.ForwardOnlyModelPolicy`; with the default
``numpy_inference: true`` an fc model acts through the core's numpy mirror, and this model runs
for vision models or with ``numpy_inference: false``.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from rl_torch.common import TorchCatalogForward, TorchCatalogWeights, set_num_threads
from rl_torch.models import CatalogModel
from rlcore.model_policy import ForwardOnlyModelPolicy
from rlcore.models.layout import Param

__all__ = ["ESTorchPolicy"]


class ESTorchPolicy(TorchCatalogForward, TorchCatalogWeights, ForwardOnlyModelPolicy):
    """ES's policy in PyTorch: the seeded catalog model on the CPU, forward only.

    Config keys read here: ``model`` and ``num_cpu_threads`` (torch's intra-op threads; 0: its
    default), plus :class:`~rlcore.model_policy.ModelPolicy`'s ``numpy_inference``. The learning
    methods (``compute_gradients``, ``apply_gradients``, ``learn_on_batch``, ``loss``) raise
    :class:`~rlcore.errors.UnsupportedOperationError`; construction raises it for ``use_lstm``
    (no ``"recurrent"`` capability) and :class:`~rlcore.errors.ConfigError` for a custom model that
    is not an :class:`rl_torch.models.CatalogModel`.
    """

    framework: ClassVar[str] = "torch"
    capabilities: ClassVar[frozenset[str]] = frozenset({"continuous", "discrete"})

    model: CatalogModel

    def build(self) -> None:
        """Set torch's threads and build the seeded catalog model (no gradients, no optimizer)."""
        set_num_threads(int(self.config.get("num_cpu_threads", 1)))
        self.device = torch.device("cpu")
        self.model = self.build_catalog_model(CatalogModel).requires_grad_(False)

    def model_layout(self) -> list[Param]:
        """The catalog model's canonical layout (the flat weights' order)."""
        return self.model.layout
