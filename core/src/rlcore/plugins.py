"""The plugin manager: loads the ``rlcore`` entry points once and keeps what they register.

Failure is per plugin. A plugin that fails to import, whose hook raises, or whose framework is
missing gets a status (``missing-deps`` or ``broken``) and its error; the others keep working.
``RLCORE_STRICT_PLUGINS=1`` re-raises at once; ``RLCORE_DISABLE_PLUGINS=a,b`` skips plugins.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, Protocol

import pluggy

from rlcore import catalogue, hookspecs
from rlcore.errors import (
    PluginClashError,
    PluginError,
    PluginUnavailableError,
    UnknownNameError,
    did_you_mean,
)
from rlcore.specs import FRAMEWORK_KINDS, KINDS, USER, Spec, spec_key

GROUP = "rlcore"
OK, MISSING_DEPS, BROKEN, DISABLED = "ok", "missing-deps", "broken", "disabled"

#: The registration hook of each spec kind.
HOOK_OF_KIND: dict[str, str] = {
    "env": "rlcore_register_envs",
    "model": "rlcore_register_models",
    "policy": "rlcore_register_policies",
    "evaluator": "rlcore_register_evaluators",
    "optimizer": "rlcore_register_optimizers",
    "algorithm": "rlcore_register_algorithms",
}


class Register(Protocol):
    """The ``register`` callback handed to registration hooks (see :mod:`rlcore.hookspecs`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> None: ...


@dataclass
class PluginInfo:
    """What the plugin manager knows of one plugin: where it came from and whether it works."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = OK
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)
    #: One of the core's own plugins (:data:`rlcore.loggers.BUILTIN_PLUGINS`), distribution ``rlcore``.
    builtin: bool = False
    #: What a built-in plugin does (the PROVIDES column of ``rlcore list-plugins``).
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with stable keys (used by ``rlcore list-plugins --json``)."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "provides": {k: sorted(v) for k, v in sorted(self.provides.items()) if v},
            "error": self.error,
        }


def _strict() -> bool:
    return os.environ.get("RLCORE_STRICT_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")


def _disabled() -> set[str]:
    raw = os.environ.get("RLCORE_DISABLE_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def _fmt_exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _missing_requirements(module: Any) -> list[tuple[str, str]]:
    """(module, pip requirement) pairs that a plugin declares in ``RLCORE_REQUIRES`` and lack here.

    Uses ``importlib.util.find_spec``, which locates a package without importing it.
    """
    declared = getattr(module, "RLCORE_REQUIRES", {}) or {}
    if not isinstance(declared, dict):
        declared = {m: m for m in declared}
    missing = []
    for mod_name, requirement in declared.items():
        try:
            found = importlib.util.find_spec(mod_name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append((mod_name, requirement))
    return missing


class PluginRegistry:
    """Plugins and everything they (and users, in code) registered.

    Use the process-wide instance from :func:`get_registry`. Entry points are loaded lazily, on
    the first lookup, exactly once; in-code registrations may happen before that.
    """

    def __init__(self, entry_points_: Sequence[EntryPoint] | None = None) -> None:
        self._entry_points = entry_points_
        self._lock = threading.RLock()
        self._loaded = False
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.specs: dict[str, dict[str, Spec]] = {k: {} for k in KINDS}
        self.clashes: dict[tuple[str, str], list[Spec]] = {}

    # ------------------------------------------------------------------ loading
    def load(self) -> PluginRegistry:
        """Load the entry points of group ``rlcore`` once; later calls return at once."""
        if self._loaded:
            return self
        with self._lock:
            if self._loaded:
                return self
            self._load_builtins()
            eps = self._entry_points
            if eps is None:
                eps = list(entry_points(group=GROUP))
            seen: set[str] = set()
            for ep in sorted(eps, key=lambda e: e.name):
                if ep.name in seen:  # the same distribution seen twice on sys.path
                    continue
                seen.add(ep.name)
                self._load_entry_point(ep)
            self._loaded = True
        return self

    def _load_builtins(self) -> None:
        """Register the core's own plugins (the loggers and the progress display), like pytest's
        default plugins: before any entry point, through the same hooks, disabled the same way."""
        import importlib

        from rlcore import __version__
        from rlcore.loggers import BUILTIN_PLUGINS

        for name, builtin in BUILTIN_PLUGINS.items():
            module_name, _, attr = builtin.target.partition(":")
            info = PluginInfo(name, module_name, "rlcore", __version__, builtin=True, summary=builtin.summary)
            self.plugins[name] = info
            if name in _disabled():
                info.status = DISABLED
                info.error = "disabled by RLCORE_DISABLE_PLUGINS"
                continue
            try:
                plugin = getattr(importlib.import_module(module_name), attr)()
            except Exception as exc:
                if _strict():
                    raise
                info.status = BROKEN
                info.error = f"failed to import: {_fmt_exc(exc)}"
                continue
            self.add_plugin(plugin, name, info=info)

    def _load_entry_point(self, ep: EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            module=ep.value,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        if ep.name in self.plugins and self.plugins[ep.name].builtin:
            msg = f"the plugin name {ep.name!r} is rlcore's built-in plugin; rename the entry point"
            if _strict():
                raise PluginClashError(msg)
            info.status, info.error = BROKEN, msg
            self.plugins[f"{ep.name} ({info.distribution or ep.value})"] = info
            return
        self.plugins[ep.name] = info
        if ep.name in _disabled():
            info.status = DISABLED
            info.error = "disabled by RLCORE_DISABLE_PLUGINS"
            return
        try:
            module = ep.load()
        except ModuleNotFoundError as exc:
            own = ep.value.split(":")[0].split(".")[0]
            missing = (exc.name or "").split(".")[0]
            if _strict():
                raise
            if missing and missing != own:
                info.status = MISSING_DEPS
                info.error = f"needs the module {missing!r}, which is not installed ({_fmt_exc(exc)})"
            else:
                info.status = BROKEN
                info.error = f"failed to import: {_fmt_exc(exc)}"
            return
        except Exception as exc:
            if _strict():
                raise
            info.status = BROKEN
            info.error = f"failed to import: {_fmt_exc(exc)}"
            return
        self.add_plugin(module, ep.name, info=info)

    def add_plugin(self, plugin: ModuleType | object, name: str, info: PluginInfo | None = None) -> PluginInfo:
        """Register an imported plugin object and run its registration hooks.

        Entry points go through here; tests and applications may also call it directly (the way
        ``pytest`` plugins can be registered with ``-p`` or ``pytest_plugins``).
        """
        with self._lock:
            if info is None:
                info = PluginInfo(name=name, module=getattr(plugin, "__name__", type(plugin).__name__))
                self.plugins[name] = info
            try:
                self.pm.register(plugin, name=name)
                self.pm.check_pending()
            except Exception as exc:
                if _strict():
                    raise
                info.status = BROKEN
                info.error = f"invalid hooks: {_fmt_exc(exc)}"
                if self.pm.is_registered(plugin):
                    self.pm.unregister(plugin)
                return info
            missing = _missing_requirements(plugin)
            if missing:
                info.status = MISSING_DEPS
                mods = ", ".join(repr(m) for m, _ in missing)
                reqs = " ".join(r for _, r in missing)
                info.error = f"needs {mods}, which is not installed; fix: pip install {reqs}"
            staged = self._collect(plugin, info)
            if staged is not None:
                for spec in staged:
                    self._add_spec(spec)
            return info

    def _collect(self, plugin: object, info: PluginInfo) -> list[Spec] | None:
        """Run one plugin's registration hooks; all or nothing."""
        staged: list[Spec] = []
        for kind, hook_name in HOOK_OF_KIND.items():
            hook = getattr(self.pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                register = _make_register(kind, info, staged)
                try:
                    impl.function(**{a: register for a in impl.argnames})
                except Exception as exc:
                    if _strict():
                        raise
                    info.status = BROKEN
                    info.error = f"hook {hook_name} raised {_fmt_exc(exc)}"
                    return None
        return staged

    def _add_spec(self, spec: Spec) -> None:
        table = self.specs[spec.kind]
        old = table.get(spec.key)
        if old is not None and old.plugin != spec.plugin:
            msg = (
                f"{spec.kind} {spec.key!r} is registered twice: by plugin {old.plugin!r} "
                f"(distribution {old.distribution or '?'}) and by plugin {spec.plugin!r} "
                f"(distribution {spec.distribution or '?'}). Uninstall one of them, or skip one with "
                f"RLCORE_DISABLE_PLUGINS={spec.plugin}."
            )
            if _strict():
                raise PluginClashError(msg)
            self.clashes.setdefault((spec.kind, spec.key), [old]).append(spec)
            info = self.plugins.get(spec.plugin)
            if info is not None:
                info.status = BROKEN
                info.error = msg if info.error is None else f"{info.error}; {msg}"
            return
        table[spec.key] = spec
        info = self.plugins.get(spec.plugin)
        if info is not None:
            info.provides.setdefault(catalogue.SECTIONS[spec.kind], []).append(spec.key)

    # ------------------------------------------------------------------ events
    def call_event(self, hook_name: str, *, raise_errors: bool = True, **kwargs: Any) -> list[tuple[str, Exception]]:
        """Call every implementation of the event hook ``hook_name`` one at a time, in pluggy's order.

        One that raises does not stop the others: every result reaches every logger. Then, with
        ``raise_errors``, :class:`rlcore.loggers.LoggerError` names each plugin that raised and
        its error (the first one chained as the cause); without, the ``(plugin, error)`` pairs
        are returned. ``KeyboardInterrupt`` and ``SystemExit`` propagate at once. Loads the
        plugins first if needed.
        """
        from rlcore.loggers import LoggerError

        self.load()
        hook = getattr(self.pm.hook, hook_name)
        failures: list[tuple[str, Exception]] = []
        for impl in reversed(hook.get_hookimpls()):  # pluggy calls the last-registered first
            try:
                if impl.hookwrapper or impl.wrapper:
                    raise PluginError(f"wrapper implementations of the event hook {hook_name} are not supported")
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception as exc:  # noqa: BLE001 - collected, raised after the others ran
                failures.append((impl.plugin_name, exc))
        if failures and raise_errors:
            raise LoggerError(hook_name, list(failures)) from failures[0][1]
        return failures

    # ------------------------------------------------------------ registration
    def register_spec(self, spec: Spec, *, override: bool = False) -> Spec:
        """Register a spec made in code (``plugin == "<user>"``).

        Re-registering one of your own names replaces it. Registering a name that a plugin
        provides raises :class:`PluginClashError` unless ``override=True``.
        """
        self.load()
        with self._lock:
            old = self.specs[spec.kind].get(spec.key)
            if old is not None and old.plugin != USER and not override:
                raise PluginClashError(
                    f"{spec.kind} {spec.key!r} is already provided by plugin {old.plugin!r} "
                    f"(distribution {old.distribution or '?'}). Pick another name, or pass "
                    "override=True to replace it in this process."
                )
            self.specs[spec.kind][spec.key] = spec
        return spec

    # ----------------------------------------------------------------- lookups
    def check_usable(self, spec: Spec) -> None:
        """Raise :class:`PluginUnavailableError` when the plugin behind ``spec`` cannot be used."""
        info = self.plugins.get(spec.plugin)
        if info is None or info.status == OK:
            return
        fix = ""
        if info.status == MISSING_DEPS and info.distribution:
            entry = catalogue.by_distribution(info.distribution)
            where = f"./{entry.folder}" if entry is not None else info.distribution
            fix = (
                " Reinstall with its dependencies (from the root of an rlcore checkout): "
                f"pip install -c constraints.txt {where}."
            )
        raise PluginUnavailableError(
            f"{spec.kind} {spec.key!r} comes from plugin {info.name!r} "
            f"(distribution {info.distribution or '?'}), whose status is {info.status}: "
            f"{info.error}.{fix}"
        )

    def names(self, kind: str) -> list[str]:
        """Sorted keys registered for a kind."""
        self.load()
        return sorted(self.specs[kind])

    def get(self, kind: str, name: str, framework: str | None = None) -> Spec:
        """The spec of ``kind`` keyed by ``name`` (and ``framework``), or a helpful error."""
        self.load()
        if kind in FRAMEWORK_KINDS and framework is None:
            raise TypeError(f"a {kind} is looked up by name and framework")
        key = spec_key(name, framework if kind in FRAMEWORK_KINDS else None)
        clash = self.clashes.get((kind, key))
        if clash:
            dists = " and ".join(f"{s.distribution or s.plugin}" for s in clash)
            raise PluginClashError(
                f"{kind} {key!r} is registered by more than one plugin ({dists}); uninstall one, "
                f"or skip one with RLCORE_DISABLE_PLUGINS=<plugin name>."
            )
        spec = self.specs[kind].get(key)
        if spec is None:
            raise UnknownNameError(self._unknown_message(kind, key))
        return spec

    def _unknown_message(self, kind: str, key: str) -> str:
        known = sorted(self.specs[kind])
        msg = f"unknown {kind} {key!r}."
        providers = catalogue.providers(kind, key)
        for entry in providers:
            info = next((p for p in self.plugins.values() if p.distribution == entry.distribution), None)
            if info is None:
                msg += (
                    f" It is provided by the distribution {entry.distribution}; from the root of an rlcore "
                    f"checkout: pip install -c constraints.txt ./{entry.folder}."
                )
            elif info.status != OK:
                msg += f" Its plugin {info.name!r} ({entry.distribution}) is {info.status}: {info.error}."
            elif key in entry.planned.get(catalogue.SECTIONS[kind], ()):
                msg += f" {entry.distribution} lists it as planned: it is not implemented in this version."
        if not providers:
            msg += did_you_mean(key, known)
        msg += f" Available {catalogue.SECTIONS[kind]}: {', '.join(known) if known else '(none)'}."
        broken = [p for p in self.plugins.values() if p.status == BROKEN]
        if broken:
            msg += " Broken plugins (run `rlcore list-plugins`): " + ", ".join(p.name for p in broken) + "."
        return msg

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin seen, sorted by name (for ``rlcore list-plugins``)."""
        self.load()
        return [self.plugins[k] for k in sorted(self.plugins)]


def _make_register(kind: str, info: PluginInfo, staged: list[Spec]) -> Callable[..., None]:
    takes_framework = kind in FRAMEWORK_KINDS

    def register(
        name: str,
        *args: Any,
        summary: str = "",
        capabilities: Iterable[str] = (),
    ) -> None:
        if takes_framework:
            if len(args) != 2:
                raise TypeError(f"register({kind}) takes (name, framework, target, summary=...)")
            framework, target = args
        else:
            if len(args) != 1:
                raise TypeError(f"register({kind}) takes (name, target, summary=...)")
            framework, target = None, args[0]
        staged.append(
            Spec(
                kind=kind,
                name=name,
                target=target,
                framework=framework,
                summary=summary,
                capabilities=frozenset(capabilities),
                plugin=info.name,
                distribution=info.distribution,
            )
        )

    return register


_REGISTRY: PluginRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry (created on first use; entry points load on first lookup)."""
    global _REGISTRY
    if _REGISTRY is None:
        with _REGISTRY_LOCK:
            if _REGISTRY is None:
                _REGISTRY = PluginRegistry()
    return _REGISTRY


def load_plugins() -> PluginRegistry:
    """Load the ``rlcore`` entry points (once) and return the registry."""
    return get_registry().load()


def set_registry(registry: PluginRegistry | None) -> PluginRegistry | None:
    """Install ``registry`` as the process-wide one (None: create anew on next use); returns the old one."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        old, _REGISTRY = _REGISTRY, registry
    return old


def reset_registry(entry_points_: Sequence[EntryPoint] | None = None) -> PluginRegistry:
    """Replace the process-wide registry (for tests): the next lookup loads plugins anew."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        _REGISTRY = PluginRegistry(entry_points_)
    return _REGISTRY


__all__ = [
    "BROKEN",
    "DISABLED",
    "GROUP",
    "MISSING_DEPS",
    "OK",
    "PluginError",
    "PluginInfo",
    "PluginRegistry",
    "Register",
    "get_registry",
    "load_plugins",
    "reset_registry",
]
