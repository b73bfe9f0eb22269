"""Each key of each algorithm's schema (PPO, DQN, A3C, A2C, APEX) is fed a value of the wrong type and one past
each bound: the trainer refuses it before it builds an env, naming the key, the value and what is
allowed."""

from __future__ import annotations

import pytest

import rlcore
from rl_algos import a3c, apex, dqn, ppo
from rlcore.errors import ConfigError
from rlcore.testing.envs import make_corridor

ALGORITHMS = {
    "PPO": (ppo.PPO, ppo.SCHEMA),
    "DQN": (dqn.DQN, dqn.SCHEMA),
    "A3C": (a3c.A3C, a3c.SCHEMA),
    "A2C": (a3c.A2C, a3c.A2C_SCHEMA),
    "APEX": (apex.APEX, apex.SCHEMA),
}


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_key_is_documented_typed_and_ranged(algo):
    trainer_cls, schema = ALGORITHMS[algo]
    assert set(schema.fields) == set(trainer_cls.default_config), algo
    for key, field in schema.fields.items():
        assert field.doc and (field.type is not None or field.choices is not None), key
        if field.type in (int, float):  # a range, or a check of its own (A3C's entropy_coeff sign)
            assert field.min is not None or field.max is not None or field.check is not None, key
        assert field.error(field.default) is None, key


def _every_key_cases():
    return [
        pytest.param(algo, key, value, why, id=f"{algo}-{key}-{value!r}")
        for algo, (_, schema) in ALGORITHMS.items()
        for key, field in schema.fields.items()
        for value, why in field.refused_examples()
    ]


@pytest.mark.parametrize(("algo", "key", "value", "why"), _every_key_cases())
def test_every_key_refuses_a_wrong_type_and_a_value_out_of_range_at_construction(
    rlcore_registry, algo, key, value, why
):
    trainer_cls, _ = ALGORITHMS[algo]
    rlcore.register_env("Corridor-v0", make_corridor)
    with pytest.raises(ConfigError) as info:
        trainer_cls({"env": "Corridor-v0", key: value})  # the env in the config, so that its key is checked too
    msg = str(info.value)
    assert f"config key {key!r}" in msg and repr(value) in msg, msg
    if key not in ("model", "env_config"):  # a non-mapping there is refused by the merge, in its words
        assert msg.startswith(f"{algo} config key {key!r} {why}: got {value!r}; allowed: "), msg
