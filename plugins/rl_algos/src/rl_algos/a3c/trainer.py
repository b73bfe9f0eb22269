"""A3C's and A2C's trainers (Mnih et al. 2016), RLlib's 2018 layout.

Both build the rollout evaluators of the policy registered as ``("A3C", framework)`` (rl_torch,
rl_tf), with A3C's GAE postprocessing (:mod:`rl_algos.a3c.postprocessing`) and loss
(:mod:`rl_algos.a3c.reference_loss` is its numpy reference):

* :class:`A3C`: the ``AsyncOptimizer`` (rl_optimizers) keeps ``grads_per_step`` gradient tasks in
  flight across the remote workers (each samples one fragment and computes its gradient on the
  weights it last received), applies each gradient on the local evaluator as it arrives and sends
  that worker fresh weights; one ``train()`` applies ``grads_per_step`` gradients. Embedded
  (``num_workers: 0``) it samples, computes and applies in this process in turn.
* :class:`A2C`: the ``LocalSyncOptimizer`` gathers ``train_batch_size`` rows from every worker on
  the same weights, then takes one gradient step on the whole batch (``num_sgd_iter`` 1, no
  minibatches, advantages not standardized: the A3C loss as written).

A2C has no policy of its own: anything keyed by an algorithm's policies (``rlcore check-evaluator``,
:class:`rlcore.testing.RegisteredEvaluatorFactory`, ``rlcore list-plugins``) finds it under
``A3C`` (:attr:`A3C.policy_algorithm`); asking for ``A2C``'s is refused with that hint.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rl_algos.a3c.config import A2C_DEFAULT_CONFIG, A2C_SCHEMA, A3C_ONLY_KEYS, DEFAULT_CONFIG, SCHEMA
from rlcore.errors import ConfigError
from rlcore.trainer import Trainer


class A3C(Trainer):
    """A3C: actor-critic whose gradients, computed on remote workers, are applied as they arrive."""

    name = "A3C"
    config_schema = SCHEMA
    default_config = DEFAULT_CONFIG
    postprocessing = "rl_algos.a3c.postprocessing:postprocess_a3c"
    reference_loss = "rl_algos.a3c.reference_loss:a3c_loss"
    #: The algorithm name its policies are registered under (``("A3C", framework)``), for A3C and A2C.
    policy_algorithm: ClassVar[str] = "A3C"

    def setup(self) -> None:
        """Build the A3C evaluators of ``config["framework"]`` and the ``AsyncOptimizer``."""
        cfg = self.config
        self.build_evaluators(self.policy_algorithm)
        self.build_optimizer(
            "AsyncOptimizer",
            {"grads_per_step": cfg["grads_per_step"], "ignore_worker_failures": cfg["ignore_worker_failures"]},
        )


class A2C(A3C):
    """A2C: synchronous A3C; every worker samples on the same weights, one gradient step per batch."""

    name = "A2C"
    config_schema = A2C_SCHEMA
    default_config = A2C_DEFAULT_CONFIG

    def __init__(self, config: dict[str, Any] | None = None, env: str | None = None) -> None:
        """As :class:`~rlcore.trainer.Trainer`; an A3C-only key (``grads_per_step``,
        ``ignore_worker_failures``) raises :class:`~rlcore.errors.ConfigError` saying it is A3C's."""
        for key in A3C_ONLY_KEYS:
            if isinstance(config, dict) and key in config:
                raise ConfigError(
                    f"A2C unknown config key {key!r}: it is A3C's ({SCHEMA.fields[key].doc}); "
                    "A2C takes one gradient step on train_batch_size rows from every worker per iteration: remove "
                    "it, or run A3C"
                )
        super().__init__(config, env)

    def setup(self) -> None:
        """Build the A3C evaluators of ``config["framework"]`` and the ``LocalSyncOptimizer``
        (one step on the whole ``train_batch_size`` batch per iteration)."""
        cfg = self.config
        self.build_evaluators(self.policy_algorithm)
        self.build_optimizer(
            "LocalSyncOptimizer",
            {
                "train_batch_size": cfg["train_batch_size"],
                "num_sgd_iter": 1,
                "sgd_minibatch_size": None,
                "standardize_fields": [],
                "seed": cfg["seed"],
            },
        )
