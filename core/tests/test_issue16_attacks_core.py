"""Issue 16 attacks (core only): bad input at the numpy-acting boundary is one RLCoreError.

Checkpoints of newer or garbled formats, tampered acting specs (with a valid digest recomputed,
as a forger or an older/newer rlcore would write them), observation-filter statistics that
cannot be, drifted fixture files, wrong observations, acting states, ``explore`` and seeds,
and paths that are not a checkpoint: each is one clear error naming what is wrong and what to
do, never a numpy/KeyError traceback, a hang, an allocation of the edited size, or a silent
wrong action. The tampered checkpoints are copies of the repository's fixtures (written by
rlcore 0.1.0 and 0.2.0 themselves) and checkpoints of a real core RolloutEvaluator.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rlcore
import rlcore.policy
from rlcore.checkpoint import META_FILE, read_checkpoint, write_checkpoint
from rlcore.cli import main
from rlcore.env_checks import ObservationArgumentError
from rlcore.errors import CheckpointError, ConfigError, FrameworkRequiredError, RLCoreError
from rlcore.inference import load_policy
from rlcore.model_policy import RecurrentStateError
from rlcore.space_codec import MAX_SPACE_VALUES
from rlcore.testing.checkpoint_fixtures import (
    EXPECTED_FILE,
    CheckpointFixture,
    check_fixture_actions,
    check_fixture_returns,
    rewrite_checkpoint_meta,
)
from rlcore.testing.policies import NumpyLSTMPolicy

from .test_inference import evaluator, save, trained

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "checkpoints"
PPO = FIXTURES / "0.2.0" / "ppo_torch"
DQN = FIXTURES / "0.2.0" / "dqn_torch"
PPO_010 = FIXTURES / "0.1.0" / "ppo_torch"
OBS = [0.01, -0.02, 0.03, 0.04]


def _checkpoint_of(fixture: Path) -> Path:
    return next(p.parent for p in fixture.glob(f"checkpoint_*/{META_FILE}"))


def tampered(tmp_path: Path, fixture: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    """A copy of ``fixture``'s checkpoint whose checkpoint.json ``edit`` changed, its digest valid again."""
    src = _checkpoint_of(fixture)
    dst = tmp_path / fixture.parent.name / fixture.name / src.name
    shutil.copytree(src, dst)
    return rewrite_checkpoint_meta(dst, edit)


def _expected_actions(fixture: Path) -> tuple[np.ndarray, list[Any]]:
    expected = json.loads((fixture / EXPECTED_FILE).read_text())
    return np.asarray(expected["observations"], np.float32), expected["actions"]


def _acts_as_recorded(path: Path, fixture: Path) -> None:
    observations, actions = _expected_actions(fixture)
    assert rlcore.policy.load(path).compute_actions(observations).tolist() == actions


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg and len(msg) < 1200, msg
    return msg


# -- format versions -----------------------------------------------------------------------


@pytest.mark.reliability
def test_a_newer_format_names_both_versions(tmp_path):
    path = tampered(tmp_path, PPO, lambda m: m.update(format_version=3, versions={"rlcore": "0.3.0"}))
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    msg = _one_line(info.value)
    assert "checkpoint format 3 was written by rlcore 0.3.0" in msg
    assert f"this is rlcore {rlcore.__version__}, which reads checkpoint formats 1-2" in msg
    assert "upgrade rlcore (pip install -c constraints.txt ./core from a checkout of 0.3.0 or later)" in msg


@pytest.mark.reliability
def test_format_2_written_by_a_newer_rlcore_is_read(tmp_path):
    """The format, not the writing version, says what can be read: a 0.9.0 that still writes format 2."""
    path = tampered(tmp_path, PPO, lambda m: m["versions"].update(rlcore="0.9.0"))
    _acts_as_recorded(path, PPO)
    assert rlcore.policy.load(path).versions["rlcore"] == "0.9.0"


@pytest.mark.reliability
@pytest.mark.parametrize("writer", ["0.2.0", "0.1.0", "0.0.1"])
def test_a_newer_format_claimed_by_a_version_not_newer_is_an_edit(tmp_path, writer):
    path = tampered(tmp_path, PPO, lambda m: m.update(format_version=3, versions={"rlcore": writer}))
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    msg = _one_line(info.value)
    assert f"checkpoint format 3 cannot have been written by rlcore {writer}" in msg
    assert "the checkpoint was edited" in msg and "upgrade" not in msg


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("version", "shown"),
    [
        (10**30, "format_version 10000000000000000000..., not a checkpoint format any rlcore wrote"),
        (1001, "format_version 1001, not a checkpoint format any rlcore wrote"),
        (0, "format_version 0, not a checkpoint format rlcore ever wrote"),
        (-1, "format_version -1, not"),
        ("2", "format_version '2', not"),
        (2.0, "format_version 2.0, not"),
        (True, "format_version True, not"),
        (None, "format_version None, not"),
    ],
)
def test_format_versions_that_are_not_formats(tmp_path, version, shown):
    path = tampered(tmp_path, PPO, lambda m: m.update(format_version=version))
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    msg = _one_line(info.value)
    assert shown in msg and "the checkpoint is corrupted" in msg


@pytest.mark.reliability
@pytest.mark.parametrize("versions", [[1, 2], None, {"rlcore": ["0.3.0"]}, {"rlcore": ""}])
def test_a_newer_format_with_garbled_versions(tmp_path, versions):
    path = tampered(tmp_path, PPO, lambda m: m.update(format_version=3, versions=versions))
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    msg = _one_line(info.value)
    assert "format 3" in msg and f"this is rlcore {rlcore.__version__}" in msg


@pytest.mark.reliability
@pytest.mark.parametrize("policy", [{"observation_space": "garbage"}, None, [1, 2]], ids=["dict", "null", "list"])
def test_a_format_1_checkpoint_with_a_policy_key_is_migrated_from_what_format_1_means(tmp_path, policy):
    """Format 1 never wrote "policy": one present is not believed; the migration makes the spec."""
    path = tampered(tmp_path, PPO_010, lambda m: m.update(policy=policy))
    ckpt = read_checkpoint(path)
    assert ckpt.written_format_version == 1 and ckpt.policy_spec is not None
    assert ckpt.policy_spec["observation_space"]["type"] == "Box"
    _acts_as_recorded(path, PPO_010)


@pytest.mark.reliability
@pytest.mark.parametrize("field", ["env", "config", "algorithm", "framework", "versions", "state"])
def test_a_format_1_checkpoint_missing_a_field(tmp_path, field):
    path = tampered(tmp_path, PPO_010, lambda m: m.pop(field))
    with pytest.raises(CheckpointError, match=f"lacks the field '{field}': the checkpoint is corrupted"):
        rlcore.policy.load(path)


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda c: c.update(model="abc"), "its model config abc does not resolve"),
        (lambda c: c.update(model={"fcnet_hiddens": [16], "nope": 1}), "does not resolve"),
    ],
    ids=["model-str", "model-unknown-key"],
)
def test_a_format_1_config_that_does_not_resolve_says_why(tmp_path, edit, words):
    path = tampered(tmp_path, PPO_010, lambda m: edit(m["config"]))
    with pytest.raises(FrameworkRequiredError) as info:
        rlcore.policy.load(path)
    msg = _one_line(info.value)
    assert words in msg and "rlcore.rollout.load_trainer(path)" in msg


@pytest.mark.reliability
def test_a_format_1_checkpoint_of_a_custom_env_acts_once_the_env_is_registered(tmp_path, fresh_registry):
    path = tampered(tmp_path, PPO_010, lambda m: m.update(env="MyCartPole-v9"))
    fresh_registry()
    with pytest.raises(FrameworkRequiredError) as info:
        rlcore.policy.load(path)
    msg = _one_line(info.value)
    assert "its env 'MyCartPole-v9' cannot be made here" in msg and "rlcore.register_env(name, creator)" in msg
    rlcore.register_env("MyCartPole-v9", lambda cfg: gym.make("CartPole-v1"))
    _acts_as_recorded(path, PPO_010)
    assert rlcore.policy.load(path).env == "MyCartPole-v9"


# -- tampered acting specs -----------------------------------------------------------------
def _spec(**kv: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["policy"].update(kv)


def _model(**kv: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["policy"]["model"].update(kv)


def _q_head(**kv: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["policy"]["q_head"].update(kv)


def _box(shape: list[int], low: Any = -1.0, high: Any = 1.0) -> dict[str, Any]:
    return {"type": "Box", "dtype": "float32", "shape": shape, "low": low, "high": high}


SPEC_ATTACKS: list[tuple[str, Path, Callable[[dict[str, Any]], Any], type, str]] = [
    # the spec says one model, the weights are another's
    ("conv-spec-fc-weights", PPO, lambda m: (_model(conv_filters=[[16, [2, 2], 1]])(m), _spec(model_kind="vision")(m)),
     CheckpointError, "says model_kind 'vision', but its model config on its observation space makes a catalog fc"),
    ("kind-unknown", PPO, _spec(model_kind="transformer"), CheckpointError, "says model_kind 'transformer'"),
    ("kind-int", PPO, _spec(model_kind=3), CheckpointError, "model_kind is 3, not a model kind name"),
    ("lstm-on-fc-weights", PPO, _model(use_lstm=True), CheckpointError,
     "says model_kind 'fc', but its model config on its observation space makes a catalog lstm model"),
    ("obs-shape", PPO, _spec(observation_space=_box([5])), CheckpointError,
     "'fc_0/kernel' has shape [4, 16], expected [5, 16]"),
    ("action-n", PPO, _spec(action_space={"type": "Discrete", "n": 3, "start": 0}), CheckpointError,
     "'logits/kernel' has shape [16, 2], expected [16, 3]"),
    ("action-multidiscrete-huge", PPO,
     _spec(action_space={"type": "MultiDiscrete", "nvec": [10**12], "start": [0], "dtype": "int64"}), CheckpointError,
     "'logits/kernel' has shape [16, 2], expected [16, 1000000000000]"),
    ("q-dueling-flip", DQN, _q_head(dueling=False), CheckpointError, "do not fit the catalog fc model"),
    ("q-hiddens-other", DQN, _q_head(hiddens=[8]), CheckpointError, "expected [16, 8]"),
    ("q-head-list", DQN, _spec(q_head=[1]), CheckpointError, "q_head [1] is not {'hiddens': [positive ints]"),
    ("q-dueling-str", DQN, _q_head(dueling="no"), CheckpointError, "'dueling': true or false}"),
    ("q-hiddens-str", DQN, _q_head(hiddens="16"), CheckpointError, "q_head {"),
    ("q-hiddens-negative", DQN, _q_head(hiddens=[-1]), CheckpointError, "q_head {"),
    ("q-outputs-on-ppo", PPO, _spec(action_outputs="q"), CheckpointError, "'q_out/kernel' (shape [16, 2]) is missing"),
    ("outputs-unknown", PPO, _spec(action_outputs="logits"), CheckpointError, "action_outputs 'logits' is not one of"),
    ("filter-unknown", PPO, _spec(observation_filter="FooFilter"), CheckpointError,
     "observation_filter 'FooFilter' is unknown"),
    ("filter-int", PPO, _spec(observation_filter=3), CheckpointError, "observation_filter is 3, not a filter name"),
    ("filter-nofilter-with-stats", PPO, _spec(observation_filter="NoFilter"), CheckpointError,
     "observation_filter is NoFilter"),
    ("clip-str", PPO, _spec(clip_actions="no"), CheckpointError, "clip_actions is 'no', not true or false"),
    ("clip-int", PPO, _spec(clip_actions=0), CheckpointError, "clip_actions is 0, not true or false"),
    ("clip-null", PPO, _spec(clip_actions=None), CheckpointError, "its acting spec lacks ['clip_actions']"),
    ("activation-without-mirror", PPO, _model(fcnet_activation="gelu"), CheckpointError,
     "fcnet_activation 'gelu' has no numpy mirror"),
    ("activation-int", PPO, _model(fcnet_activation=3), CheckpointError,
     "'fcnet_activation' must be an activation name"),
    ("custom-preprocessor", PPO, _model(custom_preprocessor="MyPre"), CheckpointError,
     "names the custom preprocessor 'MyPre', which is not registered in this process"),
    ("custom-model", PPO, _model(custom_model="MyNet"), FrameworkRequiredError,
     "its model is the custom model 'MyNet' (framework torch); acting needs the framework plugin rlcore-torch"),
    ("model-unknown-key", PPO, _model(bogus=1), CheckpointError, "unknown config key 'model.bogus'"),
    ("model-not-dict", PPO, _spec(model=[1]), CheckpointError, "model is list, not a model config"),
    ("framestack-0", PPO, _model(framestack=0), CheckpointError, "'framestack' must be an int >= 1"),
    ("box-low-above-high", PPO, _spec(observation_space=_box([4], 1.0, -1.0)), CheckpointError,
     "Box all low values must be less than or equal to high"),
    ("box-bound-nan", PPO, _spec(observation_space=_box([4], "nan", 1.0)), CheckpointError, "has a low bound 'nan'"),
    ("space-type-unknown", PPO, _spec(observation_space={"type": "Graph"}), CheckpointError,
     "has type 'Graph', which this rlcore cannot read"),
    ("weights-path-elsewhere", PPO, _spec(weights=["evaluator", "nothere"]), CheckpointError,
     "state.evaluator.nothere is NoneType, not the dict of canonical weights"),
    ("weights-path-garbage", PPO, _spec(weights="evaluator.weights"), CheckpointError, "is not a list of state keys"),
    ("spec-is-a-list", PPO, lambda m: m.update(policy=[1]), CheckpointError,
     "field 'policy' has the wrong type (list)"),
    ("spec-missing", PPO, lambda m: m.pop("policy"), CheckpointError, "lacks the field 'policy'"),
    ("filter-count-negative", PPO, lambda m: m["state"]["evaluator"]["filter"].update(n=-5), CheckpointError,
     "count n=-5 observations: not an int >= 0"),
    ("filter-count-float", PPO, lambda m: m["state"]["evaluator"]["filter"].update(n=2.5), CheckpointError,
     "count n=2.5 observations"),
    ("filter-count-str", PPO, lambda m: m["state"]["evaluator"]["filter"].update(n="5"), CheckpointError,
     "count n='5' observations"),
    ("filter-missing-m2", PPO, lambda m: m["state"]["evaluator"]["filter"].pop("m2"), CheckpointError,
     "arrays.npz does not hold the arrays checkpoint.json lists"),
]  # fmt: skip


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("fixture", "edit", "error", "words"), [a[1:] for a in SPEC_ATTACKS], ids=[a[0] for a in SPEC_ATTACKS]
)
def test_a_tampered_acting_spec_is_one_error_naming_what(tmp_path, fixture, edit, error, words):
    path = tampered(tmp_path, fixture, edit)
    with pytest.raises(error) as info:
        rlcore.policy.load(path).compute_action(OBS)
    assert words in _one_line(info.value)
    assert str(path) in str(info.value) or "checkpoint.json" in str(info.value)


HUGE = [
    ("box-1e9", _spec(observation_space=_box([10**9])), "has shape [1000000000]: 1000000000 values"),
    ("box-1e5x1e5", _spec(observation_space=_box([100000, 100000])), "10000000000 values"),
    ("box-1e9-bounds", _spec(observation_space=_box([10**9], [0.0], [1.0])), "1000000000 values"),
    ("multibinary-1e9", _spec(observation_space={"type": "MultiBinary", "n": 10**9}), "1000000000 values"),
    ("multibinary-shape", _spec(observation_space={"type": "MultiBinary", "n": [10**5, 10**5]}), "10000000000 values"),
    ("discrete-obs-1e12", _spec(observation_space={"type": "Discrete", "n": 10**12, "start": 0}),
     "make observations of shape [1000000000000]"),
    ("framestack-1e9", _model(framestack=10**9), "make observations of shape [4000000000]"),
    ("tuple-of-huge", _spec(observation_space={"type": "Tuple", "spaces": [_box([2]), _box([10**9])]}),
     "space[1] recorded has shape [1000000000]"),
    ("action-box-1e9", _spec(action_space=_box([10**9])), "action_space: the space recorded has shape [1000000000]"),
]  # fmt: skip


@pytest.mark.reliability
@pytest.mark.parametrize(("edit", "words"), [h[1:] for h in HUGE], ids=[h[0] for h in HUGE])
def test_a_space_of_a_billion_values_is_refused_without_allocating_it(tmp_path, edit, words):
    path = tampered(tmp_path, PPO, edit)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert words in _one_line(info.value) and str(MAX_SPACE_VALUES) in str(info.value)
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"


# -- observation-filter statistics (arrays: written with write_checkpoint) -----------------
def _with_filter(tmp_path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    ev = trained(evaluator("CartPole-v1"))
    state = ev.get_state()
    edit(state["filter"])
    return write_checkpoint(
        tmp_path / "checkpoint_000001",
        {"evaluator": state},
        {
            "algorithm": "PPO",
            "framework": "numpy",
            "env": "CartPole-v1",
            "config": {},
            "iteration": 1,
            "timesteps_total": 1,
            "versions": {"rlcore": rlcore.__version__},
            "policy": ev.acting_spec(),
        },
    )


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda f: f.update(mean=np.zeros(5), m2=np.zeros(5)), "statistics of shape (5,) do not fit (4,)"),
        (lambda f: f.update(mean=np.zeros((4, 1))), "'mean' and 'm2' have different shapes (4, 1) and (4,)"),
        (lambda f: f.update(m2=-np.ones(4)), "'m2' (sum of squared deviations) is negative"),
        (lambda f: f.update(mean=np.full(4, 1e300)), "overflow float32"),
        (lambda f: f.update(n=-1), "count n=-1 observations"),
        (lambda f: f.pop("m2"), "statistics lack ['m2'] (they hold ['mean', 'n'])"),
        (lambda f: f.update(mean="abc"), "statistic 'mean' is not finite real numbers (<U3)"),
    ],
    ids=["shape", "rank", "negative-variance", "overflow", "negative-count", "missing-m2", "string"],
)
def test_filter_statistics_that_cannot_be(tmp_path, edit, words):
    path = _with_filter(tmp_path, edit)
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    msg = _one_line(info.value)
    assert words in msg
    if "do not fit" in words:  # another env's shape: a misfit, not an edit
        assert "its MeanStdFilter statistics (state.evaluator.filter) do not fit" in msg
    else:  # values rlcore never writes: the file was edited
        assert "its MeanStdFilter statistics (state.evaluator.filter) are not what rlcore writes: " in msg
        assert msg.endswith("the checkpoint was edited or damaged"), msg


@pytest.mark.reliability
def test_nan_filter_statistics_never_reach_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"state\.evaluator\.filter\.m2: it holds 1 NaN/inf value"):
        _with_filter(tmp_path, lambda f: f["m2"].__setitem__(0, np.nan))


# -- drifted fixture files -----------------------------------------------------------------
def _drifted(tmp_path: Path, edit: Callable[[dict[str, Any]], Any], fixture: Path = PPO) -> Path:
    folder = tmp_path / fixture.parent.name / fixture.name
    shutil.copytree(fixture, folder)
    expected = json.loads((folder / EXPECTED_FILE).read_text())
    edit(expected)
    (folder / EXPECTED_FILE).write_text(json.dumps(expected))
    return folder


def _flip(expected: dict[str, Any]) -> None:
    expected["actions"][3] = 1 - expected["actions"][3]


@pytest.mark.reliability
def test_drifted_actions_name_version_algorithm_and_framework(tmp_path):
    fixture = CheckpointFixture.load(_drifted(tmp_path, _flip))
    policy = rlcore.policy.load(fixture.checkpoint)
    with pytest.raises(AssertionError) as info:
        check_fixture_actions(fixture, policy.compute_action, by="rlcore.policy.load")
    assert str(info.value).startswith("0.2.0/ppo_torch (PPO, torch): 1 of 32 actions of rlcore.policy.load differ")
    assert "recorded by rlcore 0.2.0 (commit c2e7afcb484c): first at observation 3" in str(info.value)


@pytest.mark.reliability
def test_drifted_returns_name_the_fixture(tmp_path):
    fixture = CheckpointFixture.load(_drifted(tmp_path, lambda e: e["episode_returns"].__setitem__(0, 1.0)))
    policy = rlcore.policy.load(fixture.checkpoint)
    with pytest.raises(
        AssertionError, match=r"^0\.2\.0/ppo_torch \(PPO, torch\): episode returns .* first at reset seed 0"
    ):
        check_fixture_returns(fixture, policy.compute_action, by="rlcore.policy.load")


@pytest.mark.reliability
def test_recorded_observations_of_another_shape_are_drift_of_the_fixture(tmp_path):
    fixture = CheckpointFixture.load(
        _drifted(tmp_path, lambda e: e.update(observations=[o[:3] for o in e["observations"]]))
    )
    policy = rlcore.policy.load(fixture.checkpoint)
    with pytest.raises(AssertionError) as info:
        check_fixture_actions(fixture, policy.compute_action, by="rlcore.policy.load")
    msg = str(info.value)
    assert msg.startswith("0.2.0/ppo_torch (PPO, torch): rlcore.policy.load refused observation 0 recorded by rlcore")
    assert "ObservationArgumentError" in msg and "shape (3,)" in msg


EXPECTED_ATTACKS = [
    ("missing-actions", lambda e: e.pop("actions"), "lacks the key(s) actions (fixture 0.2.0 PPO torch)"),
    ("missing-algorithm", lambda e: e.pop("algorithm"), "lacks the key(s) algorithm (fixture 0.2.0 torch)"),
    ("ragged-observations", lambda e: e["observations"].__setitem__(0, [1.0]), "'observations' is not a rectangular"),
    ("string-observation", lambda e: e["observations"].__setitem__(0, "abc"), "'observations' is not a rectangular"),
    ("observations-not-a-list", lambda e: e.update(observations=5), "'observations' is not a non-empty list"),
    ("fewer-actions", lambda e: e.update(actions=e["actions"][:5]), "'actions' holds 5 actions for 32 observations"),
    ("actions-null", lambda e: e.update(actions=None), "'actions' holds a NoneType for 32 observations"),
    ("seeds-strings", lambda e: e.update(episode_seeds=["a"]), "'episode_seeds' is ['a'], not a list of ints >= 0"),
    ("fewer-seeds", lambda e: e.update(episode_seeds=[0]), "holds 5 returns for 1 episode_seeds"),
    ("returns-string", lambda e: e.update(episode_returns="x"), "'episode_returns' is 'x', not a list of numbers"),
    ("checkpoint-outside", lambda e: e.update(checkpoint="../../0.1.0/ppo_torch/checkpoint_000015"),
     "not the name of a folder beside it"),
    ("checkpoint-int", lambda e: e.update(checkpoint=15), "'checkpoint' is 15, not a non-empty string"),
]  # fmt: skip


@pytest.mark.reliability
@pytest.mark.parametrize(("edit", "words"), [a[1:] for a in EXPECTED_ATTACKS], ids=[a[0] for a in EXPECTED_ATTACKS])
def test_an_edited_expected_json_is_one_error_naming_the_fixture(tmp_path, edit, words):
    folder = _drifted(tmp_path, edit)
    with pytest.raises(CheckpointError) as info:
        CheckpointFixture.load(folder)
    msg = _one_line(info.value)
    assert words in msg and str(folder / EXPECTED_FILE) in msg


@pytest.mark.reliability
def test_a_fixture_env_that_cannot_be_made_names_the_fixture(tmp_path):
    fixture = CheckpointFixture.load(_drifted(tmp_path, lambda e: e.update(env="NoSuchEnv-v0")))
    policy = rlcore.policy.load(fixture.checkpoint)
    with pytest.raises(AssertionError, match=r"^0\.2\.0/ppo_torch \(PPO, torch\): the episodes.* on 'NoSuchEnv-v0'"):
        check_fixture_returns(fixture, policy.compute_action)


# -- wrong observations --------------------------------------------------------------------
@pytest.fixture(scope="module")
def ppo() -> Any:
    return rlcore.policy.load(PPO)


BAD_OBS = [
    ("object", lambda p: p.compute_action(np.array(OBS, dtype=object)), "it has dtype object"),
    ("str", lambda p: p.compute_action(np.array(["a"] * 4)), "it has dtype <U1"),
    ("plain-str", lambda p: p.compute_action("abcd"), "obs is not an observation"),
    ("bool", lambda p: p.compute_action(np.ones(4, bool)), "is outside the space's bounds"),
    ("complex", lambda p: p.compute_action(np.array(OBS) + 1j), "it has dtype complex128"),
    ("nan", lambda p: p.compute_action([np.nan, 0, 0, 0]), "it is not finite"),
    ("inf", lambda p: p.compute_action([np.inf, 0, 0, 0]), "it is not finite"),
    ("outside", lambda p: p.compute_action([10, 0, 0, 0]), "10 at index (0,) is outside the space's bounds"),
    ("depth-3", lambda p: p.compute_action([[OBS]]), "it has shape (1, 1, 4), the space's is (4,)"),
    ("ragged", lambda p: p.compute_action([[0.1], [0.2, 0.3], 0, 0]), "it is a list that is not an array"),
    ("shape-3", lambda p: p.compute_action(OBS[:3]), "it has shape (3,), the space's is (4,)"),
    ("batch-to-compute_action", lambda p: p.compute_action([OBS, OBS]), "it has shape (2, 4), the space's is (4,)"),
    ("single-to-compute_actions", lambda p: p.compute_actions(np.asarray(OBS)), "which is one observation: pass [obs]"),
    ("empty-batch", lambda p: p.compute_actions(np.zeros((0, 4), np.float32)), "obs is an empty batch"),
    ("empty-list", lambda p: p.compute_actions([]), "obs is an empty batch"),
    ("empty-outputs", lambda p: p.policy_outputs([]), "obs is an empty batch"),
    ("row-1-nan", lambda p: p.compute_actions([OBS, [np.nan] * 4]), "obs[1] is not an observation"),
    ("none", lambda p: p.compute_action(None), "obs is not an observation"),
    ("dict", lambda p: p.compute_action({"a": 1}), "obs is not an observation"),
]  # fmt: skip


@pytest.mark.parametrize(("act", "words"), [b[1:] for b in BAD_OBS], ids=[b[0] for b in BAD_OBS])
def test_wrong_observations_are_one_error(ppo, act, words):
    with pytest.raises(ObservationArgumentError) as info:
        act(ppo)
    assert words in str(info.value)


class _ObsEnv(gym.Env):
    action_space = spaces.Discrete(2)

    def __init__(self, space: Any) -> None:
        self.observation_space = space
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(0 if seed is None else seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), 1.0, self.t >= 10, False, {}


OBS_SPACES = {
    "dict": spaces.Dict({"a": spaces.Box(-1, 1, (2,), np.float32), "b": spaces.Discrete(3)}),
    "tuple": spaces.Tuple((spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(3))),
    "discrete": spaces.Discrete(5),
}


@pytest.fixture(scope="module")
def composite(tmp_path_factory) -> dict[str, Any]:
    out = {}
    for name, space in OBS_SPACES.items():
        ev = trained(evaluator(lambda cfg, space=space: _ObsEnv(space)))
        out[name] = load_policy(save(ev, tmp_path_factory.mktemp(name)))
    return out


Z2 = np.zeros(2, np.float32)
COMPOSITE_OBS = [
    ("dict", {"a": Z2}, "its keys ['a'] are not the space's ['a', 'b']"),
    ("dict", {"a": Z2, "b": 1, "c": 2}, "its keys ['a', 'b', 'c'] are not the space's ['a', 'b']"),
    ("dict", {"a": Z2, "b": 1.5}, "key 'b' (Discrete(3)): it has dtype float64"),
    ("dict", {"a": Z2, "b": 7}, "key 'b' (Discrete(3)): 7 is outside [0, 2]"),
    ("dict", {"a": np.zeros(3, np.float32), "b": 1}, "key 'a'"),
    ("dict", [0, 0, 1], "it is a list, not a dict with the keys ['a', 'b']"),
    ("tuple", (Z2,), "it has 1 components, the space has 2"),
    ("tuple", (Z2, 1, 2), "it has 3 components, the space has 2"),
    ("tuple", {"a": 1}, "it is a dict, not a tuple of 2 components"),
    ("discrete", 5, "5 is outside [0, 4]"),
    ("discrete", -1, "-1 is outside [0, 4]"),
    ("discrete", 2.0, "it has dtype float64; Discrete observations are integers"),
    ("discrete", 2.5, "it has dtype float64"),
    ("discrete", True, "it has dtype bool"),
    ("discrete", "2", "it has dtype <U1"),
    ("discrete", np.array([2]), "it has shape (1,), the space's is ()"),
]


@pytest.mark.parametrize(("space", "obs", "words"), COMPOSITE_OBS)
def test_wrong_composite_and_discrete_observations(composite, space, obs, words):
    policy = composite[space]
    with pytest.raises(ObservationArgumentError) as info:
        policy.compute_action(obs)
    assert words in str(info.value)
    if obs is not True:  # a list [3, True] is an int array: row 1 is 1
        with pytest.raises(ObservationArgumentError, match=r"obs\[1\] is not an observation"):
            policy.compute_actions([policy.observation_space.sample(), obs])
    with pytest.raises(ObservationArgumentError, match="empty batch"):
        policy.compute_actions([])


def test_the_right_composite_observations_act(composite):
    assert composite["dict"].compute_action({"a": Z2, "b": 1}) in (0, 1)
    assert composite["tuple"].compute_action((Z2, 2)) in (0, 1)
    assert composite["discrete"].compute_actions(np.array([0, 4])).shape == (2,)


# -- explore, seeds, acting states ---------------------------------------------------------
@pytest.mark.parametrize("explore", ["False", "yes", None, 1, 0.0, [True]])
def test_explore_must_be_a_bool(ppo, explore):
    for act in (lambda: ppo.compute_action(OBS, explore=explore), lambda: ppo.compute_actions([OBS], explore=explore)):
        with pytest.raises(ConfigError, match=r"explore must be True \(sample\) or False"):
            act()
    assert ppo.compute_action(OBS, explore=np.bool_(False)) == ppo.compute_action(OBS)


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True, [1]])
def test_seeds_that_are_not_seeds(seed):
    with pytest.raises(ConfigError, match="seed must be an int >= 0 or None"):
        rlcore.policy.load(PPO, seed=seed)


def test_a_huge_seed_is_a_seed():
    obs = np.tile(np.asarray([OBS], np.float32), (64, 1))
    first = rlcore.policy.load(PPO, seed=10**40).compute_actions(obs, explore=True)
    again = rlcore.policy.load(PPO, seed=10**40).compute_actions(obs, explore=True)
    assert first.tolist() == again.tolist()


@pytest.fixture(scope="module")
def stacked(tmp_path_factory) -> Any:
    ev = trained(evaluator("CartPole-v1", model={"fcnet_hiddens": [8], "framestack": 3}))
    return load_policy(save(ev, tmp_path_factory.mktemp("stack")))


@pytest.fixture(scope="module")
def lstm(tmp_path_factory) -> Any:
    model = {"fcnet_hiddens": [8], "use_lstm": True, "lstm_cell_size": 5, "max_seq_len": 4}
    ev = trained(evaluator("CartPole-v1", NumpyLSTMPolicy, model=model))
    return load_policy(save(ev, tmp_path_factory.mktemp("lstm")))


def test_acting_states_of_another_policy_or_batch_size(ppo, stacked, lstm):
    obs2 = np.asarray([OBS, OBS], np.float32)
    cases = [
        (
            lambda: stacked.compute_action(OBS, state=ppo.new_acting_state()),
            r"holds 0 preprocessor values \(frame stacks\) per episode, this policy's preprocessor 13: it is "
            r"another policy's; make it with new_acting_state\(1\) of this policy",
        ),
        (
            lambda: ppo.compute_action(OBS, state=stacked.new_acting_state()),
            r"holds 13 preprocessor values .* preprocessor 0: it is another policy's",
        ),
        (
            lambda: lstm.compute_action(OBS, state=ppo.new_acting_state()),
            r"the acting state: the recurrent state has shapes \[\] for 1 observations.* It is another policy's, "
            r"or was changed: make it with new_acting_state\(1\) of this policy \(the loaded policy's or the",
        ),
        (
            lambda: stacked.compute_actions(obs2, state=stacked.new_acting_state(3)),
            r"^the acting state was made for 3 episodes, this batch has 2 observations: make it with "
            r"new_acting_state\(2\) of this policy",
        ),
        (
            lambda: stacked.compute_action(OBS, state=stacked.new_acting_state(2)),
            r"made for 2 episodes, this batch has 1 observation: make it with new_acting_state\(1\)",
        ),
        (
            lambda: lstm.compute_actions(obs2, state=lstm.new_acting_state(3)),
            r"^the acting state was made for 3 episodes, this batch has 2 observations: make it with "
            r"new_acting_state\(2\)",
        ),
        (
            lambda: lstm.policy_outputs(obs2, state=lstm.new_acting_state(1)),
            r"made for 1 episode, this batch has 2 observations",
        ),
        (
            lambda: ppo.compute_action(OBS, state={}),
            r"must be the ActingState that new_acting_state\(\) returns, got dict: state = "
            r"policy.new_acting_state\(\) \(the loaded policy's, or the trainer's\)",
        ),
        (lambda: lstm.compute_action(OBS, state=[np.zeros((1, 5))] * 2), "must be the ActingState"),
        (
            lambda: ppo.compute_action(OBS, True),  # LoadedPolicy's order is (obs, state, explore)
            r"^state got True: pass explore by keyword \(compute_action\(obs, explore=True\)\)",
        ),
        (lambda: lstm.compute_actions(obs2, np.False_), r"^state got False: pass explore by keyword"),
    ]
    for act, words in cases:
        with pytest.raises(RecurrentStateError, match=words):
            act()


def test_an_acting_state_reused_for_another_batch_size(stacked, lstm):
    for policy in (stacked, lstm):
        state = policy.new_acting_state(2)
        policy.compute_actions(np.asarray([OBS, OBS], np.float32), state=state)
        with pytest.raises(RecurrentStateError, match=r"made for 2 episodes, this batch has 3 observations"):
            policy.compute_actions(np.asarray([OBS] * 3, np.float32), state=state)
        policy.compute_actions(np.asarray([OBS, OBS], np.float32), state=state)  # still usable at its own size


def test_explore_takes_numpy_bools_and_names_an_acting_state_given_for_it(ppo):
    """``np.True_`` is a bool to acting (explores as True does); an acting state passed where the
    evaluator's (and the trainer's) order puts ``explore`` says to pass it by keyword."""
    obs = np.asarray([OBS] * 16, np.float32)
    a = rlcore.policy.load(PPO, seed=3).compute_actions(obs, explore=np.True_)
    np.testing.assert_array_equal(a, rlcore.policy.load(PPO, seed=3).compute_actions(obs, explore=True))
    ev = evaluator("CartPole-v1")
    with pytest.raises(ConfigError, match=r"\(ActingState\): this is an acting state; pass it by keyword"):
        ev.compute_actions(obs[:1], ev.new_acting_state(1))  # (obs, explore, state): the state went to explore
    np.testing.assert_array_equal(
        ev.compute_actions(obs[:1], np.True_, ev.new_acting_state(1)).shape, ev.compute_actions(obs[:1]).shape
    )


def test_no_state_is_a_fresh_episode_each_call(stacked):
    fresh = [stacked.compute_action(OBS, state=stacked.new_acting_state()) for _ in range(3)]
    assert [stacked.compute_action(OBS) for _ in range(3)] == fresh


@pytest.mark.parametrize("size", [0, -1, 1.5, "2", True, None])
def test_new_acting_state_of_a_size_that_is_not_one(stacked, size):
    with pytest.raises(ConfigError, match="batch_size must be an int >= 1"):
        stacked.new_acting_state(size)


def test_new_acting_state_too_large_for_memory(lstm):
    with pytest.raises(ConfigError, match="does not fit in memory: act on fewer episodes"):
        lstm.new_acting_state(10**13)


# -- paths ---------------------------------------------------------------------------------
def test_paths_that_are_not_a_checkpoint(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "trial").mkdir()
    (tmp_path / "trial" / "result.json").write_text("{}")
    (tmp_path / "loop").mkdir()
    os.symlink(tmp_path / "loop", tmp_path / "loop" / "again")
    os.symlink(tmp_path / "self", tmp_path / "self")
    cases = [
        (tmp_path / "a_file", "is a file; give the checkpoint folder"),
        (tmp_path / "empty", "no checkpoint in"),
        (tmp_path / "trial", "no checkpoint in"),
        (tmp_path / "loop", "no checkpoint in"),
        (tmp_path / "self", "no checkpoint in"),
        (tmp_path / "missing", "does not exist"),
        ("", "must be a non-empty path"),
        (None, "must be a non-empty path (str or os.PathLike), got None"),
        (3, "got 3"),
    ]
    for path, words in cases:
        with pytest.raises(CheckpointError) as info:
            rlcore.policy.load(path)  # type: ignore[arg-type]
        assert words in _one_line(info.value)


def test_a_trial_folder_with_several_checkpoints_takes_the_latest(tmp_path):
    src = _checkpoint_of(PPO)
    shutil.copytree(src, tmp_path / "trial" / "checkpoint_000002")
    shutil.copytree(src, tmp_path / "trial" / "checkpoint_000015")
    assert rlcore.policy.load(tmp_path / "trial").path.name == "checkpoint_000015"
    shutil.copytree(src, tmp_path / "trial_b" / "checkpoint_000001")
    with pytest.raises(CheckpointError, match="holds the checkpoints of 2 runs; name one of them"):
        rlcore.policy.load(tmp_path)


def test_a_path_with_unicode_and_spaces(tmp_path):
    folder = tmp_path / "résultats d'été" / "trial a"
    shutil.copytree(_checkpoint_of(PPO), folder / "checkpoint_000015")
    _acts_as_recorded(folder, PPO)


@pytest.mark.reliability
def test_a_checkpoint_still_being_written(tmp_path):
    """A save's hidden .tmp folder is not a checkpoint: below a trial it is skipped, named it is refused."""
    trial = tmp_path / "trial"
    shutil.copytree(_checkpoint_of(PPO), trial / f".checkpoint_000016.tmp-{os.getpid()}-abc")
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        rlcore.policy.load(trial)
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(trial / f".checkpoint_000016.tmp-{os.getpid()}-abc")
    msg = _one_line(info.value)
    assert "the temporary folder of a save that is still being written" in msg
    assert "renamed to 'checkpoint_000016'" in msg
    with pytest.raises(CheckpointError, match="the temporary folder of a save"):
        rlcore.policy.load(trial / f".checkpoint_000016.tmp-{os.getpid()}-abc" / META_FILE)
    shutil.copytree(_checkpoint_of(PPO), trial / "checkpoint_000015")
    assert rlcore.policy.load(trial).path.name == "checkpoint_000015"
    half = trial / "checkpoint_000017"
    half.mkdir()
    shutil.copy(_checkpoint_of(PPO) / "arrays.npz", half)  # its checkpoint.json not written yet
    assert rlcore.policy.load(trial).path.name == "checkpoint_000015"
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        rlcore.policy.load(half)


# -- rlcore rollout ------------------------------------------------------------------------
@pytest.mark.reliability
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_spec(action_space=_box([1])), "has the action space Discrete(2), but the checkpoint recorded Box(-1.0, 1.0"),
        (_spec(observation_space=_box([2, 2])), "of shape (4,), but the checkpoint recorded Box(-1.0, 1.0, (2, 2)"),
        (_spec(clip_actions="no"), "clip_actions is 'no', not true or false"),
        (lambda m: m.update(format_version=3, versions={"rlcore": "0.3.0"}), "checkpoint format 3 was written by"),
        (_spec(observation_space=_box([10**9])), "1000000000 values"),
    ],
    ids=["action-space", "observation-space", "clip", "newer-format", "huge-space"],
)
def test_rollout_of_a_tampered_checkpoint_is_one_error_line(tmp_path, capsys, edit, words):
    path = tampered(tmp_path, PPO, edit)
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and words in errors[0], err
    assert "Traceback" not in err


def test_every_error_here_is_an_rlcore_error():
    for error in (CheckpointError, FrameworkRequiredError, ConfigError, ObservationArgumentError, RecurrentStateError):
        assert issubclass(error, RLCoreError)


# -- vision and LSTM acting specs ----------------------------------------------------------
@pytest.fixture(scope="module")
def vision_checkpoint(tmp_path_factory) -> Path:
    """A vision checkpoint: a core evaluator's spec on ImageCorridorEnv with weights of the catalog conv layout."""
    from rlcore.inference import NumpyCatalogPolicy
    from rlcore.models import ModelCatalog
    from rlcore.models.catalog import resolve_model_config
    from rlcore.testing.envs import ImageCorridorEnv

    model = {"conv_filters": [[4, [3, 3], 1], [8, [2, 2], 1]], "fcnet_hiddens": [8]}
    ev = trained(evaluator(lambda cfg: ImageCorridorEnv(cfg), model=model, observation_filter="NoFilter"))
    spec = ev.acting_spec()
    space = ImageCorridorEnv({}).observation_space
    config = resolve_model_config(spec["model"])
    shape = ModelCatalog.get_preprocessor(space, config).shape
    policy = NumpyCatalogPolicy(spaces.Box(-np.inf, np.inf, shape, np.float32), spaces.Discrete(2), {"model": config})
    rng = np.random.default_rng(0)
    state = ev.get_state()
    state["weights"] = {p.name: (rng.normal(size=p.shape) * 0.1).astype(np.float32) for p in policy.layout}
    meta = {"algorithm": "PPO", "framework": "numpy", "env": "ImageCorridor", "config": {}, "iteration": 1}
    meta.update(timesteps_total=1, versions={"rlcore": rlcore.__version__}, policy=spec)
    path = write_checkpoint(tmp_path_factory.mktemp("vision") / "vis" / "checkpoint_000001", {"evaluator": state}, meta)
    assert load_policy(path).policy.model_kind == "vision"
    return path.parent


@pytest.fixture(scope="module")
def lstm_checkpoint(tmp_path_factory) -> Path:
    model = {"fcnet_hiddens": [8], "use_lstm": True, "lstm_cell_size": 5, "max_seq_len": 4}
    ev = trained(evaluator("CartPole-v1", NumpyLSTMPolicy, model=model))
    return save(ev, tmp_path_factory.mktemp("lstm_ckpt") / "lstm").parent


MODEL_ATTACKS = [
    ("conv-activation-without-mirror", "vision", _model(conv_activation="gelu"),
     "conv_activation 'gelu' has no numpy mirror"),
    ("conv-filters-other", "vision", _model(conv_filters=[[4, [3, 3], 1], [16, [2, 2], 1]]),
     "'conv_1/kernel' has shape [2, 2, 4, 8], expected [2, 2, 4, 16]"),
    ("conv-filters-garbage", "vision", _model(conv_filters=[[4, "x", 1]]), "the layer [4, 'x', 1] is not"),
    ("conv-filters-billion", "vision", _model(conv_filters=[[10**9, [3, 3], 1]]), "expected [3, 3, 1, 1000000000]"),
    ("conv-default-filters", "vision", _model(conv_filters=None), "'conv_0/kernel' has shape [3, 3, 1, 4]"),
    ("vision-spec-says-fc", "vision", _spec(model_kind="fc"), "makes a catalog vision model"),
    ("image-of-another-size", "vision", lambda m: m["policy"]["observation_space"].update(shape=[50, 50, 1]),
     "'logits/kernel' has shape [96, 2], expected [55112, 2]"),
    ("lstm-cell-billion", "lstm", _model(lstm_cell_size=10**9), "expected [8, 4000000000]"),
    ("lstm-cell-other", "lstm", _model(lstm_cell_size=6), "'lstm/kernel' has shape [8, 20], expected [8, 24]"),
    ("lstm-off", "lstm", _model(use_lstm=False), "says model_kind 'lstm', but"),
    ("lstm-seq-len", "lstm", _model(max_seq_len=-1), "'max_seq_len' must be an int >= 1"),
]  # fmt: skip


@pytest.mark.reliability
@pytest.mark.parametrize(("kind", "edit", "words"), [a[1:] for a in MODEL_ATTACKS], ids=[a[0] for a in MODEL_ATTACKS])
def test_a_tampered_vision_or_lstm_spec_is_one_error(tmp_path, vision_checkpoint, lstm_checkpoint, kind, edit, words):
    path = tampered(tmp_path, vision_checkpoint if kind == "vision" else lstm_checkpoint, edit)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    assert words in _one_line(info.value)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 200


# -- exploration epsilon -------------------------------------------------------------------
DQN_010 = FIXTURES / "0.1.0" / "dqn_torch"


def _global_vars(**kv: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["state"]["evaluator"]["global_vars"].update(kv)


EPSILON_ATTACKS = [
    ("string", DQN, _global_vars(epsilon="x"), "global_vars.epsilon is 'x', not an exploration probability in [0, 1]"),
    ("list", DQN, _global_vars(epsilon=[1]), "global_vars.epsilon is [1], not"),
    ("negative", DQN, _global_vars(epsilon=-0.5), "global_vars.epsilon is -0.5, not"),
    ("above-one", DQN, _global_vars(epsilon=2.0), "global_vars.epsilon is 2.0, not"),
    ("nan", DQN, _global_vars(epsilon=float("nan")), "global_vars.epsilon is nan, not"),
    ("inf", DQN, _global_vars(epsilon=float("inf")), "global_vars.epsilon is inf, not"),
    ("bool", DQN, _global_vars(epsilon=True), "global_vars.epsilon is True, not"),
    ("global-vars-list", DQN, lambda m: m["state"]["evaluator"].update(global_vars=[1]),
     "state.evaluator.global_vars is list, not a dict"),
    ("global-vars-str-ppo", PPO, lambda m: m["state"]["evaluator"].update(global_vars="x"),
     "state.evaluator.global_vars is str, not a dict"),
    ("format-1-schedule-below-zero", DQN_010,
     lambda m: m["config"].update(exploration_final_eps=-3.0, exploration_timesteps=1),
     "global_vars.epsilon is -3.0, not"),
]  # fmt: skip


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("fixture", "edit", "words"), [a[1:] for a in EPSILON_ATTACKS], ids=[a[0] for a in EPSILON_ATTACKS]
)
def test_a_recorded_epsilon_that_is_not_a_probability(tmp_path, fixture, edit, words):
    """A Q policy explores with the recorded epsilon: one that is not in [0, 1] would explore wrongly."""
    path = tampered(tmp_path, fixture, edit)
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(path)
    assert words in _one_line(info.value)
    untouched = rlcore.policy.load(_checkpoint_of(fixture)).policy.epsilon
    assert 0.0 <= untouched <= 1.0


@pytest.mark.reliability
def test_a_format_1_timestep_that_is_not_a_number_leaves_epsilon_unrecorded(tmp_path):
    path = tampered(tmp_path, DQN_010, _global_vars(timestep="x"))
    policy = rlcore.policy.load(path, seed=0)
    assert policy.policy.epsilon == 0.0
    _acts_as_recorded(path, DQN_010)


# -- weights of another kind (written with write_checkpoint: the reader takes any numeric array) --
def _with_weights(tmp_path: Path, change: Callable[[np.ndarray], np.ndarray]) -> Path:
    ckpt = read_checkpoint(PPO)
    keys = ("algorithm", "framework", "env", "config", "iteration", "timesteps_total", "versions", "policy")
    state = dict(ckpt.state)
    evaluator_state = dict(state["evaluator"])
    evaluator_state["weights"] = {k: change(v) for k, v in evaluator_state["weights"].items()}
    state["evaluator"] = evaluator_state
    return write_checkpoint(tmp_path / "checkpoint_000001", state, {k: ckpt.meta[k] for k in keys})


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda v: v.astype(np.complex64) + 1j, "is a complex64 array; weights are floating-point"),
        (lambda v: v.astype(np.int8), "is a int8 array; weights are floating-point"),
        (lambda v: v != 0, "is a bool array"),
        (lambda v: np.abs(v).astype(np.uint64), "is a uint64 array"),
        (lambda v: v.astype(np.float64) * 1e300, "holds values beyond float32's range"),
    ],
    ids=["complex", "int8", "bool", "uint64", "beyond-float32"],
)
def test_weights_that_are_not_float32_values(tmp_path, change, words):
    with pytest.raises(CheckpointError) as info:
        rlcore.policy.load(_with_weights(tmp_path, change))
    assert words in _one_line(info.value) and "state.evaluator.weights['" in str(info.value)


def test_float64_weights_act_as_their_float32_values(tmp_path):
    _acts_as_recorded(_with_weights(tmp_path, lambda v: v.astype(np.float64)), PPO)


@pytest.mark.parametrize(
    ("space", "obs"),
    [("dict", {"a": Z2, "b": 1}), ("tuple", (Z2, 1)), ("discrete", 3), ("tuple", ((Z2, 1), (Z2, 2)))],
    ids=["dict", "tuple", "discrete", "tuple-of-tuples"],
)
def test_one_composite_observation_to_compute_actions(composite, space, obs):
    """compute_actions takes a list of observations: one observation (or a tuple of them) is refused."""
    with pytest.raises(ObservationArgumentError, match="obs must be a batch of observations of"):
        composite[space].compute_actions(obs)


def test_the_writer_never_records_a_space_the_reader_refuses():
    """A space of more than MAX_SPACE_VALUES values is not recorded (the acting spec is then null with
    this reason, and Trainer.save does not fail), as the reader would refuse it as edited."""
    from rlcore.space_codec import space_from_json, space_to_json

    with pytest.raises(
        CheckpointError,
        match=f"cannot record the observation space: its 81000000 values are more than the {MAX_SPACE_VALUES}",
    ):
        space_to_json(spaces.MultiBinary([9000, 9000]), name="observation space")
    largest = spaces.MultiBinary([2**13, 2**13])
    assert space_from_json(space_to_json(largest)) == largest
