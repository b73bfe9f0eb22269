"""ES's shared noise table: the memory of each Ray worker, and a control that copies the table.

Usage: python benchmarks/es_noise_memory.py [--noise-size 25000000] [--workers 2] [--iterations 5]
       [--framework numpy] [--experiment tuned_examples/cartpole-es.yaml]
       [--out benchmarks/results/es_noise_memory.json]

One process builds ES (the config of ``tuned_examples/cartpole-es.yaml`` when it exists, else a
small CartPole config) with ``num_workers`` 2 and ``noise_size`` 25,000,000 float32 values (100
MB; the table is put in Ray's object store once by the trainer) and reads the memory of every
worker process (pids from ``trainer.workers.foreach_worker(lambda ev: os.getpid(), local=False)``)
and of the driver, at four points:

1. ``setup``: the trainer built, before any ES task ran;
2. ``trained``: after ``--iterations`` ``train()`` calls (each worker ran ES tasks, reading the
   slices of the table its noise indices point at);
3. ``read_all``: after every worker read the WHOLE table through the same object-store reference
   the tasks get (``np.sum`` over the zero-copy view, in a task): every page of the table is now
   resident in each worker, so this is the most a worker can map of it;
4. ``control``: after every worker made a private copy of it (``np.array(noise)``, kept alive on
   the evaluator): what a worker that copied the table (or got it pickled into each task) would
   hold.

Per process and point, from ``/proc/<pid>/status``: ``VmRSS`` (RSS), ``RssAnon`` (private
anonymous memory: the heap, a copied table), ``RssFile``, ``RssShmem`` (shared memory pages this
process has touched: Ray's object store in /dev/shm), and from ``/proc/<pid>/smaps_rollup``: USS
(``Private_Clean + Private_Dirty``: what the process alone holds) and PSS (each shared page
divided among the processes that map it). Sharing shows as: from ``setup`` to ``read_all`` a
worker's RssShmem grows by about the table's size while its RssAnon and USS do not, and the
table's PSS is split between the processes that read it; the control's RssAnon and USS grow by
the table's size in every worker. Prints a markdown table (MiB: the 100 MB table is 95.4 MiB)
and writes every figure to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, log

ES_FILE = ROOT / "tuned_examples/cartpole-es.yaml"
FALLBACK_CONFIG: dict[str, Any] = {
    "episodes_per_batch": 40,
    "train_batch_size": 2000,
    "num_envs_per_worker": 8,
    "model": {"fcnet_hiddens": []},
}
STATUS_KEYS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


def memory(pid: int) -> dict[str, float]:
    """MiB of one process: VmRSS, RssAnon, RssFile, RssShmem (/proc/<pid>/status), USS, PSS,
    Pss_Anon, Pss_Shmem (/proc/<pid>/smaps_rollup; absent fields are left out)."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in STATUS_KEYS:
            out[key] = int(value.split()[0]) / 1024
    try:
        rollup = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, value = line.partition(":")
            rollup[key.strip()] = int(value.split()[0]) / 1024
        out["USS"] = rollup["Private_Clean"] + rollup["Private_Dirty"]
        for key in ("Pss", "Pss_Anon", "Pss_Shmem"):
            if key in rollup:
                out["PSS" if key == "Pss" else key] = rollup[key]
    except (OSError, KeyError):
        pass
    return {k: round(v, 1) for k, v in out.items()}


def worker_pid(evaluator: Any) -> int:
    return os.getpid()


def read_all(evaluator: Any, noise: Any) -> dict[str, Any]:
    """In a worker: read every value of the table through the object-store view (no copy)."""
    import numpy as np

    arr = np.asarray(noise)
    return {
        "sum": float(arr.sum(dtype=np.float64)),
        "writeable": bool(arr.flags.writeable),
        "owndata": bool(arr.flags.owndata),
    }


def copy_table(evaluator: Any, noise: Any) -> int:
    """In a worker (the control): a private copy of the table, kept alive on the evaluator."""
    import numpy as np

    evaluator._bench_noise_copy = np.array(noise)  # the control's whole point
    evaluator._bench_noise_copy.sum()  # every page written and read
    return int(evaluator._bench_noise_copy.nbytes)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--noise-size", type=int, default=25_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--framework", default=None)
    p.add_argument("--experiment", default=str(ES_FILE), help="a tuned example whose config is used")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/es_noise_memory.json"))
    a = p.parse_args()
    import yaml

    import rlcore

    experiment = Path(a.experiment)
    if experiment.exists():
        (_, exp), *_ = yaml.safe_load(experiment.read_text()).items()
        config, env, source = dict(exp["config"]), exp["env"], a.experiment
    else:
        config, env, source = dict(FALLBACK_CONFIG), "CartPole-v1", "FALLBACK_CONFIG (no tuned example)"
    config.update(num_workers=a.workers, noise_size=a.noise_size, seed=0)
    if a.framework:
        config["framework"] = a.framework
    load1 = os.getloadavg()[0]
    t0 = time.perf_counter()
    trainer = rlcore.get_algorithm_class("ES")(config, env=env)
    setup_s = time.perf_counter() - t0
    points: dict[str, dict[str, dict[str, float]]] = {}
    try:
        pids = trainer.workers.foreach_worker(worker_pid, local=False)
        procs = {"driver": os.getpid(), **{f"worker {i + 1}": pid for i, pid in enumerate(pids)}}
        noise_ref = getattr(trainer, "noise_ref", None)
        if noise_ref is None:
            noise_ref = trainer.optimizer.noise_ref

        def snap(name: str) -> None:
            time.sleep(0.5)
            points[name] = {role: memory(pid) for role, pid in procs.items()}
            log(f"{name}: {json.dumps(points[name])}")

        snap("setup")
        results = []
        for _ in range(a.iterations):
            r = trainer.train()
            results.append(
                {
                    "eval_mean": r["episode_reward_mean"],
                    "perturbed_mean": r.get("perturbed_reward_mean"),
                    "steps": r["timesteps_total"],
                }
            )
        snap("trained")
        views = trainer.workers.foreach_worker(read_all, noise_ref, local=False)
        snap("read_all")
        copied = trainer.workers.foreach_worker(copy_table, noise_ref, local=False)
        snap("control")
    finally:
        trainer.stop()
    table_mb = a.noise_size * 4 / 2**20
    out = {
        "noise_size": a.noise_size,
        "table_mb": round(table_mb, 1),
        "config_from": source,
        "workers": a.workers,
        "iterations": results,
        "setup_s": round(setup_s, 2),
        "load1": round(load1, 2),
        "pids": procs,
        "worker_views": views,
        "control_copied_bytes": copied,
        "points": points,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2))
    keys = ["VmRSS", "RssAnon", "RssShmem", "RssFile", "USS", "PSS", "Pss_Shmem"]
    size = f"{a.noise_size:,} float32 = {a.noise_size * 4 / 1e6:.0f} MB = {table_mb:.1f} MiB"
    print(f"noise table {size}; config {source}; load {load1:.2f}")
    print(f"workers' view of the table (read_all): {views}")
    print()
    print("| process | point | " + " | ".join(f"{k} MiB" for k in keys) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in keys) + " |")
    for role in procs:
        for name, snapshot in points.items():
            m = snapshot[role]
            print(f"| {role} | {name} | " + " | ".join(f"{m.get(k, float('nan')):,.1f}" for k in keys) + " |")
    print()
    print("Growth of each worker from setup (MiB):")
    for role in procs:
        if role == "driver":
            continue
        base = points["setup"][role]
        deltas = []
        for name in ("trained", "read_all", "control"):
            m = points[name][role]
            deltas.append(
                f"{name}: RssAnon {m['RssAnon'] - base['RssAnon']:+.1f}, "
                f"RssShmem {m['RssShmem'] - base['RssShmem']:+.1f}"
                + (f", USS {m['USS'] - base['USS']:+.1f}" if "USS" in m and "USS" in base else "")
            )
        print(f"- {role}: " + "; ".join(deltas))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
