"""The loss keys that framework policies used to check themselves are refused by the schemas now
(moved from rl_tf's and rl_torch's evaluator tests: policies receive the validated config and do not
re-validate it)."""

from __future__ import annotations

from typing import Any

import pytest

from rl_algos import dqn, ppo
from rlcore.errors import ConfigError


@pytest.mark.parametrize(
    ("schema", "key", "value"),
    [
        (ppo.SCHEMA, "lr", 0.0),
        (ppo.SCHEMA, "adam_epsilon", 0.0),
        (ppo.SCHEMA, "clip_param", -0.1),
        (ppo.SCHEMA, "num_cpu_towers", 0),
        (ppo.SCHEMA, "num_cpu_towers", 1.5),
        (dqn.SCHEMA, "lr", 0.0),
        (dqn.SCHEMA, "adam_epsilon", -1.0),
        (dqn.SCHEMA, "huber_delta", 0.0),
    ],
)
def test_out_of_range_loss_keys_are_config_errors(schema: Any, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"'{key}'.*got {value!r}"):
        schema.merge({key: value})
