"""Save, restore and continue, per algorithm and framework; cross-framework restore; the CLI
commands around checkpoints (rollout, plot, check-evaluator) on real plugins."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlcore.errors import CheckpointError
from rlcore.registration import get_algorithm_class

pytest.importorskip("rl_algos")

CONFIGS = {
    "PPO": {"train_batch_size": 256, "sgd_minibatch_size": 128, "num_sgd_iter": 2, "rollout_fragment_length": 64},
    "DQN": {"timesteps_per_iteration": 200, "learning_starts": 100, "buffer_size": 2000, "train_batch_size": 16},
}
FRAMEWORKS = ["torch", "tf"]


def _frameworks_installed() -> list[str]:
    import importlib.util

    return [f for f in FRAMEWORKS if importlib.util.find_spec({"torch": "rl_torch", "tf": "rl_tf"}[f])]


def _trainer(algo: str, framework: str, **extra):
    config = {**CONFIGS[algo], "framework": framework, "seed": 0, "model": {"fcnet_hiddens": [32, 32]}, **extra}
    return get_algorithm_class(algo)(config=config, env="CartPole-v1")


def _assert_same_state(a: dict, b: dict, path: str = "") -> None:
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), path
        for k in a:
            _assert_same_state(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, np.ndarray | np.generic):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=0, err_msg=path)
    else:
        assert a == b, path


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_save_restore_continue(algo, framework, tmp_path):
    if framework not in _frameworks_installed():
        pytest.fail(f"the {framework} plugin is not installed in this session")
    trainer = _trainer(algo, framework)
    for _ in range(2):
        trainer.train()
    path = trainer.save(tmp_path)
    restored = _trainer(algo, framework, seed=123)
    restored.restore(path)
    _assert_same_state(trainer.get_state(), restored.get_state())
    r1, r2 = trainer.train(), restored.train()
    for r in (r1, r2):
        assert r["training_iteration"] == 3
    assert r2["timesteps_total"] == r1["timesteps_total"]
    assert r2["episodes_total"] >= trainer.get_state()["counters"]["episodes_total"] - r1["episodes_this_iter"]
    trainer.stop()
    restored.stop()


@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_restore_into_the_other_framework(algo, tmp_path):
    """Catalog weights and Adam moments have framework-neutral names: a torch checkpoint
    continues on TF (and back) with the same policy outputs."""
    if len(_frameworks_installed()) < 2:
        pytest.fail("cross-framework restore needs rl_torch and rl_tf installed")
    torch_trainer = _trainer(algo, "torch")
    torch_trainer.train()
    path = torch_trainer.save(tmp_path / "torch")
    tf_trainer = _trainer(algo, "tf")
    tf_trainer.restore(path)
    assert tf_trainer.iteration == 1 and tf_trainer.timesteps_total == torch_trainer.timesteps_total
    obs = np.random.default_rng(0).uniform(-0.2, 0.2, size=(16, 4)).astype(np.float32)
    a = torch_trainer.local_evaluator.compute_actions(obs)
    b = tf_trainer.local_evaluator.compute_actions(obs)
    np.testing.assert_array_equal(a, b)
    tf_state, torch_state = tf_trainer.get_state(), torch_trainer.get_state()
    for name, w in torch_state["evaluator"]["weights"].items():
        np.testing.assert_allclose(tf_state["evaluator"]["weights"][name], w, atol=1e-7)
    np.testing.assert_allclose(
        tf_state["evaluator"]["optimizer"]["m"][next(iter(torch_state["evaluator"]["optimizer"]["m"]))],
        torch_state["evaluator"]["optimizer"]["m"][next(iter(torch_state["evaluator"]["optimizer"]["m"]))],
        atol=1e-7,
    )
    assert tf_trainer.train()["training_iteration"] == 2
    back = _trainer(algo, "torch")
    back.restore(tf_trainer.save(tmp_path / "tf"))
    assert back.iteration == 2
    for t in (torch_trainer, tf_trainer, back):
        t.stop()


def test_a_checkpoint_of_another_model_is_refused_and_changes_nothing(tmp_path):
    framework = _frameworks_installed()[0]
    small = _trainer("PPO", framework)
    small.train()
    path = small.save(tmp_path)
    big = _trainer("PPO", framework, model={"fcnet_hiddens": [64, 64]})
    before = big.get_state()
    with pytest.raises(CheckpointError, match="does not fit this PPO trainer"):
        big.restore(path)
    _assert_same_state(before, big.get_state())
    for t in (small, big):
        t.stop()


def test_cli_train_restore_rollout_plot(tmp_path, capsys):
    from rlcore.cli import main

    framework = _frameworks_installed()[0]
    config = json.dumps({**CONFIGS["PPO"], "seed": 0})
    base = ["train", "--env", "CartPole-v1", "--run", "PPO", "--framework", framework, "--config", config]
    args = [*base, "--checkpoint-freq", "1", "--stop", '{"training_iteration": 3}', "--local-dir", str(tmp_path)]
    assert main(args) == 0
    (trial,) = (tmp_path / "PPO_CartPole-v1").iterdir()
    first = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
    last = trial / "checkpoint_000003"
    assert last.is_dir()
    capsys.readouterr()
    assert main(["train", "--restore", str(last), "--stop", '{"training_iteration": 4}', "--json",
                 "--local-dir", str(tmp_path)]) == 0  # fmt: skip
    (line,) = capsys.readouterr().out.splitlines()
    cont = json.loads(line)
    assert cont["training_iteration"] == 4
    assert cont["timesteps_total"] == first[-1]["timesteps_total"] + first[-1]["timesteps_this_iter"]

    assert main(["rollout", str(trial), "--episodes", "2", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("episode ") == 2 and "mean return" in out

    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    assert main(["plot", str(tmp_path), "-o", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cli_check_evaluator(capsys):
    from rlcore.cli import main

    framework = _frameworks_installed()[0]
    assert main(["check-evaluator", "PPO", "--framework", framework]) == 0
    out = capsys.readouterr().out
    assert "ok    sample_schema" in out and "ok    weight_round_trip" in out and "all checks passed" in out
    assert main(["check-evaluator", "PPQ"]) == 2
    assert "PPO" in capsys.readouterr().err


def test_rollout_render_without_pygame_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import sys

    from rlcore.cli import main

    trainer = _trainer("PPO", _frameworks_installed()[0])
    trainer.train()
    path = trainer.save(tmp_path)
    trainer.stop()
    monkeypatch.setitem(sys.modules, "pygame", None)  # as on a machine without pygame
    assert main(["rollout", str(path), "--episodes", "1", "--render"]) == 2
    err = capsys.readouterr().err
    assert "CartPole-v1" in err and "pygame" in err and "pip install" in err  # one line saying what to install


@pytest.mark.reliability
def test_sigkill_during_training_leaves_restorable_checkpoints(tmp_path):
    """Kill `rlcore train --checkpoint-freq 1` while it checkpoints every iteration: every
    checkpoint folder left behind loads whole, and --restore continues from the latest."""
    import signal
    import subprocess
    import sys
    import time

    from rlcore.checkpoint import read_checkpoint
    from rlcore.cli import main

    framework = _frameworks_installed()[0]
    config = json.dumps({**CONFIGS["PPO"], "seed": 0, "model": {"fcnet_hiddens": [256, 256]}})
    cmd = [sys.executable, "-m", "rlcore.cli", "train", "--env", "CartPole-v1", "--run", "PPO", "--quiet"]
    cmd += ["--framework", framework, "--config", config, "--checkpoint-freq", "1", "--local-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(tmp_path.glob("*/*/checkpoint_*"))) < 3:
        time.sleep(0.05)
    time.sleep(0.13)  # somewhere inside a later iteration or save
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    folders = sorted(tmp_path.glob("*/*/checkpoint_*"))
    assert len(folders) >= 3
    for folder in folders:
        ckpt = read_checkpoint(folder)
        assert ckpt.meta["iteration"] == int(folder.name.split("_")[1])
        assert ckpt.state["counters"]["iteration"] == ckpt.meta["iteration"]
    (trial,) = {f.parent for f in folders}
    latest = max(int(f.name.split("_")[1]) for f in folders)
    stop = json.dumps({"training_iteration": latest + 1})
    assert main(["train", "--restore", str(trial), "--stop", stop, "--local-dir", str(tmp_path), "--quiet"]) == 0


@pytest.mark.ray
@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_restore_reaches_the_remote_workers(algo, ray_session, tmp_path):
    """With Ray workers, a restore puts the checkpoint's weights and filter into every worker."""
    framework = _frameworks_installed()[0]
    extra = {"num_workers": 1, "observation_filter": "MeanStdFilter"}
    trainer = _trainer(algo, framework, **extra)
    trainer.train()
    path = trainer.save(tmp_path)
    trainer.stop()
    restored = _trainer(algo, framework, seed=7, **extra)
    restored.restore(path)
    local = restored.local_evaluator.get_state()
    (remote,) = restored.workers.foreach_worker("get_state", local=False)
    for name, w in local["weights"].items():
        np.testing.assert_array_equal(remote["weights"][name], w)
    np.testing.assert_array_equal(remote["filter"]["mean"], local["filter"]["mean"])
    assert restored.train()["training_iteration"] == 2
    restored.stop()


@pytest.mark.reliability
def test_non_finite_weights_are_neither_saved_nor_rolled_out(tmp_path, capsys):
    """A policy whose weights went NaN is not checkpointed (the last good checkpoint stays), and a
    checkpoint forged to hold NaN weights (checksums recomputed) is refused by restore and rollout
    with one line naming the array, instead of acting wrongly."""
    import hashlib
    import io

    from rlcore.checkpoint import ARRAYS_FILE, META_FILE, _digest, read_checkpoint
    from rlcore.cli import main

    trainer = _trainer("PPO", _frameworks_installed()[0])
    trainer.train()
    path = trainer.save(tmp_path)
    state = trainer.get_state()
    name = sorted(state["evaluator"]["weights"])[0]
    state["evaluator"]["weights"][name] = np.full_like(state["evaluator"]["weights"][name], np.nan)
    trainer.set_state(state)
    with pytest.raises(CheckpointError, match=rf"cannot checkpoint state\.evaluator\.weights\.{name}: it holds"):
        trainer.save(tmp_path)  # the same iteration: it would have replaced the good one
    trainer.stop()
    assert np.isfinite(read_checkpoint(path).state["evaluator"]["weights"][name]).all()

    meta = json.loads((path / META_FILE).read_text())
    key = meta["state"]["evaluator"]["weights"][name]["__ndarray__"]
    with np.load(path / ARRAYS_FILE, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[key] = np.full_like(arrays[key], np.nan)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    blob = buf.getvalue()
    (path / ARRAYS_FILE).write_bytes(blob)
    meta["arrays"].update(size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1 and f"state.evaluator.weights.{name}" in errors[0] and "NaN/inf" in errors[0], errors
    restored = _trainer("PPO", _frameworks_installed()[0])
    with pytest.raises(CheckpointError, match="NaN/inf"):
        restored.restore(path)
    restored.stop()


@pytest.fixture
def pg_checkpoint(tmp_path_factory, example_registry):
    """A real one-iteration PG (numpy) checkpoint on CartPole-v1 (PG is the example plugin's: installed
    by the ``example`` fixture when this session has not, and in the registry for the test's length)."""
    trainer = get_algorithm_class("PG")(config={"framework": "numpy", "seed": 0}, env="CartPole-v1")
    trainer.train()
    path = trainer.save(tmp_path_factory.mktemp("pg"))
    trainer.stop()
    return path


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda m: (m.update(env="NoSuchEnv-v0"), m["config"].update(env="NoSuchEnv-v0")),
            "unknown env 'NoSuchEnv-v0'",
        ),
        (
            lambda m: (m.update(framework="jax"), m["config"].update(framework="jax")),
            "no installed or first-party plugin has a PG policy for framework 'jax'; "
            "frameworks with a PG policy: numpy",
        ),
        (lambda m: m["config"].update(lr="fast"), "PG config key 'lr' is not a number: got 'fast'"),
        (lambda m: m["config"].update(env_config={"nope": 1}), "env_config key 'nope' is not a keyword argument"),
    ],
    ids=["env", "framework", "config-value", "env_config"],
)
def test_rollout_of_a_checkpoint_naming_what_this_install_refuses_blames_the_checkpoint(
    tmp_path, capsys, pg_checkpoint, edit, words
):
    """What a checkpoint names (env, framework, config) was not typed by the user: the one error line
    says it comes from that checkpoint (metadata forged with its digest recomputed)."""
    import shutil

    from rlcore.checkpoint import META_FILE, _digest
    from rlcore.cli import main

    path = tmp_path / "forged"
    shutil.copytree(pg_checkpoint, path)
    meta = json.loads((path / META_FILE).read_text())
    edit(meta)
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["rollout", str(path), "--episodes", "1"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"rlcore: error: {path}: the PG trainer it was written by") and words in errors[0]


@pytest.mark.reliability
def test_hard_linked_checkpoint_files_and_a_file_path_are_read(tmp_path, capsys, pg_checkpoint):
    """A hard link is a regular file holding what was written: a copy made of hard links rolls out,
    and so does the path of a checkpoint's file (its folder is taken)."""
    import os

    from rlcore.cli import main

    linked = tmp_path / "linked"
    linked.mkdir()
    for member in pg_checkpoint.iterdir():
        os.link(member, linked / member.name)
    capsys.readouterr()
    assert main(["rollout", str(linked), "--episodes", "1", "--seed", "0"]) == 0
    assert main(["rollout", str(pg_checkpoint / "checkpoint.json"), "--episodes", "1", "--seed", "0"]) == 0
    assert "mean return" in capsys.readouterr().out
