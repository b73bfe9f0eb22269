"""Shared pieces of the benchmark harness: the peers' environment, subprocess runs, medians.

The peers (Stable-Baselines3 ...) live in their own virtual environment,
``benchmarks/.venv-peers``, made on first use with the project's constraints file (torch pinned
to the CPU build), so they never share packages with rlcore. Runs alternate between rlcore and
the peer, seed by seed, so both see the same machine load; results are reported as ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared"
PEERS = SHARED / "peers"
PEER_VENV = HERE / ".venv-peers"
PEER_PACKAGES = {
    "sb3": ["stable-baselines3==2.9.2", "torch==2.13.0", "gymnasium==1.4.*"],
    "cpprb": ["cpprb"],
}


def peer_python(packages: list[str]) -> str:
    """The peers' interpreter, creating ``benchmarks/.venv-peers`` with ``packages`` if needed."""
    py = PEER_VENV / "bin" / "python"
    if not py.exists():
        venv.create(PEER_VENV, with_pip=True)
    check = subprocess.run(
        [str(py), "-m", "pip", "show", "-q", *[p.split("=")[0] for p in packages]], capture_output=True
    )
    if check.returncode != 0:
        links = ["--find-links", "/opt/wheels"] if Path("/opt/wheels").is_dir() else []
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), *links, *packages], check=True
        )
    return str(py)


def run_json(
    cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800
) -> tuple[list[dict[str, Any]], float]:
    """Run a command that prints JSON lines; returns the parsed lines and the whole-process seconds."""
    import time

    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    rows = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows, wall


def median_or_inf(values: list[float | None]) -> float:
    """Median where None (unsolved) counts as +inf, like the peers' scripts."""
    return statistics.median([float("inf") if v is None else v for v in values])


def log(msg: str) -> None:
    """Progress to stderr."""
    print(msg, file=sys.stderr, flush=True)


def time_to_solve(
    experiment: Path,
    sb3_algo: str,
    seeds: list[int],
    framework: str,
    *,
    threshold: float = 475.0,
    cap: int | None = None,
    peer_cap: int | None = None,
    sb3_args: list[str] | None = None,
    also_frameworks: list[str] | None = None,
) -> dict[str, Any]:
    """Alternate rlcore (``rlcore_solve.py`` on a tuned example) and SB3 (``sb3_solve.py``) seed by seed.

    Each run is its own process; ``cap`` limits rlcore's timesteps (default: the experiment's
    stop), ``peer_cap`` the peer's (default: ``cap``). Returns every run (with ``process_s``, the whole-process
    seconds) and per-library medians (unsolved seeds count as +inf) plus the time ratio.
    ``also_frameworks``: rlcore runs again in each of them, right after its first run of each seed
    (rows ``rlcore_<framework>``, ratios to the first framework's median).
    """
    sb3 = peer_python(PEER_PACKAGES["sb3"])
    extra = list(also_frameworks or [])
    rows: dict[str, list[dict[str, Any]]] = {"rlcore": [], **{f"rlcore_{f}": [] for f in extra}, "sb3": []}
    caps = ["--cap", str(cap)] if cap else []
    peer_caps = ["--cap", str(peer_cap)] if peer_cap else caps
    for seed in seeds:
        cmd = [sys.executable, str(HERE / "rlcore_solve.py"), str(experiment), "--seed", str(seed)]
        out, wall = run_json([*cmd, "--framework", framework, "--threshold", str(threshold), *caps])
        rows["rlcore"].append(out[-1] | {"process_s": round(wall, 2)})
        log(f"rlcore seed {seed}: {rows['rlcore'][-1]}")
        for other in extra:
            out, wall = run_json([*cmd, "--framework", other, "--threshold", str(threshold), *caps])
            rows[f"rlcore_{other}"].append(out[-1] | {"process_s": round(wall, 2)})
            log(f"rlcore ({other}) seed {seed}: {rows[f'rlcore_{other}'][-1]}")
        cmd = [sb3, str(PEERS / "sb3_solve.py"), sb3_algo, "--seeds", str(seed), "--threshold", str(threshold)]
        out, wall = run_json([*cmd, *peer_caps, *(sb3_args or [])])
        rows["sb3"].append(next(x for x in out if x.get("seed") == seed) | {"process_s": round(wall, 2)})
        log(f"sb3 seed {seed}: {rows['sb3'][-1]}")
    summary: dict[str, Any] = {}
    for lib, rs in rows.items():
        summary[lib] = {
            "solved": sum(bool(r["solved"]) for r in rs),
            "seeds": len(rs),
            "median_solve_wall_s": median_or_inf([r["solve_wall_s"] for r in rs]),
            "median_solve_steps": median_or_inf([r["solve_steps"] for r in rs]),
            "median_hit195_wall_s": median_or_inf([r.get("hit195_wall_s") for r in rs]),
            "median_process_s": median_or_inf([r["process_s"] for r in rs]),
        }
    summary["ratio_rlcore_over_sb3"] = summary["rlcore"]["median_solve_wall_s"] / summary["sb3"]["median_solve_wall_s"]
    for other in extra:
        first = summary["rlcore"]["median_solve_wall_s"]
        summary[f"ratio_{other}_over_{framework}"] = summary[f"rlcore_{other}"]["median_solve_wall_s"] / first
    return {"runs": rows, "summary": summary}
