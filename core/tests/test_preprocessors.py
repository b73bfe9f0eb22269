"""Tests of the numpy preprocessors (rlcore.models.preprocessors)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector.utils import batch_space

from rlcore.errors import ConfigError
from rlcore.models.preprocessors import (
    DictFlatteningPreprocessor,
    FlattenPreprocessor,
    FrameStackPreprocessor,
    ImagePreprocessor,
    MultiDiscretePreprocessor,
    NoPreprocessor,
    OneHotPreprocessor,
    Preprocessor,
    TupleFlatteningPreprocessor,
    _area_resize_matrix,
    add_batch_dim,
    batch_obs,
    preprocessor_class_for,
    preprocessor_for,
)

B = 5


def rows(batch: Any, space: gym.Space[Any]) -> list[Any]:
    """Split a batch in SyncVectorEnv layout into single observations."""
    if isinstance(space, gym.spaces.Tuple):
        parts = [rows(b, s) for b, s in zip(batch, space.spaces, strict=True)]
        return [tuple(p[i] for p in parts) for i in range(len(parts[0]))]
    if isinstance(space, gym.spaces.Dict):
        parts_d = {k: rows(batch[k], s) for k, s in space.spaces.items()}
        count = len(next(iter(parts_d.values())))
        return [{k: v[i] for k, v in parts_d.items()} for i in range(count)]
    return list(np.asarray(batch))


def check_batch_matches_rows(prep: Preprocessor, space: gym.Space[Any], seed: int = 0) -> np.ndarray:
    """transform_batch on a SyncVectorEnv-style batch == transform on each row; shapes and dtypes right."""
    bspace = batch_space(space, B)
    bspace.seed(seed)
    batch = bspace.sample()
    out = prep.transform_batch(batch)
    assert out.shape == (B, *prep.shape)
    assert out.dtype == np.float32
    singles = [prep.transform(obs) for obs in rows(batch, space)]
    for single in singles:
        assert single.shape == prep.shape
        assert single.dtype == np.float32
    np.testing.assert_allclose(out, np.stack(singles), rtol=1e-6, atol=1e-6)
    return out


# ----------------------------------------------------------------------------- Box
def test_no_preprocessor_passthrough_casts_float32() -> None:
    space = gym.spaces.Box(-2.0, 2.0, shape=(4,), dtype=np.float64)
    prep = NoPreprocessor(space)
    assert prep.shape == (4,) and prep.size == 4
    obs = np.array([0.5, -1.5, 2.0, 0.0])
    out = prep.transform(obs)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, obs.astype(np.float32))
    batch = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.testing.assert_array_equal(prep.transform_batch(batch), batch.astype(np.float32))
    check_batch_matches_rows(prep, space)
    obs_space = prep.observation_space
    assert obs_space.dtype == np.float32
    np.testing.assert_array_equal(obs_space.low, np.full(4, -2.0, np.float32))


def test_no_preprocessor_rejects_wrong_shape() -> None:
    prep = NoPreprocessor(gym.spaces.Box(-1, 1, shape=(4,)))
    with pytest.raises(ValueError, match=r"\[B, 4\].*shape \(3, 5\)"):
        prep.transform_batch(np.zeros((3, 5)))
    with pytest.raises(ValueError):
        prep.transform(np.zeros(3))


def test_flatten_preprocessor_for_rank2_box_and_multibinary() -> None:
    space = gym.spaces.Box(-1, 1, shape=(2, 3), dtype=np.float32)
    prep = preprocessor_for(space)
    assert isinstance(prep, FlattenPreprocessor)
    assert prep.shape == (6,)
    obs = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(prep.transform(obs), np.arange(6, dtype=np.float32))
    check_batch_matches_rows(prep, space)

    mb = gym.spaces.MultiBinary([2, 2])
    prep_mb = preprocessor_for(mb)
    assert isinstance(prep_mb, FlattenPreprocessor) and prep_mb.shape == (4,)
    np.testing.assert_array_equal(prep_mb.transform(np.array([[1, 0], [0, 1]], np.int8)), [1, 0, 0, 1])
    check_batch_matches_rows(prep_mb, mb)


def test_box_dispatch_by_rank_and_dtype() -> None:
    assert preprocessor_class_for(gym.spaces.Box(0, 1, shape=(3,))) is NoPreprocessor
    assert preprocessor_class_for(gym.spaces.Box(0, 1, shape=(10, 10, 3))) is NoPreprocessor  # float: kept for vision
    assert preprocessor_class_for(gym.spaces.Box(0, 255, shape=(10, 10, 3), dtype=np.uint8)) is ImagePreprocessor
    assert preprocessor_class_for(gym.spaces.Box(0, 255, shape=(3, 3, 2), dtype=np.uint8)) is NoPreprocessor  # tiny
    assert preprocessor_class_for(gym.spaces.Box(0, 1, shape=())) is FlattenPreprocessor
    assert preprocessor_class_for(gym.spaces.Box(0, 1, shape=(2, 2, 2, 2))) is FlattenPreprocessor
    assert preprocessor_for(gym.spaces.Box(0, 1, shape=())).shape == (1,)


# ------------------------------------------------------------------------ Discrete
def test_one_hot() -> None:
    space = gym.spaces.Discrete(4)
    prep = OneHotPreprocessor(space)
    assert prep.shape == (4,)
    np.testing.assert_array_equal(prep.transform(2), [0, 0, 1, 0])
    np.testing.assert_array_equal(prep.transform(np.int64(0)), [1, 0, 0, 0])
    out = prep.transform_batch(np.array([3, 1, 1]))
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[3, 1, 1]])
    check_batch_matches_rows(prep, space)


def test_one_hot_with_start_and_out_of_range() -> None:
    space = gym.spaces.Discrete(3, start=-1)
    prep = OneHotPreprocessor(space)
    np.testing.assert_array_equal(prep.transform_batch(np.array([-1, 1])), [[1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="outside"):
        prep.transform(2)
    with pytest.raises(ValueError, match=r"\[B\]"):
        prep.transform_batch(np.zeros((2, 2), np.int64))


def test_multi_discrete() -> None:
    space = gym.spaces.MultiDiscrete([3, 2, 4])
    prep = MultiDiscretePreprocessor(space)
    assert prep.shape == (9,)
    np.testing.assert_array_equal(prep.transform(np.array([2, 0, 1])), [0, 0, 1, 1, 0, 0, 1, 0, 0])
    out = check_batch_matches_rows(prep, space)
    np.testing.assert_array_equal(out.sum(axis=1), np.full(B, 3.0))
    with pytest.raises(ValueError, match="outside"):
        prep.transform(np.array([3, 0, 0]))


def test_multi_discrete_matches_gymnasium_flatten_2d_and_start() -> None:
    space = gym.spaces.MultiDiscrete(np.array([[2, 3], [4, 2]]), start=np.array([[1, 0], [-2, 5]]))
    prep = preprocessor_for(space)
    assert prep.shape == (11,)
    space.seed(3)
    for _ in range(5):
        obs = space.sample()
        np.testing.assert_array_equal(prep.transform(obs), gym.spaces.flatten(space, obs))
    check_batch_matches_rows(prep, space)


# --------------------------------------------------------------------- Tuple, Dict
def nested_space() -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "pos": gym.spaces.Box(-1, 1, shape=(2,), dtype=np.float32),
            "mode": gym.spaces.Discrete(3),
            "grid": gym.spaces.Box(0, 1, shape=(2, 2), dtype=np.float32),
            "inner": gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.MultiDiscrete([2, 3]))),
        }
    )


def test_tuple_flattening() -> None:
    space = gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, shape=(2,), dtype=np.float32)))
    prep = TupleFlatteningPreprocessor(space)
    assert prep.shape == (5,)
    out = prep.transform((1, np.array([0.5, -0.5], np.float32)))
    np.testing.assert_array_equal(out, [0, 1, 0, 0.5, -0.5])
    batch = (np.array([0, 2]), np.array([[1, 1], [0, -1]], np.float32))
    np.testing.assert_array_equal(prep.transform_batch(batch), [[1, 0, 0, 1, 1], [0, 0, 1, 0, -1]])
    check_batch_matches_rows(prep, space)
    with pytest.raises(ValueError, match="tuple of 2"):
        prep.transform_batch((np.array([0]),))


def test_dict_flattening_sorted_keys_and_nesting_matches_gymnasium() -> None:
    space = nested_space()
    assert list(space.spaces) == ["grid", "inner", "mode", "pos"]  # gymnasium sorts plain dicts
    prep = DictFlatteningPreprocessor(space)
    assert prep.shape == (4 + 2 + 5 + 3 + 2,)
    assert isinstance(prep.preprocessors["inner"], TupleFlatteningPreprocessor)
    space.seed(1)
    for _ in range(5):
        obs = space.sample()
        np.testing.assert_allclose(prep.transform(obs), np.asarray(gym.spaces.flatten(space, obs), np.float32))
    check_batch_matches_rows(prep, space)
    with pytest.raises(ValueError, match="lacks the keys"):
        prep.transform_batch({"pos": np.zeros((1, 2))})
    low = prep.observation_space.low
    assert low.shape == prep.shape
    np.testing.assert_array_equal(low[:4], 0.0)  # grid
    np.testing.assert_array_equal(low[-2:], -1.0)  # pos


def test_dict_transform_batch_with_sync_vector_env() -> None:
    class DictEnv(gym.Env[Any, Any]):
        observation_space = nested_space()
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
            super().reset(seed=seed)
            self.observation_space.seed(seed)
            return self.observation_space.sample(), {}

        def step(self, action: int) -> Any:
            return self.observation_space.sample(), 0.0, False, False, {}

    envs = gym.vector.SyncVectorEnv([DictEnv for _ in range(3)])
    try:
        obs, _ = envs.reset(seed=7)
        prep = preprocessor_for(envs.single_observation_space)
        out = prep.transform_batch(obs)
        assert out.shape == (3, prep.size)
        for i in range(3):
            single = {k: (tuple(p[i] for p in v) if isinstance(v, tuple) else v[i]) for k, v in obs.items()}
            np.testing.assert_array_equal(out[i], prep.transform(single))
    finally:
        envs.close()


def test_add_batch_dim_recurses() -> None:
    space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (3,))})))
    batched = add_batch_dim((1, {"a": np.zeros(3)}), space)
    assert batched[0].shape == (1,)
    assert batched[1]["a"].shape == (1, 3)


# ---------------------------------------------------------------------------- image
def test_area_resize_matrix_rows_sum_to_one_and_preserve_mean() -> None:
    for n_in, n_out in [(210, 84), (160, 84), (84, 84), (4, 10), (7, 3)]:
        m = _area_resize_matrix(n_in, n_out)
        assert m.shape == (n_out, n_in)
        np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(m.sum(axis=0), n_out / n_in, rtol=1e-5)


def test_image_downscale_by_two_is_block_average() -> None:
    rng = np.random.default_rng(0)
    space = gym.spaces.Box(0, 255, shape=(168, 168, 3), dtype=np.uint8)
    img = rng.integers(0, 256, size=(168, 168, 3), dtype=np.uint8)
    prep = ImagePreprocessor(space, {"zero_mean": False})
    assert prep.shape == (84, 84, 3)
    out = prep.transform(img)
    expected = img.astype(np.float64).reshape(84, 2, 84, 2, 3).mean(axis=(1, 3)) / 255.0
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_image_atari_frame_resize_grayscale_zero_mean() -> None:
    space = gym.spaces.Box(0, 255, shape=(210, 160, 3), dtype=np.uint8)
    prep = preprocessor_for(space, {"grayscale": True, "dim": 84, "zero_mean": True})
    assert isinstance(prep, ImagePreprocessor)
    assert prep.shape == (84, 84, 1)
    red = np.zeros((210, 160, 3), np.uint8)
    red[..., 0] = 255
    out = prep.transform(red)
    np.testing.assert_allclose(out, 0.299 * 255 / 127.5 - 1.0, atol=1e-5)
    black, white = np.zeros_like(red), np.full_like(red, 255)
    np.testing.assert_allclose(prep.transform(black), -1.0)
    np.testing.assert_allclose(prep.transform(white), 1.0, atol=1e-6)
    # a horizontal gradient stays monotonic and keeps its mean
    grad = np.broadcast_to(np.linspace(0, 255, 160).astype(np.uint8)[None, :, None], (210, 160, 3)).copy()
    g = prep.transform(grad)[..., 0]
    assert np.all(np.diff(g[0]) >= -1e-6)
    np.testing.assert_allclose(g.mean(), grad.mean() / 127.5 - 1.0, atol=1e-4)
    bounds = prep.observation_space
    assert bounds.low.min() == -1.0 and bounds.high.max() == 1.0
    check_batch_matches_rows(prep, space)


def test_image_upscale_replicates_pixels_and_keeps_channels() -> None:
    space = gym.spaces.Box(0, 255, shape=(4, 4, 2), dtype=np.uint8)
    img = np.arange(32, dtype=np.uint8).reshape(4, 4, 2) * 8
    prep = ImagePreprocessor(space, {"dim": 8, "zero_mean": False})
    assert prep.shape == (8, 8, 2)
    expected = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1) / 255.0
    np.testing.assert_allclose(prep.transform(img), expected, atol=1e-6)


def test_image_grayscale_of_other_channel_counts_is_channel_mean() -> None:
    space = gym.spaces.Box(0, 255, shape=(8, 8, 2), dtype=np.uint8)
    img = np.zeros((8, 8, 2), np.uint8)
    img[..., 1] = 200
    prep = ImagePreprocessor(space, {"dim": 8, "grayscale": True, "zero_mean": False})
    np.testing.assert_allclose(prep.transform(img), np.full((8, 8, 1), 100 / 255.0), atol=1e-6)


def test_image_batch_is_vectorized_equal_to_rows() -> None:
    space = gym.spaces.Box(0, 255, shape=(30, 20, 3), dtype=np.uint8)
    prep = ImagePreprocessor(space, {"dim": 12})
    assert prep.shape == (12, 12, 3)
    check_batch_matches_rows(prep, space)


def test_image_errors() -> None:
    with pytest.raises(ConfigError, match=r"\[H, W, C\]"):
        ImagePreprocessor(gym.spaces.Box(0, 255, shape=(4, 4), dtype=np.uint8))
    with pytest.raises(ConfigError, match="dim"):
        ImagePreprocessor(gym.spaces.Box(0, 255, shape=(8, 8, 3), dtype=np.uint8), {"dim": 0})


# ----------------------------------------------------------------------- framestack
def test_frame_stack_over_vector_envs() -> None:
    space = gym.spaces.Box(-10, 10, shape=(2,), dtype=np.float32)
    prep = FrameStackPreprocessor(space, {"framestack": 3})
    assert prep.is_stateful and prep.shape == (6,)
    state = prep.initial_state(2)
    assert state.shape == (2, prep.state_size) and state.dtype == np.float32 and prep.state_size == 7
    f1 = np.array([[1, 1], [2, 2]], np.float32)
    np.testing.assert_array_equal(prep.transform_batch(f1, state), [[1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2]])
    f2 = np.array([[3, 3], [4, 4]], np.float32)
    out = prep.transform_batch(f2, state)
    np.testing.assert_array_equal(out, [[1, 1, 1, 1, 3, 3], [2, 2, 2, 2, 4, 4]])
    prep.reset_state(state, [1])  # env 1 starts a new episode
    f3 = np.array([[5, 5], [6, 6]], np.float32)
    out3 = prep.transform_batch(f3, state)
    np.testing.assert_array_equal(out3, [[1, 1, 3, 3, 5, 5], [6, 6, 6, 6, 6, 6]])
    out3_copy = out3.copy()
    prep.transform_batch(f3, state)
    np.testing.assert_array_equal(out3, out3_copy)  # the output does not alias the state
    prep.reset_state(state, np.array([True, False]))  # a boolean mask works too
    np.testing.assert_array_equal(prep.transform_batch(f1, state), [[1, 1, 1, 1, 1, 1], [6, 6, 6, 6, 2, 2]])


def test_frame_stack_keeps_no_hidden_state() -> None:
    """Without a state every call is a new episode; two states never see each other's frames."""
    space = gym.spaces.Box(-10, 10, shape=(1,), dtype=np.float32)
    prep = FrameStackPreprocessor(space, {"framestack": 3})
    np.testing.assert_array_equal(prep.transform_batch(np.array([[1.0]])), [[1, 1, 1]])
    np.testing.assert_array_equal(prep.transform_batch(np.array([[2.0], [3.0]])), [[2, 2, 2], [3, 3, 3]])
    np.testing.assert_array_equal(prep.transform(np.array([4.0])), [4, 4, 4])
    a, b = prep.initial_state(1), prep.initial_state(1)
    for v in (1.0, 2.0, 3.0):
        prep.transform_batch(np.array([[v]]), a)
    np.testing.assert_array_equal(prep.transform_batch(np.array([[9.0]]), b), [[9, 9, 9]])
    np.testing.assert_array_equal(prep.transform_batch(np.array([[4.0]]), a), [[2, 3, 4]])
    # Peeking (the stack a final observation would get) on a copy leaves the state as it was.
    before = a.copy()
    np.testing.assert_array_equal(prep.transform_batch(np.array([[5.0]]), a.copy()), [[3, 4, 5]])
    np.testing.assert_array_equal(a, before)


def test_frame_stack_rows_of_one_observation_are_separate_for_discrete() -> None:
    """The per-observation path takes one row of the state (a view): envs never share a stack."""
    space = gym.spaces.Discrete(5)
    prep = FrameStackPreprocessor(space, {"framestack": 3})
    state = prep.initial_state(2)

    def frames(x: np.ndarray) -> list[int]:
        return x.reshape(3, 5).argmax(axis=1).tolist()

    for o0, o1 in [(0, 4), (1, 3), (2, 2)]:
        s0, s1 = prep.transform(o0, state[0]), prep.transform(o1, state[1])
    assert frames(s0) == [0, 1, 2] and frames(s1) == [4, 3, 2]
    np.testing.assert_array_equal(
        prep.transform_batch(np.array([3, 1]), state.copy()).reshape(2, 3, 5).argmax(-1), [[1, 2, 3], [3, 2, 1]]
    )
    with pytest.raises(ValueError, match="one row"):
        prep.transform(0, state)


def test_frame_stack_state_errors() -> None:
    space = gym.spaces.Box(-10, 10, shape=(2,), dtype=np.float32)
    prep = FrameStackPreprocessor(space, {"framestack": 2})
    obs = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"2 rows for a batch of 3|\[B, 5\]"):
        prep.transform_batch(np.zeros((3, 2), np.float32), prep.initial_state(2))
    with pytest.raises(ValueError, match=r"float32 array \[B, 5\]"):
        prep.transform_batch(obs, np.zeros((2, 5)))  # float64
    with pytest.raises(ValueError, match=r"float32 array \[B, 5\]"):
        prep.transform_batch(obs, np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="contiguous rows"):
        prep.transform_batch(obs, np.zeros((2, 10), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="batch_size"):
        prep.initial_state(-1)
    with pytest.raises(ConfigError, match="stateful"):
        FrameStackPreprocessor(space, {"framestack": 2}, inner=prep)


def test_stateless_preprocessors_have_an_empty_state() -> None:
    prep = OneHotPreprocessor(gym.spaces.Discrete(3))
    assert not prep.is_stateful and prep.state_size == 0
    state = prep.initial_state(4)
    assert state.shape == (4, 0) and state.dtype == np.float32
    prep.reset_state(state, [1])  # a no-op


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Discrete(4),
        gym.spaces.MultiDiscrete([2, 3]),
        gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,)))),
        gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Tuple((gym.spaces.MultiBinary(2),))}),
    ],
)
def test_batch_obs_is_the_sync_vector_env_layout(space: gym.Space[Any]) -> None:
    bspace = batch_space(space, B)
    bspace.seed(1)
    batch = bspace.sample()
    prep = preprocessor_for(space)
    np.testing.assert_array_equal(
        prep.transform_batch(batch_obs(rows(batch, space), space)), prep.transform_batch(batch)
    )


def test_frame_stack_images_along_channels() -> None:
    space = gym.spaces.Box(0, 255, shape=(16, 16, 3), dtype=np.uint8)
    prep = FrameStackPreprocessor(space, {"framestack": 4, "dim": 8, "grayscale": True, "zero_mean": False})
    assert isinstance(prep.inner, ImagePreprocessor)
    assert prep.shape == (8, 8, 4)
    frames = [np.full((1, 16, 16, 3), v, np.uint8) for v in (0, 51, 102, 255)]
    state = prep.initial_state(1)
    for f in frames:
        out = prep.transform_batch(f, state)
    np.testing.assert_allclose(out[0, 0, 0], [0, 0.2, 0.4, 1.0], atol=1e-6)
    assert prep.observation_space.shape == (8, 8, 4)
    with pytest.raises(ConfigError, match="framestack"):
        FrameStackPreprocessor(space, {"framestack": 0})


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Text(5),
        gym.spaces.Sequence(gym.spaces.Discrete(2)),
        gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Text(3))),
        "not a space",
    ],
)
def test_unsupported_space_raises_config_error(space: Any) -> None:
    with pytest.raises(ConfigError, match="no preprocessor for the observation space") as info:
        preprocessor_for(space)
    msg = str(info.value)
    assert "Supported: Box, Discrete, MultiDiscrete" in msg
    assert ("Text" in msg) or ("Sequence" in msg) or ("str" in msg)


def test_preprocessor_class_rejects_wrong_space() -> None:
    with pytest.raises(ConfigError, match="OneHotPreprocessor handles Discrete"):
        OneHotPreprocessor(gym.spaces.Box(0, 1, shape=(2,)))
