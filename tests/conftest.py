"""Root (cross-package) tests."""

from __future__ import annotations

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
