"""ES's config schema: every key with its default, type, range and meaning.

Evolution Strategies (Salimans, Ho, Chen, Sidor and Sutskever 2017, "Evolution Strategies as a
Scalable Alternative to Reinforcement Learning"), as OpenAI's ``evolution-strategies-starter`` and
RLlib 2018 (ray 0.4 ``es/es.py``, ray 0.5-0.6 ``agents/es/es.py``) ran it: each iteration the
workers evaluate antithetic pairs ``theta + noise_stdev * eps`` and ``theta - noise_stdev * eps``
of the policy's flat parameter vector, ``eps`` read from a shared noise table of ``noise_size``
float32 values (made once from a seed, placed in Ray's object store once); they return only the
episode returns and the noise indices. The learner turns the returns into centered ranks, forms
``g = sum_i (r+_i - r-_i) eps_i / (2 n)`` and takes an Adam (or SGD) step on ``-g + l2_coeff * theta``.

Defaults are RLlib 2018's ES DEFAULT_CONFIG:

=======================  ===========  =====================================================
key                      default      source
=======================  ===========  =====================================================
``l2_coeff``             0.005        RLlib 2018 (OpenAI starter ``l2coeff``)
``noise_stdev``          0.02         RLlib 2018 (paper: sigma = 0.02)
``episodes_per_batch``   1000         RLlib 2018
``train_batch_size``     10000        RLlib 0.6 (ray 0.4 ``timesteps_per_batch``)
``eval_prob``            0.003        RLlib 2018 (OpenAI starter)
``return_proc_mode``     centered_rank  RLlib 2018 (paper: fitness shaping by ranks)
``num_workers``          10           RLlib 2018
``stepsize``             0.01         RLlib 2018 (Adam's learning rate)
``observation_filter``   MeanStdFilter  RLlib 2018 (paper: virtual batch normalization of obs)
``noise_size``           250000000    RLlib 2018 (1 GB of float32)
``report_length``        10           RLlib 2018 (accepted; see below)
``action_noise_std``     0.01         OpenAI starter (``ac_noise_std``, Box actions only)
``optimizer_type``       adam         rlcore (RLlib 2018 hard-coded Adam)
``sgd_momentum``         0.9          OpenAI starter's SGD momentum
``framework``            numpy        rlcore: ES needs no deep-learning framework
=======================  ===========  =====================================================

**Noise seed.** The noise table is drawn from the config's ``seed``; with ``seed`` None it is
drawn from 123, RLlib 2018's fixed noise seed, so every run (and a restore) has the same table.

**Episodes per iteration.** An iteration runs perturbed episodes until both ``episodes_per_batch``
episodes and ``train_batch_size`` timesteps are reached (whichever comes last), in antithetic
pairs; each worker runs ``num_envs_per_worker`` perturbations side by side (RLlib 2018: one).

**Metrics.** ``episode_reward_mean`` and the other episode metrics are those of the *evaluation*
episodes (the unperturbed policy; each pair of a task runs one with probability ``eval_prob``),
smoothed over ``metrics_smoothing_episodes`` as every rlcore algorithm's; RLlib 2018's
``report_length`` (the window of its ``episode_reward_mean``) is accepted and not read. The
perturbed episodes are reported as ``perturbed_reward_mean/max/min`` and ``perturbed_len_mean``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlcore.config_aliases import Alias
from rlcore.config_schema import COMMON_SCHEMA, Field, Schema, model_policy_schema

#: RLlib 2018's fixed seed of the noise table (used when the config's ``seed`` is None).
NOISE_SEED_2018 = 123

#: What ``return_proc_mode`` may be: ``centered_rank`` (fitness shaping, the paper's) or ``raw`` returns.
RETURN_PROC_MODES: tuple[str, ...] = ("centered_rank", "raw")

#: What ``optimizer_type`` may be.
OPTIMIZER_TYPES: tuple[str, ...] = ("adam", "sgd")


def _noise_memory(value: Any) -> str | None:
    """``check`` of ``noise_size``: the table must fit in this machine's memory."""
    from rl_algos.es.noise import noise_memory_problem

    return noise_memory_problem(int(value))


def _noise_memory_with_workers(config: Mapping[str, Any]) -> str | None:
    """Cross-key check: with remote workers the driver's machine holds the table twice."""
    from rl_algos.es.noise import noise_memory_problem

    workers, size = config.get("num_workers", 0), config.get("noise_size")
    if not isinstance(workers, int) or workers < 1 or not isinstance(size, int):
        return None
    why = noise_memory_problem(size, copies=2)
    return None if why is None else f"key 'noise_size' {why}; got {size} with num_workers {workers}"


def _framework_registered(config: Mapping[str, Any]) -> str | None:
    """Cross-key check: ``framework`` must name an installed ES policy (or whole ES evaluator);
    the message names the key and lists the installed ES policies (before any env or worker)."""
    from rlcore.errors import UnknownNameError
    from rlcore.plugins import get_registry

    framework = config.get("framework")
    if not isinstance(framework, str):
        return None
    registry = get_registry()
    try:
        registry.get("policy", "ES", framework)
        return None
    except UnknownNameError as exc:
        # the registry's own reason (a disabled plugin, one to install), not its list of every policy
        hint = str(exc).split(" Available policies:")[0].partition(". ")[2]
        hint = "" if hint.startswith("Did you mean") else hint
    if f"ES/{framework}" in registry.names("evaluator"):
        return None
    installed = [name for name in registry.names("policy") if name.startswith("ES/")]
    choices = ", ".join(name.split("/", 1)[1] for name in installed) or "(none)"
    return (
        f"key 'framework' is {framework!r}, and no ES policy is registered for it; the installed ES policies are "
        f"{', '.join(installed) or '(none)'}: set framework to one of {choices}" + (f" ({hint})" if hint else "")
    )


#: RLlib 2018 names of ES's keys (ray 0.4 ``es/es.py``; 0.5-0.6 ``agents/es/es.py`` already said train_batch_size).
ALIASES_2018: dict[str, Alias] = {
    "timesteps_per_batch": Alias("train_batch_size", "ray 0.4 ES's timesteps per iteration"),
}

_MODEL_POLICY = model_policy_schema(lr=0.01, adam_epsilon=1e-8).fields

#: ES's config schema (the common keys with ES's defaults, plus ES's own).
SCHEMA: Schema = COMMON_SCHEMA | Schema(
    {
        "framework": Field(
            "numpy",
            "framework of the ES policy: numpy (the catalog's fc model in numpy; no deep-learning framework "
            "needed), torch or tf (those plugins' ES policies, for vision models)",
            str,
        ),
        "num_workers": Field(
            10, "remote evaluators (Ray actors) running perturbed episodes; 0 = one process, no Ray", int, min=0
        ),
        "num_envs_per_worker": Field(
            1,
            "envs per evaluator: ES evaluates this many perturbations side by side on each worker, one "
            "population forward for all of them (RLlib 2018: 1)",
            int,
            min=1,
        ),
        "observation_filter": Field(
            "MeanStdFilter",
            "observation filter (MeanStdFilter: statistics frozen during a task, merged from every worker "
            "after each iteration, as the paper's observation normalization)",
            str,
            choices=("NoFilter", "MeanStdFilter"),
        ),
        "train_batch_size": Field(
            10000,
            "at least this many env steps (timesteps, perturbed episodes) per iteration, and at least "
            "episodes_per_batch episodes: whichever comes last (RLlib 2018; ray 0.4 timesteps_per_batch)",
            int,
            min=1,
        ),
        "num_cpu_threads": _MODEL_POLICY["num_cpu_threads"],
        "numpy_inference": _MODEL_POLICY["numpy_inference"],
        # ES's own
        "l2_coeff": Field(
            0.005,
            "L2 weight decay: the update direction is -g + l2_coeff * theta (OpenAI starter l2coeff)",
            float,
            min=0,
        ),
        "noise_stdev": Field(
            0.02,
            "standard deviation sigma of the parameter perturbations theta +/- sigma * eps (paper: 0.02)",
            float,
            min=0,
            min_exclusive=True,
        ),
        "episodes_per_batch": Field(
            1000,
            "at least this many perturbed episodes per iteration (and at least train_batch_size timesteps); "
            "antithetic pairs need 2: each noise vector is evaluated as +eps and -eps",
            int,
            min=2,
        ),
        "eval_prob": Field(
            0.003,
            "probability that each pair of a task also runs one evaluation episode of the unperturbed "
            "policy (those episodes make episode_reward_mean)",
            float,
            min=0,
            max=1,
        ),
        "return_proc_mode": Field(
            "centered_rank",
            "how returns are shaped before the gradient: centered_rank (ranks scaled to [-0.5, 0.5], the "
            "paper's fitness shaping) or raw (the returns themselves)",
            str,
            choices=RETURN_PROC_MODES,
        ),
        "stepsize": Field(
            0.01,
            "learning rate of the update on the flat parameter vector (Adam's or SGD's)",
            float,
            min=0,
            min_exclusive=True,
        ),
        "noise_size": Field(
            250_000_000,
            "float32 values in the shared noise table (4 bytes each: 250,000,000 is 1 GB, put in Ray's object "
            "store once and read zero-copy by the workers); at least the policy's parameter count, and it must "
            "fit in this machine's memory (10,000,000 is plenty for small models)",
            int,
            min=1,
            check=_noise_memory,
        ),
        "report_length": Field(
            10,
            "RLlib 2018's window of its episode_reward_mean; accepted and not read: rlcore smooths over "
            "metrics_smoothing_episodes",
            int,
            min=1,
        ),
        "action_noise_std": Field(
            0.01,
            "standard deviation of Gaussian noise added to Box actions of perturbed episodes (not to evaluation "
            "episodes; Discrete actions get none; OpenAI starter ac_noise_std)",
            float,
            min=0,
        ),
        "optimizer_type": Field(
            "adam",
            "the update on the flat vector: adam (beta1 0.9, beta2 0.999, epsilon 1e-8, as the OpenAI starter "
            "and RLlib 2018) or sgd (with sgd_momentum)",
            str,
            choices=OPTIMIZER_TYPES,
        ),
        "sgd_momentum": Field(
            0.9,
            "momentum of optimizer_type sgd (v = m v + (1 - m) g; not read by adam)",
            float,
            min=0,
            max=1,
            max_exclusive=True,
        ),
    },
    checks=[_framework_registered, _noise_memory_with_workers],
    aliases=ALIASES_2018,
)

#: ES's defaults (``SCHEMA.defaults()``).
DEFAULT_CONFIG = SCHEMA.defaults()
