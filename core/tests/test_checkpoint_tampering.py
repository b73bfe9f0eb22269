"""Fault injection on checkpoints: files that are not what rlcore wrote, and saves killed or raced.

The reader refuses anything that is not exactly what the writer wrote, with one line naming the
file (a CheckpointError), before reading more than the metadata allows; a checkpoint being
replaced is always found whole (the old or the new), even by a reader racing the writer or after
the writer is killed at any moment. The cases that could hang or eat memory if the reader
regressed (a symlink to /dev/zero, a FIFO, huge sparse files) are read in a child process with a
memory limit and a timeout.
"""

from __future__ import annotations

import hashlib
import io
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

import rlcore.checkpoint as ck
from rlcore.checkpoint import ARRAYS_FILE, META_FILE, _digest, read_checkpoint, write_checkpoint
from rlcore.errors import CheckpointError

pytestmark = pytest.mark.reliability

META = dict(algorithm="TOY", framework="numpy", env="Corridor-v0", config={"lr": 0.1}, iteration=3)
META.update(timesteps_total=300, versions={"rlcore": "0.1.0"})


def _state() -> dict:
    return {"weights": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3)}, "n": 2}


def _write(tmp_path: Path) -> Path:
    return write_checkpoint(tmp_path / "c", _state(), META)


def _meta(path: Path) -> dict:
    return json.loads((path / META_FILE).read_text())


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _forge(path: Path, *, npz: bytes | None = None, edit=None) -> None:
    """Tamper like someone who knows the format: the checksum and digest are recomputed."""
    meta = _meta(path)
    if npz is not None:
        (path / ARRAYS_FILE).write_bytes(npz)
        meta["arrays"] = {"file": ARRAYS_FILE, "size": len(npz), "sha256": hashlib.sha256(npz).hexdigest()}
    if edit is not None:
        edit(meta)
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta))


def _refused(path: Path, match: str) -> str:
    with pytest.raises(CheckpointError, match=match) as info:
        read_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg  # one line, naming the checkpoint
    return msg


CHILD_READER = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regressed reader dies, not the host
    from rlcore.checkpoint import read_checkpoint
    from rlcore.errors import CheckpointError
    try:
        read_checkpoint(sys.argv[1])
    except CheckpointError as exc:
        print("CheckpointError:", exc)
    else:
        print("LOADED")
    """
)


def _refused_in_child(path: Path, match: str) -> None:
    """Read in a child with 3 GiB of address space and 60 s: a hang or a huge read fails the test."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD_READER, str(path)], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip()
    assert out.startswith("CheckpointError:") and len(out.splitlines()) == 1, out
    assert match in out, out
    assert time.monotonic() - start < 30


# -- files that are not regular files -----------------------------------------------
def test_arrays_as_a_symlink_to_dev_zero_is_refused_unread(tmp_path):
    path = _write(tmp_path)
    (path / ARRAYS_FILE).unlink()
    os.symlink("/dev/zero", path / ARRAYS_FILE)
    _refused_in_child(path, "arrays.npz is a symbolic link (to /dev/zero), not a regular file")
    _refused(path, r"arrays.npz is a symbolic link \(to /dev/zero\)")


def test_a_symlink_to_a_valid_copy_is_refused_too(tmp_path):
    """Even a symlink to the very bytes rlcore wrote: a checkpoint holds regular files only."""
    path = _write(tmp_path)
    (path / ARRAYS_FILE).rename(tmp_path / "elsewhere.npz")
    os.symlink(tmp_path / "elsewhere.npz", path / ARRAYS_FILE)
    _refused(path, "arrays.npz is a symbolic link")
    (path / ARRAYS_FILE).unlink()
    (tmp_path / "elsewhere.npz").rename(path / ARRAYS_FILE)
    (path / META_FILE).rename(tmp_path / "elsewhere.json")
    os.symlink(tmp_path / "elsewhere.json", path / META_FILE)
    _refused(path, "checkpoint.json is a symbolic link")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = _write(tmp_path)
    (path / ARRAYS_FILE).unlink()
    os.mkfifo(path / ARRAYS_FILE)
    _refused_in_child(path, "is a FIFO (named pipe), not a regular file")
    meta_fifo = _write(tmp_path / "m")
    (meta_fifo / META_FILE).unlink()
    os.mkfifo(meta_fifo / META_FILE)
    _refused_in_child(meta_fifo, "checkpoint.json is a FIFO")


def test_a_folder_in_place_of_a_file_is_refused(tmp_path):
    path = _write(tmp_path)
    (path / ARRAYS_FILE).unlink()
    (path / ARRAYS_FILE).mkdir()
    _refused(path, "arrays.npz is a folder, not a regular file")


def test_missing_files_are_refused(tmp_path):
    path = _write(tmp_path)
    (path / ARRAYS_FILE).unlink()
    _refused(path, "arrays.npz does not exist: the checkpoint is incomplete")


# -- sizes checked before reading ---------------------------------------------------
def test_a_huge_sparse_arrays_file_is_refused_before_reading(tmp_path):
    path = _write(tmp_path)
    with open(path / ARRAYS_FILE, "r+b") as fh:
        fh.truncate(64 << 30)  # 64 GiB of holes
    _refused_in_child(path, f"is {64 << 30} bytes but checkpoint.json says")


def test_metadata_that_claims_a_huge_archive_is_refused_before_reading(tmp_path):
    """The metadata itself forged to match a sparse file larger than memory: refused unread."""
    path = _write(tmp_path)
    size = (2 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") + (1 << 20)) // 4 * 4
    with open(path / ARRAYS_FILE, "r+b") as fh:
        fh.truncate(size)

    def edit(meta):
        meta["arrays"]["size"] = size
        meta["state"]["weights"]["w"]["shape"] = [size // 4 - 1000]

    _forge(path, edit=edit)
    _refused_in_child(path, "more than this machine's")
    # and descriptors that do not account for the archive's size
    _forge(path, edit=lambda meta: meta["state"]["weights"]["w"].update(shape=[2, 3]))
    _refused(path, "bytes for 48 bytes of arrays: it was not written by rlcore")


def test_a_huge_json_is_refused_before_parsing(tmp_path):
    path = _write(tmp_path)
    with open(path / META_FILE, "r+b") as fh:
        fh.truncate(1 << 30)
    _refused_in_child(path, "over the 16 MiB that rlcore ever writes")


def test_truncated_and_bit_flipped_files(tmp_path):
    path = _write(tmp_path)
    data = (path / ARRAYS_FILE).read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    (path / ARRAYS_FILE).write_bytes(bytes(flipped))
    _refused(path, "checksum mismatch")
    (path / ARRAYS_FILE).write_bytes(data + b"\0")
    _refused(path, "it is truncated, padded or not the file rlcore wrote")
    (path / ARRAYS_FILE).write_bytes(data)
    text = (path / META_FILE).read_text()
    (path / META_FILE).write_text(text[:-10])
    _refused(path, "is not valid JSON")
    (path / META_FILE).write_bytes(b"")
    _refused(path, "is not valid JSON")


# -- the archive's members ----------------------------------------------------------
def test_members_that_are_not_npy_arrays(tmp_path):
    """The AttributeError of the issue: an .npz whose members are not .npy, checksums recomputed."""
    path = _write(tmp_path)
    a0, a1 = (np.asarray(v) for v in (_state()["weights"]["w"], _state()["weights"]["b"]))
    _forge(path, npz=_zip([("a0.npy", b"x" * (a0.nbytes + 128)), ("a1.npy", _npy(a1))]))
    _refused(path, r"arrays.npz:a0.npy is not a .npy array rlcore wrote")
    _forge(path, npz=_zip([("a0.txt", b"hello"), ("a1.npy", _npy(a1))]))
    _refused(path, r"members it should not hold: a0.txt; missing members: a0.npy")
    _forge(path, npz=b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    _refused(path, "describes 48 bytes of arrays but records an arrays.npz of 22 bytes")
    _forge(path, npz=_zip([("a0.npy", _npy(a0)), ("a1.npy", _npy(a1))]), edit=lambda m: m["state"].update(weights={}))
    _refused(path, "members it should not hold: a0.npy, a1.npy")
    _forge(path, npz=b"not a zip at all")
    _refused(path, "is not a zip archive of .npy arrays")


def test_extra_missing_and_duplicate_members(tmp_path):
    path = _write(tmp_path)
    a0, a1 = _state()["weights"]["w"], _state()["weights"]["b"]
    _forge(path, npz=_zip([("a0.npy", _npy(a0)), ("a1.npy", _npy(a1)), ("a2.npy", _npy(a1))]))
    _refused(path, "members it should not hold: a2.npy")
    _forge(path, npz=_zip([("a0.npy", _npy(a0))]))
    _refused(path, "missing members: a1.npy")
    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = _zip([("a0.npy", _npy(a0)), ("a1.npy", _npy(a1)), ("a1.npy", _npy(a1))])
    _forge(path, npz=dup)
    _refused(path, "members twice: a1.npy")


def test_wrong_dtype_and_shape(tmp_path):
    path = _write(tmp_path)
    a0, a1 = _state()["weights"]["w"], _state()["weights"]["b"]
    _forge(path, npz=_zip([("a0.npy", _npy(a0.astype(np.float64))), ("a1.npy", _npy(a1))]))
    _refused(path, r"a0.npy is <f8\[2, 3\] but state.weights.w is <f4\[2, 3\]")
    _forge(path, npz=_zip([("a0.npy", _npy(a0.reshape(3, 2))), ("a1.npy", _npy(a1))]))
    _refused(path, r"a0.npy is <f4\[3, 2\] but state.weights.w is <f4\[2, 3\]")
    _forge(path, npz=_zip([("a0.npy", _npy(np.zeros((4, 3), np.float32))), ("a1.npy", _npy(a1))]))
    _refused(path, r"a0.npy is <f4\[4, 3\] but state.weights.w is <f4\[2, 3\]")
    _forge(path, npz=_zip([("a0.npy", _npy(np.zeros((40000, 3), np.float32))), ("a1.npy", _npy(a1))]))
    _refused(path, r"records an arrays.npz of \d+ bytes for 48 bytes of arrays")
    _forge(path, npz=_zip([("a0.npy", _npy(a0) + b"\0" * 100_000), ("a1.npy", _npy(a1))]))
    _refused(path, r"a0.npy is \d+ bytes; state.weights.w \(<f4\[2, 3\] in checkpoint.json\) needs 24 plus a header")


def test_an_object_array_with_consistent_metadata_runs_nothing(tmp_path):
    path = _write(tmp_path)
    marker = tmp_path / "pwned"
    evil = _npy(np.array([Evil(str(marker))], dtype=object))
    a1 = _npy(_state()["weights"]["b"])
    _forge(path, npz=_zip([("a0.npy", evil), ("a1.npy", a1)]))
    _refused(path, "a0.npy is")  # the descriptor says <f4: the header disagrees, nothing unpickled
    _forge(path, edit=lambda meta: meta["state"]["weights"]["w"].update(dtype="|O", shape=[1]))
    _refused(path, "state.weights.w is not an array descriptor rlcore writes")
    assert not marker.exists()


class Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_zip_bomb_is_refused_before_decompressing(tmp_path):
    path = _write(tmp_path)
    a1 = _npy(_state()["weights"]["b"])
    bomb = _npy(np.zeros(1 << 24, np.float32))  # 64 MiB of zeros, ~64 KiB deflated
    _forge(path, npz=_zip([("a0.npy", bomb), ("a1.npy", a1)], zipfile.ZIP_DEFLATED))
    _refused(path, "a0.npy is compressed or encrypted; rlcore stores arrays uncompressed")
    _forge(path, edit=lambda meta: meta["state"]["weights"]["w"].update(shape=[1 << 24]))
    _refused(path, r"describes \d+ bytes of arrays but records an arrays.npz of \d+ bytes")


def test_non_finite_weights_are_refused_at_read_and_at_write(tmp_path):
    path = _write(tmp_path)
    w = _state()["weights"]["w"].copy()
    w[1, 2] = np.nan
    _forge(path, npz=_zip([("a0.npy", _npy(w)), ("a1.npy", _npy(np.array([0.0, np.inf, -np.inf])))]))
    _refused(path, r"state.weights.w \(.*a0.npy\) holds 1 NaN/inf value\(s\)")
    with pytest.raises(CheckpointError, match=r"cannot checkpoint state.weights.w: it holds 1 NaN/inf") as info:
        write_checkpoint(tmp_path / "d", {"weights": {"w": w}}, META)
    assert "earlier checkpoints are kept" in str(info.value)
    assert not (tmp_path / "d").exists()
    c = np.array([1 + 1j, complex(np.inf, 0)])
    with pytest.raises(CheckpointError, match="holds 1 NaN/inf"):
        write_checkpoint(tmp_path / "d", {"c": c}, META)


def test_booleans_that_are_not_booleans(tmp_path):
    path = write_checkpoint(tmp_path / "c", {"mask": np.array([True, False])}, META)
    raw = bytearray(_npy(np.array([True, False])))
    raw[-1] = 7
    _forge(path, npz=_zip([("a0.npy", bytes(raw))]))
    _refused(path, "state.mask .* holds bytes that are not booleans")


# -- the metadata -------------------------------------------------------------------
def test_json_nested_100000_levels(tmp_path):
    path = _write(tmp_path)
    (path / META_FILE).write_text("[" * 100_000 + "]" * 100_000)
    _refused(path, "is nested too deeply to be a checkpoint's metadata")
    deep: dict = {}
    node = deep
    for _ in range(150):  # parses, but deeper than rlcore ever writes
        node["x"] = {}
        node = node["x"]
    _forge(_write(tmp_path / "d"), edit=lambda meta: meta["config"].update(deep=deep))
    _refused(tmp_path / "d" / "c", "is nested deeper than the 100 levels rlcore writes")
    with pytest.raises(CheckpointError, match="nested deeper than 100 levels"):
        write_checkpoint(tmp_path / "e", {"deep": deep}, META)
    cyclic: dict = {}
    cyclic["self"] = cyclic
    with pytest.raises(CheckpointError, match="does it contain itself"):
        write_checkpoint(tmp_path / "e", {"s": cyclic}, META)
    with pytest.raises(CheckpointError, match="the metadata \\(config\\) is nested deeper"):
        write_checkpoint(tmp_path / "e", _state(), {**META, "config": {"deep": deep}})
    assert not (tmp_path / "e").exists()


def test_json_that_is_not_json_rlcore_writes(tmp_path):
    path = _write(tmp_path)
    text = (path / META_FILE).read_text()
    (path / META_FILE).write_bytes(b"\xff\xfe" + text.encode())
    _refused(path, "is not UTF-8 text")
    (path / META_FILE).write_text('{"format": "rlcore-checkpoint", "format": "rlcore-checkpoint"}')
    _refused(path, "holds the key 'format' twice")
    (path / META_FILE).write_text('{"format": "rlcore-checkpoint", "iteration": ' + "9" * 5000 + "}")
    _refused(path, "holds a value rlcore never writes")
    (path / META_FILE).write_text("[1, 2]")
    _refused(path, "is not an rlcore checkpoint")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m["arrays"].update(file="../../../../dev/zero"), "field 'arrays' must be"),
        (lambda m: m["arrays"].update(file="/etc/passwd"), "field 'arrays' must be"),
        (lambda m: m["arrays"].update(size="1304"), "field 'arrays' must be"),
        (lambda m: m["arrays"].update(size=-1), "field 'arrays' must be"),
        (lambda m: m["arrays"].update(size=True), "field 'arrays' must be"),
        (lambda m: m["arrays"].update(sha256="zz"), "field 'arrays' must be"),
        (lambda m: m["arrays"].update(extra=1), "field 'arrays' must be"),
        (lambda m: m.update(iteration=-3), "field 'iteration' is negative"),
        (lambda m: m.update(iteration=3.0), "field 'iteration' has the wrong type"),
        (lambda m: m.update(timesteps_total=None), "field 'timesteps_total' has the wrong type"),
        (lambda m: m.update(config=[]), "field 'config' has the wrong type"),
        (lambda m: m.update(created=5), "field 'created' has the wrong type"),
        (lambda m: m.update(format_version=0), "has format_version 0, not a checkpoint format rlcore ever wrote"),
        (lambda m: m.update(format_version="2"), "has format_version '2', not a checkpoint format"),
        (lambda m: m.update(format_version=True), "has format_version True, not a checkpoint format"),
        (lambda m: m.update(versions="x", format_version=-1), "has format_version -1"),
        (lambda m: m.pop("format_version"), "has format_version None, not a checkpoint format"),
        (lambda m: m.pop("policy"), "lacks the field 'policy'"),
        (lambda m: m.update(policy=[1]), "field 'policy' has the wrong type"),
        (lambda m: m.update(policy_unavailable=3), "field 'policy_unavailable' has the wrong type"),
        (lambda m: m["state"]["weights"]["w"].update(dtype="<U5"), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(dtype="float32"), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(dtype="<V8"), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(shape=[2, -3]), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(shape=[True, 3]), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(shape="2,3"), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(extra=1), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(__ndarray__="../x"), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["w"].update(__ndarray__=0), "is not an array descriptor"),
        (lambda m: m["state"]["weights"]["b"].update(__ndarray__="a0"), "name the same array 'a0'"),
        (lambda m: m["state"].update(more={"__ndarray__": "a9", "dtype": "<f4", "shape": []}), "missing members"),
    ],
)
def test_metadata_of_the_wrong_types(tmp_path, edit, match):
    path = _write(tmp_path)
    _forge(path, edit=edit)
    _refused(path, match)


def test_a_checkpoint_that_reads_raises_nothing_but_checkpoint_errors(tmp_path):
    """Random byte damage anywhere in either file: a CheckpointError every time, nothing else."""
    rng = np.random.default_rng(0)
    path = _write(tmp_path)
    originals = {name: (path / name).read_bytes() for name in (META_FILE, ARRAYS_FILE)}
    for _ in range(200):
        name = str(rng.choice(sorted(originals)))
        data = bytearray(originals[name])
        for pos in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[pos] = int(rng.integers(0, 256))
        (path / name).write_bytes(bytes(data))
        if bytes(data) != originals[name]:
            with pytest.raises(CheckpointError):
                read_checkpoint(path)
        (path / name).write_bytes(originals[name])
    assert read_checkpoint(path).state["n"] == 2


# -- saves killed or raced ----------------------------------------------------------
def _writer_loop(root: Path, start: int, exchange: bool) -> None:
    """The child: replace the same checkpoint over and over (1.6 MB each), never returning."""
    if not exchange:
        ck._replace_in_one_step = None
    i = start
    while True:
        i += 1
        state = {"big": np.full(200_000, i, np.float64), "i": i}
        write_checkpoint(root / "c", state, {**META, "iteration": i})


def _fork_writer(root: Path, start: int, exchange: bool) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            _writer_loop(root, start, exchange)
        finally:
            os._exit(1)
    return pid


def _check_whole(root: Path, at_least: int) -> int:
    ckpt = read_checkpoint(root / "c")  # never "does not exist": the old or the new
    i = ckpt.state["i"]
    assert ckpt.meta["iteration"] == i >= at_least  # never a mix, never older than what was there
    assert np.all(ckpt.state["big"] == i)
    return int(i)


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a writer")


@needs_fork
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_sigkill_while_replacing_always_leaves_a_whole_checkpoint(tmp_path, exchange):
    """Kill a process that replaces one checkpoint in a loop at 40 random moments: a reader
    always finds it whole at its name (or moved aside, in the two-rename fallback)."""
    if exchange and ck._RENAMEAT2 is None:
        pytest.skip("no renameat2 here")
    rng = np.random.default_rng(1)
    write_checkpoint(tmp_path / "c", {"big": np.zeros(200_000), "i": 0}, {**META, "iteration": 0})
    last, aside = 0, 0
    for kill in range(40):
        pid = _fork_writer(tmp_path, start=1000 * (kill + 1), exchange=exchange)
        time.sleep(float(rng.uniform(0.002, 0.08)))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        aside += not (tmp_path / "c").exists()
        last = _check_whole(tmp_path, at_least=last)
    if exchange:
        assert aside == 0  # the name never went missing
    write_checkpoint(tmp_path / "c", {"big": np.zeros(1), "i": -1}, {**META, "iteration": 0})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # the next save cleans up


@needs_fork
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_reader_racing_a_writer_always_reads_a_whole_checkpoint(tmp_path, exchange):
    if exchange and ck._RENAMEAT2 is None:
        pytest.skip("no renameat2 here")
    write_checkpoint(tmp_path / "c", {"big": np.zeros(200_000), "i": 0}, {**META, "iteration": 0})
    pid = _fork_writer(tmp_path, start=0, exchange=exchange)
    try:
        reads, last = 0, 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            last = _check_whole(tmp_path, at_least=last)
            reads += 1
        assert reads > 10 and last > 0
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_the_two_rename_window_reads_the_old_copy(tmp_path):
    """What a save killed between its two renames leaves: the name missing, the old checkpoint
    moved aside, the new one complete under a .tmp name. Readers take the old; so does a scan
    of the trial folder; the next save puts it back."""
    trial = tmp_path / "trial"
    write_checkpoint(trial / "checkpoint_000001", {"i": np.array(1)}, {**META, "iteration": 1})
    write_checkpoint(trial / "checkpoint_000002", {"i": np.array(2)}, {**META, "iteration": 2})
    os.replace(trial / "checkpoint_000002", trial / ".checkpoint_000002.old-999999999-ab")
    write_checkpoint(tmp_path / "new", {"i": np.array(3)}, {**META, "iteration": 2})
    os.replace(tmp_path / "new", trial / ".checkpoint_000002.tmp-999999999-cd")
    assert int(read_checkpoint(trial / "checkpoint_000002").state["i"]) == 2
    assert int(read_checkpoint(trial).state["i"]) == 2  # the latest, not checkpoint_000001
    assert ck.read_checkpoint_meta(trial / "checkpoint_000002")["iteration"] == 2
    write_checkpoint(trial / "checkpoint_000003", {"i": np.array(3)}, {**META, "iteration": 3})
    assert sorted(p.name for p in trial.iterdir()) == ["checkpoint_000001", "checkpoint_000002", "checkpoint_000003"]


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    from rlcore.checkpoint import write_checkpoint
    from rlcore.errors import CheckpointError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    meta = {"algorithm": "TOY", "framework": "numpy", "env": "E", "config": {}, "iteration": 2,
            "timesteps_total": 0, "versions": {}}
    try:
        write_checkpoint(sys.argv[1], {"big": np.ones(50_000)}, meta)
    except CheckpointError as exc:
        print("CheckpointError:", exc)
    """
)


def test_a_write_that_runs_out_of_space_keeps_the_old_checkpoint(tmp_path):
    """A real write failure (the file-size limit: EFBIG, as a full disk gives ENOSPC) while
    replacing a checkpoint: one line, the old checkpoint intact, nothing left behind."""
    path = write_checkpoint(tmp_path / "c", {"big": np.zeros(10)}, META)
    proc = subprocess.run([sys.executable, "-c", FULL_DISK, str(path)], capture_output=True, text=True, timeout=60)
    out = proc.stdout.strip()
    assert out.startswith("CheckpointError: cannot write the checkpoint") and "File too large" in out, out
    assert len(out.splitlines()) == 1
    assert read_checkpoint(path).meta["iteration"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
