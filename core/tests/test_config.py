"""Config merge: deep, copying, unknown keys rejected with the nearest valid key."""

from __future__ import annotations

import pytest

from rlcore.config import merge_config
from rlcore.errors import ConfigError

DEFAULTS = {"lr": 1e-3, "num_workers": 0, "model": {"fcnet_hiddens": [64, 64], "free_log_std": False}, "env_config": {}}


def test_deep_merge_copies():
    out = merge_config(DEFAULTS, {"lr": 0.1, "model": {"fcnet_hiddens": [32]}, "env_config": {"size": 3}})
    assert out == {
        "lr": 0.1,
        "num_workers": 0,
        "model": {"fcnet_hiddens": [32], "free_log_std": False},
        "env_config": {"size": 3},
    }
    out["model"]["fcnet_hiddens"].append(1)
    assert DEFAULTS["model"]["fcnet_hiddens"] == [64, 64]
    assert merge_config(DEFAULTS, None) == DEFAULTS


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match=r"unknown config key 'num_worker'\. Did you mean 'num_workers'\?"):
        merge_config(DEFAULTS, {"num_worker": 2})


def test_unknown_nested_key_has_its_path():
    with pytest.raises(ConfigError, match=r"'model\.fcnet_hidden'.*Did you mean 'fcnet_hiddens'.*under 'model'"):
        merge_config(DEFAULTS, {"model": {"fcnet_hidden": [3]}})


def test_open_dicts_accept_anything():
    assert merge_config(DEFAULTS, {"env_config": {"anything": {"deep": 1}}})["env_config"] == {"anything": {"deep": 1}}


def test_wrong_type_for_a_section():
    with pytest.raises(ConfigError, match=r"'model' expects a mapping, got int"):
        merge_config(DEFAULTS, {"model": 3})
    with pytest.raises(ConfigError, match="expected a mapping"):
        merge_config(DEFAULTS, [("lr", 1)])  # type: ignore[arg-type]
