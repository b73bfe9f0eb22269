"""ES on CartPole-v1: rlcore against EvoTorch's PGPE, side by side in one run.

Usage: python benchmarks/es_cartpole.py [--seeds 0 1 2] [--rlcore-workers 2 1 0]
       [--evotorch-actors 0 2] [--framework numpy] [--cap-s 300]
       [--evotorch-python /work/bench-evotorch/bin/python] [--out benchmarks/results/es_cartpole.json]
       [--throughput-seconds 15 [--throughput-workers 1 2] [--throughput-batches 0 64]
        [--throughput-rounds 2] [--skip-solve]]

For each seed, every configuration runs once, each in its own process, the configurations of a
seed one after the other and rlcore's alternating with EvoTorch's, so both see the same machine
load (the 1-minute load average before each run is recorded):

- **rlcore ES** (``tuned_examples/cartpole-es.yaml``, the file's config with ``num_workers`` 2, 1
  and 0 (0: embedded, no Ray), ``seed`` s): ``train()`` until the three criteria below held (or,
  once one held at t seconds, until 2t + 10 s: the others are then reported unsolved), or the file's
  ``timesteps_total`` stop, or ``--cap-s`` seconds of training. Two times to 475, both the
  trainer's ``time_total_s`` (training time: Ray's start, the workers' construction and the
  imports are excluded, reported as ``setup_s``/``import_s``; the whole process as ``process_s``):

  * ``eval``: rlcore's criterion, the first result whose ``episode_reward_mean`` (evaluation
    episodes of the unperturbed policy, over ``metrics_smoothing_episodes``) is >= 475;
  * ``perturbed``: EvoTorch's criterion, the first result whose ``perturbed_reward_mean`` (this
    iteration's perturbed episodes: the population's mean) is >= 475;
  * ``perturbed50``: the same over as many episodes as EvoTorch's population: the mean of the
    perturbed episodes of the latest whole iterations that hold at least 50 of them (the tuned
    example runs 16 an iteration, EvoTorch 50 a generation).

- **EvoTorch 0.6.1 PGPE** (``../shared/peers/evotorch_solve.py --actors A --seed s``: linear
  policy, popsize 50, one episode per solution; A = 0 one process, A = 2 Ray actors). Its time
  is ``solve_wall_s``: the generations' time until the population mean is >= 475 (the problem's
  construction excluded; with actors, their start happens in the first generation, so it is
  included: EvoTorch starts them lazily).

Throughput: episodes/s and timesteps/s over each run up to its ``eval`` solve (the whole run when
unsolved): rlcore's episodes are the perturbed plus the evaluation ones, EvoTorch's are
generations x 50 (one episode per solution; its ``interactions`` are its timesteps). The
throughput figures come from learning runs, so the episodes lengthen as the policy improves:
compare timesteps/s between worker counts too.

``--throughput-seconds S`` adds a throughput part (first): rlcore ES at 1 and 2 workers, each
point its own process, the tuned config (seed 0; ``--throughput-batches`` sets
``episodes_per_batch``, 0 = the file's), one warm-up ``train()`` and then ``train()`` for S
seconds: episodes/s and timesteps/s over that window (the policy learns meanwhile: the episodes
grow to 500 steps), with the machine's busy cores over the window (``apex.LoadMeter``: this
run's processes and the others'); the points alternate 1 and 2 workers, ``--throughput-rounds``
times. Written to ``<out>_throughput.json``.

EvoTorch needs its own venv (``--evotorch-python``, default ``/work/bench-evotorch/bin/python``);
without it the peer is skipped with a line saying how to make it, and rlcore's rows still come.
Every run goes to ``--out``; a markdown table (medians over seeds; unsolved seeds count as +inf;
ratios to EvoTorch's best setting of this run) is printed on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import PEERS, ROOT, log, median_or_inf, run_json

ES_FILE = ROOT / "tuned_examples/cartpole-es.yaml"
EVOTORCH_SCRIPT = PEERS / "evotorch_solve.py"
EVOTORCH_PYTHON = "/work/bench-evotorch/bin/python"
EVOTORCH_POPSIZE = 50  # evotorch_solve.py: PGPE(popsize=50), GymNE's num_episodes 1 per solution
EVOTORCH_VENV_HINT = (
    "python3 -m venv /work/bench-evotorch && /work/bench-evotorch/bin/pip install -c constraints.txt "
    "--find-links /opt/wheels evotorch==0.6.1 'ray==2.60.*' 'gymnasium==1.4.*'"
)


def rlcore_child(
    experiment: Path, workers: int, seed: int, framework: str | None, threshold: float, cap_s: float
) -> dict[str, Any]:
    """In this process: the tuned ES trainer, trained until the three criteria held (or a cap)."""
    t_start = time.perf_counter()
    import yaml

    import rlcore

    (name, exp), *_ = yaml.safe_load(experiment.read_text()).items()
    config = dict(exp["config"], num_workers=workers, seed=seed)
    if framework:
        config["framework"] = framework
    cap_steps = exp.get("stop", {}).get("timesteps_total", 10_000_000)
    cls = rlcore.get_algorithm_class(exp["run"])
    import_s = time.perf_counter() - t_start
    t0 = time.perf_counter()
    trainer = cls(config, env=exp["env"])
    setup_s = time.perf_counter() - t0
    hit: dict[str, dict[str, Any] | None] = {"eval": None, "perturbed": None, "perturbed50": None}
    episodes = 0
    recent: list[tuple[int, float]] = []  # (perturbed episodes, their mean) of each iteration
    r: dict[str, Any] = {}
    try:
        while True:
            r = trainer.train()
            episodes += int(r.get("perturbed_episodes_this_iter", 0)) + int(r["episodes_this_iter"])
            point = {
                "wall_s": round(r["time_total_s"], 2),
                "steps": int(r["timesteps_total"]),
                "episodes": episodes,
                "iterations": int(r["training_iteration"]),
            }
            eval_mean = r["episode_reward_mean"]
            pert_mean = r.get("perturbed_reward_mean", math.nan)
            if hit["eval"] is None and eval_mean >= threshold:
                hit["eval"] = point
            if hit["perturbed"] is None and pert_mean >= threshold:
                hit["perturbed"] = point
            recent.append((int(r.get("perturbed_episodes_this_iter", 0)), float(pert_mean)))
            n50, sum50 = 0, 0.0
            for n, m in reversed(recent):  # the latest whole iterations holding >= POPULATION episodes
                if n50 >= EVOTORCH_POPSIZE:
                    break
                n50, sum50 = n50 + n, sum50 + n * m
            if hit["perturbed50"] is None and n50 >= EVOTORCH_POPSIZE and sum50 / n50 >= threshold:
                hit["perturbed50"] = point
            first = min((h["wall_s"] for h in hit.values() if h), default=None)
            waited_enough = first is not None and r["time_total_s"] > 2 * first + 10
            if all(hit.values()) or waited_enough or r["timesteps_total"] >= cap_steps or r["time_total_s"] >= cap_s:
                break
    finally:
        trainer.stop()
    end = hit["eval"] or {"wall_s": r["time_total_s"], "steps": r["timesteps_total"], "episodes": episodes}
    return {
        "lib": "rlcore",
        "config": f"rlcore ES, {workers} worker{'s' if workers != 1 else ''}",
        "experiment": name,
        "framework": config.get("framework", "numpy"),
        "workers": workers,
        "seed": seed,
        "solved": hit["eval"] is not None,
        "solve_wall_s": hit["eval"]["wall_s"] if hit["eval"] else None,
        "solve_steps": hit["eval"]["steps"] if hit["eval"] else None,
        "solve_episodes": hit["eval"]["episodes"] if hit["eval"] else None,
        "perturbed_solved": hit["perturbed"] is not None,
        "perturbed_solve_wall_s": hit["perturbed"]["wall_s"] if hit["perturbed"] else None,
        "perturbed_solve_steps": hit["perturbed"]["steps"] if hit["perturbed"] else None,
        "perturbed50_solved": hit["perturbed50"] is not None,
        "perturbed50_solve_wall_s": hit["perturbed50"]["wall_s"] if hit["perturbed50"] else None,
        "perturbed50_solve_steps": hit["perturbed50"]["steps"] if hit["perturbed50"] else None,
        "episodes_per_s": round(end["episodes"] / end["wall_s"], 1) if end["wall_s"] else None,
        "steps_per_s": round(end["steps"] / end["wall_s"]) if end["wall_s"] else None,
        "iterations": int(r.get("training_iteration", 0)),
        "steps_run": int(r.get("timesteps_total", 0)),
        "last_eval_mean": round(float(r.get("episode_reward_mean", math.nan)), 1),
        "last_perturbed_mean": round(float(r.get("perturbed_reward_mean", math.nan)), 1),
        "import_s": round(import_s, 2),
        "setup_s": round(setup_s, 2),
    }


def throughput_child(experiment: Path, workers: int, episodes_per_batch: int | None, seconds: float) -> dict[str, Any]:
    """In this process: the tuned ES trainer (seed 0), one warm-up ``train()``, then ``train()``
    for ``seconds``: episodes (perturbed + evaluation) and timesteps per second over that window,
    and the machine's load over it (``apex.LoadMeter``: busy cores, this run's, the others')."""
    import yaml
    from apex import LoadMeter

    import rlcore

    (_, exp), *_ = yaml.safe_load(experiment.read_text()).items()
    config = dict(exp["config"], num_workers=workers, seed=0)
    if episodes_per_batch:
        config["episodes_per_batch"] = episodes_per_batch
    trainer = rlcore.get_algorithm_class(exp["run"])(config, env=exp["env"])
    try:
        trainer.train()  # warm-up: the workers' first task
        meter = LoadMeter()
        meter.start()
        t0 = time.perf_counter()
        episodes = steps = iterations = 0
        lengths = []
        while time.perf_counter() - t0 < seconds:
            r = trainer.train()
            iterations += 1
            episodes += int(r.get("perturbed_episodes_this_iter", 0)) + int(r["episodes_this_iter"])
            steps += int(r["timesteps_this_iter"])
            lengths.append(float(r.get("perturbed_len_mean", math.nan)))
        wall = time.perf_counter() - t0
        load = meter.stop()
    finally:
        trainer.stop()
    return {
        "workers": workers,
        "episodes_per_batch": int(config["episodes_per_batch"]),
        "wall_s": round(wall, 2),
        "iterations": iterations,
        "episodes_per_s": round(episodes / wall, 1),
        "steps_per_s": round(steps / wall),
        "iterations_per_s": round(iterations / wall, 2),
        "perturbed_len_mean": round(statistics.fmean(lengths), 1) if lengths else None,
        "load": load,
    }


def throughput(
    experiment: Path, workers: list[int], batches: list[int | None], seconds: float, rounds: int
) -> list[dict[str, Any]]:
    """Each (batch, workers) point in its own process; the whole list ``rounds`` times."""
    out = []
    for rnd in range(rounds):
        for batch in batches:
            for n in workers:
                cmd = [sys.executable, __file__, "--throughput-child", str(n), "--experiment", str(experiment)]
                cmd += ["--throughput-seconds", str(seconds)]
                if batch:
                    cmd += ["--throughput-batches", str(batch)]
                rows, _ = run_json(cmd, timeout=seconds + 600)
                out.append(rows[-1] | {"round": rnd + 1})
                log(f"throughput round {rnd + 1}: {json.dumps(out[-1])}")
    return out


def throughput_markdown(points: list[dict[str, Any]]) -> str:
    """Throughput points as a table, and the 2-worker / 1-worker ratio per round and batch."""
    head = ["round", "episodes_per_batch", "workers", "episodes/s", "steps/s", "iterations/s"]
    head += ["perturbed episode length", "busy cores", "this run's cores", "other cores", "load"]
    lines = [row(*head), row(*["---:"] * len(head))]
    for p in points:
        ld = p["load"]
        cells = [p["round"], p["episodes_per_batch"], p["workers"], p["episodes_per_s"], f"{p['steps_per_s']:,}"]
        cells += [p["iterations_per_s"], p["perturbed_len_mean"], ld["busy_cores"], ld["own_cores"]]
        lines.append(row(*cells, ld["other_busy_cores"], ld["loadavg_1min"]))
    lines.append("")
    by = {(p["round"], p["episodes_per_batch"], p["workers"]): p for p in points}
    for (rnd, batch, n), p in by.items():
        one = by.get((rnd, batch, 1))
        if n == 2 and one:
            eps = p["episodes_per_s"] / one["episodes_per_s"]
            sps = p["steps_per_s"] / one["steps_per_s"]
            lines.append(
                f"- round {rnd}, episodes_per_batch {batch}: 2 / 1 workers episodes/s x{eps:.2f}, steps/s x{sps:.2f}"
            )
    return "\n".join(lines)


def evotorch_available(python: str) -> str | None:
    """None when EvoTorch's venv and peer script are usable, else why not (a line to print)."""
    if not EVOTORCH_SCRIPT.exists():
        return f"EvoTorch skipped: the peer script {EVOTORCH_SCRIPT} is missing"
    if not Path(python).exists():
        return f"EvoTorch skipped: no interpreter at {python}; make its venv: {EVOTORCH_VENV_HINT}"
    check = subprocess.run([python, "-c", "import evotorch, gymnasium"], capture_output=True, text=True)
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["?"])[-1]
        return f"EvoTorch skipped: {python} cannot import evotorch ({last}); make its venv: {EVOTORCH_VENV_HINT}"
    return None


def run_evotorch(python: str, actors: int, seed: int, cap_s: float) -> dict[str, Any]:
    """One EvoTorch run in its own process; its JSON line with this harness's derived fields."""
    cmd = [python, str(EVOTORCH_SCRIPT), "--seed", str(seed), "--actors", str(actors), "--cap-s", str(cap_s)]
    out, wall = run_json(cmd, timeout=cap_s + 600)
    row = out[-1]
    episodes = int(row["generations"]) * EVOTORCH_POPSIZE
    # unsolved: the loop ran until its cap (plus the generation in progress): the cap is the wall
    span = row["solve_wall_s"] if row["solved"] else cap_s
    return {
        **row,
        "lib": "evotorch",
        "config": f"EvoTorch PGPE, {'one process' if actors == 0 else f'{actors} Ray actors'}",
        "workers": actors,
        "solve_steps": row["interactions"] if row["solved"] else None,
        "solve_episodes": episodes if row["solved"] else None,
        "perturbed_solved": row["solved"],
        "perturbed_solve_wall_s": row["solve_wall_s"],
        "perturbed50_solved": row["solved"],
        "perturbed50_solve_wall_s": row["solve_wall_s"],
        "episodes_per_s": round(episodes / span, 1) if span else None,
        "steps_per_s": round(row["interactions"] / span) if span and row["interactions"] > 0 else None,
        "process_s": round(wall, 2),
    }


def run_rlcore(
    experiment: Path, workers: int, seed: int, framework: str | None, threshold: float, cap_s: float
) -> dict[str, Any]:
    """One rlcore run in its own process (a fresh Ray each time)."""
    cmd = [sys.executable, __file__, "--rlcore-child", str(workers), "--seeds", str(seed)]
    cmd += ["--experiment", str(experiment), "--threshold", str(threshold), "--cap-s", str(cap_s)]
    if framework:
        cmd += ["--framework", framework]
    out, wall = run_json(cmd, timeout=cap_s + 600)
    return out[-1] | {"process_s": round(wall, 2)}


def fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isinf(x)):
        return "—"
    return f"{x:,.{digits}f}" if digits else f"{x:,.0f}"


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per configuration: seeds solved, medians (unsolved = +inf for times), throughput medians."""
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    out = {}
    for name, rs in by.items():

        def med(key: str, rs: list[dict[str, Any]] = rs) -> float | None:
            vals = [r[key] for r in rs if r.get(key) is not None]
            return statistics.median(vals) if vals else None

        out[name] = {
            "lib": rs[0]["lib"],
            "workers": rs[0]["workers"],
            "seeds": len(rs),
            "solved": sum(bool(r["solved"]) for r in rs),
            "perturbed_solved": sum(bool(r["perturbed_solved"]) for r in rs),
            "median_solve_wall_s": median_or_inf([r["solve_wall_s"] for r in rs]),
            "median_perturbed_solve_wall_s": median_or_inf([r["perturbed_solve_wall_s"] for r in rs]),
            "perturbed50_solved": sum(bool(r["perturbed50_solved"]) for r in rs),
            "median_perturbed50_solve_wall_s": median_or_inf([r["perturbed50_solve_wall_s"] for r in rs]),
            "median_solve_steps": median_or_inf([r["solve_steps"] for r in rs]),
            "median_episodes_per_s": med("episodes_per_s"),
            "median_steps_per_s": med("steps_per_s"),
            "median_process_s": med("process_s"),
        }
    return out


def row(*cells: object) -> str:
    """One markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(runs: list[dict[str, Any]], summary: dict[str, dict[str, Any]]) -> str:
    """The per-seed table, the summary table with ratios to EvoTorch's best, the throughput ratios."""
    crit = ["eval", "perturbed (iteration)", "perturbed (>= 50 episodes)"]
    head = ["config", "seed", "load", *[f"time to 475, {c} s" for c in crit], "steps (eval)"]
    lines = [row(*head, "episodes/s", "steps/s", "process s"), row("---", *["---:"] * 9)]
    for r in sorted(runs, key=lambda r: (r["config"], r["seed"])):
        ev = fmt(r["solve_wall_s"]) if r["lib"] == "rlcore" else "n/a"
        cells = [r["config"], r["seed"], f"{r['load1']:.2f}", ev, fmt(r["perturbed_solve_wall_s"])]
        cells += [fmt(r["perturbed50_solve_wall_s"]), fmt(r["solve_steps"], 0)]
        cells += [fmt(r["episodes_per_s"], 1), fmt(r["steps_per_s"], 0), fmt(r["process_s"], 1)]
        lines.append(row(*cells))
    best_name, best = None, math.inf
    for k, v in summary.items():
        if v["lib"] == "evotorch" and v["median_perturbed_solve_wall_s"] < best:
            best_name, best = k, v["median_perturbed_solve_wall_s"]
    best_text = best_name or "none (EvoTorch not run, or no seed solved)"
    lines += ["", f"EvoTorch's best setting in this run: {best_text} ({fmt(best)} s)", ""]
    head = ["config", "seeds solved (eval / iteration / >= 50)", *[f"median s, {c}" for c in crit]]
    head += [f"ratio to EvoTorch's best, {c}" for c in crit]
    lines += [row(*head, "median steps (eval)", "episodes/s", "steps/s"), row("---", "---", *["---:"] * 9)]
    for k, v in summary.items():
        is_rl = v["lib"] == "rlcore"
        times = [v["median_solve_wall_s"] if is_rl else None]
        times += [v["median_perturbed_solve_wall_s"], v["median_perturbed50_solve_wall_s"]]
        ratios = [t / best if t is not None and math.isfinite(best) else None for t in times]
        solved = (
            f"{v['solved'] if is_rl else '—'} / {v['perturbed_solved']} / {v['perturbed50_solved']} of {v['seeds']}"
        )
        cells = [k, solved, *[fmt(t) for t in times], *[fmt(x) for x in ratios], fmt(v["median_solve_steps"], 0)]
        lines.append(row(*cells, fmt(v["median_episodes_per_s"], 1), fmt(v["median_steps_per_s"], 0)))
    lines.append("")
    for lib, single in (("rlcore", (1,)), ("evotorch", (0, 1))):
        one = next((v for v in summary.values() if v["lib"] == lib and v["workers"] in single), None)
        two = next((v for v in summary.values() if v["lib"] == lib and v["workers"] == 2), None)
        if one and two and one["median_episodes_per_s"] and two["median_episodes_per_s"]:
            eps = two["median_episodes_per_s"] / one["median_episodes_per_s"]
            sps = two["median_steps_per_s"] / one["median_steps_per_s"]
            lines.append(f"- {lib}: 2 workers / 1 worker: episodes/s x{eps:.2f}, steps/s x{sps:.2f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rlcore-workers", type=int, nargs="*", default=[2, 1, 0])
    p.add_argument("--evotorch-actors", type=int, nargs="*", default=[0, 2])
    p.add_argument("--framework", default=None, help="ES policy framework (default: the file's, numpy)")
    p.add_argument("--experiment", default=str(ES_FILE))
    p.add_argument("--threshold", type=float, default=475.0)
    p.add_argument("--cap-s", type=float, default=300.0, help="training seconds cap of one run")
    p.add_argument("--evotorch-python", default=os.environ.get("EVOTORCH_PYTHON", EVOTORCH_PYTHON))
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/es_cartpole.json"))
    p.add_argument("--skip-solve", action="store_true", help="only the throughput part")
    p.add_argument("--throughput-seconds", type=float, default=0.0, help="> 0: the throughput part, seconds a point")
    p.add_argument("--throughput-workers", type=int, nargs="+", default=[1, 2])
    p.add_argument(
        "--throughput-batches", type=int, nargs="+", default=[0], help="episodes_per_batch values (0: the file's)"
    )
    p.add_argument("--throughput-rounds", type=int, default=2)
    p.add_argument("--rlcore-child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--throughput-child", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    experiment = Path(a.experiment)
    if a.rlcore_child is not None:
        out = rlcore_child(experiment, a.rlcore_child, a.seeds[0], a.framework, a.threshold, a.cap_s)
        print(json.dumps(out), flush=True)
        return
    if a.throughput_child is not None:
        batch = a.throughput_batches[0] or None
        print(json.dumps(throughput_child(experiment, a.throughput_child, batch, a.throughput_seconds)), flush=True)
        return
    if not experiment.exists():
        sys.exit(f"{experiment} not found: the ES tuned example is what rlcore runs (--experiment names another)")
    if a.throughput_seconds > 0:
        batches = [b or None for b in a.throughput_batches]
        points = throughput(experiment, a.throughput_workers, batches, a.throughput_seconds, a.throughput_rounds)
        tp_out = Path(a.out).with_name(Path(a.out).stem + "_throughput.json")
        tp_out.parent.mkdir(parents=True, exist_ok=True)
        tp_out.write_text(json.dumps(points, indent=2))
        print(throughput_markdown(points))
        print()
    if a.skip_solve:
        return
    skip = evotorch_available(a.evotorch_python)
    if skip:
        log(skip)
    evo_actors = [] if skip else list(a.evotorch_actors)
    plan: list[tuple[str, int]] = []  # rlcore and EvoTorch alternating
    rl = list(a.rlcore_workers)
    for i in range(max(len(rl), len(evo_actors))):
        if i < len(rl):
            plan.append(("rlcore", rl[i]))
        if i < len(evo_actors):
            plan.append(("evotorch", evo_actors[i]))
    runs: list[dict[str, Any]] = []
    for seed in a.seeds:
        for lib, n in plan:
            load1 = os.getloadavg()[0]
            if lib == "rlcore":
                res = run_rlcore(experiment, n, seed, a.framework, a.threshold, a.cap_s)
            else:
                res = run_evotorch(a.evotorch_python, n, seed, a.cap_s)
            res["load1"] = round(load1, 2)
            runs.append(res)
            log(f"{res['config']} seed {seed} (load {load1:.2f}): {json.dumps(res)}")
    summary = summarize(runs)
    result = {"seeds": a.seeds, "skipped": skip, "runs": runs, "summary": summary}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2, default=str))
    if skip:
        print(skip)
    print(markdown(runs, summary))


if __name__ == "__main__":
    main()
