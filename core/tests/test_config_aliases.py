"""RLlib 2018 config names (rlcore.config_aliases): the common and model families, the machinery's
errors, every boundary a config enters (trainer, experiment file, ``rlcore train --config``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rlcore.config_aliases import (
    COMMON_ALIASES,
    MODEL_ALIASES,
    Alias,
    ExpandError,
    RLlib2018Warning,
    aliases_markdown,
    expand_keys,
    translate_config,
    translate_for_algorithm,
)
from rlcore.config_schema import COMMON_SCHEMA, MODEL_SCHEMA, ConfigValueError, Field, Schema
from rlcore.errors import ConfigError
from rlcore.experiments import load_experiments
from rlcore.registration import register_algorithm
from rlcore.trainer import Trainer


class Built(Exception):
    """setup() was reached: the config passed every check."""


class AliasTrainer(Trainer):
    """The common keys (and their 2018 names); setup raises Built, so nothing is ever built."""

    name = "ALIASES"
    config_schema = COMMON_SCHEMA
    default_config: ClassVar[dict[str, Any]] = COMMON_SCHEMA.defaults()

    def setup(self) -> None:
        self.built_config = dict(self.config)
        raise Built


def built_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config a trainer ends up with (merged, validated) when given ``config``."""
    seen: dict[str, Any] = {}

    class Capture(AliasTrainer):
        def setup(self) -> None:
            seen.update(self.config)
            raise Built

    with pytest.raises(Built):
        Capture(config, env="CartPole-v1")
    return seen


def translated(schema: Schema, config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The translation of ``config`` and the RLlib2018Warning lines it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = translate_config(schema, config, owner="ALIASES")
    return out, [str(w.message) for w in caught if issubclass(w.category, RLlib2018Warning)]


def _sample(alias: Alias, schema: Schema) -> tuple[Any, Any]:
    """A 2018 value for a renamed alias and the value today's key gets."""
    if alias.check is not None and alias.translate is not None:  # use_pytorch: a bool
        return True, alias.translate(True)
    target = schema.fields[alias.new.split(".")[0]] if alias.new else None
    value = {int: 7, float: 0.5, bool: True, str: "x", dict: {"a": 1}}.get(getattr(target, "type", None), 7)
    if alias.new == "framework":
        value = "tf"
    return value, value


# -- the common family --------------------------------------------------------------------------

RENAMED_COMMON = [k for k, a in COMMON_ALIASES.items() if a.new is not None]
NO_COUNTERPART_COMMON = [k for k, a in COMMON_ALIASES.items() if a.new is None]


def test_the_common_family_is_declared_on_the_common_schema():
    assert COMMON_SCHEMA.aliases == COMMON_ALIASES
    assert MODEL_SCHEMA.aliases == MODEL_ALIASES
    assert {"sample_batch_size", "use_pytorch", "sample_async", "tf_session_args"} <= set(COMMON_ALIASES)
    for old, alias in {**COMMON_ALIASES, **MODEL_ALIASES}.items():
        assert alias.note or alias.new, old  # a no-counterpart key says what to do
        if alias.new is not None:
            schema = MODEL_SCHEMA if old in MODEL_ALIASES else COMMON_SCHEMA
            assert alias.new.split(".")[0] in schema.fields, old


@pytest.mark.parametrize("old", RENAMED_COMMON)
def test_every_renamed_common_key_reaches_todays_key_through_the_trainer(old):
    alias = COMMON_ALIASES[old]
    value, expected = _sample(alias, COMMON_SCHEMA)
    with pytest.warns(RLlib2018Warning, match=rf"RLlib 2018 config key '{old}' is now '{alias.new}' \(translated"):
        config = built_config({old: value})
    assert config[alias.new] == expected
    assert old not in config


def test_sample_batch_size_and_use_pytorch_values():
    assert built_config({"sample_batch_size": 50})["rollout_fragment_length"] == 50
    assert built_config({"smoothing_num_episodes": 10})["metrics_smoothing_episodes"] == 10
    assert built_config({"use_pytorch": True})["framework"] == "torch"
    assert built_config({"use_pytorch": False})["framework"] == "tf"


@pytest.mark.parametrize("old", NO_COUNTERPART_COMMON)
def test_every_common_key_without_counterpart_is_an_error_saying_so(old):
    with pytest.raises(
        ConfigError, match=rf"ALIASES config key '{old}' is an RLlib 2018 key whose feature rlcore does not have"
    ) as info:
        built_config({old: "something else"})
    assert COMMON_ALIASES[old].note in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("old", [k for k in NO_COUNTERPART_COMMON if COMMON_ALIASES[k].no_effect])
def test_a_value_asking_for_what_rlcore_always_does_is_accepted_with_a_line(old):
    value = COMMON_ALIASES[old].no_effect[0]
    with pytest.warns(RLlib2018Warning, match=rf"'{old}' has no effect in rlcore"):
        config = built_config({old: value})
    assert old not in config


def test_sample_async_true_is_refused_false_is_accepted():
    with pytest.raises(
        ConfigError, match=r"'sample_async' is an RLlib 2018 key.*got True \(only False, which has no effect"
    ):
        built_config({"sample_async": True})
    with pytest.warns(RLlib2018Warning, match="'sample_async' has no effect"):
        built_config({"sample_async": False})
    with pytest.raises(ConfigError, match="'monitor' is an RLlib 2018 key"):
        built_config({"monitor": True})


def test_ray_06s_own_defaults_of_keys_without_counterpart_are_accepted_with_lines():
    """A whole ray 0.6 config carries its defaults of keys rlcore lacks; those that change nothing
    learned (log level, metrics timeout, LZ4 compression, DQN's minimum iteration time) pass."""
    defaults = {"log_level": "INFO", "collect_metrics_timeout": 180, "compress_observations": True}
    defaults["min_iter_time_s"] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = built_config(defaults)
    assert not set(defaults) & set(config)
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, RLlib2018Warning))
    assert all(f"'{key}' has no effect in rlcore" in said for key in defaults), said
    with pytest.raises(ConfigError, match=r"'collect_metrics_timeout' is an RLlib 2018 key.*got 30 \(only 180"):
        built_config({"collect_metrics_timeout": 30})


# -- the model family ---------------------------------------------------------------------------


def test_model_custom_options_is_custom_model_config():
    with pytest.warns(RLlib2018Warning, match=r"'model.custom_options' is now 'model.custom_model_config'"):
        config = built_config({"model": {"custom_options": {"depth": 3}}})
    assert config["model"]["custom_model_config"] == {"depth": 3}
    assert "custom_options" not in config["model"]


@pytest.mark.parametrize(("given", "frames"), [(True, 4), (False, 1)])
def test_model_framestack_2018_bools_are_frame_counts(given, frames):
    with pytest.warns(RLlib2018Warning, match=r"RLlib 2018 value of config key 'model.framestack' translated"):
        config = built_config({"model": {"framestack": given}})
    assert config["model"]["framestack"] == frames


def test_model_framestack_int_is_todays_and_gives_no_line():
    out, lines = translated(COMMON_SCHEMA, {"model": {"framestack": 3}})
    assert out == {"model": {"framestack": 3}} and lines == []


@pytest.mark.parametrize("old", [k for k, a in MODEL_ALIASES.items() if a.new is None])
def test_model_keys_without_counterpart(old):
    with pytest.raises(ConfigError, match=rf"config key 'model.{old}' is an RLlib 2018 key whose feature"):
        built_config({"model": {old: True}})
    with pytest.warns(RLlib2018Warning, match=rf"'model.{old}' has no effect"):
        built_config({"model": {old: MODEL_ALIASES[old].no_effect[0]}})


def test_a_2018_model_key_of_the_wrong_type_names_both_names():
    with pytest.raises(ConfigError) as info:
        built_config({"model": {"custom_options": [1, 2]}})
    assert str(info.value).startswith(
        "ALIASES config key 'model.custom_options' (RLlib 2018 name of 'custom_model_config') "
        "is not a mapping: got [1, 2]"
    )


# -- bad input ----------------------------------------------------------------------------------


def test_a_2018_key_with_a_wrong_type_names_the_2018_and_todays_name():
    with pytest.raises(ConfigValueError) as info:
        built_config({"sample_batch_size": "abc"})
    msg = str(info.value)
    assert msg.startswith(
        "ALIASES config key 'sample_batch_size' (RLlib 2018 name of 'rollout_fragment_length') is not an int: "
        "got 'abc'; allowed: an int, rollout_fragment_length >= 1"
    )
    assert info.value.path == ("sample_batch_size",)
    with pytest.raises(
        ConfigError,
        match=r"'sample_batch_size' \(RLlib 2018 name of 'rollout_fragment_length'\) is out of range: got 0",
    ):
        built_config({"sample_batch_size": 0})
    with pytest.raises(
        ConfigError, match=r"'use_pytorch' \(RLlib 2018 name of 'framework'\) is not True or False: got 'yes'"
    ):
        built_config({"use_pytorch": "yes"})


def test_both_names_with_different_values_is_an_error_naming_both():
    with pytest.raises(ConfigError) as info:
        built_config({"sample_batch_size": 100, "rollout_fragment_length": 50})
    assert str(info.value) == (
        "ALIASES config keys 'sample_batch_size' (RLlib 2018 name of 'rollout_fragment_length') and "
        "'rollout_fragment_length' are both given, with different values: 100 and 50; give it once, as "
        "'rollout_fragment_length'"
    )
    with pytest.raises(ConfigError, match=r"'use_pytorch'.*and 'framework' are both given"):
        built_config({"use_pytorch": True, "framework": "tf"})


def test_both_names_with_the_same_value_is_fine_with_one_line():
    out, lines = translated(COMMON_SCHEMA, {"sample_batch_size": 50, "rollout_fragment_length": 50})
    assert out == {"rollout_fragment_length": 50}
    assert lines == ["RLlib 2018 config key 'sample_batch_size' is now 'rollout_fragment_length' (translated)"]


def test_a_grid_search_under_a_2018_key_is_translated_value_by_value():
    out, lines = translated(COMMON_SCHEMA, {"use_pytorch": {"grid_search": [True, False]}})
    assert out == {"framework": {"grid_search": ["torch", "tf"]}} and len(lines) == 1
    with pytest.raises(ConfigValueError) as info:
        translate_config(COMMON_SCHEMA, {"sample_batch_size": {"grid_search": [10, "x"]}})
    assert info.value.path == ("sample_batch_size", "grid_search", 1)
    assert (
        "config key 'sample_batch_size' (RLlib 2018 name of 'rollout_fragment_length') is not an int: got 'x'"
        in str(info.value)
    )
    with pytest.raises(
        ConfigError, match=r"'sample_async' is an RLlib 2018 key.*got \{'grid_search': \[False, True\]\}"
    ):
        translate_config(COMMON_SCHEMA, {"sample_async": {"grid_search": [False, True]}})


def test_a_model_grid_search_gets_its_2018_keys_translated():
    out, _ = translated(COMMON_SCHEMA, {"model": {"grid_search": [{"custom_options": {"a": 1}}, {"framestack": True}]}})
    assert out == {"model": {"grid_search": [{"custom_model_config": {"a": 1}}, {"framestack": 4}]}}


def test_an_unknown_key_nearest_to_a_2018_name_says_so_and_others_keep_todays_hint():
    with pytest.raises(ConfigError) as info:
        built_config({"sample_batch_sise": 10})
    msg = str(info.value)
    assert msg.startswith(
        "ALIASES unknown config key 'sample_batch_sise'. Did you mean 'sample_batch_size' "
        "(RLlib 2018 name of 'rollout_fragment_length')? Valid keys: "
    )
    with pytest.raises(ConfigError, match=r"unknown config key 'num_worker'\. Did you mean 'num_workers'\?"):
        built_config({"num_worker": 1})
    with pytest.raises(
        ConfigError,
        match=r"unknown config key 'model.custom_option'. Did you mean 'custom_options' "
        r"\(RLlib 2018 name of 'model.custom_model_config'\)",
    ):
        built_config({"model": {"custom_option": {}}})


def test_a_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="config needs a mapping of config keys to values, got list"):
        built_config([1, 2])  # type: ignore[arg-type]


def test_the_translation_leaves_the_callers_config_alone():
    config = {"sample_batch_size": 50, "model": {"custom_options": {"a": 1}}}
    before = json.dumps(config, sort_keys=True)
    translated(COMMON_SCHEMA, config)
    assert json.dumps(config, sort_keys=True) == before


def test_aliases_combine_with_the_schemas():
    mine = Schema({"depth": Field(2, "depth", int, min=1)}, aliases={"num_layers": Alias("depth")})
    both = COMMON_SCHEMA | mine
    assert set(both.aliases) == set(COMMON_ALIASES) | {"num_layers"}
    out, lines = translated(both, {"num_layers": 5, "sample_batch_size": 9})
    assert out == {"depth": 5, "rollout_fragment_length": 9} and len(lines) == 2


def test_one_line_per_key_per_process_on_stderr():
    """Python's default filter shows an RLlib2018Warning (a UserWarning, not a hidden
    DeprecationWarning) once per key however often the key is translated."""
    code = textwrap.dedent(
        """
        from rlcore.config_schema import COMMON_SCHEMA
        for _ in range(3):
            COMMON_SCHEMA.translate({"sample_batch_size": 5, "model": {"custom_options": {}}})
        COMMON_SCHEMA.translate({"sample_batch_size": 6})
        import warnings
        warnings.filterwarnings("ignore", "something else")  # a filter change (importing torch makes some)
        COMMON_SCHEMA.translate({"sample_batch_size": 7})
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "rlcore:0: RLlib2018Warning: RLlib 2018 config key 'model.custom_options' is now "
        "'model.custom_model_config' (translated)",
        "rlcore:0: RLlib2018Warning: RLlib 2018 config key 'sample_batch_size' is now 'rollout_fragment_length' "
        "(translated)",
    ]


# -- experiment files -------------------------------------------------------------------------------


@pytest.fixture
def alias_algo(rlcore_registry):
    register_algorithm("ALIASES", AliasTrainer)
    return "ALIASES"


def _write(tmp_path: Path, config: str) -> Path:
    path = tmp_path / "exp.yaml"
    body = textwrap.indent(textwrap.dedent(config).strip("\n"), "    ")
    path.write_text(f"my-exp:\n  env: CartPole-v1\n  run: ALIASES\n  config:\n{body}\n")
    return path


def test_an_experiment_file_with_2018_names_loads_to_todays(tmp_path, alias_algo):
    path = _write(
        tmp_path,
        """
        sample_batch_size:
            grid_search: [50, 100]
        use_pytorch: true
        sample_async: false
        model:
            custom_options: {depth: 2}
            framestack: false
        """,
    )
    with pytest.warns(RLlib2018Warning):
        (spec,) = load_experiments(path).values()
    assert spec.config == {
        "rollout_fragment_length": {"grid_search": [50, 100]},
        "framework": "torch",
        "model": {"custom_model_config": {"depth": 2}, "framestack": 1},
        "env": "CartPole-v1",
    }
    assert [v["rollout_fragment_length"] for v in spec.variants] == [50, 100]


@pytest.mark.parametrize(
    ("config", "line", "expected"),
    [
        (
            "sample_batch_size: abc",
            5,
            "config key 'sample_batch_size' (RLlib 2018 name of 'rollout_fragment_length') is not an int: got 'abc'",
        ),
        (
            "num_workers: 0\nsample_batch_size:\n    grid_search: [10, -1]",
            7,
            "'sample_batch_size' (RLlib 2018 name of 'rollout_fragment_length') is out of range: got -1",
        ),
        (
            "num_workers: 0\ntf_session_args: {intra_op_parallelism_threads: 2}",
            6,
            "config key 'tf_session_args' is an RLlib 2018 key whose feature rlcore does not have",
        ),
        (
            "rollout_fragment_length: 10\nsample_batch_size: 20",
            6,
            "config keys 'sample_batch_size' (RLlib 2018 name of 'rollout_fragment_length') and "
            "'rollout_fragment_length' are both given",
        ),
        (
            "model:\n    fcnet_hiddens: [8]\n    squash_to_range: true",
            7,
            "config key 'model.squash_to_range' is an RLlib 2018 key",
        ),
    ],
)
def test_an_experiment_file_error_points_at_the_2018_keys_line(tmp_path, alias_algo, config, line, expected):
    assert_load_fails_at(_write(tmp_path, config), line, expected)


def assert_load_fails_at(path: Path, line: int, expected: str) -> None:
    """Loading the experiments file fails in one line that starts with ``path:line`` and says ``expected``."""
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line}: experiment 'my-exp': "), msg
    assert expected in msg
    assert "\n" not in msg


# -- rlcore train --config ------------------------------------------------------------------------


@pytest.mark.reliability
def test_rlcore_train_config_json_with_a_2018_key_without_counterpart_fails_in_one_line(tmp_path):
    rlcore = Path(sys.executable).with_name("rlcore")
    proc = subprocess.run(
        [
            str(rlcore),
            "train",
            "--run",
            "PPO",
            "--env",
            "CartPole-v1",
            "--stop",
            '{"training_iteration": 1}',
            "--config",
            '{"sample_async": true}',
            "--local-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "sample_async" in line]
    assert len(errors) == 1 and "is an RLlib 2018 key whose feature rlcore does not have" in errors[0]
    assert not list(tmp_path.iterdir()), "nothing is written before the config is checked"


def test_a_schemas_own_key_wins_over_a_2018_alias_of_that_name():
    """An algorithm whose today's key has a 2018 common name (its own sample_async) keeps it."""
    mine = COMMON_SCHEMA | Schema({"sample_async": Field(False, "this algorithm's own", bool)})
    out, lines = translated(mine, {"sample_async": True})
    assert out == {"sample_async": True} and lines == []


def test_the_lines_are_silenced_by_the_readmes_warning_filter():
    code = "from rlcore.config_schema import COMMON_SCHEMA; COMMON_SCHEMA.translate({'sample_batch_size': 5})"
    env = {**os.environ, "PYTHONWARNINGS": "ignore:RLlib 2018"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    assert proc.stderr == ""


# -- an algorithm without a schema of its own ---------------------------------------------------------


class SchemalessTrainer(Trainer):
    """A third-party algorithm with no config_schema whose own keys share names with 2018 ones."""

    name = "SCHEMALESS"
    default_config: ClassVar[dict[str, Any]] = {
        **COMMON_SCHEMA.defaults(),
        "optimizer": {"kind": "adam"},
        "sample_batch_size": 8,
        "log_level": "WARN",
    }
    seen: ClassVar[dict[str, Any]] = {}

    def setup(self) -> None:
        SchemalessTrainer.seen = dict(self.config)
        raise Built


def test_an_algorithm_without_a_schema_keeps_its_own_keys_named_like_2018_ones(rlcore_registry):
    """Its default config's keys are today's keys for it: never translated, refused or hinted as 2018 names."""
    register_algorithm("SCHEMALESS", SchemalessTrainer)
    given = {"optimizer": {"kind": "sgd"}, "sample_batch_size": 16, "log_level": "DEBUG"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RLlib2018Warning)  # nothing is read as a 2018 name
        with pytest.raises(Built):
            SchemalessTrainer(given, env="CartPole-v1")
    assert {k: SchemalessTrainer.seen[k] for k in given} == given
    assert SchemalessTrainer.seen["rollout_fragment_length"] == COMMON_SCHEMA.defaults()["rollout_fragment_length"]
    with pytest.raises(
        ConfigError, match=r"unknown config key 'sample_batch_sizes'\. Did you mean 'sample_batch_size'\?"
    ):
        SchemalessTrainer({"sample_batch_sizes": 16}, env="CartPole-v1")
    assert translate_for_algorithm("SCHEMALESS", given) == given


@pytest.mark.parametrize(
    "key", ["use_lstm", "lstm_cell_size", "max_seq_len", "fcnet_hiddens", "lstm_use_prev_action_reward"]
)
def test_a_model_key_at_the_top_level_says_to_give_it_under_model(key):

    with pytest.raises(ConfigError, match=rf"^ALGO config key '{key}' is a model config key: give it under model"):
        COMMON_SCHEMA.translate({key: 8}, owner="ALGO")
    if key != "lstm_use_prev_action_reward":  # (2018's, refused under model too unless false)
        assert COMMON_SCHEMA.translate({"model": {key: 8}}, owner="ALGO") == {"model": {key: 8}}


# -- a 2018 key whose settings are several of today's keys (Alias.expand) ------------------------------

#: 2018 nested a distributed optimizer's settings under ``optimizer``; today each is a top-level key.
EXPAND_SCHEMA = COMMON_SCHEMA | Schema(
    {
        "num_shards": Field(4, "replay shards", int, min=1),
        "sync_delay": Field(400, "steps between weight pushes", int, min=1),
        "debug": Field(False, "accepted, no effect", bool),
    },
    aliases={
        "optimizer": Alias(
            None,
            "2018 nested the optimizer's settings under optimizer",
            expand=expand_keys(["sync_delay", "num_shards", "debug"]),
        ),
        "shards": Alias("num_shards"),
    },
)


class ExpandTrainer(AliasTrainer):
    name = "EXPAND"
    config_schema = EXPAND_SCHEMA
    default_config: ClassVar[dict[str, Any]] = EXPAND_SCHEMA.defaults()
    seen: ClassVar[dict[str, Any]] = {}

    def setup(self) -> None:
        ExpandTrainer.seen = dict(self.config)
        raise Built


def expand_built(config: dict[str, Any]) -> dict[str, Any]:
    """The config an EXPAND trainer ends up with (merged, validated) when given ``config``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        with pytest.raises(Built):
            ExpandTrainer(config, env="CartPole-v1")
    return ExpandTrainer.seen


def test_an_expanded_2018_key_becomes_todays_top_level_keys_with_one_line():
    out, lines = translated(EXPAND_SCHEMA, {"optimizer": {"sync_delay": 50, "num_shards": 2, "debug": True}})
    assert out == {"sync_delay": 50, "num_shards": 2, "debug": True}
    assert lines == [
        "RLlib 2018 config key 'optimizer' is now the keys 'sync_delay' and 'num_shards' and 'debug' "
        "(translated: 2018 nested the optimizer's settings under optimizer)"
    ]
    config = expand_built({"optimizer": {"num_shards": 3}, "num_workers": 0})
    assert (config["num_shards"], config["sync_delay"], config["debug"]) == (3, 400, False)
    assert "optimizer" not in config


def test_an_empty_expanded_2018_key_sets_nothing():
    out, lines = translated(EXPAND_SCHEMA, {"optimizer": {}})
    assert out == {} and lines == [
        "RLlib 2018 config key 'optimizer' is empty: nothing to translate: 2018 nested "
        "the optimizer's settings under optimizer"
    ]


def test_an_unknown_setting_of_an_expanded_key_names_the_key_and_the_allowed_settings():
    with pytest.raises(ConfigValueError) as info:
        expand_built({"optimizer": {"num_shard": 2}})
    assert str(info.value) == (
        "EXPAND config key 'optimizer' (RLlib 2018: its settings are today's keys) has an unknown setting "
        "'num_shard' (did you mean 'num_shards'?); allowed: sync_delay, num_shards, debug"
    )
    assert info.value.path == ("optimizer", "num_shard")
    with pytest.raises(ConfigValueError) as info:
        expand_built({"optimizer": 3})
    assert str(info.value) == (
        "EXPAND config key 'optimizer' (RLlib 2018: its settings are today's keys) is not a mapping of its "
        "settings (sync_delay, num_shards, debug): got 3"
    )
    assert info.value.path == ("optimizer",)


@pytest.mark.parametrize(
    ("setting", "value", "why"),
    [
        ("num_shards", 0, "is out of range: got 0"),
        ("sync_delay", "abc", "is not an int: got 'abc'"),
        ("debug", "no", "is not True or False: got 'no'"),
        ("num_shards", None, "is not optional: got None"),
    ],
)
def test_a_bad_setting_of_an_expanded_key_names_it_and_todays_key(setting, value, why):
    with pytest.raises(ConfigValueError) as info:
        expand_built({"optimizer": {setting: value}})
    assert str(info.value).startswith(
        f"EXPAND config key 'optimizer.{setting}' (RLlib 2018 name of '{setting}') {why}; allowed: "
    )
    assert info.value.path == ("optimizer", setting)


def test_an_expanded_setting_and_todays_key_with_different_values_is_an_error_naming_both():
    with pytest.raises(ConfigValueError) as info:
        expand_built({"optimizer": {"num_shards": 4}, "num_shards": 2})
    assert str(info.value) == (
        "EXPAND config keys 'optimizer.num_shards' (RLlib 2018 name of 'num_shards') and 'num_shards' are both "
        "given, with different values: 4 and 2; give it once, as 'num_shards'"
    )
    assert info.value.path == ("optimizer", "num_shards")
    with pytest.raises(
        ConfigValueError,
        match=r"config keys 'shards' \(RLlib 2018 name of 'num_shards'\) and 'optimizer.num_shards' are both given",
    ):
        expand_built({"optimizer": {"num_shards": 4}, "shards": 2})  # two 2018 names of one key
    out, _ = translated(EXPAND_SCHEMA, {"optimizer": {"num_shards": 2}, "num_shards": 2})
    assert out == {"num_shards": 2}  # the same value twice is fine


def test_a_grid_search_goes_inside_an_expanded_key_not_over_it():
    out, _ = translated(EXPAND_SCHEMA, {"optimizer": {"num_shards": {"grid_search": [1, 2]}}})
    assert out == {"num_shards": {"grid_search": [1, 2]}}
    with pytest.raises(ConfigValueError) as info:
        translate_config(EXPAND_SCHEMA, {"optimizer": {"num_shards": {"grid_search": [1, 0]}}})
    assert info.value.path == ("optimizer", "num_shards", "grid_search", 1)
    assert "config key 'optimizer.num_shards' (RLlib 2018 name of 'num_shards') is out of range: got 0" in str(
        info.value
    )
    with pytest.raises(ConfigValueError, match=r"'optimizer' .* cannot take a grid_search: put the grid_search on a"):
        translate_config(EXPAND_SCHEMA, {"optimizer": {"grid_search": [{"num_shards": 1}, {"num_shards": 2}]}})


def test_expand_keys_renames_settings_and_a_plain_callable_works_too():
    renamed = COMMON_SCHEMA | Schema(
        {"num_shards": Field(4, "replay shards", int, min=1)},
        aliases={
            "optimizer": Alias(
                None, expand=expand_keys({"num_replay_buffer_shards": "num_shards", "hiddens": "model.fcnet_hiddens"})
            )
        },
    )
    out, _ = translated(renamed, {"optimizer": {"num_replay_buffer_shards": 3, "hiddens": [8]}})
    assert out == {"num_shards": 3, "model": {"fcnet_hiddens": [8]}}
    with pytest.raises(ConfigValueError) as info:
        translate_config(renamed, {"optimizer": {"num_replay_buffer_shards": -1}})
    assert "'optimizer.num_replay_buffer_shards' (RLlib 2018 name of 'num_shards') is out of range" in str(info.value)
    assert info.value.path == ("optimizer", "num_replay_buffer_shards")

    def halves(value: Any) -> dict[str, Any]:
        if not isinstance(value, int):
            raise ExpandError("is not an int")
        return {"num_shards": value // 2, "sync_delay": value}

    plain = EXPAND_SCHEMA | Schema({}, aliases={"both": Alias(None, "one number for two keys", expand=halves)})
    out, lines = translated(plain, {"both": 10})
    assert out == {"num_shards": 5, "sync_delay": 10} and len(lines) == 1
    with pytest.raises(ConfigValueError, match=r"config key 'both' \(RLlib 2018: .*\) is not an int: got 'x'"):
        translate_config(plain, {"both": "x"})
    with pytest.raises(ConfigValueError, match=r"config key 'both' \(RLlib 2018 name of 'num_shards'\) is out of"):
        translate_config(plain, {"both": 1})  # 1 // 2 = 0 shards


def test_an_expand_declared_onto_a_key_the_schema_has_not_is_a_clear_error():
    wrong = COMMON_SCHEMA | Schema({}, aliases={"optimizer": Alias(None, expand=expand_keys(["num_shardz"]))})
    with pytest.raises(
        ConfigValueError,
        match=r"today's key 'num_shardz', which is not a config key of ALGO "
        r"\(a bug in the alias declaration",
    ):
        wrong.translate({"optimizer": {"num_shardz": 1}}, owner="ALGO")


def test_the_readme_table_lists_an_expanded_keys_settings():
    table = aliases_markdown(EXPAND_SCHEMA)
    assert (
        "| `optimizer` | its settings are today's top-level keys (`sync_delay`, `num_shards`, `debug`) | "
        "2018 nested the optimizer's settings under optimizer |"
    ) in table.splitlines()
    assert (
        "`num_replay_buffer_shards` -> `num_shards`"
        in expand_keys({"num_replay_buffer_shards": "num_shards"}).describe()
    )


@pytest.fixture
def expand_algo(rlcore_registry):
    register_algorithm("EXPAND", ExpandTrainer)
    return "EXPAND"


def _write_expand(tmp_path: Path, config: str) -> Path:
    path = _write(tmp_path, config)
    path.write_text(path.read_text().replace("run: ALIASES", "run: EXPAND"))
    return path


def test_an_experiment_file_with_an_expanded_key_loads_to_todays_keys(tmp_path, expand_algo):
    path = _write_expand(tmp_path, "optimizer:\n    sync_delay: 10\n    num_shards: 2\n    debug: false")
    with pytest.warns(RLlib2018Warning, match="'optimizer' is now the keys"):
        (spec,) = load_experiments(path).values()
    assert spec.config == {"sync_delay": 10, "num_shards": 2, "debug": False, "env": "CartPole-v1"}


@pytest.mark.parametrize(
    ("config", "line", "expected"),
    [
        (
            "optimizer:\n    sync_delay: 10\n    num_shard: 2",
            7,
            "config key 'optimizer' (RLlib 2018: its settings are today's keys) has an unknown setting 'num_shard'",
        ),
        (
            "optimizer:\n    sync_delay: 10\n    num_shards: 0",
            7,
            "config key 'optimizer.num_shards' (RLlib 2018 name of 'num_shards') is out of range: got 0",
        ),
        (
            "num_shards: 2\noptimizer:\n    debug: false\n    num_shards: 3",
            8,
            "config keys 'optimizer.num_shards' (RLlib 2018 name of 'num_shards') and 'num_shards' are both given",
        ),
        ("num_workers: 0\noptimizer: [1]", 6, "config key 'optimizer' (RLlib 2018: its settings are today's keys)"),
    ],
)
def test_an_experiment_file_error_in_an_expanded_key_points_at_its_line(tmp_path, expand_algo, config, line, expected):
    assert_load_fails_at(_write_expand(tmp_path, config), line, expected)


def test_an_expanded_key_beside_config_says_to_put_it_under_config(tmp_path, expand_algo):
    path = tmp_path / "exp.yaml"
    path.write_text("my-exp:\n  env: CartPole-v1\n  run: EXPAND\n  optimizer: {num_shards: 2}\n")
    with pytest.raises(
        ConfigError,
        match=r"'optimizer' is an algorithm config key \(of RLlib 2018: its settings are "
        r"today's keys\), not an experiment key: put it under `config:`",
    ):
        load_experiments(path)
