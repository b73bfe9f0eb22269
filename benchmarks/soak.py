"""Memory soak: PPO with Ray workers for a long while, the RSS of every process sampled.

Usage: python benchmarks/soak.py [--minutes 30] [--num-workers 2] [--interval 10]
       [--warmup-minutes 5] [--csv benchmarks/results/soak.csv] [--task-events]

Runs ``rlcore train --run PPO --env CartPole-v1 --num-workers N --json`` for ``--minutes`` of
training (stop ``time_total_s``) and, every ``--interval`` seconds, the resident set size (RSS)
of the driver (the ``rlcore`` process), each remote worker (``ray::RolloutEvaluator``) and Ray's
daemons (``gcs_server``, ``raylet``, the rest summed as ``ray-other``), found among the driver's
descendants (psutil if installed, else ``/proc``). Writes every sample to a CSV
(``elapsed_s,role,pid,name,rss_bytes,training_iteration``) and prints, per process, the growth per hour: the slope of a
least-squares line through its samples after the warm-up. Also prints how many iterations and
timesteps were trained (the machine's load changes the rate, so compare growth per iteration too).

``--task-events`` runs with ``RLCORE_RAY_TASK_EVENTS=1`` (Ray's task events on, as a bare
``ray.init()`` has them) to compare the GCS's growth.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------------ processes and their RSS
def _children_proc(pid: int) -> list[int]:
    """All descendants of ``pid`` from /proc (no psutil)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents[ppid].append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _name_and_rss_proc(pid: int) -> tuple[str, int] | None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    rss_kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return cmdline, rss_kb * 1024


def processes(root: int) -> list[tuple[int, str, int]]:
    """``(pid, cmdline, rss_bytes)`` of ``root`` and all its descendants."""
    try:
        import psutil
    except ImportError:
        psutil = None
    out = []
    if psutil is not None:
        try:
            top = psutil.Process(root)
            procs = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for p in procs:
            try:
                out.append((p.pid, " ".join(p.cmdline()) or p.name(), p.memory_info().rss))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return out
    for pid in [root, *_children_proc(root)]:
        got = _name_and_rss_proc(pid)
        if got is not None:
            out.append((pid, *got))
    return out


def title(cmdline: str) -> str:
    """A short name: ``ray::RolloutEvaluator``, ``gcs_server``..."""
    name = cmdline.split(" ", 1)[0].rsplit("/", 1)[-1]
    if name.startswith("ray::"):  # "ray::RolloutEvaluator.sample" while it runs a call
        name = name.split(".", 1)[0]
    return name[:32]


def role(pid: int, cmdline: str, driver: int) -> str:
    """``driver``, ``worker`` (an actor: ``ray::RolloutEvaluator``), ``gcs_server``, ``raylet`` or
    ``ray-other`` (idle workers, Ray's agents, the log monitor: summed)."""
    if pid == driver:
        return "driver"
    if "gcs_server" in cmdline:
        return "gcs_server"
    if "/raylet" in cmdline.split(" ", 1)[0] or cmdline.startswith("raylet"):
        return "raylet"
    if cmdline.startswith("ray::") and "IDLE" not in cmdline and not title(cmdline).endswith("Agent"):
        return "worker"
    return "ray-other"


# ------------------------------------------------------------------ the fit
def slope_per_hour(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of ``(seconds, bytes)`` in MB per hour (0 with fewer than 3 points)."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(r for _, r in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mx) * (r - my) for t, r in points)
    return cov / var * 3600 / 1e6


def report(path: Path, warmup_s: float) -> None:
    """Print, per process of the CSV at ``path``, its RSS and its growth per hour after ``warmup_s``."""
    series: dict[tuple[str, int, str], list[tuple[float, int]]] = defaultdict(list)
    iterations: list[tuple[float, int]] = []
    with path.open() as fh:
        for row in csv.DictReader(fh):
            r, name = row["role"], title(row["name"])
            if r == "worker" and name.endswith("Agent"):  # Ray's agents (CSVs of an earlier version)
                r = "ray-other"
            series[(r, int(row["pid"]), name)].append((float(row["elapsed_s"]), int(row["rss_bytes"])))
            iterations.append((float(row["elapsed_s"]), int(row["training_iteration"])))
    fit_iters = [it for t, it in iterations if t >= warmup_s]
    per_hour_iters = 0.0
    if fit_iters and iterations[-1][0] > warmup_s:
        per_hour_iters = (fit_iters[-1] - fit_iters[0]) / ((iterations[-1][0] - warmup_s) / 3600)
    print(f"growth fitted after a {warmup_s / 60:g} min warm-up; {per_hour_iters:.0f} iterations/hour meanwhile")
    header = ("process", "pid", "name", "RSS first MB", "after warm-up", "RSS last MB", "MB/hour", "KB/iter")
    print("{:<12} {:>8} {:<24} {:>13} {:>14} {:>12} {:>9} {:>8}".format(*header))
    for (r, pid, name), points in sorted(series.items()):
        fit = [p for p in points if p[0] >= warmup_s]
        warm = fit[0][1] / 1e6 if fit else float("nan")
        slope = slope_per_hour(fit)
        per_iter = slope * 1e3 / per_hour_iters if per_hour_iters else float("nan")
        row = (r, pid, name, points[0][1] / 1e6, warm, points[-1][1] / 1e6, slope, per_iter)
        print("{:<12} {:>8} {:<24} {:>13.1f} {:>14.1f} {:>12.1f} {:>9.1f} {:>8.2f}".format(*row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="training time (stop time_total_s)")
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup-minutes", type=float, default=None, help="left out of the fit (default: min(5, minutes/5))"
    )
    parser.add_argument("--csv", type=Path, default=HERE / "results" / "soak.csv")
    parser.add_argument("--task-events", action="store_true", help="RLCORE_RAY_TASK_EVENTS=1 (Ray's task events on)")
    parser.add_argument("--report", action="store_true", help="only print the growth from an earlier run's --csv")
    args = parser.parse_args()
    warmup_s = 60 * (args.warmup_minutes if args.warmup_minutes is not None else min(5.0, args.minutes / 5))
    if args.report:
        report(args.csv, warmup_s)
        return 0

    env = dict(os.environ)
    if args.task_events:
        env["RLCORE_RAY_TASK_EVENTS"] = "1"
    local_dir = tempfile.mkdtemp(prefix="rlcore_soak_")
    rlcore = str(Path(sys.executable).with_name("rlcore"))
    cmd = [
        rlcore, "train", "--run", "PPO", "--env", "CartPole-v1", "--num-workers", str(args.num_workers), "--json",
        "--stop", json.dumps({"time_total_s": args.minutes * 60}), "--local-dir", local_dir,
    ]  # fmt: skip
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    results: list[dict] = []
    bad_lines: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError:
                bad_lines.append(line.rstrip())

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    stderr_tail: list[str] = []
    threading.Thread(
        target=lambda: stderr_tail.extend(proc.stderr or []), daemon=True
    ).start()  # drained so that the driver never blocks on a full pipe

    args.csv.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with args.csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["elapsed_s", "role", "pid", "name", "rss_bytes", "training_iteration"])
        while proc.poll() is None:
            elapsed = time.monotonic() - t0
            iteration = results[-1]["training_iteration"] if results else 0
            others = 0
            for pid, cmdline, rss in processes(proc.pid):
                r = role(pid, cmdline, proc.pid)
                if r == "ray-other":
                    others += rss
                    continue
                writer.writerow([f"{elapsed:.1f}", r, pid, title(cmdline), rss, iteration])
            if others:
                writer.writerow([f"{elapsed:.1f}", "ray-other", 0, "(summed)", others, iteration])
            fh.flush()
            time.sleep(max(0.0, args.interval - (time.monotonic() - t0 - elapsed)))
    reader.join(timeout=10)
    if proc.returncode != 0:
        print(f"rlcore train exited with {proc.returncode}:\n{''.join(stderr_tail[-40:])}", file=sys.stderr)
        return 1

    last = results[-1] if results else {}
    print(
        f"trained {last.get('training_iteration', 0)} iterations, {last.get('timesteps_total', 0)} timesteps in "
        f"{last.get('time_total_s', 0):.0f} s; stdout lines that were not JSON: {len(bad_lines)}"
    )
    print(f"samples every {args.interval:g} s in {args.csv}")
    report(args.csv, warmup_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
