"""Composite (Tuple / Dict) action spaces in the core: the catalog's spec, numpy sampling, the
flat <-> structured round trip, the sampler handing envs structured actions, the kit's envs."""

from __future__ import annotations

import json
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from rlcore.action_dist import (
    composite_parts,
    dist_entropy,
    dist_kl,
    dist_logp,
    flat_actions,
    sample_actions,
    structured_actions,
)
from rlcore.errors import ConfigError
from rlcore.models import ModelCatalog
from rlcore.sampling import VectorSampler
from rlcore.testing.envs import COMPOSITE_TEST_ENVS, DictTargetEnv, TupleTargetEnv

#: Nested: a Dict (keys given unsorted) holding a Tuple, MultiDiscrete with a start, a 2-d Box.
NESTED = spaces.Dict(
    {
        "move": spaces.Tuple((spaces.Discrete(3, start=-1), spaces.Box(-2.0, 2.0, (2, 2), np.float32))),
        "arm": spaces.MultiDiscrete([[2, 3], [4, 5]], start=[[1, 1], [0, 0]]),
        "grip": spaces.Box(0.0, 1.0, (1,), np.float32),
    }
)
TUPLE = spaces.Tuple((spaces.Discrete(2), spaces.Box(-1.0, 1.0, (2,), np.float32)))


def test_spec_of_a_nested_dict_follows_gymnasium_flatten_order() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    assert spec.kind == "composite" and spec.action_dtype == "float32"
    assert spec.params["paths"] == ("['arm']", "['grip']", "['move'][0]", "['move'][1]")  # sorted keys
    kinds = [c.kind for c in spec.params["children"]]
    assert kinds == ["multi_categorical", "diag_gaussian", "categorical", "diag_gaussian"]
    assert spec.num_outputs == 14 + 2 + 3 + 8 == sum(c.num_outputs for c in spec.params["children"])
    assert spec.params["input_slices"] == ((0, 14), (14, 16), (16, 19), (19, 27))
    assert spec.params["action_slices"] == ((0, 4), (4, 5), (5, 6), (6, 10))
    assert spec.action_shape == (10,)
    # gymnasium's own flattening visits the leaves in the same order
    assert list(gym.spaces.flatten_space(NESTED).shape) == [2 + 3 + 4 + 5 + 1 + 3 + 4]
    assert list(NESTED.spaces) == ["arm", "grip", "move"]


def test_spec_pickles_and_its_layout_is_json() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    assert pickle.loads(pickle.dumps(spec)) == spec
    layout = {k: spec.params[k] for k in ("paths", "input_slices", "action_slices", "structure")}
    assert json.loads(json.dumps(layout))["structure"] == {
        "dict": [["arm", 0], ["grip", 1], ["move", {"tuple": [2, 3]}]]
    }


def test_free_log_std_does_not_reach_the_parts() -> None:
    spec = ModelCatalog.get_action_dist(TUPLE, {"free_log_std": True})
    assert spec.num_outputs == 2 + 4 and not spec.params["children"][1].params["free_log_std"]


@pytest.mark.parametrize("explore", [True, False])
def test_sample_logp_is_the_sum_of_the_parts(explore: bool) -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, spec.num_outputs))
    acts, logp = sample_actions(spec, x, np.random.default_rng(1), explore=explore)
    assert acts.shape == (64, 10) and acts.dtype == np.float32 and logp.shape == (64,)
    parts = sum(dist_logp(c, x[:, a:b], acts[:, s:e]) for c, (a, b), (s, e) in composite_parts(spec))
    np.testing.assert_allclose(logp, parts, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dist_logp(spec, x, acts), parts, rtol=1e-12)
    assert np.isfinite(logp).all()
    if not explore:  # the mode: argmax and means
        again, _ = sample_actions(spec, x, np.random.default_rng(2), explore=False)
        np.testing.assert_array_equal(acts, again)


def test_entropy_and_kl_are_sums_of_the_parts() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    rng = np.random.default_rng(3)
    p, q = rng.normal(size=(8, spec.num_outputs)), rng.normal(size=(8, spec.num_outputs))
    parts = composite_parts(spec)
    np.testing.assert_allclose(dist_entropy(spec, p), sum(dist_entropy(c, p[:, a:b]) for c, (a, b), _ in parts))
    np.testing.assert_allclose(dist_kl(spec, p, q), sum(dist_kl(c, p[:, a:b], q[:, a:b]) for c, (a, b), _ in parts))
    assert (dist_kl(spec, p, q) > 0).all() and np.allclose(dist_kl(spec, p, p), 0.0)


def test_flat_and_structured_round_trip() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    NESTED.seed(0)
    env_actions = [NESTED.sample() for _ in range(20)]
    flat = flat_actions(spec, env_actions)
    assert flat.shape == (20, 10) and flat.dtype == np.float32
    back = structured_actions(spec, flat)
    for a, b in zip(env_actions, back, strict=True):
        assert NESTED.contains(b)
        assert b["move"][0] == a["move"][0] and type(b["move"][0]) is np.int64  # start -1 kept
        np.testing.assert_array_equal(b["arm"], a["arm"])
        assert b["arm"].dtype == NESTED["arm"].dtype and b["arm"].shape == (2, 2)
        np.testing.assert_allclose(b["move"][1], a["move"][1])
        assert b["grip"].dtype == np.float32


def test_structured_actions_add_start_and_clip_boxes() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    flat = np.zeros((1, 10), np.float32)
    flat[0, 4] = 7.0  # grip, outside [0, 1]
    flat[0, 6:10] = -9.0  # the 2x2 Box, outside [-2, 2]
    (a,) = structured_actions(spec, flat)
    assert a["move"][0] == -1 and a["arm"].tolist() == [[1, 1], [0, 0]]
    assert a["grip"].tolist() == [1.0] and a["move"][1].tolist() == [[-2.0, -2.0], [-2.0, -2.0]]
    (unclipped,) = structured_actions(spec, flat, clip_actions=False)
    assert unclipped["grip"].tolist() == [7.0]


def test_structured_actions_refuse_a_wrong_width() -> None:
    spec = ModelCatalog.get_action_dist(TUPLE)
    with pytest.raises(ConfigError, match=r"flat array \[B, 3\].*got shape \[2, 4\]"):
        structured_actions(spec, np.zeros((2, 4), np.float32))


@pytest.mark.parametrize(
    ("action", "match"),
    [
        ((1,), r"action must be a tuple of 2 parts"),
        ({"a": 1}, r"action must be a tuple of 2 parts"),
        ((1, np.zeros(3)), r"action part \[1\] has 3 values, the space's part takes 2"),
    ],
)
def test_flat_actions_name_the_part_that_does_not_fit(action: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        flat_actions(ModelCatalog.get_action_dist(TUPLE), [action])


def test_flat_actions_name_a_dict_path() -> None:
    spec = ModelCatalog.get_action_dist(NESTED)
    with pytest.raises(ConfigError, match=r"action\['move'\] must be a tuple of 2 parts"):
        flat_actions(spec, [{"arm": np.zeros((2, 2)), "grip": np.zeros(1), "move": 3}])
    with pytest.raises(ConfigError, match=r"must be a dict with the keys \['arm', 'grip', 'move'\]"):
        flat_actions(spec, [{"arm": 0}])


@pytest.mark.parametrize(
    ("space", "path", "what"),
    [
        (spaces.Tuple((spaces.Discrete(2), spaces.Text(5))), r"\[1\]", "Text"),
        (
            spaces.Dict({"a": spaces.Discrete(2), "b": spaces.Dict({"g": spaces.Graph(spaces.Box(0, 1, (2,)), None)})}),
            r"\['b'\]\['g'\]",
            "Graph",
        ),
        (spaces.Tuple((spaces.Sequence(spaces.Discrete(2)),)), r"\[0\]", "Sequence"),
        (spaces.Dict({"bits": spaces.MultiBinary(3)}), r"\['bits'\]", "MultiBinary"),
        (spaces.Tuple((spaces.Discrete(2), spaces.OneOf((spaces.Discrete(2), spaces.Discrete(3))))), r"\[1\]", "OneOf"),
    ],
    ids=["text", "graph-in-nested-dict", "sequence", "multibinary", "oneof"],
)
def test_an_unsupported_part_is_named_by_its_path(space: gym.Space[Any], path: str, what: str) -> None:
    with pytest.raises(
        ConfigError,
        match=rf"no action distribution for the part {path} of the action space .* "
        rf"it is {what}.*Supported parts: Discrete, MultiDiscrete and Box, nested in Tuple and Dict",
    ):
        ModelCatalog.get_action_dist(space)


def test_an_empty_tuple_or_dict_is_refused() -> None:
    with pytest.raises(ConfigError, match="has an empty Tuple at its top"):
        ModelCatalog.get_action_dist(spaces.Tuple(()))
    with pytest.raises(ConfigError, match=r"has an empty Dict at \[1\]"):
        ModelCatalog.get_action_dist(spaces.Tuple((spaces.Discrete(2), spaces.Dict({}))))


def test_a_dist_type_does_not_fit_a_composite_space() -> None:
    with pytest.raises(ConfigError, match="dist_type 'deterministic' does not fit"):
        ModelCatalog.get_action_dist(TUPLE, dist_type="deterministic")


# --------------------------------------------------------------------------- the sampler
class _Recording(gym.Wrapper):
    """Keeps every action the env was given (the env itself refuses actions outside its space)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.given: list[Any] = []

    def step(self, action: Any) -> Any:
        self.given.append(action)
        return self.env.step(action)


@pytest.mark.parametrize("env_cls", [TupleTargetEnv, DictTargetEnv])
def test_the_sampler_hands_each_env_its_action_in_the_space_structure(env_cls: type) -> None:
    envs: list[_Recording] = []

    def creator(cfg: dict[str, Any]) -> gym.Env:
        envs.append(_Recording(env_cls(cfg)))
        return envs[-1]

    sampler = VectorSampler(creator, num_envs=2, seed=0)
    spec = ModelCatalog.get_action_dist(sampler.action_space)
    rng = np.random.default_rng(0)

    def policy(obs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        acts, logp = sample_actions(spec, rng.normal(size=(len(obs), spec.num_outputs)), rng)
        return acts, {"action_logp": logp}

    frag = sampler.sample(policy, 12)
    stored = frag.columns["actions"]
    assert stored.shape == (12, 2, 3) and stored.dtype == np.float32
    for i, env in enumerate(envs):
        assert len(env.given) == 12 and all(env.action_space.contains(a) for a in env.given)
        assert isinstance(env.given[0], tuple if env_cls is TupleTargetEnv else dict)
        np.testing.assert_allclose(flat_actions(spec, env.given)[:, 0], stored[:, i, 0])  # the discrete index
    assert np.abs(stored[..., 1:]).max() > 1.0  # stored unclipped; the envs got them clipped
    as_env = sampler.to_env_actions(stored[0])  # what the envs were given at step 0
    assert len(as_env) == 2 and all(sampler.action_space.contains(a) for a in as_env)
    np.testing.assert_allclose(flat_actions(spec, as_env), flat_actions(spec, [e.given[0] for e in envs]))


# --------------------------------------------------------------------------- the kit's envs
@pytest.mark.parametrize("name", sorted(COMPOSITE_TEST_ENVS))
def test_composite_envs_pass_gymnasium_check_env(name: str) -> None:
    check_env(COMPOSITE_TEST_ENVS[name]({}), skip_render_check=True)


@pytest.mark.parametrize("env_cls", [TupleTargetEnv, DictTargetEnv])
def test_target_env_reward_needs_both_parts(env_cls: type) -> None:
    env = env_cls({"episode_len": 3})
    obs, _ = env.reset(seed=0)

    def act(bit: int, point: np.ndarray) -> Any:
        return (bit, point) if env_cls is TupleTargetEnv else {"choice": bit, "point": point}

    rewards = []
    for t in range(3):
        bit, point = int(obs[0] > 0), obs[1:].copy()
        obs, reward, terminated, truncated, _ = env.step(act(bit, point))
        rewards.append(reward)
        assert terminated == (t == 2) and not truncated
    assert rewards == pytest.approx([1.0] * 3)
    env.reset(seed=0)
    obs, _ = env.reset(seed=0)
    wrong_bit = env.step(act(1 - int(obs[0] > 0), obs[1:].copy()))[1]
    assert wrong_bit == pytest.approx(0.0)
    with pytest.raises(ValueError, match="is not in"):
        env.step(act(2, obs[1:]))


def test_the_sampler_names_the_env_of_an_unsupported_part() -> None:
    class TextPart(TupleTargetEnv):
        def __init__(self, env_config: dict[str, Any] | None = None) -> None:
            super().__init__(env_config)
            self.action_space = spaces.Tuple((spaces.Discrete(2), spaces.Dict({"say": spaces.Text(4)})))

    with pytest.raises(ConfigError, match=r"env 'Talker-v0': no action distribution for the part \[1\]\['say'\]"):
        VectorSampler(TextPart, env_name="Talker-v0")
