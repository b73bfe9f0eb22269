"""Pickle-free, atomic checkpoints: arrays in ``arrays.npz``, everything else in ``checkpoint.json``.

A checkpoint is a folder::

    checkpoint_000003/
        checkpoint.json   # format, algorithm, framework, env, config, counters, versions, state
        arrays.npz        # every numpy array of the state, loaded with allow_pickle=False

The state is any nesting of dicts, lists, JSON scalars and numpy arrays. Arrays are moved to
the ``.npz`` and replaced in the JSON by ``{"__ndarray__": key, "dtype": ..., "shape": ...}``.
``checkpoint.json`` records the size and SHA-256 of ``arrays.npz`` and a digest of its own
content, so a truncated archive or an edited JSON is refused with a clear error instead of
loading as valid but wrong.

Writing goes to a hidden temporary folder beside the target, every file is fsynced, and the
folder is then renamed into place: a crash or SIGKILL at any moment leaves either the whole
checkpoint or none (plus a hidden ``.tmp`` folder that the next save in that place removes).
Loading never unpickles, so an untrusted checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.errors import CheckpointError

FORMAT = "rlcore-checkpoint"
FORMAT_VERSION = 1
META_FILE = "checkpoint.json"
ARRAYS_FILE = "arrays.npz"
#: Folder names that :meth:`Trainer.save` gives its checkpoints (``checkpoint_000003``).
CHECKPOINT_DIR_RE = re.compile(r"^checkpoint_(\d+)$")
_ARRAY_TAG = "__ndarray__"
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


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: its folder, its metadata (JSON) and its decoded state (arrays inside)."""

    path: Path
    meta: dict[str, Any]
    state: dict[str, Any]

    @property
    def algorithm(self) -> str:
        """Registry name of the algorithm that wrote it (``"PPO"``)."""
        return str(self.meta["algorithm"])

    @property
    def framework(self) -> str:
        """Framework of the evaluators that wrote it (``"torch"``, ``"tf"``...)."""
        return str(self.meta["framework"])


# -- encoding -----------------------------------------------------------------------
def _encode(value: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise CheckpointError(f"cannot checkpoint an object array at {where}: only numeric arrays are saved")
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
            out[k] = _encode(v, arrays, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CheckpointError(
        f"cannot checkpoint {type(value).__name__} at {where}: state must hold dicts, lists, "
        "numbers, strings and numpy arrays only (no pickle)"
    )


def _decode(value: Any, arrays: Mapping[str, np.ndarray], where: str) -> Any:
    if isinstance(value, dict):
        if _ARRAY_TAG in value:
            key = value[_ARRAY_TAG]
            if key not in arrays:
                raise CheckpointError(f"{where} refers to array {key!r}, which {ARRAYS_FILE} does not hold")
            arr = arrays[key]
            if arr.dtype.str != value.get("dtype") or list(arr.shape) != value.get("shape"):
                raise CheckpointError(
                    f"array {key!r} at {where} is {arr.dtype.str}{list(arr.shape)} in {ARRAYS_FILE} but "
                    f"{value.get('dtype')}{value.get('shape')} in {META_FILE}"
                )
            return arr
        return {k: _decode(v, arrays, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


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


def remove_stale_temporaries(parent: Path) -> list[Path]:
    """Clean up after saves that were killed in ``parent``: delete their ``.tmp`` folders, and put
    back an ``.old`` folder (the checkpoint being replaced) whose target is missing; returns what went."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    for entry in sorted(parent.iterdir()):
        m = _TMP_RE.match(entry.name)
        if not m or not entry.is_dir() or _pid_alive(int(m["pid"])):
            continue
        target = parent / m["name"]
        if m["kind"] == "old" and not target.exists():
            os.replace(entry, target)  # the replacement never landed: the old checkpoint comes back
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_checkpoint(path: str | os.PathLike[str], state: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write ``state`` (+ ``meta`` fields) as a checkpoint folder at ``path``, atomically.

    ``meta`` must hold ``algorithm``, ``framework``, ``env``, ``config``, ``iteration``,
    ``timesteps_total`` and ``versions``; ``format``, ``arrays``, ``state`` and ``digest`` are
    filled in here. An existing checkpoint at ``path`` is replaced. Returns ``path``.
    """
    target = Path(path).absolute()
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot write a checkpoint in {parent}: {exc}") from None
    remove_stale_temporaries(parent)

    arrays: dict[str, np.ndarray] = {}
    encoded = _encode(dict(state), arrays, "state")
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    blob = buf.getvalue()
    full: dict[str, Any] = {
        **meta,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "arrays": {"file": ARRAYS_FILE, "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()},
        "state": encoded,
    }
    full["digest"] = _digest(full)
    try:
        text = json.dumps(full, indent=1, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata is not JSON-serializable: {exc}") from None

    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise CheckpointError(f"cannot write a checkpoint in {parent}: {exc}") from None
    old: Path | None = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the checkpoint from other users
        for name, data in ((ARRAYS_FILE, blob), (META_FILE, text.encode())):
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if target.exists():
            # Replace in two renames; a save killed in between leaves the old checkpoint hidden as
            # .<name>.old-*, which remove_stale_temporaries puts back.
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=parent))
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(parent)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not target.exists():
            os.replace(old, target)
            old = None
        if isinstance(exc, OSError):
            raise CheckpointError(f"cannot write the checkpoint {target}: {exc}") from None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


# -- reading ------------------------------------------------------------------------
def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """The checkpoint folder that ``path`` names: itself, its folder (when given the JSON file),
    or the highest-numbered ``checkpoint_*`` folder below it (a trial folder, or Tune's)."""
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise CheckpointError(f"checkpoint path {str(p)!r} does not exist")
    if p.is_file():
        if p.name in (META_FILE, ARRAYS_FILE):
            return p.parent
        raise CheckpointError(f"{str(p)!r} is a file; give the checkpoint folder (the one holding {META_FILE})")
    if (p / META_FILE).exists():
        return p
    found = []
    for meta in p.rglob(META_FILE):
        m = CHECKPOINT_DIR_RE.match(meta.parent.name)
        if m and not any(part.startswith(".") for part in meta.relative_to(p).parts):
            found.append((int(m[1]), str(meta.parent), meta.parent))
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
    while folder != root and CHECKPOINT_DIR_RE.match(folder.name):
        folder = folder.parent
    return folder


def read_checkpoint_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated ``checkpoint.json`` of the checkpoint that ``path`` names (arrays not loaded)."""
    return _read_meta(find_checkpoint(path))


def _read_meta(folder: Path) -> dict[str, Any]:
    meta_file = folder / META_FILE
    try:
        text = meta_file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {meta_file}: {exc}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{meta_file} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): "
            "the checkpoint is corrupted; use another checkpoint"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_file} is not an rlcore checkpoint (its 'format' is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_file} has format_version {meta.get('format_version')!r}; this rlcore reads version "
            f"{FORMAT_VERSION}: use the rlcore version that wrote it ({meta.get('versions', {}).get('rlcore')})"
        )
    for key, kind in REQUIRED_META.items():
        if key not in meta:
            raise CheckpointError(f"{meta_file} lacks the field {key!r}: the checkpoint is corrupted")
        if not isinstance(meta[key], kind) or (kind is int and isinstance(meta[key], bool)):
            raise CheckpointError(f"{meta_file}: field {key!r} has the wrong type ({type(meta[key]).__name__})")
    if _digest(meta) != meta["digest"]:
        raise CheckpointError(
            f"{meta_file} was modified after it was written (its digest does not match its content): "
            "refusing to load a checkpoint that may be wrong; use another checkpoint"
        )
    return meta


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Load and verify the checkpoint that ``path`` names; raises :class:`CheckpointError` on any damage."""
    folder = find_checkpoint(path)
    meta = _read_meta(folder)
    info = meta["arrays"]
    arrays_file = folder / str(info.get("file", ARRAYS_FILE))
    try:
        blob = arrays_file.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {arrays_file}: {exc}") from None
    if len(blob) != info.get("size") or hashlib.sha256(blob).hexdigest() != info.get("sha256"):
        raise CheckpointError(
            f"{arrays_file} is corrupted or truncated ({len(blob)} bytes, expected {info.get('size')}; "
            "checksum mismatch): use another checkpoint"
        )
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{arrays_file} cannot be read as .npz: {exc}") from None
    state = _decode(meta["state"], arrays, "state")
    return Checkpoint(folder, meta, state)


def checkpoint_dir_name(iteration: int) -> str:
    """The folder name :meth:`Trainer.save` uses for ``iteration`` (``checkpoint_000003``)."""
    return f"checkpoint_{iteration:06d}"
