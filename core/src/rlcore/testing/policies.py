"""The conformance kit for policies: what a framework plugin (a new framework, JAX say) checks.

A policy is checked inside the core's rollout evaluator with its algorithm's postprocessing (so
every evaluator check of :mod:`rlcore.testing.checks` applies to it) plus the checks here, which
assert the core's one rule for policies and the algorithm's loss definition:

* :func:`check_loss_columns`: the policy's ``loss_columns`` are the columns its algorithm's numpy
  reference loss reads (``LOSS_COLUMNS`` beside the algorithm's ``reference_loss``);
* :func:`check_policy_outputs`: ``compute_actions`` returns numpy arrays of one row per
  observation, actions inside the action space, extras the postprocessing can read;
* :func:`check_partial_gradients_refused`: a gradient dict missing a weight, or naming an unknown
  one, raises :class:`~rlcore.errors.GradientError` and changes nothing;
* :func:`check_nonfinite_refused`: a batch with a NaN raises
  :class:`~rlcore.errors.NonFiniteLossError` from ``learn_on_batch`` and changes nothing;
* :func:`check_policy_pickle`: the policy alone survives pickling (weights, state, actions);
* :func:`check_flat_weights`: for a policy with a flat-weight layout (every
  :class:`~rlcore.model_policy.ModelPolicy`), the flat vector round trip, a wrong size refused
  naming both sizes, and ``compute_population_actions`` equal to per-row deterministic acting;
* :func:`check_reference_loss`: the loss terms equal the algorithm's numpy reference loss.

A check with nothing to compare (an algorithm without a reference loss, a policy without the
``"gradients"`` capability for the gradient and loss checks, one without flat weights for
:func:`check_flat_weights`) is not applicable (:class:`~rlcore.testing.checks.CheckNotApplicable`),
never a silent pass.

:func:`check_policy` runs them all; :class:`rlcore.testing.PolicyContract` makes them pytest tests.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from rlcore.errors import GradientError, NonFiniteLossError, UnknownNameError
from rlcore.evaluator import PolicyEvaluator
from rlcore.model_policy import ModelPolicy
from rlcore.models.layout import Param
from rlcore.policy import Gradients, Weights
from rlcore.sample_batch import SampleBatch
from rlcore.testing.checks import (
    KIT_CONFIG,
    CheckNotApplicable,
    _fail,
    _outside,
    _sample,
    _state_diff,
    _weights_diff,
)

__all__ = [
    "POLICY_CHECKS",
    "NumpyLSTMPolicy",
    "PolicyEvaluatorFactory",
    "build_evaluator",
    "check_flat_weights",
    "check_loss_columns",
    "check_nonfinite_refused",
    "check_partial_gradients_refused",
    "check_policy",
    "check_policy_outputs",
    "check_policy_pickle",
    "check_reference_loss",
]


def _algorithm_defaults(algorithm: str) -> dict[str, Any]:
    from rlcore.registration import get_algorithm_class

    try:
        return dict(get_algorithm_class(algorithm).default_config)
    except UnknownNameError:
        return {}


def build_evaluator(
    algorithm: str,
    framework: str,
    env_creator: Callable[[dict[str, Any]], Any],
    config: Mapping[str, Any] | None = None,
    worker_index: int = 0,
) -> PolicyEvaluator:
    """The evaluator a trainer builds for ``(algorithm, framework)``, with ``config`` over the
    algorithm's defaults (when the algorithm is registered): the registered whole evaluator, or
    the rollout evaluator around the registered policy (:func:`rlcore.registration.resolve_evaluator`)."""
    from rlcore.registration import resolve_evaluator

    cls, kwargs = resolve_evaluator(algorithm, framework)
    return cls(env_creator, {**_algorithm_defaults(algorithm), **dict(config or {})}, worker_index, **kwargs)


@dataclasses.dataclass(frozen=True)
class PolicyEvaluatorFactory:
    """``factory(seed, env_creator=None)``: a rollout evaluator around ``policy`` (a class or its
    ``"module:Class"`` target) with the postprocessing and default config of ``algorithm``.

    ``config`` goes over the algorithm's defaults and :data:`~rlcore.testing.checks.KIT_CONFIG`;
    ``seed`` over all. Picklable (for the Ray check) when ``policy`` and ``env`` are importable.
    """

    algorithm: str
    policy: Any
    env: Callable[..., Any] | None = None
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        name = self.policy if isinstance(self.policy, str) else getattr(self.policy, "__qualname__", self.policy)
        return f"{self.algorithm}:{name}"

    def __call__(self, seed: int, env_creator: Callable[..., Any] | None = None) -> PolicyEvaluator:
        """A fresh rollout evaluator with ``seed`` (on ``env_creator`` when given)."""
        from rlcore.registration import get_algorithm_class
        from rlcore.rollout_evaluator import RolloutEvaluator
        from rlcore.testing.envs import make_corridor

        algo = get_algorithm_class(self.algorithm)
        config = {**algo.default_config, **KIT_CONFIG, **self.config, "seed": seed}
        creator = env_creator or self.env or make_corridor
        return RolloutEvaluator(creator, config, 0, policy=self.policy, postprocess=algo.postprocessing)


def _policy(factory: Callable[..., PolicyEvaluator], seed: int, check: str) -> tuple[PolicyEvaluator, Any]:
    ev = factory(seed)
    policy = getattr(ev, "policy", None)
    if policy is None:
        raise _fail(check, f"{type(ev).__name__} has no policy", "check policies inside the rollout evaluator.")
    return ev, policy


def _reference(algorithm: str, check: str) -> Any:
    """The algorithm's numpy reference loss function (``Trainer.reference_loss``), or n/a."""
    from rlcore.registration import get_algorithm_class
    from rlcore.specs import import_target

    target = getattr(get_algorithm_class(algorithm), "reference_loss", None)
    if not target:
        raise CheckNotApplicable(f"{check}: algorithm {algorithm!r} names no reference_loss to compare with")
    return import_target(str(target), what=f"reference loss of {algorithm}")


def _require_gradients(policy: Any, check: str) -> None:
    """Not applicable to a policy without the ``"gradients"`` capability (an act-only policy of a
    gradient-free algorithm: the evaluator checks assert that it refuses gradient operations)."""
    if "gradients" not in policy.capabilities:
        raise CheckNotApplicable(
            f"{check}: {type(policy).__name__} declares no 'gradients' capability (it does not learn from gradients)"
        )


def check_loss_columns(factory: Callable[..., PolicyEvaluator], algorithm: str) -> None:
    """The policy's ``loss_columns`` equal ``LOSS_COLUMNS`` of its algorithm's reference loss module."""
    import importlib

    check = "loss_columns"
    _, policy = _policy(factory, 0, check)
    _require_gradients(policy, check)
    module = importlib.import_module(_reference(algorithm, check).__module__)
    expected = getattr(module, "LOSS_COLUMNS", None)
    if expected is None:
        raise CheckNotApplicable(f"{check}: {module.__name__} defines no LOSS_COLUMNS")
    if tuple(policy.loss_columns) != tuple(expected):
        raise _fail(
            check,
            f"{type(policy).__name__}.loss_columns {tuple(policy.loss_columns)} differ from {algorithm}'s reference "
            f"loss columns {tuple(expected)}",
            f"read exactly the columns of {module.__name__}.LOSS_COLUMNS (in that order) in the loss.",
        )


def check_reference_loss(factory: Callable[..., PolicyEvaluator], algorithm: str, rtol: float = 1e-3) -> None:
    """``compute_gradients``' loss terms equal the algorithm's numpy reference loss, term by term.

    On a sampled batch, with the weights moved away from those that sampled it (so that ratios
    differ from 1 and clips engage); the reference is called as ``reference(policy, batch)`` and
    every scalar term it returns that the info also has is compared.
    """
    check = "reference_loss"
    reference = _reference(algorithm, check)
    ev, policy = _policy(factory, 0, check)
    _require_gradients(policy, check)
    batch = _sample(ev, check)
    rng = np.random.default_rng(5)
    policy.set_weights(
        {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(v.dtype) for k, v in policy.get_weights().items()}
    )
    _, info = policy.compute_gradients(batch)
    ref = reference(policy, batch)
    compared = [k for k, v in ref.items() if np.ndim(v) == 0 and k in info]
    if "loss" not in compared:
        raise _fail(check, f"the info {sorted(info)} has no 'loss' to compare with the reference", "report 'loss'.")
    bad = [
        f"{k}: policy {float(info[k]):.6g}, reference {float(ref[k]):.6g}"
        for k in compared
        if not np.isclose(float(info[k]), float(ref[k]), rtol=rtol, atol=1e-5)
    ]
    if bad:
        raise _fail(
            check,
            f"{type(policy).__name__}'s loss differs from {reference.__module__}.{reference.__name__}: "
            + "; ".join(bad),
            "compute each term as the reference does (its module docstring gives the formulas and the paper).",
        )


def check_policy_outputs(factory: Callable[..., PolicyEvaluator]) -> None:
    """``compute_actions`` returns numpy arrays with one row per observation, actions in the space."""
    check = "policy_outputs"
    ev, policy = _policy(factory, 0, check)
    obs = np.asarray(_sample(ev, check)["obs"][:5])
    for explore in (True, False):
        actions, state_out, extras = policy.compute_actions(obs, None, explore)
        if not isinstance(actions, np.ndarray) or len(actions) != len(obs):
            raise _fail(check, f"compute_actions returned actions {actions!r}", "return numpy arrays [B, ...].")
        if _outside(policy.action_space, actions, sampled=True):
            raise _fail(check, f"actions {actions!r} outside {policy.action_space}", "sample inside the space.")
        if not isinstance(state_out, list):
            raise _fail(check, f"state_out is {type(state_out).__name__}", "return a list of arrays ([] if none).")
        init = policy.initial_state()
        shapes = [tuple(np.shape(s)) for s in state_out]
        if shapes != [(len(obs), *np.shape(s0)) for s0 in init]:
            raise _fail(
                check,
                f"state_out has shapes {shapes} for {len(obs)} observations; initial_state() has "
                f"{[np.shape(s0) for s0 in init]}",
                "return the next recurrent state, one [B, *shape] array per initial_state tensor ([] if none).",
            )
        for key, value in extras.items():
            if not isinstance(value, np.ndarray) or len(value) != len(obs):
                raise _fail(check, f"extra {key!r} is {value!r}", "return numpy arrays with one row per observation.")


def check_partial_gradients_refused(factory: Callable[..., PolicyEvaluator]) -> None:
    """A gradient dict missing a weight or naming an unknown one raises GradientError; nothing changes."""
    check = "partial_gradients_refused"
    ev, policy = _policy(factory, 0, check)
    _require_gradients(policy, check)
    grads, _ = policy.compute_gradients(_sample(ev, check))
    before = policy.get_weights()
    dropped = dict(grads)
    dropped.pop(sorted(dropped)[0])
    unknown = {**grads, "no_such_weight": np.zeros(1, np.float32)}
    for what, bad in (("a missing weight", dropped), ("an unknown weight", unknown)):
        try:
            policy.apply_gradients(bad)
        except GradientError:
            pass
        else:
            raise _fail(
                check,
                f"apply_gradients accepted gradients with {what}",
                "use ModelPolicy (its apply_gradients checks with rlcore.model_policy.check_gradients) or raise "
                "rlcore.errors.GradientError.",
            )
        diff = _weights_diff(before, policy.get_weights(), rtol=0, atol=0)
        if diff:
            raise _fail(check, f"a refused apply_gradients changed the weights: {diff}", "check before applying.")


def check_nonfinite_refused(factory: Callable[..., PolicyEvaluator]) -> None:
    """A batch with a NaN observation raises NonFiniteLossError from learn_on_batch; the state is unchanged."""
    check = "nonfinite_refused"
    ev, policy = _policy(factory, 0, check)
    _require_gradients(policy, check)
    batch = _sample(ev, check).copy()
    obs = np.array(batch["obs"], dtype=np.float32)
    obs[0] = np.nan
    batch["obs"] = obs
    if "next_obs" in batch:
        batch["next_obs"] = np.array(batch["next_obs"], dtype=np.float32)
    before = policy.get_state()
    try:
        policy.learn_on_batch(batch)
    except NonFiniteLossError:
        pass
    else:
        raise _fail(check, "learn_on_batch on a batch with NaN observations raised nothing", "raise NonFiniteLossError")
    diff = _state_diff(before, policy.get_state())
    if diff:
        raise _fail(check, f"the refused step changed the policy's state: {diff}", "apply nothing when not finite.")


def check_policy_pickle(factory: Callable[..., PolicyEvaluator]) -> None:
    """The policy alone survives pickling: same state, same deterministic actions."""
    check = "policy_pickle"
    ev, policy = _policy(factory, 0, check)
    obs = np.asarray(_sample(ev, check)["obs"][:4])
    clone = pickle.loads(pickle.dumps(policy))
    diff = _state_diff(policy.get_state(), clone.get_state())
    if diff:
        raise _fail(check, f"the unpickled policy's state differs: {diff}", "pickle weights and optimizer state.")
    a = policy.compute_actions(obs, None, False)[0]
    b = clone.compute_actions(obs, None, False)[0]
    if not np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=1e-6):
        raise _fail(check, f"actions differ after unpickling: {a!r} vs {b!r}", "rebuild the same model.")


def check_flat_weights(factory: Callable[..., PolicyEvaluator]) -> None:
    """The flat-weight interface of gradient-free algorithms (ES), for a policy that has one
    (:func:`rlcore.model_policy.flat_weight_layout`; not applicable otherwise):

    * ``get_flat_weights()`` is ``float32 [num_params]``, ``num_params`` the sum of the flat
      layout's sizes (the acting parameters: a ``ModelPolicy``'s ``flat_layout``, without the
      value branch), and equals those weights raveled in layout order; set -> get gives it back,
      a changed vector is what the policy then returns, and the weights outside the flat layout
      stay as they were;
    * ``set_flat_weights`` of a vector one too short raises, naming both sizes, and sets nothing;
    * ``compute_population_actions(params [3, P], obs [3, ...])``: row ``k`` equals
      ``set_flat_weights(params[k]); compute_actions(obs[k:k+1], explore=False)`` for 3 different
      rows, and the policy's weights are unchanged afterwards (recurrent and Q-value policies,
      which refuse population acting with UnsupportedOperationError, skip this part).
    """
    from rlcore.errors import UnsupportedOperationError
    from rlcore.model_policy import flat_weight_layout
    from rlcore.models.layout import flatten_weights, num_params

    check = "flat_weights"
    ev, policy = _policy(factory, 0, check)
    try:
        layout = flat_weight_layout(policy, "check_flat_weights")
    except UnsupportedOperationError as exc:
        raise CheckNotApplicable(f"{check}: {exc}") from None
    name = type(policy).__name__
    flat = policy.get_flat_weights()
    size = num_params(layout)
    if not isinstance(flat, np.ndarray) or flat.dtype != np.float32 or flat.shape != (size,):
        got = f"{type(flat).__name__} {getattr(flat, 'dtype', '')} {getattr(flat, 'shape', '')}"
        raise _fail(check, f"get_flat_weights returned {got}", f"return float32 [{size}] (the layout's sizes summed).")
    if policy.num_params != size:
        raise _fail(check, f"num_params is {policy.num_params}, the layout has {size}", "count the layout's sizes.")
    weights = policy.get_weights()
    names = {p.name for p in layout}
    expected = flatten_weights(layout, {n: w for n, w in weights.items() if n in names}, name)
    if not np.array_equal(flat, expected):
        raise _fail(check, "get_flat_weights is not the weights raveled in layout order", "use flatten_weights.")
    moved = (flat + np.random.default_rng(3).standard_normal(size).astype(np.float32) * 0.1).astype(np.float32)
    for vector, what in ((flat, "its own flat weights"), (moved, "changed flat weights")):
        policy.set_flat_weights(vector)
        if not np.allclose(policy.get_flat_weights(), vector, rtol=0, atol=1e-7):
            raise _fail(check, f"set_flat_weights({what}) then get_flat_weights differs", "load every weight.")
        after = policy.get_weights()
        changed = sorted(n for n in weights if n not in names and not np.array_equal(after.get(n), weights[n]))
        if changed:
            raise _fail(
                check,
                f"set_flat_weights changed weights outside the flat layout: {changed}",
                "set only the flat layout's weights; keep the others as they are.",
            )
    policy.set_flat_weights(flat)
    try:
        policy.set_flat_weights(flat[:-1])
    except Exception as exc:  # noqa: BLE001 - any clear error will do; its text is checked
        text = str(exc)
        if not all(f"{n:,}" in text or str(n) in text for n in (size, size - 1)):
            raise _fail(
                check,
                f"set_flat_weights of {size - 1} numbers raised {type(exc).__name__}: {text}",
                f"name both sizes ({size - 1} given, {size} expected) in the error.",
            ) from None
    else:
        raise _fail(check, f"set_flat_weights accepted {size - 1} numbers for {size} parameters", "refuse it.")
    if not np.array_equal(policy.get_flat_weights(), flat):
        raise _fail(check, "a refused set_flat_weights changed the weights", "check the size before setting.")
    _check_population_actions(ev, policy, flat, check)


def _check_population_actions(ev: PolicyEvaluator, policy: Any, flat: np.ndarray, check: str) -> None:
    from rlcore.errors import UnsupportedOperationError

    obs = np.asarray(_sample(ev, check)["obs"][:3], dtype=np.float32)
    k = len(obs)
    params = flat + np.random.default_rng(4).standard_normal((k, len(flat))).astype(np.float32) * 0.3
    try:
        actions = policy.compute_population_actions(params, obs)
    except UnsupportedOperationError:
        return  # recurrent and Q-value policies do not act as populations
    if not np.array_equal(policy.get_flat_weights(), flat):
        raise _fail(check, "compute_population_actions changed the weights", "restore the weights set before.")
    rows = []
    for j in range(k):
        policy.set_flat_weights(params[j])
        rows.append(np.asarray(policy.compute_actions(obs[j : j + 1], None, False)[0])[0])
    policy.set_flat_weights(flat)
    expected = np.stack(rows)
    got = np.asarray(actions)
    if got.shape != expected.shape or not np.allclose(
        got.astype(np.float64), expected.astype(np.float64), rtol=1e-4, atol=1e-5
    ):
        raise _fail(
            check,
            f"compute_population_actions gave {got.tolist()}, per-row compute_actions(explore=False) with "
            f"set_flat_weights gave {expected.tolist()}",
            "act with each row's weights on its observation, deterministically (argmax, mean).",
        )


#: The policy checks, by name (besides every evaluator check).
POLICY_CHECKS: dict[str, Callable[..., None]] = {
    "policy_outputs": check_policy_outputs,
    "partial_gradients_refused": check_partial_gradients_refused,
    "nonfinite_refused": check_nonfinite_refused,
    "policy_pickle": check_policy_pickle,
    "flat_weights": check_flat_weights,
}


def check_policy(
    factory: PolicyEvaluatorFactory, *, checks: Iterable[str] | None = None, evaluator_checks: bool = True
) -> list[str]:
    """Run the policy checks (and, with ``evaluator_checks``, every evaluator check) on ``factory``.

    A policy without the ``"gradients"`` capability (an act-only policy of a gradient-free
    algorithm such as ES) skips the gradient and loss checks (``partial_gradients_refused``,
    ``nonfinite_refused``, ``loss_columns``, ``reference_loss``: not applicable; the evaluator
    checks still assert that it refuses gradient operations); :func:`check_flat_weights` runs for
    every policy with flat weights. Returns the names of the checks that passed (not those not
    applicable); raises one ``AssertionError`` listing every failure.
    """
    from rlcore.testing.checks import check_evaluator

    passed = check_evaluator(factory) if evaluator_checks else []
    names = list(POLICY_CHECKS) if checks is None else list(checks)
    failures = []
    jobs: list[tuple[str, Callable[[], None]]] = [(n, functools.partial(POLICY_CHECKS[n], factory)) for n in names]
    for name, fn in (("loss_columns", check_loss_columns), ("reference_loss", check_reference_loss)):
        if checks is None or name in names:
            jobs.append((name, functools.partial(fn, factory, factory.algorithm)))
    for name, job in jobs:
        try:
            job()
        except CheckNotApplicable:
            continue
        except AssertionError as exc:
            failures.append(str(exc))
        else:
            passed.append(name)
    if failures:
        raise AssertionError(f"{factory} failed {len(failures)} policy checks:\n\n" + "\n\n".join(failures))
    return passed


class NumpyLSTMPolicy(ModelPolicy):
    """The kit's numpy recurrent policy: the catalog LSTM (``use_lstm``, fc trunk) computed in numpy.

    A reference for what a framework's recurrent policy does, and the recurrent policy of the
    core's own tests (no framework there). Acting steps :class:`~rlcore.models.numpy_forward.NumpyLSTMForward`
    (:meth:`forward_step`); learning pads the batch's sequences (:mod:`rlcore.sequences`), runs
    the cell over ``T`` steps from each sequence's ``state_in`` and unpads, like a framework's
    padded forward pass. The loss is the value error ``mean((V - value_targets)^2)``; its gradient
    is taken for ``value/bias`` only (zeros elsewhere), enough for the kit's checks.

    Raises :class:`~rlcore.errors.UnsupportedOperationError` without ``model.use_lstm`` or for
    image observations.
    """

    framework: ClassVar[str] = "numpy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "continuous", "gradients", "recurrent"})
    loss_columns: ClassVar[tuple[str, ...]] = ("obs", "value_targets")
    lr = 0.1

    def build(self) -> None:
        from rlcore.models.layout import init_weights, lstm_layout
        from rlcore.models.numpy_forward import NumpyLSTMForward

        if not self.recurrent or len(self.obs_shape) == 3:
            raise self._unsupported("models other than the fc-trunk LSTM (set model.use_lstm true, flat observations)")
        self._layout = lstm_layout(self.obs_shape, self.dist_spec.num_outputs, self.model_config)
        self.w = init_weights(self._layout, self.seed)
        self.net = NumpyLSTMForward(self.model_config)
        self.net.set_weights(self.w)

    def model_layout(self) -> list[Param]:
        return self._layout

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, values, _ = self.forward_step(obs, self._batch_state(None, len(obs)))
        return logits, values

    def forward_step(self, obs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        return self.net(obs, state)

    def padded_values(self, batch: SampleBatch) -> np.ndarray:
        """``V`` for every row of a batch of sequences: pad, run ``T`` steps, unpad."""
        from rlcore.sequences import initial_states, pad_sequences, sequence_lengths, unpad_sequences

        lengths = sequence_lengths(batch)
        obs = pad_sequences(np.asarray(batch["obs"], np.float32), lengths)
        state = initial_states(batch)
        values = np.zeros(obs.shape[:2], np.float32)
        for t in range(obs.shape[1]):
            _, values[:, t], state = self.net(obs[:, t], state)
        return unpad_sequences(values, lengths)

    def _terms(self, batch: SampleBatch) -> tuple[float, np.ndarray]:
        err = self.padded_values(batch).astype(np.float64) - np.asarray(batch["value_targets"], np.float64)
        return float(np.mean(err**2)), err

    def _compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        loss, err = self._terms(batch)
        grads = {k: np.zeros_like(v) for k, v in self.w.items()}
        grads["value/bias"] = np.full_like(self.w["value/bias"], 2.0 * float(np.mean(err)))
        return grads, {"loss": loss}

    def _apply_gradients(self, grads: Gradients) -> None:
        self.w = {k: (v - self.lr * grads[k]).astype(np.float32) for k, v in self.w.items()}
        self.net.set_weights(self.w)

    def _learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        grads, info = self._compute_gradients(batch)
        if np.isfinite(info["loss"]) and all(np.isfinite(g).all() for g in grads.values()):
            self._apply_gradients(grads)
        return info

    def _loss(self, batch: SampleBatch) -> float:
        return self._terms(batch)[0]

    def _get_weights(self) -> Weights:
        return {k: v.copy() for k, v in self.w.items()}

    def _set_weights(self, weights: Weights) -> None:
        self.w = {k: np.array(v, np.float32) for k, v in weights.items()}
        self.net.set_weights(self.w)
