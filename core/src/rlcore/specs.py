"""Specs: the small frozen records that plugins and users register.

A spec names a lazy import target (``"package.module:attribute"``) that is imported only when
:meth:`Spec.load` is called, so that listing plugins and resolving names never imports torch,
TensorFlow or Ray.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlcore.errors import PluginError

#: The kinds of thing that can be registered, singular, as used in keys and messages.
KINDS: tuple[str, ...] = ("env", "model", "policy", "evaluator", "optimizer", "algorithm")

#: Kinds whose specs are keyed by (name, framework).
FRAMEWORK_KINDS: frozenset[str] = frozenset({"model", "policy", "evaluator"})

#: The plugin name given to registrations made in code (``rlcore.register_env`` ...).
USER = "<user>"


@dataclass(frozen=True)
class Spec:
    """One registered thing.

    ``kind`` is one of :data:`KINDS`; ``name`` the algorithm, optimizer, env id or model kind;
    ``framework`` is set for policies, evaluators and models (``"torch"``, ``"tf"``, ``"numpy"``...);
    ``target`` is ``"module:attribute"`` or, for registrations made in code, the object itself.
    """

    kind: str
    name: str
    target: str | Callable[..., Any]
    framework: str | None = None
    summary: str = ""
    capabilities: frozenset[str] = field(default_factory=frozenset)
    plugin: str = USER
    distribution: str | None = None

    @property
    def key(self) -> str:
        """``"PPO/torch"`` for framework kinds, else the name."""
        return spec_key(self.name, self.framework)

    @property
    def target_repr(self) -> str:
        """The target as text, for listings."""
        if isinstance(self.target, str):
            return self.target
        mod = getattr(self.target, "__module__", "?")
        return f"{mod}:{getattr(self.target, '__qualname__', repr(self.target))}"

    def load(self) -> Any:
        """Import and return the target. Raises :class:`PluginError` naming the plugin on failure.

        A target of a plugin whose status is not ``ok`` raises the plugin's own error (with the
        fix, such as the distribution to install) instead of importing anything.
        """
        from rlcore.plugins import get_registry

        get_registry().check_usable(self)
        if not isinstance(self.target, str):
            return self.target
        return import_target(self.target, what=f"{self.kind} {self.key!r} of plugin {self.plugin!r}")


def spec_key(name: str, framework: str | None) -> str:
    """The registry key of a name and optional framework."""
    return f"{name}/{framework}" if framework else name


def import_target(target: str, what: str = "target") -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute.

    Raises :class:`PluginError` naming ``what`` when the target is malformed, missing, or its
    module raises anything while imported (``SystemExit`` too: a plugin's ``sys.exit()`` must not
    end the process silently; ``KeyboardInterrupt`` propagates).
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"{what}: target {target!r} is not of the form 'package.module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"{what}: cannot import {module_name!r} ({exc})") from exc
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin's failure is reported as the plugin's
        from rlcore.plugins import describe_exception

        raise PluginError(f"{what}: importing {module_name!r} raised {describe_exception(exc)}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"{what}: module {module_name!r} has no attribute {attr!r}") from exc
    return obj
