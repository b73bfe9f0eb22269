"""The plugin manager: loads the ``rlcore`` entry points once and keeps what they register.

Failure is per plugin: whatever a plugin raises (``SystemExit`` included; ``KeyboardInterrupt``
excepted) stays in that plugin. A plugin that fails to import or whose registration hook raises
is ``broken``; one that lacks a module it declares as a requirement is ``missing-deps``; one whose
names were taken first (by another plugin or by gymnasium) is ``clash`` and loses only those names;
one whose event hook (a logger) raises is ``broken`` and its event hooks are skipped from then on,
with a :class:`PluginWarning`. The others keep working. ``RLCORE_STRICT_PLUGINS=1`` raises at the
first plugin error instead; ``RLCORE_DISABLE_PLUGINS=a,b`` skips plugins.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shlex
import sys
import sysconfig
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import Distribution, EntryPoint, entry_points, packages_distributions
from pathlib import Path
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
OK, MISSING_DEPS, BROKEN, DISABLED, CLASH = "ok", "missing-deps", "broken", "disabled", "clash"
#: Every status a plugin can have, as ``rlcore list-plugins`` prints it.
STATUSES: tuple[str, ...] = (OK, MISSING_DEPS, BROKEN, DISABLED, CLASH)
#: Statuses that ``rlcore list-plugins --check`` fails on.
FAILING_STATUSES: tuple[str, ...] = (BROKEN, CLASH)

#: The registration hook of each spec kind.
HOOK_OF_KIND: dict[str, str] = {
    "env": "rlcore_register_envs",
    "model": "rlcore_register_models",
    "policy": "rlcore_register_policies",
    "evaluator": "rlcore_register_evaluators",
    "optimizer": "rlcore_register_optimizers",
    "algorithm": "rlcore_register_algorithms",
}

#: Import names whose distribution is not named like them (the distribution is not installed
#: when its module is missing, so its metadata cannot tell).
_IMPORT_ALIASES: dict[str, tuple[str, ...]] = {
    "yaml": ("pyyaml",),
    "sklearn": ("scikit-learn",),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python"),
    "PIL": ("pillow",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "attr": ("attrs",),
    "tensorflow": ("tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tf-nightly"),
    "tensorboardX": ("tensorboardx",),
}

_RLCORE_DIR = str(Path(__file__).resolve().parent)
_STDLIB_DIR = sysconfig.get_paths()["stdlib"]
_NOT_THE_PLUGIN = (f"{os.sep}importlib{os.sep}", f"{os.sep}pluggy{os.sep}")
_THIS_FILE = str(Path(__file__).resolve())  # the loader's own lines are never the plugin's


class PluginWarning(UserWarning):
    """A plugin failed while rlcore went on without it (an event hook raised, a name was refused)."""


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
    #: The event hook that raised, when that is what made the plugin ``broken`` (its registered
    #: names stay usable: only its event hooks are skipped).
    failed_hook: str | None = None
    #: The registrations refused to it (status ``clash``): ``"algorithm 'PPO' (...)"``.
    refused: list[str] = field(default_factory=list)

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

    def add_refused(self, what: str, fix: str) -> None:
        """Record a refused registration: status ``clash`` unless worse; one sentence lists them all."""
        old = f"refused: {'; '.join(self.refused)}. {fix}" if self.refused else ""
        self.refused.append(what)
        if self.status == OK:
            self.status = CLASH
        rest = self.error or ""
        if old and rest.endswith(old):
            rest = rest[: -len(old)].rstrip("; ")
        new = f"refused: {'; '.join(self.refused)}. {fix}"
        self.error = new if not rest else f"{rest}; {new}"


def _strict() -> bool:
    return os.environ.get("RLCORE_STRICT_PLUGINS", "").strip().lower() not in ("", "0", "false", "no")


def strict_plugins() -> bool:
    """Whether ``RLCORE_STRICT_PLUGINS`` asks to raise at the first plugin error (for plugin authors)."""
    return _strict()


def _disabled() -> set[str]:
    raw = os.environ.get("RLCORE_DISABLE_PLUGINS", "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def _fmt_exc(exc: BaseException) -> str:
    """``"Type: message"``; a plugin exception whose ``__str__`` (or exit code's ``__repr__``)
    raises is still named, with what its ``__str__`` raised."""
    try:
        if isinstance(exc, SystemExit):
            return f"SystemExit: sys.exit({exc.code!r}) was called"
        return " ".join(f"{type(exc).__name__}: {exc}".split())  # one line (pluggy's messages have several)
    except Exception as err:  # noqa: BLE001 - the plugin's broken __str__ must not escape the loader
        return f"{type(exc).__name__}: <its str() raised {type(err).__name__}>"


def _short_repr(value: Any, limit: int = 80) -> str:
    try:
        text = " ".join(repr(value).split())
    except Exception:  # noqa: BLE001 - a plugin's broken __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(exc: BaseException) -> str:
    """``" (at file:line)"``: where ``exc`` was raised, in the plugin's code if possible, or ``""``.

    The innermost frame outside rlcore, importlib, pluggy and the standard library; else the
    innermost frame outside importlib and pluggy (a built-in plugin's own line).
    """
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<")
        and not any(part in f.filename for part in _NOT_THE_PLUGIN)
        and str(Path(f.filename).resolve()) != _THIS_FILE
    ]
    preferred = [f for f in frames if not f.filename.startswith(_RLCORE_DIR) and not _in_stdlib(f.filename)]
    chosen = (preferred or frames)[-1:]
    return f" (at {chosen[0].filename}:{chosen[0].lineno})" if chosen else ""


def _in_stdlib(filename: str) -> bool:
    return filename.startswith(_STDLIB_DIR) and "site-packages" not in filename and "dist-packages" not in filename


def describe_exception(exc: BaseException) -> str:
    """``"Type: message (at file:line)"``, the line being the plugin's where possible."""
    return f"{_fmt_exc(exc)}{_where(exc)}"


def _raise_strict(exc: BaseException, message: str) -> None:
    """In strict mode, raise: ``exc`` itself when it is an ``Exception``, else a :class:`PluginError`
    (a plugin's ``SystemExit`` must not end the process silently)."""
    if not _strict():
        return
    if isinstance(exc, Exception):
        raise exc
    raise PluginError(f"{message} (RLCORE_STRICT_PLUGINS is set)") from exc


def _normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_REQ_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def install_hint(requirement: str) -> str:
    """A ``pip install`` line for ``requirement`` that a user can paste from the root of an rlcore
    checkout: the folder form (with ``-c constraints.txt``) for a first-party distribution (none
    is on a package index), else the requirement, shell-quoted when it needs it (``'numpy>=2'``)."""
    spec = requirement.split(";", 1)[0].strip()
    match = _REQ_NAME.match(spec)
    if match:
        entry = catalogue.by_distribution(_normalize(match.group(1)))
        if entry is not None:
            return f"pip install -c constraints.txt ./{entry.folder} (from the root of an rlcore checkout)"
    return f"pip install {shlex.quote(spec)}"


def _declared_requirement(dist: Distribution | None, module: str) -> str | None:
    """The requirement of ``dist`` (its ``Requires-Dist``) that provides the top-level ``module``, if any."""
    if dist is None:
        return None
    try:
        requires = dist.requires or []
    except Exception:  # noqa: BLE001 - unreadable metadata: nothing is declared
        return None
    names = {_normalize(module)} | {_normalize(d) for d in _IMPORT_ALIASES.get(module, ())}
    names |= {_normalize(e.distribution) for e in catalogue.load_catalogue() if e.package == module}
    with contextlib.suppress(Exception):  # a broken distribution elsewhere must not hide this answer
        names |= {_normalize(d) for d in packages_distributions().get(module, ())}
    for requirement in requires:
        match = _REQ_NAME.match(requirement)
        if match and _normalize(match.group(1)) in names:
            return requirement
    return None


def _module_missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def _import_failure(exc: BaseException, dist: Distribution | None, own_module: str) -> tuple[str, str]:
    """(status, error) of a plugin whose module raised ``exc`` when imported.

    ``missing-deps`` only when the missing top-level module is one that the plugin's distribution
    declares as a requirement; any other failure (a typo'd import, ``sys.exit()``) is ``broken``.
    """
    where = _where(exc)
    module_name, _, attribute = (part.strip() for part in own_module.partition(":"))
    entry = f"the entry point {own_module!r}" + (f" of {dist.metadata['Name']}" if dist is not None else "")
    if isinstance(exc, ModuleNotFoundError) and exc.name and (module_name + ".").startswith(exc.name + "."):
        return BROKEN, (
            f"failed to import: {_fmt_exc(exc)}: {entry} names a module that is not installed; "
            "reinstall the distribution, or fix the module path in its entry point"
        )
    if (
        isinstance(exc, AttributeError)
        and attribute
        and getattr(exc, "name", None) in attribute.split(".")
        and getattr(getattr(exc, "obj", None), "__name__", None) == module_name
    ):
        return BROKEN, (
            f"failed to import: {entry} names {attribute!r}, which the module {module_name!r} does not have; "
            "fix the attribute in the entry point, or define it in the module"
        )
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        if top != module_name.split(".")[0] and _module_missing(top):
            requirement = _declared_requirement(dist, top)
            if requirement is not None:
                extra = _REQ_EXTRA.search(requirement)
                under = f" (under its extra {extra.group(1)!r})" if extra else ""
                return MISSING_DEPS, (
                    f"needs the module {top!r}, which is not installed: its distribution requires "
                    f"{requirement.split(';', 1)[0].strip()!r}{under}; fix: {install_hint(requirement)}"
                )
            declared = f" (distribution {dist.metadata['Name']})" if dist is not None else ""
            return BROKEN, (
                f"failed to import: {_fmt_exc(exc)}{where}; {top!r} is not a requirement that the "
                f"plugin declares{declared}: fix the import, or declare the requirement (Requires-Dist)"
            )
    return BROKEN, f"failed to import: {_fmt_exc(exc)}{where}"


def _missing_requirements(module: Any) -> list[tuple[str, str]]:
    """(module, pip requirement) pairs that a plugin declares in ``RLCORE_REQUIRES`` and lack here.

    Uses ``importlib.util.find_spec``, which locates a package without importing it.
    """
    declared = getattr(module, "RLCORE_REQUIRES", {}) or {}
    if not isinstance(declared, dict):
        declared = {m: m for m in declared}
    return [(str(m), str(r)) for m, r in declared.items() if _module_missing(str(m))]


def _warn(message: str, exc: BaseException | None = None) -> None:
    """One :class:`PluginWarning`, located at the plugin's line that raised ``exc`` when there is one
    (else at ``rlcore``), so that Python prints ``file:line: PluginWarning: message``."""
    location = _where(exc) if exc is not None else ""
    match = re.fullmatch(r" \(at (.*):(\d+)\)", location)
    if match:
        warnings.warn_explicit(message, PluginWarning, match.group(1), int(match.group(2)))
    else:
        warnings.warn_explicit(message, PluginWarning, "rlcore", 0)


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
        #: (kind, key) -> the registrations of that key that were refused (the first one won).
        self.clashes: dict[tuple[str, str], list[Spec]] = {}
        self._clash_warned: set[tuple[str, str]] = set()
        #: Env ids registered by plugins and not yet compared with gymnasium's (see check_env_ids).
        self._env_ids_to_check: list[Spec] = []

    # ------------------------------------------------------------------ loading
    def load(self) -> PluginRegistry:
        """Load the entry points of group ``rlcore`` once; later calls return at once.

        Order: the core's built-in plugins, then rlcore's first-party plugins (those of
        ``registry.toml``), then every other plugin, each group by entry-point name (then
        distribution name). A name registered by an earlier plugin is refused to a later one
        (status ``clash``); a plugin name taken by an earlier distribution is refused to the later
        one (listed ``broken``, not loaded).
        """
        if self._loaded:
            return self
        with self._lock:
            if self._loaded:
                return self
            # What plugins print while they load goes to stderr: `rlcore list-plugins --json` and
            # `rlcore train --json` keep a stdout that parses.
            with contextlib.redirect_stdout(sys.stderr):
                self._load_all()
            self._loaded = True
        return self

    def _load_all(self) -> None:
        """The built-in plugins, then the entry points (see :meth:`load` for the order)."""
        self._load_builtins()
        eps = self._entry_points
        if eps is None:
            eps = list(entry_points(group=GROUP))
        seen: dict[str, str | None] = {}
        for ep in sorted(eps, key=lambda e: (not _first_party(e), e.name, _dist_name(e) or "")):
            dist_name = _dist_name(ep)
            if ep.name in seen:
                if seen[ep.name] != dist_name:  # another distribution took the plugin name first
                    self._refuse_plugin_name(ep, dist_name, seen[ep.name])
                continue  # else the same distribution seen twice on sys.path
            seen[ep.name] = dist_name
            self._load_entry_point(ep)

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
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin's failure stays in the plugin
                _raise_strict(exc, f"the built-in plugin {name!r} failed to import")
                info.status = BROKEN
                info.error = f"failed to import: {_fmt_exc(exc)}{_where(exc)}"
                continue
            self.add_plugin(plugin, name, info=info)

    def _refuse_plugin_name(self, ep: EntryPoint, dist_name: str | None, owner: str | None) -> None:
        """A second distribution's entry point with a plugin name already loaded: listed ``broken``, not loaded."""
        msg = (
            f"the plugin name {ep.name!r} is taken by the distribution {owner or '?'}, loaded first; "
            f"rename the entry point in {dist_name or ep.value}, or uninstall one of them"
        )
        if _strict():
            raise PluginClashError(msg)
        info = PluginInfo(ep.name, ep.value, dist_name, _dist_version(ep), BROKEN, msg)
        self.plugins[f"{ep.name} ({dist_name or ep.value})"] = info

    def _load_entry_point(self, ep: EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(name=ep.name, module=ep.value, distribution=_dist_name(ep), version=_dist_version(ep))
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
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a plugin must not end rlcore
            _raise_strict(exc, f"plugin {ep.name!r} ({ep.value}) failed to import: {_fmt_exc(exc)}")
            info.status, info.error = _import_failure(exc, dist, ep.value)
            return
        self.add_plugin(module, ep.name, info=info)

    def add_plugin(self, plugin: ModuleType | object, name: str, info: PluginInfo | None = None) -> PluginInfo:
        """Register an imported plugin object and run its registration hooks.

        Entry points go through here; tests and applications may also call it directly (the way
        ``pytest`` plugins can be registered with ``-p`` or ``pytest_plugins``). Whatever the
        plugin raises (but ``KeyboardInterrupt``) makes it ``broken`` instead of propagating,
        unless ``RLCORE_STRICT_PLUGINS`` is set.
        """
        with self._lock:
            if info is None:
                info = PluginInfo(name=name, module=_object_name(plugin))
                self.plugins[name] = info
            try:
                self.pm.register(plugin, name=name)
                self.pm.check_pending()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin's failure stays in the plugin
                _raise_strict(exc, f"plugin {name!r} has invalid hooks: {_fmt_exc(exc)}")
                info.status = BROKEN
                info.error = f"invalid hooks: {_fmt_exc(exc)}{_where(exc)}"
                if self.pm.is_registered(plugin):
                    self.pm.unregister(plugin)
                return info
            try:
                missing = _missing_requirements(plugin)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin's failure stays in the plugin
                _raise_strict(exc, f"plugin {name!r}: RLCORE_REQUIRES cannot be read: {_fmt_exc(exc)}")
                self.pm.unregister(plugin)
                info.status = BROKEN
                info.error = (
                    f"RLCORE_REQUIRES must map module names to pip requirements, as {{'torch': 'torch'}}: "
                    f"{_fmt_exc(exc)}{_where(exc)}"
                )
                return info
            if missing:
                info.status = MISSING_DEPS
                mods = ", ".join(repr(m) for m, _ in missing)
                entry = catalogue.by_distribution(info.distribution) if info.distribution else None
                if entry is not None:
                    fix = f"pip install -c constraints.txt ./{entry.folder} (from the root of an rlcore checkout)"
                else:
                    fix = "pip install " + " ".join(shlex.quote(r) for _, r in missing)
                info.error = f"needs {mods}, which is not installed; fix: {fix}"
            staged = self._collect(plugin, info)
            if staged is None:  # a registration hook failed: none of its hooks (events too) is called
                self.pm.unregister(plugin)
                return info
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
                    returned = impl.function(**{a: register for a in impl.argnames})
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - a plugin's failure stays in the plugin
                    _raise_strict(exc, f"plugin {info.name!r}: hook {hook_name} raised {_fmt_exc(exc)}")
                    info.status = BROKEN
                    info.error = f"hook {hook_name} raised {_fmt_exc(exc)}{_where(exc)}"
                    return None
                if returned is not None:  # e.g. a dict of names returned instead of register() calls
                    error = (
                        f"hook {hook_name} returned {_short_repr(returned)} ({type(returned).__name__}); a "
                        "registration hook calls register(name, target) for each name and returns None"
                    )
                    _raise_strict(PluginError(f"plugin {info.name!r}: {error}"), error)
                    info.status, info.error = BROKEN, error
                    return None
        return staged

    def _add_spec(self, spec: Spec) -> None:
        """Add a plugin's spec; a key that an earlier plugin registered is refused to this one."""
        table = self.specs[spec.kind]
        old = table.get(spec.key)
        if old is not None and old.plugin != spec.plugin:
            owner = f"plugin {old.plugin!r} of {old.distribution or '?'}"
            self._refuse(spec, f"{owner} registered it first")
            return
        table[spec.key] = spec
        if spec.kind == "env":
            self._env_ids_to_check.append(spec)
        info = self.plugins.get(spec.plugin)
        if info is not None:
            info.provides.setdefault(catalogue.SECTIONS[spec.kind], []).append(spec.key)

    def _refuse(self, spec: Spec, why: str) -> None:
        """Refuse ``spec`` (a plugin's registration of a taken name): the plugin is ``clash``, its
        other names keep working, and the name stays its owner's."""
        what = f"{spec.kind} {spec.key!r} ({why})"
        fix = (
            f"Pick other names in {spec.distribution or spec.plugin}, or skip the plugin with "
            f"RLCORE_DISABLE_PLUGINS={spec.plugin}"
        )
        if _strict():
            raise PluginClashError(
                f"plugin {spec.plugin!r} (distribution {spec.distribution or '?'}): its {what} was refused. {fix}."
            )
        self.clashes.setdefault((spec.kind, spec.key), []).append(spec)
        info = self.plugins.get(spec.plugin)
        if info is not None:
            info.add_refused(what, fix)

    def check_env_ids(self) -> None:
        """Refuse the env ids that plugins registered and gymnasium registers too (imports gymnasium).

        Gymnasium's ids are taken: a plugin cannot replace ``CartPole-v1`` for every run. Such a
        registration is dropped (gymnasium's env is used) and the plugin gets the status ``clash``.
        Env lookups (:func:`rlcore.get_env_creator`) and ``rlcore list-plugins --check`` call this;
        loading plugins does not, so that listing them needs no gymnasium (nor numpy).
        """
        self.load()
        with self._lock:
            pending, self._env_ids_to_check = self._env_ids_to_check, []
            if not pending:
                return
            import gymnasium

            for spec in pending:
                if spec.name in gymnasium.registry and self.specs["env"].get(spec.key) is spec:
                    del self.specs["env"][spec.key]
                    info = self.plugins.get(spec.plugin)
                    if info is not None and spec.key in info.provides.get("envs", []):
                        info.provides["envs"].remove(spec.key)
                    self._refuse(spec, "a gymnasium id: gymnasium's env is used")

    # ------------------------------------------------------------------ events
    def call_event(
        self, hook_name: str, *, raise_errors: bool = True, **kwargs: Any
    ) -> list[tuple[str, BaseException]]:
        """Call every implementation of the event hook ``hook_name`` one at a time, in pluggy's order.

        One that raises does not stop the others: every result reaches every logger. What then
        happens to the plugins that raised:

        * by default, each is named in one :class:`PluginWarning` (its error and where it was
          raised), gets the status ``broken``, and its event hooks are skipped for the rest of
          this process (its registered names stay usable); the caller goes on, so a run continues;
        * with ``RLCORE_STRICT_PLUGINS`` set (and ``raise_errors``), :class:`rlcore.loggers.LoggerError`
          names each plugin that raised and its error (the first one chained as the cause).

        Returns the ``(plugin, error)`` pairs of this call. ``KeyboardInterrupt`` propagates at
        once; anything else a plugin raises (``SystemExit`` too) is its failure, and so is removing
        keys from a ``result`` argument (they are put back for the core and the other plugins).
        Loads the plugins first if needed.
        """
        from rlcore.loggers import LoggerError

        self.load()
        hook = getattr(self.pm.hook, hook_name)
        failures: list[tuple[str, BaseException]] = []
        result = kwargs.get("result")
        for impl in reversed(hook.get_hookimpls()):  # pluggy calls the last-registered first
            info = self.plugins.get(impl.plugin_name)
            if info is not None and info.failed_hook is not None:
                continue
            before = dict(result) if isinstance(result, dict) else None
            try:
                if impl.hookwrapper or impl.wrapper:
                    raise PluginError(f"wrapper implementations of the event hook {hook_name} are not supported")
                impl.function(**{name: kwargs[name] for name in impl.argnames})
                if before is not None and isinstance(result, dict) and before.keys() - result.keys():
                    removed = sorted(before.keys() - result.keys())
                    result.update({k: before[k] for k in removed})  # put back: the core and other plugins read them
                    raise PluginError(f"it removed the result keys {removed} (put back); plugins may only add keys")
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - collected, handled after the others ran
                failures.append((impl.plugin_name, exc))
        if not failures:
            return failures
        if _strict():
            if raise_errors:
                raise LoggerError(hook_name, list(failures)) from failures[0][1]
            return failures
        for name, error in failures:
            self._disable_events(name, hook_name, error)
        return failures

    def _disable_events(self, name: str, hook_name: str, exc: BaseException) -> None:
        """Skip the event hooks of plugin ``name`` from now on, mark it ``broken``, and warn once."""
        info = self.plugins.get(name)
        if info is None:
            info = self.plugins[name] = PluginInfo(name=name, module="?")
        with self._lock:
            if info.failed_hook is not None:
                return
            info.failed_hook = hook_name
            where = _where(exc)
            if info.status in (OK, CLASH):  # missing-deps stays: its names still need the fix
                info.status = BROKEN
            error = f"hook {hook_name} raised {_fmt_exc(exc)}{where}; its event hooks are skipped in this process"
            info.error = error if not info.error else f"{info.error}; {error}"
        dist = f" ({info.distribution})" if info.distribution else ""
        _warn(
            f"plugin {name!r}{dist} raised in {hook_name}: {_fmt_exc(exc)}. Its event hooks are skipped "
            f"for the rest of this process; the run goes on and the other plugins still get every result. "
            f"Fix the plugin, skip it with RLCORE_DISABLE_PLUGINS={name}, or stop at the first plugin error "
            "with RLCORE_STRICT_PLUGINS=1.",
            exc,
        )

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
        """Raise :class:`PluginUnavailableError` when the plugin behind ``spec`` cannot be used.

        A plugin whose only trouble is a refused name (``clash``) or an event hook that raised
        (its event hooks are skipped) still provides its other names.
        """
        info = self.plugins.get(spec.plugin)
        if info is None or info.status in (OK, CLASH) or (info.status == BROKEN and info.failed_hook is not None):
            return
        fix = ""
        if info.status == MISSING_DEPS and info.distribution:
            entry = catalogue.by_distribution(info.distribution)
            if entry is not None:
                fix = (
                    " Reinstall it with its dependencies (from the root of an rlcore checkout): "
                    f"pip install -c constraints.txt ./{entry.folder}."
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
        """The spec of ``kind`` keyed by ``name`` (and ``framework``), or a helpful error.

        A key that a later plugin registered too is its first owner's; the first lookup of it
        warns (:class:`PluginWarning`) naming the plugins whose registration was refused.
        """
        self.load()
        if kind in FRAMEWORK_KINDS and framework is None:
            raise TypeError(f"a {kind} is looked up by name and framework")
        key = spec_key(name, framework if kind in FRAMEWORK_KINDS else None)
        spec = self.specs[kind].get(key)
        if spec is None:
            raise UnknownNameError(self._unknown_message(kind, key))
        refused = self.clashes.get((kind, key))
        if refused and (kind, key) not in self._clash_warned:
            self._clash_warned.add((kind, key))
            others = ", ".join(f"{s.plugin!r} ({s.distribution or '?'})" for s in refused)
            _warn(
                f"{kind} {key!r} is plugin {spec.plugin!r}'s ({spec.distribution or '?'}); the registration of "
                f"it by plugin {others} was refused (`rlcore list-plugins` shows the status clash)."
            )
        return spec

    def provider_problem(self, entry: catalogue.CatalogueEntry) -> str | None:
        """Why the first-party plugin ``entry`` (registry.toml) provides nothing here: ``"not
        installed; ... pip install -c constraints.txt ./plugins/..."``, or its status and error
        (disabled, missing dependencies, broken); None when it is loaded."""
        self.load()
        info = next((p for p in self.plugins.values() if p.distribution == entry.distribution), None)
        if info is None:
            return f"not installed; {install_hint(entry.distribution)}"
        if info.status in (OK, CLASH) or (info.status == BROKEN and info.failed_hook is not None):
            return None
        if info.status == DISABLED:
            return f"its plugin {info.name!r} is {info.error}"
        return f"its plugin {info.name!r} is {info.status}: {info.error}"

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
            elif info.status not in (OK, CLASH):
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

    def plugin_infos(self, *, check_env_ids: bool = False) -> list[PluginInfo]:
        """Every plugin seen, sorted by name (for ``rlcore list-plugins``).

        Env ids are compared with gymnasium's (:meth:`check_env_ids`) when ``check_env_ids`` is
        true or gymnasium is imported already.
        """
        self.load()
        if check_env_ids or "gymnasium" in sys.modules:
            self.check_env_ids()
        return [self.plugins[k] for k in sorted(self.plugins)]


def _object_name(plugin: object) -> str:
    """A plugin object's module name, or its class's name (a hostile ``__getattr__`` cannot raise out)."""
    try:
        name = plugin.__name__ if isinstance(plugin, ModuleType) else None
    except Exception:  # noqa: BLE001
        name = None
    return name if isinstance(name, str) else type(plugin).__name__


def _dist_name(ep: EntryPoint) -> str | None:
    """The name of the distribution that declares ``ep``, if its metadata can be read."""
    dist = getattr(ep, "dist", None)
    try:
        name = dist.metadata["Name"] if dist is not None else None
    except Exception:  # noqa: BLE001 - unreadable metadata: no name
        return None
    return name if isinstance(name, str) else None


def _dist_version(ep: EntryPoint) -> str | None:
    """The version of the distribution that declares ``ep``, if its metadata can be read."""
    dist = getattr(ep, "dist", None)
    try:
        version = dist.version if dist is not None else None
    except Exception:  # noqa: BLE001 - unreadable metadata: no version
        return None
    return version if isinstance(version, str) else None


def _first_party(ep: EntryPoint) -> bool:
    """Whether an entry point belongs to one of rlcore's first-party distributions (registry.toml)."""
    name = _dist_name(ep)
    return name is not None and catalogue.by_distribution(name) is not None


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
        _check_registration(kind, name, framework, target, summary, capabilities)
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


def _check_registration(kind: str, name: Any, framework: Any, target: Any, summary: Any, capabilities: Any) -> None:
    """Raise ``TypeError`` for a registration that would break listings and lookups later."""
    what = f"register({kind})"
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"{what}: the name must be a non-empty string, got {name!r}")
    if kind in FRAMEWORK_KINDS and (not isinstance(framework, str) or not framework.strip()):
        raise TypeError(f"{what} {name!r}: the framework must be a non-empty string, got {framework!r}")
    if not (callable(target) or (isinstance(target, str) and ":" in target)):
        raise TypeError(f"{what} {name!r}: the target must be 'package.module:attribute' or a callable, got {target!r}")
    if not isinstance(summary, str):
        raise TypeError(f"{what} {name!r}: the summary must be a string, got {summary!r}")
    if isinstance(capabilities, str) or not all(isinstance(c, str) for c in capabilities):
        raise TypeError(f"{what} {name!r}: capabilities must be a list of strings, got {capabilities!r}")


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
    "CLASH",
    "DISABLED",
    "FAILING_STATUSES",
    "GROUP",
    "MISSING_DEPS",
    "OK",
    "PluginError",
    "PluginInfo",
    "PluginRegistry",
    "PluginWarning",
    "Register",
    "STATUSES",
    "describe_exception",
    "get_registry",
    "load_plugins",
    "install_hint",
    "reset_registry",
    "strict_plugins",
]
