"""Exceptions raised by rlcore. Every message says what was wrong and what to do about it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RLCoreError(Exception):
    """Base class of every error rlcore raises on purpose."""


class UnknownNameError(RLCoreError, KeyError):
    """A name (env, algorithm, evaluator, optimizer, model) that nothing registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(RLCoreError):
    """A plugin failed to load or to register, or two plugins registered the same name."""


class PluginUnavailableError(PluginError):
    """A name is registered by a plugin that cannot be used here (broken or missing-deps)."""


class PluginClashError(PluginError):
    """Two plugins registered the same name."""


class ConfigError(RLCoreError, ValueError):
    """A configuration key or value that is not valid."""


class SampleBatchError(RLCoreError, ValueError):
    """Columns of a SampleBatch that do not fit together."""


class NonFiniteLossError(RLCoreError, FloatingPointError):
    """The loss (one of its terms) or its gradients came out NaN or infinite; nothing was applied."""


class GradientError(RLCoreError, ValueError):
    """A gradient dict that does not fit the weights: missing or unknown names, wrong shapes."""


class CheckpointError(RLCoreError, ValueError):
    """A checkpoint is missing, corrupted, modified or does not fit the trainer restoring it."""


class FrameworkRequiredError(CheckpointError):
    """A checkpoint whose policy cannot act with numpy alone (a custom model, or no acting spec
    recorded): the message names the framework plugin (and the package registering the model) to
    install, and how to load it then; :attr:`reason` says why in a few words."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class EnvError(RLCoreError):
    """An env failed where it enters rlcore: its creator, ``reset`` or ``step`` raised, or returned
    something gymnasium's API does not allow (the message names the env, worker, call and step)."""


class UnsupportedOperationError(RLCoreError, NotImplementedError):
    """An evaluator was asked for an operation it declares it does not support."""


def nearest(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """The choices closest to ``word`` (case-insensitive), best first."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``" Did you mean 'x'?"`` suffix, or an empty string when nothing is close."""
    hits = nearest(word, choices)
    return f" Did you mean {hits[0]!r}?" if hits else ""
