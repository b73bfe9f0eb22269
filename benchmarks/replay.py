"""Prioritized replay throughput and memory: rlcore against a per-element Python tree and cpprb.

The loop is ``../shared/peers/replay_bench.py``'s: fill a 1M buffer with CartPole-shaped
transitions (obs f32[4], act int64, rew f32, next_obs f32[4], done f32: 48 raw bytes), then for
``--seconds``: add 512, sample 512 (alpha 0.6, beta 0.4), update the 512 priorities. Each
measurement runs in a fresh process (so RSS growth is the buffer's own), rounds alternate
rlcore / Python tree / cpprb so all see the same machine load, and results are given as ratios.

- rlcore: ``rl_optimizers.replay.PrioritizedReplayBuffer`` (this venv);
- pytree: ``PyTree`` from ``replay_bench.py`` (this venv, loaded from its path);
- cpprb: ``replay_bench.py cpprb`` in the peers' venv (``benchmarks/.venv-peers``).

Usage: .venv/bin/python benchmarks/replay.py [--rounds 2] [--seconds 5] [--capacity 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import PEER_PACKAGES, PEERS, ROOT, log, peer_python, run_json

BENCH = PEERS / "replay_bench.py"


def _peer_module() -> Any:
    spec = importlib.util.spec_from_file_location("replay_bench", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class RLCoreBuffer:
    """replay_bench's add/sample/update interface over rlcore's PrioritizedReplayBuffer."""

    def __init__(self, cap: int) -> None:
        from rl_optimizers.replay import PrioritizedReplayBuffer

        self.b = PrioritizedReplayBuffer(cap, alpha=0.6, beta=0.4, seed=0)

    def add(self, d: dict[str, Any]) -> None:
        from rlcore.sample_batch import SampleBatch

        self.b.add(SampleBatch(d))

    def sample(self, n: int) -> Any:
        return self.b.sample(n, beta=0.4)["batch_indexes"]

    def update(self, idx: Any, p: Any) -> None:
        self.b.update_priorities(idx, p)


def worker(impl: str, capacity: int, seconds: float) -> dict[str, Any]:
    """replay_bench.main's measurement, for an implementation living in this venv."""
    import numpy as np

    rb = _peer_module()
    rng = np.random.default_rng(0)
    np.random.seed(0)
    batches = [rb.batch(rng) for _ in range(16)]
    if impl == "rlcore":  # imports before the first RSS reading: it measures the buffer only
        import rl_optimizers.replay  # noqa: F401
        import rlcore.sample_batch  # noqa: F401
    r0 = rb.rss_mb()
    buf = RLCoreBuffer(capacity) if impl == "rlcore" else rb.PyTree(capacity)
    t = time.perf_counter()
    for k in range(-(-capacity // rb.B)):
        buf.add(batches[k % 16])
    fill_s = time.perf_counter() - t
    r1 = rb.rss_mb()
    for _ in range(5):
        idx = buf.sample(rb.B)
        buf.update(idx, rng.random(rb.B) + 0.01)
        buf.add(batches[0])
    ta = ts = tu = 0.0
    loops = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        t = time.perf_counter()
        buf.add(batches[loops % 16])
        t2 = time.perf_counter()
        idx = buf.sample(rb.B)
        t3 = time.perf_counter()
        buf.update(idx, rng.random(rb.B) + 0.01)
        t4 = time.perf_counter()
        ta += t2 - t
        ts += t3 - t2
        tu += t4 - t3
        loops += 1
    wall = time.perf_counter() - t0
    out = dict(
        impl=impl,
        capacity=capacity,
        loops=loops,
        transitions_per_s=round(rb.B * loops / wall),
        add_us=round(1e6 * ta / loops, 1),
        sample_us=round(1e6 * ts / loops, 1),
        update_us=round(1e6 * tu / loops, 1),
        fill_s=round(fill_s, 2),
        rss_growth_mb=round(r1 - r0, 1),
        raw_mb=round(capacity * rb.RAW_PER / 2**20, 1),
    )
    if impl == "rlcore":
        b = buf.b
        out["nbytes_mb"] = round(b.size_bytes() / 2**20, 1)
        out["columns_mb"] = round(sum(a.nbytes for a in b.columns.values()) / 2**20, 1)
        out["trees_mb"] = round((b.sum_tree.nbytes + b.min_tree.nbytes) / 2**20, 1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--capacity", type=int, default=1_000_000)
    p.add_argument("--impls", nargs="+", default=["rlcore", "pytree", "cpprb"])
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/replay.json"))
    p.add_argument("--worker", choices=["rlcore", "pytree"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.capacity, a.seconds)), flush=True)
        return
    args = ["--capacity", str(a.capacity), "--seconds", str(a.seconds)]
    cmds = {
        "rlcore": [sys.executable, __file__, "--worker", "rlcore", *args],
        "pytree": [sys.executable, __file__, "--worker", "pytree", *args],
    }
    if "cpprb" in a.impls:
        cmds["cpprb"] = [peer_python(PEER_PACKAGES["cpprb"]), str(BENCH), "cpprb", *args]
    runs: list[dict[str, Any]] = []
    for r in range(a.rounds):
        for impl in a.impls:
            rows, _ = run_json(cmds[impl])
            row = {**rows[-1], "impl": impl, "round": r}
            log(json.dumps(row))
            runs.append(row)
    summary: dict[str, Any] = {}
    for impl in a.impls:
        mine = [x for x in runs if x["impl"] == impl]
        summary[impl] = {
            "transitions_per_s": statistics.median(x["transitions_per_s"] for x in mine),
            "rss_growth_mb": statistics.median(x["rss_growth_mb"] for x in mine),
            "rss_over_raw": round(statistics.median(x["rss_growth_mb"] / x["raw_mb"] for x in mine), 3),
        }
        if impl == "rlcore":
            summary[impl]["nbytes_over_raw"] = round(mine[0]["nbytes_mb"] / mine[0]["raw_mb"], 3)
    ratios = {}
    for r in range(a.rounds):  # ratios within each round (same machine load), then their median
        by = {x["impl"]: x for x in runs if x["round"] == r}
        for peer in ("pytree", "cpprb"):
            if "rlcore" in by and peer in by:
                ratios.setdefault(f"rlcore_over_{peer}", []).append(
                    by["rlcore"]["transitions_per_s"] / by[peer]["transitions_per_s"]
                )
    result = {
        "command": "python benchmarks/replay.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "runs": runs,
        "summary": summary,
        "ratios_per_round": {k: [round(v, 2) for v in vs] for k, vs in ratios.items()},
        "ratios_median": {k: round(statistics.median(vs), 2) for k, vs in ratios.items()},
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"summary": summary, "ratios_median": result["ratios_median"]}, indent=2))


if __name__ == "__main__":
    main()
