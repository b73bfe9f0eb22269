"""PPO on CartPole-v1: rlcore against Stable-Baselines3, side by side in one run.

Usage: python benchmarks/ppo_cartpole.py [--seeds 0 1 2 3 4] [--framework torch] [--also-framework tf]
       [--skip-sampling] [--skip-solve]

1. Time to 475 (mean of the last 100 training episodes): for each seed, one rlcore run
   (tuned_examples/cartpole-ppo.yaml, embedded) then one SB3 run (RL-Zoo hyperparameters,
   ``../shared/peers/sb3_solve.py ppo --threads 1``, its fastest setting here), each in its own
   process. Training time against training time (construction and imports excluded on both
   sides); whole-process time reported too.
2. Sampling throughput: the PPO rollout evaluator's ``sample()`` with ``num_envs=8`` (env steps/s)
   against the raw ``SyncVectorEnv`` of 8 CartPole-v1 stepped with random actions
   (``../shared/peers/env_speed.py``'s own ``bench_vec``), interleaved in rounds in one process.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import PEERS, ROOT, log, time_to_solve


def sampling(framework: str, rounds: int = 5, seconds: float = 2.0) -> dict:
    """Interleaved rounds in one process: rlcore ``sample()`` for ``seconds``, then the peer
    script's own ``bench_vec`` (raw SyncVectorEnv x8, random actions) for ``seconds``; the ratio
    is taken per round and the median reported (the host drifts within a run)."""
    import runpy
    import statistics

    import yaml

    from rlcore.envs import get_env_creator
    from rlcore.testing import build_evaluator

    bench_vec = runpy.run_path(str(PEERS / "env_speed.py"))["bench_vec"]
    (exp,) = yaml.safe_load((ROOT / "tuned_examples/cartpole-ppo.yaml").read_text()).values()
    config = {"seed": 0, "num_envs": 8, "rollout_fragment_length": 256, "model": exp["config"]["model"]}
    ev = build_evaluator("PPO", framework, get_env_creator("CartPole-v1"), config)  # what the trainer builds
    ev.sample()  # warm up
    rows = []
    for r in range(rounds):
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            steps += ev.sample().count
        rate = steps / (time.perf_counter() - t0)
        raw_steps, raw_s = bench_vec(seconds, r)
        rows.append(
            {"rlcore": round(rate), "raw_vec8": round(raw_steps / raw_s), "ratio": round(rate * raw_s / raw_steps, 3)}
        )
    return {
        "rounds": rows,
        "rlcore_sample_steps_per_s": statistics.median(x["rlcore"] for x in rows),
        "raw_vec8_steps_per_s": statistics.median(x["raw_vec8"] for x in rows),
        "ratio_to_raw_vec8": statistics.median(x["ratio"] for x in rows),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--framework", default="torch")
    p.add_argument("--also-framework", nargs="*", default=[], help="rlcore again in these, seed by seed (tf)")
    p.add_argument("--skip-solve", action="store_true")
    p.add_argument("--skip-sampling", action="store_true")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/ppo_cartpole.json"))
    a = p.parse_args()
    result = {"framework": a.framework, "seeds": a.seeds}
    if not a.skip_sampling:
        result["sampling"] = sampling(a.framework)
        log(f"sampling: {result['sampling']}")
    if not a.skip_solve:
        experiment = ROOT / "tuned_examples/cartpole-ppo.yaml"
        result["solve"] = time_to_solve(
            experiment, "ppo", a.seeds, a.framework, sb3_args=["--threads", "1"], also_frameworks=a.also_framework
        )
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
