"""A3C's and A2C's config schemas: every key with its default, type, range and meaning.

Defaults follow RLlib 2018's A3C (ray 0.5-0.6 ``agents/a3c/a3c.py`` DEFAULT_CONFIG; ray 0.4
``a3c/a3c.py`` for the older names) where rlcore kept the key: ``rollout_fragment_length`` 10
(2018 ``sample_batch_size``; 0.4 ``batch_size``), ``lambda`` 1.0, ``lr`` 1e-4 (Adam, epsilon
1e-8), ``grad_clip`` 40.0, ``vf_loss_coeff`` 0.5, ``entropy_coeff`` 0.01 and ``grads_per_step``
100 (2018 ``optimizer: {grads_per_step: 100}``; 0.4 ``num_batches_per_iteration``). The loss is
Mnih et al. 2016 ("Asynchronous Methods for Deep Reinforcement Learning"), with GAE advantages
(Schulman et al. 2016)::

    policy_loss = -mean(logp(a) * A)
    vf_loss     = mean((V - V_target)^2)
    entropy     = mean(H)
    loss        = policy_loss + vf_loss_coeff * vf_loss - entropy_coeff * entropy

**Loss scale.** rlcore's terms are *means* over the rows of a gradient's batch (as Stable-Baselines3's
A2C and later RLlib); RLlib 2018's A3C used *sums* (``pi_loss = -sum(logp * A)``,
``vf_loss = 0.5 * sum(delta^2)``). A 2018 gradient was therefore about ``rows`` times larger
(``rollout_fragment_length x num_envs_per_worker`` rows: 10 with the defaults) and its value term
half as heavy for one ``vf_loss_coeff``; the same ``lr`` and ``grad_clip`` numbers act differently.
The defaults keep 2018's numbers; tuned examples (``tuned_examples/cartpole-a3c.yaml``) set their own.

**Entropy sign.** ray 0.4-0.5 added ``entropy_coeff * entropy`` to the loss with a negative default
(-0.01), ray 0.6 subtracted a positive one; rlcore's ``entropy_coeff`` is the bonus (>= 0,
subtracted). A negative value is read as a 2018 one: its sign is flipped, with one
:class:`~rlcore.config_aliases.RLlib2018Warning` line.

``num_workers`` keeps rlcore's default 0 (RLlib 2018: 2, ray 0.4: 4): A3C is meant for remote
workers (``num_workers >= 1``); embedded, the ``AsyncOptimizer`` samples, computes and applies
each gradient in this process in turn (serial actor-critic, one fragment per gradient).

A2C (RLlib 0.6's ``a2c.py``) is the synchronous variant: the same policy and loss, the
``LocalSyncOptimizer`` gathering at least ``train_batch_size`` rows in all from its workers each
round, then one gradient step on the whole batch. Its schema is A3C's without the A3C-only keys (``grads_per_step``,
``ignore_worker_failures``: refused there as unknown keys), with 2018 A2C's
``rollout_fragment_length`` 20 and ``train_batch_size`` 200.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from rlcore.config_aliases import Alias
from rlcore.config_schema import COMMON_SCHEMA, Field, Schema, model_policy_schema


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _non_negative(value: Any) -> str | None:
    return "is out of range" if value < 0 else None


def _optimizer_mapping(value: Any) -> str | None:
    """``check`` of 2018's ``optimizer`` (AsyncGradientsOptimizer kwargs: only ``grads_per_step``)."""
    if not isinstance(value, Mapping):
        return "is not a mapping"
    other = sorted(str(k) for k in value if k != "grads_per_step")
    if other:
        return f"has keys rlcore's AsyncOptimizer does not take ({', '.join(other)})"
    return None


#: RLlib 2018's AsyncGradientsOptimizer default, what ``optimizer: {}`` meant.
GRADS_PER_STEP_2018 = 100

_ENTROPY_SIGN = Alias(
    "entropy_coeff",
    "ray 0.4-0.5 A3C added entropy_coeff x entropy to the loss (default -0.01); rlcore's entropy_coeff is the "
    "bonus, subtracted (>= 0): a negative value has its sign flipped",
    translate=lambda v: -v,
    legacy=lambda v: _is_number(v) and -math.inf < v < 0,  # -inf is refused as given (not flipped to inf)
)
_SAMPLE_ASYNC = Alias(
    None,
    "rlcore's A3C samples inside each gradient task on the worker (no background sampler thread); remove the key",
    no_effect=(True, False),
)
_SUMMARIZE = Alias(
    None,
    "rlcore always reports the loss terms (policy_loss, vf_loss, entropy, grad_norm) in result['info']['learner']; "
    "remove the key",
    no_effect=(False, True),
)
_GPU_WORKERS = Alias(
    None,
    "rlcore's workers act on the CPU unless num_gpus_per_worker reserves GPUs for them; remove the key",
    no_effect=(False,),
)
_TOP_LEVEL_LSTM = Alias("model.use_lstm", "ray 0.4 A3C's top-level use_lstm (default true) is model.use_lstm")

#: RLlib 2018 names of A3C's keys (ray 0.4 ``a3c/a3c.py``, ray 0.5-0.6 ``agents/a3c/a3c.py``). A3C's
#: schema is merged after the common one, so ``optimizer``, ``sample_async`` and ``min_iter_time_s``
#: here replace the common family's entries for A3C.
ALIASES_2018: dict[str, Alias] = {
    "optimizer": Alias(
        "grads_per_step",
        "RLlib 2018's AsyncGradientsOptimizer settings: {grads_per_step: N} is A3C's grads_per_step "
        f"({{}} means 2018's default, {GRADS_PER_STEP_2018})",
        translate=lambda v: v.get("grads_per_step", GRADS_PER_STEP_2018),
        check=_optimizer_mapping,
        allowed="a mapping {grads_per_step: an int >= 1}",
    ),
    "num_batches_per_iteration": Alias("grads_per_step", "ray 0.4 A3C's gradients applied per iteration"),
    "batch_size": Alias("rollout_fragment_length", "ray 0.4 A3C's steps per env per gradient task"),
    "entropy_coeff": _ENTROPY_SIGN,
    "use_lstm": _TOP_LEVEL_LSTM,
    "sample_async": _SAMPLE_ASYNC,
    "summarize": _SUMMARIZE,
    "use_gpu_for_workers": _GPU_WORKERS,
    "min_iter_time_s": Alias(
        None,
        "an rlcore A3C iteration is grads_per_step applied gradients, not a minimum time; remove the key",
        no_effect=(0, 1, 5),
    ),
}

#: RLlib 2018 names of A2C's keys (ray 0.6 ``agents/a3c/a2c.py``: A3C's config with sample_async
#: false, sample_batch_size 20, min_iter_time_s 10). ``optimizer``, ``num_batches_per_iteration``
#: and ``batch_size`` are A3C's (A2C came later than ray 0.4): the common entries stand.
A2C_ALIASES_2018: dict[str, Alias] = {
    "entropy_coeff": _ENTROPY_SIGN,
    "sample_async": Alias(
        None,
        "rlcore's A2C samples synchronously, every worker each round (no background sampler thread); remove the key",
        no_effect=(False,),
    ),
    "summarize": _SUMMARIZE,
    "use_gpu_for_workers": _GPU_WORKERS,
    "min_iter_time_s": Alias(
        None,
        "an rlcore A2C iteration is one train batch of train_batch_size rows, not a minimum time; remove the key",
        no_effect=(0, 1, 10),
    ),
}

#: A3C's config schema (the common keys plus A3C's own).
SCHEMA: Schema = (
    COMMON_SCHEMA
    | model_policy_schema(lr=1e-4, adam_epsilon=1e-8)
    | Schema(
        {
            # sampling: one gradient task samples this many steps per env, then computes its gradient
            "rollout_fragment_length": Field(
                10,
                "env steps per env in each gradient task (rows per gradient: x num_envs_per_worker; RLlib 2018 "
                "sample_batch_size 10)",
                int,
                min=1,
            ),
            "train_batch_size": Field(
                200,
                "not read by A3C: each gradient is one task's fragment (rollout_fragment_length x "
                "num_envs_per_worker rows); A2C's rows per gradient step",
                int,
                min=1,
            ),
            # loss
            "vf_loss_coeff": Field(0.5, "weight of the value loss (mean squared error)", float, min=0),
            "entropy_coeff": Field(
                0.01,
                "weight of the entropy bonus, subtracted from the loss (RLlib 2018's negative values: sign flipped)",
                float,
                check=_non_negative,
                what="a number >= 0 (a negative one is read as RLlib 2018's and has its sign flipped)",
            ),
            "grad_clip": Field(
                40.0,
                "global-norm gradient clip, applied to each gradient on the learner (None: off; the loss is a "
                "mean over rows where RLlib 2018 summed, so 40 clips far less often than it did)",
                float,
                min=0,
                min_exclusive=True,
                nullable=True,
            ),
            # postprocessing
            "lambda": Field(1.0, "GAE lambda (1.0: Monte-Carlo returns with a value baseline)", float, min=0, max=1),
            # the AsyncOptimizer
            "grads_per_step": Field(
                100,
                "gradients applied per train() iteration (AsyncOptimizer, one task in flight per remote worker, "
                "drained at the iteration's end; RLlib 2018 optimizer.grads_per_step)",
                int,
                min=1,
            ),
            "ignore_worker_failures": Field(
                False,
                "True: a gradient task that raised (or returned a non-finite gradient) is dropped, counted "
                "(info.optimizer num_worker_errors) and resubmitted, and training goes on; False: its error "
                "reaches train() with the remote traceback. Dead workers are recreated either way "
                "(recreate_failed_workers)",
                bool,
            ),
        },
        aliases=ALIASES_2018,
    )
)

#: A3C's defaults (``SCHEMA.defaults()``).
DEFAULT_CONFIG = SCHEMA.defaults()

#: The keys of A3C's schema that A2C does not have (its optimizer is the LocalSyncOptimizer).
A3C_ONLY_KEYS: tuple[str, ...] = ("grads_per_step", "ignore_worker_failures")

_A2C_FIELDS = {k: f for k, f in SCHEMA.fields.items() if k not in A3C_ONLY_KEYS}
_A2C_FIELDS.update(
    {
        "rollout_fragment_length": Field(
            20, "env steps per env per sample() call (RLlib 2018 A2C sample_batch_size 20)", int, min=1
        ),
        "train_batch_size": Field(
            200,
            "rows per gradient step, gathered from every worker each round (one step on the whole batch)",
            int,
            min=1,
        ),
    }
)
_A2C_ALIASES = {**COMMON_SCHEMA.aliases, **A2C_ALIASES_2018}

#: A2C's config schema: A3C's without its AsyncOptimizer keys, with A2C's sampling defaults.
A2C_SCHEMA: Schema = Schema(_A2C_FIELDS, SCHEMA.checks, _A2C_ALIASES)

#: A2C's defaults (``A2C_SCHEMA.defaults()``).
A2C_DEFAULT_CONFIG = A2C_SCHEMA.defaults()
