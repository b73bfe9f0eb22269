"""RLlib 2018 names of PPO's, DQN's, A3C's, A2C's, APEX's and ES's keys: every alias reaches today's key, a
trainer built with 2018 names trains like one built with today's, bad input, the seed's experiment file, the README."""

from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from rl_algos.a3c.config import A2C_ALIASES_2018, A2C_SCHEMA
from rl_algos.a3c.config import ALIASES_2018 as A3C_ALIASES
from rl_algos.a3c.config import SCHEMA as A3C_SCHEMA
from rl_algos.apex.config import ALIASES_2018 as APEX_ALIASES
from rl_algos.apex.config import SCHEMA as APEX_SCHEMA
from rl_algos.dqn.config import ALIASES_2018 as DQN_ALIASES
from rl_algos.dqn.config import SCHEMA as DQN_SCHEMA
from rl_algos.es.config import ALIASES_2018 as ES_ALIASES
from rl_algos.es.config import SCHEMA as ES_SCHEMA
from rl_algos.ppo.config import ALIASES_2018 as PPO_ALIASES
from rl_algos.ppo.config import SCHEMA as PPO_SCHEMA
from rlcore.config import merge_config
from rlcore.config_aliases import RLlib2018Warning, aliases_markdown
from rlcore.config_schema import COMMON_SCHEMA, ConfigValueError
from rlcore.errors import ConfigError
from rlcore.experiments import load_experiments

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = {
    "PPO": PPO_SCHEMA,
    "DQN": DQN_SCHEMA,
    "A3C": A3C_SCHEMA,
    "A2C": A2C_SCHEMA,
    "APEX": APEX_SCHEMA,
    "ES": ES_SCHEMA,
}
FAMILIES = {
    "PPO": PPO_ALIASES,
    "DQN": DQN_ALIASES,
    "A3C": A3C_ALIASES,
    "A2C": A2C_ALIASES_2018,
    "APEX": APEX_ALIASES,
    "ES": ES_ALIASES,
}


def merged(algo: str, config: dict[str, Any]) -> dict[str, Any]:
    """What the trainer does with ``config`` before it builds anything: translate, merge, validate."""
    schema = SCHEMAS[algo]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        out = merge_config(schema.defaults(), schema.translate(config, owner=algo))
    schema.validate(out, owner=algo)
    return out


def _value_for(schema, target: str) -> Any:
    *parents, last = target.split(".")
    for parent in parents:
        schema = schema.fields[parent].schema
    fld = schema.fields[last]
    if fld.type is bool:
        return not fld.default
    if fld.type is int:
        return 64
    return 0.0123


RENAMED = [
    (algo, old)
    for algo, family in FAMILIES.items()
    for old, alias in family.items()
    if alias.new is not None and alias.fold is None and alias.legacy is None  # legacy: a value form, same name
]
NO_COUNTERPART = [  # an expanded key (APEX's optimizer) has counterparts: its settings
    (algo, old) for algo, family in FAMILIES.items() for old, a in family.items() if a.new is None and a.expand is None
]


def test_the_families_hold_rllib_2018s_names():
    assert {"sgd_batchsize", "sgd_stepsize", "timesteps_per_batch", "vf_share_layers"} <= set(PPO_ALIASES)
    assert {"grad_norm_clipping", "exploration_fraction", "schedule_max_timesteps"} <= set(DQN_ALIASES)
    assert {"optimizer", "num_batches_per_iteration", "batch_size", "entropy_coeff", "sample_async"} <= set(A3C_ALIASES)
    assert {"summarize", "use_gpu_for_workers", "use_lstm", "min_iter_time_s"} <= set(A3C_ALIASES)
    for algo, schema in SCHEMAS.items():
        assert set(COMMON_SCHEMA.aliases) <= set(schema.aliases), algo  # the common family too
        for old, alias in FAMILIES[algo].items():
            assert schema.aliases[old] is alias, (algo, old)  # merged last: the algorithm's entry wins
            if alias.legacy is not None:  # a 2018 value form of a key that kept its name
                assert old == alias.new and old in schema.fields, (algo, old)
                continue
            assert old not in schema.fields, (algo, old)
            if alias.new is not None:
                assert alias.new.split(".")[0] in schema.fields, (algo, old)


@pytest.mark.parametrize(("algo", "old"), RENAMED, ids=[f"{a}-{o}" for a, o in RENAMED])
def test_every_renamed_algorithm_key_reaches_todays_key(algo, old):
    alias = FAMILIES[algo][old]
    value = _value_for(SCHEMAS[algo], alias.new)
    if old in ("sgd_batchsize", "timesteps_per_batch"):
        value = 128  # minibatch <= train batch
    given = {"grads_per_step": value} if old == "optimizer" else value  # A3C's optimizer settings mapping
    with pytest.warns(RLlib2018Warning, match=rf"RLlib 2018 config key '{old}' is now '{re.escape(alias.new)}'"):
        config = merge_config(SCHEMAS[algo].defaults(), SCHEMAS[algo].translate({old: given}, owner=algo))
    node = config
    for part in alias.new.split(".")[:-1]:
        node = node[part]
    assert node[alias.new.split(".")[-1]] == value
    assert old not in config


def test_ppo_values_land_where_2018_meant_them():
    config = merged("PPO", {"sgd_batchsize": 256, "sgd_stepsize": 1e-4, "timesteps_per_batch": 2000})
    assert (config["sgd_minibatch_size"], config["lr"], config["train_batch_size"]) == (256, 1e-4, 2000)
    assert merged("PPO", {"vf_share_layers": True, "model": {"fcnet_hiddens": [8]}})["model"] == {
        **merged("PPO", {})["model"],
        "fcnet_hiddens": [8],
        "vf_share_layers": True,
    }


def test_dqn_exploration_is_fraction_times_schedule():
    assert merged("DQN", {"exploration_fraction": 0.5, "schedule_max_timesteps": 4000})["exploration_timesteps"] == 2000
    assert merged("DQN", {"exploration_fraction": 0.2})["exploration_timesteps"] == 20000  # 2018's 100000 steps
    assert merged("DQN", {"schedule_max_timesteps": 5000})["exploration_timesteps"] == 500  # 2018's fraction 0.1
    assert merged("DQN", {"grad_norm_clipping": 10})["grad_clip"] == 10
    assert merged("DQN", {"prioritized_replay_beta0": 0.5})["prioritized_replay_beta"] == 0.5


@pytest.mark.parametrize(("algo", "old"), NO_COUNTERPART, ids=[f"{a}-{o}" for a, o in NO_COUNTERPART])
def test_every_algorithm_key_without_counterpart_is_an_error_or_a_no_effect_line(algo, old):
    alias = FAMILIES[algo][old]
    with pytest.raises(ConfigError, match=rf"^{algo} config key '{old}' is an RLlib 2018 key whose feature"):
        merged(algo, {old: "something else"})
    if alias.no_effect:
        with pytest.warns(RLlib2018Warning, match=rf"'{old}' has no effect in rlcore"):
            assert old not in SCHEMAS[algo].translate({old: alias.no_effect[0]}, owner=algo)


# -- bad input -------------------------------------------------------------------------------------


def test_a_2018_key_of_the_wrong_type_names_both_names():
    with pytest.raises(ConfigValueError) as info:
        merged("PPO", {"sgd_batchsize": "abc"})
    assert str(info.value).startswith(
        "PPO config key 'sgd_batchsize' (RLlib 2018 name of 'sgd_minibatch_size') is not an int: got 'abc'; "
        "allowed: an int, sgd_minibatch_size >= 1 (rows per SGD step"
    )
    with pytest.raises(ConfigError, match=r"'sgd_stepsize' \(RLlib 2018 name of 'lr'\) is out of range: got -1"):
        merged("PPO", {"sgd_stepsize": -1})
    with pytest.raises(ConfigError, match=r"'vf_share_layers' \(RLlib 2018 name of 'model.vf_share_layers'\) is not"):
        merged("PPO", {"vf_share_layers": 1})
    with pytest.raises(
        ConfigError, match=r"'exploration_fraction' \(RLlib 2018, folded into 'exploration_timesteps'\) is out of range"
    ):
        merged("DQN", {"exploration_fraction": 2.0})
    with pytest.raises(ConfigError, match=r"'schedule_max_timesteps' .* is not an int: got 1000.5"):
        merged("DQN", {"schedule_max_timesteps": 1000.5})


def test_both_names_with_different_values_name_both():
    with pytest.raises(ConfigError) as info:
        merged("PPO", {"sgd_batchsize": 256, "sgd_minibatch_size": 128})
    assert str(info.value) == (
        "PPO config keys 'sgd_batchsize' (RLlib 2018 name of 'sgd_minibatch_size') and 'sgd_minibatch_size' are "
        "both given, with different values: 256 and 128; give it once, as 'sgd_minibatch_size'"
    )
    assert merged("PPO", {"sgd_batchsize": 128, "sgd_minibatch_size": 128})["sgd_minibatch_size"] == 128
    with pytest.raises(ConfigError, match=r"'vf_share_layers' .* and 'model.vf_share_layers' are both given"):
        merged("PPO", {"vf_share_layers": True, "model": {"vf_share_layers": False}})
    with pytest.raises(ConfigError, match=r"'exploration_fraction' .* and 'exploration_timesteps' are both given"):
        merged("DQN", {"exploration_fraction": 0.5, "exploration_timesteps": 10})


def test_two_2018_names_for_one_key():
    with pytest.raises(ConfigError) as info:
        merged("PPO", {"timesteps_per_batch": 4000, "train_batch_size": 2000})
    assert "'timesteps_per_batch' (RLlib 2018 name of 'train_batch_size') and 'train_batch_size'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        merged("PPO", {"min_steps_per_task": 100, "sample_batch_size": 200})
    msg = str(info.value)
    assert "'sample_batch_size' (RLlib 2018 name of 'rollout_fragment_length') and 'min_steps_per_task'" in msg
    assert merged("PPO", {"min_steps_per_task": 100, "sample_batch_size": 100})["rollout_fragment_length"] == 100


def test_grid_search_under_2018_algorithm_keys():
    out = PPO_SCHEMA.translate({"sgd_batchsize": {"grid_search": [128, 256, 512]}}, owner="PPO")
    assert out == {"sgd_minibatch_size": {"grid_search": [128, 256, 512]}}
    with pytest.raises(ConfigError, match=r"'exploration_fraction' .* cannot take a grid_search"):
        DQN_SCHEMA.translate({"exploration_fraction": {"grid_search": [0.1, 0.2]}}, owner="DQN")


def test_vf_share_layers_into_a_model_grid_is_refused_with_what_to_do():
    with pytest.raises(ConfigError, match="cannot go into 'model', which is not a plain mapping here: set"):
        PPO_SCHEMA.translate({"vf_share_layers": True, "model": {"grid_search": [{}, {}]}}, owner="PPO")


def test_unknown_key_near_a_2018_name():
    with pytest.raises(ConfigError, match=r"Did you mean 'sgd_batchsize' \(RLlib 2018 name of 'sgd_minibatch_size'\)"):
        merged("PPO", {"sgd_batchsiz": 64})


# -- the trainers ----------------------------------------------------------------------------------


# -- experiment files ------------------------------------------------------------------------------


def test_the_seeds_grid_file_loads_to_todays_names():
    with pytest.warns(RLlib2018Warning, match="'sgd_batchsize' is now 'sgd_minibatch_size'"):
        (spec,) = load_experiments(REPO / "tuned_examples" / "cartpole-grid-search-example.yaml").values()
    assert spec.config["sgd_minibatch_size"] == {"grid_search": [128, 256, 512]}
    assert "sgd_batchsize" not in spec.config
    assert spec.num_trials == 6
    assert sorted((v["num_sgd_iter"], v["sgd_minibatch_size"]) for v in spec.variants) == [
        (1, 128), (1, 256), (1, 512), (4, 128), (4, 256), (4, 512),
    ]  # fmt: skip


def test_an_experiment_file_error_points_at_the_2018_key(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            ppo-2018:
                env: CartPole-v1
                run: PPO
                config:
                    num_workers: 0
                    sgd_batchsize:
                        grid_search: [128, abc]
            """
        )
    )
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:7: experiment 'ppo-2018': PPO config key 'sgd_batchsize' (RLlib 2018 name of ")
    assert "is not an int: got 'abc'" in msg
    path.write_text(
        path.read_text().replace("grid_search: [128, abc]", "grid_search: [128, 256]\n        devices: ['/gpu:0']")
    )
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:8: .*'devices' is an RLlib 2018 key"):
        load_experiments(path)


# -- the README ------------------------------------------------------------------------------------


def readme_tables() -> dict[str, str]:
    """The generated Markdown tables, by README marker."""
    return {
        "common": aliases_markdown(COMMON_SCHEMA),
        "PPO": aliases_markdown(PPO_SCHEMA, exclude=COMMON_SCHEMA),
        "DQN": aliases_markdown(DQN_SCHEMA, exclude=COMMON_SCHEMA),
        "A3C": aliases_markdown(A3C_SCHEMA, exclude=COMMON_SCHEMA),
        "A2C": aliases_markdown(A2C_SCHEMA, exclude=COMMON_SCHEMA),
        "APEX": aliases_markdown(APEX_SCHEMA, exclude=COMMON_SCHEMA),
        "ES": aliases_markdown(ES_SCHEMA, exclude=COMMON_SCHEMA),
    }


@pytest.mark.parametrize("family", ["common", "PPO", "DQN", "A3C", "A2C", "APEX", "ES"])
def test_the_readme_tables_are_the_declared_aliases(family):
    readme = (REPO / "README.md").read_text()
    match = re.search(
        rf"<!-- rllib2018-aliases:{family} -->\n(.*?)\n<!-- /rllib2018-aliases:{family} -->", readme, re.S
    )
    assert match, f"README has no <!-- rllib2018-aliases:{family} --> block"
    assert match.group(1) == readme_tables()[family], (
        "regenerate with: python -c 'from rl_algos.tests... readme_tables' (see this test)"
    )


# -- a checkpoint's config under 2018 names --------------------------------------------------------


# -- rlcore train --config with 2018 names ---------------------------------------------------------
