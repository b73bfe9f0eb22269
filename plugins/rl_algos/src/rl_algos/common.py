"""Helpers shared by rl_algos' trainers (DQN/APEX's replay checks, ES's noise-table check): the
env a trainer builds for its checks before its evaluators exist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlcore.errors import RLCoreError


def build_env_for_check(creator: Any, config: Mapping[str, Any]) -> Any:
    """One env, ``creator(config["env_config"])``, for a trainer's checks before its evaluators are
    built (close it with :func:`close_env`). Raises the creator's own
    :class:`~rlcore.errors.RLCoreError` (a bad ``env_config``); None when the env fails to build
    otherwise (the evaluator builds it next and reports its error in its words)."""
    try:
        return creator(dict(config.get("env_config") or {}))
    except RLCoreError:
        raise
    except Exception:  # noqa: BLE001 - the evaluator builds it next and reports its error in its words
        return None


def close_env(env: Any) -> None:
    """Close ``env`` when it has a ``close()``."""
    close = getattr(env, "close", None)
    if callable(close):
        close()


__all__ = ["build_env_for_check", "close_env"]
