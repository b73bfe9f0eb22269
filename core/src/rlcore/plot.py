"""Learning curves from training results: ``rlcore plot RESULTS_DIR``.

Every training run (a *trial*) writes ``result.json``, one JSON object per line, into its own
folder: ``<results_dir>/<experiment>/<trial>/result.json``. Ray Tune trial folders use the same
format. This module finds those files, reads one curve per trial and draws them into a PNG with
one panel per env (the env and the config come from the trial's ``params.json``), each line
labelled with what differs between the trials of its panel (``lr=0.001, num_sgd_iter=8``), with
matplotlib (an optional dependency: ``pip install -c constraints.txt './core[plot]'``).
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.errors import ConfigError, PluginUnavailableError, did_you_mean
from rlcore.results import flatten

__all__ = [
    "PARAMS_FILE",
    "RESULT_FILE",
    "config_labels",
    "find_result_files",
    "load_curve",
    "plot_results",
    "trial_params",
]

#: Name of the JSON-lines file each trial writes its results to.
RESULT_FILE = "result.json"

_HOW_TO_GET_RESULTS = "results are written there by `rlcore train ... --local-dir DIR` (or by Ray Tune)"
_MAX_LISTED_KEYS = 40
_MAX_LABEL = 48


def find_result_files(path: str | os.PathLike[str]) -> list[Path]:
    """Every ``result.json`` under ``path`` (a trial, an experiment or a root folder), sorted; hidden folders skipped.

    ``path`` may also name a result file itself. Raises :class:`ConfigError` when ``path`` does not exist
    or holds no result file.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise ConfigError(f"results folder {str(root)!r} does not exist; {_HOW_TO_GET_RESULTS}.")
    if root.is_file():
        return [root]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if RESULT_FILE in filenames:
            found.append(Path(dirpath) / RESULT_FILE)
    if not found:
        raise ConfigError(
            f"no {RESULT_FILE} found under {str(root)!r} (searched it and all its sub-folders); {_HOW_TO_GET_RESULTS}."
        )
    return sorted(found)


def _records(result_file: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a results file; a malformed line raises unless it is the last one (half-written)."""
    pending: ConfigError | None = None  # error of the latest bad line: fatal only if another line follows
    try:
        with result_file.open(encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if pending is not None:
                    raise pending
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    pending = ConfigError(
                        f"{result_file}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno}); "
                        f"each line of {RESULT_FILE} must be one JSON object."
                    )
                    continue
                if not isinstance(record, dict):
                    pending = ConfigError(
                        f"{result_file}:{lineno}: expected a JSON object, got {type(record).__name__}; "
                        f"each line of {RESULT_FILE} must be one JSON object."
                    )
                    continue
                yield record
    except OSError as exc:
        raise ConfigError(f"cannot read {result_file}: {exc.strerror or exc}") from exc
    # A bad last line is what a killed (or still running) process leaves behind: skipped.


_MISSING = object()


def _lookup(record: Mapping[str, Any], key: str) -> Any:
    """``record[key]``, or a nested value for a ``"/"``-separated key such as ``info/num_steps_trained``."""
    if key in record:
        return record[key]
    value: Any = record
    for part in key.split("/"):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unknown_key_error(result_file: Path, which: str, key: str, available: set[str]) -> ConfigError:
    # Top-level keys first: nested ones (info/..., config/...) can be many.
    ordered = sorted(available, key=lambda k: (k.count("/"), k))
    listed = ", ".join(ordered[:_MAX_LISTED_KEYS])
    if len(ordered) > _MAX_LISTED_KEYS:
        listed += f", ... ({len(ordered) - _MAX_LISTED_KEYS} more)"
    return ConfigError(
        f"{which} key {key!r} is not in any line of {result_file}.{did_you_mean(key, ordered)} "
        f"Numeric keys there: {listed or '(none)'}."
    )


def load_curve(
    result_file: str | os.PathLike[str], x: str = "timesteps_total", y: str = "episode_reward_mean"
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(x, y)`` points of one results file, as float arrays in file order.

    Lines whose ``x`` or ``y`` is missing, null or not finite are skipped (``episode_reward_mean`` is null
    until the first episode ends), as are blank lines and a half-written last line. Nested values are named
    with ``"/"`` (``info/num_steps_trained``). Raises :class:`ConfigError` for a malformed line (with its line
    number) and for a key that no line has (listing the numeric keys, with the nearest one suggested).
    """
    path = Path(result_file)
    xs: list[float] = []
    ys: list[float] = []
    seen_x = seen_y = False
    available: set[str] = set()
    for record in _records(path):
        available.update(k for k, v in flatten(record).items() if _is_number(v) or v is None)
        xv, yv = _lookup(record, x), _lookup(record, y)
        seen_x = seen_x or xv is not _MISSING
        seen_y = seen_y or yv is not _MISSING
        if _is_number(xv) and _is_number(yv) and math.isfinite(xv) and math.isfinite(yv):
            xs.append(float(xv))
            ys.append(float(yv))
    if available:  # an empty file (a trial that has not reported yet) just has no points
        if not seen_x:
            raise _unknown_key_error(path, "x", x, available)
        if not seen_y:
            raise _unknown_key_error(path, "y", y, available)
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def _label(result_file: Path, root: Path) -> str:
    """The trial folder relative to ``root``, shortened in the middle when long."""
    trial = result_file.parent
    try:
        rel = trial.relative_to(root).as_posix()
    except ValueError:
        rel = trial.name
    if rel in ("", "."):
        rel = trial.resolve().name
    return _shorten(rel, _MAX_LABEL)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[-(limit - 1 - half) :]}"


#: Name of the file in a trial folder that holds the trial's config (rlcore's and Ray Tune's).
PARAMS_FILE = "params.json"
_MAX_CONFIG_LABEL = 90


def trial_params(result_file: str | os.PathLike[str]) -> dict[str, Any]:
    """The config of the trial whose ``result.json`` is ``result_file``: its ``params.json`` (rlcore's
    holds the config plus ``env`` and ``run``; Ray Tune's the trial's config), or failing that the
    ``config`` of its first result line; ``{}`` when neither is there or readable."""
    folder = Path(result_file).parent
    try:
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        params = None
    if not isinstance(params, dict):
        params = {}
        try:
            first = next(_records(Path(result_file)), None)
        except ConfigError:
            first = None
        if first is not None and isinstance(first.get("config"), dict):
            params = dict(first["config"])
    return params


def _env_of(params: Mapping[str, Any]) -> str | None:
    env = params.get("env")
    return env if isinstance(env, str) and env else None


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        if "/" in value and len(value) > 40:  # a path (restored_from): its last two parts tell it apart
            return "…/" + "/".join(value.rstrip("/").split("/")[-2:])
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def config_labels(params: list[Mapping[str, Any]], fallbacks: list[str]) -> list[str]:
    """One label per trial: ``key=value`` for each config key (nested keys as ``model/fcnet_hiddens``)
    whose value differs between the trials, in key order (``"lr=0.001, num_sgd_iter=8"``).

    A trial with nothing that tells it apart (a single trial, or configs alike) gets its fallback (its
    folder); two trials whose labels would still be the same get their folders appended.
    """
    flat = [flatten(dict(p)) for p in params]
    keys = sorted({k for f in flat for k in f})
    missing = object()
    differing = [k for k in keys if len({json.dumps(f.get(k, missing), default=str, sort_keys=True) for f in flat}) > 1]
    labels = []
    for f, fallback in zip(flat, fallbacks, strict=True):
        parts = [f"{k}={_format_value(f[k]) if k in f else '(unset)'}" for k in differing]
        labels.append(_shorten(", ".join(parts), _MAX_CONFIG_LABEL) if parts else fallback)
    alike = {label for label in labels if labels.count(label) > 1}
    return [
        f"{label} ({fb})" if label in alike and label != fb else label
        for label, fb in zip(labels, fallbacks, strict=True)
    ]


def plot_results(
    results_dir: str | os.PathLike[str],
    output: str | os.PathLike[str] = "curve.png",
    x: str = "timesteps_total",
    y: str = "episode_reward_mean",
    title: str | None = None,
) -> Path:
    """Draw one ``y``-against-``x`` line per trial under ``results_dir`` into ``output``; return its path.

    One panel per env (each with its own y axis), the env read from the trial's ``params.json``;
    each line is labelled with the config values that differ between the trials of its panel
    (:func:`config_labels`), or with its folder when nothing differs.

    The image format follows the suffix of ``output`` (PNG by default); the file is written to a temporary
    name and renamed, so a reader never sees half an image. Needs matplotlib
    (``pip install -c constraints.txt './core[plot]'`` from the checkout).
    Raises :class:`ConfigError` when nothing can be plotted.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PluginUnavailableError(
            "`rlcore plot` needs matplotlib, which is not installed; fix: pip install -c constraints.txt './core[plot]'"
        ) from exc

    files = find_result_files(results_dir)
    root = Path(results_dir).expanduser()
    if root.is_file():
        root = root.parent.parent
    curves = [(f, trial_params(f), _label(f, root), *load_curve(f, x, y)) for f in files]
    drawable = [c for c in curves if len(c[3])]
    if not drawable:
        raise ConfigError(
            f"none of the {len(files)} {RESULT_FILE} file(s) under {str(root)!r} has a line with numeric "
            f"{x!r} and {y!r} (yet); nothing to plot."
        )
    # One panel per env: CartPole's returns and Pendulum's do not share a y axis.
    panels: dict[str | None, list[tuple[Any, ...]]] = {}
    for curve in drawable:
        panels.setdefault(_env_of(curve[1]), []).append(curve)
    order = sorted(panels, key=lambda env: (env is None, env or ""))

    out = Path(output).expanduser()
    if out.is_dir():
        out = out / "curve.png"
    fmt = (out.suffix.lstrip(".") or "png").lower()
    ncols = 1 if len(order) == 1 else 2
    nrows = math.ceil(len(order) / ncols)
    fig = Figure(figsize=(8 * ncols, 5 * nrows), dpi=100, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    supported = canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ConfigError(
            f"cannot write a {fmt!r} image ({out}).{did_you_mean(fmt, supported)} "
            f"Supported suffixes: {', '.join(sorted(supported))}."
        )
    heading = title if title is not None else root.resolve().name
    for i, env in enumerate(order):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        trials = panels[env]
        labels = config_labels([c[1] for c in trials], [c[2] for c in trials])
        for label, (_, _, _, xs, ys) in zip(labels, trials, strict=True):
            ax.plot(xs, ys, label=label, marker="o" if len(xs) == 1 else None)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", ncols=2 if len(trials) > 12 else 1)
        if len(order) == 1 and env is None:
            ax.set_title(heading)
        else:
            ax.set_title(env if env is not None else "(env unknown)")
    if len(order) > 1 or order[0] is not None:
        fig.suptitle(heading)

    out.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its 0600 mode would stick to the image; os.open applies the umask as usual.
    tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
