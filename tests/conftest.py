"""Root (cross-package) tests."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(autouse=True)
def _results_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs that name no --local-dir write under a temporary folder, never ~/rlcore_results."""
    monkeypatch.setenv("RLCORE_RESULTS_DIR", str(tmp_path_factory.mktemp("rlcore_results")))


# ------------------------------------------------------------------ the example third-party plugin
DIST = "rlcore-example-numpy"
PACKAGE = "rlcore_numpy_example"


def _installed_matches_source(src: Path) -> bool:
    """Whether the installed package has exactly the source tree's modules (else reinstall)."""
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return False
    installed = Path(next(iter(spec.submodule_search_locations)))
    for source in src.glob("*.py"):
        target = installed / source.name
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            return False
    return True


@pytest.fixture(scope="session")
def example(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's folder, with its distribution installed (non-editable) if it is not already."""
    folder = repo / "examples" / "numpy_plugin"
    if not _installed_matches_source(folder / "src" / PACKAGE):
        # Build from a copy, so that no build/ or egg-info lands in the repository.
        copy = tmp_path_factory.mktemp("example") / "numpy_plugin"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q"]
        if importlib.util.find_spec("setuptools") is not None:
            cmd.append("--no-build-isolation")
        proc = subprocess.run([*cmd, str(copy)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"pip install of {DIST} failed:\n{proc.stdout}\n{proc.stderr}"
        assert _installed_matches_source(folder / "src" / PACKAGE), f"{DIST} did not install its sources"
    return folder


@pytest.fixture
def example_registry(example: Path):
    """A registry loaded anew with the installed example plugin (it may have been installed after this
    process loaded its plugins), restored after the test."""
    from rlcore import plugins

    importlib.invalidate_caches()
    old = plugins.set_registry(None)
    try:
        yield plugins.get_registry().load()
    finally:
        plugins.set_registry(old)
