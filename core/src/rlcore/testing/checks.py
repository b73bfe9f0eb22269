"""The conformance checks of the PolicyEvaluator contract, one function per check.

Every check takes ``factory``, a callable ``factory(seed: int) -> PolicyEvaluator`` that builds a
fresh evaluator (same config every time, only the seed varies), and raises an
:class:`AssertionError` whose message says *what* broke and *how to fix it* (the style of
gymnasium's ``check_env``). :func:`check_evaluator` runs them all and reports every failure at
once.

What the kit expects beyond :mod:`rlcore.evaluator`:

* evaluators expose the (raw) ``observation_space`` and ``action_space`` of their env as
  attributes; ``compute_actions`` takes raw observations from ``observation_space``;
* the config the factory builds with makes ``learn_on_batch`` one step on the full batch (e.g.
  ``num_sgd_iter=1``), so that it can be compared with ``compute_gradients`` + ``apply_gradients``;
* for the ``"remote"`` check the factory is picklable by cloudpickle (a module-level function,
  class instance or ``functools.partial``), because it is called inside a Ray actor.

Capabilities (:data:`rlcore.evaluator.CAPABILITIES`) are taken from the evaluator's
``capabilities`` attribute, or from ``capabilities=`` (which must then agree with it). An
undeclared capability is asserted, not skipped: without ``"gradients"``, ``compute_gradients``
and ``apply_gradients`` must raise :class:`~rlcore.errors.UnsupportedOperationError`, without
``"multi_device"`` so must ``load_batch`` and ``learn_on_loaded_batch``. When the
factory also accepts an ``env_creator`` keyword (``factory(seed, env_creator=None)``), the kit
builds the evaluator on its own discrete and continuous test envs too: a declared action kind
must sample actions inside that env's action space, an undeclared one must raise
``UnsupportedOperationError`` when built or sampled. Without ``"remote"`` the Ray check does not
apply (:class:`CheckNotApplicable`). ``"recurrent"`` is checked by :func:`check_recurrent` (sampled
sequences and states, chopping-invariant loss, acting with a state); undeclared, ``use_lstm``
must be refused.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib.machinery
import inspect
import os
import pickle
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from rlcore.errors import UnsupportedOperationError
from rlcore.evaluator import CAPABILITIES, PolicyEvaluator
from rlcore.models.catalog import composite_action_spec
from rlcore.sample_batch import SampleBatch

__all__ = [
    "CHECKS",
    "REQUIRED_COLUMNS",
    "KIT_CONFIG",
    "CheckNotApplicable",
    "EvaluatorFactory",
    "RegisteredEvaluatorFactory",
    "check_actions_in_space",
    "check_capabilities",
    "check_composite_actions",
    "check_compute_apply_equals_learn",
    "check_compute_gradients_pure",
    "check_evaluator",
    "check_gradient_step_lowers_loss",
    "check_metrics",
    "check_multi_device",
    "check_pickle",
    "check_ray_actor",
    "check_recurrent",
    "check_same_seed_same_samples",
    "check_sample_schema",
    "check_state_round_trip",
    "check_weight_exchange",
    "check_weight_round_trip",
    "registered_evaluator_factories",
]

#: ``factory(seed) -> PolicyEvaluator`` (optionally also accepting ``env_creator=``).
EvaluatorFactory = Callable[..., PolicyEvaluator]

#: Columns every ``sample()`` must return.
REQUIRED_COLUMNS: tuple[str, ...] = ("obs", "actions", "rewards", "terminateds", "truncateds", "eps_id")

#: Set when :func:`check_ray_actor` started Ray; the pytest plugin shuts it down at session end.
_RAY_STARTED_BY_KIT = False


class CheckNotApplicable(Exception):
    """A check that does not apply here (capability not declared, optional dependency missing)."""


# --------------------------------------------------------------------------- helpers
def _fail(check: str, what: str, fix: str) -> AssertionError:
    return AssertionError(f"[{check}] {what}\n    How to fix: {fix}")


def _build(factory: EvaluatorFactory, seed: int, check: str, **kwargs: Any) -> PolicyEvaluator:
    try:
        ev = factory(seed, **kwargs)
    except Exception as exc:
        raise _fail(
            check,
            f"factory({seed}{', ' + ', '.join(f'{k}=...' for k in kwargs) if kwargs else ''}) raised "
            f"{type(exc).__name__}: {exc}",
            "the factory must build a fresh evaluator for any integer seed: "
            "factory(seed) -> EvaluatorClass(env_creator, {**config, 'seed': seed}).",
        ) from exc
    if not isinstance(ev, PolicyEvaluator):
        raise _fail(
            check,
            f"factory({seed}) returned {type(ev).__name__}, not a rlcore.PolicyEvaluator",
            "subclass rlcore.PolicyEvaluator (it also gives you learn_on_batch, loss, get_state...).",
        )
    return ev


def _caps(ev: PolicyEvaluator, capabilities: Iterable[str] | None) -> frozenset[str]:
    return frozenset(ev.capabilities if capabilities is None else capabilities)


def _space(ev: PolicyEvaluator, attr: str, check: str) -> Any:
    space = getattr(ev, attr, None)
    if space is None:
        raise _fail(
            check,
            f"{type(ev).__name__} has no {attr!r} attribute",
            "set self.observation_space and self.action_space to your env's (raw, unpreprocessed) "
            "gymnasium spaces in __init__; the kit and the trainers read them.",
        )
    return space


def _sample(ev: PolicyEvaluator, check: str) -> SampleBatch:
    batch = ev.sample()
    if not isinstance(batch, SampleBatch):
        raise _fail(
            check,
            f"sample() returned {type(batch).__name__}, not a rlcore.SampleBatch",
            "return rlcore.SampleBatch({'obs': ..., 'actions': ..., ...}) of numpy arrays.",
        )
    if batch.count < 1:
        raise _fail(check, "sample() returned an empty batch", "step the envs at least once per sample() call.")
    return batch


def _raw_obs(space: Any, n: int = 8, seed: int = 0) -> np.ndarray:
    """``n`` observations drawn from (a copy of) ``space``, stacked into a batch."""
    space = copy.deepcopy(space)
    space.seed(seed)
    return np.stack([np.asarray(space.sample()) for _ in range(n)])


def _is_discrete(space: Any) -> bool:
    from gymnasium import spaces

    return isinstance(space, spaces.Discrete | spaces.MultiDiscrete | spaces.MultiBinary)


def _is_continuous(space: Any) -> bool:
    from gymnasium import spaces

    return isinstance(space, spaces.Box)


def _composite_outside(space: Any, spec: Any, actions: Any, *, sampled: bool) -> list[int]:
    """Rows outside a Tuple/Dict ``space``: sampled (stored) actions are the flat ``[N, D]`` float32
    rows (finite, integral where a part is discrete; structured and clipped, inside the space);
    computed ones are structured actions, each inside the space."""
    from rlcore.action_dist import composite_parts, structured_actions

    if not sampled:
        return [i for i, a in enumerate(actions) if not space.contains(a)]
    flat = np.asarray(actions)
    if flat.ndim != 2 or flat.shape[1:] != tuple(spec.action_shape) or flat.dtype != np.float32:
        return list(range(len(flat)))
    ok = np.isfinite(flat).all(axis=1)
    for child, _, (a, b) in composite_parts(spec):
        if child.kind in ("categorical", "multi_categorical"):
            ok &= (flat[:, a:b] == np.rint(flat[:, a:b])).all(axis=1)
    rows = structured_actions(spec, np.where(ok[:, None], flat, 0), clip_actions=True)
    return [i for i, a in enumerate(rows) if not ok[i] or not space.contains(a)]


def _action_rows(space: Any, actions: Any) -> np.ndarray:
    """``compute_actions``' output as an array to compare: a Tuple/Dict space's structured actions
    flattened (:func:`rlcore.action_dist.flat_actions`), other spaces' as they are."""
    spec = composite_action_spec(space)
    if spec is None:
        return np.asarray(actions)
    from rlcore.action_dist import flat_actions

    return flat_actions(spec, list(actions))


def _outside(space: Any, actions: Any, *, sampled: bool) -> list[int]:
    """Rows of ``actions`` that are not elements of ``space``.

    A sampled (stored) Box action only needs the right shape and finite values: evaluators keep
    the distribution's own sample for the loss and clip what they send to the env
    (``clip_actions``). Actions from ``compute_actions`` must lie inside the bounds. Tuple/Dict
    spaces: see :func:`_composite_outside`.
    """
    from gymnasium import spaces

    spec = composite_action_spec(space)
    if spec is not None:
        return _composite_outside(space, spec, actions, sampled=sampled)
    acts = np.asarray(actions)
    if acts.ndim == 0:
        return [0]
    if _is_continuous(space):
        if acts.shape[1:] != tuple(space.shape):
            return list(range(len(acts)))
        flat = acts.reshape(len(acts), -1).astype(np.float64)
        inside = np.isfinite(flat).all(axis=1)
        if not sampled:
            low = np.broadcast_to(space.low, space.shape).reshape(-1)
            high = np.broadcast_to(space.high, space.shape).reshape(-1)
            inside &= ((flat >= low) & (flat <= high)).all(axis=1)
        return np.flatnonzero(~inside).tolist()
    if isinstance(space, spaces.Discrete) and not np.issubdtype(acts.dtype, np.integer):
        return list(range(len(acts)))
    return [i for i, a in enumerate(acts) if not space.contains(a)]


def _validate_weights(w: Any, check: str, what: str) -> dict[str, np.ndarray]:
    if not isinstance(w, Mapping):
        raise _fail(check, f"{what} is a {type(w).__name__}, not a dict", "return dict[str, np.ndarray].")
    if not w:
        raise _fail(check, f"{what} is empty", "return every parameter of the policy (and value function).")
    for k, v in w.items():
        if not isinstance(k, str):
            raise _fail(check, f"{what} has a non-string key {k!r}", "key weights by canonical parameter names.")
        if not isinstance(v, np.ndarray):
            raise _fail(
                check,
                f"{what}[{k!r}] is a {type(v).__module__}.{type(v).__name__}, not a numpy array",
                "weights cross process and framework boundaries as numpy: convert with "
                "np.array(t.detach().cpu().numpy()) (torch) or np.array(v.numpy()) (TF).",
            )
    return dict(w)


def _copy_weights(w: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in w.items()}


def _perturbed(w: Mapping[str, np.ndarray], delta: float = 0.25) -> dict[str, np.ndarray]:
    """A copy of ``w`` with every floating array shifted by ``delta`` (others unchanged)."""
    return {
        k: v + np.asarray(delta, v.dtype) if np.issubdtype(v.dtype, np.floating) else v.copy() for k, v in w.items()
    }


def _weights_diff(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], rtol: float = 0.0, atol: float = 0.0
) -> str | None:
    """A description of the first difference between two weight dicts, or None when they agree."""
    if set(a) != set(b):
        return f"keys differ: only in first {sorted(set(a) - set(b))}, only in second {sorted(set(b) - set(a))}"
    for k in sorted(a):
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape:
            return f"{k!r} has shape {x.shape} vs {y.shape}"
        exact = rtol == 0.0 and atol == 0.0
        same = np.array_equal(x, y) if exact else np.allclose(x, y, rtol=rtol, atol=atol)
        if not same:
            err = np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))) if x.size else 0.0
            return f"{k!r} differs (max abs difference {err:.3g})"
    return None


def _canonical_ids(ids: np.ndarray) -> np.ndarray:
    """Relabel episode ids 0, 1, 2... in order of first appearance (ids themselves may be arbitrary)."""
    if len(ids) == 0:
        return ids
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _batch_diff(a: SampleBatch, b: SampleBatch, rtol: float = 1e-6, atol: float = 1e-6) -> str | None:
    """The first difference between two sample batches (``eps_id`` compared up to relabelling)."""
    if set(a) != set(b):
        return f"columns differ: {sorted(a)} vs {sorted(b)}"
    if a.count != b.count:
        return f"row counts differ: {a.count} vs {b.count}"
    for k in sorted(a):
        x, y = a[k], b[k]
        if k == "eps_id":
            x, y = _canonical_ids(x), _canonical_ids(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return f"column {k!r}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}"
        if np.issubdtype(x.dtype, np.floating):
            same = np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
        else:
            same = np.array_equal(x, y)
        if not same:
            if np.issubdtype(x.dtype, np.floating):
                unequal = ~np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)
            else:
                unequal = x != y
            row = int(np.flatnonzero(unequal.reshape(len(x), -1).any(axis=1))[0])
            return f"column {k!r} differs first at row {row} ({x[row]!r} vs {y[row]!r})"
    return None


def _validate_schema(batch: SampleBatch, action_space: Any, check: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in batch]
    if missing:
        raise _fail(
            check,
            f"sample() has no column(s) {missing}; it has {sorted(batch)}",
            f"every batch needs {list(REQUIRED_COLUMNS)} (rlcore.sample_batch has the name constants).",
        )
    lengths = {k: len(v) for k, v in batch.items()}
    if len(set(lengths.values())) != 1:
        raise _fail(check, f"columns have different lengths {lengths}", "every column has one row per step.")
    n = batch.count
    expect = {"rewards": np.float32, "terminateds": np.bool_, "truncateds": np.bool_, "eps_id": np.int64}
    for col, dtype in expect.items():
        arr = batch[col]
        if arr.dtype != dtype:
            raise _fail(
                check,
                f"column {col!r} has dtype {arr.dtype}, expected {np.dtype(dtype)}",
                f"build it with np.asarray(..., dtype=np.{np.dtype(dtype).name}).",
            )
        if arr.shape != (n,):
            raise _fail(check, f"column {col!r} has shape {arr.shape}, expected ({n},)", "one scalar per row.")
    obs = batch["obs"]
    if obs.dtype != np.float32 or obs.ndim < 2:
        raise _fail(
            check,
            f"column 'obs' is {obs.dtype}{list(obs.shape)}, expected float32 [N, *obs_shape]",
            "store preprocessed observations as float32 with the batch dimension first.",
        )
    actions = batch["actions"]
    if _is_discrete(action_space) and not np.issubdtype(actions.dtype, np.integer):
        raise _fail(
            check,
            f"discrete actions have dtype {actions.dtype}",
            "store discrete actions as int64 (np.asarray(actions, dtype=np.int64)).",
        )
    if _is_continuous(action_space) and (actions.dtype != np.float32 or actions.shape[1:] != tuple(action_space.shape)):
        raise _fail(
            check,
            f"continuous actions are {actions.dtype}{list(actions.shape)}, expected float32 "
            f"[N, {', '.join(map(str, action_space.shape))}]",
            "store continuous actions as float32 with the action space's shape after the batch dimension.",
        )
    spec = composite_action_spec(action_space)
    if spec is not None and (actions.dtype != np.float32 or actions.shape[1:] != tuple(spec.action_shape)):
        raise _fail(
            check,
            f"actions of the {type(action_space).__name__} action space are {actions.dtype}{list(actions.shape)}, "
            f"expected float32 [N, {spec.action_shape[0]}]",
            "store composite actions flat: each part's flat action concatenated in the space's order "
            "(rlcore.action_dist.flat_actions), Discrete parts as their 0-based index.",
        )
    for col, arr in batch.items():
        if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
            raise _fail(check, f"column {col!r} contains NaN", "look for a division by zero or a log of zero.")
    if not np.isfinite(batch["rewards"]).all():
        raise _fail(check, "rewards are not all finite", "clip or fix the env's rewards.")
    done = batch["terminateds"] | batch["truncateds"]
    ids = batch["eps_id"]
    for eid in np.unique(ids[done]):
        rows = np.flatnonzero(ids == eid)
        ends = np.flatnonzero(done[rows])
        if len(ends) > 1 or ends[0] != len(rows) - 1:
            raise _fail(
                check,
                f"episode {int(eid)} has rows after its terminated/truncated row (or more than one such row)",
                "give each new episode (after reset) a new eps_id; only an episode's last step is done.",
            )


def _assert_gradients_unsupported(ev: PolicyEvaluator, check: str) -> None:
    """Without the "gradients" capability both gradient operations must refuse."""
    batch = _sample(ev, check)
    zeros = {k: np.zeros_like(v) for k, v in ev.get_weights().items()}
    for name, call in (
        ("compute_gradients", lambda: ev.compute_gradients(batch)),
        ("apply_gradients", lambda: ev.apply_gradients(zeros)),
    ):
        try:
            call()
        except UnsupportedOperationError:
            continue
        except Exception as exc:
            raise _fail(
                check,
                f"'gradients' is not declared and {name} raised {type(exc).__name__}: {exc}",
                f"raise rlcore.errors.UnsupportedOperationError from {name} (self._unsupported('{name}')).",
            ) from exc
        raise _fail(
            check,
            f"'gradients' is not declared but {name} works",
            "add 'gradients' to the evaluator's capabilities, or make it raise UnsupportedOperationError.",
        )


def _check_json_state(value: Any, path: str, check: str) -> None:
    if isinstance(value, np.ndarray | np.generic | str | bool | int | float) or value is None:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(check, f"get_state(){path} has a non-string key {k!r}", "use string keys (JSON).")
            _check_json_state(v, f"{path}[{k!r}]", check)
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json_state(v, f"{path}[{i}]", check)
        return
    raise _fail(
        check,
        f"get_state(){path} is a {type(value).__module__}.{type(value).__name__}",
        "checkpoints hold no pickle: the state may hold only numpy arrays and JSON values "
        "(dict, list, str, int, float, bool, None); convert tensors and optimizer objects to those.",
    )


def _state_diff(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            return f"state{path} keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            d = _state_diff(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return f"state{path} has length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _state_diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, np.ndarray | np.generic) or isinstance(b, np.ndarray | np.generic):
        x, y = np.asarray(a), np.asarray(b)
        return None if x.shape == y.shape and np.array_equal(x, y) else f"state{path} differs"
    return None if a == b else f"state{path} is {a!r} vs {b!r}"


def _factory_takes_env_creator(factory: EvaluatorFactory) -> bool:
    try:
        return "env_creator" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- checks
def check_capabilities(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """Declared capabilities are known, agree with ``capabilities=``, and are honest.

    The evaluator's action space needs ``"discrete"`` (Discrete, MultiDiscrete, MultiBinary) or
    ``"continuous"`` (Box); without ``"gradients"`` the gradient operations must raise
    :class:`UnsupportedOperationError`. A factory accepting ``env_creator=`` is also built on the
    kit's discrete and continuous corridors (see the module docstring).
    """
    check = "capabilities"
    ev = _build(factory, 0, check)
    declared = ev.capabilities
    if not isinstance(declared, set | frozenset) or not all(isinstance(c, str) for c in declared):
        raise _fail(check, f"capabilities is {declared!r}", "declare capabilities = frozenset({'discrete', ...}).")
    unknown = set(declared) - CAPABILITIES
    if unknown:
        raise _fail(
            check,
            f"unknown capabilities {sorted(unknown)}",
            f"use only {sorted(CAPABILITIES)} (rlcore.evaluator.CAPABILITIES).",
        )
    if capabilities is not None and frozenset(capabilities) != frozenset(declared):
        raise _fail(
            check,
            f"capabilities given to the kit {sorted(capabilities)} differ from the evaluator's {sorted(declared)}",
            "register the evaluator with the capabilities its class declares (or fix the class attribute).",
        )
    caps = frozenset(declared)
    space = _space(ev, "action_space", check)
    if _is_discrete(space) and "discrete" not in caps:
        raise _fail(check, f"action space {space} is discrete but 'discrete' is not declared", "declare 'discrete'.")
    if _is_continuous(space) and "continuous" not in caps:
        raise _fail(check, f"action space {space} is a Box but 'continuous' is not declared", "declare 'continuous'.")
    if "gradients" not in caps:
        _assert_gradients_unsupported(ev, check)
    if _factory_takes_env_creator(factory):
        from rlcore.testing.envs import make_continuous_corridor, make_corridor

        for kind, creator in (("discrete", make_corridor), ("continuous", make_continuous_corridor)):
            if kind in caps:
                other = _build(factory, 0, check, env_creator=creator)
                acts = _sample(other, check)["actions"]
                space = _space(other, "action_space", check)
                if _outside(space, acts, sampled=True):
                    raise _fail(
                        check,
                        f"on the kit's {kind} corridor, sampled actions are outside {space}",
                        "sample actions of the env's action space (clip continuous actions to its bounds).",
                    )
                continue
            try:
                _sample(factory(0, env_creator=creator), check)
            except UnsupportedOperationError:
                continue
            except AssertionError:
                raise
            except Exception as exc:
                raise _fail(
                    check,
                    f"'{kind}' is not declared and building/sampling on a {kind} env raised "
                    f"{type(exc).__name__}: {exc}",
                    f"raise UnsupportedOperationError in __init__ when the action space is {kind}.",
                ) from exc
            raise _fail(
                check,
                f"'{kind}' is not declared but the evaluator samples on a {kind} env",
                f"declare '{kind}', or raise UnsupportedOperationError in __init__ for such action spaces.",
            )


def check_sample_schema(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """``sample()`` returns a SampleBatch with the required columns, shapes and dtypes.

    ``obs`` float32 ``[N, ...]``, ``rewards`` float32, ``terminateds``/``truncateds`` bool,
    ``eps_id`` int64, discrete actions integer, continuous actions float32 ``[N, *shape]``, no
    NaN, and only an episode's last row is terminated or truncated.
    """
    check = "sample_schema"
    ev = _build(factory, 0, check)
    space = _space(ev, "action_space", check)
    for _ in range(2):
        _validate_schema(_sample(ev, check), space, check)


def check_actions_in_space(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """``compute_actions`` (explore on and off) returns elements of ``action_space``; sampled actions
    are of the space too (for a Box: its shape and finite; they may exceed the bounds when the env
    gets them clipped)."""
    check = "actions_in_space"
    ev = _build(factory, 0, check)
    space = _space(ev, "action_space", check)
    obs_space = _space(ev, "observation_space", check)
    batch = _sample(ev, check)
    outside = _outside(space, batch["actions"], sampled=True)
    if outside:
        raise _fail(
            check,
            f"{len(outside)} of {batch.count} sampled actions are not actions of {space} (first: row "
            f"{outside[0]}, {batch['actions'][outside[0]]!r})",
            "store actions of the env's action space: integers in range for discrete spaces; for a Box, "
            "finite values of its shape (clip what you send to the env if the distribution is unbounded).",
        )
    obs = _raw_obs(obs_space)
    for explore in (False, True):
        raw = ev.compute_actions(obs, explore=explore)
        acts = list(raw) if composite_action_spec(space) is not None else np.asarray(raw)
        if len(acts) != len(obs) or (isinstance(acts, np.ndarray) and acts.ndim == 0):
            raise _fail(
                check,
                f"compute_actions(obs of {len(obs)} rows, explore={explore}) returned "
                f"{getattr(acts, 'shape', len(acts))}",
                "return one action per observation row, batch dimension first.",
            )
        bad = _outside(space, acts, sampled=False)
        if bad:
            raise _fail(
                check,
                f"compute_actions(explore={explore}) returned {acts[bad[0]]!r}, outside {space}",
                "return elements of the action space: in-range integers for discrete spaces; for a Box, clip "
                "the mean or the sample to its bounds (what is sent to the env).",
            )


def check_weight_round_trip(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """Weights are ``dict[str, np.ndarray]`` copies that load into another evaluator of the config.

    ``get_weights`` of evaluator A (seed 0) set into B (seed 1) reads back equal and makes
    ``compute_actions(explore=False)`` agree (B given A's observation-filter statistics first,
    through ``sync_filters``, when A's ``get_filters()`` has a ``"state"``); neither
    ``get_weights`` nor ``set_weights`` shares memory with the live parameters.
    """
    check = "weight_round_trip"
    a, b = _build(factory, 0, check), _build(factory, 1, check)
    wa = _validate_weights(a.get_weights(), check, "get_weights()")
    wb = _validate_weights(b.get_weights(), check, "get_weights() of a second evaluator")
    diff = _weights_diff({k: np.zeros(v.shape) for k, v in wa.items()}, {k: np.zeros(v.shape) for k, v in wb.items()})
    if diff:
        raise _fail(
            check,
            f"two evaluators of one config (seeds 0 and 1) have differently shaped weights: {diff}",
            "the weight names and shapes must depend on the config only, never on the seed.",
        )
    snapshot = _copy_weights(wa)
    b.set_weights(wa)
    diff = _weights_diff(snapshot, _validate_weights(b.get_weights(), check, "get_weights() after set_weights"))
    if diff:
        raise _fail(
            check,
            f"after b.set_weights(a.get_weights()), b.get_weights() differs: {diff}",
            "set_weights must load every array of the dict, and get_weights return exactly what was loaded.",
        )
    # Observation filters are state, not weights: two evaluators seeded apart saw different reset
    # observations (a MeanStdFilter counts them), so B takes A's statistics before acting.
    filters = a.get_filters()
    if isinstance(filters, dict) and "state" in filters:
        b.sync_filters(filters["state"])
    obs = _raw_obs(_space(a, "observation_space", check))
    act_a = _action_rows(a.action_space, a.compute_actions(obs, explore=False))
    act_b = _action_rows(b.action_space, b.compute_actions(obs, explore=False))
    if act_a.shape != act_b.shape or not np.allclose(act_a, act_b, rtol=1e-5, atol=1e-6):
        raise _fail(
            check,
            "two evaluators with the same weights disagree on compute_actions(obs, explore=False)",
            "put every parameter that the policy uses into get_weights (log-std, buffers, filters "
            "belong in get_state), and make explore=False deterministic (argmax / mean).",
        )
    # The caller owns what get_weights returned and what it passed to set_weights.
    for v in wa.values():
        if v.flags.writeable and v.size:
            v[...] = v + (1 if v.dtype != np.bool_ else True)
    if _weights_diff(snapshot, a.get_weights()):
        raise _fail(
            check,
            "writing into the arrays returned by get_weights() changed the evaluator's weights",
            "return copies (np.array(x, copy=True); torch: t.detach().cpu().numpy().copy()).",
        )
    if _weights_diff(snapshot, b.get_weights()):
        raise _fail(
            check,
            "writing into the arrays passed to set_weights() changed the evaluator's weights",
            "copy the arrays you are given into your own parameters (param.copy_(torch.as_tensor(x)), "
            "np.array(x, copy=True)) instead of keeping references.",
        )
    live = a.get_weights()
    live_snapshot = _copy_weights(live)
    a.set_weights(_perturbed(snapshot))
    if _weights_diff(live_snapshot, live):
        raise _fail(
            check,
            "arrays returned by get_weights() changed when the evaluator's weights changed",
            "return copies, not views of the live parameters (torch's .numpy() shares memory: add .copy()).",
        )
    if _weights_diff(_perturbed(snapshot), a.get_weights(), rtol=1e-6, atol=1e-6):
        raise _fail(check, "set_weights(w) then get_weights() did not give back w", "load every array you are given.")


def check_state_round_trip(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """``get_state()`` holds arrays and JSON values only, has ``"weights"``, and ``set_state`` restores it."""
    check = "state_round_trip"
    a, b = _build(factory, 0, check), _build(factory, 1, check)
    _sample(a, check)
    state = a.get_state()
    if not isinstance(state, Mapping) or "weights" not in state:
        raise _fail(
            check,
            f"get_state() returned {type(state).__name__} without a 'weights' key",
            "return {'weights': self.get_weights(), **extra} (call super().get_state()).",
        )
    _check_json_state(state, "", check)
    b.set_state(copy.deepcopy(dict(state)))
    diff = _weights_diff(a.get_weights(), b.get_weights())
    if diff:
        raise _fail(check, f"after set_state(a.get_state()) the weights differ: {diff}", "load state['weights'].")
    diff = _state_diff(state, b.get_state())
    if diff:
        raise _fail(
            check,
            f"after b.set_state(s), b.get_state() differs from s: {diff}",
            "set_state must restore every entry that get_state returns (optimizer state, filters, counters).",
        )


def check_compute_gradients_pure(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """``compute_gradients`` returns ``(dict of arrays shaped like the weights, info with "loss")``
    and changes neither the weights nor the batch.

    Without ``"gradients"``: asserts both gradient operations raise UnsupportedOperationError.
    """
    check = "compute_gradients_pure"
    ev = _build(factory, 0, check)
    if "gradients" not in _caps(ev, capabilities):
        _assert_gradients_unsupported(ev, check)
        return
    batch = _sample(ev, check)
    batch_before = batch.copy()
    w0 = _copy_weights(ev.get_weights())
    out = ev.compute_gradients(batch)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise _fail(check, f"compute_gradients returned {type(out).__name__}", "return a tuple (grads, info).")
    grads, info = out
    grads = _validate_weights(grads, check, "the gradients")
    extra = sorted(set(grads) - set(w0))
    if extra:
        raise _fail(check, f"gradients for unknown weights {extra}", "key gradients by the names of get_weights().")
    for k, g in grads.items():
        if g.shape != w0[k].shape:
            raise _fail(check, f"gradient {k!r} has shape {g.shape}, weight has {w0[k].shape}", "match the weights.")
        if not np.all(np.isfinite(g)):
            raise _fail(check, f"gradient {k!r} is not finite", "look for overflow, log(0) or division by zero.")
    if not isinstance(info, Mapping) or "loss" not in info:
        raise _fail(check, f"compute_gradients info is {info!r}", "return an info dict with at least 'loss'.")
    try:
        loss = float(info["loss"])
    except (TypeError, ValueError) as exc:
        raise _fail(check, f"info['loss'] is {info['loss']!r}", "report the loss as a Python float.") from exc
    if not np.isfinite(loss):
        raise _fail(check, f"info['loss'] is {loss}", "the loss on a sampled batch must be finite.")
    diff = _weights_diff(w0, ev.get_weights())
    if diff:
        raise _fail(
            check,
            f"compute_gradients changed the weights ({diff})",
            "compute_gradients must only compute: apply updates in apply_gradients / learn_on_batch.",
        )
    diff = _batch_diff(batch_before, batch, rtol=0.0, atol=0.0)
    if diff:
        raise _fail(check, f"compute_gradients modified its input batch ({diff})", "work on copies of the columns.")


def check_gradient_step_lowers_loss(
    factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None, num_steps: int = 5
) -> None:
    """``num_steps`` calls of ``learn_on_batch`` on one fixed batch lower ``loss(batch)``.

    Without ``"gradients"``: asserts the gradient operations raise UnsupportedOperationError.
    """
    check = "gradient_step_lowers_loss"
    ev = _build(factory, 0, check)
    if "gradients" not in _caps(ev, capabilities):
        _assert_gradients_unsupported(ev, check)
        return
    batch = _sample(ev, check)
    before = ev.loss(batch)
    if not np.isfinite(before):
        raise _fail(check, f"loss(batch) is {before}", "the loss on a sampled batch must be finite.")
    for _ in range(num_steps):
        info = ev.learn_on_batch(batch)
        if not isinstance(info, Mapping):
            raise _fail(check, f"learn_on_batch returned {type(info).__name__}", "return the info dict.")
    after = ev.loss(batch)
    if not after < before:
        raise _fail(
            check,
            f"{num_steps} learn_on_batch steps on one batch did not lower its loss ({before:.6g} -> {after:.6g})",
            "check the sign (apply_gradients descends: w -= lr * g), that the gradients are of the loss "
            "that loss() reports, that every updated parameter is used by it, and the learning rate.",
        )


def check_compute_apply_equals_learn(
    factory: EvaluatorFactory,
    *,
    capabilities: Iterable[str] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """``compute_gradients`` + ``apply_gradients`` gives the same weights as ``learn_on_batch``.

    Two evaluators built with the same seed and the same weights, one batch. Without
    ``"gradients"``: asserts the gradient operations raise UnsupportedOperationError.
    """
    check = "compute_apply_equals_learn"
    a, b = _build(factory, 0, check), _build(factory, 0, check)
    if "gradients" not in _caps(a, capabilities):
        _assert_gradients_unsupported(a, check)
        return
    b.set_weights(a.get_weights())
    w0 = _copy_weights(a.get_weights())
    batch = _sample(a, check)
    a.learn_on_batch(batch.copy())
    grads, _ = b.compute_gradients(batch.copy())
    b.apply_gradients(grads)
    wa = a.get_weights()
    if not _weights_diff(w0, wa):
        raise _fail(check, "learn_on_batch did not change any weight", "apply the update to the parameters.")
    diff = _weights_diff(wa, b.get_weights(), rtol=rtol, atol=atol)
    if diff:
        raise _fail(
            check,
            f"learn_on_batch and compute_gradients + apply_gradients give different weights: {diff}",
            "both must be one step of the same optimizer on the full batch. If learn_on_batch runs several "
            "epochs or minibatches, build the evaluator for the kit with one step (num_sgd_iter=1, "
            "minibatch size >= batch size); make apply_gradients use the same optimizer and learning rate.",
        )


def check_multi_device(
    factory: EvaluatorFactory,
    *,
    capabilities: Iterable[str] | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> None:
    """With ``"multi_device"``: ``load_batch`` + ``learn_on_loaded_batch`` over every loaded row
    equals ``learn_on_batch`` on the rows that were kept (the first ``rows * num_devices``).

    Without it: ``load_batch`` and ``learn_on_loaded_batch`` raise UnsupportedOperationError.
    """
    check = "multi_device"
    a, b = _build(factory, 0, check), _build(factory, 0, check)
    batch = _sample(a, check)
    if "multi_device" not in _caps(a, capabilities):
        for name, call in (
            ("load_batch", lambda: a.load_batch(batch)),
            ("learn_on_loaded_batch", lambda: a.learn_on_loaded_batch(np.arange(1))),
        ):
            try:
                call()
            except UnsupportedOperationError:
                continue
            except Exception as exc:
                raise _fail(
                    check,
                    f"'multi_device' is not declared and {name} raised {type(exc).__name__}: {exc}",
                    f"leave {name} to PolicyEvaluator's default, which raises UnsupportedOperationError.",
                ) from exc
            raise _fail(check, f"'multi_device' is not declared but {name} works", "declare 'multi_device'.")
        return
    devices = int(getattr(a, "num_devices", 1))
    b.set_weights(a.get_weights())
    rows = a.load_batch(batch)
    if not isinstance(rows, int | np.integer) or not 1 <= rows * devices <= batch.count:
        raise _fail(
            check,
            f"load_batch of {batch.count} rows on {devices} device(s) returned {rows!r}",
            "return the number of rows held per device: batch.count // num_devices.",
        )
    info = a.learn_on_loaded_batch(np.arange(int(rows)))
    if not isinstance(info, Mapping):
        raise _fail(check, f"learn_on_loaded_batch returned {type(info).__name__}", "return the info dict.")
    b.learn_on_batch(batch.slice(0, int(rows) * devices))
    diff = _weights_diff(a.get_weights(), b.get_weights(), rtol=rtol, atol=atol)
    if diff:
        raise _fail(
            check,
            f"a step on all loaded rows of {devices} device(s) differs from learn_on_batch on those rows: {diff}",
            "average the towers' gradients (each a mean over its rows), then apply them once, as learn_on_batch does; "
            "split the batch into contiguous equal shares and drop only the rows past the even split.",
        )


def check_same_seed_same_samples(
    factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None, seed: int = 123
) -> None:
    """Two evaluators built with the same seed have equal weights and sample equal batches.

    ``eps_id`` values may differ; the episodes they delimit may not.
    """
    check = "same_seed_same_samples"
    a, b = _build(factory, seed, check), _build(factory, seed, check)
    diff = _weights_diff(a.get_weights(), b.get_weights(), rtol=1e-6, atol=1e-7)
    fix = (
        "derive every random source from config['seed'] (and worker_index): the weight init, the first "
        "env.reset(seed=...), the action-sampling generator (np.random.default_rng(seed), "
        "torch.Generator().manual_seed(seed)); never global RNG state, time or id()."
    )
    if diff:
        raise _fail(check, f"two evaluators built with seed {seed} have different initial weights: {diff}", fix)
    for i in range(2):
        diff = _batch_diff(_sample(a, check), _sample(b, check))
        if diff:
            raise _fail(check, f"sample() call {i + 1} of two evaluators built with seed {seed} differ: {diff}", fix)


def check_pickle(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """An evaluator that has sampled survives ``pickle`` (what Ray needs): same weights, still samples.

    Its batches, weights and metrics pickle too.
    """
    check = "pickle"
    ev = _build(factory, 0, check)
    batch = _sample(ev, check)
    fix = (
        "keep only picklable state (no open files, locks, sockets, lambdas, compiled graphs) or implement "
        "__getstate__/__setstate__ that drop such members and rebuild them."
    )
    try:
        clone = pickle.loads(pickle.dumps(ev))
    except Exception as exc:
        raise _fail(check, f"pickling the evaluator failed: {type(exc).__name__}: {exc}", fix) from exc
    diff = _weights_diff(ev.get_weights(), clone.get_weights())
    if diff:
        raise _fail(check, f"the unpickled evaluator has different weights: {diff}", fix)
    try:
        _validate_schema(_sample(clone, check), _space(clone, "action_space", check), check)
        _sample(ev, check)
    except AssertionError:
        raise
    except Exception as exc:
        raise _fail(check, f"sample() after pickling raised {type(exc).__name__}: {exc}", fix) from exc
    for what, obj in (("a sample batch", batch), ("the weights", ev.get_weights()), ("metrics", ev.get_metrics())):
        try:
            pickle.loads(pickle.dumps(obj))
        except Exception as exc:
            raise _fail(
                check, f"{what} cannot be pickled: {exc}", "return numpy arrays and plain Python values."
            ) from exc


def check_metrics(
    factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None, max_steps: int = 20_000
) -> None:
    """``get_metrics()`` reports each episode that ends in a batch once, as EpisodeMetrics, then clears.

    Samples until an episode ends (at most ``max_steps`` rows).
    """
    check = "metrics"
    ev = _build(factory, 0, check)
    ev.get_metrics()
    steps = 0
    while steps < max_steps:
        batch = _sample(ev, check)
        steps += batch.count
        ended = int(np.sum(batch["terminateds"] | batch["truncateds"]))
        got = ev.get_metrics()
        if not isinstance(got, list):
            raise _fail(check, f"get_metrics() returned {type(got).__name__}", "return a list of EpisodeMetrics.")
        if len(got) != ended:
            raise _fail(
                check,
                f"a batch with {ended} terminated/truncated rows was followed by {len(got)} metrics",
                "append one rlcore.EpisodeMetrics(episode_reward, episode_length) per finished episode "
                "and return (and clear) them in get_metrics().",
            )
        for m in got:
            reward, length = getattr(m, "episode_reward", None), getattr(m, "episode_length", None)
            if not isinstance(reward, float | np.floating) or not isinstance(length, int | np.integer):
                raise _fail(
                    check,
                    f"metric {m!r} is not EpisodeMetrics(episode_reward: float, episode_length: int)",
                    "return rlcore.EpisodeMetrics(float(total_reward), int(num_steps)).",
                )
            if not np.isfinite(reward) or length < 1:
                raise _fail(check, f"metric {m!r} has a non-finite reward or a length < 1", "count every step.")
        if got:
            if ev.get_metrics():
                raise _fail(check, "get_metrics() returned the same episodes twice", "clear the list once returned.")
            return
    raise _fail(
        check,
        f"no episode ended within {steps} sampled steps",
        "the env must end episodes (terminated, or truncated by a time limit) and sample() must reset it.",
    )


class _EvaluatorActor:
    """The Ray actor of :func:`check_ray_actor`: builds ``factory(seed)`` inside the actor process."""

    def __init__(self, factory: EvaluatorFactory, seed: int) -> None:
        self.ev = factory(seed)

    def ready(self) -> str:
        return type(self.ev).__name__

    def sample(self) -> SampleBatch:
        return self.ev.sample()

    def get_weights(self) -> dict[str, np.ndarray]:
        return self.ev.get_weights()

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.ev.set_weights(weights)

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        return _action_rows(self.ev.action_space, self.ev.compute_actions(obs, explore=explore))

    def get_metrics(self) -> list[Any]:
        return list(self.ev.get_metrics())


def _factory_modules(factory: Any) -> list[ModuleType]:
    """The modules defining the factory (its function, class, or a partial's function and arguments)."""
    objs: list[Any] = [factory]
    if isinstance(factory, functools.partial):
        objs = [factory.func, *factory.args, *factory.keywords.values()]
    names = {getattr(o, "__module__", None) for o in objs}  # instances report their class's module
    return [sys.modules[n] for n in sorted(n for n in names if n) if n in sys.modules and n != "__main__"]


def _importable_from_sys_path(module: ModuleType) -> bool:
    """Whether a fresh process with this ``sys.path`` would import ``module`` from the same file."""
    name, file = module.__name__, getattr(module, "__file__", None)
    if file is None or name.split(".")[0] in sys.stdlib_module_names:
        return True
    search: list[str] | None = [os.path.abspath(p or os.curdir) for p in sys.path]
    spec = None
    for part in name.split("."):
        if search is None:
            return False
        spec = importlib.machinery.PathFinder.find_spec(part, list(search))
        if spec is None:
            return False
        search = list(spec.submodule_search_locations) if spec.submodule_search_locations is not None else None
    origin = getattr(spec, "origin", None)
    return origin is not None and os.path.realpath(origin) == os.path.realpath(file)


def _ensure_ray(start: bool = True) -> Any:
    """The ``ray`` module, initialized (2 CPUs, no dashboard) unless ``start=False`` or already running."""
    global _RAY_STARTED_BY_KIT
    try:
        import ray
    except ImportError as exc:
        raise CheckNotApplicable("Ray is not installed (pip install -c constraints.txt './core[ray]')") from exc
    if start and not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        _RAY_STARTED_BY_KIT = True
    return ray


def check_ray_actor(
    factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None, seed: int = 0, timeout: float = 120.0
) -> None:
    """With ``"remote"``: ``factory(seed)`` built inside a Ray actor samples like a local one and
    moves weights in and out.

    Starts Ray (``num_cpus=2``, no dashboard) if it is not running and leaves it running. Raises
    :class:`CheckNotApplicable` without ``"remote"`` or without Ray.
    """
    check = "ray_actor"
    local = _build(factory, seed, check)
    if "remote" not in _caps(local, capabilities):
        raise CheckNotApplicable("'remote' is not declared")
    ray = _ensure_ray(start=False)
    try:
        ray.cloudpickle.dumps(factory)
    except Exception as exc:
        raise _fail(
            check,
            f"the factory cannot be pickled by cloudpickle ({type(exc).__name__}: {exc})",
            "use a module-level function, a functools.partial or an instance of a module-level class "
            "that holds only picklable values.",
        ) from exc
    _ensure_ray()
    # The worker gets the driver's sys.path, so that modules that pytest (not the environment) put
    # on it import there too; a module not importable from sys.path at all (pytest's importlib
    # mode) is sent by value.
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(os.path.abspath(p or os.curdir) for p in sys.path)}}
    actor_cls = ray.remote(num_cpus=0)(_EvaluatorActor)
    by_value = [m for m in _factory_modules(factory) if not _importable_from_sys_path(m)]
    for module in by_value:
        ray.cloudpickle.register_pickle_by_value(module)
    try:
        actor = actor_cls.options(runtime_env=runtime_env).remote(factory, seed)
    finally:
        for module in by_value:
            ray.cloudpickle.unregister_pickle_by_value(module)
    try:
        try:
            ray.get(actor.ready.remote(), timeout=timeout)
        except Exception as exc:
            raise _fail(
                check,
                f"building the evaluator inside a Ray actor failed: {type(exc).__name__}: {exc}",
                "the factory and the evaluator's module must be importable in a fresh process "
                "(installed package, no state set up only in the driver).",
            ) from exc
        remote_batch = ray.get(actor.sample.remote(), timeout=timeout)
        if not isinstance(remote_batch, SampleBatch):
            raise _fail(check, f"remote sample() gave {type(remote_batch).__name__}", "return a SampleBatch.")
        _validate_schema(remote_batch, _space(local, "action_space", check), check)
        diff = _batch_diff(_sample(local, check), remote_batch, rtol=1e-5, atol=1e-5)
        if diff:
            raise _fail(
                check,
                f"the remote evaluator (seed {seed}) samples differently from a local one: {diff}",
                "derive every random source from config['seed'] and worker_index, not from process state.",
            )
        weights = _perturbed(local.get_weights())
        ray.get(actor.set_weights.remote(weights), timeout=timeout)
        back = ray.get(actor.get_weights.remote(), timeout=timeout)
        diff = _weights_diff(weights, _validate_weights(back, check, "remote get_weights()"), rtol=1e-6, atol=1e-6)
        if diff:
            raise _fail(check, f"remote set_weights/get_weights round trip differs: {diff}", "load every array.")
        local.set_weights(weights)
        obs = _raw_obs(_space(local, "observation_space", check))
        remote_acts = ray.get(actor.compute_actions.remote(obs, False), timeout=timeout)
        local_acts = _action_rows(local.action_space, local.compute_actions(obs, explore=False))
        if not np.allclose(local_acts, remote_acts, rtol=1e-5, atol=1e-5):  # the actor flattens its own
            raise _fail(
                check,
                "with the same weights, remote and local compute_actions(explore=False) disagree",
                "make explore=False deterministic and put every policy parameter into the weights.",
            )
        if not isinstance(ray.get(actor.get_metrics.remote(), timeout=timeout), list):
            raise _fail(check, "remote get_metrics() did not return a list", "return a list of EpisodeMetrics.")
    finally:
        ray.kill(actor)


def check_weight_exchange(
    factory_a: EvaluatorFactory,
    factory_b: EvaluatorFactory,
    obs: np.ndarray | None = None,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Two evaluators of one config (say torch and TF) accept each other's weights and agree.

    Same spaces, same weight names and shapes; with A's weights (and then B's) loaded in both,
    ``compute_actions(obs, explore=False)`` agrees (exactly for discrete actions). ``obs``
    defaults to 8 observations drawn from A's observation space. Recurrent evaluators (a non-empty
    ``new_acting_state().recurrent``) also act 5 steps with a state from ``new_acting_state(4)``:
    the actions and the recurrent states agree at every step.
    """
    check = "weight_exchange"
    a, b = _build(factory_a, 0, check), _build(factory_b, 1, check)
    for attr in ("observation_space", "action_space"):
        sa, sb = _space(a, attr, check), _space(b, attr, check)
        if sa != sb:
            raise _fail(check, f"{attr} differs: {sa} vs {sb}", "build both evaluators on the same env and config.")
    wa = _validate_weights(a.get_weights(), check, "A's get_weights()")
    wb = _validate_weights(b.get_weights(), check, "B's get_weights()")
    if set(wa) != set(wb):
        raise _fail(
            check,
            f"weight names differ: only in A {sorted(set(wa) - set(wb))}, only in B {sorted(set(wb) - set(wa))}",
            "use the model catalog's canonical parameter names in both frameworks.",
        )
    for k in sorted(wa):
        if wa[k].shape != wb[k].shape:
            raise _fail(
                check,
                f"weight {k!r} has shape {wa[k].shape} in A and {wb[k].shape} in B",
                "use the canonical layouts in both frameworks (e.g. dense kernels [in, out]; transpose "
                "torch's Linear.weight when converting).",
            )
    if obs is None:
        obs = _raw_obs(a.observation_space)
    discrete = _is_discrete(a.action_space)
    for name, weights in (("A", _copy_weights(wa)), ("B", _copy_weights(wb))):
        a.set_weights(_copy_weights(weights))
        b.set_weights(_copy_weights(weights))
        for who, ev in (("A", a), ("B", b)):
            diff = _weights_diff(weights, ev.get_weights(), rtol=1e-6, atol=1e-7)
            if diff:
                raise _fail(check, f"{who} did not load {name}'s weights: {diff}", "load every array as given.")
        act_a = _action_rows(a.action_space, a.compute_actions(obs, explore=False))
        act_b = _action_rows(b.action_space, b.compute_actions(obs, explore=False))
        same = act_a.shape == act_b.shape and (
            np.array_equal(act_a, act_b) if discrete else np.allclose(act_a, act_b, rtol=rtol, atol=atol)
        )
        if not same:
            raise _fail(
                check,
                f"with {name}'s weights loaded in both, compute_actions(explore=False) differs: {act_a!r} vs {act_b!r}",
                "both frameworks must compute the same function of the canonical weights: same layer order, "
                "activations, preprocessing and layouts.",
            )
        _compare_recurrent_acting(a, b, name, discrete, rtol, atol, check)


def _compare_recurrent_acting(
    a: PolicyEvaluator, b: PolicyEvaluator, name: str, discrete: bool, rtol: float, atol: float, check: str
) -> None:
    """Recurrent evaluators: 5 acting steps with a state (``new_acting_state``), actions and states equal."""
    if not _acting_recurrent(a) or not _acting_recurrent(b):
        return
    obs_list = [_raw_obs(a.observation_space, 4, seed=10 + t) for t in range(5)]
    (acts_a, states_a), (acts_b, states_b) = _acting_rollout(a, obs_list), _acting_rollout(b, obs_list)
    for t in range(len(obs_list)):
        x, y = acts_a[t], acts_b[t]
        same = x.shape == y.shape and (np.array_equal(x, y) if discrete else np.allclose(x, y, rtol=rtol, atol=atol))
        if not same or len(states_a[t]) != len(states_b[t]):
            raise _fail(
                check,
                f"with {name}'s weights loaded in both, acting step {t} with a recurrent state differs: {x!r} vs {y!r}",
                "both frameworks must step the same cell (rlcore.models.layout: gates i, f, g, o; state [h, c]).",
            )
        for j, (sa, sb) in enumerate(zip(states_a[t], states_b[t], strict=True)):
            if sa.shape != sb.shape or not np.allclose(sa, sb, rtol=rtol, atol=atol):
                raise _fail(
                    check,
                    f"with {name}'s weights loaded in both, the recurrent state tensor {j} after acting step {t} "
                    f"differs (max abs diff {np.max(np.abs(sa - sb)) if sa.shape == sb.shape else 'shapes'})",
                    "return state_out = [h', c'] computed as rlcore.models.layout documents.",
                )


#: Config the kit adds under a :class:`RegisteredEvaluatorFactory`'s own (small and fast).
KIT_CONFIG: dict[str, Any] = {"num_envs": 2, "rollout_fragment_length": 16}


@dataclasses.dataclass(frozen=True)
class RegisteredEvaluatorFactory:
    """``factory(seed, env_creator=None)`` for the evaluator registered as (algorithm, framework).

    Holds names only, so it pickles (for Ray) and lists well in test ids. ``env`` is a registered
    env id or gymnasium id (default: the kit's discrete corridor); ``config`` goes over
    :data:`KIT_CONFIG`, and ``seed`` over both.
    """

    algorithm: str
    framework: str
    env: str | None = None
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.algorithm}/{self.framework}" + (f"@{self.env}" if self.env else "")

    def __call__(self, seed: int, env_creator: Callable[..., Any] | None = None) -> PolicyEvaluator:
        """Build a fresh evaluator with ``seed`` (on ``env_creator`` when given)."""
        from rlcore.envs import get_env_creator
        from rlcore.testing.envs import make_corridor
        from rlcore.testing.policies import build_evaluator

        if env_creator is None:
            env_creator = get_env_creator(self.env) if self.env else make_corridor
        return build_evaluator(self.algorithm, self.framework, env_creator, {**KIT_CONFIG, **self.config, "seed": seed})


def registered_evaluator_factories() -> list[RegisteredEvaluatorFactory]:
    """A factory for every (algorithm, framework) pair the installed plugins (and code) registered a
    whole evaluator or a policy for, sorted by key (DESIGN section 7)::

        @pytest.mark.parametrize("factory", registered_evaluator_factories(), ids=str)
        def test_conformance(factory):
            check_evaluator(factory)
    """
    from rlcore.plugins import get_registry

    registry = get_registry().load()
    specs = {**registry.specs["policy"], **registry.specs["evaluator"]}
    return [RegisteredEvaluatorFactory(specs[k].name, specs[k].framework or "") for k in sorted(specs)]


def check_composite_actions(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """On the kit's Tuple and Dict action spaces (:class:`~rlcore.testing.envs.TupleTargetEnv`,
    :class:`~rlcore.testing.envs.DictTargetEnv`): stored actions are flat float32 ``[N, D]`` rows
    inside the space, ``compute_actions`` returns one structured action per row inside the space,
    and a recorded ``action_logp`` is finite and, where the batch has the catalog's
    ``action_dist_inputs``, equals the numpy sum of the parts' log-probabilities.

    Needs a factory that accepts ``env_creator=`` (else :class:`CheckNotApplicable`); an evaluator
    that raises :class:`~rlcore.errors.UnsupportedOperationError` when built on such an env does
    not support composite actions (:class:`CheckNotApplicable`, with its message); any other
    exception fails the check.
    """
    from rlcore.action_dist import dist_logp
    from rlcore.testing.envs import make_dict_target, make_tuple_target

    check = "composite_actions"
    if not _factory_takes_env_creator(factory):
        raise CheckNotApplicable("the factory takes no env_creator= keyword: the kit cannot build it on its envs")
    for kind, creator in (("Tuple", make_tuple_target), ("Dict", make_dict_target)):
        try:
            ev = factory(0, env_creator=creator)
        except UnsupportedOperationError as exc:
            raise CheckNotApplicable(f"the evaluator refuses a {kind} action space: {exc}") from None
        except Exception as exc:
            raise _fail(
                check,
                f"building on the kit's {kind} action space env raised {type(exc).__name__}: {exc}",
                "support Tuple/Dict action spaces (ModelCatalog.get_action_dist gives a composite spec), or raise "
                "UnsupportedOperationError in __init__ saying which action spaces you support.",
            ) from exc
        space = _space(ev, "action_space", check)
        spec = composite_action_spec(space)
        assert spec is not None  # the kit's env has a Tuple or Dict action space
        batch = _sample(ev, check)
        _validate_schema(batch, space, check)
        bad = _outside(space, batch["actions"], sampled=True)
        if bad:
            raise _fail(
                check,
                f"on the {kind} env, {len(bad)} of {batch.count} stored actions are not flat actions of {space} "
                f"(first: row {bad[0]}, {batch['actions'][bad[0]]!r})",
                "store each part's flat action concatenated (float32 [N, D]), discrete parts as 0-based indices.",
            )
        if "action_logp" in batch:
            logp = np.asarray(batch["action_logp"], np.float64)
            if not np.isfinite(logp).all():
                raise _fail(check, f"on the {kind} env, action_logp is not finite", "sum the parts' finite logps.")
            if "action_dist_inputs" in batch and batch["action_dist_inputs"].shape[1:] == (spec.num_outputs,):
                ref = dist_logp(spec, batch["action_dist_inputs"], batch["actions"])
                if not np.allclose(logp, ref, rtol=1e-4, atol=1e-4):
                    i = int(np.argmax(np.abs(logp - ref)))
                    raise _fail(
                        check,
                        f"on the {kind} env, action_logp {logp[i]:.6g} (row {i}) is not the sum of the parts' "
                        f"log-probabilities under action_dist_inputs ({ref[i]:.6g})",
                        "record logp = sum over the parts (rlcore.action_dist.sample_actions does it).",
                    )
        obs = _raw_obs(_space(ev, "observation_space", check))
        for explore in (False, True):
            acts = list(ev.compute_actions(obs, explore=explore))
            outside = _outside(space, acts, sampled=False)
            if len(acts) != len(obs) or outside:
                raise _fail(
                    check,
                    f"on the {kind} env, compute_actions(explore={explore}) returned {len(acts)} actions for "
                    f"{len(obs)} rows{f'; {acts[outside[0]]!r} is outside {space}' if outside else ''}",
                    "return one action per row in the space's own structure (tuple/dict), as the env takes it.",
                )


#: The model config :func:`check_recurrent` puts over a configurable factory's to make it recurrent
#: (small, and short sequences so that a sampled batch has many).
RECURRENT_MODEL: dict[str, Any] = {"use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 4, "fcnet_hiddens": [8]}


def _with_config(factory: EvaluatorFactory, **overrides: Any) -> EvaluatorFactory | None:
    """A copy of a dataclass factory with ``config`` updated (``model`` merged), or None when the
    factory has no ``config`` field (the kit cannot reconfigure it)."""
    if not dataclasses.is_dataclass(factory) or isinstance(factory, type):
        return None
    if "config" not in {f.name for f in dataclasses.fields(factory)}:
        return None
    config = dict(getattr(factory, "config", None) or {})
    if "model" in overrides:
        overrides = {**overrides, "model": {**dict(config.get("model") or {}), **overrides["model"]}}
    return dataclasses.replace(factory, config={**config, **overrides})


def _recurrent_init(ev: PolicyEvaluator) -> list[np.ndarray]:
    policy = getattr(ev, "policy", None)
    init = policy.initial_state() if policy is not None else []
    return [np.asarray(s) for s in init]


def check_recurrent(factory: EvaluatorFactory, *, capabilities: Iterable[str] | None = None) -> None:
    """Recurrent policies (``"recurrent"``, the catalog's ``model.use_lstm``) through the evaluator.

    The factory's evaluator, or, when it is not recurrent and the factory is a dataclass with a
    ``config`` (:class:`RegisteredEvaluatorFactory`, :class:`~rlcore.testing.PolicyEvaluatorFactory`),
    one built with :data:`RECURRENT_MODEL` over its model config. Asserted:

    * a sampled batch has ``state_in_j`` columns (one per tensor of ``policy.initial_state()``,
      ``[N, *shape_j]``) and a consistent row-aligned ``seq_lens`` column
      (:func:`rlcore.sequences.check_sequences`: sums to the rows, within one ``eps_id``, at most
      ``max_seq_len``); the first row of every episode of a fresh evaluator is fed ``initial_state``;
    * replaying the sequences from their ``state_in`` (:func:`rlcore.sequences.replay_sequences`)
      gives the ``action_dist_inputs`` (or ``vf_preds``) recorded while sampling;
    * ``loss`` is the same for the batch, its sequences cut again (:func:`~rlcore.sequences.rechop`
      to 1 and 2 rows) and its sequences shuffled: a loss over padded sequences must start each one
      from its ``state_in`` and mask the padding; every sequence minibatch has a finite loss;
    * acting with ``new_acting_state(B)`` advances the state (``[B, *shape_j]`` arrays), its first
      step equals a stateless call; with ``numpy_inference`` False (the framework's
      ``forward_step``) the actions and states over 5 steps equal the numpy mirror's.

    Without ``"recurrent"``: an evaluator around a policy must refuse ``use_lstm`` with
    :class:`~rlcore.errors.UnsupportedOperationError` (when the factory is configurable), and no
    evaluator may sample ``state_in`` columns.
    """
    from rlcore import sequences as sq

    check = "recurrent"
    ev = _build(factory, 0, check)
    caps = _caps(ev, capabilities)
    if "recurrent" not in caps:
        batch = _sample(ev, check)
        if "state_in_0" in batch:
            raise _fail(check, "'recurrent' is not declared but sample() has state_in columns", "declare 'recurrent'.")
        variant = _with_config(factory, model=RECURRENT_MODEL)
        if variant is None or getattr(ev, "policy", None) is None:
            return
        try:
            _sample(variant(0), check)
        except UnsupportedOperationError as exc:
            if "recurrent" not in str(exc):
                raise _fail(
                    check, f"use_lstm was refused without saying why: {exc}", "say it does not support recurrence."
                ) from exc
            return
        raise _fail(
            check,
            "'recurrent' is not declared, yet the evaluator built and sampled with model.use_lstm=True",
            "raise UnsupportedOperationError for use_lstm (ModelPolicy does when 'recurrent' is not declared), "
            "or declare 'recurrent' and act with a state.",
        )
    recurrent_factory: EvaluatorFactory = factory
    if not _recurrent_init(ev):
        variant = _with_config(factory, model=RECURRENT_MODEL)
        if variant is None:
            raise CheckNotApplicable(
                "'recurrent' is declared but the factory's evaluator is not recurrent (policy.initial_state() is "
                "empty) and the kit cannot set model.use_lstm on it (not a dataclass factory with a config)"
            )
        recurrent_factory = variant
        ev = _build(variant, 0, check)
    init = _recurrent_init(ev)
    if not init:
        raise _fail(
            check,
            "with model.use_lstm=True, policy.initial_state() is empty",
            "return the zero state of a new episode ([h, c] for the catalog's LSTM: ModelPolicy.initial_state()).",
        )
    policy = ev.policy  # type: ignore[attr-defined]
    batch = _sample(ev, check)
    names = [f"state_in_{j}" for j in range(len(init))]
    missing = [n for n in [*names, "seq_lens"] if n not in batch]
    if missing:
        raise _fail(
            check,
            f"a recurrent evaluator's batch lacks {missing} (it has {sorted(batch)})",
            "sample with the policy's initial_state (RolloutEvaluator does) and add the seq_lens column.",
        )
    for name, s0 in zip(names, init, strict=True):
        col = np.asarray(batch[name])
        if col.shape != (batch.count, *s0.shape):
            raise _fail(check, f"{name} has shape {col.shape}", f"one row [*{s0.shape}] per step.")
    max_seq_len = getattr(policy, "max_seq_len", None)
    try:
        sq.check_sequences(batch, max_seq_len)
    except Exception as exc:
        raise _fail(check, f"the sampled batch's sequences are wrong: {exc}", "cut with seq_lens_column.") from exc
    ids = np.asarray(batch["eps_id"])
    firsts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    for name, s0 in zip(names, init, strict=True):
        bad = [int(r) for r in firsts if not np.array_equal(batch[name][r], s0)]
        if bad:
            raise _fail(
                check,
                f"an episode's first step (row {bad[0]}) was fed {name} {batch[name][bad[0]]!r}, not initial_state",
                "reset each env's recurrent state at its episode end.",
            )
    recorded = next((k for k in ("action_dist_inputs", "vf_preds") if k in batch), None)
    if recorded is not None:
        replay = sq.replay_sequences(policy, batch)
        if recorded in replay and not np.allclose(replay[recorded], batch[recorded], rtol=1e-4, atol=1e-5):
            row = int(np.argmax(np.abs(np.asarray(replay[recorded] - batch[recorded]).reshape(batch.count, -1)).max(1)))
            raise _fail(
                check,
                f"replaying the sequences from their state_in does not give the sampled {recorded} (first at row "
                f"{row}: {batch[recorded][row]!r} sampled, {replay[recorded][row]!r} replayed)",
                "record in state_in_j the state fed at each step, and cut seq_lens within episodes.",
            )
    if "gradients" in caps:
        _check_recurrent_loss(ev, batch, check)
    _check_recurrent_acting(ev, recurrent_factory, init, check)


def _check_recurrent_loss(ev: PolicyEvaluator, batch: SampleBatch, check: str) -> None:
    from rlcore import sequences as sq

    base = float(ev.loss(batch))
    variants = {
        "cut to 1 row": sq.rechop(batch, 1),
        "cut to 2 rows": sq.rechop(batch, 2),
        "shuffled": sq.shuffle_sequences(batch, 0),
    }
    for what, other in variants.items():
        value = float(ev.loss(other))
        if not np.isclose(value, base, rtol=1e-4, atol=1e-6):
            raise _fail(
                check,
                f"loss differs when the batch's sequences are {what}: {value:.7g} vs {base:.7g}",
                "run the model over each padded sequence from its state_in (rlcore.sequences.initial_states), "
                "gather the real rows back (padded_indices' valid) and keep the loss row-wise.",
            )
    for mb in batch.minibatches(max(1, batch.count // 3), rng=0):
        if not np.isfinite(float(ev.loss(mb))):
            raise _fail(check, "the loss of a sequence minibatch is not finite", "mask the padding out of the loss.")


def _acting_recurrent(ev: Any) -> bool:
    """Whether ``ev.new_acting_state(1)`` carries a recurrent state (RolloutEvaluator's ActingState)."""
    new_state = getattr(ev, "new_acting_state", None)
    return new_state is not None and bool(getattr(new_state(1), "recurrent", None))


def _acting_rollout(ev: Any, obs_list: list[np.ndarray]) -> tuple[list[np.ndarray], list[Any]]:
    """Actions and recurrent states over ``obs_list`` with one acting state (``ev.new_acting_state``)."""
    state = ev.new_acting_state(len(obs_list[0]))
    actions, states = [], []
    for obs in obs_list:
        actions.append(_action_rows(ev.action_space, ev.compute_actions(obs, explore=False, state=state)))
        states.append([np.array(s, copy=True) for s in state.recurrent])
    return actions, states


def _check_recurrent_acting(ev: PolicyEvaluator, factory: EvaluatorFactory, init: list[np.ndarray], check: str) -> None:
    if not _acting_recurrent(ev):
        return
    space = _space(ev, "observation_space", check)
    obs_list = [_raw_obs(space, 4, seed=t) for t in range(5)]
    actions, states = _acting_rollout(ev, obs_list)
    for j, s0 in enumerate(init):
        if states[0][j].shape != (4, *s0.shape):
            raise _fail(check, f"state tensor {j} has shape {states[0][j].shape}", f"[B, *{s0.shape}] per env.")
    if all(np.array_equal(a, b) for a, b in zip(states[0], states[1], strict=True)):
        raise _fail(check, "the acting state did not change over a step", "return the next state as state_out.")
    first = _action_rows(ev.action_space, ev.compute_actions(obs_list[0], explore=False))
    if not np.allclose(np.asarray(first, np.float64), np.asarray(actions[0], np.float64), atol=1e-6):
        raise _fail(check, "the first step with a fresh acting state differs from a stateless call", "start at zeros.")
    policy = getattr(ev, "policy", None)
    if not getattr(policy, "uses_numpy_mirror", False):
        return
    variant = _with_config(factory, numpy_inference=False)
    if variant is None:
        return
    other = _build(variant, 0, check)
    other.set_weights(ev.get_weights())
    other_actions, other_states = _acting_rollout(other, obs_list)
    for t in range(len(obs_list)):
        same = all(
            np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(states[t], other_states[t], strict=True)
        ) and np.allclose(np.asarray(actions[t], np.float64), np.asarray(other_actions[t], np.float64), atol=1e-5)
        if not same:
            raise _fail(
                check,
                f"at acting step {t}, the numpy mirror and forward_step (numpy_inference False) differ",
                "compute the cell exactly as rlcore.models.layout documents (gates i, f, g, o; state [h, c]).",
            )


#: Every check of :func:`check_evaluator`, by name, in the order they run.
CHECKS: dict[str, Callable[..., None]] = {
    "capabilities": check_capabilities,
    "sample_schema": check_sample_schema,
    "actions_in_space": check_actions_in_space,
    "weight_round_trip": check_weight_round_trip,
    "state_round_trip": check_state_round_trip,
    "compute_gradients_pure": check_compute_gradients_pure,
    "gradient_step_lowers_loss": check_gradient_step_lowers_loss,
    "compute_apply_equals_learn": check_compute_apply_equals_learn,
    "multi_device": check_multi_device,
    "same_seed_same_samples": check_same_seed_same_samples,
    "pickle": check_pickle,
    "metrics": check_metrics,
    "composite_actions": check_composite_actions,
    "recurrent": check_recurrent,
    "ray_actor": check_ray_actor,
}


def check_evaluator(
    factory: EvaluatorFactory,
    *,
    capabilities: Iterable[str] | None = None,
    other_factory: EvaluatorFactory | None = None,
    checks: Iterable[str] | None = None,
    report: Callable[[str, str, str], None] | None = None,
) -> list[str]:
    """Run every check (or those named in ``checks``) on ``factory(seed) -> PolicyEvaluator``.

    ``capabilities`` defaults to the evaluator's own declaration; ``other_factory`` (an
    evaluator of the same config in another framework) adds :func:`check_weight_exchange`.
    Returns the names of the checks that ran and passed; a check that does not apply (Ray
    missing, ``"remote"`` not declared) is left out, with a warning when Ray is missing. Raises
    one ``AssertionError`` listing every failed check, each with what broke and how to fix it.
    ``report(name, status, detail)``, if given, hears each check as it ends: ``"ok"`` with its
    duration, ``"n/a"`` with the reason, or ``"FAIL"`` with the failure.
    """
    names = list(CHECKS) if checks is None else list(checks)
    unknown = [n for n in names if n not in CHECKS and n != "weight_exchange"]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {[*CHECKS, 'weight_exchange']}")
    if capabilities is not None:
        capabilities = frozenset(capabilities)
    ev = _build(factory, 0, "build")
    label = type(ev).__name__
    jobs: list[tuple[str, Callable[[], None]]] = [
        (n, functools.partial(CHECKS[n], factory, capabilities=capabilities)) for n in names if n in CHECKS
    ]
    if other_factory is not None and (checks is None or "weight_exchange" in names):
        jobs.append(("weight_exchange", functools.partial(check_weight_exchange, factory, other_factory)))
    passed: list[str] = []
    failures: list[str] = []
    for name, job in jobs:
        start = time.perf_counter()
        try:
            job()
        except CheckNotApplicable as exc:
            if "not installed" in str(exc):
                warnings.warn(f"rlcore.testing: check {name!r} of {label} not run: {exc}", stacklevel=2)
            status, detail = "n/a", str(exc)
        except AssertionError as exc:
            failures.append(str(exc))
            status, detail = "FAIL", failures[-1]
        except Exception as exc:  # noqa: BLE001 - any crash of the evaluator is reported, not raised
            tb = "".join(traceback.format_exception(exc, limit=-3)).rstrip()
            failures.append(
                f"[{name}] raised {type(exc).__name__}: {exc}\n    How to fix: the evaluator crashed during the "
                f"check; the end of the traceback:\n{tb}"
            )
            status, detail = "FAIL", failures[-1]
        else:
            passed.append(name)
            status, detail = "ok", f"{time.perf_counter() - start:.1f} s"
        if report is not None:
            report(name, status, detail)
    if failures:
        raise AssertionError(
            f"{label} failed {len(failures)} of {len(jobs)} conformance checks:\n\n" + "\n\n".join(failures)
        )
    return passed
