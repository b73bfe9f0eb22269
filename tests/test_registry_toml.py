"""registry.toml is the truth about first-party plugins: the code must agree with it."""

from __future__ import annotations

import tomllib

import pytest

from rlcore import catalogue
from rlcore.plugins import PluginRegistry


@pytest.fixture(scope="module")
def entries(repo):
    return catalogue.parse(tomllib.loads((repo / "registry.toml").read_text()))


def test_core_ships_an_identical_copy(repo):
    shipped = repo / "core/src/rlcore/data/registry.toml"
    assert shipped.read_text() == (repo / "registry.toml").read_text(), (
        "core/src/rlcore/data/registry.toml differs from registry.toml: copy the root file over it"
    )
    assert catalogue.load_catalogue() == tuple(catalogue.parse(tomllib.loads(shipped.read_text())))


def test_each_plugin_folder_matches_its_entry(repo, entries):
    for e in entries:
        project = tomllib.loads((repo / e.folder / "pyproject.toml").read_text())["project"]
        assert project["name"] == e.distribution
        assert project["entry-points"]["rlcore"] == {e.name: f"{e.package}.plugin"}
        assert (repo / e.folder / "src" / e.package / "plugin.py").is_file()
        for section in list(e.provides) + list(e.planned):
            assert section in catalogue.SECTIONS.values(), f"{e.name}: unknown section {section!r}"


def test_registered_names_equal_provides(entries):
    registry = PluginRegistry().load()
    for e in entries:
        info = registry.plugins.get(e.name)
        assert info is not None, f"first-party plugin {e.name!r} ({e.distribution}) is not installed"
        assert info.status in ("ok", "missing-deps"), f"{e.name}: {info.status}: {info.error}"
        registered = {k: sorted(v) for k, v in info.provides.items() if v}
        listed = {k: sorted(v) for k, v in e.provides.items() if v}
        assert registered == listed, f"{e.name}: registers {registered} but registry.toml provides {listed}"
        for section, names in e.planned.items():
            done = set(names) & set(registered.get(section, ()))
            assert not done, f"{e.name}: {sorted(done)} are registered now: move them from planned to provides"
