"""PPO on CartPole-v1: rlcore against Stable-Baselines3, side by side in one run.

Usage: python benchmarks/ppo_cartpole.py [--seeds 0 1 2 3 4] [--framework torch] [--skip-sampling]

1. Time to 475 (mean of the last 100 training episodes): for each seed, one rlcore run
   (tuned_examples/cartpole-ppo.yaml, embedded) then one SB3 run (RL-Zoo hyperparameters,
   ``../shared/peers/sb3_solve.py ppo --threads 1``, its fastest setting here), each in its own
   process. Training time against training time (construction and imports excluded on both
   sides); whole-process time reported too.
2. Sampling throughput: the PPO evaluator's ``sample()`` with ``num_envs=8`` (env steps/s)
   against the raw ``SyncVectorEnv`` of 8 CartPole-v1 stepped with random actions
   (``../shared/peers/env_speed.py``), in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import PEER_PACKAGES, PEERS, ROOT, log, median_or_inf, peer_python, run_json


def time_to_solve(seeds: list[int], framework: str) -> dict:
    sb3 = peer_python(PEER_PACKAGES["sb3"])
    rows = {"rlcore": [], "sb3": []}
    for seed in seeds:
        cmd = [sys.executable, str(ROOT / "benchmarks/rlcore_solve.py"), str(ROOT / "tuned_examples/cartpole-ppo.yaml")]
        out, wall = run_json([*cmd, "--seed", str(seed), "--framework", framework])
        r = out[-1] | {"process_s": round(wall, 2)}
        rows["rlcore"].append(r)
        log(f"rlcore seed {seed}: {r}")
        out, wall = run_json([sb3, str(PEERS / "sb3_solve.py"), "ppo", "--seeds", str(seed), "--threads", "1"])
        r = next(x for x in out if x.get("seed") == seed) | {"process_s": round(wall, 2)}
        rows["sb3"].append(r)
        log(f"sb3 seed {seed}: {r}")
    summary = {}
    for lib, rs in rows.items():
        summary[lib] = {
            "solved": sum(r["solved"] for r in rs),
            "seeds": len(rs),
            "median_solve_wall_s": median_or_inf([r["solve_wall_s"] for r in rs]),
            "median_solve_steps": median_or_inf([r["solve_steps"] for r in rs]),
            "median_process_s": median_or_inf([r["process_s"] for r in rs]),
        }
    summary["ratio_rlcore_over_sb3"] = summary["rlcore"]["median_solve_wall_s"] / summary["sb3"]["median_solve_wall_s"]
    return {"runs": rows, "summary": summary}


def sampling(framework: str, seconds: float = 5.0) -> dict:
    import yaml

    from rlcore.envs import get_env_creator
    from rlcore.registration import get_evaluator_class

    (exp,) = yaml.safe_load((ROOT / "tuned_examples/cartpole-ppo.yaml").read_text()).values()
    cls = get_evaluator_class("PPO", framework)
    config = {"seed": 0, "num_envs": 8, "rollout_fragment_length": 256, "model": exp["config"]["model"]}
    ev = cls(get_env_creator("CartPole-v1"), config, 0)
    ev.sample()  # warm up
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        steps += ev.sample().count
    rate = steps / (time.perf_counter() - t0)
    out, _ = run_json([sys.executable, str(PEERS / "env_speed.py"), "--seconds", str(seconds)])
    raw = next(r for r in out if r.get("mode") == "SyncVectorEnv x8")["steps_per_s"]
    single = next(r for r in out if r.get("mode") == "single")["steps_per_s"]
    return {
        "rlcore_sample_steps_per_s": round(rate),
        "raw_vec8_steps_per_s": raw,
        "raw_single_steps_per_s": single,
        "ratio_to_raw_vec8": round(rate / raw, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--framework", default="torch")
    p.add_argument("--skip-solve", action="store_true")
    p.add_argument("--skip-sampling", action="store_true")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/ppo_cartpole.json"))
    a = p.parse_args()
    result = {"framework": a.framework, "seeds": a.seeds}
    if not a.skip_sampling:
        result["sampling"] = sampling(a.framework)
        log(f"sampling: {result['sampling']}")
    if not a.skip_solve:
        result["solve"] = time_to_solve(a.seeds, a.framework)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "solve"} | {"solve": result.get("solve", {}).get("summary")},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
