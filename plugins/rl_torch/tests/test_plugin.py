"""The rl_torch plugin loads through its entry point and imports no framework while doing so."""

from __future__ import annotations

from rlcore.testing import check_plugin, check_plugins_import_light


def test_plugin_is_discovered_through_its_entry_point():
    check_plugin("torch", module="rl_torch.plugin")


def test_loading_the_plugin_imports_no_framework():
    check_plugins_import_light()
