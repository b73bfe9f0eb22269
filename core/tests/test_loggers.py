"""The loggers as the core's built-in plugins: listed, disabled by name, run by run_trial through the
trial hooks, a user's logger beside them, and a logger that raises losing no other logger's line."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest

import rlcore
from rlcore import hookimpl
from rlcore.loggers import BUILTIN_PLUGINS, LoggerError
from rlcore.plugins import DISABLED, OK, PluginRegistry, get_registry
from rlcore.progress import ProgressDisplay, progress_display

BUILTINS = ("json", "csv", "tensorboard", "progress")


class FakeTrainer:
    """Enough of a trainer for run_trial; train() fires rlcore_on_train_result as Trainer.train does."""

    name = "FAKE"
    instances: ClassVar[list[FakeTrainer]] = []

    def __init__(self, config: dict[str, Any], env: str) -> None:
        self.config = {"framework": "numpy", "lr": 0.1, **config}
        self.env_name = env
        self.iteration = 0
        self.logdir: Path | None = None
        self.stopped = False
        FakeTrainer.instances.append(self)

    def restore(self, path: Any) -> Path:
        raise AssertionError("not restored in these tests")

    def train(self) -> dict[str, Any]:
        self.iteration += 1
        result: dict[str, Any] = {
            "training_iteration": self.iteration,
            "timesteps_total": 10 * self.iteration,
            "timesteps_this_iter": 10,
            "time_this_iter_s": 0.01,
            "time_total_s": 0.01 * self.iteration,
            "episode_reward_mean": float(self.iteration),
            "episodes_total": self.iteration,
            "info": {"learner": {"loss": 1.0 / self.iteration}},
        }
        if self.iteration >= 2:
            result["info"]["learner"]["kl"] = 0.5  # a column that appears later
        get_registry().call_event("rlcore_on_train_result", trainer=self, result=result)
        return result

    def save(self) -> Path:
        raise AssertionError("no checkpoints in these tests")

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake(fresh_registry: Any) -> type[FakeTrainer]:
    fresh_registry()
    rlcore.register_algorithm("FAKE", FakeTrainer)
    FakeTrainer.instances.clear()
    return FakeTrainer


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """RLCORE_STRICT_PLUGINS=1: a raising event hook stops the run with LoggerError (by default it
    is warned about and skipped: core/tests/test_plugin_faults.py)."""
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")


def _run(tmp_path: Path, iterations: int = 3) -> Any:
    from rlcore.run import run_trial

    return run_trial("FAKE", "Nowhere-v0", {}, {"training_iteration": iterations}, local_dir=tmp_path)


def _lines(trial: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]


def _rows(trial: Path) -> list[dict[str, str]]:
    with (trial / "progress.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _open_trials(registry: PluginRegistry) -> list[str]:
    """Names of built-in loggers that still hold a file of some FakeTrainer."""
    return [
        name
        for name in ("json", "csv", "tensorboard")
        for trainer in FakeTrainer.instances
        if registry.pm.get_plugin(name).writer_of(trainer) is not None
    ]


# ----------------------------------------------------------------------------------- registration
def test_builtins_are_plugins_of_the_core(fresh_registry):
    registry = fresh_registry()
    for name in BUILTINS:
        info = registry.plugins[name]
        assert info.builtin and info.status == OK and info.distribution == "rlcore", info
        assert info.version == rlcore.__version__ and info.provides == {}
        assert registry.pm.get_plugin(name) is not None
    assert list(BUILTIN_PLUGINS) == list(BUILTINS)


def test_each_registry_has_its_own_builtin_instances():
    a, b = PluginRegistry(entry_points_=[]).load(), PluginRegistry(entry_points_=[]).load()
    assert a.pm.get_plugin("json") is not b.pm.get_plugin("json")
    assert sorted(a.plugins) == sorted(BUILTINS) and all(i.builtin for i in a.plugin_infos())


def test_list_plugins_marks_builtins(fresh_registry, capsys):
    from rlcore.cli import main

    fresh_registry()
    assert main(["list-plugins"]) == 0
    table = capsys.readouterr().out.splitlines()
    line = next(row for row in table if row.startswith("tensorboard "))
    assert re.search(rf"^tensorboard\s+{re.escape(rlcore.__version__)}\s+ok\s+built-in logger: TensorBoard", line)
    assert main(["list-plugins", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in BUILTINS:
        assert rows[name]["distribution"] == "rlcore" and rows[name]["status"] == "ok"
        assert rows[name]["module"].startswith("rlcore.")


def test_disable_a_builtin_by_name(fake, fresh_registry, monkeypatch, tmp_path):
    monkeypatch.setenv("RLCORE_DISABLE_PLUGINS", "tensorboard")
    registry = fresh_registry()
    rlcore.register_algorithm("FAKE", FakeTrainer)
    info = registry.plugins["tensorboard"]
    assert info.status == DISABLED and "RLCORE_DISABLE_PLUGINS" in (info.error or "")
    assert registry.pm.get_plugin("tensorboard") is None
    outcome = _run(tmp_path, 2)
    assert not list(outcome.logdir.glob("events.out.tfevents.*"))
    assert [r["training_iteration"] for r in _lines(outcome.logdir)] == [1, 2]
    assert (outcome.logdir / "progress.csv").is_file() and (outcome.logdir / "params.json").is_file()


def test_an_entry_point_cannot_take_a_builtin_name(make_plugin, fresh_registry):
    make_plugin("json", "from rlcore import hookimpl\n\n@hookimpl\ndef rlcore_on_train_result(result):\n    pass\n")
    registry = fresh_registry()
    assert registry.plugins["json"].builtin and registry.plugins["json"].status == OK
    (clash,) = [i for i in registry.plugin_infos() if i.name == "json" and not i.builtin]
    assert clash.status == "broken" and "built-in" in (clash.error or "") and clash.distribution == "fake-json"


def test_loading_the_builtins_imports_no_numpy_rich_or_tensorboardx():
    code = textwrap.dedent(
        """
        import sys
        from rlcore.plugins import PluginRegistry
        registry = PluginRegistry(entry_points_=[]).load()
        assert sorted(registry.plugins) == ["csv", "json", "progress", "tensorboard"], registry.plugins
        print(sorted(m for m in ("numpy", "rich", "tensorboardX") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------ run_trial's hooks
def test_run_trial_writes_the_folder_through_the_builtins(fake, tmp_path):
    outcome = _run(tmp_path)
    trial = outcome.logdir
    assert [r["training_iteration"] for r in _lines(trial)] == [1, 2, 3]
    rows = _rows(trial)
    assert [r["info/learner/kl"] for r in rows] == ["", "0.5", "0.5"]  # the header widened
    params = json.loads((trial / "params.json").read_text())
    assert params == {"framework": "numpy", "lr": 0.1, "env": "Nowhere-v0", "run": "FAKE"}
    from rlcore.loggers.tensorboard_logger import read_scalars

    (events,) = trial.glob("events.out.tfevents.*")
    assert [s for s, tag, _ in read_scalars(events) if tag == "episode_reward_mean"] == [10, 20, 30]
    assert _open_trials(get_registry()) == [] and fake.instances[0].stopped


def test_hooks_see_the_trial_from_start_to_end(fake, tmp_path):
    seen: list[tuple[str, Any]] = []

    class Recorder:
        @hookimpl
        def rlcore_on_trial_start(self, trainer, logdir, params, stop):
            assert Path(logdir).is_dir()
            seen.append(("start", (trainer, logdir, params["run"], stop)))

        @hookimpl
        def rlcore_on_train_result(self, trainer, result):
            result["added_by_callback"] = result["training_iteration"] * 2  # before the writers write it
            seen.append(("result", result["training_iteration"]))

        @hookimpl
        def rlcore_on_trial_end(self, trainer, logdir, result, error):
            seen.append(("end", (trainer, result["training_iteration"], error)))

    get_registry().add_plugin(Recorder(), "recorder")
    outcome = _run(tmp_path, 2)
    trainer = fake.instances[0]
    stop = {"training_iteration": 2.0}
    assert seen == [
        ("start", (trainer, outcome.logdir, "FAKE", stop)),
        ("result", 1),
        ("result", 2),
        ("end", (trainer, 2, None)),
    ]
    assert [r["added_by_callback"] for r in _lines(outcome.logdir)] == [2, 4]
    assert [r["added_by_callback"] for r in _rows(outcome.logdir)] == ["2", "4"]


def test_interrupted_trial_ends_with_the_interrupt(fake, tmp_path, monkeypatch):
    errors: list[Any] = []

    class Recorder:
        @hookimpl
        def rlcore_on_trial_end(self, error):
            errors.append(error)

    get_registry().add_plugin(Recorder(), "recorder")
    original = FakeTrainer.train

    def train(self: FakeTrainer) -> dict[str, Any]:
        if self.iteration == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(FakeTrainer, "train", train)
    outcome = _run(tmp_path, 5)
    assert outcome.interrupted and outcome.result["training_iteration"] == 2
    assert len(errors) == 1 and isinstance(errors[0], KeyboardInterrupt)
    assert [r["training_iteration"] for r in _lines(outcome.logdir)] == [1, 2]
    assert _open_trials(get_registry()) == []


# ------------------------------------------------------------------------------ a logger that raises
class Boom:
    """A broken logger: raises on the iterations it is told to."""

    def __init__(self, on: set[int], message: str = "disk full") -> None:
        self.on, self.message = on, message

    @hookimpl
    def rlcore_on_train_result(self, result):
        if result["training_iteration"] in self.on:
            raise RuntimeError(self.message)


def test_a_raising_logger_loses_no_line_of_the_others(fake, strict, tmp_path):
    """Strict mode: a logger plugin raises; result.json and progress.csv still hold every line,
    then one clear error names the plugin, and the trial's files are closed."""
    get_registry().add_plugin(Boom({2}), "boom")
    with pytest.raises(LoggerError) as info:
        _run(tmp_path, 5)
    error = info.value
    assert "rlcore_on_train_result: plugin 'boom' raised RuntimeError: disk full" in str(error)
    assert "RLCORE_DISABLE_PLUGINS=boom" in str(error)
    assert error.hook == "rlcore_on_train_result" and [name for name, _ in error.failures] == ["boom"]
    assert isinstance(error.__cause__, RuntimeError) and isinstance(error, rlcore.PluginError)
    (trial,) = (tmp_path / "FAKE_Nowhere-v0").iterdir()
    assert [r["training_iteration"] for r in _lines(trial)] == [1, 2]  # iteration 2 was written too
    assert [r["training_iteration"] for r in _rows(trial)] == ["1", "2"]
    assert _open_trials(get_registry()) == [] and fake.instances[0].stopped


def test_every_raising_logger_is_named_and_all_others_still_run(fresh_registry, tmp_path, monkeypatch):
    registry = fresh_registry()
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    registry.add_plugin(Boom({1, 2, 3}, "first"), "boom_a")
    registry.add_plugin(Boom({2}, "second"), "boom_b")
    trainer = object()
    registry.call_event("rlcore_on_trial_start", trainer=trainer, logdir=tmp_path, params={}, stop={})
    errors = []
    for i in (1, 2, 3):
        with pytest.raises(LoggerError) as info:
            registry.call_event("rlcore_on_train_result", trainer=trainer, result={"training_iteration": i})
        errors.append(info.value)
    registry.call_event("rlcore_on_trial_end", trainer=trainer, logdir=tmp_path, result={}, error=None)
    assert [sorted(name for name, _ in e.failures) for e in errors] == [["boom_a"], ["boom_a", "boom_b"], ["boom_a"]]
    message = str(errors[1])
    assert (
        "plugin 'boom_b' raised RuntimeError: second" in message
        and "plugin 'boom_a' raised RuntimeError: first" in message
    )
    assert "RLCORE_DISABLE_PLUGINS=boom_a,boom_b" in message
    assert [r["training_iteration"] for r in _lines(tmp_path)] == [1, 2, 3]
    assert [r["training_iteration"] for r in _rows(tmp_path)] == ["1", "2", "3"]
    returned = registry.call_event(
        "rlcore_on_train_result", raise_errors=False, trainer=trainer, result={"training_iteration": 1}
    )
    assert [name for name, _ in returned] == ["boom_a"]


def test_a_logger_failing_to_open_ends_the_trial_and_the_others_close(fake, strict, tmp_path):
    class NoOpen:
        @hookimpl
        def rlcore_on_trial_start(self, logdir):
            raise PermissionError(f"cannot write {logdir}")

    get_registry().add_plugin(NoOpen(), "noopen")
    with pytest.raises(LoggerError, match=r"rlcore_on_trial_start: plugin 'noopen' raised PermissionError"):
        _run(tmp_path)
    assert _open_trials(get_registry()) == [] and fake.instances[0].iteration == 0


def test_an_end_error_is_noted_on_the_error_in_flight(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")

    class BadEnd:
        @hookimpl
        def rlcore_on_trial_end(self):
            raise OSError("flush failed")

    get_registry().add_plugin(BadEnd(), "badend")

    def train(self: FakeTrainer) -> dict[str, Any]:
        raise ValueError("the env broke")

    monkeypatch.setattr(FakeTrainer, "train", train)
    with pytest.raises(ValueError, match="the env broke") as info:
        _run(tmp_path)
    assert any("plugin 'badend' raised OSError: flush failed" in note for note in info.value.__notes__)
    monkeypatch.undo()
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")
    rlcore.register_algorithm("FAKE", FakeTrainer)
    with pytest.raises(LoggerError, match="rlcore_on_trial_end: plugin 'badend' raised OSError"):
        _run(tmp_path, 1)  # the trial itself went well: the end error is raised


def test_wrapper_implementations_of_event_hooks_are_refused(fresh_registry, tmp_path, monkeypatch):
    registry = fresh_registry()
    monkeypatch.setenv("RLCORE_STRICT_PLUGINS", "1")

    class Wrapper:
        @hookimpl(wrapper=True)
        def rlcore_on_train_result(self, result):
            return (yield)

    registry.add_plugin(Wrapper(), "wrapper")
    with pytest.raises(LoggerError, match="plugin 'wrapper' raised PluginError: wrapper implementations"):
        registry.call_event("rlcore_on_train_result", trainer=object(), result={"training_iteration": 1})


# ------------------------------------------------------------------------------------ the display
class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_display_is_silent_until_configured(fake, tmp_path, capsys):
    _run(tmp_path, 2)
    assert capsys.readouterr().out == ""
    display = progress_display()
    assert isinstance(display, ProgressDisplay) and display.mode == "quiet"
    stream = io.StringIO()
    with display.configured("json", stream):
        _run(tmp_path, 2)
    assert [json.loads(line)["training_iteration"] for line in stream.getvalue().splitlines()] == [1, 2]
    assert display.mode == "quiet" and display.stream is None  # restored after the block
    with pytest.raises(ValueError, match="display mode must be one of"):
        display.configure("loud")


def test_progress_display_draws_a_bar_on_a_terminal(fake, tmp_path):
    stream = Tty()
    with progress_display().configured("auto", stream):
        outcome = _run(tmp_path, 3)
    text = stream.getvalue()
    assert text.startswith(
        f"training FAKE (numpy) on Nowhere-v0; stop: {{'training_iteration': 3.0}}; results: {outcome.logdir}"
    )
    assert "iter 3  30 steps  reward 3.0  1000 steps/s" in text  # the live bar, at its last refresh
    assert "iter    1  timesteps        10  reward     1.00" in text  # the log line above it


def test_cli_json_with_the_display_disabled_warns(fake, fresh_registry, monkeypatch, tmp_path, capsys):
    from rlcore.cli import main

    monkeypatch.setenv("RLCORE_DISABLE_PLUGINS", "progress")
    fresh_registry()
    rlcore.register_algorithm("FAKE", FakeTrainer)
    args = ["train", "--run", "FAKE", "--env", "Nowhere-v0", "--stop", '{"training_iteration": 2}']
    assert main([*args, "--local-dir", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "'progress'" in captured.err
    assert main([*args, "--local-dir", str(tmp_path)]) == 0  # no display: the summary alone
    assert capsys.readouterr().out.startswith("done: 2 iterations")


def test_a_raising_logger_still_gets_the_run_its_end_checkpoint(fake, strict, tmp_path):
    """In strict mode a logger that raises stops the run with its error, after the end-of-run checkpoint."""
    from rlcore.run import run_trial

    saved: list[int] = []

    class Saving(FakeTrainer):
        def save(self) -> Path:
            saved.append(self.iteration)
            return tmp_path / f"checkpoint_{self.iteration:06d}"

    rlcore.register_algorithm("FAKE", Saving, override=True)
    get_registry().add_plugin(Boom({2}), "boom")
    with pytest.raises(LoggerError, match="boom"):
        run_trial("FAKE", "Nowhere-v0", {}, {"training_iteration": 5}, local_dir=tmp_path, checkpoint_at_end=True)
    assert saved == [2]
