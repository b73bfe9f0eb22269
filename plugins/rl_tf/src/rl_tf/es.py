"""rl_tf's policy for Evolution Strategies (ES): a catalog model that only acts.

ES (Salimans et al. 2017) never differentiates: it perturbs the policy's flat weight vector
(:meth:`~rlcore.model_policy.ModelPolicy.get_flat_weights`), evaluates the perturbations and
moves the weights by a rank-weighted sum of the noise. :class:`ESTFPolicy` is therefore the
catalog model (fc or vision; the core refuses ``use_lstm``) with one forward graph and the
weight graphs (canonical weights in and out), and nothing else: no loss graph, no gradient
tape, no optimizer. Acting, population acting
(:meth:`~rlcore.model_policy.ModelPolicy.compute_population_actions`) and the flat-weight
methods come from :class:`~rlcore.model_policy.ForwardOnlyModelPolicy`; with the default
``numpy_inference: true`` an fc model acts through the core's numpy mirror, and this graph runs
for vision models or with ``numpy_inference: false``.
"""

from __future__ import annotations

from typing import ClassVar

from rl_tf.actor_critic import limit_threads
from rl_tf.graph import CatalogForward, VariableWeights
from rl_tf.models import CatalogModel
from rlcore.model_policy import ForwardOnlyModelPolicy
from rlcore.models.layout import Param

__all__ = ["ESTFPolicy"]


class ESTFPolicy(CatalogForward, VariableWeights, ForwardOnlyModelPolicy):
    """ES's policy in TensorFlow 2: the seeded catalog model, forward only.

    Config keys read here: ``model`` and ``num_cpu_threads`` (TensorFlow's intra-op threads when
    the process's TensorFlow has not started yet: :func:`rl_tf.actor_critic.limit_threads`; 0: its
    default), plus :class:`~rlcore.model_policy.ModelPolicy`'s ``numpy_inference``. The learning
    methods (``compute_gradients``, ``apply_gradients``, ``learn_on_batch``, ``loss``) raise
    :class:`~rlcore.errors.UnsupportedOperationError`; construction raises it for ``use_lstm``
    (no ``"recurrent"`` capability) and :class:`~rlcore.errors.ConfigError` for a custom model that
    is not an :class:`rl_tf.models.CatalogModel`.
    """

    framework: ClassVar[str] = "tf"
    capabilities: ClassVar[frozenset[str]] = frozenset({"continuous", "discrete"})

    model: CatalogModel

    #: No optimizer, so no learning rate: refused like any policy without one (not VariableWeights').
    _set_learning_rate = ForwardOnlyModelPolicy._set_learning_rate

    def build(self) -> None:
        """Cap the threads, build the seeded catalog model, the forward graph and the weight graphs."""
        self.threads_limited = limit_threads(int(self.config.get("num_cpu_threads", 0) or 0))
        self.model = self.build_catalog_model(CatalogModel)
        self.weight_names = self.model.weight_names()
        self._vars = [self.model.params[n] for n in self.weight_names]
        self._build_weight_graphs(fast=self._build_forward_graph().uses_fast_path)

    def model_layout(self) -> list[Param]:
        """The catalog model's canonical layout (the flat weights' order)."""
        return self.model.layout
