"""Pickle-free, atomic checkpoints: arrays in ``arrays.npz``, everything else in ``checkpoint.json``.

A checkpoint is a folder::

    checkpoint_000003/
        checkpoint.json   # format, algorithm, framework, env, config, counters, versions, state
        arrays.npz        # every numpy array of the state: stored (uncompressed) .npy members

The state is any nesting of dicts, lists, JSON scalars and numpy arrays. Arrays are moved to
the ``.npz`` and replaced in the JSON by ``{"__ndarray__": key, "dtype": ..., "shape": ...}``.
``checkpoint.json`` records the size and SHA-256 of ``arrays.npz`` and a digest of its own
content, so a truncated archive or an edited JSON is refused with a clear error instead of
loading as valid but wrong.

**Writing** goes to a hidden temporary folder beside the target, every file is fsynced, and the
folder is then renamed into place. An existing checkpoint is replaced by exchanging the two
folders in one step (``renameat2(RENAME_EXCHANGE)`` on Linux), so the name always holds a whole
checkpoint, the old or the new. Where the exchange is not available (other systems, some network
filesystems) the old folder is first moved aside to ``.<name>.old-<pid>-*``; a save killed
between the two renames leaves it there, readers use it while the name is missing, and the next
save in that folder puts it back. Non-numeric arrays, non-finite arrays (a diverged policy) and
state nested deeper than :data:`MAX_DEPTH` are refused at write time, so the writer never writes
what the reader would refuse.

**Reading** trusts nothing in the folder: both files must be regular files (a symlink, FIFO or
device is refused without being read; files are opened with ``O_NOFOLLOW`` relative to the
folder, so a folder swapped by a concurrent save is read whole or retried); ``checkpoint.json``
is capped at :data:`MAX_META_BYTES`, parsed with bounded nesting and type-checked field by field;
``arrays.npz`` must have exactly the size the metadata records before a byte of it is read, its
members must be exactly the stored ``.npy`` arrays the metadata lists, of the dtype and shape it
records (numeric dtypes only, never pickled objects), and every float array must be finite. A
checkpoint is not signed: the digest catches damage, not a forger who recomputes it; what the
reader guarantees is that no file can run code, hang the reader, exhaust memory or load wrong.

**Versions**: ``format_version`` is :data:`FORMAT_VERSION` (2: ``checkpoint.json`` also records
``"policy"``, the acting spec that numpy acting reads, or None with ``"policy_unavailable"``).
Checkpoints of every older format since rlcore 0.1.0 (format 1) are read and migrated in memory
(:mod:`rlcore.checkpoint_migrations`; the digests are checked on the files as written, which are
never rewritten). A checkpoint of a newer format is refused naming the rlcore version that wrote
it and this one. :data:`COMPATIBILITY` lists the released versions whose checkpoints the tests load.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.errors import CheckpointError

FORMAT = "rlcore-checkpoint"
#: The checkpoint format this rlcore writes. Format 2 added ``"policy"`` (the acting spec).
FORMAT_VERSION = 2
#: The oldest format this rlcore reads (older formats are migrated on read:
#: :mod:`rlcore.checkpoint_migrations`).
MIN_FORMAT_VERSION = 1
META_FILE = "checkpoint.json"
ARRAYS_FILE = "arrays.npz"
#: Folder names that :meth:`Trainer.save` gives its checkpoints (``checkpoint_000003``).
CHECKPOINT_DIR_RE = re.compile(r"^checkpoint_(\d+)$")
#: The largest ``checkpoint.json`` read (and written): config, counters and array descriptors.
MAX_META_BYTES = 16 * 2**20
#: The deepest nesting of dicts and lists in ``checkpoint.json`` (config and state) read or written.
MAX_DEPTH = 100
_ARRAY_TAG = "__ndarray__"
_ARRAY_KEY_RE = re.compile(r"^a\d{1,9}$")
_DTYPE_RE = re.compile(r"^[<>|][biufc]\d{1,2}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NUMERIC_KINDS = "biufc"
_MAX_NPY_HEADER = 65536 + 16
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-\w+$")
#: Keys every ``checkpoint.json`` has, with their JSON types.
REQUIRED_META: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "format_version": int,
    "algorithm": str,
    "framework": str,
    "env": str,
    "config": dict,
    "iteration": int,
    "timesteps_total": int,
    "versions": dict,
    "arrays": dict,
    "state": dict,
    "digest": str,
}
_USE_ANOTHER = "use another checkpoint"
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+!_-]{0,39}$")


@dataclass(frozen=True)
class CompatibilityRow:
    """One released rlcore version whose checkpoints this rlcore is tested to load."""

    #: The rlcore version that wrote the fixtures (``"0.1.0"``).
    rlcore: str
    #: The checkpoint format that version writes.
    format_version: int
    #: The fixtures it wrote, relative to the repository root (one folder per algorithm and framework).
    fixtures: str
    #: The commit the fixtures were written from.
    commit: str


#: The tested compatibility promise: every released rlcore version, the format it writes and the
#: fixtures (written by that version's own code) that the tests load, act from and train on.
COMPATIBILITY: tuple[CompatibilityRow, ...] = (
    CompatibilityRow("0.1.0", 1, "tests/fixtures/checkpoints/0.1.0", "8b31e4ae0d419dddba0d161a8df13e97404f32e2"),
    CompatibilityRow("0.2.0", 2, "tests/fixtures/checkpoints/0.2.0", "c2e7afcb484c790d2a41a6defe9c210bd629f11f"),
)


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: its folder, its metadata (JSON) and its decoded state (arrays inside)."""

    path: Path
    meta: dict[str, Any]
    state: dict[str, Any]

    @property
    def written_format_version(self) -> int:
        """The format of the files on disk (``meta["format_version"]`` is the migrated one, :data:`FORMAT_VERSION`)."""
        return int(self.meta.get("written_format_version", self.meta["format_version"]))

    @property
    def policy_spec(self) -> dict[str, Any] | None:
        """The acting spec (``meta["policy"]``: spaces, model, filter...), or None when it could not be
        made (``meta["policy_unavailable"]`` says why)."""
        spec = self.meta.get("policy")
        return spec if isinstance(spec, dict) else None

    @property
    def algorithm(self) -> str:
        """Registry name of the algorithm that wrote it (``"PPO"``)."""
        return str(self.meta["algorithm"])

    @property
    def framework(self) -> str:
        """Framework of the evaluators that wrote it (``"torch"``, ``"tf"``...)."""
        return str(self.meta["framework"])


@dataclass(frozen=True)
class _ArraySpec:
    where: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class _Vanished(CheckpointError):
    """A file or folder went away while being read (a concurrent save replaced it): retried."""


# -- encoding -----------------------------------------------------------------------
def _encode(value: Any, arrays: dict[str, np.ndarray], where: str, depth: int = 1) -> Any:
    if depth > MAX_DEPTH:
        raise CheckpointError(
            f"cannot checkpoint the state: it is nested deeper than {MAX_DEPTH} levels at {where[:200]}... "
            "(does it contain itself?)"
        )
    if isinstance(value, np.ndarray):
        _check_writable_array(value, where)
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {_ARRAY_TAG: key, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"checkpoint state keys must be strings, got {k!r} at {where}")
            if k == _ARRAY_TAG:
                raise CheckpointError(f"the key {_ARRAY_TAG!r} is reserved (at {where})")
            out[k] = _encode(v, arrays, f"{where}.{k}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_encode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CheckpointError(
        f"cannot checkpoint {type(value).__name__} at {where}: state must hold dicts, lists, "
        "numbers, strings and numpy arrays only (no pickle)"
    )


def _check_writable_array(value: np.ndarray, where: str) -> None:
    dt = value.dtype
    if dt.hasobject:
        raise CheckpointError(f"cannot checkpoint an object array at {where}: only numeric arrays are saved")
    if dt.kind not in _NUMERIC_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise CheckpointError(
            f"cannot checkpoint the {dt} array at {where}: only bool, integer, float and complex arrays are "
            "saved (put strings in lists, not arrays)"
        )
    if dt.kind in "fc":
        bad = value.size - int(np.count_nonzero(np.isfinite(value)))
        if bad:
            raise CheckpointError(
                f"cannot checkpoint {where}: it holds {bad} NaN/inf value(s) of {value.size} (the policy diverged?); "
                "nothing was written and earlier checkpoints are kept: restore one of them and lower the "
                "learning rate, or find where the values first became non-finite"
            )


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether dicts/lists in ``value`` nest deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list | tuple))
    return False


def _digest(meta: Mapping[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# -- writing ------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_temporaries(parent: Path) -> list[Path]:
    """Clean up after saves that were killed in ``parent``: delete their ``.tmp`` folders, and put
    back an ``.old`` folder (the checkpoint being replaced) whose target is missing; returns what went."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for entry in sorted(parent.iterdir()):
        m = _TMP_RE.match(entry.name)
        if not m or entry.is_symlink() or not entry.is_dir() or _pid_alive(int(m["pid"])):
            continue
        target = parent / m["name"]
        if m["kind"] == "old" and not os.path.lexists(target) and (entry / META_FILE).is_file():
            try:
                os.replace(entry, target)  # the replacement never landed: the old checkpoint comes back
                continue
            except OSError:  # pragma: no cover - someone else put it back first
                pass
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # pragma: no cover - glibc older than 2.28, musl
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` atomically; False where the system or filesystem cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)):
        return False
    raise OSError(err, os.strerror(err), str(b))


#: How a checkpoint that exists is replaced: ``_exchange``, or None for the two-rename fallback.
_replace_in_one_step: Callable[[Path, Path], bool] | None = _exchange


def write_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write ``state`` (+ ``meta`` fields) as a checkpoint folder at ``path``, atomically.

    ``meta`` must hold ``algorithm``, ``framework``, ``env``, ``config``, ``iteration``,
    ``timesteps_total`` and ``versions``; ``format``, ``arrays``, ``state`` and ``digest`` are
    filled in here. ``meta["policy"]`` is the acting spec (:meth:`rlcore.trainer.Trainer.acting_spec`;
    a dict, or None with ``meta["policy_unavailable"]`` saying why): None when not given.
    An existing checkpoint at ``path`` is replaced (readers see the old one or the
    new one, never none). Returns ``path``.

    Raises:
        CheckpointError: the state holds something a checkpoint cannot (objects, non-numeric or
            non-finite arrays, nesting deeper than :data:`MAX_DEPTH`), the metadata is not JSON or is
            over :data:`MAX_META_BYTES`, or the folder cannot be written (full disk, permissions);
            nothing is left at ``path`` but what was there before.
    """
    target = Path(path).absolute()
    parent = target.parent
    arrays: dict[str, np.ndarray] = {}
    encoded = _encode(dict(state), arrays, "state")
    policy = meta.get("policy")
    if policy is not None and not isinstance(policy, Mapping):
        raise CheckpointError(
            f"cannot checkpoint: meta['policy'] must be the acting spec (a dict) or None, got {policy!r}"
        )
    full: dict[str, Any] = {
        **{k: v for k, v in meta.items() if k != "written_format_version"},
        "policy": policy,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "state": encoded,
    }
    if policy is None and not isinstance(full.get("policy_unavailable"), str):
        full["policy_unavailable"] = "the code that wrote it recorded no acting spec (meta['policy'])"
    if _depth_exceeds(full, MAX_DEPTH):
        raise CheckpointError(f"cannot checkpoint: the metadata (config) is nested deeper than {MAX_DEPTH} levels")
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    blob = buf.getvalue()
    full["arrays"] = {"file": ARRAYS_FILE, "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    try:
        full["digest"] = _digest(full)
        text = json.dumps(full, indent=1, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata is not JSON-serializable: {exc}") from None
    data = text.encode()
    if len(data) > MAX_META_BYTES:
        raise CheckpointError(
            f"cannot checkpoint: {META_FILE} would be {len(data) / 2**20:.1f} MiB, over the "
            f"{MAX_META_BYTES // 2**20} MiB limit: keep large data in numpy arrays, not lists"
        )

    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot write a checkpoint in {parent}: {exc}") from None
    remove_stale_temporaries(parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise CheckpointError(f"cannot write a checkpoint in {parent}: {exc}") from None
    old: Path | None = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the checkpoint from other users
        for name, payload in ((ARRAYS_FILE, blob), (META_FILE, data)):
            with open(tmp / name, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        swap = _replace_in_one_step
        if os.path.lexists(target) and swap is not None and swap(tmp, target):
            old, tmp = tmp, target  # tmp's name now holds the old checkpoint: removed below
        else:
            if os.path.lexists(target):
                # Two renames; a save killed in between leaves the old checkpoint as .<name>.old-*,
                # which readers use while the name is missing and the next save puts back.
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=parent))
                os.replace(target, old)
            os.replace(tmp, target)
        _fsync_dir(parent)
    except BaseException as exc:
        if tmp != target:
            _remove(tmp)
        if old is not None and not os.path.lexists(target):
            os.replace(old, target)
            old = None
        if isinstance(exc, OSError):
            raise CheckpointError(f"cannot write the checkpoint {target}: {exc}") from None
        raise
    finally:
        if old is not None:
            _remove(old)
    return target


# -- finding ------------------------------------------------------------------------
def _moved_aside(target: Path) -> Path | None:
    """The complete ``.<name>.old-*`` copy that a save interrupted between its two renames left,
    when ``target`` itself is missing (the newest if several)."""
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return None
    found = []
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m and m["kind"] == "old" and m["name"] == target.name:
            try:
                st = entry.lstat()
                if stat.S_ISDIR(st.st_mode) and stat.S_ISREG((entry / META_FILE).lstat().st_mode):
                    found.append((st.st_mtime_ns, entry.name, entry))
            except OSError:
                continue
    return max(found)[2] if found and not os.path.lexists(target) else None


def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """The checkpoint folder that ``path`` names: itself, its folder (when given the JSON file),
    or the highest-numbered ``checkpoint_*`` folder below it (a trial folder, or Tune's).

    A checkpoint that a save is replacing (or that a killed save left moved aside as
    ``.<name>.old-*``) is found under its hidden name while its own name is missing.

    Raises:
        CheckpointError: nothing there, a file that is not part of a checkpoint, no checkpoint
            below the folder, or checkpoints of several runs below it.
    """
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise CheckpointError(f"the checkpoint path must be a non-empty path (str or os.PathLike), got {path!r:.100}")
    p = Path(path).expanduser().absolute()
    folder = p.parent if p.name in (META_FILE, ARRAYS_FILE) else p
    temporary = _TMP_RE.match(folder.name)
    if temporary and temporary["kind"] == "tmp":
        raise CheckpointError(
            f"{str(folder)!r} is the temporary folder of a save that is still being written (or was killed): it is "
            f"not a checkpoint until it is renamed to {temporary['name']!r}; load "
            f"{str(folder.parent / temporary['name'])!r}"
        )
    for attempt in range(5):
        if attempt:
            time.sleep(0.005 * attempt)  # a save between its two renames: the name comes back at once
        if not os.path.lexists(p):
            aside = _moved_aside(p)
            if aside is not None:
                return aside
            continue
        if p.is_file():
            if p.name in (META_FILE, ARRAYS_FILE):
                return p.parent
            raise CheckpointError(f"{str(p)!r} is a file; give the checkpoint folder (the one holding {META_FILE})")
        if os.path.lexists(p / META_FILE):
            return p
        if os.path.lexists(p):  # still there without a checkpoint.json: a folder of checkpoints
            if os.path.lexists(p / META_FILE):
                return p  # a save swapped the name between the two checks above
            try:
                return _latest_below(p)
            except CheckpointError:
                if attempt == 4:
                    raise
                # a save may have put a checkpoint back under this name since: look again
    raise CheckpointError(f"checkpoint path {str(p)!r} does not exist")


def _latest_below(p: Path) -> Path:
    found = []
    for meta in p.rglob(META_FILE):
        folder = meta.parent
        rel = folder.relative_to(p).parts
        m = CHECKPOINT_DIR_RE.match(folder.name)
        if not m:
            moved = _TMP_RE.match(folder.name)
            if not moved or moved["kind"] != "old" or os.path.lexists(folder.parent / moved["name"]):
                continue
            m = CHECKPOINT_DIR_RE.match(moved["name"])
            rel = rel[:-1]
        if m and not any(part.startswith(".") for part in rel):
            found.append((int(m[1]), str(folder), folder))
    if not found:
        raise CheckpointError(
            f"no checkpoint in {str(p)!r}: expected a folder holding {META_FILE}, or checkpoint_* folders "
            "below it (written with --checkpoint-freq N or --checkpoint-at-end)"
        )
    trials = sorted({str(_trial_of(f[2], p)) for f in found})
    if len(trials) > 1:
        shown = "\n  ".join(trials[:10]) + ("\n  ..." if len(trials) > 10 else "")
        raise CheckpointError(
            f"{str(p)!r} holds the checkpoints of {len(trials)} runs; name one of them (its latest checkpoint "
            f"is taken) or a checkpoint folder:\n  {shown}"
        )
    return max(found)[2]


def _trial_of(folder: Path, root: Path) -> Path:
    """The run folder a checkpoint belongs to: its nearest ancestor not named ``checkpoint_*``."""
    if _TMP_RE.match(folder.name):
        folder = folder.parent
    while folder != root and CHECKPOINT_DIR_RE.match(folder.name):
        folder = folder.parent
    return folder


# -- reading files ------------------------------------------------------------------
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


class _Folder:
    """A checkpoint folder opened once: its files are read relative to that open folder, so a
    concurrent save that swaps the name cannot mix two checkpoints."""

    def __init__(self, folder: Path) -> None:
        self.path = folder
        self.fd: int | None = None
        if os.open in os.supports_dir_fd:
            try:
                self.fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:
                raise _Vanished(f"the checkpoint folder {folder} disappeared while being read") from None
            except OSError as exc:
                raise CheckpointError(f"cannot open the checkpoint folder {folder}: {exc.strerror}") from None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> _Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str, *, size: int | None = None, max_size: int | None = None) -> bytes:
        """The bytes of the regular file ``name``: refused, unread, when it is anything else or its
        size is not ``size`` (or over ``max_size``)."""
        shown = self.path / name
        where: dict[str, Any] = {"dir_fd": self.fd} if self.fd is not None else {}
        ref = name if self.fd is not None else str(shown)
        try:
            st = os.lstat(ref, **where)
        except FileNotFoundError:
            raise _Vanished(f"{shown} does not exist: the checkpoint is incomplete; {_USE_ANOTHER}") from None
        except OSError as exc:
            raise CheckpointError(f"cannot read {shown}: {exc.strerror} (check its permissions)") from None
        if not stat.S_ISREG(st.st_mode):
            kind = _kind(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                with contextlib.suppress(OSError):  # gone meanwhile: the kind says enough
                    kind += f" (to {os.readlink(ref, **where)})"
            raise CheckpointError(
                f"{shown} is {kind}, not a regular file: a checkpoint holds only the regular files "
                f"rlcore wrote, so it is refused without being read; {_USE_ANOTHER}"
            )
        self._check_size(shown, st.st_size, size, max_size)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(ref, flags, **where)
        except FileNotFoundError:
            raise _Vanished(f"{shown} does not exist: the checkpoint is incomplete; {_USE_ANOTHER}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _Vanished(f"{shown} became a symbolic link while being read") from None
            raise CheckpointError(f"cannot read {shown}: {exc.strerror}") from None
        try:
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(fst.st_mode):
                raise _Vanished(f"{shown} was replaced while being read")
            self._check_size(shown, fst.st_size, size, max_size)
            chunks = []
            left = fst.st_size
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 24))
                if not chunk:
                    raise CheckpointError(f"{shown} shrank while being read: {_USE_ANOTHER}")
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise CheckpointError(f"cannot read {shown}: {exc.strerror}") from None
        finally:
            os.close(fd)

    @staticmethod
    def _check_size(shown: Path, actual: int, size: int | None, max_size: int | None) -> None:
        if size is not None and actual != size:
            raise CheckpointError(
                f"{shown} is {actual} bytes but {META_FILE} says {size}: it is truncated, padded or not the "
                f"file rlcore wrote; {_USE_ANOTHER}"
            )
        if max_size is not None and actual > max_size:
            raise CheckpointError(
                f"{shown} is {actual} bytes, over the {max_size // 2**20} MiB that rlcore ever writes: it is not "
                f"a checkpoint's metadata; {_USE_ANOTHER}"
            )


# -- reading metadata ---------------------------------------------------------------
class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return out


def read_checkpoint_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated ``checkpoint.json`` of the checkpoint that ``path`` names (arrays not loaded),
    migrated to :data:`FORMAT_VERSION` as :func:`read_checkpoint` does (its ``"state"`` holds the
    array descriptors).

    Raises:
        CheckpointError: as :func:`read_checkpoint`, for the metadata.
    """
    meta = _retrying(path, lambda folder: _read_meta(folder)[0])
    migrated, state = _migrated(meta, meta["state"])
    migrated["state"] = state
    return migrated


def _migrated(meta: dict[str, Any], state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, state)`` as read, in the current format; ``written_format_version`` is the file's
    ``format_version`` (rlcore never writes the key: one in the file is not believed)."""
    from rlcore.checkpoint_migrations import migrate

    return migrate({k: v for k, v in meta.items() if k != "written_format_version"}, state)


def _retrying(path: str | os.PathLike[str], load: Callable[[_Folder], Any]) -> Any:
    last: _Vanished | None = None
    for attempt in range(5):
        try:
            with _Folder(find_checkpoint(path)) as folder:
                return load(folder)
        except _Vanished as exc:  # a concurrent save replaced the folder under us: look again
            last = exc
        time.sleep(0.01 * (attempt + 1))
    assert last is not None
    raise CheckpointError(str(last)) from None


def _read_meta(folder: _Folder) -> tuple[dict[str, Any], dict[str, _ArraySpec]]:
    meta_file = folder.path / META_FILE
    raw = folder.read(META_FILE, max_size=MAX_META_BYTES)
    try:
        meta = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as exc:
        raise CheckpointError(
            f"{meta_file} is not UTF-8 text ({exc.reason} at byte {exc.start}): {_USE_ANOTHER}"
        ) from None
    except RecursionError:
        raise CheckpointError(
            f"{meta_file} is nested too deeply to be a checkpoint's metadata (rlcore writes at most {MAX_DEPTH} "
            f"levels): {_USE_ANOTHER}"
        ) from None
    except _DuplicateKey as exc:
        raise CheckpointError(
            f"{meta_file} holds the key {exc.args[0]!r} twice: it was not written by rlcore; {_USE_ANOTHER}"
        ) from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{meta_file} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
            f"the checkpoint is corrupted; {_USE_ANOTHER}"
        ) from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise CheckpointError(f"{meta_file} holds a value rlcore never writes ({exc}): {_USE_ANOTHER}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_file} is not an rlcore checkpoint (its 'format' is not {FORMAT!r})")
    if _depth_exceeds(meta, MAX_DEPTH):
        raise CheckpointError(f"{meta_file} is nested deeper than the {MAX_DEPTH} levels rlcore writes: {_USE_ANOTHER}")
    _check_format_version(meta, meta_file)
    for key, kind in REQUIRED_META.items():
        if key not in meta:
            raise CheckpointError(f"{meta_file} lacks the field {key!r}: the checkpoint is corrupted")
        if not isinstance(meta[key], kind) or (kind is int and isinstance(meta[key], bool)):
            raise CheckpointError(f"{meta_file}: field {key!r} has the wrong type ({type(meta[key]).__name__})")
    if _digest(meta) != meta["digest"]:
        raise CheckpointError(
            f"{meta_file} was modified after it was written (its digest does not match its content): "
            f"refusing to load a checkpoint that may be wrong; {_USE_ANOTHER}"
        )
    for key in ("iteration", "timesteps_total"):
        if meta[key] < 0:
            raise CheckpointError(f"{meta_file}: field {key!r} is negative ({meta[key]}): {_USE_ANOTHER}")
    if meta["format_version"] >= 2:
        if "policy" not in meta:
            raise CheckpointError(f"{meta_file} lacks the field 'policy': the checkpoint is corrupted")
        if meta["policy"] is not None and not isinstance(meta["policy"], dict):
            raise CheckpointError(f"{meta_file}: field 'policy' has the wrong type ({type(meta['policy']).__name__})")
    if "policy_unavailable" in meta and not isinstance(meta["policy_unavailable"], str):
        raise CheckpointError(
            f"{meta_file}: field 'policy_unavailable' has the wrong type ({type(meta['policy_unavailable']).__name__})"
        )
    if "created" in meta and not isinstance(meta["created"], str):
        raise CheckpointError(f"{meta_file}: field 'created' has the wrong type ({type(meta['created']).__name__})")
    info = meta["arrays"]
    if (
        set(info) != {"file", "size", "sha256"}
        or info["file"] != ARRAYS_FILE
        or not isinstance(info["size"], int)
        or isinstance(info["size"], bool)
        or info["size"] < 0
        or not isinstance(info["sha256"], str)
        or not _SHA256_RE.match(info["sha256"])
    ):
        raise CheckpointError(
            f"{meta_file}: field 'arrays' must be {{'file': {ARRAYS_FILE!r}, 'size': bytes, 'sha256': hex digest}}, "
            f"got {json.dumps(info)[:200]}: {_USE_ANOTHER}"
        )
    specs: dict[str, _ArraySpec] = {}
    _collect_specs(meta["state"], "state", specs, meta_file)
    return meta, specs


def _written_by(meta: Mapping[str, Any]) -> str | None:
    """The rlcore version a checkpoint's ``versions`` names, or None when missing or garbled."""
    versions = meta.get("versions")
    wrote = versions.get("rlcore") if isinstance(versions, dict) else None
    return wrote if isinstance(wrote, str) and _VERSION_RE.match(wrote) else None


#: No rlcore will write a checkpoint format above this: a larger ``format_version`` is garbage, not "newer".
_MAX_FORMAT_VERSION = 1000


def _release(version: str) -> tuple[int, ...] | None:
    """``"0.2.0"`` -> ``(0, 2, 0)``: the leading numeric release of a version string, None when it has none."""
    m = re.match(r"^(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?", version)
    return tuple(int(g or 0) for g in m.groups()) if m else None


def _check_format_version(meta: Mapping[str, Any], meta_file: Path) -> None:
    """Refuse a format this rlcore cannot read: a newer one (upgrade rlcore) or not a format at all."""
    from rlcore import __version__

    version = meta.get("format_version")
    wrote = _written_by(meta)
    readable = f"{MIN_FORMAT_VERSION}-{FORMAT_VERSION}" if MIN_FORMAT_VERSION < FORMAT_VERSION else f"{FORMAT_VERSION}"
    if isinstance(version, int) and not isinstance(version, bool) and version > _MAX_FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_file} has format_version {str(version)[:20]}{'...' if len(str(version)) > 20 else ''}, not a "
            f"checkpoint format any rlcore wrote; this is rlcore {__version__}, which reads checkpoint formats "
            f"{readable}: the checkpoint is corrupted; {_USE_ANOTHER}"
        )
    newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
    writer, this = _release(wrote) if wrote else None, _release(__version__)
    if newer and writer is not None and this is not None and writer <= this:
        raise CheckpointError(
            f"{meta_file}: checkpoint format {version} cannot have been written by rlcore {wrote}, as its "
            f"'versions' field says: this is rlcore {__version__}, which writes format {FORMAT_VERSION} and reads "
            f"formats {readable}; the checkpoint was edited; {_USE_ANOTHER}"
        )
    if newer:
        by = f"rlcore {wrote}" if wrote else "an unknown rlcore version (its 'versions' field names none)"
        later = f"{wrote} or later" if wrote else "a newer rlcore"
        raise CheckpointError(
            f"{meta_file}: checkpoint format {version} was written by {by}; this is rlcore {__version__}, which "
            f"reads checkpoint formats {readable}: upgrade rlcore (pip install -c constraints.txt ./core from a "
            f"checkout of {later})"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < MIN_FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_file} has format_version {str(version)[:60] if isinstance(version, str) else version!r}, not a "
            f"checkpoint format rlcore ever wrote; this is rlcore {__version__}, which reads checkpoint formats "
            f"{readable}: the checkpoint is corrupted; {_USE_ANOTHER}"
        )


def _collect_specs(value: Any, where: str, specs: dict[str, _ArraySpec], meta_file: Path) -> None:
    """Validate every array descriptor in the state; record each under its key."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            _collect_specs(v, f"{where}[{i}]", specs, meta_file)
        return
    if not isinstance(value, dict):
        return
    if _ARRAY_TAG not in value:
        for k, v in value.items():
            _collect_specs(v, f"{where}.{k}", specs, meta_file)
        return
    key, dtype, shape = value[_ARRAY_TAG], value.get("dtype"), value.get("shape")
    ok = (
        set(value) == {_ARRAY_TAG, "dtype", "shape"}
        and isinstance(key, str)
        and _ARRAY_KEY_RE.match(key) is not None
        and isinstance(dtype, str)
        and _DTYPE_RE.match(dtype) is not None
        and isinstance(shape, list)
        and len(shape) <= 32
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    )
    dt: np.dtype[Any] | None = None
    if ok:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
    if not ok or dt is None or dt.str != dtype or dt.kind not in _NUMERIC_KINDS:
        raise CheckpointError(
            f"{meta_file}: {where} is not an array descriptor rlcore writes ({json.dumps(value)[:200]}; "
            f"expected a key, a numeric dtype and a shape): {_USE_ANOTHER}"
        )
    if key in specs:
        raise CheckpointError(
            f"{meta_file}: {where} and {specs[key].where} name the same array {key!r}: {_USE_ANOTHER}"
        )
    specs[key] = _ArraySpec(where, dt, tuple(int(n) for n in shape))  # type: ignore[union-attr]


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


# -- reading arrays -----------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load and verify the checkpoint that ``path`` names.

    Raises:
        CheckpointError: one line naming the file and what is wrong with it: missing; not a
            regular file (symlink, FIFO, device); of another size than the metadata records;
            invalid, over-large or over-deep JSON, fields of the wrong type, an edited digest;
            an archive whose checksum, members (extra, missing, not ``.npy``, compressed),
            dtypes or shapes differ from the metadata; non-finite float arrays; a format newer
            than :data:`FORMAT_VERSION` (naming the rlcore version that wrote it and this one).

    A checkpoint of an older format is migrated in memory (:mod:`rlcore.checkpoint_migrations`;
    the files are never rewritten): ``meta["format_version"]`` is then :data:`FORMAT_VERSION` and
    ``meta["written_format_version"]`` (:attr:`Checkpoint.written_format_version`) the format on
    disk. The digests were checked on the files as written.
    """
    ckpt: Checkpoint = _retrying(path, _load)
    meta, state = _migrated(ckpt.meta, ckpt.state)
    return Checkpoint(ckpt.path, meta, state)


def _load(folder: _Folder) -> Checkpoint:
    meta, specs = _read_meta(folder)
    meta_file, arrays_file = folder.path / META_FILE, folder.path / ARRAYS_FILE
    size = meta["arrays"]["size"]
    needed = sum(s.nbytes for s in specs.values())
    if needed > size:
        raise CheckpointError(
            f"{meta_file} describes {needed} bytes of arrays but records an {ARRAYS_FILE} of {size} bytes: "
            f"it was not written by rlcore; {_USE_ANOTHER}"
        )
    slack = len(specs) * (_MAX_NPY_HEADER + 512) + 70_000  # .npy headers, zip headers and directory
    if size > needed + slack:
        raise CheckpointError(
            f"{meta_file} records an {ARRAYS_FILE} of {size} bytes for {needed} bytes of arrays: it was not "
            f"written by rlcore; {_USE_ANOTHER}"
        )
    memory = _memory_bytes()
    if memory is not None and 2 * size > memory:
        raise CheckpointError(
            f"{arrays_file} is recorded as {size / 2**30:.1f} GiB: loading it needs more than this machine's "
            f"{memory / 2**30:.1f} GiB of memory; load it on a larger machine"
        )
    blob = folder.read(ARRAYS_FILE, size=size)
    if hashlib.sha256(blob).hexdigest() != meta["arrays"]["sha256"]:
        raise CheckpointError(
            f"{arrays_file} is corrupted (checksum mismatch with {META_FILE}; {len(blob)} bytes as expected): "
            f"{_USE_ANOTHER}"
        )
    arrays = _read_npz(blob, specs, arrays_file)
    return Checkpoint(folder.path, meta, _decode(meta["state"], arrays))


def _read_npz(blob: bytes, specs: dict[str, _ArraySpec], arrays_file: Path) -> dict[str, np.ndarray]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise CheckpointError(f"{arrays_file} is not a zip archive of .npy arrays ({exc}): {_USE_ANOTHER}") from None
    names = [i.filename for i in infos]
    wanted = {f"{key}.npy": key for key in specs}
    extra = sorted(set(names) - set(wanted))
    missing = sorted(set(wanted) - set(names))
    if len(set(names)) != len(names) or extra or missing:
        dup = sorted({n for n in names if names.count(n) > 1})
        what = "; ".join(
            part
            for part in (
                f"members it should not hold: {', '.join(extra[:5])}" if extra else "",
                f"missing members: {', '.join(missing[:5])}" if missing else "",
                f"members twice: {', '.join(dup[:5])}" if dup else "",
            )
            if part
        )
        raise CheckpointError(f"{arrays_file} does not hold the arrays {META_FILE} lists ({what}): {_USE_ANOTHER}")
    arrays: dict[str, np.ndarray] = {}
    with zf:
        for info in infos:
            key = wanted[info.filename]
            arrays[key] = _read_member(zf, info, specs[key], f"{arrays_file}:{info.filename}")
    return arrays


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, spec: _ArraySpec, shown: str) -> np.ndarray:
    nbytes = spec.nbytes
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or info.compress_size != info.file_size:
        raise CheckpointError(f"{shown} is compressed or encrypted; rlcore stores arrays uncompressed: {_USE_ANOTHER}")
    if not nbytes <= info.file_size <= nbytes + _MAX_NPY_HEADER:
        raise CheckpointError(
            f"{shown} is {info.file_size} bytes; {spec.where} ({spec.dtype.str}{list(spec.shape)} in {META_FILE}) "
            f"needs {nbytes} plus a header: {_USE_ANOTHER}"
        )
    try:
        with zf.open(info) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ValueError(f"npy format version {version} is not one rlcore writes")
            if dtype.str != spec.dtype.str or tuple(shape) != spec.shape:
                raise CheckpointError(
                    f"{shown} is {dtype.str}{list(shape)} but {spec.where} is {spec.dtype.str}{list(spec.shape)} "
                    f"in {META_FILE}: {_USE_ANOTHER}"
                )
            if info.file_size - fp.tell() != nbytes:
                raise ValueError(f"{info.file_size - fp.tell()} data bytes, not {nbytes}")
            data = bytearray(nbytes)
            view, got = memoryview(data), 0
            while got < nbytes:
                n = fp.readinto(view[got:])  # type: ignore[attr-defined]
                if not n:
                    raise ValueError("it ends early")
                got += n
    except CheckpointError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError, SyntaxError) as exc:
        raise CheckpointError(f"{shown} is not a .npy array rlcore wrote ({exc}): {_USE_ANOTHER}") from None
    arr = np.frombuffer(data, dtype=spec.dtype).reshape(spec.shape, order="F" if fortran else "C")
    if spec.dtype.kind in "fc":
        bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise CheckpointError(
                f"{spec.where} ({shown}) holds {bad} NaN/inf value(s): a policy with non-finite weights would act "
                f"wrongly without an error, and rlcore never writes one; {_USE_ANOTHER} (an earlier one)"
            )
    elif spec.dtype.kind == "b" and arr.size and int(arr.view(np.uint8).max()) > 1:
        raise CheckpointError(f"{spec.where} ({shown}) holds bytes that are not booleans: {_USE_ANOTHER}")
    return arr


def _decode(value: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if _ARRAY_TAG in value:
            return arrays[value[_ARRAY_TAG]]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def checkpoint_dir_name(iteration: int) -> str:
    """The folder name :meth:`Trainer.save` uses for ``iteration`` (``checkpoint_000003``)."""
    return f"checkpoint_{iteration:06d}"
