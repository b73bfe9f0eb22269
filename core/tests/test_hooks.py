"""Every hook is documented and has a test of its own here (datasette's meta-tests)."""

from __future__ import annotations

import inspect
import sys

import pytest

from rlcore import hookspecs
from rlcore.plugins import PluginRegistry, get_registry

HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("rlcore_"))


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_and_typed(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert len(doc) > 60 and "Called" in doc, f"hook {name} needs a docstring saying when it is called"
    sig = inspect.signature(fn)
    assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values()), name


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_test_of_its_own(name):
    assert hasattr(sys.modules[__name__], f"test_hook_{name}"), f"add test_hook_{name} to {__file__}"


def test_registration_hooks_are_all_listed():
    assert set(hookspecs.REGISTRATION_HOOKS) == {n for n in HOOKS if n.startswith("rlcore_register_")}


class _Plugin:
    """An in-process plugin object implementing every hook."""

    def __init__(self):
        self.results = []

    @hookspecs.hookimpl
    def rlcore_register_envs(self, register):
        register("HookEnv-v0", "gymnasium.envs.classic_control:CartPoleEnv", summary="s")

    @hookspecs.hookimpl
    def rlcore_register_models(self, register):
        register("fc", "hooktest", "builtins:dict")

    @hookspecs.hookimpl
    def rlcore_register_policies(self, register):
        register("HOOKALG", "hookpolicy", "builtins:dict", capabilities=["discrete", "gradients"])

    @hookspecs.hookimpl
    def rlcore_register_evaluators(self, register):
        register("HOOKALG", "hooktest", "builtins:dict", capabilities=["discrete"])

    @hookspecs.hookimpl
    def rlcore_register_optimizers(self, register):
        register("HookOptimizer", "builtins:dict")

    @hookspecs.hookimpl
    def rlcore_register_algorithms(self, register):
        register("HOOKALG", "builtins:dict")

    @hookspecs.hookimpl
    def rlcore_on_train_result(self, trainer, result):
        self.results.append((trainer, dict(result)))
        result["seen_by_plugin"] = True

    @hookspecs.hookimpl
    def rlcore_on_trial_start(self, trainer, logdir, params, stop):
        self.results.append(("start", trainer, logdir, params, stop))

    @hookspecs.hookimpl
    def rlcore_on_trial_end(self, trainer, logdir, result, error):
        self.results.append(("end", trainer, logdir, result, error))


@pytest.fixture
def reg():
    r = PluginRegistry(entry_points_=[])
    plugin = _Plugin()
    r.add_plugin(plugin, "hooktest")
    r.load()
    return r, plugin


def test_hook_rlcore_register_envs(reg):
    r, _ = reg
    spec = r.get("env", "HookEnv-v0")
    assert spec.plugin == "hooktest" and spec.summary == "s"


def test_hook_rlcore_register_models(reg):
    assert reg[0].get("model", "fc", "hooktest").target == "builtins:dict"


def test_hook_rlcore_register_policies(reg):
    r, _ = reg
    spec = r.get("policy", "HOOKALG", "hookpolicy")
    assert spec.capabilities == {"discrete", "gradients"} and r.plugins["hooktest"].provides["policies"] == [
        "HOOKALG/hookpolicy"
    ]


def test_hook_rlcore_register_evaluators(reg):
    assert reg[0].get("evaluator", "HOOKALG", "hooktest").capabilities == {"discrete"}


def test_hook_rlcore_register_optimizers(reg):
    assert reg[0].names("optimizer") == ["HookOptimizer"]


def test_hook_rlcore_register_algorithms(reg):
    assert reg[0].plugins["hooktest"].provides["algorithms"] == ["HOOKALG"]


def test_hook_rlcore_on_train_result(reg):
    r, plugin = reg
    result = {"training_iteration": 1}
    r.pm.hook.rlcore_on_train_result(trainer="T", result=result)
    assert plugin.results == [("T", {"training_iteration": 1})] and result["seen_by_plugin"] is True


def test_hook_rlcore_on_trial_start(reg, tmp_path):
    r, plugin = reg
    r.call_event("rlcore_on_trial_start", trainer="T", logdir=tmp_path, params={"lr": 1}, stop={"timesteps_total": 9})
    assert plugin.results == [("start", "T", tmp_path, {"lr": 1}, {"timesteps_total": 9})]
    assert (tmp_path / "params.json").is_file()  # the built-in loggers opened the trial's files too
    r.call_event("rlcore_on_trial_end", trainer="T", logdir=tmp_path, result={}, error=None)


def test_hook_rlcore_on_trial_end(reg, tmp_path):
    r, plugin = reg
    error = KeyboardInterrupt()
    r.call_event("rlcore_on_trial_end", trainer="T", logdir=tmp_path, result={"training_iteration": 2}, error=error)
    assert plugin.results == [("end", "T", tmp_path, {"training_iteration": 2}, error)]


def test_event_hooks_are_listed():
    assert set(hookspecs.EVENT_HOOKS) == {n for n in HOOKS if n.startswith("rlcore_on_")}


def test_register_callback_checks_its_arguments():
    r = PluginRegistry(entry_points_=[])

    class Bad:
        @hookspecs.hookimpl
        def rlcore_register_evaluators(self, register):
            register("X", "builtins:dict")  # framework missing

    info = r.add_plugin(Bad(), "bad")
    assert info.status == "broken" and "takes (name, framework, target" in info.error


def test_process_registry_is_a_singleton():
    assert get_registry() is get_registry()


def test_event_hook_failures_are_contained_named_and_skipped_after(monkeypatch):
    """call_event: plugins that raise (SystemExit too) are warned about and skipped from then on; the others
    get every call. With RLCORE_STRICT_PLUGINS the errors are raised as LoggerError after the others ran."""
    from rlcore.loggers import LoggerError
    from rlcore.plugins import PluginWarning

    monkeypatch.delenv("RLCORE_STRICT_PLUGINS", raising=False)
    r = PluginRegistry(entry_points_=[])
    calls: list[str] = []

    class Raises:
        def __init__(self, name, exc):
            self.name, self.exc = name, exc

        @hookspecs.hookimpl
        def rlcore_on_train_result(self, result):
            calls.append(self.name)
            if self.exc is not None:
                raise self.exc

    for name, exc in (("a_ok", None), ("b_raises", ValueError("bad")), ("c_exits", SystemExit(2))):
        r.add_plugin(Raises(name, exc), name)
    with pytest.warns(PluginWarning) as record:
        failures = r.call_event("rlcore_on_train_result", trainer="T", result={"training_iteration": 1})
    assert sorted(name for name, _ in failures) == ["b_raises", "c_exits"]
    assert sorted(calls) == ["a_ok", "b_raises", "c_exits"]
    assert sorted(str(w.message).split("'")[1] for w in record) == ["b_raises", "c_exits"]
    assert r.plugins["b_raises"].status == "broken" and r.plugins["a_ok"].status == "ok"
    calls.clear()
    assert r.call_event("rlcore_on_train_result", trainer="T", result={"training_iteration": 2}) == []
    assert calls == ["a_ok"], "the failed plugins' event hooks are skipped"

    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    strict = PluginRegistry(entry_points_=[])
    strict.add_plugin(Raises("x_exits", SystemExit(3)), "x_exits")
    strict.add_plugin(Raises("y_ok", None), "y_ok")
    with pytest.raises(LoggerError, match=r"plugin 'x_exits' raised SystemExit") as info:
        strict.call_event("rlcore_on_train_result", trainer="T", result={})
    assert isinstance(info.value.__cause__, SystemExit) and "y_ok" in calls
