"""A3C on CartPole-v1: rlcore against Stable-Baselines3 A2C, side by side in one run.

Usage: python benchmarks/a3c_cartpole.py [--seeds 0 1 2] [--framework torch] [--also-framework tf]
       [--a2c] [--workers 1 2] [--iterations 5] [--skip-solve] [--skip-throughput]

1. Time to 475 (the trainer's ``episode_reward_mean``): for each seed, one rlcore A3C run
   (``tuned_examples/cartpole-a3c.yaml``: 2 Ray workers) then one SB3 A2C run (RL-Zoo
   hyperparameters, ``../shared/peers/sb3_solve.py a2c --threads 1``, its fastest setting here),
   each in its own process (``benchmarks/common.py: time_to_solve``). Training time against
   training time: Ray's start, the actors' construction and imports are excluded on rlcore's side
   (``setup_s``), model construction on SB3's; whole-process time reported too. ``--a2c`` runs
   the same comparison for ``tuned_examples/cartpole-a2c.yaml`` (rlcore's synchronous A2C)
   against SB3 A2C again, seed by seed.
2. Throughput of the AsyncOptimizer: the tuned A3C config with ``num_workers`` 1 and 2 (seed 0),
   one warm-up ``train()`` then ``--iterations`` more, each setting in a fresh process: gradients
   applied per second, staleness (policy versions between the weights a gradient was computed on
   and the weights it was applied to: mean and max), the driver's wait / apply / weight-push time
   per gradient, and environment steps per second.

Results (every run) go to ``benchmarks/results/a3c_cartpole.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, log, run_json, time_to_solve

A3C_FILE = ROOT / "tuned_examples/cartpole-a3c.yaml"
A2C_FILE = ROOT / "tuned_examples/cartpole-a2c.yaml"


def ms_per_gradient(opt: dict[str, Any], prev: dict[str, Any], key: str, applied: int) -> float | None:
    """Milliseconds of the cumulative timer ``key`` per gradient applied between two optimizer stats."""
    if key not in opt or key not in prev or not applied:
        return None
    return round(1000 * (opt[key] - prev[key]) / applied, 3)


def throughput_child(num_workers: int, iterations: int, framework: str) -> dict[str, Any]:
    """In this process: the tuned A3C trainer on ``num_workers`` workers, per-iteration optimizer stats."""
    import yaml

    import rlcore

    (exp,) = yaml.safe_load(A3C_FILE.read_text()).values()
    config = dict(exp["config"], num_workers=num_workers, seed=0, framework=framework)
    trainer = rlcore.get_algorithm_class(exp["run"])(config, env=exp["env"])
    rows = []
    try:
        prev: dict[str, Any] = {}
        for it in range(iterations + 1):
            t0 = time.perf_counter()
            result = trainer.train()
            wall = time.perf_counter() - t0
            opt = result["info"]["optimizer"]
            if it == 0:  # warm-up: workers' first sample, first weight push
                prev = opt
                continue
            applied = opt["num_gradients_applied"] - prev["num_gradients_applied"]
            per_grad = {
                k: ms_per_gradient(opt, prev, k, applied) for k in ("wait_time_s", "apply_time_s", "push_time_s")
            }
            rows.append(
                {
                    "iteration": it,
                    "gradients": applied,
                    "wall_s": round(wall, 3),
                    "grads_per_s": round(applied / wall, 1),
                    "optimizer_grads_per_s": opt.get("grads_per_s"),
                    "staleness_mean": opt.get("staleness_mean"),
                    "staleness_max": opt.get("staleness_max"),
                    "wait_ms_per_grad": per_grad["wait_time_s"],
                    "apply_ms_per_grad": per_grad["apply_time_s"],
                    "push_ms_per_grad": per_grad["push_time_s"],
                    "env_steps_per_s": round(result["timesteps_this_iter"] / wall),
                    "episode_reward_mean": round(result["episode_reward_mean"], 1),
                }
            )
            prev = opt
        dropped = opt.get("num_gradients_dropped")
    finally:
        trainer.stop()

    def med(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.median(values) if values else None

    keys = ["grads_per_s", "staleness_mean", "staleness_max", "wait_ms_per_grad", "apply_ms_per_grad"]
    keys += ["push_ms_per_grad", "env_steps_per_s"]
    return {
        "num_workers": num_workers,
        "framework": framework,
        "grads_per_step": config.get("grads_per_step"),
        "rows_per_gradient": config.get("rollout_fragment_length", 0) * config.get("num_envs_per_worker", 1),
        "iterations": rows,
        "median": {k: med(k) for k in keys},
        "staleness_max_all": max((r["staleness_max"] for r in rows if r["staleness_max"] is not None), default=None),
        "num_gradients_dropped": dropped,
    }


def throughput(workers: list[int], iterations: int, framework: str) -> list[dict[str, Any]]:
    """Each worker count in its own process (a fresh Ray each time)."""
    out = []
    for n in workers:
        cmd = [sys.executable, __file__, "--throughput-child", str(n), "--iterations", str(iterations)]
        rows, _ = run_json([*cmd, "--framework", framework], timeout=900)
        out.append(rows[-1])
        log(f"throughput, {n} worker(s): {rows[-1]['median']}")
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--framework", default="torch")
    p.add_argument("--also-framework", nargs="*", default=[], help="rlcore again in these, seed by seed (tf)")
    p.add_argument("--a2c", action="store_true", help="also tuned_examples/cartpole-a2c.yaml against SB3 A2C")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts for the throughput part")
    p.add_argument("--iterations", type=int, default=5, help="measured train() calls per worker count")
    p.add_argument("--skip-solve", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--throughput-child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/a3c_cartpole.json"))
    a = p.parse_args()
    if a.throughput_child is not None:
        print(json.dumps(throughput_child(a.throughput_child, a.iterations, a.framework)), flush=True)
        return
    result: dict[str, Any] = {"framework": a.framework, "seeds": a.seeds}
    if not a.skip_throughput:
        result["throughput"] = throughput(a.workers, a.iterations, a.framework)
    if not a.skip_solve:
        sb3_args = ["--threads", "1"]
        result["solve"] = time_to_solve(
            A3C_FILE, "a2c", a.seeds, a.framework, sb3_args=sb3_args, also_frameworks=a.also_framework
        )
        if a.a2c:
            result["solve_a2c"] = time_to_solve(A2C_FILE, "a2c", a.seeds, a.framework, sb3_args=sb3_args)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    summary = {"throughput": [{"num_workers": t["num_workers"], **t["median"]} for t in result.get("throughput", [])]}
    for key in ("solve", "solve_a2c"):
        if key in result:
            summary[key] = result[key]["summary"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
