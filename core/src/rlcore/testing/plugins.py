"""Checks for plugin authors: a plugin loads through its entry point, and loading stays light."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from typing import Any

#: Modules that listing plugins and resolving names must never import.
HEAVY_MODULES: tuple[str, ...] = ("torch", "tensorflow", "ray", "jax")


def check_plugin(name: str, module: str | None = None) -> Any:
    """Assert that the installed plugin ``name`` (its entry-point name) loads with status ``ok``.

    ``module`` is the plugin module its entry point should name. Returns its ``PluginInfo``.
    """
    from rlcore.plugins import PluginRegistry

    registry = PluginRegistry().load()
    info = registry.plugins.get(name)
    assert info is not None, (
        f"no plugin {name!r} in the entry-point group 'rlcore' (found: {sorted(registry.plugins)}). "
        "Declare it under [project.entry-points.rlcore] and reinstall the distribution."
    )
    if module is not None:
        assert info.module == module, f"plugin {name!r} points at {info.module!r}, expected {module!r}"
    assert info.status == "ok", f"plugin {name!r} is {info.status}: {info.error}"
    return info


def check_plugins_import_light(forbidden: Iterable[str] = HEAVY_MODULES) -> None:
    """Assert that loading every installed plugin, in a fresh interpreter, imports none of ``forbidden``.

    Plugin modules must name lazy ``"module:attribute"`` targets instead of importing their framework.
    """
    names = tuple(forbidden)
    code = (
        "import sys; from rlcore.plugins import PluginRegistry; PluginRegistry().load(); "
        f"print(','.join(m for m in {names!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    heavy = out.stdout.strip()
    assert not heavy, (
        f"loading the plugins imported {heavy}: a plugin module imports its framework. "
        "Register lazy 'module:attribute' targets and import the framework inside those modules."
    )
