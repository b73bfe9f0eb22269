"""``EvaluatorContract``: the conformance checks as a pytest base class for plugin test suites.

Subclass it in your package's tests and provide the ``evaluator_factory`` fixture (the model is
pandas' extension-array base tests and fsspec's abstract filesystem tests)::

    import pytest
    from rlcore.testing import EvaluatorContract

    def make_evaluator(seed):
        return MyEvaluator(my_env_creator, {"seed": seed, "num_envs": 2}, worker_index=0)

    class TestMyEvaluator(EvaluatorContract):
        capabilities = {"discrete", "gradients", "remote"}   # optional: else the class's own

        @pytest.fixture
        def evaluator_factory(self):
            return make_evaluator           # picklable by cloudpickle for the Ray test

Every check of :mod:`rlcore.testing.checks` becomes one ``test_*`` method. A capability that is
not declared is not skipped: its documented behaviour is asserted (``compute_gradients`` raises
``UnsupportedOperationError`` without ``"gradients"``). Two tests exist only where they have
something to call: ``test_ray_actor`` is removed from a subclass whose declared
``capabilities`` lack ``"remote"`` (and skips if Ray is not installed), and
``test_weight_exchange`` from a subclass that does not override ``other_evaluator_factory``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterable
from typing import Any, ClassVar

import pytest

from rlcore.testing import checks
from rlcore.testing.checks import CheckNotApplicable, EvaluatorFactory

__all__ = ["CompositePolicyContract", "EvaluatorContract", "PolicyContract"]


class EvaluatorContract:
    """Base test class: one test per conformance check of the evaluator built by ``evaluator_factory``.

    Not collected itself (``__test__ = False``); every subclass is collected unless it sets
    ``__test__ = False`` in its own body (for intermediate abstract bases).
    """

    __test__ = False

    #: The capabilities to check; ``None`` means the evaluator's own ``capabilities`` attribute.
    capabilities: ClassVar[Iterable[str] | None] = None
    #: False declares that the evaluator refuses Tuple/Dict action spaces: the contract then asserts
    #: that it refuses them with :class:`~rlcore.errors.UnsupportedOperationError` (DQN, say).
    composite_actions: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = True
        if cls.capabilities is not None and "remote" not in set(cls.capabilities):
            setattr(cls, "test_ray_actor", None)  # noqa: B010 - a method replaced by None is not collected
        if not any("other_evaluator_factory" in k.__dict__ for k in cls.__mro__ if k is not EvaluatorContract):
            setattr(cls, "test_weight_exchange", None)  # noqa: B010

    # -- fixtures the subclass provides -----------------------------------------
    @pytest.fixture
    def evaluator_factory(self) -> EvaluatorFactory:
        """Override: return ``factory(seed) -> PolicyEvaluator`` building a fresh evaluator."""
        pytest.fail(
            f"{type(self).__name__} must define a pytest fixture 'evaluator_factory' returning "
            "factory(seed) -> PolicyEvaluator",
            pytrace=False,
        )

    @pytest.fixture
    def other_evaluator_factory(self) -> EvaluatorFactory | None:
        """Override to check weight exchange with an evaluator of the same config in another framework."""
        return None

    def _caps(self) -> frozenset[str] | None:
        return None if self.capabilities is None else frozenset(self.capabilities)

    # -- one test per check --------------------------------------------------------
    def test_capabilities(self, evaluator_factory: EvaluatorFactory) -> None:
        """Declared capabilities are known and honest (undeclared operations raise their error)."""
        checks.check_capabilities(evaluator_factory, capabilities=self._caps())

    def test_sample_schema(self, evaluator_factory: EvaluatorFactory) -> None:
        """``sample()`` has the required columns, shapes and dtypes."""
        checks.check_sample_schema(evaluator_factory, capabilities=self._caps())

    def test_actions_in_space(self, evaluator_factory: EvaluatorFactory) -> None:
        """Sampled and computed actions lie inside the action space."""
        checks.check_actions_in_space(evaluator_factory, capabilities=self._caps())

    def test_weight_round_trip(self, evaluator_factory: EvaluatorFactory) -> None:
        """Weights move between evaluators as independent numpy copies."""
        checks.check_weight_round_trip(evaluator_factory, capabilities=self._caps())

    def test_state_round_trip(self, evaluator_factory: EvaluatorFactory) -> None:
        """``get_state``/``set_state`` round-trip, with arrays and JSON values only."""
        checks.check_state_round_trip(evaluator_factory, capabilities=self._caps())

    def test_compute_gradients_pure(self, evaluator_factory: EvaluatorFactory) -> None:
        """``compute_gradients`` changes nothing (or raises UnsupportedOperationError without "gradients")."""
        checks.check_compute_gradients_pure(evaluator_factory, capabilities=self._caps())

    def test_gradient_step_lowers_loss(self, evaluator_factory: EvaluatorFactory) -> None:
        """Learning on a fixed batch lowers its loss (or gradients raise UnsupportedOperationError)."""
        checks.check_gradient_step_lowers_loss(evaluator_factory, capabilities=self._caps())

    def test_compute_apply_equals_learn(self, evaluator_factory: EvaluatorFactory) -> None:
        """compute + apply equals learn_on_batch (or gradients raise UnsupportedOperationError)."""
        checks.check_compute_apply_equals_learn(evaluator_factory, capabilities=self._caps())

    def test_multi_device(self, evaluator_factory: EvaluatorFactory) -> None:
        """Loaded multi-device learning equals learn_on_batch (or raises UnsupportedOperationError)."""
        checks.check_multi_device(evaluator_factory, capabilities=self._caps())

    def test_same_seed_same_samples(self, evaluator_factory: EvaluatorFactory) -> None:
        """Same seed, same weights and samples."""
        checks.check_same_seed_same_samples(evaluator_factory, capabilities=self._caps())

    def test_pickle(self, evaluator_factory: EvaluatorFactory) -> None:
        """The evaluator survives pickling."""
        checks.check_pickle(evaluator_factory, capabilities=self._caps())

    def test_metrics(self, evaluator_factory: EvaluatorFactory) -> None:
        """Finished episodes are reported once by ``get_metrics``."""
        checks.check_metrics(evaluator_factory, capabilities=self._caps())

    def test_composite_actions(self, evaluator_factory: EvaluatorFactory) -> None:
        """On Tuple and Dict action spaces: structured actions inside the space, logp the sum of the parts'
        (with ``composite_actions = False``: refused with UnsupportedOperationError; skipped when the
        factory takes no env_creator, or refuses without having declared so)."""
        if not self.composite_actions:
            with pytest.raises(CheckNotApplicable, match=r"the evaluator refuses a \w+ action space"):
                checks.check_composite_actions(evaluator_factory, capabilities=self._caps())
            return
        try:
            checks.check_composite_actions(evaluator_factory, capabilities=self._caps())
        except CheckNotApplicable as exc:
            pytest.skip(str(exc))

    def test_recurrent(self, evaluator_factory: EvaluatorFactory) -> None:
        """With "recurrent": sequences, states and a chopping-invariant loss (use_lstm); without: use_lstm
        refused (skipped when the kit cannot make the evaluator recurrent)."""
        try:
            checks.check_recurrent(evaluator_factory, capabilities=self._caps())
        except CheckNotApplicable as exc:
            pytest.skip(str(exc))

    @pytest.mark.ray
    def test_ray_actor(self, evaluator_factory: EvaluatorFactory, request: pytest.FixtureRequest) -> None:
        """With "remote": the evaluator runs as a Ray actor (uses the ``ray_session`` fixture when available)."""
        caps = self._caps()
        if caps is None:
            caps = frozenset(evaluator_factory(0).capabilities)
        if "remote" not in caps:
            pytest.skip("'remote' is not declared: nothing to call")
        # Without the rlcore pytest plugin (disabled) there is no fixture; check_ray_actor starts Ray.
        with contextlib.suppress(pytest.FixtureLookupError):
            request.getfixturevalue("ray_session")
        try:
            checks.check_ray_actor(evaluator_factory, capabilities=caps)
        except CheckNotApplicable as exc:
            pytest.skip(str(exc))

    def test_weight_exchange(
        self, evaluator_factory: EvaluatorFactory, other_evaluator_factory: EvaluatorFactory | None
    ) -> None:
        """With an ``other_evaluator_factory``: weights exchange and outputs agree across frameworks."""
        if other_evaluator_factory is None:
            pytest.skip("no other_evaluator_factory fixture: nothing to exchange weights with")
        checks.check_weight_exchange(evaluator_factory, other_evaluator_factory)


class PolicyContract(EvaluatorContract):
    """Base test class for a framework plugin's policy: every evaluator check on the core's rollout
    evaluator around the policy, plus the policy checks of :mod:`rlcore.testing.policies`.

    Subclass it and set ``algorithm`` (a registered algorithm: its postprocessing and default
    config are used) and ``policy`` (the class or its ``"module:Class"`` target); optionally
    ``env`` (an env creator; default the kit's discrete corridor) and ``config`` (over the
    algorithm's defaults)::

        class TestMyPPOPolicy(PolicyContract):
            algorithm = "PPO"
            policy = MyPPOPolicy
            config = {"model": {"fcnet_hiddens": [16]}}
    """

    __test__ = False

    algorithm: ClassVar[str] = ""
    policy: ClassVar[Any] = None
    env: ClassVar[Any] = None
    config: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def evaluator_factory(self) -> EvaluatorFactory:
        """The rollout evaluator around :attr:`policy` (override for more control)."""
        from rlcore.testing.policies import PolicyEvaluatorFactory

        if not self.algorithm or self.policy is None:
            pytest.fail(f"{type(self).__name__} must set `algorithm` and `policy`", pytrace=False)
        env = inspect.getattr_static(self, "env")  # a function set on the class, not bound to it
        if isinstance(env, staticmethod):
            env = env.__func__
        return PolicyEvaluatorFactory(self.algorithm, self.policy, env, dict(self.config))

    def test_policy_outputs(self, evaluator_factory: EvaluatorFactory) -> None:
        """compute_actions returns numpy arrays of one row per observation, actions in the space."""
        from rlcore.testing import policies

        policies.check_policy_outputs(evaluator_factory)

    def test_partial_gradients_refused(self, evaluator_factory: EvaluatorFactory) -> None:
        """A partial or unknown gradient dict raises GradientError and changes nothing."""
        from rlcore.testing import policies

        _skip_not_applicable(policies.check_partial_gradients_refused, evaluator_factory)

    def test_nonfinite_refused(self, evaluator_factory: EvaluatorFactory) -> None:
        """A NaN batch raises NonFiniteLossError and changes nothing."""
        from rlcore.testing import policies

        _skip_not_applicable(policies.check_nonfinite_refused, evaluator_factory)

    def test_flat_weights(self, evaluator_factory: EvaluatorFactory) -> None:
        """The flat weight vector round trip and population acting (policies with flat weights)."""
        from rlcore.testing import policies

        _skip_not_applicable(policies.check_flat_weights, evaluator_factory)

    def test_policy_pickle(self, evaluator_factory: EvaluatorFactory) -> None:
        """The policy alone survives pickling."""
        from rlcore.testing import policies

        policies.check_policy_pickle(evaluator_factory)

    def test_loss_columns(self, evaluator_factory: EvaluatorFactory) -> None:
        """The loss reads exactly the columns of the algorithm's reference loss."""
        from rlcore.testing import policies

        try:
            policies.check_loss_columns(evaluator_factory, self.algorithm)
        except CheckNotApplicable as exc:
            pytest.skip(str(exc))

    def test_reference_loss(self, evaluator_factory: EvaluatorFactory) -> None:
        """The loss terms equal the algorithm's numpy reference loss, term by term."""
        from rlcore.testing import policies

        try:
            policies.check_reference_loss(evaluator_factory, self.algorithm)
        except CheckNotApplicable as exc:
            pytest.skip(str(exc))


def _skip_not_applicable(check: Any, *args: Any) -> None:
    """Run a kit check; a check that does not apply is a pytest skip saying why."""
    try:
        check(*args)
    except CheckNotApplicable as exc:
        pytest.skip(str(exc))


class CompositePolicyContract(PolicyContract):
    """:class:`PolicyContract` on the kit's composite action spaces: every check runs twice, on
    :class:`~rlcore.testing.envs.TupleTargetEnv` (``Tuple(Discrete(2), Box(-1, 1, (2,)))``) and
    on :class:`~rlcore.testing.envs.DictTargetEnv` (the same parts in a ``Dict``). For a policy
    that supports Tuple and Dict action spaces (a policy-gradient one built on the catalog)::

        class TestMyPolicyOnCompositeActions(CompositePolicyContract):
            algorithm = "PPO"
            policy = MyPPOPolicy
    """

    __test__ = False

    @pytest.fixture(params=["tuple", "dict"])
    def evaluator_factory(self, request: pytest.FixtureRequest) -> EvaluatorFactory:
        """The rollout evaluator around :attr:`policy` on the Tuple, then the Dict env."""
        from rlcore.testing.envs import make_dict_target, make_tuple_target
        from rlcore.testing.policies import PolicyEvaluatorFactory

        if not self.algorithm or self.policy is None:
            pytest.fail(f"{type(self).__name__} must set `algorithm` and `policy`", pytrace=False)
        env = make_tuple_target if request.param == "tuple" else make_dict_target
        return PolicyEvaluatorFactory(self.algorithm, self.policy, env, dict(self.config))
