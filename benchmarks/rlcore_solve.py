"""Time-to-solve for one rlcore run, printed as JSON lines (the counterpart of the peers' scripts).

Usage: python rlcore_solve.py tuned_examples/cartpole-ppo.yaml --seed 0 [--threshold 475] [--framework tf]

``solve_wall_s`` is the trainer's ``time_total_s`` at the first result whose
``episode_reward_mean`` (the iteration's episodes, at least the last 100) reaches the threshold: training time
only, the trainer's construction excluded (reported as ``setup_s``, imports as ``import_s``).
"""

from __future__ import annotations

import argparse
import json
import time

T_START = time.perf_counter()

import yaml  # noqa: E402

import rlcore  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("experiment", help="a tuned_examples YAML file with one experiment")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=float, default=475.0)
    p.add_argument("--framework", default=None)
    p.add_argument("--cap", type=int, default=None, help="timesteps cap (default: the file's stop)")
    a = p.parse_args()
    with open(a.experiment) as f:
        (name, exp), *_ = yaml.safe_load(f).items()
    config = dict(exp["config"], seed=a.seed)
    if a.framework:
        config["framework"] = a.framework
    cap = a.cap or exp["stop"].get("timesteps_total", 1_000_000)
    trainer_cls = rlcore.get_algorithm_class(exp["run"])
    t_import = time.perf_counter() - T_START
    t0 = time.perf_counter()
    trainer = trainer_cls(config, env=exp["env"])
    setup_s = time.perf_counter() - t0
    solved, r, hit195 = False, {}, None
    while True:
        r = trainer.train()
        mean = r["episode_reward_mean"]
        if hit195 is None and mean >= 195:
            hit195 = (r["timesteps_total"], r["time_total_s"])
        if mean >= a.threshold:
            solved = True
            break
        if r["timesteps_total"] >= cap:
            break
    trainer.stop()
    print(
        json.dumps(
            {
                "lib": "rlcore",
                "experiment": name,
                "framework": config.get("framework", "torch"),
                "seed": a.seed,
                "solved": solved,
                "solve_steps": r["timesteps_total"] if solved else None,
                "solve_wall_s": round(r["time_total_s"], 2) if solved else None,
                "hit195_steps": hit195[0] if hit195 else None,
                "hit195_wall_s": round(hit195[1], 2) if hit195 else None,
                "steps_run": r["timesteps_total"],
                "iterations": r["training_iteration"],
                "import_s": round(t_import, 2),
                "setup_s": round(setup_s, 3),
                "last_mean100": round(r["episode_reward_mean"], 1),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
