"""ES's config schema: RLlib 2018's ES keys with their defaults, each documented, typed and ranged;
the 2018 name timesteps_per_batch; and bad input refused by the trainer before it builds an env
(every numeric key's wrong types, NaN/inf and bounds, unknown choices, episodes_per_batch < 2,
noise_size too small for the policy or too large for the machine)."""

from __future__ import annotations

import math
import re
import warnings

import pytest

from rl_algos.es import ES, SCHEMA
from rl_algos.es.config import ALIASES_2018, DEFAULT_CONFIG
from rlcore.config_aliases import RLlib2018Warning
from rlcore.config_schema import COMMON_SCHEMA
from rlcore.errors import ConfigError

RLLIB_2018 = {
    "l2_coeff": 0.005,
    "noise_stdev": 0.02,
    "episodes_per_batch": 1000,
    "train_batch_size": 10000,
    "eval_prob": 0.003,
    "return_proc_mode": "centered_rank",
    "num_workers": 10,
    "stepsize": 0.01,
    "observation_filter": "MeanStdFilter",
    "noise_size": 250_000_000,
    "report_length": 10,
    "env_config": {},
}


def test_defaults_are_rllib_2018s_plus_rlcores_own():
    assert {k: DEFAULT_CONFIG[k] for k in RLLIB_2018} == RLLIB_2018
    assert DEFAULT_CONFIG["action_noise_std"] == 0.01
    assert (DEFAULT_CONFIG["optimizer_type"], DEFAULT_CONFIG["sgd_momentum"]) == ("adam", 0.9)
    assert DEFAULT_CONFIG["framework"] == "numpy"  # ES needs no deep-learning framework
    assert ES.default_config == DEFAULT_CONFIG and ES.config_schema is SCHEMA
    assert set(COMMON_SCHEMA.fields) <= set(SCHEMA.fields)


def test_every_key_is_documented_typed_and_ranged():
    for key, field in SCHEMA.fields.items():
        assert field.doc and (field.type is not None or field.choices is not None), key
        if field.type in (int, float) and field.choices is None:
            assert field.min is not None or field.max is not None or field.check is not None, key
        assert field.error(field.default) is None, key
    assert "antithetic pairs need 2" in SCHEMA.fields["episodes_per_batch"].doc


def _construct(config):
    """ES built on CartPole with ``config`` in one process: what a user's bad key meets first."""
    return ES({"env": "CartPole-v1", "num_workers": 0, **config})


def _cases():
    out = []
    for key, field in SCHEMA.fields.items():
        examples = list(field.refused_examples())
        if field.type is float and field.choices is None:
            examples += [(math.inf, "is not finite"), (-math.inf, "is not finite")]
        for value, why in examples:
            if key == "num_workers" and value is None:
                continue  # num_workers None is refused too; the constructor's num_workers=0 override is not used
            out.append(pytest.param(key, value, why, id=f"{key}-{value!r}"))
    return out


@pytest.mark.parametrize(("key", "value", "why"), _cases())
def test_every_key_refuses_a_wrong_type_and_a_value_out_of_range(key, value, why):
    config = {key: value}
    if key != "num_workers":
        config = {"num_workers": 0, **config}
    with pytest.raises(ConfigError) as info:
        ES({"env": "CartPole-v1", **config})
    msg = str(info.value)
    assert f"config key {key!r}" in msg and repr(value) in msg, msg
    if key not in ("model", "env_config"):  # a non-mapping there is refused by the merge, in its words
        assert msg.startswith(f"ES config key {key!r} {why}: got {value!r}; allowed: "), msg


@pytest.mark.parametrize("value", [1, 0, -4])
def test_episodes_per_batch_below_2_says_antithetic_pairs_need_2(value):
    with pytest.raises(ConfigError) as info:
        _construct({"episodes_per_batch": value})
    msg = str(info.value)
    assert msg.startswith(f"ES config key 'episodes_per_batch' is out of range: got {value}; allowed: an int, ")
    assert "episodes_per_batch >= 2" in msg and "antithetic pairs need 2" in msg


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("noise_stdev", 0, "is out of range"),
        ("noise_stdev", -0.02, "is out of range"),
        ("noise_stdev", math.nan, "is not finite"),
        ("noise_stdev", math.inf, "is not finite"),
        ("noise_stdev", "0.02", "is not a number"),
        ("noise_stdev", False, "is not a number"),
        ("stepsize", 0.0, "is out of range"),
        ("eval_prob", -0.001, "is out of range"),
        ("eval_prob", 1.001, "is out of range"),
        ("l2_coeff", -1e-3, "is out of range"),
        ("action_noise_std", -0.01, "is out of range"),
        ("sgd_momentum", 1.0, "is out of range"),
        ("noise_size", 0, "is out of range"),
        ("noise_size", 1e6, "is not an int (write 1000000, without the decimal point)"),
        ("train_batch_size", 0, "is out of range"),
        ("report_length", 0, "is out of range"),
    ],
)
def test_numeric_keys_named_by_the_issue(key, value, why):
    with pytest.raises(ConfigError, match=rf"^ES config key '{key}' {re.escape(why)}: got {re.escape(repr(value))}"):
        _construct({key: value})


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("return_proc_mode", "centered_ranks", "one of 'centered_rank', 'raw'"),
        ("return_proc_mode", ["raw"], "one of 'centered_rank', 'raw'"),
        ("optimizer_type", "rmsprop", "one of 'adam', 'sgd'"),
        ("optimizer_type", "Adam", "one of 'adam', 'sgd'"),
        ("observation_filter", "ConcurrentMeanStdFilter", "one of 'NoFilter', 'MeanStdFilter'"),
    ],
)
def test_unknown_choices_list_the_allowed_ones(key, value, allowed):
    with pytest.raises(ConfigError) as info:
        _construct({key: value})
    msg = str(info.value)
    assert msg.startswith(f"ES config key {key!r} is not one of the choices: got {value!r}; allowed: {allowed} ("), msg


def test_noise_size_above_this_machines_memory_is_refused_before_anything_is_built():
    with pytest.raises(ConfigError) as info:
        _construct({"noise_size": 10**15})  # 4 PB of float32
    msg = str(info.value)
    assert msg.startswith("ES config key 'noise_size' would not fit in this machine's memory: 1,000,000,000,000,000 ")
    assert "Lower noise_size" in msg and "got 1000000000000000" in msg


def test_noise_size_smaller_than_the_policy_names_both_numbers():
    # CartPole with fcnet_hiddens [8]: 4*8+8 + 8*2+2 = 58 acting parameters (the value branch's 49 are not perturbed)
    with pytest.raises(ConfigError) as info:
        _construct({"noise_size": 50, "model": {"fcnet_hiddens": [8]}})
    assert str(info.value).startswith(
        "ES config key 'noise_size' 50 is smaller than the policy's 58 acting parameters: each perturbation "
        "reads num_params consecutive values of the noise table; set noise_size to at least 58"
    )


def test_timesteps_per_batch_is_train_batch_size():
    assert (
        set(ALIASES_2018) == {"timesteps_per_batch"} and SCHEMA.aliases["timesteps_per_batch"].new == "train_batch_size"
    )
    with pytest.warns(RLlib2018Warning, match="'timesteps_per_batch' is now 'train_batch_size'"):
        merged = SCHEMA.merge({"timesteps_per_batch": 500}, owner="ES")
    assert merged["train_batch_size"] == 500 and "timesteps_per_batch" not in merged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        with pytest.raises(ConfigError, match=r"'timesteps_per_batch' .* and 'train_batch_size' are both given"):
            SCHEMA.merge({"timesteps_per_batch": 500, "train_batch_size": 400}, owner="ES")
        with pytest.raises(ConfigError, match=r"'timesteps_per_batch' \(RLlib 2018 name of 'train_batch_size'\) is "):
            SCHEMA.merge({"timesteps_per_batch": "many"}, owner="ES")


def test_an_unknown_key_gets_the_nearest_es_key():
    with pytest.raises(ConfigError, match="Did you mean 'noise_stdev'"):
        _construct({"noise_std": 0.1})


def test_noise_size_with_remote_workers_counts_the_object_store_copy():
    """With num_workers > 0 the driver's machine holds the table twice (its array and Ray's object
    store): a table that fits once but not twice is refused, naming num_workers; embedded it is not."""
    from rlcore.models.layout import physical_memory_bytes

    memory = physical_memory_bytes()
    assert memory is not None  # Linux and macOS say
    size = int(memory * 0.75) // 4  # one copy: 75% of the memory; two: 150%
    config = {**DEFAULT_CONFIG, "noise_size": size}
    SCHEMA.validate({**config, "num_workers": 0}, owner="ES")  # validated only: nothing is allocated here
    with pytest.raises(ConfigError) as info:
        SCHEMA.validate({**config, "num_workers": 2}, owner="ES")
    msg = str(info.value)
    assert msg.startswith("ES config: key 'noise_size' would not fit in this machine's memory: ")
    assert "x 2 copies (the driver's array and Ray's object store)" in msg
    assert msg.endswith(f"; got {size} with num_workers 2")
