"""Fixtures for the core's tests: fake plugin distributions on sys.path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from rlcore import plugins


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path where tests write plugin modules with real ``.dist-info`` metadata."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("fakeplug_")]:
        del sys.modules[name]


@pytest.fixture
def make_plugin(plugin_dir: Path) -> Callable[..., Path]:
    """Write a plugin distribution: ``make_plugin(ep_name, code, dist="fake-x", version="1.0", requires=())``.

    The module is ``fakeplug_<ep_name>``; its entry point is declared in the group ``rlcore``
    of a ``.dist-info`` folder, exactly as pip would install it, so ``importlib.metadata``
    finds it the real way. ``requires`` are its ``Requires-Dist`` lines (``"numpy>=2"``).
    """

    def make(
        ep_name: str, code: str, dist: str | None = None, version: str = "1.0", requires: Sequence[str] = ()
    ) -> Path:
        dist = dist or f"fake-{ep_name}"
        module = f"fakeplug_{ep_name}"
        (plugin_dir / f"{module}.py").write_text(textwrap.dedent(code))
        info = plugin_dir / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        requires_dist = "".join(f"Requires-Dist: {r}\n" for r in requires)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{requires_dist}")
        (info / "entry_points.txt").write_text(f"[rlcore]\n{ep_name} = {module}\n")
        return plugin_dir

    return make


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], plugins.PluginRegistry]]:
    """Call it to get a new process-wide registry that loads entry points anew; restored after."""
    old = plugins.set_registry(None)
    monkeypatch.delenv("RLCORE_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("RLCORE_DISABLE_PLUGINS", raising=False)

    def fresh() -> plugins.PluginRegistry:
        return plugins.reset_registry().load()

    yield fresh
    plugins.set_registry(old)


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs that name no --local-dir write under a temporary folder, never ~/rlcore_results."""
    monkeypatch.setenv("RLCORE_RESULTS_DIR", str(tmp_path_factory.mktemp("rlcore_results")))
