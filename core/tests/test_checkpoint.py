"""The checkpoint format: pickle-free, atomic, and refusing damaged or edited checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rlcore.checkpoint import (
    ARRAYS_FILE,
    META_FILE,
    find_checkpoint,
    read_checkpoint,
    read_checkpoint_meta,
    write_checkpoint,
)
from rlcore.errors import CheckpointError

META = {
    "algorithm": "TOY",
    "framework": "numpy",
    "env": "Corridor-v0",
    "config": {"lr": 0.1},
    "iteration": 3,
    "timesteps_total": 300,
    "versions": {"rlcore": "0.1.0"},
}


def _state() -> dict:
    return {
        "weights": {"fc_0/kernel": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.zeros(4, np.float64)},
        "optimizer": {"step": np.array(7, np.int64), "m": [np.ones(2, np.float32), np.full(3, 2, np.int16)]},
        "counters": {"iteration": 3, "time": 1.5, "nan": float("nan")},
        "names": ["a", "b"],
        "none": None,
        "flag": True,
        "scalar": np.float32(0.25),
    }


def test_round_trip_keeps_values_dtypes_and_nesting(tmp_path):
    path = write_checkpoint(tmp_path / "checkpoint_000003", _state(), META)
    ckpt = read_checkpoint(path)
    s = ckpt.state
    np.testing.assert_array_equal(s["weights"]["fc_0/kernel"], _state()["weights"]["fc_0/kernel"])
    assert s["weights"]["fc_0/kernel"].dtype == np.float32 and s["weights"]["b"].dtype == np.float64
    assert s["optimizer"]["m"][1].dtype == np.int16 and int(s["optimizer"]["step"]) == 7
    assert s["counters"]["iteration"] == 3 and np.isnan(s["counters"]["nan"])
    assert s["names"] == ["a", "b"] and s["none"] is None and s["flag"] is True and s["scalar"] == 0.25
    assert ckpt.algorithm == "TOY" and ckpt.framework == "numpy" and ckpt.meta["timesteps_total"] == 300
    assert sorted(p.name for p in path.iterdir()) == [ARRAYS_FILE, META_FILE]


def test_no_pickle_anywhere(tmp_path):
    path = write_checkpoint(tmp_path / "c", _state(), META)
    with zipfile.ZipFile(path / ARRAYS_FILE) as zf:
        for name in zf.namelist():
            header = zf.read(name)[:128]
            assert header.startswith(b"\x93NUMPY") and b"'O'" not in header and b"|O" not in header
    json.loads((path / META_FILE).read_text())  # the rest is plain JSON
    with pytest.raises(CheckpointError, match="object array"):
        write_checkpoint(tmp_path / "d", {"x": np.array([object()], dtype=object)}, META)
    with pytest.raises(CheckpointError, match="no pickle"):
        write_checkpoint(tmp_path / "e", {"x": {1, 2}}, META)
    assert not (tmp_path / "d").exists() and not (tmp_path / "e").exists()


def test_a_planted_pickle_array_is_refused_not_run(tmp_path):
    """An attacker's .npz holding an object (pickled) array: loading runs no code."""
    path = write_checkpoint(tmp_path / "c", {"w": np.zeros(2)}, META)
    marker = tmp_path / "pwned"
    evil = np.array([Evil(str(marker))], dtype=object)
    np.savez(path / ARRAYS_FILE, a0=evil)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)
    assert not marker.exists()


class Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_truncated_arrays_are_refused(tmp_path):
    path = write_checkpoint(tmp_path / "c", _state(), META)
    data = (path / ARRAYS_FILE).read_bytes()
    (path / ARRAYS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"is \d+ bytes but checkpoint.json says \d+: it is truncated"):
        read_checkpoint(path)


def test_edited_json_is_refused(tmp_path):
    path = write_checkpoint(tmp_path / "c", _state(), META)
    meta = json.loads((path / META_FILE).read_text())
    meta["timesteps_total"] = 999_999
    (path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="modified after it was written"):
        read_checkpoint(path)


def test_broken_json_names_line_and_column(tmp_path):
    path = write_checkpoint(tmp_path / "c", _state(), META)
    text = (path / META_FILE).read_text()
    (path / META_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"not valid JSON .* at line \d+, column \d+"):
        read_checkpoint(path)
    (path / META_FILE).write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="not an rlcore checkpoint"):
        read_checkpoint(path)


def test_missing_field_and_wrong_type(tmp_path):
    from rlcore.checkpoint import _digest

    path = write_checkpoint(tmp_path / "c", _state(), META)
    meta = json.loads((path / META_FILE).read_text())
    del meta["algorithm"]
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="lacks the field 'algorithm'"):
        read_checkpoint(path)
    meta["algorithm"] = 3
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="'algorithm' has the wrong type"):
        read_checkpoint(path)


def test_paths_that_are_not_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        read_checkpoint(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        read_checkpoint(tmp_path / "file.txt")


def test_find_takes_the_latest_and_accepts_the_json_file(tmp_path):
    for i in (2, 10, 9):
        write_checkpoint(tmp_path / "trial" / f"checkpoint_{i:06d}", {"i": np.array(i)}, {**META, "iteration": i})
    (tmp_path / "trial" / ".checkpoint_000099.tmp-1-x").mkdir()  # a dead save's leftovers are not candidates
    assert find_checkpoint(tmp_path / "trial").name == "checkpoint_000010"
    assert find_checkpoint(tmp_path).name == "checkpoint_000010"
    assert read_checkpoint_meta(tmp_path / "trial" / "checkpoint_000002" / META_FILE)["iteration"] == 2


def test_overwrite_replaces_and_stale_temporaries_are_removed(tmp_path):
    write_checkpoint(tmp_path / "c", {"v": np.array(1)}, META)
    stale = tmp_path / ".c.tmp-999999999-abc"
    stale.mkdir()
    write_checkpoint(tmp_path / "c", {"v": np.array(2)}, META)
    assert int(read_checkpoint(tmp_path / "c").state["v"]) == 2
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rlcore.checkpoint import write_checkpoint
    root = sys.argv[1]
    meta = {"algorithm": "TOY", "framework": "numpy", "env": "E", "config": {}, "timesteps_total": 0,
            "versions": {}}
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        big = np.full((400_000,), i, dtype=np.float64)  # 3.2 MB: the kill often lands mid-write
        write_checkpoint(f"{root}/checkpoint_{i % 3:06d}", {"big": big, "i": i}, {**meta, "iteration": i})
    """
)


@pytest.mark.reliability
def test_sigkill_mid_save_never_leaves_a_valid_but_wrong_checkpoint(tmp_path):
    """Kill a process that saves in a loop (overwriting too) at many moments: whatever checkpoint
    folder exists afterwards loads completely and holds the state its metadata says."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    root = tmp_path / "ckpts"
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for folder in sorted(root.glob("checkpoint_*")):
            ckpt = read_checkpoint(folder)  # never raises: a visible checkpoint is a whole checkpoint
            i = ckpt.state["i"]
            assert ckpt.meta["iteration"] == i and folder.name == f"checkpoint_{i % 3:06d}"
            assert np.all(ckpt.state["big"] == i)
            checked += 1
    assert checked > 0


def test_a_failed_overwrite_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    """The two-rename fallback (systems without renameat2's exchange): a failing second rename."""
    import rlcore.checkpoint

    monkeypatch.setattr(rlcore.checkpoint, "_replace_in_one_step", None)
    write_checkpoint(tmp_path / "c", {"v": np.array(1)}, META)
    real_replace = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder's rename into place
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(CheckpointError, match=r"cannot write the checkpoint .*No space left"):
        write_checkpoint(tmp_path / "c", {"v": np.array(2)}, META)
    monkeypatch.undo()
    assert int(read_checkpoint(tmp_path / "c").state["v"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    write_checkpoint(tmp_path / "c", {"v": np.array(3)}, META)  # and the next save works
    assert int(read_checkpoint(tmp_path / "c").state["v"]) == 3


def test_a_save_killed_between_the_renames_gets_its_old_checkpoint_back(tmp_path):
    write_checkpoint(tmp_path / "c", {"v": np.array(1)}, META)
    os.replace(tmp_path / "c", tmp_path / ".c.old-999999999-xyz")  # what a kill at that moment leaves
    write_checkpoint(tmp_path / "d", {"v": np.array(2)}, META)  # any later save in that folder repairs it
    assert int(read_checkpoint(tmp_path / "c").state["v"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "d"]


def test_checkpoints_are_readable_by_others_as_the_umask_says(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_checkpoint(tmp_path / "c", {"v": np.array(1)}, META)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o755


def test_a_folder_of_several_runs_is_ambiguous(tmp_path):
    for trial in ("run_a", "run_b"):
        write_checkpoint(tmp_path / trial / "checkpoint_000001", {"v": np.array(1)}, META)
    with pytest.raises(CheckpointError, match=r"(?s)holds the checkpoints of 2 runs.*run_a.*run_b"):
        find_checkpoint(tmp_path)
    assert find_checkpoint(tmp_path / "run_b") == (tmp_path / "run_b" / "checkpoint_000001").absolute()
    # Tune nests ours inside its own checkpoint_* folders: still one run
    write_checkpoint(tmp_path / "tune" / "checkpoint_000000" / "checkpoint_000004", {"v": np.array(1)}, META)
    write_checkpoint(tmp_path / "tune" / "checkpoint_000001" / "checkpoint_000008", {"v": np.array(1)}, META)
    assert find_checkpoint(tmp_path / "tune").name == "checkpoint_000008"


def test_an_unwritable_place_is_a_checkpoint_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError):
        write_checkpoint(tmp_path / "file" / "c", {"v": np.array(1)}, META)


def test_every_numeric_layout_round_trips(tmp_path):
    """Fortran-ordered, big-endian, zero-size, 0-d, float16, complex and bool arrays come back
    equal, with their dtype (the reader checks each .npy header against the metadata)."""
    state = {
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        "big_endian": np.arange(5, dtype=">i4"),
        "empty": np.zeros((0, 3), np.float64),
        "scalar": np.array(2.5),
        "half": np.linspace(0, 1, 7).astype(np.float16),
        "complex": np.array([1 + 2j, -3j], np.complex64),
        "mask": np.array([[True, False], [False, True]]),
        "bytes": np.arange(256, dtype=np.uint8),
    }
    loaded = read_checkpoint(write_checkpoint(tmp_path / "c", state, META)).state
    for name, arr in state.items():
        assert loaded[name].dtype == arr.dtype and loaded[name].shape == arr.shape, name
        np.testing.assert_array_equal(loaded[name], arr, err_msg=name)
    loaded["fortran"][0, 0] = 9  # writable, like np.load's arrays


@pytest.mark.parametrize(
    "arr",
    [np.array(["a", "b"]), np.array([b"x"]), np.zeros(2, dtype=[("x", "f4")]), np.array(["2020-01-01"], "M8[D]")],
    ids=["str", "bytes", "structured", "datetime"],
)
def test_non_numeric_arrays_are_refused_at_write(tmp_path, arr):
    with pytest.raises(CheckpointError, match=r"cannot checkpoint the .* array at state.x: only bool, integer"):
        write_checkpoint(tmp_path / "c", {"x": arr}, META)
    assert not (tmp_path / "c").exists()


def test_metadata_over_the_cap_is_refused_at_write(tmp_path, monkeypatch):
    import rlcore.checkpoint as ck

    monkeypatch.setattr(ck, "MAX_META_BYTES", 4096)
    with pytest.raises(CheckpointError, match=r"checkpoint.json would be .* MiB, over the .* keep large data in numpy"):
        write_checkpoint(tmp_path / "c", {"x": [0.5] * 2000}, META)
    assert not (tmp_path / "c").exists()
    write_checkpoint(tmp_path / "c", {"x": np.full(2000, 0.5)}, META)  # as an array it fits
