"""Pytest base classes for a framework plugin's ES policy: it acts like ES/numpy from one flat vector.

The issue's promise is that ES's policies in numpy, PyTorch and TensorFlow "produce the same
actions from the same flat vector". A framework plugin's tests subclass these with its policy
class (``policy = MyESPolicy``) and get, with the framework's own forward running
(``numpy_inference: false``):

* :class:`ESPolicyContract`: the kit's :class:`~rlcore.testing.PolicyContract` (flat weights and
  population acting, pickling, the learning methods refused without ``"gradients"``...) plus the
  weight exchange with :class:`~rl_algos.es.policy.ESNumpyPolicy` (same weights, same
  deterministic actions), on discrete, continuous and MultiDiscrete corridors, through the numpy
  mirror, and on PixelGrid-v0's uint8 frames through a conv model (population acting through
  the per-row fallback);
* :class:`ESPolicyTests`: several flat vectors give ES/numpy's logits (1e-5) and population
  actions for Discrete, Box and MultiDiscrete action spaces; an ES worker task on PixelGrid-v0; the
  learning methods refused saying why; ``use_lstm``, ``lr_schedule`` and observations of the wrong
  shape refused.

Like :mod:`rlcore.testing.contract`, importing this module imports pytest: import it from tests only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

from rl_algos.envs import make_pixel_grid
from rl_algos.es.noise import NoiseTable
from rl_algos.es.policy import ESNumpyPolicy
from rl_algos.es.worker import es_rollouts
from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.testing import PolicyContract, PolicyEvaluatorFactory
from rlcore.testing.envs import make_continuous_corridor, make_corridor, make_multi_discrete_corridor

__all__ = ["CONTRACT_CASES", "FC", "OWN_FORWARD", "VISION", "ESPolicyContract", "ESPolicyTests"]

#: The fc model of the contracts.
FC: dict[str, Any] = {"model": {"fcnet_hiddens": [8, 8]}}
#: The framework runs its own forward (not the core's numpy mirror of fc models).
OWN_FORWARD: dict[str, Any] = {**FC, "numpy_inference": False}
#: A conv model for PixelGrid-v0's 16x16 frames. ES's default MeanStdFilter takes the first frames of
#: each evaluator's envs (seeded apart), so two evaluators with equal weights would see differently
#: filtered random frames: the kit's weight checks compare them unfiltered.
VISION: dict[str, Any] = {
    "model": {"dim": 16, "conv_filters": [[4, [4, 4], 2], [8, [4, 4], 2], [8, [4, 4], 1]]},
    "observation_filter": "NoFilter",
}
_OBS = gym.spaces.Box(-2.0, 2.0, (5,), np.float32)
_SPACES: dict[str, gym.Space[Any]] = {
    "discrete": gym.spaces.Discrete(4),
    "box": gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
    "multidiscrete": gym.spaces.MultiDiscrete([3, 2]),
}


#: The contract's cases: (env creator, config, whether ES/numpy is the weight-exchange partner).
CONTRACT_CASES: dict[str, tuple[Any, dict[str, Any], bool]] = {
    "discrete": (make_corridor, OWN_FORWARD, True),
    "continuous": (make_continuous_corridor, OWN_FORWARD, True),
    "multidiscrete": (make_multi_discrete_corridor, OWN_FORWARD, True),
    "numpy-mirror": (make_corridor, FC, True),
    "vision": (make_pixel_grid, VISION, False),
}


class ESPolicyContract(PolicyContract):
    """The kit's policy contract for ES, every check once per case of :data:`CONTRACT_CASES`: the
    kit's discrete, continuous and MultiDiscrete corridors with the framework's own forward, the
    discrete corridor through the core's numpy mirror (the default ``numpy_inference``), and
    PixelGrid-v0 through :data:`VISION`'s conv model. ES/numpy is the weight-exchange partner of
    the fc cases (same weights, same deterministic actions)."""

    __test__ = False
    algorithm = "ES"

    @pytest.fixture(params=list(CONTRACT_CASES))
    def case(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def evaluator_factory(self, case: str) -> PolicyEvaluatorFactory:
        """The rollout evaluator around :attr:`policy` for the case."""
        env, config, _ = CONTRACT_CASES[case]
        return PolicyEvaluatorFactory("ES", self.policy, env, config)

    @pytest.fixture
    def other_evaluator_factory(self, case: str) -> PolicyEvaluatorFactory | None:
        """ES/numpy on the same env with the same fc model (None for the vision case)."""
        env, _, exchange = CONTRACT_CASES[case]
        return PolicyEvaluatorFactory("ES", ESNumpyPolicy, env, FC) if exchange else None


class ESPolicyTests:
    """ES-specific tests of a framework's ES policy; set ``policy`` to its class."""

    __test__ = False
    policy: ClassVar[Any] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = True

    def make(self, space: gym.Space[Any], config: dict[str, Any] = OWN_FORWARD) -> Any:
        """The policy on a 5-d Box observation space, seed 3."""
        return self.policy(_OBS, space, config, seed=3)

    @pytest.mark.parametrize("hiddens", [[8, 8], []], ids=["tanh-8-8", "linear"])
    @pytest.mark.parametrize("kind", list(_SPACES))
    def test_flat_vectors_act_as_in_the_numpy_policy(self, kind: str, hiddens: list[int]) -> None:
        """One seed builds one flat vector in both; from several flat vectors the logits agree to
        1e-5 and the population actions (the framework: one forward per distinct row; numpy: one
        batched forward) agree; the weights set before population acting are kept."""
        model = {"model": {"fcnet_hiddens": hiddens}}
        policy = self.make(_SPACES[kind], {**model, "numpy_inference": False})
        ref = ESNumpyPolicy(_OBS, _SPACES[kind], model, seed=3)
        assert not policy.uses_numpy_mirror and policy.num_params == ref.num_params
        np.testing.assert_array_equal(policy.get_flat_weights(), ref.get_flat_weights())
        rng = np.random.default_rng(0)
        obs = rng.uniform(-2, 2, (6, 5)).astype(np.float32)
        rows = rng.normal(scale=0.7, size=(6, policy.num_params)).astype(np.float32)
        rows[4] = rows[1]  # a repeated row
        for flat in rows[:3]:
            policy.set_flat_weights(flat)
            ref.set_flat_weights(flat)
            np.testing.assert_allclose(policy.forward(obs)[0], ref.forward(obs)[0], rtol=1e-5, atol=1e-5)
        got, want = policy.compute_population_actions(rows, obs), ref.compute_population_actions(rows, obs)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(policy.get_flat_weights(), rows[2])

    def test_an_es_task_on_pixel_grid_with_a_vision_model(self) -> None:
        """Antithetic pairs and an evaluation episode on PixelGrid-v0 through ES's worker task."""
        ev: Any = PolicyEvaluatorFactory("ES", self.policy, make_pixel_grid, VISION)(0)
        theta = ev.policy.get_flat_weights()
        assert ev.policy.model_kind == "vision"
        noise = NoiseTable.create(ev.policy.num_params + 100, seed=1).array
        task = {"noise_indices": np.array([0, 7, 50]), "num_eval": 1, "noise_stdev": 0.05, "seed": 0}
        out = es_rollouts(ev, noise, theta, {**task, "action_noise_std": 0.0})
        assert out["returns"].shape == (3, 2) and out["eval_returns"].shape == (1,)
        assert (out["lengths"] == 10).all() and out["steps"] == 70
        np.testing.assert_array_equal(ev.policy.get_flat_weights(), theta)  # the worker's weights untouched

    @pytest.mark.parametrize("method", ["compute_gradients", "learn_on_batch", "loss", "apply_gradients"])
    def test_learning_methods_are_refused_saying_why(self, method: str) -> None:
        ev: Any = PolicyEvaluatorFactory("ES", self.policy, None, FC)(0)
        arg = ev.policy.get_weights() if method == "apply_gradients" else ev.sample()
        before = ev.policy.get_flat_weights()
        with pytest.raises(
            UnsupportedOperationError,
            match=rf"{self.policy.__name__} does not support learning from gradients \({method}\): this policy only "
            "acts; gradient-free algorithms such as ES update its flat weights",
        ):
            getattr(ev.policy, method)(arg)
        np.testing.assert_array_equal(ev.policy.get_flat_weights(), before)

    def test_refused_configs_and_inputs(self) -> None:
        name = self.policy.__name__
        with pytest.raises(UnsupportedOperationError, match=rf"{name} does not support recurrent models"):
            self.make(_SPACES["discrete"], {"model": {"use_lstm": True}})
        with pytest.raises(UnsupportedOperationError, match=rf"{name} does not support a learning-rate schedule"):
            self.make(_SPACES["discrete"], {**FC, "lr_schedule": [[0, 0.1], [100, 0.01]]})
        policy = self.make(_SPACES["discrete"])
        params, obs = np.zeros((2, policy.num_params), np.float32), np.zeros((2, 4), np.float32)
        with pytest.raises(ConfigError, match=r"compute_population_actions: obs has shape \(2, 4\); expected \[2, 5\]"):
            policy.compute_population_actions(params, obs)
