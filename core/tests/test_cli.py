"""`rlcore list-plugins` in subprocesses: table, JSON, --check, broken plugins, import lightness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HEAVY = ("torch", "tensorflow", "ray", "jax")


def run(args, env_extra=None, path=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLCORE_")}
    env.update(env_extra or {})
    if path:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    code = "import sys; from rlcore.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def broken_dist(tmp_path: Path) -> Path:
    (tmp_path / "rlcore_broken_example.py").write_text("raise ImportError('this plugin is broken on purpose')\n")
    info = tmp_path / "rlcore_broken_example-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rlcore-broken-example\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[rlcore]\nbroken_example = rlcore_broken_example\n")
    # A working plugin beside it, so the test holds when no other plugin is installed (core alone).
    (tmp_path / "rlcore_good_example.py").write_text(
        "from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_envs(register):\n"
        "    register('GoodExample-v0', 'rlcore_good_example:make')\n"
    )
    info = tmp_path / "rlcore_good_example-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rlcore-good-example\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[rlcore]\ngood_example = rlcore_good_example\n")
    return tmp_path


def test_import_rlcore_imports_no_framework():
    code = textwrap.dedent(
        f"""
        import sys, rlcore
        from rlcore import plugins, specs, hookspecs, catalogue, errors, config
        rlcore.load_plugins()
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, heavy
        print("numpy" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "import rlcore + loading plugins should not even need numpy"


def test_list_plugins_imports_no_framework():
    code = textwrap.dedent(
        f"""
        import sys, io, contextlib
        from rlcore.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            main(["list-plugins"]); main(["list-plugins", "--json"])
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, heavy
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_list_plugins_json_shows_broken_and_keeps_others_ok(broken_dist):
    out = run(["list-plugins", "--json"], path=broken_dist)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    broken = by_name["broken_example"]
    assert broken["status"] == "broken" and "broken on purpose" in broken["error"]
    assert broken["distribution"] == "rlcore-broken-example" and broken["version"] == "0.0.1"
    others = [r for r in rows if r["name"] != "broken_example"]
    assert others and all(r["status"] == "ok" for r in others), others
    assert by_name["good_example"]["provides"] == {"envs": ["GoodExample-v0"]}
    for row in rows:
        assert set(row) == {"name", "distribution", "version", "module", "status", "provides", "error"}


def test_list_plugins_table_goes_on_past_broken(broken_dist):
    out = run(["list-plugins"], path=broken_dist)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "STATUS", "PROVIDES"]
    idx = next(i for i, line in enumerate(lines) if line.startswith("broken_example"))
    assert "broken" in lines[idx] and "error:" in lines[idx + 1] and "broken on purpose" in lines[idx + 1]
    assert any(line.startswith("good_example") and " ok " in line for line in lines), "the others are listed, ok"


def test_check_fails_only_when_something_is_broken(broken_dist):
    assert run(["list-plugins", "--check"]).returncode == 0
    out = run(["list-plugins", "--check"], path=broken_dist)
    assert out.returncode == 1 and "broken_example" in out.stderr


def test_strict_mode_fails_loudly(broken_dist):
    out = run(["list-plugins"], path=broken_dist, env_extra={"RLCORE_STRICT_PLUGINS": "1"})
    assert out.returncode != 0 and "broken on purpose" in out.stderr


def test_help_and_no_command():
    out = run(["list-plugins", "--help"])
    assert out.returncode == 0 and "examples:" in out.stdout
    assert run([]).returncode == 2


@pytest.mark.parametrize("command", [[], ["list-plugins"], ["train"], ["rollout"], ["plot"], ["check-evaluator"]])
def test_every_command_has_help_with_examples(command, capsys):
    from rlcore.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"rlcore {command[0] if command else ''}".strip() in out


def test_train_help_names_each_algorithms_default_framework(capsys):
    """ES defaults to numpy, not torch: --help must not say torch is every algorithm's default."""
    from rlcore.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: torch)" not in out and "numpy for ES" in out
