"""A third-party algorithm's schema (the example plugin's PG) gets the same value checks as PPO and
DQN: every key, its own and the common ones, refuses a wrong type and a value past each bound at
construction, naming the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from rlcore.errors import ConfigError


def test_pg_refuses_a_wrong_type_and_a_value_out_of_range_for_every_key(example_registry):
    # the example is installed by a session fixture, so its schema is read here, not at collection
    from rlcore_numpy_example.algorithm import PG

    checked = 0
    for key, field in PG.config_schema.fields.items():
        assert field.type is not None or field.choices is not None, key
        if field.type in (int, float):
            assert field.min is not None or field.max is not None, key
        for value, why in field.refused_examples():
            with pytest.raises(ConfigError) as info:
                PG({"env": "CartPole-v1", key: value})
            msg = str(info.value)
            assert f"config key {key!r}" in msg and repr(value) in msg, msg
            if key not in ("model", "env_config"):  # a non-mapping there is refused by the merge
                assert msg.startswith(f"PG config key {key!r} {why}: got {value!r}; allowed: "), msg
            checked += 1
    assert {"lr", "vf_coeff", "gamma", "num_workers"} <= set(PG.config_schema.fields) and checked > 40
