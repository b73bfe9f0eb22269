"""The rl_torch plugin loads through its entry point and imports no framework while doing so."""

from __future__ import annotations

import subprocess
import sys

from rlcore.plugins import PluginRegistry


def test_plugin_is_discovered_through_its_entry_point():
    info = PluginRegistry().load().plugins["torch"]
    assert info.module == "rl_torch.plugin"
    assert info.status == "ok", info.error


def test_loading_the_plugin_imports_no_framework():
    code = (
        "import sys; from rlcore.plugins import PluginRegistry; PluginRegistry().load(); "
        "heavy = [m for m in ('torch', 'tensorflow', 'ray') if m in sys.modules]; assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
