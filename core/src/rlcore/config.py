"""Config handling: deep merge of defaults and user config, with unknown keys rejected.

A key whose default is an empty dict (``env_config``, ``custom_model_config``...) is *open*: any
keys are accepted under it. Every other dict default is *closed*: a key that is not in the
defaults raises :class:`~rlcore.errors.ConfigError` naming the nearest valid key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rlcore.errors import ConfigError, did_you_mean


def merge_config(defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None, *, path: str = "") -> dict[str, Any]:
    """A deep copy of ``defaults`` updated with ``overrides``, recursively, keys checked.

    ``path`` prefixes the key names in error messages (``"model.fcnet_hiddens"``).
    """
    out = copy.deepcopy(dict(defaults))
    if not overrides:
        return out
    if not isinstance(overrides, Mapping):
        where = f" for {path!r}" if path else ""
        raise ConfigError(f"expected a mapping{where}, got {type(overrides).__name__}: {overrides!r}")
    for key, value in overrides.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in defaults:
            if not defaults and path:  # open dict: anything goes
                out[key] = copy.deepcopy(value)
                continue
            raise ConfigError(
                f"unknown config key {full!r}.{did_you_mean(str(key), [str(k) for k in defaults])} "
                f"Valid keys{' under ' + repr(path) if path else ''}: {', '.join(sorted(map(str, defaults)))}."
            )
        default = defaults[key]
        if isinstance(default, Mapping) and isinstance(value, Mapping):
            out[key] = merge_config(default, value, path=full) if default else copy.deepcopy(dict(value))
        elif isinstance(default, Mapping) and value is not None:
            raise ConfigError(f"config key {full!r} expects a mapping, got {type(value).__name__}: {value!r}")
        else:
            out[key] = copy.deepcopy(value)
    return out
