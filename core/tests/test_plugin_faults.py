"""A plugin's failure stays in its plugin: fake plugin distributions (real ``.dist-info`` metadata)
that exit at import, import a typo'd module, lack a declared requirement, raise in an event hook
during real training, or register names that are taken (by a first-party plugin, by gymnasium).

Each case is checked in process, and the issue's cases through the ``rlcore`` CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rlcore
from rlcore import hookimpl, plugins
from rlcore.errors import PluginClashError, PluginError, PluginUnavailableError
from rlcore.loggers import LoggerError
from rlcore.plugins import PluginInfo, PluginWarning, get_registry, install_hint
from rlcore.run import run_trial

pytestmark = pytest.mark.reliability

#: A small PPO run on CartPole: a few seconds, every built-in logger writing.
TINY_PPO = {
    "train_batch_size": 64,
    "sgd_minibatch_size": 32,
    "num_sgd_iter": 1,
    "rollout_fragment_length": 64,
}

OTHER = """
from rlcore import hookimpl

@hookimpl
def rlcore_register_envs(register):
    register("Other-v0", "fakeplug_other:make")
"""

EXITS = "import sys\nsys.exit(3)\n"

CLAIMS_PPO = """
from rlcore import hookimpl

@hookimpl
def rlcore_register_algorithms(register):
    register("PPO", "fakeplug_aaa_algos:Mine")
    register("MYALGO", "fakeplug_aaa_algos:Mine")

class Mine:
    pass
"""

CLAIMS_CARTPOLE = """
from rlcore import hookimpl

@hookimpl
def rlcore_register_envs(register):
    register("CartPole-v1", "fakeplug_cartpole:make")
    register("MyCorridor-v0", "fakeplug_cartpole:make")

def make(env_config):
    raise AssertionError("the plugin's CartPole-v1 must never be built")
"""

#: A logger plugin whose rlcore_on_train_result raises at the second iteration.
RAISING_LOGGER = """
from pathlib import Path
from rlcore import hookimpl

@hookimpl
def rlcore_on_train_result(trainer, result):
    if result["training_iteration"] == 2:
        raise {error}

@hookimpl
def rlcore_on_trial_end(trainer, logdir):
    Path(logdir, "flaky_end.txt").write_text("closed")
"""


def _cli(args: list[str], path: Path | None = None, env_extra: dict[str, str] | None = None) -> Any:
    """``rlcore ARGS`` in a fresh interpreter (the console script when installed), plugins in ``path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLCORE_")}
    env.update(env_extra or {})
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
    script = Path(sys.executable).with_name("rlcore")
    if script.exists():
        cmd = [str(script), *args]
    else:
        cmd = [sys.executable, "-c", "import sys; from rlcore.cli import main; sys.exit(main(sys.argv[1:]))", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _rows(out: Any) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in json.loads(out.stdout)}


def _train_args(tmp_path: Path, iterations: int = 3, run: str = "PPO", env: str = "CartPole-v1") -> list[str]:
    return [
        "train",
        "--run",
        run,
        "--env",
        env,
        "--stop",
        json.dumps({"training_iteration": iterations}),
        "--config",
        json.dumps(TINY_PPO),
        "--local-dir",
        str(tmp_path),
    ]


def _results(logdir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (logdir / "result.json").read_text().splitlines()]


def _only_trial(root: Path) -> Path:
    (experiment,) = [p for p in root.iterdir() if p.is_dir()]
    (trial,) = [p for p in experiment.iterdir() if p.is_dir()]
    return trial


# ------------------------------------------------------------------------------------ import time
def test_sys_exit_at_import_is_broken_and_the_others_work(make_plugin, fresh_registry):
    make_plugin("exits", EXITS)
    make_plugin("other", OTHER)
    registry = fresh_registry()
    info = registry.plugins["exits"]
    assert info.status == "broken"
    assert "failed to import: SystemExit: sys.exit(3) was called" in info.error
    assert "fakeplug_exits.py:2" in info.error, info.error
    assert registry.plugins["other"].status == "ok" and "Other-v0" in registry.names("env")
    assert registry.plugins["algos"].status == "ok" and "PPO" in registry.names("algorithm")


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("raise SystemExit('bye')\n", "SystemExit: sys.exit('bye') was called"),
        ("raise SystemExit\n", "SystemExit: sys.exit(None) was called"),
        ("class Quit(BaseException):\n    pass\nraise Quit('not an Exception')\n", "Quit: not an Exception"),
        ("raise GeneratorExit('odd')\n", "GeneratorExit: odd"),
    ],
)
def test_any_base_exception_at_import_is_broken(make_plugin, fresh_registry, code, shown):
    make_plugin("quits", code)
    info = fresh_registry().plugins["quits"]
    assert info.status == "broken" and shown in info.error, info.error


def test_keyboard_interrupt_at_import_still_interrupts(make_plugin, fresh_registry):
    make_plugin("ctrlc", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        fresh_registry()


def test_sys_exit_in_a_registration_hook_is_broken_and_registers_nothing(make_plugin, fresh_registry):
    code = (
        "import sys\nfrom rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_envs(register):\n"
        "    register('Half-v0', 'x:y')\n    sys.exit(0)\n"
    )
    make_plugin("hookexit", code)
    registry = fresh_registry()
    info = registry.plugins["hookexit"]
    assert info.status == "broken" and "hook rlcore_register_envs raised SystemExit" in info.error
    assert "fakeplug_hookexit.py:7" in info.error and "Half-v0" not in registry.names("env")


def test_a_plugin_broken_at_registration_gets_no_events(fresh_registry):
    calls: list[int] = []

    class HalfBroken:
        @hookimpl
        def rlcore_register_envs(self, register):
            raise SystemExit("cannot register")

        @hookimpl
        def rlcore_on_train_result(self, result):
            calls.append(result["training_iteration"])

    registry = fresh_registry()
    assert registry.add_plugin(HalfBroken(), "halfbroken").status == "broken"
    assert registry.call_event("rlcore_on_train_result", trainer="T", result={"training_iteration": 1}) == []
    assert calls == [], "a broken plugin's event hooks are not called"


def test_a_plugin_object_whose_attributes_raise_is_broken(fresh_registry):
    class Hostile:
        def __getattr__(self, name: str) -> Any:
            raise SystemExit(f"no {name}")

    registry = fresh_registry()
    info = registry.add_plugin(Hostile(), "hostile")
    assert info.status == "broken" and "SystemExit" in info.error


def test_typo_import_is_broken_with_the_line_and_check_fails(make_plugin, fresh_registry):
    path = make_plugin("typo", "import os\nimport nmupy\n", requires=["numpy>=1.24"])
    info = fresh_registry().plugins["typo"]
    assert info.status == "broken"
    assert "ModuleNotFoundError: No module named 'nmupy'" in info.error and "fakeplug_typo.py:2" in info.error
    assert "fix:" not in info.error and "pip install" not in info.error, "no install hint for a typo"
    out = _cli(["list-plugins", "--check"], path=path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "typo (broken)" in out.stderr


def test_a_missing_submodule_of_an_installed_requirement_is_broken(make_plugin, fresh_registry):
    make_plugin("subtypo", "import numpy.no_such_part\n", requires=["numpy>=1.24"])
    info = fresh_registry().plugins["subtypo"]
    assert info.status == "broken" and "numpy.no_such_part" in info.error, info.error


def test_a_name_missing_from_an_installed_module_is_broken(make_plugin, fresh_registry):
    make_plugin("badfrom", "from os import no_such_function\n")
    info = fresh_registry().plugins["badfrom"]
    assert info.status == "broken" and "ImportError" in info.error and "fakeplug_badfrom.py:1" in info.error


def test_a_declared_requirement_missing_is_missing_deps_with_a_quoted_fix(make_plugin, fresh_registry):
    path = make_plugin("needs", "import rlcore_absent_lib\n", requires=["rlcore-absent-lib>=2"])
    info = fresh_registry().plugins["needs"]
    assert info.status == "missing-deps"
    assert "requires 'rlcore-absent-lib>=2'" in info.error and "fix: pip install 'rlcore-absent-lib>=2'" in info.error
    out = _cli(["list-plugins", "--check"], path=path)
    assert out.returncode == 0, "missing-deps is a normal state (a framework not installed): --check passes"
    assert "pip install 'rlcore-absent-lib>=2'" in out.stdout


def test_a_requirement_declared_under_an_extra_names_the_extra(make_plugin, fresh_registry):
    make_plugin("extra", "import rlcore_absent_gpu\n", requires=['rlcore-absent-gpu>=1; extra == "gpu"'])
    info = fresh_registry().plugins["extra"]
    assert info.status == "missing-deps" and "under its extra 'gpu'" in info.error
    assert "fix: pip install 'rlcore-absent-gpu>=1'" in info.error


def test_rlcore_requires_hints_are_pastable(make_plugin, fresh_registry):
    make_plugin("later", "RLCORE_REQUIRES = {'rlcore_absent_fw': 'absent-fw>=2'}\n")
    info = fresh_registry().plugins["later"]
    assert info.status == "missing-deps" and "fix: pip install 'absent-fw>=2'" in info.error
    # A first-party plugin's fix is its folder in this checkout: nothing of rlcore is on an index.
    module = type(sys)("fakeplug_firstparty")
    module.RLCORE_REQUIRES = {"rlcore_absent_tf": "tensorflow-cpu"}  # type: ignore[attr-defined]
    registry = get_registry()
    first = registry.add_plugin(module, "firstparty", info=PluginInfo("firstparty", "m", "rlcore-tf", "0.1.0"))
    assert first.status == "missing-deps"
    assert "fix: pip install -c constraints.txt ./plugins/rl_tf (from the root of an rlcore checkout)" in first.error


def test_install_hints_name_what_a_user_can_install():
    assert install_hint("numpy>=2") == "pip install 'numpy>=2'"
    assert install_hint("torch") == "pip install torch"
    assert install_hint("rlcore-tf>=0.1") == (
        "pip install -c constraints.txt ./plugins/rl_tf (from the root of an rlcore checkout)"
    )
    assert install_hint('rlcore_optimizers>=0.1; extra == "x"').startswith(
        "pip install -c constraints.txt ./plugins/rl_optimizers"
    )


def test_cli_sys_exit_plugin_is_listed_broken_and_training_goes_on(make_plugin, tmp_path):
    """The issue's case through the CLI: `rlcore` commands no longer end silently with the plugin's code."""
    path = make_plugin("exits", EXITS)
    out = _cli(["list-plugins", "--json"], path=path)
    assert out.returncode == 0, out.stderr
    rows = _rows(out)
    assert rows["exits"]["status"] == "broken" and "sys.exit(3)" in rows["exits"]["error"]
    assert rows["algos"]["status"] == "ok"
    table = _cli(["list-plugins"], path=path)
    assert table.returncode == 0 and "sys.exit(3)" in table.stdout
    check = _cli(["list-plugins", "--check"], path=path)
    assert check.returncode == 1 and "exits (broken)" in check.stderr
    train = _cli(_train_args(tmp_path / "results", iterations=1), path=path)
    assert train.returncode == 0, train.stdout + train.stderr
    assert "done: 1 iterations" in train.stdout


def test_cli_strict_mode_names_the_exiting_plugin(make_plugin):
    path = make_plugin("exits", EXITS)
    out = _cli(["list-plugins"], path=path, env_extra={"RLCORE_STRICT_PLUGINS": "1"})
    assert out.returncode not in (0, 3), out
    assert "plugin 'exits'" in out.stderr and "sys.exit(3)" in out.stderr


def test_a_malformed_rlcore_requires_is_broken(make_plugin, fresh_registry):
    make_plugin("badreq", "RLCORE_REQUIRES = 5\n")
    info = fresh_registry().plugins["badreq"]
    assert info.status == "broken" and "RLCORE_REQUIRES must map module names" in info.error


def test_a_second_distribution_with_a_taken_plugin_name_is_listed_broken(make_plugin, fresh_registry):
    path = make_plugin("twin", OTHER, dist="fake-twin-one")
    (path / "fakeplug_twin_two.py").write_text("raise AssertionError('never imported')\n")
    info_dir = path / "fake_twin_two-1.0.dist-info"
    info_dir.mkdir()
    (info_dir / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-twin-two\nVersion: 1.0\n")
    (info_dir / "entry_points.txt").write_text("[rlcore]\ntwin = fakeplug_twin_two\n")
    registry = fresh_registry()
    assert registry.plugins["twin"].status == "ok" and registry.plugins["twin"].distribution == "fake-twin-one"
    second = registry.plugins["twin (fake-twin-two)"]
    assert second.status == "broken" and "taken by the distribution fake-twin-one" in second.error


def test_a_lazy_target_that_exits_at_import_is_an_error_naming_the_plugin(make_plugin, fresh_registry, tmp_path):
    code = (
        "from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_algorithms(register):\n"
        "    register('EXITALGO', 'fakeplug_exitalgo_impl:Trainer')\n"
    )
    path = make_plugin("exitalgo", code)
    (path / "fakeplug_exitalgo_impl.py").write_text("import sys\nsys.exit(7)\n")
    fresh_registry()
    with pytest.raises(PluginError, match=r"algorithm 'EXITALGO' of plugin 'exitalgo'.*sys.exit\(7\)") as info:
        rlcore.get_algorithm_class("EXITALGO")
    assert "fakeplug_exitalgo_impl.py:2" in str(info.value)
    sys.modules.pop("fakeplug_exitalgo_impl", None)
    out = _cli(_train_args(tmp_path / "results", iterations=1, run="EXITALGO"), path=path)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "rlcore: error: algorithm 'EXITALGO' of plugin 'exitalgo'" in out.stderr and "sys.exit(7)" in out.stderr


def test_a_bad_registration_is_broken_and_listing_still_works(make_plugin, fresh_registry):
    """A name that is not a string would break sorting every listing: the plugin is broken instead."""
    code = (
        "from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_envs(register):\n"
        "    register(123, 'fakeplug_badname:make')\n"
    )
    make_plugin("badname", code)
    make_plugin("notarget", code.replace("123, 'fakeplug_badname:make'", "'NoTarget-v0', 42"))
    registry = fresh_registry()
    assert registry.plugins["badname"].status == "broken"
    assert "the name must be a non-empty string, got 123" in registry.plugins["badname"].error
    assert "fakeplug_badname.py:5" in registry.plugins["badname"].error
    assert "the target must be 'package.module:attribute'" in registry.plugins["notarget"].error
    assert registry.names("env") == sorted(registry.names("env"))
    assert [i.as_dict() for i in registry.plugin_infos()]


def test_a_plugin_printing_at_import_keeps_list_plugins_json_parseable(make_plugin):
    path = make_plugin("chatty", "print('hello from a plugin')\n" + OTHER)
    out = _cli(["list-plugins", "--json"], path=path)
    assert out.returncode == 0 and _rows(out)["chatty"]["status"] == "ok"
    assert "hello from a plugin" in out.stderr


# ------------------------------------------------------------------------------------ event hooks
@pytest.mark.parametrize("error", ["ZeroDivisionError('no luck')", "SystemExit(4)"])
def test_a_raising_train_result_hook_is_named_skipped_and_the_run_goes_on(make_plugin, fresh_registry, tmp_path, error):
    """The issue's case: a plugin's rlcore_on_train_result raises at iteration 2 of a real PPO run."""
    make_plugin("flaky", RAISING_LOGGER.format(error=error))
    seen: list[int] = []

    class Counter:
        @hookimpl
        def rlcore_on_train_result(self, result):
            seen.append(result["training_iteration"])

    registry = fresh_registry()
    registry.add_plugin(Counter(), "counter")
    assert registry.plugins["flaky"].status == "ok"
    with pytest.warns(PluginWarning, match=r"plugin 'flaky' \(fake-flaky\) raised in rlcore_on_train_result") as rec:
        outcome = run_trial("PPO", "CartPole-v1", TINY_PPO, {"training_iteration": 4}, local_dir=tmp_path / "results")
    (warning,) = [w for w in rec if issubclass(w.category, PluginWarning)]
    assert "skipped for the rest of this process" in str(warning.message)
    assert "RLCORE_DISABLE_PLUGINS=flaky" in str(warning.message)
    assert Path(warning.filename).name == "fakeplug_flaky.py" and warning.lineno == 8
    assert outcome.result["training_iteration"] == 4, "the run went on to its stop criterion"
    assert [r["training_iteration"] for r in _results(outcome.logdir)] == [1, 2, 3, 4]
    assert len((outcome.logdir / "progress.csv").read_text().splitlines()) == 5
    assert seen == [1, 2, 3, 4], "the other plugins got every result"
    assert not (outcome.logdir / "flaky_end.txt").exists(), "its other event hooks were skipped"
    info = registry.plugins["flaky"]
    assert info.status == "broken" and "hook rlcore_on_train_result raised" in info.error
    assert "PPO" in registry.names("algorithm")


def test_a_plugin_whose_event_hook_failed_keeps_its_names_usable(fresh_registry):
    class AlgoAndLogger:
        @hookimpl
        def rlcore_register_algorithms(self, register):
            register("LOGALG", "builtins:dict")

        @hookimpl
        def rlcore_on_train_result(self, result):
            raise OSError("disk full")

    registry = fresh_registry()
    registry.add_plugin(AlgoAndLogger(), "algo_and_logger")
    with pytest.warns(PluginWarning, match="plugin 'algo_and_logger' raised in rlcore_on_train_result: OSError"):
        registry.call_event("rlcore_on_train_result", trainer="T", result={"training_iteration": 1})
    assert registry.plugins["algo_and_logger"].status == "broken"
    assert rlcore.get_algorithm_class("LOGALG") is dict, "a run that built it, or the next one, can still use it"


def test_strict_mode_stops_the_run_with_an_error_naming_the_plugin(make_plugin, fresh_registry, tmp_path, monkeypatch):
    make_plugin("flaky", RAISING_LOGGER.format(error="ZeroDivisionError('no luck')"))
    fresh_registry()
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    with pytest.raises(LoggerError, match=r"rlcore_on_train_result: plugin 'flaky' raised ZeroDivisionError: no luck"):
        run_trial("PPO", "CartPole-v1", TINY_PPO, {"training_iteration": 4}, local_dir=tmp_path / "results")
    assert [r["training_iteration"] for r in _results(_only_trial(tmp_path / "results"))] == [1, 2]


def test_a_raising_trial_start_hook_leaves_the_run_and_the_other_loggers(fresh_registry, tmp_path):
    class NoOpen:
        @hookimpl
        def rlcore_on_trial_start(self, logdir):
            raise PermissionError(f"cannot write {logdir}")

    registry = fresh_registry()
    registry.add_plugin(NoOpen(), "noopen")
    with pytest.warns(PluginWarning, match="plugin 'noopen' raised in rlcore_on_trial_start: PermissionError"):
        outcome = run_trial("PPO", "CartPole-v1", TINY_PPO, {"training_iteration": 2}, local_dir=tmp_path / "results")
    assert [r["training_iteration"] for r in _results(outcome.logdir)] == [1, 2]
    assert registry.plugins["noopen"].status == "broken"


def test_a_raising_trial_end_hook_is_warned_about_and_the_outcome_returned(fresh_registry, tmp_path):
    class BadEnd:
        @hookimpl
        def rlcore_on_trial_end(self):
            raise OSError("flush failed")

    registry = fresh_registry()
    registry.add_plugin(BadEnd(), "badend")
    with pytest.warns(PluginWarning, match="plugin 'badend' raised in rlcore_on_trial_end: OSError: flush failed"):
        outcome = run_trial("PPO", "CartPole-v1", TINY_PPO, {"training_iteration": 1}, local_dir=tmp_path / "results")
    assert outcome.result["training_iteration"] == 1 and len(_results(outcome.logdir)) == 1


def test_a_failing_builtin_logger_is_skipped_and_the_others_write(fresh_registry, tmp_path):
    """A result value the json logger cannot write (added by a plugin): the csv logger keeps every row."""

    class AddsAnObject:
        @hookimpl(tryfirst=True)
        def rlcore_on_train_result(self, result):
            if result["training_iteration"] == 2:
                result["custom"] = {1, 2}  # a set: not JSON

    registry = fresh_registry()
    registry.add_plugin(AddsAnObject(), "adds")
    with pytest.warns(PluginWarning, match=r"plugin 'json' \(rlcore\) raised in rlcore_on_train_result: TypeError"):
        outcome = run_trial("PPO", "CartPole-v1", TINY_PPO, {"training_iteration": 3}, local_dir=tmp_path / "results")
    assert len((outcome.logdir / "progress.csv").read_text().splitlines()) == 4
    assert registry.plugins["json"].status == "broken"


def test_a_plugin_removing_result_keys_is_named_and_the_keys_put_back(fresh_registry, tmp_path):
    class Remover:
        @hookimpl(tryfirst=True)
        def rlcore_on_train_result(self, result):
            del result["training_iteration"]  # the stop criterion and every logger read it

    registry = fresh_registry()
    registry.add_plugin(Remover(), "remover")
    with pytest.warns(
        PluginWarning, match=r"plugin 'remover' raised in rlcore_on_train_result.*\['training_iteration'\]"
    ):
        outcome = run_trial("PPO", "CartPole-v1", TINY_PPO, {"training_iteration": 2}, local_dir=tmp_path / "results")
    assert outcome.result["training_iteration"] == 2
    assert [r["training_iteration"] for r in _results(outcome.logdir)] == [1, 2]
    assert registry.plugins["remover"].status == "broken"


def test_cli_train_with_a_raising_logger_finishes_and_names_it(make_plugin, tmp_path):
    path = make_plugin("flaky", RAISING_LOGGER.format(error="ZeroDivisionError('no luck')"))
    out = _cli([*_train_args(tmp_path / "results", iterations=3), "--json"], path=path)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["training_iteration"] for line in out.stdout.splitlines()] == [1, 2, 3]
    warning = [line for line in out.stderr.splitlines() if "PluginWarning" in line]
    assert len(warning) == 1 and "plugin 'flaky' (fake-flaky) raised in rlcore_on_train_result" in warning[0]
    assert "fakeplug_flaky.py:8" in warning[0]
    assert [r["training_iteration"] for r in _results(_only_trial(tmp_path / "results"))] == [1, 2, 3]


# ---------------------------------------------------------------------------------------- clashes
def test_a_third_party_ppo_is_refused_and_algos_keeps_working(make_plugin, fresh_registry):
    """The issue's case: a plugin sorted before `algos` registers PPO."""
    make_plugin("aaa_algos", CLAIMS_PPO)
    registry = fresh_registry()
    assert registry.plugins["algos"].status == "ok", registry.plugins["algos"].error
    info = registry.plugins["aaa_algos"]
    assert info.status == "clash"
    assert "refused: algorithm 'PPO' (plugin 'algos' of rlcore-algos registered it first)" in info.error
    assert "RLCORE_DISABLE_PLUGINS=aaa_algos" in info.error
    with pytest.warns(PluginWarning, match=r"algorithm 'PPO' is plugin 'algos'"):
        assert rlcore.get_algorithm_class("PPO").__module__.startswith("rl_algos")
    assert rlcore.get_algorithm_class("DQN").__module__.startswith("rl_algos")
    assert rlcore.get_algorithm_class("MYALGO").__name__ == "Mine", "its names that do not clash work"
    assert info.provides == {"algorithms": ["MYALGO"]}


def test_strict_mode_raises_on_the_clash(make_plugin, fresh_registry, monkeypatch):
    make_plugin("aaa_algos", CLAIMS_PPO)
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginClashError, match=r"plugin 'aaa_algos'.*its algorithm 'PPO' .* was refused"):
        fresh_registry()


def test_a_plugin_cannot_replace_a_gymnasium_env(make_plugin, fresh_registry):
    """The issue's case: a plugin registers CartPole-v1; gymnasium's env is used and the plugin blamed."""
    make_plugin("cartpole", CLAIMS_CARTPOLE)
    registry = fresh_registry()
    env = rlcore.make_env("CartPole-v1")
    assert type(env.unwrapped).__name__ == "CartPoleEnv"
    info = registry.plugins["cartpole"]
    assert (
        info.status == "clash" and "refused: env 'CartPole-v1' (a gymnasium id: gymnasium's env is used)" in info.error
    )
    assert "MyCorridor-v0" in registry.names("env") and "CartPole-v1" not in registry.names("env")
    assert info.provides == {"envs": ["MyCorridor-v0"]}


def test_register_env_refuses_a_gymnasium_id_unless_override(fresh_registry):
    fresh_registry()

    def mine(env_config: dict[str, Any]) -> Any:
        import gymnasium

        return gymnasium.make("MountainCar-v0")

    with pytest.raises(PluginClashError, match=r"env 'CartPole-v1' is a gymnasium id.*override=True"):
        rlcore.register_env("CartPole-v1", mine)
    assert type(rlcore.make_env("CartPole-v1").unwrapped).__name__ == "CartPoleEnv"
    rlcore.register_env("CartPole-v1", mine, override=True)
    assert type(rlcore.make_env("CartPole-v1").unwrapped).__name__ == "MountainCarEnv"


def test_cli_clashes_are_listed_checked_and_training_uses_the_owner(make_plugin, tmp_path):
    make_plugin("aaa_algos", CLAIMS_PPO)
    path = make_plugin("cartpole", CLAIMS_CARTPOLE)
    rows = _rows(_cli(["list-plugins", "--json"], path=path))
    assert rows["algos"]["status"] == "ok" and rows["aaa_algos"]["status"] == "clash"
    assert rows["algos"]["provides"]["algorithms"] == ["A2C", "A3C", "APEX", "DQN", "ES", "PPO"]
    check = _cli(["list-plugins", "--check"], path=path)
    assert check.returncode == 1
    assert "aaa_algos (clash)" in check.stderr and "cartpole (clash)" in check.stderr
    assert "env 'CartPole-v1' (a gymnasium id: gymnasium's env is used)" in check.stdout
    train = _cli(_train_args(tmp_path / "results", iterations=1), path=path)
    assert train.returncode == 0, train.stdout + train.stderr
    assert "algorithm 'PPO' is plugin 'algos'" in train.stderr


def test_strict_mode_cli_exit_names_the_plugin_not_its_code(make_plugin):
    code = (
        "import sys\nfrom rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_envs(register):\n    sys.exit(5)\n"
    )
    path = make_plugin("hookexit2", code)
    out = _cli(["list-plugins"], path=path, env_extra={"RLCORE_STRICT_PLUGINS": "1"})
    assert out.returncode not in (0, 5) and "plugin 'hookexit2'" in out.stderr


def test_a_missing_deps_plugins_names_say_why_and_how_to_fix(make_plugin, fresh_registry):
    code = (
        "from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_optimizers(register):\n"
        "    register('HalfOpt', 'x:y')\n\nRLCORE_REQUIRES = ['rlcore_absent_x']\n"
    )
    make_plugin("halfgood", code)
    fresh_registry()
    with pytest.raises(PluginUnavailableError, match=r"plugin 'halfgood'.*missing-deps.*pip install rlcore_absent_x"):
        rlcore.get_optimizer_class("HalfOpt")


def test_statuses_are_the_documented_ones():
    assert plugins.STATUSES == ("ok", "missing-deps", "broken", "disabled", "clash")
    readme = Path(__file__).resolve().parents[2] / "README.md"
    if not readme.exists():
        pytest.skip("not in a checkout")
    text = readme.read_text()
    section = text[text.index("## Plugins") : text.index("### Writing a plugin")]
    for status in plugins.STATUSES:
        assert f"`{status}`" in section, f"the README's Plugins section does not describe {status!r}"


# ----------------------------------------------------------------- more of the same kind (attacker's second pass)
def _point_entry_at(path: Path, ep_name: str, value: str) -> None:
    """Rewrite the entry point of ``make_plugin``'s distribution ``fake-<ep_name>`` to ``value``."""
    (path / f"fake_{ep_name}-1.0.dist-info" / "entry_points.txt").write_text(f"[rlcore]\n{ep_name} = {value}\n")


def test_an_entry_point_naming_a_missing_attribute_is_broken_and_says_so(make_plugin, fresh_registry):
    path = make_plugin("missattr", "x = 1\n")
    _point_entry_at(path, "missattr", "fakeplug_missattr:nothere")
    info = fresh_registry().plugins["missattr"]
    assert info.status == "broken"
    assert info.error == (
        "failed to import: the entry point 'fakeplug_missattr:nothere' of fake-missattr names 'nothere', which "
        "the module 'fakeplug_missattr' does not have; fix the attribute in the entry point, or define it in the module"
    )


def test_an_entry_point_naming_a_missing_module_blames_the_entry_point(make_plugin, fresh_registry):
    path = make_plugin("nomod", "x = 1\n")
    _point_entry_at(path, "nomod", "fakeplug_no_such_module:plugin")
    info = fresh_registry().plugins["nomod"]
    assert info.status == "broken"
    assert "the entry point 'fakeplug_no_such_module:plugin' of fake-nomod names a module that is not installed" in (
        info.error
    )
    assert "plugins.py" not in info.error and "not a requirement" not in info.error, info.error


def test_an_exception_whose_str_raises_at_import_is_still_named(make_plugin, fresh_registry):
    code = (
        "class Odd(Exception):\n    def __str__(self):\n        raise RuntimeError('no str')\n"
        "    def __repr__(self):\n        raise RuntimeError('no repr')\n\nraise Odd()\n"
    )
    path = make_plugin("oddexc", code)
    info = fresh_registry().plugins["oddexc"]
    assert info.status == "broken"
    assert "failed to import: Odd: <its str() raised RuntimeError> (at " in info.error
    assert "fakeplug_oddexc.py:7" in info.error
    out = _cli(["list-plugins"], path=path)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "Odd: <its str() raised RuntimeError>" in out.stdout


def test_an_invalid_hook_signature_is_one_line_without_the_loaders_line(make_plugin, fresh_registry):
    code = "from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_envs(register, extra):\n    pass\n"
    make_plugin("badsig", code)
    info = fresh_registry().plugins["badsig"]
    assert info.status == "broken" and "invalid hooks: PluginValidationError" in info.error
    assert "\n" not in info.error and "{'extra'}" in info.error and "plugins.py" not in info.error, info.error


@pytest.mark.parametrize("returned", ["{'Mine-v0': 'fakeplug_retval:make'}", "42"])
def test_a_registration_hook_returning_a_value_is_broken(make_plugin, fresh_registry, monkeypatch, returned):
    """A hook that returns its names instead of calling register() registered nothing: not 'ok'."""
    code = f"from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_envs(register):\n    return {returned}\n"
    make_plugin("retval", code)
    info = fresh_registry().plugins["retval"]
    assert info.status == "broken"
    assert info.error.startswith(f"hook rlcore_register_envs returned {returned} (")
    assert "calls register(name, target) for each name and returns None" in info.error
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin 'retval': hook rlcore_register_envs returned"):
        plugins.reset_registry().load()


def test_two_plugins_registering_the_same_env_the_first_keeps_it(make_plugin, fresh_registry):
    env_plugin = (
        "from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_register_envs(register):\n"
        "    register('Same-v0', 'fakeplug_{n}:make')\n\ndef make(env_config):\n"
        "    import gymnasium\n    return gymnasium.make('{env}')\n"
    )
    make_plugin("samea", env_plugin.format(n="samea", env="CartPole-v1"))
    path = make_plugin("sameb", env_plugin.format(n="sameb", env="Acrobot-v1"))
    registry = fresh_registry()
    assert registry.plugins["samea"].status == "ok"
    assert registry.plugins["sameb"].status == "clash"
    assert "env 'Same-v0' (plugin 'samea' of fake-samea registered it first)" in registry.plugins["sameb"].error
    with pytest.warns(PluginWarning, match="the registration of it by plugin 'sameb'"):
        assert str(rlcore.make_env("Same-v0").spec.id) == "CartPole-v1"
    out = _cli(["list-plugins", "--check"], path=path)
    assert out.returncode == 1 and "sameb (clash)" in out.stderr, out.stdout + out.stderr
