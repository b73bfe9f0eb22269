"""The rl_algos plugin loads through its entry point and imports no framework while doing so."""

from __future__ import annotations

from rlcore.testing import check_plugin, check_plugins_import_light


def test_plugin_is_discovered_through_its_entry_point():
    check_plugin("algos", module="rl_algos.plugin")


def test_loading_the_plugin_imports_no_framework():
    check_plugins_import_light()


def test_registers_its_algorithms_and_env_lazily():
    from rlcore.plugins import get_registry

    registry = get_registry().load()
    info = registry.plugins["algos"]
    assert sorted(info.provides["algorithms"]) == ["A2C", "A3C", "APEX", "DQN", "ES", "PPO"]
    assert info.provides["policies"] == ["ES/numpy"]
    assert sorted(info.provides["envs"]) == ["PixelGrid-v0", "StatelessCartPole-v1"]
    assert registry.specs["algorithm"]["A3C"].target == "rl_algos.a3c:A3C"
    assert registry.specs["algorithm"]["A2C"].target == "rl_algos.a3c:A2C"
    assert "A3C policy" in registry.specs["algorithm"]["A2C"].summary
    assert registry.specs["algorithm"]["APEX"].target == "rl_algos.apex:APEX"
