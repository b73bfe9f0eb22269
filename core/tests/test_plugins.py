"""The plugin manager: discovery through entry points, statuses, clashes, lazy targets."""

from __future__ import annotations

import pytest

import rlcore
from rlcore import plugins
from rlcore.errors import PluginClashError, PluginError, PluginUnavailableError, UnknownNameError

GOOD = """
from rlcore import hookimpl

@hookimpl
def rlcore_register_envs(register):
    register("Good-v0", "fakeplug_good_envs:make", summary="a good env")

@hookimpl
def rlcore_register_evaluators(register):
    register("GOODALG", "numpy", "fakeplug_good_impl:Evaluator", summary="x", capabilities=["discrete"])

@hookimpl
def rlcore_register_optimizers(register):
    register("GoodOptimizer", "fakeplug_good_impl:Optimizer")

@hookimpl
def rlcore_register_algorithms(register):
    register("GOODALG", "fakeplug_good_impl:Trainer")

@hookimpl
def rlcore_register_models(register):
    register("fc", "numpy", "fakeplug_good_impl:Model")
"""

IMPL = """
import sys
sys.modules[__name__].IMPORTED = True
class Evaluator: pass
class Optimizer: pass
class Trainer: pass
class Model: pass
"""


def test_good_plugin_registers_every_kind_lazily(make_plugin, fresh_registry):
    dir_ = make_plugin("good", GOOD, dist="fake-good", version="2.3")
    (dir_ / "fakeplug_good_impl.py").write_text(IMPL)
    reg = fresh_registry()
    info = reg.plugins["good"]
    assert (info.status, info.distribution, info.version, info.error) == ("ok", "fake-good", "2.3", None)
    assert info.provides == {
        "envs": ["Good-v0"],
        "models": ["fc/numpy"],
        "evaluators": ["GOODALG/numpy"],
        "optimizers": ["GoodOptimizer"],
        "algorithms": ["GOODALG"],
    }
    spec = rlcore.get_spec("evaluator", "GOODALG", "numpy")
    assert spec.capabilities == frozenset({"discrete"}) and spec.summary == "x"
    import sys

    assert "fakeplug_good_impl" not in sys.modules, "listing and resolving must not import targets"
    assert rlcore.get_evaluator_class("GOODALG", "numpy").__name__ == "Evaluator"
    assert "fakeplug_good_impl" in sys.modules
    assert rlcore.get_optimizer_class("GoodOptimizer").__name__ == "Optimizer"
    assert rlcore.get_algorithm_class("GOODALG").__name__ == "Trainer"
    assert rlcore.get_model_builder("fc", "numpy").__name__ == "Model"


def test_plugins_load_once(make_plugin, fresh_registry):
    make_plugin("counter", "import builtins\nbuiltins.__dict__.setdefault('_rl_loads', []).append(1)\n")
    reg = fresh_registry()
    reg.load()
    reg.load()
    rlcore.load_plugins()
    import builtins

    assert builtins._rl_loads == [1]
    del builtins._rl_loads


def test_import_error_is_broken_and_others_keep_working(make_plugin, fresh_registry):
    make_plugin("good", GOOD)
    make_plugin("boom", "raise RuntimeError('kaboom at import')\n", dist="fake-boom")
    reg = fresh_registry()
    assert reg.plugins["boom"].status == "broken"
    assert "kaboom at import" in reg.plugins["boom"].error
    assert reg.plugins["good"].status == "ok"
    assert "GoodOptimizer" in reg.names("optimizer")


def test_hook_that_raises_is_broken_and_registers_nothing(make_plugin, fresh_registry):
    code = GOOD + "\n@hookimpl\ndef rlcore_register_envs(register):\n    register('Half-v0', 'x:y')\n    1/0\n"
    make_plugin("halfway", code.replace("GOODALG", "HALF").replace("GoodOptimizer", "HalfOpt"))
    reg = fresh_registry()
    info = reg.plugins["halfway"]
    assert info.status == "broken" and "rlcore_register_envs" in info.error and "ZeroDivisionError" in info.error
    assert "Half-v0" not in reg.names("env") and "HalfOpt" not in reg.names("optimizer")


def test_missing_framework_is_missing_deps_with_fix(make_plugin, fresh_registry):
    make_plugin(
        "needy",
        GOOD.replace("GOODALG", "NEEDY").replace("GoodOptimizer", "NeedyOpt").replace("Good-v0", "Needy-v0")
        + "\nRLCORE_REQUIRES = {'rlcore_no_such_framework': 'no-such-framework'}\n",
        dist="fake-needy",
    )
    reg = fresh_registry()
    info = reg.plugins["needy"]
    assert info.status == "missing-deps"
    assert "pip install no-such-framework" in info.error
    assert info.provides["evaluators"] == ["NEEDY/numpy"]  # listed, so users see what they would get
    with pytest.raises(PluginUnavailableError, match=r"fake-needy.*missing-deps.*pip install no-such-framework"):
        rlcore.get_evaluator_class("NEEDY", "numpy")


def test_plugin_importing_a_declared_missing_module_is_missing_deps(make_plugin, fresh_registry):
    make_plugin("imports", "import rlcore_absent_framework\n", requires=["rlcore-absent-framework>=2"])
    info = fresh_registry().plugins["imports"]
    assert info.status == "missing-deps" and "rlcore_absent_framework" in info.error
    assert "fix: pip install 'rlcore-absent-framework>=2'" in info.error  # quoted: pastable in a shell


def test_plugin_importing_an_undeclared_missing_module_is_broken(make_plugin, fresh_registry):
    make_plugin("typo", "import os\nimport nmupy\n", requires=["numpy>=1.24"])
    info = fresh_registry().plugins["typo"]
    assert info.status == "broken", info.error
    assert "No module named 'nmupy'" in info.error and "fakeplug_typo.py:2" in info.error
    assert "'nmupy' is not a requirement that the plugin declares" in info.error


def test_invalid_hook_name_is_broken(make_plugin, fresh_registry):
    make_plugin("typo", "from rlcore import hookimpl\n@hookimpl\ndef rlcore_register_evaluatorz(register):\n    pass\n")
    info = fresh_registry().plugins["typo"]
    assert info.status == "broken" and "rlcore_register_evaluatorz" in info.error


def test_clash_names_both_distributions_and_the_first_keeps_the_name(make_plugin, fresh_registry):
    make_plugin("a_first", GOOD, dist="dist-one")
    make_plugin("b_second", GOOD.replace("Good-v0", "Other-v0"), dist="dist-two")
    reg = fresh_registry()
    assert reg.plugins["a_first"].status == "ok"
    second = reg.plugins["b_second"]
    assert second.status == "clash" and "dist-one" in second.error and "dist-two" in second.error
    assert "evaluator 'GOODALG/numpy' (plugin 'a_first' of dist-one registered it first)" in second.error
    assert "Other-v0" in reg.names("env"), "the non-clashing names of the second plugin still work"
    assert rlcore.get_spec("env", "Other-v0").plugin == "b_second"
    with pytest.warns(plugins.PluginWarning, match=r"'GOODALG/numpy' is plugin 'a_first'.*'b_second' \(dist-two\)"):
        assert rlcore.get_spec("evaluator", "GOODALG", "numpy").plugin == "a_first"


def test_strict_mode_reraises(make_plugin, fresh_registry, monkeypatch):
    make_plugin("boom", "raise RuntimeError('kaboom')\n")
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    with pytest.raises(RuntimeError, match="kaboom"):
        fresh_registry()


def test_strict_mode_turns_a_plugins_sys_exit_into_a_plugin_error(make_plugin, fresh_registry, monkeypatch):
    make_plugin("exits", "import sys\nsys.exit(3)\n")
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin 'exits'.*sys.exit\(3\)") as info:
        fresh_registry()
    assert isinstance(info.value.__cause__, SystemExit)


def test_strict_mode_reraises_clash(make_plugin, fresh_registry, monkeypatch):
    make_plugin("a_first", GOOD)
    make_plugin("b_second", GOOD)
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginClashError):
        fresh_registry()


def test_disable_plugins(make_plugin, fresh_registry, monkeypatch):
    make_plugin("boom", "raise RuntimeError('kaboom')\n")
    make_plugin("good", GOOD)
    monkeypatch.setenv("RLCORE_DISABLE_PLUGINS", "boom, good")
    reg = fresh_registry()
    assert reg.plugins["boom"].status == "disabled" and reg.plugins["good"].status == "disabled"
    assert "GoodOptimizer" not in reg.names("optimizer")


def test_unknown_name_lists_what_exists_and_suggests(make_plugin, fresh_registry):
    make_plugin("good", GOOD)
    fresh_registry()
    with pytest.raises(UnknownNameError) as exc:
        rlcore.get_optimizer_class("GoodOptimiser")
    msg = str(exc.value)
    assert "unknown optimizer 'GoodOptimiser'" in msg and "Did you mean 'GoodOptimizer'" in msg
    assert "Available optimizers:" in msg and "GoodOptimizer" in msg


def test_unknown_first_party_name_names_the_distribution(fresh_registry, monkeypatch):
    monkeypatch.setenv("RLCORE_DISABLE_PLUGINS", "algos,torch,tf,optimizers")
    plugins.reset_registry([])  # as if no first-party plugin were installed
    with pytest.raises(UnknownNameError, match=r"rlcore-algos.*pip install -c constraints.txt ./plugins/rl_algos"):
        rlcore.get_algorithm_class("PPO")
    with pytest.raises(UnknownNameError, match=r"rlcore-torch.*pip install -c constraints.txt ./plugins/rl_torch"):
        rlcore.get_policy_class("PPO", "torch")
    with pytest.raises(
        UnknownNameError,
        match=r"unknown policy 'PPO/torch'.*rlcore-torch.*pip install .*./plugins/rl_torch",
    ):
        rlcore.resolve_evaluator("PPO", "torch")


def test_target_that_does_not_import_names_the_plugin(make_plugin, fresh_registry):
    make_plugin("good", GOOD)  # fakeplug_good_impl is never written
    fresh_registry()
    with pytest.raises(PluginError, match=r"plugin 'good'.*fakeplug_good_impl"):
        rlcore.get_optimizer_class("GoodOptimizer")


def test_user_registration_and_clash_with_plugin(make_plugin, fresh_registry):
    dir_ = make_plugin("good", GOOD)
    (dir_ / "fakeplug_good_impl.py").write_text(IMPL)
    fresh_registry()

    class Mine:
        pass

    rlcore.register_optimizer("MyOptimizer", Mine)
    rlcore.register_optimizer("MyOptimizer", Mine)  # re-registering your own name replaces it
    assert rlcore.get_optimizer_class("MyOptimizer") is Mine
    with pytest.raises(PluginClashError, match=r"already provided by plugin 'good'"):
        rlcore.register_optimizer("GoodOptimizer", Mine)
    rlcore.register_optimizer("GoodOptimizer", Mine, override=True)
    assert rlcore.get_optimizer_class("GoodOptimizer") is Mine
    rlcore.register_evaluator("MINE", "numpy", Mine, capabilities=["discrete"])
    assert rlcore.get_evaluator_class("MINE", "numpy") is Mine
    rlcore.register_algorithm("MINE", "fakeplug_good_impl:Trainer")
    assert rlcore.get_algorithm_class("MINE").__name__ == "Trainer"
    rlcore.register_model("mykind", "numpy", Mine)
    assert rlcore.get_model_builder("mykind", "numpy") is Mine


def test_bad_target_string(fresh_registry):
    fresh_registry()
    rlcore.register_algorithm("BAD", "no_colon_here")
    with pytest.raises(PluginError, match="not of the form"):
        rlcore.get_algorithm_class("BAD")


def test_plugin_info_json_is_stable(make_plugin, fresh_registry):
    make_plugin("good", GOOD, dist="fake-good", version="1.0")
    info = fresh_registry().plugins["good"].as_dict()
    assert list(info) == ["name", "distribution", "version", "module", "status", "provides", "error"]
    assert list(info["provides"]) == sorted(info["provides"])


def test_get_evaluator_class_of_a_policy_pair_says_what_to_use(fresh_registry):
    fresh_registry()
    rlcore.register_policy("POLALG", "numpy", "builtins:dict")
    with pytest.raises(UnknownNameError, match=r"'POLALG/numpy' is registered as a policy.*resolve_evaluator"):
        rlcore.get_evaluator_class("POLALG", "numpy")
