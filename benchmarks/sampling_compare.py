"""Sampling throughput side by side: two checkouts of rlcore (old vs new), and variants of one.

Usage:
    python benchmarks/sampling_compare.py --compare-to /tmp/bench_old [--repeats 7] [--seconds 3]
        [--only versions batch_mode composite] [--out benchmarks/results/sampling_compare.json]

Every measurement is a fresh subprocess (this file with ``--child``) that builds the PPO torch
rollout evaluator (``rlcore.testing.build_evaluator``, the evaluator a trainer builds; the tuned
[64, 64] model of ``tuned_examples/cartpole-ppo.yaml`` at its random initialization, GAE
included), calls ``sample()`` for 0.5 s to warm up, then counts ``batch.count`` for
``--seconds`` in 10 windows and prints one JSON line: env steps per CPU-second of the process
(``time.process_time()``: the headline on a shared host, where waits for a core would dominate
wall-clock rates), env steps per wall-clock second, the best window's wall-clock rate, and where
``rlcore``, ``rl_torch`` and ``rl_algos`` were imported from. The two sides of a comparison run
back to back, their order alternating from repeat to repeat (ABBA), so both see the same machine
load; the ratio is taken per repeat, per metric, and the median of ratios reported.

Comparisons (``--only`` picks some):

* ``versions``: the checkout at ``--compare-to`` (its ``core/src`` and ``plugins/*/src`` first
  on ``PYTHONPATH``; the child prints ``rlcore.__file__`` / ``rl_torch.__file__`` so the parent
  checks they come from there) against this checkout, on CartPole-v1 with
  ``num_envs`` 1 x ``rollout_fragment_length`` 200 and 8 x 32.
* ``batch_mode``: this checkout, ``complete_episodes`` against ``truncate_episodes``, same configs.
* ``composite``: this checkout, ``TestTupleTarget-v0`` (``Tuple(Discrete(2), Box(-1, 1, (2,)))``
  actions, ``rlcore.testing.register_test_envs``) against the same env with a ``Box(-1, 1, (3,))``
  action space (the same flat action size: the Box's first coordinate's sign is the choice).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = [(1, 200), (8, 32)]  # (num_envs, rollout_fragment_length)


# --------------------------------------------------------------------------- child


def _box_target_creator(env_config: dict[str, Any] | None = None) -> Any:
    """TestTupleTarget-v0's env with a ``Box(-1, 1, (3,))`` action space: choice = (a[0] > 0), point = a[1:]."""
    import numpy as np
    from gymnasium import spaces

    from rlcore.testing.envs import TupleTargetEnv

    class BoxTargetEnv(TupleTargetEnv):
        def __init__(self, env_config: dict[str, Any] | None = None) -> None:
            super().__init__(env_config)
            self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

        def _parts(self, action: Any) -> tuple[Any, Any]:
            return int(action[0] > 0), action[1:]

    return BoxTargetEnv(env_config)


def child(env: str, num_envs: int, fragment: int, batch_mode: str, seconds: float, seed: int) -> None:
    """Measure one evaluator's ``sample()`` throughput; print one JSON line."""
    import yaml

    import rl_algos
    import rl_torch
    import rlcore
    from rlcore.envs import get_env_creator
    from rlcore.testing import build_evaluator

    (exp,) = yaml.safe_load((ROOT / "tuned_examples/cartpole-ppo.yaml").read_text()).values()
    config: dict[str, Any] = {
        "seed": seed,
        "num_envs": num_envs,
        "rollout_fragment_length": fragment,
        "model": exp["config"]["model"],
    }
    if batch_mode != "default":  # the old checkout has no batch_mode key: leave it out there
        config["batch_mode"] = batch_mode
    if env == "TestTupleTarget-v0":
        from rlcore.testing import register_test_envs

        register_test_envs()
        creator = get_env_creator(env)
    elif env == "BoxTarget":
        creator = _box_target_creator
    else:
        creator = get_env_creator(env)
    ev = build_evaluator("PPO", "torch", creator, config)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.5:  # warm up
        ev.sample()
    # Windows of seconds / 10: wall-clock and CPU time (this process's) of each. On a shared host
    # other processes take the cores for a while; the CPU-time rate does not count those waits.
    windows = []
    for _ in range(10):
        steps, calls = 0, 0
        w0, c0 = time.perf_counter(), time.process_time()
        while time.perf_counter() - w0 < seconds / 10:
            steps += ev.sample().count
            calls += 1
        windows.append((steps, calls, time.perf_counter() - w0, time.process_time() - c0))
    steps = sum(w[0] for w in windows)
    wall = sum(w[2] for w in windows)
    cpu = sum(w[3] for w in windows)
    print(
        json.dumps(
            {
                "steps_per_cpu_s": steps / cpu,
                "steps_per_s": steps / wall,
                "best_window_steps_per_s": max(w[0] / w[2] for w in windows),
                "steps": steps,
                "sample_calls": sum(w[1] for w in windows),
                "wall_s": wall,
                "cpu_s": cpu,
                "rlcore": rlcore.__file__,
                "rl_torch": rl_torch.__file__,
                "rl_algos": rl_algos.__file__,
            }
        ),
        flush=True,
    )


# --------------------------------------------------------------------------- parent


def checkout_pythonpath(checkout: Path) -> str:
    """``core/src`` and every ``plugins/*/src`` of ``checkout``, for ``PYTHONPATH`` (first on sys.path)."""
    paths = [checkout / "core/src", *sorted((checkout / "plugins").glob("*/src"))]
    return os.pathsep.join(str(p) for p in paths)


def run_child(side: dict[str, Any], args: argparse.Namespace, seed: int) -> dict[str, Any]:
    env = dict(os.environ)
    if side.get("checkout"):
        env["PYTHONPATH"] = checkout_pythonpath(Path(side["checkout"])) + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--env",
        side["env"],
        "--num-envs",
        str(side["num_envs"]),
        "--fragment",
        str(side["fragment"]),
        "--batch-mode",
        side["batch_mode"],
        "--seconds",
        str(args.seconds),
        "--seed",
        str(seed),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    row = json.loads([x for x in out.stdout.splitlines() if x.startswith("{")][-1])
    expect = Path(side["checkout"] or ROOT).resolve()
    for mod in ("rlcore", "rl_torch", "rl_algos"):
        if not Path(row[mod]).resolve().is_relative_to(expect):
            raise RuntimeError(f"{side['name']}: {mod} imported from {row[mod]}, not from {expect}")
    return row


METRICS = ("steps_per_cpu_s", "steps_per_s", "best_window_steps_per_s")


def compare(name: str, a: dict[str, Any], b: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """``b`` against ``a`` (ratio b/a), ``args.repeats`` repeats in ABBA order; per metric the
    median of each side and the median (min, max) of the per-repeat ratios."""
    rows: list[dict[str, Any]] = []
    an, bn = a["name"], b["name"]
    for r in range(args.repeats):
        order = [a, b] if r % 2 == 0 else [b, a]
        got = {s["name"]: run_child(s, args, seed=r) for s in order}
        row: dict[str, Any] = {"repeat": r, "first": order[0]["name"], "loadavg": os.getloadavg()[0]}
        for m in METRICS:
            row[m] = {an: round(got[an][m]), bn: round(got[bn][m]), "ratio": round(got[bn][m] / got[an][m], 4)}
        row["imports"] = {s["name"]: [got[s["name"]][k] for k in ("rlcore", "rl_torch", "rl_algos")] for s in order}
        rows.append(row)
        c, w = row["steps_per_cpu_s"], row["steps_per_s"]
        print(
            f"{name} r{r}: per CPU-s {an} {c[an]:,} {bn} {c[bn]:,} ratio {c['ratio']:.3f};"
            f" wall {an} {w[an]:,} {bn} {w[bn]:,} ratio {w['ratio']:.3f}",
            file=sys.stderr,
            flush=True,
        )
    out: dict[str, Any] = {"comparison": name, "a": a, "b": b, "rows": rows}
    for m in METRICS:
        ratios = [x[m]["ratio"] for x in rows]
        out[m] = {
            f"median_{an}": statistics.median(x[m][an] for x in rows),
            f"median_{bn}": statistics.median(x[m][bn] for x in rows),
            "median_ratio": statistics.median(ratios),
            "min_ratio": min(ratios),
            "max_ratio": max(ratios),
        }
    return out


def side(name: str, env: str, n: int, frag: int, batch_mode: str = "default", checkout: str | None = None) -> dict:
    return {"name": name, "env": env, "num_envs": n, "fragment": frag, "batch_mode": batch_mode, "checkout": checkout}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compare-to", help="the old checkout (a git worktree) for the 'versions' comparison")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--only", nargs="+", default=["versions", "batch_mode", "composite"])
    p.add_argument("--out", default=str(HERE / "results/sampling_compare.json"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--env", default="CartPole-v1", help=argparse.SUPPRESS)
    p.add_argument("--num-envs", type=int, default=8, help=argparse.SUPPRESS)
    p.add_argument("--fragment", type=int, default=32, help=argparse.SUPPRESS)
    p.add_argument("--batch-mode", default="default", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.env, a.num_envs, a.fragment, a.batch_mode, a.seconds, a.seed)
        return
    if "versions" in a.only and not a.compare_to:
        p.error("the 'versions' comparison needs --compare-to PATH (the old checkout)")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_start": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "new_head": head.stdout.strip(),
        "compare_to": a.compare_to,
        "repeats": a.repeats,
        "seconds": a.seconds,
        "comparisons": [],
    }
    if a.compare_to:
        old = subprocess.run(
            ["git", "-C", a.compare_to, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        result["old_head"] = old.stdout.strip()
    todo = []
    for n, frag in CONFIGS:
        tag = f"CartPole-v1 num_envs {n} x fragment {frag}"
        if "versions" in a.only:
            todo.append(
                (
                    f"new/old, {tag}",
                    side("old", "CartPole-v1", n, frag, checkout=a.compare_to),
                    side("new", "CartPole-v1", n, frag),
                )
            )
        if "batch_mode" in a.only:
            todo.append(
                (
                    f"complete/truncate, {tag}",
                    side("truncate", "CartPole-v1", n, frag, "truncate_episodes"),
                    side("complete", "CartPole-v1", n, frag, "complete_episodes"),
                )
            )
        if "composite" in a.only:
            todo.append(
                (
                    f"Tuple/Box actions, TargetEnv num_envs {n} x fragment {frag}",
                    side("box3", "BoxTarget", n, frag),
                    side("tuple", "TestTupleTarget-v0", n, frag),
                )
            )
    for name, x, y in todo:
        result["comparisons"].append(compare(name, x, y, a))
        result["loadavg_end"] = os.getloadavg()
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=2))
    for c in result["comparisons"]:
        an, bn = c["a"]["name"], c["b"]["name"]
        for m in METRICS:
            x = c[m]
            print(
                f"{c['comparison']} [{m}]: {an} {x[f'median_{an}']:,.0f}  {bn} {x[f'median_{bn}']:,.0f}"
                f"  median ratio {x['median_ratio']:.3f} (range {x['min_ratio']:.3f}-{x['max_ratio']:.3f})"
            )
    print(f"load average start {result['loadavg_start']}, end {result['loadavg_end']}")


if __name__ == "__main__":
    main()
