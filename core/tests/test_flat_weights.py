"""Flat weights and population acting of catalog-model policies (gradient-free algorithms: ES):
the flat round trip, wrong sizes refused naming both, population actions equal to per-row
deterministic actions (Discrete, Box mean, MultiDiscrete; numpy fast path and the framework
fallback), the act-only policy refusing learning, and flat_weight_layout's refusal."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.model_policy import ForwardOnlyModelPolicy, flat_weight_layout
from rlcore.models.layout import (
    Param,
    acting_layout,
    fc_layout,
    flatten_weights,
    init_weights,
    is_value_param,
    num_params,
    q_layout,
    unflatten_weights,
    vision_layout,
)
from rlcore.models.numpy_forward import NumpyFCForward
from rlcore.rollout_evaluator import RolloutEvaluator, postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import flatten_env_major
from rlcore.testing import NumpyLSTMPolicy, check_flat_weights
from rlcore.testing.envs import make_continuous_corridor, make_corridor, make_multi_discrete_corridor

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)


class NumpyActOnlyPolicy(ForwardOnlyModelPolicy):
    """The catalog fc model in numpy, act-only (what an ES policy is), keeping its weights as one
    flat vector: the layout is the whole contract."""

    forward_calls = 0

    def build(self) -> None:
        self._layout = fc_layout(int(np.prod(self.obs_shape)), self.dist_spec.num_outputs, self.model_config)
        self.flat = flatten_weights(self._layout, init_weights(self._layout, self.seed))
        self.net = NumpyFCForward(self.model_config)
        self.net.set_weights(self._get_weights())

    def model_layout(self) -> list[Param]:
        return self._layout

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        NumpyActOnlyPolicy.forward_calls += 1
        return self.net(obs)

    def _get_weights(self) -> dict[str, np.ndarray]:
        return unflatten_weights(self._layout, self.flat)

    def _set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.flat = flatten_weights(self._layout, weights)
        self.net.set_weights(weights)


def make(action_space: Any, *, numpy_inference: bool = True, **model: Any) -> NumpyActOnlyPolicy:
    config = {"model": {"fcnet_hiddens": [8, 6], **model}, "numpy_inference": numpy_inference}
    return NumpyActOnlyPolicy(OBS_SPACE, action_space, config, seed=3)


def test_layout_flatten_round_trip_and_sizes() -> None:
    layout = fc_layout(4, 2, {"fcnet_hiddens": [5]})
    w = init_weights(layout, 0)
    flat = flatten_weights(layout, w)
    assert flat.dtype == np.float32 and flat.shape == (num_params(layout),)
    assert num_params(layout) == sum(int(np.prod(p.shape)) for p in layout) == 4 * 5 + 5 + 5 * 2 + 2 + 4 * 5 + 5 + 5 + 1
    np.testing.assert_array_equal(flat[:20], w["fc_0/kernel"].ravel())
    back = unflatten_weights(layout, flat)
    assert list(back) == [p.name for p in layout]
    for name, arr in w.items():
        np.testing.assert_array_equal(back[name], arr)
    back["fc_0/bias"][0] = 99.0  # copies: the flat vector is untouched
    assert flat[20] != 99.0


def test_layout_flatten_refuses_missing_and_wrong_shapes() -> None:
    layout = fc_layout(4, 2, {"fcnet_hiddens": [5]})
    w = init_weights(layout, 0)
    del w["value/bias"]
    with pytest.raises(ConfigError, match=r"missing \['value/bias'\]"):
        flatten_weights(layout, w)
    w = init_weights(layout, 0)
    w["fc_0/kernel"] = np.zeros((5, 4), np.float32)
    with pytest.raises(ConfigError, match="wrong shapes"):
        flatten_weights(layout, w)


@pytest.mark.parametrize("bad", [np.zeros(3, np.float32), np.zeros((1, 68), np.float32), np.zeros(69, np.float32)])
def test_unflatten_refuses_wrong_sizes_naming_both(bad: np.ndarray) -> None:
    layout = fc_layout(4, 2, {"fcnet_hiddens": [5]})
    assert num_params(layout) == 68
    with pytest.raises(
        ConfigError, match=rf"shape \({', '.join(map(str, bad.shape))},?\) \({bad.size:,} numbers\).*68 parameters"
    ):
        unflatten_weights(layout, bad)


def test_unflatten_refuses_non_finite_and_non_numbers() -> None:
    layout = fc_layout(4, 2, {"fcnet_hiddens": [5]})
    flat = np.zeros(68, np.float32)
    flat[3] = np.nan
    with pytest.raises(ConfigError, match="1 NaN or infinite values of 68"):
        unflatten_weights(layout, flat)
    with pytest.raises(ConfigError, match="must be a float vector of 68 numbers"):
        unflatten_weights(layout, ["a", "b"])  # type: ignore[arg-type]


def test_policy_flat_round_trip() -> None:
    policy = make(gym.spaces.Discrete(2))
    flat = policy.get_flat_weights()
    # the acting parameters only: 4*8+8 + 8*6+6 + 6*2+2 = 108 of the layout's 209 (the value tower's 101 left out)
    assert flat.shape == (policy.num_params,) and policy.num_params == num_params(policy.flat_layout) == 108
    assert num_params(policy.layout) == 209
    policy.set_flat_weights(flat * 2.0)
    np.testing.assert_array_equal(policy.get_flat_weights(), flat * 2.0)
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    # acting sees the new weights (the numpy mirror is refreshed)
    expected = NumpyFCForward(policy.model_config)
    expected.set_weights(policy.get_weights())
    np.testing.assert_allclose(policy.compute_actions(obs, explore=False)[2]["action_dist_inputs"], expected(obs)[0])
    with pytest.raises(ConfigError, match=f"{policy.num_params - 1:,} numbers.*{policy.num_params:,} parameters"):
        policy.set_flat_weights(flat[:-1])
    np.testing.assert_array_equal(policy.get_flat_weights(), flat * 2.0)


@pytest.mark.parametrize("model", [{}, {"vf_share_layers": True}, {"free_log_std": True}], ids=str)
def test_flat_weights_leave_out_the_value_branch(model: dict[str, Any]) -> None:
    """ES perturbs only what acting uses: the value branch (value/*, value_fc_i/*) is not in the
    flat vector, set_flat_weights leaves it as it is, get/set_weights keep the whole layout."""
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32) if model.get("free_log_std") else gym.spaces.Discrete(2)
    policy = make(space, **model)
    names = [p.name for p in policy.flat_layout]
    assert names == [p.name for p in policy.layout if not is_value_param(p.name)]
    assert not any(n.startswith("value") for n in names) and "logits/kernel" in names
    assert ("log_std" in names) is bool(model.get("free_log_std"))
    before = policy.get_weights()
    assert set(before) == {p.name for p in policy.layout}  # the whole layout
    policy.set_flat_weights(policy.get_flat_weights() + 1.0)
    after = policy.get_weights()
    for name in before:
        same = np.array_equal(after[name], before[name])
        assert same is is_value_param(name), name
    assert flat_weight_layout(policy, "ES") == policy.flat_layout


def test_acting_layout_of_the_catalog_models() -> None:
    """The default model's 134,915 parameters: 67,586 act (fc_0, fc_1, logits), 67,329 are the
    value tower; vision keeps its conv trunk and logits; Q networks have no value branch."""
    layout = fc_layout(4, 2, {"fcnet_hiddens": [256, 256]})
    assert num_params(layout) == 134_915 and num_params(acting_layout(layout)) == 67_586
    vision = vision_layout((8, 8, 3), 4, {"conv_filters": [[4, [3, 3], 2], [8, [4, 4], 1]]})
    assert [p.name for p in vision if p not in acting_layout(vision)] == ["value/kernel", "value/bias"]
    q = q_layout(4, 2, {"fcnet_hiddens": [8]}, [8], dueling=True)
    assert acting_layout(q) == q and any(p.name.startswith("state_value") for p in q)


SPACES = {
    "discrete": (gym.spaces.Discrete(3), {}),
    "box": (gym.spaces.Box(-1.0, 1.0, (2,), np.float32), {}),
    "box_free_log_std": (gym.spaces.Box(-1.0, 1.0, (2,), np.float32), {"free_log_std": True}),
    "multi_discrete": (gym.spaces.MultiDiscrete([3, 2, 4]), {}),
    "discrete_shared_vf": (gym.spaces.Discrete(3), {"vf_share_layers": True}),
    "discrete_linear": (gym.spaces.Discrete(3), {"fcnet_hiddens": []}),
}


@pytest.mark.parametrize("numpy_inference", [True, False], ids=["numpy_fast_path", "framework_fallback"])
@pytest.mark.parametrize("name", sorted(SPACES))
def test_population_actions_equal_per_row_deterministic_actions(name: str, numpy_inference: bool) -> None:
    space, model = SPACES[name]
    policy = make(space, numpy_inference=numpy_inference, **model)
    assert policy.uses_numpy_mirror is numpy_inference
    theta = policy.get_flat_weights()
    rng = np.random.default_rng(1)
    k = 7
    params = theta + rng.standard_normal((k, policy.num_params)).astype(np.float32) * 0.5
    params[3] = params[1]  # identical rows share one forward in the fallback
    obs = rng.standard_normal((k, 4)).astype(np.float32)
    actions = policy.compute_population_actions(params, obs)
    np.testing.assert_array_equal(policy.get_flat_weights(), theta)  # weights restored
    reference = make(space, numpy_inference=numpy_inference, **model)
    rows = []
    for j in range(k):
        reference.set_flat_weights(params[j])
        rows.append(reference.compute_actions(obs[j : j + 1], explore=False)[0][0])
    expected = np.stack(rows)
    assert actions.shape == expected.shape and actions.dtype == expected.dtype
    if space.dtype.kind == "f":
        np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(actions, expected)
    if space.dtype.kind != "f":
        assert len({tuple(np.ravel(a)) for a in actions}) > 1  # the rows really differ


def test_population_fast_path_runs_no_framework_forward() -> None:
    policy = make(gym.spaces.Discrete(2))
    before = NumpyActOnlyPolicy.forward_calls
    policy.compute_population_actions(np.tile(policy.get_flat_weights(), (4, 1)), np.zeros((4, 4), np.float32))
    assert NumpyActOnlyPolicy.forward_calls == before


def test_population_fallback_restores_weights_after_an_error() -> None:
    policy = make(gym.spaces.Discrete(2), numpy_inference=False)
    theta = policy.get_flat_weights()
    params = np.stack([theta + 1.0, theta])
    with pytest.raises(Exception):  # noqa: B017 - obs of the wrong width fail inside the forward
        policy.compute_population_actions(params, np.zeros((2, 9), np.float32))
    np.testing.assert_array_equal(policy.get_flat_weights(), theta)


def test_population_actions_refuse_wrong_shapes() -> None:
    policy = make(gym.spaces.Discrete(2))
    p = policy.num_params
    with pytest.raises(ConfigError, match=rf"shape \(3, {p - 1}\) for 3 observations; expected \[3, {p}\]"):
        policy.compute_population_actions(np.zeros((3, p - 1), np.float32), np.zeros((3, 4), np.float32))
    with pytest.raises(ConfigError, match=rf"shape \(2, {p}\) for 3 observations"):
        policy.compute_population_actions(np.zeros((2, p), np.float32), np.zeros((3, 4), np.float32))


def test_act_only_policy_refuses_learning() -> None:
    policy = make(gym.spaces.Discrete(2))
    assert "gradients" not in policy.capabilities and policy.loss_columns == ()
    batch = SampleBatch({"obs": np.zeros((2, 4), np.float32)})
    for call in (
        lambda: policy.compute_gradients(batch),
        lambda: policy.learn_on_batch(batch),
        lambda: policy.loss(batch),
        lambda: policy.apply_gradients({}),
    ):
        with pytest.raises(UnsupportedOperationError, match=r"learning from gradients .*only acts.*flat weights"):
            call()


def test_flat_weight_layout() -> None:
    policy = make(gym.spaces.Discrete(2))
    assert flat_weight_layout(policy, "ES") == policy.flat_layout

    class NoLayout:
        layout = None

    with pytest.raises(UnsupportedOperationError, match=r"ES perturbs a flat parameter vector, but .*NoLayout has no "):
        flat_weight_layout(NoLayout(), "ES")
    with pytest.raises(
        UnsupportedOperationError, match=r"lacks layout \(a list of Param\), get_flat_weights, set_flat_weights"
    ):
        flat_weight_layout(NoLayout(), "ES")


# -- the kit's check_flat_weights and run_episodes with population acting, in the rollout evaluator


@postprocessing()
def as_rows(fragment: Any, policy: Any, config: Any) -> SampleBatch:
    return SampleBatch({k: flatten_env_major(v) for k, v in fragment.columns.items()})


def evaluator_factory(policy: Any = None, env: Any = None, **config: Any) -> Any:
    def factory(seed: int, env_creator: Any = None) -> RolloutEvaluator:
        cfg = {"seed": seed, "num_envs": 2, "rollout_fragment_length": 8, "model": {"fcnet_hiddens": [8]}, **config}
        return RolloutEvaluator(
            env_creator or env or make_corridor, cfg, 0, policy=policy or NumpyActOnlyPolicy, postprocess=as_rows
        )

    return factory


@pytest.mark.parametrize(
    "env", [make_corridor, make_continuous_corridor, make_multi_discrete_corridor], ids=["discrete", "box", "multi"]
)
@pytest.mark.parametrize("numpy_inference", [True, False])
def test_kit_check_flat_weights_passes(env: Any, numpy_inference: bool) -> None:
    check_flat_weights(evaluator_factory(env=env, numpy_inference=numpy_inference))


def test_kit_check_policy_skips_gradient_checks_of_act_only_policies() -> None:
    from rlcore.testing.checks import CheckNotApplicable
    from rlcore.testing.policies import check_nonfinite_refused, check_partial_gradients_refused

    factory = evaluator_factory()
    for check in (check_partial_gradients_refused, check_nonfinite_refused):
        with pytest.raises(CheckNotApplicable, match="declares no 'gradients' capability"):
            check(factory)


class WrongPopulation(NumpyActOnlyPolicy):
    """Acts every row with the policy's own weights (ignores the population)."""

    def compute_population_actions(self, flat_params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        return self.compute_actions(obs, explore=False)[0]


class ForgetfulPopulation(NumpyActOnlyPolicy):
    """Leaves the last row's weights set."""

    def compute_population_actions(self, flat_params: np.ndarray, obs: np.ndarray) -> np.ndarray:
        out = super().compute_population_actions(flat_params, obs)
        self.set_flat_weights(flat_params[-1])
        return out


class SilentSize(NumpyActOnlyPolicy):
    """Refuses a wrong size without saying the sizes."""

    def set_flat_weights(self, flat: np.ndarray) -> None:
        if len(flat) != self.num_params:
            raise ValueError("bad")
        super().set_flat_weights(flat)


class ValueResetFlat(NumpyActOnlyPolicy):
    """Loads the flat vector but moves the value branch (outside the flat layout) as it does."""

    def set_flat_weights(self, flat: np.ndarray) -> None:
        super().set_flat_weights(flat)
        weights = self.get_weights()
        self.set_weights({n: w + 1.0 if is_value_param(n) else w for n, w in weights.items()})


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        (ValueResetFlat, r"set_flat_weights changed weights outside the flat layout: \['value/bias', 'value/kernel'"),
        (WrongPopulation, "compute_population_actions gave .* per-row compute_actions"),
        (ForgetfulPopulation, "compute_population_actions changed the weights"),
        (SilentSize, r"(?s)raised ValueError: bad.*name both sizes"),
    ],
)
def test_kit_check_flat_weights_catches(policy: Any, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check_flat_weights(evaluator_factory(policy, make_continuous_corridor))


def test_kit_check_flat_weights_not_applicable_without_flat_weights() -> None:
    from rlcore.testing.checks import CheckNotApplicable

    factory = evaluator_factory(NumpyLSTMPolicy, model={"use_lstm": True, "lstm_cell_size": 4})
    check_flat_weights(factory)  # recurrent: the round trip only (population acting refused)
    with pytest.raises(UnsupportedOperationError, match="population acting needs a feed-forward policy"):
        ev = factory(0)
        ev.policy.compute_population_actions(np.zeros((1, ev.policy.num_params)), np.zeros((1, 1), np.float32))

    class Plain:
        policy = object()

    with pytest.raises(CheckNotApplicable, match="has no flat-weight layout"):
        check_flat_weights(lambda seed, env_creator=None: Plain())


def test_run_episodes_with_population_acting_in_the_evaluator() -> None:
    """ES's use: one weight vector per episode, through the evaluator; the same vector gives the
    same return, and a later sample() still works."""
    import gymnasium as gym

    ev = evaluator_factory(env=lambda c: gym.make("CartPole-v1"), num_envs=4, observation_filter="NoFilter")(0)
    policy = ev.policy
    theta = policy.get_flat_weights()
    rng = np.random.default_rng(0)
    pop = theta + rng.standard_normal((3, policy.num_params)).astype(np.float32)
    per_episode = pop[[0, 1, 2, 0, 1, 2]]

    def act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        return policy.compute_population_actions(per_episode[episodes], obs)

    runs = ev.run_episodes(act, 6)
    assert runs.steps == runs.lengths.sum() and len(runs.returns) == 6
    np.testing.assert_array_equal(policy.get_flat_weights(), theta)
    assert ev.sample().count == 4 * 8


def test_run_episodes_act_errors_name_the_worker_and_episodes() -> None:
    import gymnasium as gym

    from rlcore.rollout_evaluator import PolicyRaisedError

    ev = evaluator_factory(env=lambda c: gym.make("CartPole-v1"), num_envs=2)(0)

    def act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        raise RuntimeError("no weights for these rows")

    with pytest.raises(PolicyRaisedError, match=r"act .*act with policy .*NumpyActOnlyPolicy \(worker 0, ") as info:
        ev.run_episodes(act, 3)
    assert "raised RuntimeError: no weights for these rows for a batch of 2 observations of episodes [0, 1]" in str(
        info.value
    )
    assert isinstance(info.value.__cause__, RuntimeError)
    policy = ev.policy
    runs = ev.run_episodes(lambda obs, eps: policy.compute_actions(obs, explore=False)[0], 3)  # usable after
    assert len(runs.lengths) == 3 and ev.sample().count == 16


@pytest.mark.parametrize("env", ["Pendulum-v1", "CartPole-v1"])
def test_kit_weight_round_trip_with_a_mean_std_filter(env: str) -> None:
    """Two evaluators seeded apart count different reset observations in their MeanStdFilters: the
    kit's weight round trip compares their actions with A's filter statistics given to B (filters
    are state, not weights), so a correct policy passes under MeanStdFilter too."""
    from rlcore.testing.checks import check_weight_round_trip

    check_weight_round_trip(
        evaluator_factory(env=lambda cfg: gym.make(env), observation_filter="MeanStdFilter", numpy_inference=False)
    )
