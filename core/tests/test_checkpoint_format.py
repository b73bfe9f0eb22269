"""Checkpoint format 2: the acting spec (``meta["policy"]``) and its space codec, format-1 checkpoints
migrated on read (the 0.1.0 fixtures among them), and checkpoints of a newer format refused naming
both rlcore versions. Core only: checkpoints are written with ``write_checkpoint`` or by trainers of
numpy policies, and format-1 spaces come from a real gymnasium env."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rlcore
from rlcore.checkpoint import (
    ARRAYS_FILE,
    COMPATIBILITY,
    FORMAT_VERSION,
    META_FILE,
    MIN_FORMAT_VERSION,
    _digest,
    read_checkpoint,
    read_checkpoint_meta,
    write_checkpoint,
)
from rlcore.checkpoint_migrations import MIGRATIONS, migrate
from rlcore.errors import CheckpointError
from rlcore.models.catalog import resolve_model_config
from rlcore.models.layout import fc_layout, q_layout
from rlcore.optimizer import PolicyOptimizer
from rlcore.policy import Policy
from rlcore.space_codec import space_from_json, space_to_json
from rlcore.testing import NumpyLSTMPolicy
from rlcore.trainer import COMMON_CONFIG, Trainer

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "checkpoints"
CARTPOLE = gym.make("CartPole-v1")


# -- the space codec -----------------------------------------------------------------------
class _Custom(gym.Space):  # type: ignore[type-arg]
    """A space type of someone's own: the codec cannot record it."""


ROUND_TRIP = {
    "box_inf": spaces.Box(-np.inf, np.inf, (4,), np.float32),
    "box_mixed_inf": spaces.Box(np.array([-1.5, -np.inf], np.float32), np.array([2.25, np.inf], np.float32)),
    "box_non_uniform_2d": spaces.Box(
        np.arange(6, dtype=np.float32).reshape(2, 3) - 3, np.arange(6, dtype=np.float32).reshape(2, 3) + 0.1
    ),
    "box_uint8_image": spaces.Box(0, 255, (84, 84, 3), np.uint8),
    "box_float64": spaces.Box(-1e300, 1e300, (2, 2), np.float64),
    "box_float32_not_representable": spaces.Box(np.float32(0.1), np.float32(0.7), (3,), np.float32),
    "box_int64_extremes": spaces.Box(np.iinfo(np.int64).min, np.iinfo(np.int64).max, (3,), np.int64),
    "box_int8": spaces.Box(np.array([-128, 0], np.int8), np.array([5, 127], np.int8)),
    "box_bool": spaces.Box(0, 1, (2,), np.bool_),
    "box_scalar_shape": spaces.Box(0.5, 1.5, (), np.float32),
    "box_empty": spaces.Box(0.0, 1.0, (0,), np.float32),
    "cartpole_obs": CARTPOLE.observation_space,
    "pendulum_action": gym.make("Pendulum-v1").action_space,
    "discrete": spaces.Discrete(2),
    "discrete_start": spaces.Discrete(5, start=-2),
    "multidiscrete": spaces.MultiDiscrete([3, 4, 2]),
    "multidiscrete_start": spaces.MultiDiscrete([3, 4], start=[1, -1]),
    "multidiscrete_2d": spaces.MultiDiscrete(np.array([[2, 3], [4, 5]])),
    "multidiscrete_int32": spaces.MultiDiscrete([3, 3], dtype=np.int32),
    "multibinary": spaces.MultiBinary(4),
    "multibinary_shape": spaces.MultiBinary([2, 3]),
    "tuple_nested": spaces.Tuple(
        [spaces.Discrete(2), spaces.Dict({"z": spaces.Box(0, 1, (2,)), "a": spaces.MultiBinary(3)})]
    ),
    "dict_order": spaces.Dict([("zeta", spaces.Discrete(2)), ("alpha", spaces.Box(-1, 1, (1,)))]),
    "dict_of_tuple": spaces.Dict([("pos", spaces.Tuple([spaces.Discrete(3), spaces.Discrete(4, start=1)]))]),
    "tuple_empty": spaces.Tuple(()),
    "dict_empty": spaces.Dict({}),
}


def _leaves(space: Any) -> list[tuple[str, Any]]:
    if isinstance(space, spaces.Tuple):
        return [(f"[{i}]{p}", s) for i, sub in enumerate(space.spaces) for p, s in _leaves(sub)]
    if isinstance(space, spaces.Dict):
        return [(f"[{k}]{p}", s) for k, sub in space.spaces.items() for p, s in _leaves(sub)]
    return [("", space)]


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_space_round_trip(name):
    """Through JSON as a checkpoint writes it (sort_keys): the same space, exactly."""
    space = ROUND_TRIP[name]
    data = json.loads(json.dumps(space_to_json(space), sort_keys=True))
    back = space_from_json(data)
    assert back == space
    assert [p for p, _ in _leaves(back)] == [p for p, _ in _leaves(space)]  # Dict key order too
    for (_, a), (_, b) in zip(_leaves(back), _leaves(space), strict=True):
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
        if isinstance(a, spaces.Box):
            assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
            assert a.low.dtype == b.low.dtype
        if isinstance(a, spaces.Discrete | spaces.MultiDiscrete):
            assert np.array_equal(a.start, b.start)


def test_space_json_forms():
    """Uniform bounds are one number, infinities strings, Dict keys ordered pairs."""
    assert space_to_json(spaces.Box(0, 255, (84, 84, 3), np.uint8)) == {
        "type": "Box",
        "dtype": "uint8",
        "shape": [84, 84, 3],
        "low": 0,
        "high": 255,
    }
    assert space_to_json(CARTPOLE.observation_space)["high"][1] == "inf"
    assert space_to_json(spaces.Discrete(3, start=1)) == {"type": "Discrete", "n": 3, "start": 1}
    assert space_to_json(ROUND_TRIP["dict_order"])["spaces"][0][0] == "zeta"


@pytest.mark.parametrize(
    ("space", "match"),
    [
        (spaces.Text(5), "observation space: it is a gymnasium.spaces.text.Text"),
        (spaces.Sequence(spaces.Discrete(2)), "it is a gymnasium.spaces.sequence.Sequence"),
        (spaces.Graph(spaces.Box(0, 1, (2,)), spaces.Discrete(2)), "it is a gymnasium.spaces.graph.Graph"),
        (spaces.OneOf([spaces.Discrete(2), spaces.Discrete(3)]), "it is a gymnasium.spaces.oneof.OneOf"),
        (_Custom(), r"it is a (\w+\.)*test_checkpoint_format\._Custom, not one of the space types"),
        (spaces.Tuple([spaces.Discrete(2), spaces.Text(3)]), r"observation space\[1\]: it is a .*Text"),
        (spaces.Dict({"a": spaces.Tuple([spaces.Text(3)])}), r"observation space\['a'\]\[0\]: it is a .*Text"),
        (spaces.Dict({0: spaces.Discrete(2)}), "its Dict key 0 is not a string"),
    ],
)
def test_spaces_the_codec_cannot_record(space, match):
    with pytest.raises(CheckpointError, match=match):
        space_to_json(space, name="observation space")


BOX = {"type": "Box", "dtype": "float32", "shape": [2], "low": 0.0, "high": 1.0}


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([1, 2], "is list, not an object"),
        ({"type": "Text", "max_length": 3}, "has type 'Text', which this rlcore cannot read"),
        ({"n": 2}, "has type 'None'"),
        ({**BOX, "extra": 1}, "must have exactly the fields type, dtype, shape, low, high"),
        ({"type": "Discrete", "n": 2}, "must have exactly the fields type, n, start"),
        ({**BOX, "dtype": "object"}, "has dtype 'object', not a numeric numpy dtype"),
        ({**BOX, "dtype": "<U5"}, "not a numeric numpy dtype"),
        ({**BOX, "dtype": 5}, "not a numeric numpy dtype"),
        ({**BOX, "shape": "2"}, "has shape 2, not a list"),
        ({**BOX, "shape": [-1]}, "a shape entry -1, not an integer >= 0"),
        ({**BOX, "shape": [True]}, "a shape entry True"),
        ({**BOX, "low": "nan"}, "a low bound 'nan'"),
        ({**BOX, "low": "-Infinity"}, "a low bound '-Infinity'"),
        ({**BOX, "high": [1.0, 2.0, 3.0]}, "a high bound of shape \\[3\\] for a Box of shape \\[2\\]"),
        ({**BOX, "high": [[1.0], [2.0, 3.0]]}, "not a rectangular nested list"),
        ({**BOX, "high": {"a": 1}}, "an object"),
        ({**BOX, "low": 1.0, "high": 0.0}, "does not make a space"),
        ({**BOX, "dtype": "uint8", "high": 256}, "not an integer that fits uint8"),
        ({**BOX, "dtype": "int64", "high": "inf"}, "not an integer that fits int64"),
        ({**BOX, "dtype": "int64", "high": 1.5}, "not an integer that fits int64"),
        ({**BOX, "dtype": "bool", "high": 1}, "bounds of a bool Box are true or false"),
        ({"type": "Discrete", "n": 0, "start": 0}, "has n 0, not an integer >= 1"),
        ({"type": "Discrete", "n": 2.0, "start": 0}, "has n 2.0"),
        ({"type": "Discrete", "n": 2, "start": None}, "has start None"),
        (
            {"type": "MultiDiscrete", "nvec": [2, 0], "start": [0, 0], "dtype": "int64"},
            "every entry must be at least 1",
        ),
        ({"type": "MultiDiscrete", "nvec": [2, 2], "start": [0], "dtype": "int64"}, "start of shape \\[1\\]"),
        ({"type": "MultiDiscrete", "nvec": [2, "x"], "start": [0, 0], "dtype": "int64"}, "not an integer or nested"),
        ({"type": "MultiDiscrete", "nvec": [2], "start": [0], "dtype": "float32"}, "not a numeric numpy dtype"),
        ({"type": "MultiBinary", "n": []}, "not a shape of 1 to 32 sizes"),
        ({"type": "MultiBinary", "n": False}, "has n False"),
        ({"type": "Tuple", "spaces": {"a": BOX}}, "'spaces' that is not a list"),
        ({"type": "Tuple", "spaces": [BOX, {"type": "Box"}]}, r"space\[1\] recorded \(Box\) must have exactly"),
        ({"type": "Dict", "spaces": [["a", BOX], ["a", BOX]]}, "has the Dict key 'a' twice"),
        ({"type": "Dict", "spaces": [["a", BOX, 3]]}, "not a \\[key, space\\] pair"),
        ({"type": "Dict", "spaces": [[1, BOX]]}, "not a \\[key, space\\] pair"),
    ],
)
def test_space_json_that_rlcore_never_writes(data, match):
    with pytest.raises(CheckpointError, match=match):
        space_from_json(data)


# -- writing format 2 ----------------------------------------------------------------------
PPO_CONFIG: dict[str, Any] = {
    "model": {"fcnet_hiddens": [16]},
    "observation_filter": "MeanStdFilter",
    "clip_actions": True,
    "env_config": {},
}
DQN_CONFIG: dict[str, Any] = {
    "model": {"fcnet_hiddens": [16]},
    "hiddens": [8],
    "dueling": True,
    "observation_filter": "NoFilter",
    "clip_actions": False,
    "env_config": {},
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.02,
    "exploration_timesteps": 10000,
}


def _meta(algorithm: str = "PPO", env: str = "CartPole-v1", config: dict | None = None, **extra: Any) -> dict:
    return {
        "algorithm": algorithm,
        "framework": "torch",
        "env": env,
        "config": PPO_CONFIG if config is None else config,
        "iteration": 2,
        "timesteps_total": 400,
        "versions": {"rlcore": rlcore.__version__},
        **extra,
    }


def _state(global_vars: dict | None = None) -> dict:
    weights = {"fc_0/kernel": np.ones((4, 16), np.float32), "logits/bias": np.zeros(2, np.float32)}
    return {
        "counters": {"iteration": 2, "timesteps_total": 400, "episodes_total": 3, "time_total_s": 1.0},
        "recent_episodes": np.zeros((0, 2)),
        "evaluator": {"weights": weights, "global_vars": global_vars or {"timestep": 400}, "filter": {}},
        "optimizer": {},
        "algorithm": {},
    }


def _rewrite(path: Path, edit: Callable[[dict], None]) -> None:
    """Edit checkpoint.json and give it a valid digest again (as older or newer code would have written it)."""
    meta = json.loads((path / META_FILE).read_text())
    edit(meta)
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))


def _as_format_1(meta: dict) -> None:
    """checkpoint.json as format 1 wrote it: no acting spec."""
    meta.pop("policy", None)
    meta.pop("policy_unavailable", None)
    meta["format_version"] = 1


def _format_1(tmp_path: Path, state: dict | None = None, **meta: Any) -> Path:
    path = write_checkpoint(tmp_path / "checkpoint_000002", _state() if state is None else state, _meta(**meta))
    _rewrite(path, _as_format_1)
    return path


SPEC: dict[str, Any] = {
    "observation_space": space_to_json(CARTPOLE.observation_space),
    "action_space": space_to_json(CARTPOLE.action_space),
    "policy_class": "rl_torch.ppo:PPOTorchPolicy",
    "framework": "torch",
    "action_outputs": "dist",
    "model": resolve_model_config({"fcnet_hiddens": [16]}),
    "model_kind": "fc",
    "q_head": None,
    "observation_filter": "MeanStdFilter",
    "clip_actions": True,
    "weights": ["evaluator", "weights"],
}


def test_format_2_records_the_acting_spec(tmp_path):
    path = write_checkpoint(tmp_path / "c", _state(), _meta(policy=SPEC))
    on_disk = json.loads((path / META_FILE).read_text())
    assert on_disk["format_version"] == FORMAT_VERSION == 2
    assert on_disk["policy"] == json.loads(json.dumps(SPEC)) and "policy_unavailable" not in on_disk
    assert "written_format_version" not in on_disk
    ckpt = read_checkpoint(path)
    assert ckpt.written_format_version == 2 and ckpt.meta["written_format_version"] == 2
    assert ckpt.policy_spec == ckpt.meta["policy"] == on_disk["policy"]
    assert space_from_json(ckpt.policy_spec["observation_space"]) == CARTPOLE.observation_space
    assert read_checkpoint_meta(path)["policy"] == on_disk["policy"]


def test_format_2_without_a_spec_says_why(tmp_path):
    ckpt = read_checkpoint(write_checkpoint(tmp_path / "a", _state(), _meta()))
    assert ckpt.policy_spec is None and ckpt.meta["policy"] is None
    assert "recorded no acting spec" in ckpt.meta["policy_unavailable"]
    reason = "its evaluator is a whole evaluator"
    ckpt = read_checkpoint(write_checkpoint(tmp_path / "b", _state(), _meta(policy=None, policy_unavailable=reason)))
    assert ckpt.meta["policy_unavailable"] == reason


def test_written_format_version_is_the_files_own(tmp_path):
    """rlcore never writes the key; one forged into the file is not believed."""
    path = _format_1(tmp_path)
    _rewrite(path, lambda meta: meta.update(written_format_version=2))
    assert read_checkpoint(path).written_format_version == 1
    assert read_checkpoint_meta(path)["written_format_version"] == 1


def test_write_refuses_a_spec_that_is_not_a_dict(tmp_path):
    with pytest.raises(CheckpointError, match="meta\\['policy'\\] must be the acting spec"):
        write_checkpoint(tmp_path / "c", _state(), _meta(policy=["obs"]))
    assert not (tmp_path / "c").exists()


def test_a_read_checkpoint_written_again_is_format_2(tmp_path):
    """The migrated meta of a format-1 checkpoint written back: format 2, its own written version."""
    ckpt = read_checkpoint(_format_1(tmp_path))
    again = read_checkpoint(write_checkpoint(tmp_path / "again", ckpt.state, ckpt.meta))
    assert again.written_format_version == 2 and again.policy_spec == ckpt.policy_spec


# -- format 1, migrated on read -------------------------------------------------------------
def test_format_1_is_migrated_on_read_and_never_rewritten(tmp_path):
    path = _format_1(tmp_path)
    before = {name: (path / name).read_bytes() for name in (META_FILE, ARRAYS_FILE)}
    ckpt = read_checkpoint(path)
    assert {name: (path / name).read_bytes() for name in (META_FILE, ARRAYS_FILE)} == before
    assert ckpt.meta["format_version"] == FORMAT_VERSION and ckpt.written_format_version == 1
    spec = ckpt.policy_spec
    assert spec is not None and "policy_unavailable" not in ckpt.meta
    assert space_from_json(spec["observation_space"]) == CARTPOLE.observation_space
    assert space_from_json(spec["action_space"]) == CARTPOLE.action_space
    assert spec == {
        **json.loads(json.dumps(SPEC)),
        "policy_class": None,  # format 1 does not record it
    }
    assert read_checkpoint_meta(path)["policy"] == spec
    assert ckpt.state["evaluator"]["global_vars"] == {"timestep": 400}  # PPO: nothing filled in


def test_format_1_q_algorithms(tmp_path):
    """DQN and APEX act from Q-values: the Q head from the config; the epsilon of 0.1.0's schedule."""
    half = _format_1(tmp_path / "half", _state({"timestep": 5000}), algorithm="DQN", config=DQN_CONFIG)
    ckpt = read_checkpoint(half)
    assert ckpt.policy_spec["action_outputs"] == "q"
    assert ckpt.policy_spec["q_head"] == {"hiddens": [8], "dueling": True}
    assert ckpt.policy_spec["observation_filter"] == "NoFilter" and ckpt.policy_spec["clip_actions"] is False
    assert ckpt.state["evaluator"]["global_vars"] == {"timestep": 5000, "epsilon": pytest.approx(0.51)}
    assert read_checkpoint_meta(half)["state"]["evaluator"]["global_vars"]["epsilon"] == pytest.approx(0.51)
    late = _format_1(tmp_path / "late", _state({"timestep": 12000}), algorithm="APEX", config=DQN_CONFIG)
    assert read_checkpoint(late).state["evaluator"]["global_vars"]["epsilon"] == pytest.approx(0.02)
    kept = _format_1(tmp_path / "kept", _state({"timestep": 10, "epsilon": 0.3}), algorithm="DQN", config=DQN_CONFIG)
    assert read_checkpoint(kept).state["evaluator"]["global_vars"] == {"timestep": 10, "epsilon": 0.3}


def test_format_1_config_defaults(tmp_path):
    """A config without observation_filter/clip_actions (the defaults of then): NoFilter, True."""
    config = {"model": {"fcnet_hiddens": [8], "use_lstm": True, "lstm_cell_size": 4}}
    spec = read_checkpoint(_format_1(tmp_path, config=config)).policy_spec
    assert spec["observation_filter"] == "NoFilter" and spec["clip_actions"] is True
    assert spec["model_kind"] == "lstm" and spec["model"]["lstm_cell_size"] == 4 and spec["q_head"] is None


@pytest.mark.parametrize(
    ("env", "config", "match"),
    [
        ("NoSuchEnv-v0", PPO_CONFIG, "its env 'NoSuchEnv-v0' cannot be made here \\(UnknownNameError"),
        ("CartPole-v1", {**PPO_CONFIG, "env_config": {"gravity_typo": 1}}, "its env 'CartPole-v1' cannot be made"),
    ],
)
def test_format_1_env_that_cannot_be_made(tmp_path, env, config, match):
    """No spaces, so no acting spec: the reason is recorded and the read (a restore) still works."""
    ckpt = read_checkpoint(_format_1(tmp_path, env=env, config=config))
    assert ckpt.policy_spec is None and ckpt.written_format_version == 1
    reason = ckpt.meta["policy_unavailable"]
    assert re.search(match, reason), reason
    assert "register the env first (rlcore.register_env(name, creator)" in reason
    assert ckpt.state["evaluator"]["weights"]["fc_0/kernel"].shape == (4, 16)


class _CountingCartPole:
    """An env creator that counts the envs it makes (and can fail the first ``fail`` times)."""

    def __init__(self, fail: int = 0) -> None:
        self.configs: list[dict] = []
        self.fail = fail

    def __call__(self, env_config: dict) -> Any:
        self.configs.append(dict(env_config))
        if len(self.configs) <= self.fail:
            raise RuntimeError("the env's server is not up yet")
        return gym.make("CartPole-v1")


def _counted_format_1(tmp_path: Path, env: str) -> Path:
    """A real format-1 checkpoint (weights that act) of the registered env ``env``."""
    from .test_inference import evaluator, save, trained

    config = {"env_config": {}, "model": {"fcnet_hiddens": [8]}, "observation_filter": "MeanStdFilter"}
    path = save(trained(evaluator("CartPole-v1")), tmp_path, env=env, config=config)
    _rewrite(path, _as_format_1)
    return path


def test_format_1_spaces_are_made_once_per_process(fresh_registry, tmp_path, capsys):
    """Every read migrates a format-1 checkpoint, metadata-only reads too (the CLI header, a
    restore's config): the env is made once for its spaces, not once per read."""
    from rlcore.cli import main

    fresh_registry()
    counting = _CountingCartPole()
    rlcore.register_env("Counting-v0", counting)
    path = _counted_format_1(tmp_path, "Counting-v0")
    for _ in range(3):
        assert read_checkpoint_meta(path)["policy"]["model_kind"] == "fc"
        assert read_checkpoint(path).policy_spec["observation_filter"] == "MeanStdFilter"
    policy = rlcore.policy.load(path)
    assert policy.compute_action([0.0, 0.0, 0.0, 0.0]) in (0, 1)
    assert len(counting.configs) == 1
    assert main(["rollout", str(path), "--episodes", "1"]) == 0 and "acting with numpy" in capsys.readouterr().err
    assert len(counting.configs) == 2  # the rollout's own env; its header and policy made none
    # the spaces are those of what makes the env now: registered again, it is made again
    again = _CountingCartPole()
    rlcore.register_env("Counting-v0", again, override=True)
    read_checkpoint_meta(path)
    read_checkpoint_meta(path)
    assert len(again.configs) == 1 and len(counting.configs) == 2
    # another env_config is another env
    other = _counted_format_1(tmp_path / "other", "Counting-v0")
    _rewrite(other, lambda m: m["config"]["env_config"].update(size=3))
    read_checkpoint_meta(other)
    read_checkpoint_meta(other)
    assert again.configs == [{}, {"size": 3}]


def test_format_1_env_that_failed_is_made_again_at_the_next_read(fresh_registry, tmp_path):
    """Only spaces that were made are kept: an env that failed (not registered yet, or its
    constructor raising) is tried again, so registering it afterwards works."""
    fresh_registry()
    path = _counted_format_1(tmp_path, "Flaky-v0")
    assert read_checkpoint_meta(path)["policy"] is None  # not registered yet
    flaky = _CountingCartPole(fail=1)
    rlcore.register_env("Flaky-v0", flaky)
    assert "the env's server is not up yet" in read_checkpoint_meta(path)["policy_unavailable"]
    assert read_checkpoint_meta(path)["policy"]["model_kind"] == "fc"
    assert read_checkpoint(path).policy_spec is not None and len(flaky.configs) == 2


def test_format_1_model_config_this_rlcore_refuses(tmp_path):
    ckpt = read_checkpoint(_format_1(tmp_path, config={"model": {"fcnet_hidden": [16]}}))
    assert ckpt.policy_spec is None
    assert "its model config {'fcnet_hidden': [16]} does not resolve" in ckpt.meta["policy_unavailable"]


def test_format_1_whole_evaluator(tmp_path):
    state = {**_state(), "evaluator": {"theta": np.zeros(3, np.float32)}}
    ckpt = read_checkpoint(_format_1(tmp_path, state=state, algorithm="ARS"))
    assert ckpt.policy_spec is None
    assert "holds no weights dict at evaluator.weights" in ckpt.meta["policy_unavailable"]


def test_migrations_chain_to_the_current_format():
    assert sorted(MIGRATIONS) == list(range(MIN_FORMAT_VERSION, FORMAT_VERSION))
    meta = {**_meta(), "format_version": 1}
    state = _state()
    out_meta, out_state = migrate(meta, state)
    assert out_meta["format_version"] == FORMAT_VERSION and out_meta["written_format_version"] == 1
    assert meta["format_version"] == 1 and "policy" not in meta  # the inputs are left as they were
    assert out_state["evaluator"] is state["evaluator"]
    same_meta, same_state = migrate(out_meta, out_state)
    assert same_meta == out_meta and same_state is out_state


# -- newer formats -------------------------------------------------------------------------
def _newer(tmp_path: Path, version: int = 3, versions: Any = None) -> Path:
    path = write_checkpoint(tmp_path / "checkpoint_000002", _state(), _meta(policy=SPEC))

    def edit(meta: dict) -> None:
        meta["format_version"] = version
        if versions is None:
            meta.pop("versions")
        else:
            meta["versions"] = versions
        meta["model_card"] = {"something": "format 3 has"}

    _rewrite(path, edit)
    return path


def test_a_newer_format_is_refused_naming_both_versions(tmp_path):
    path = _newer(tmp_path, 3, {"rlcore": "0.3.0", "rlcore-torch": "0.3.0"})
    for read in (read_checkpoint, read_checkpoint_meta):
        with pytest.raises(CheckpointError) as info:
            read(path)
        assert str(info.value) == (
            f"{path / META_FILE}: checkpoint format 3 was written by rlcore 0.3.0; this is rlcore "
            f"{rlcore.__version__}, which reads checkpoint formats 1-2: upgrade rlcore (pip install -c "
            "constraints.txt ./core from a checkout of 0.3.0 or later)"
        )
    with pytest.raises(
        CheckpointError, match=re.escape("checkpoint format 17 was written by rlcore 1.4.2rc1; this is")
    ):
        read_checkpoint(_newer(tmp_path / "b", 17, {"rlcore": "1.4.2rc1"}))


@pytest.mark.parametrize(
    "versions",
    [None, "0.3.0", {}, {"rlcore": 3}, {"rlcore": None}, {"rlcore": "0.3.0\nrm -rf /"}, {"rlcore": "9" * 500}],
    ids=["missing", "string", "empty", "number", "null", "newline", "long"],
)
def test_a_newer_format_without_a_readable_version(tmp_path, versions):
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(_newer(tmp_path, 3, versions))
    msg = str(info.value)
    assert "checkpoint format 3 was written by an unknown rlcore version (its 'versions' field names none)" in msg
    assert f"this is rlcore {rlcore.__version__}, which reads checkpoint formats 1-2" in msg
    assert "from a checkout of a newer rlcore)" in msg and "\n" not in msg and len(msg) < 600


# -- the 0.1.0 fixtures, written by rlcore 0.1.0 itself -------------------------------------
FIXTURES_010 = sorted(p.parent for p in (FIXTURES / "0.1.0").glob("*/checkpoint_*/" + META_FILE))


def test_the_0_1_0_fixtures_are_there():
    assert [p.parent.name for p in FIXTURES_010] == ["dqn_tf", "dqn_torch", "ppo_tf", "ppo_torch"]


@pytest.mark.parametrize("path", FIXTURES_010, ids=lambda p: p.parent.name)
def test_0_1_0_fixture_migrates(path):
    algorithm, framework = path.parent.name.split("_")
    ckpt = read_checkpoint(path)
    assert ckpt.written_format_version == 1 and ckpt.meta["versions"]["rlcore"] == "0.1.0"
    assert ckpt.algorithm == algorithm.upper() and ckpt.framework == framework
    spec = ckpt.policy_spec
    assert spec is not None, ckpt.meta.get("policy_unavailable")
    assert space_from_json(spec["observation_space"]) == CARTPOLE.observation_space
    assert space_from_json(spec["action_space"]) == CARTPOLE.action_space
    assert spec["framework"] == framework and spec["model_kind"] == "fc" and spec["policy_class"] is None
    assert spec["model"] == resolve_model_config({"fcnet_hiddens": [16]})
    weights = ckpt.state["evaluator"]["weights"]
    if algorithm == "dqn":
        assert spec["action_outputs"] == "q" and spec["q_head"] == {"hiddens": [16], "dueling": True}
        layout = q_layout(4, 2, spec["model"], spec["q_head"]["hiddens"], spec["q_head"]["dueling"])
        # 0.1.0's DQN evaluator computed epsilon from the timestep; the migration records it
        assert ckpt.state["evaluator"]["global_vars"]["epsilon"] == pytest.approx(0.02)
    else:
        assert spec["action_outputs"] == "dist" and spec["q_head"] is None
        assert spec["observation_filter"] == "MeanStdFilter"
        layout = fc_layout(4, 2, spec["model"])
    # the weights 0.1.0 wrote are the layout today's catalog gives the migrated spec
    assert {k: v.shape for k, v in weights.items()} == {p.name: p.shape for p in layout}
    assert all(v.dtype == np.float32 for v in weights.values())


def test_compatibility_table_names_real_fixtures():
    assert COMPATIBILITY and COMPATIBILITY[0].rlcore == "0.1.0"
    for row in COMPATIBILITY:
        folders = sorted((REPO / row.fixtures).glob("*/checkpoint_*"))
        assert folders, f"no fixtures of rlcore {row.rlcore} in {row.fixtures}"
        for folder in folders:
            meta = json.loads((folder / META_FILE).read_text())
            assert meta["format_version"] == row.format_version and meta["versions"]["rlcore"] == row.rlcore
    assert max(row.format_version for row in COMPATIBILITY) <= FORMAT_VERSION


# -- Trainer.save writes the spec, and never fails for want of one ---------------------------
class _NoLearning(PolicyOptimizer):
    def step(self) -> dict[str, Any]:
        raise NotImplementedError("these trainers only save")


def _as_is(fragment: Any, policy: Any, config: Any) -> Any:
    return fragment


class _SpecTrainer(Trainer):
    name = "SPEC"
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "framework": "numpy", "rollout_fragment_length": 5}
    postprocessing = staticmethod(_as_is)

    def setup(self) -> None:
        self.build_evaluators(self.name)
        self.optimizer = _NoLearning(self.workers, {})


class _PlainTrainer(_SpecTrainer):
    name = "SPEC_PLAIN"


class _ConstantPolicy(Policy):
    """A policy that is not a ModelPolicy: nothing records how it acts."""

    capabilities = frozenset({"discrete"})

    def __init__(self, observation_space, action_space, config, *, seed=None):
        self.observation_space, self.action_space, self.config = observation_space, action_space, config

    def compute_actions(self, obs, state=None, explore=True):
        return np.zeros(len(obs), np.int64), [], {}

    def compute_gradients(self, batch):
        raise NotImplementedError("it only acts")

    def apply_gradients(self, grads):
        raise NotImplementedError("it only acts")

    def get_weights(self):
        return {"w": np.zeros(1, np.float32)}

    def set_weights(self, weights):
        pass


class _IntKeyEnv(gym.Env):  # type: ignore[type-arg]
    """Observations a Dict with integer keys: rlcore samples it, a checkpoint cannot record its space."""

    def __init__(self, config: dict | None = None) -> None:
        self.observation_space = spaces.Dict({0: spaces.Box(-1, 1, (2,), np.float32), 1: spaces.Discrete(3)})
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 1.0, False, False, {}


LSTM = {"model": {"use_lstm": True, "lstm_cell_size": 4, "fcnet_hiddens": [8]}, "seed": 0}


@pytest.fixture
def trainers(fresh_registry):
    fresh_registry()
    rlcore.register_policy("SPEC", "numpy", NumpyLSTMPolicy)
    rlcore.register_algorithm("SPEC", _SpecTrainer)
    rlcore.register_policy("SPEC_PLAIN", "numpy", _ConstantPolicy)
    rlcore.register_algorithm("SPEC_PLAIN", _PlainTrainer)
    rlcore.register_env("IntKeyDict-v0", _IntKeyEnv)
    return _SpecTrainer, _PlainTrainer


def test_trainer_save_records_the_acting_spec(trainers, tmp_path):
    spec_trainer, _ = trainers
    with spec_trainer({**LSTM, "observation_filter": "MeanStdFilter"}, env="CartPole-v1") as trainer:
        path = trainer.save(tmp_path)
        assert trainer.acting_spec() == read_checkpoint(path).policy_spec
        weights = trainer.local_evaluator.get_weights()
    ckpt = read_checkpoint(path)
    spec = ckpt.policy_spec
    assert "policy_unavailable" not in ckpt.meta and ckpt.written_format_version == 2
    assert space_from_json(spec["observation_space"]) == CARTPOLE.observation_space
    assert space_from_json(spec["action_space"]) == CARTPOLE.action_space
    assert spec["policy_class"] == "rlcore.testing.policies:NumpyLSTMPolicy"
    assert (spec["framework"], spec["action_outputs"], spec["model_kind"]) == ("numpy", "dist", "lstm")
    assert spec["model"] == resolve_model_config(LSTM["model"]) and spec["q_head"] is None
    assert (spec["observation_filter"], spec["clip_actions"]) == ("MeanStdFilter", True)
    found: Any = ckpt.state
    for key in spec["weights"]:
        found = found[key]
    assert sorted(found) == sorted(weights) and all(np.array_equal(found[k], weights[k]) for k in weights)


def test_trainer_save_never_fails_for_want_of_a_spec(trainers, tmp_path):
    spec_trainer, plain_trainer = trainers
    with spec_trainer(LSTM, env="IntKeyDict-v0") as trainer:  # a space the codec cannot record
        ckpt = read_checkpoint(trainer.save(tmp_path / "a"))
        assert trainer.acting_spec() is None
    assert ckpt.policy_spec is None
    assert ckpt.meta["policy_unavailable"] == (
        "the acting spec could not be made: CheckpointError: cannot record the observation space: its Dict key 0 "
        "is not a string (a checkpoint records Dict spaces with string keys only)"
    )
    with plain_trainer({}, env="CartPole-v1") as trainer:  # not a ModelPolicy
        ckpt = read_checkpoint(trainer.save(tmp_path / "b"))
    assert ckpt.policy_spec is None
    assert re.match(
        r"its policy (\w+\.)*test_checkpoint_format\._ConstantPolicy is not a ModelPolicy",
        reason := ckpt.meta["policy_unavailable"],
    ), reason


@pytest.mark.parametrize(
    "argv",
    [["rollout", "{path}", "--episodes", "1"], ["train", "--restore", "{path}"]],
    ids=["rollout", "train_restore"],
)
def test_a_newer_format_through_the_cli(tmp_path, capsys, argv):
    """``rlcore rollout`` and ``rlcore train --restore``: the same one line, exit code 2, nothing run."""
    from rlcore.cli import main

    path = _newer(tmp_path, 3, {"rlcore": "0.3.0"})
    assert main([a.format(path=path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlcore: error: ")
    assert f"checkpoint format 3 was written by rlcore 0.3.0; this is rlcore {rlcore.__version__}" in err
