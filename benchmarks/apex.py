"""Ape-X on CartPole-v1: sampled and trained transitions/s at 1 and 2 workers, against DQN, side by side.

Usage: python benchmarks/apex.py [--seconds 40] [--rounds 1] [--framework torch]
       [--points apex1 apex2 free1 free2 sampler1 sampler2 dqn0 dqn2] [--skip-costs] [--skip-throughput]

1. Per-actor costs (``--skip-costs`` to leave out; one process, one thread, the machine otherwise as
   it is): what one Ape-X worker, one replay shard and the learner each spend, measured one piece at
   a time on the tuned config (``tuned_examples/cartpole-apex.yaml``) in embedded mode (no Ray):

   - worker: ``local_evaluator.sample()`` seconds per transition, with worker-side priorities
     (the Ape-X worker: acting, n-step postprocessing and the TD error of every row) and without;
   - shard: ``ReplayShard`` (``rl_optimizers.apex``) ``add_batch`` of one worker batch,
     ``replay(train_batch_size)`` and ``update_priorities`` of a replayed batch, at the tuned
     shard capacity and at the Ape-X default's (2M rows over 4 shards); then the same three calls
     through Ray (a shard actor called from this process: the per-call cost a worker or the driver
     pays);
   - learner: ``learn_on_batch`` milliseconds per batch at the tuned ``train_batch_size`` and at 512
     (the Ape-X default);
   - vision: frames/s of one worker on ``PixelGrid-v0`` (16x16x1, the vision Q-net) and on an
     Atari-sized observation (``PixelGrid-v0`` drawn at 84x84 with ``framestack: 4``: 84x84x4) --
     the figure to set beside the RLlib paper's Ape-X 625 frames/s per worker (Atari, 2018 CPUs).

2. Throughput (each point its own process, a fresh Ray each time; the points of a round run one
   after the other, and ``--rounds`` repeats the round, so every kind of point sees the same
   machine load): the trainer is built, trained until its learner has learned once (warm-up, not
   timed), then ``train()`` runs for ``--seconds``; sampled and trained transitions/s come from the
   optimizer's counters over that window. Points:

   - ``apexN``: APEX, the tuned config, N workers, 2 shards (its ``min_train_to_sample_ratio``
     throttles sampling to the learner);
   - ``freeN``: the same with ``min_train_to_sample_ratio: 0`` (RLlib 2018: the workers sample as
     fast as they can and the learner learns as fast as it can);
   - ``samplerN``: the sampler-only bound: ``learning_starts = buffer_size`` (never reached in the
     window), so the learner never runs: how sampling alone scales from 1 to 2 workers;
   - ``dqnN``: DQN (``LocalSyncReplayOptimizer``) of the same config (model, n-step, batch, buffer,
     lr) with ``training_intensity`` = APEX's ratio: N=0 embedded, N=2 Ray workers sampling in turn
     with the learning.

   Each point records the machine's load over its window: the cores busy in all (``/proc/stat``),
   the cores this run's process tree used (the driver, Ray's daemons and workers), the rest
   (``other_busy_cores``: the other work on the machine) and the 1-minute load average.

Results (every point) go to ``benchmarks/results/apex.json``; a summary is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, log, run_json

APEX_FILE = ROOT / "tuned_examples/cartpole-apex.yaml"
#: Used while ``tuned_examples/cartpole-apex.yaml`` does not exist (the plan's first config).
FALLBACK_APEX = {
    "env": "CartPole-v1",
    "run": "APEX",
    "config": {
        "num_workers": 2,
        "num_replay_buffer_shards": 2,
        "num_envs_per_worker": 4,
        "rollout_fragment_length": 16,
        "buffer_size": 100000,
        "learning_starts": 2000,
        "train_batch_size": 64,
        "min_train_to_sample_ratio": 4,
        "max_weight_sync_delay": 200,
        "target_network_update_freq": 4000,
        "timesteps_per_iteration": 2000,
        "lr": 0.0005,
        "n_step": 3,
        "gamma": 0.99,
        "hiddens": [128],
        "exploration_eps": 0.4,
        "exploration_alpha": 3.0,
        "num_cpu_threads": 1,
        "model": {"fcnet_hiddens": [128]},
    },
}
#: The RLlib paper's Ape-X figure (Liang et al. 2018, Ray RLlib, ICML: Ape-X on Atari, CPU workers):
#: about 625 environment frames per second per worker.
RLLIB_PAPER_FRAMES_PER_S_PER_WORKER = 625
POINTS = ["apex1", "apex2", "free1", "free2", "sampler1", "sampler2", "dqn0", "dqn2"]


# ------------------------------------------------------------------------------------------- config
def apex_experiment() -> dict[str, Any]:
    """The tuned APEX experiment (the file's single experiment), or the plan's config while it is missing."""
    if APEX_FILE.exists():
        import yaml

        (exp,) = yaml.safe_load(APEX_FILE.read_text()).values()
        return exp
    return FALLBACK_APEX


def apex_config(framework: str, workers: int, **overrides: Any) -> dict[str, Any]:
    """The tuned APEX config with ``workers`` workers, one torch/TF thread everywhere, seed 0."""
    cfg = dict(apex_experiment()["config"])
    cfg.update(framework=framework, num_workers=workers, seed=0, num_cpu_threads=1)
    cfg.update(overrides)
    return cfg


def ratio_of(cfg: dict[str, Any]) -> float:
    """APEX's replayed rows per sampled row: its ``min_train_to_sample_ratio`` (1 when it is 0: unthrottled)."""
    return float(cfg.get("min_train_to_sample_ratio") or 0) or 1.0


def dqn_config(framework: str, workers: int) -> dict[str, Any]:
    """DQN with APEX's tuned model, n-step, batch, buffer, lr and replay ratio (``training_intensity``).

    APEX counts ``target_network_update_freq`` in trained steps, DQN in sampled ones: the DQN value is
    APEX's divided by the replay ratio, so both copy the target after the same number of updates.
    """
    import rlcore

    apex = apex_config(framework, workers)
    known = rlcore.get_algorithm_class("DQN").default_config
    cfg = {k: v for k, v in apex.items() if k in known}
    ratio = ratio_of(apex)
    cfg["training_intensity"] = ratio
    if "target_network_update_freq" in apex:
        cfg["target_network_update_freq"] = max(1, int(apex["target_network_update_freq"] / ratio))
    return cfg


def point_spec(name: str, framework: str, seconds: float) -> dict[str, Any]:
    """What a point name (``apex2``, ``sampler1``, ``dqn0``...) runs."""
    kind, workers = name.rstrip("0123456789"), int(name[len(name.rstrip("0123456789")) :] or 0)
    if kind == "dqn":
        return {"name": name, "run": "DQN", "config": dqn_config(framework, workers), "seconds": seconds}
    if kind == "apex":
        cfg = apex_config(framework, workers)
    elif kind == "free":
        cfg = apex_config(framework, workers, min_train_to_sample_ratio=0.0)
    elif kind == "sampler":
        base = apex_config(framework, workers)
        size = max(int(base.get("buffer_size", 100000)), 2_000_000)
        cfg = apex_config(framework, workers, buffer_size=size, learning_starts=size)
    else:
        raise SystemExit(f"unknown point {name!r}; points are {', '.join(POINTS)} (any worker count)")
    if workers < 1:
        raise SystemExit(f"point {name!r}: APEX points need at least 1 worker")
    return {"name": name, "run": "APEX", "config": cfg, "seconds": seconds, "sampler_only": kind == "sampler"}


# ------------------------------------------------------------------------------------- machine load
def _proc_stat() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of ``root`` and every process below it, by pid."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2 :].split()  # fields after the command name
        parents[int(entry)] = int(rest[1])
        cpu[int(entry)] = (float(rest[11]) + float(rest[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return {p: cpu[p] for p in tree if p in cpu}


def _name(pid: int) -> str:
    """A process's kind: Ray's actor title (``ray::ReplayShard``...), else its program's name."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            first = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "?"
    if first.startswith("ray::"):
        return first.split(".")[0].split(" ")[0]
    return os.path.basename(first.split(" ")[0])


class LoadMeter:
    """The machine's busy cores and this process tree's cores between :meth:`start` and :meth:`stop`."""

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.stat0 = _proc_stat()
        self.tree0 = _tree_cpu(os.getpid())

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        busy1, total1 = _proc_stat()
        tree1 = _tree_cpu(os.getpid())
        ncpu = os.cpu_count() or 1
        busy = ncpu * (busy1 - self.stat0[0]) / max(total1 - self.stat0[1], 1e-9)
        own = sum(c - self.tree0.get(p, 0.0) for p, c in tree1.items()) / wall
        me = os.getpid()
        by_kind: dict[str, float] = {}
        for p, c in tree1.items():
            kind = "driver (main loop + learner thread)" if p == me else _name(p)
            by_kind[kind] = by_kind.get(kind, 0.0) + (c - self.tree0.get(p, 0.0)) / wall
        return {
            "cores_by_process": {
                k: round(v, 3) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1]) if v > 0.005
            },
            "busy_cores": round(busy, 2),
            "own_cores": round(own, 2),
            "driver_cores": round((tree1.get(me, 0.0) - self.tree0.get(me, 0.0)) / wall, 3),
            "other_busy_cores": round(max(busy - own, 0.0), 2),
            "loadavg_1min": round(os.getloadavg()[0], 2),
        }


# ---------------------------------------------------------------------------------- throughput point
def _delta(after: dict[str, Any], before: dict[str, Any], key: str) -> float | None:
    a, b = after.get(key), before.get(key)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) - float(b)
    return None


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(stats, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def point_child(spec: dict[str, Any]) -> dict[str, Any]:
    """In this process: build the trainer, warm up until it has learned once, then ``train()`` for
    ``spec["seconds"]``; sampled/trained transitions/s over that window, the optimizer's stats."""
    import rlcore

    t0 = time.perf_counter()
    trainer = rlcore.get_algorithm_class(spec["run"])(spec["config"], env=apex_experiment()["env"])
    build_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        result = trainer.train()
        # warm-up: the replay fills to learning_starts and the learner learns once (not timed)
        while not spec.get("sampler_only") and result["info"]["optimizer"].get("num_steps_trained", 0) == 0:
            if time.perf_counter() - t0 > 180:
                raise RuntimeError(f"{spec['name']}: no training step within 180 s of warm-up")
            result = trainer.train()
        warmup_s = time.perf_counter() - t0
        before = result["info"]["optimizer"]
        meter = LoadMeter()
        meter.start()
        t0 = time.perf_counter()
        iterations, rewards = 0, []
        while time.perf_counter() - t0 < spec["seconds"]:
            result = trainer.train()
            iterations += 1
            rewards.append(result["episode_reward_mean"])
        wall = time.perf_counter() - t0
        load = meter.stop()
        after = result["info"]["optimizer"]
    finally:
        trainer.stop()
    sampled = _delta(after, before, "num_steps_sampled") or 0.0
    trained = _delta(after, before, "num_steps_trained") or 0.0
    out: dict[str, Any] = {
        "name": spec["name"],
        "run": spec["run"],
        "num_workers": spec["config"].get("num_workers", 0),
        "framework": spec["config"].get("framework"),
        "build_s": round(build_s, 2),
        "warmup_s": round(warmup_s, 2),
        "wall_s": round(wall, 2),
        "iterations": iterations,
        "sampled": int(sampled),
        "trained": int(trained),
        "sampled_per_s": round(sampled / wall, 1),
        "trained_per_s": round(trained / wall, 1),
        "replayed_per_sampled": round(trained / sampled, 3) if sampled else None,
        "episode_reward_mean_last": rewards[-1] if rewards else None,
        "load": load,
    }
    # Ape-X's own figures over the window (rl_optimizers.apex.ApexOptimizer.stats; absent for DQN)
    updates = _delta(after, before, "num_learner_updates")
    if updates is None:
        updates = _delta(after, before, "num_train_steps")  # DQN's LocalSyncReplayOptimizer
    learn_s = _delta(after, before, "learn_time_s")
    if updates:
        out["learner_updates_per_s"] = round(updates / wall, 1)
        if learn_s is not None:
            out["learn_ms_per_batch"] = round(1000 * learn_s / updates, 3)
    if learn_s is not None:
        out["learner_busy_fraction"] = round(learn_s / wall, 3)
    for key in ("wait_sample_time_s", "wait_replay_time_s", "push_time_s", "sample_time_s", "replay_time_s"):
        d = _delta(after, before, key)
        if d is not None:
            out[key.replace("_time_s", "_s_per_s")] = round(d / wall, 3)
    if learn_s is not None and spec["run"] == "APEX" and spec["config"].get("num_workers", 0) > 0:
        # the driver's main loop (its process's CPU less the learner thread's busy time): per task it handled
        rows = spec["config"].get("rollout_fragment_length", 50) * spec["config"].get("num_envs_per_worker", 1)
        tasks = sampled / rows + (updates or 0)
        loop_s = load["driver_cores"] * wall - learn_s
        out["driver_loop_cores"] = round(loop_s / wall, 3)
        if tasks:
            out["driver_loop_ms_per_task"] = round(1000 * loop_s / tasks, 3)
    syncs = _delta(after, before, "num_weight_syncs")
    if syncs is not None:
        out["weight_syncs_per_s"] = round(syncs / wall, 2)
    out["optimizer_stats"] = _jsonable(after)
    return out


def throughput(points: list[str], rounds: int, framework: str, seconds: float) -> list[dict[str, Any]]:
    """Every point in its own process; the whole list ``rounds`` times (interleaved)."""
    out = []
    for r in range(rounds):
        for name in points:
            spec = point_spec(name, framework, seconds)
            try:
                rows, wall = run_json([sys.executable, __file__, "--child", json.dumps(spec)], timeout=900)
            except RuntimeError as exc:  # Ray failed to start on an overloaded machine: once more
                log(f"round {r + 1} {name} failed, once more: {str(exc)[-300:]}")
                rows, wall = run_json([sys.executable, __file__, "--child", json.dumps(spec)], timeout=900)
            row = rows[-1] | {"round": r + 1, "process_s": round(wall, 1)}
            out.append(row)
            keys = ("sampled_per_s", "trained_per_s", "learner_busy_fraction", "learn_ms_per_batch", "load")
            log(f"round {r + 1} {name}: { ({k: row.get(k) for k in keys}) }")
    return out


# ------------------------------------------------------------------------------------ per-actor costs
def _timed(fn: Any, reps: int, clock: Any = time.process_time) -> float:
    """Median seconds of ``fn()`` over ``reps`` calls (after one untimed call), by ``clock``: this
    process's CPU time by default (what the call costs, whatever else runs on the machine); pass
    ``time.perf_counter`` for a call whose work happens in another process (a Ray actor)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def _sample_cost(trainer: Any, rounds: int) -> dict[str, float]:
    """``local_evaluator.sample()`` per transition: this process's CPU time (the cost) and wall time."""
    ev = trainer.workers.local_evaluator
    ev.sample()
    rows, t0, c0 = 0, time.perf_counter(), time.process_time()
    for _ in range(rounds):
        rows += ev.sample().count
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {
        "rows": rows,
        "us_per_transition": round(1e6 * cpu / rows, 2),
        "transitions_per_s": round(rows / cpu),
        "wall_us_per_transition": round(1e6 * wall / rows, 2),
    }


def _embedded_apex(framework: str, env: str, **overrides: Any) -> Any:
    import rlcore

    cfg = apex_config(framework, 0, **overrides)
    return rlcore.get_algorithm_class("APEX")(cfg, env=env)


def costs_child(framework: str) -> dict[str, Any]:
    """Per-actor costs, one piece at a time (see the module docstring)."""
    import numpy as np

    from rl_optimizers.apex import ReplayShard
    from rlcore.errors import RLCoreError

    out: dict[str, Any] = {"framework": framework}
    meter = LoadMeter()
    meter.start()
    env = apex_experiment()["env"]
    cfg = apex_config(framework, 0)

    # worker: sampling with and without worker-side priorities
    trainer = _embedded_apex(framework, env)
    try:
        out["worker_sample"] = _sample_cost(trainer, 150)
        batch = trainer.workers.local_evaluator.sample()
        # learner: learn_on_batch at the tuned batch size and at 512, on replayed-like batches
        shard = ReplayShard(0, 50_000, 0, 0.6, 0.4, 1e-6, 0)
        for _ in range(4096 // batch.count + 1):
            shard.add_batch(batch.copy())
        learner = {}
        for n in sorted({int(cfg.get("train_batch_size", 64)), 512}):
            replayed = shard.replay(n)[0]
            ms = 1000 * _timed(lambda b=replayed: trainer.workers.local_evaluator.learn_on_batch(b), 20)
            learner[str(n)] = {"ms_per_batch": round(ms, 3), "rows_per_s": round(1000 * n / ms)}
        out["learner"] = learner
    finally:
        trainer.stop()
    trainer = _embedded_apex(framework, env, worker_side_prioritization=False)
    try:
        out["worker_sample_no_priorities"] = _sample_cost(trainer, 150)
    finally:
        trainer.stop()
    prio_cols = [c for c in batch if "priorit" in c]
    out["worker_batch_rows"] = batch.count
    out["worker_batch_columns"] = sorted(batch.keys())

    # shard: add one worker batch, replay one train batch, update its priorities (plain object, this process)
    tbs = int(cfg.get("train_batch_size", 64))
    shards_n = int(cfg.get("num_replay_buffer_shards", 2))
    capacities = {"tuned": int(cfg.get("buffer_size", 100000)) // shards_n, "apex_default": 2_000_000 // 4}
    rng = np.random.default_rng(0)
    shard_costs: dict[str, Any] = {}
    for label, capacity in capacities.items():
        shard = ReplayShard(0, capacity, 0, 0.6, 0.4, 1e-6, 0)
        while shard.stats().get("size", 0) < capacity:
            shard.add_batch(batch)
        add = _timed(lambda s=shard: s.add_batch(batch), 200)
        replay = _timed(lambda s=shard: s.replay(tbs), 200)
        replayed = shard.replay(tbs)[0]
        idx = replayed["batch_indexes"]

        def update(s: Any = shard, i: Any = idx) -> None:
            s.update_priorities(i, rng.random(len(i)) + 1e-6, 0)

        upd = _timed(update, 200)
        shard_costs[label] = {
            "capacity": capacity,
            "add_ms_per_batch": round(1000 * add, 4),
            "add_us_per_row": round(1e6 * add / batch.count, 3),
            "replay_ms_per_batch": round(1000 * replay, 4),
            "update_ms_per_batch": round(1000 * upd, 4),
            "bytes": shard.stats().get("bytes"),
        }
    out["shard"] = shard_costs
    out["priority_columns"] = prio_cols

    # the same shard calls through Ray: a shard actor called from this process (what a call costs)
    import ray

    from rlcore.ray_init import init_ray

    for attempt in range(3):  # an overloaded machine may time Ray's start out: try again
        try:
            init_ray(workers=1)
            break
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception for a start that timed out
            log(f"costs: Ray did not start ({exc}); attempt {attempt + 1} of 3")
            ray.shutdown()
    try:
        actor = ray.remote(num_cpus=0)(ReplayShard).remote(0, capacities["tuned"], 0, 0.6, 0.4, 1e-6, 0)
        for _ in range(capacities["tuned"] // batch.count + 1):
            actor.add_batch.remote(batch)
        ray.get(actor.ping.remote())
        calls = {
            "add": lambda: ray.get(actor.add_batch.remote(batch)),
            "replay": lambda: ray.get(actor.replay.remote(tbs)),
        }
        via_ray: dict[str, Any] = {"capacity": capacities["tuned"]}
        for key, call in [*calls.items(), ("update", None)]:
            if call is None:
                idx = ray.get(actor.replay.remote(tbs))[0]["batch_indexes"]

                def call(i: Any = idx) -> None:
                    ray.get(actor.update_priorities.remote(i, rng.random(len(i)) + 1e-6, 0))

            before = ray.get(actor.stats.remote())[f"{key}_time_s"]
            wall = _timed(call, 200, time.perf_counter)
            inside = ray.get(actor.stats.remote())[f"{key}_time_s"] - before
            via_ray[f"{key}_ms_per_call"] = round(1000 * wall, 3)  # the caller's wait: Ray's round trip included
            via_ray[f"{key}_ms_inside_shard"] = round(1000 * inside / 201, 4)  # the shard's own work
        out["shard_via_ray"] = via_ray
    finally:
        ray.shutdown()

    # vision: frames/s of one worker on PixelGrid-v0 (16x16x1) and on 84x84x4 frames
    vision: dict[str, Any] = {}
    pixel_file = ROOT / "tuned_examples/pixelgrid-dqn.yaml"
    pixel_model: dict[str, Any] = {"dim": 16}
    if pixel_file.exists():  # helper B's tuned vision config: its model as it is
        import yaml

        (pixel_exp,) = yaml.safe_load(pixel_file.read_text()).values()
        pixel_model = dict(pixel_exp["config"].get("model", pixel_model))
    settings = {
        "pixelgrid_16x16x1": ({}, pixel_model),
        # the catalog's default 84x84 filters (RLlib 2018's: 16 8x8/4, 32 4x4/2, 256 11x11/1)
        "pixelgrid_84x84x4": ({"size": 84}, {"dim": 84, "framestack": 4}),
    }
    for label, (env_config, model) in settings.items():
        try:
            trainer = _embedded_apex(
                framework,
                "PixelGrid-v0",
                env_config=env_config,
                model=model,
                hiddens=[256],
                buffer_size=20_000,
                learning_starts=1000,
            )
        except RLCoreError as exc:  # the env or the vision Q-net is not there: say so, keep the rest
            vision[label] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        try:
            ev = trainer.workers.local_evaluator
            vision[label] = _sample_cost(trainer, 20) | {"obs_shape": list(ev.sample()["obs"].shape[1:])}
            # the learner on these frames, and what a worker batch weighs on its way to a shard
            from rlcore import SampleBatch

            batch = SampleBatch.concat_samples([ev.sample() for _ in range(4)])
            learn = batch.slice(0, 64)
            vision[label]["learn_ms_per_64_rows"] = round(
                1000 * _timed(lambda b=learn, e=ev: e.learn_on_batch(b), 5), 2
            )
            one = batch.slice(0, 50)  # the Ape-X default rollout_fragment_length's batch of one env
            vision[label]["batch_of_50_bytes"] = len(pickle.dumps(one, protocol=5))
            vision[label]["pickle_ms_per_50_rows"] = round(
                1000 * _timed(lambda o=one: pickle.dumps(o, protocol=5), 20), 3
            )
        finally:
            trainer.stop()
    out["vision_worker"] = vision
    out["load"] = meter.stop()
    return out


# ------------------------------------------------------------------------------------------ summary
def scale_out_plan(costs: dict[str, Any], ratio: float) -> dict[str, Any]:
    """Workers and shards per learner from the measured per-actor costs (one core each).

    A worker makes ``worker_rate = 1 / us_per_transition`` transitions/s (CPU time). Per sampled
    row a shard serves one ``add`` per worker batch and ``ratio / train_batch_size`` replays and
    priority updates (the learner replays ``ratio`` rows per sampled row); its busy time per call
    lies between the time inside the shard (lower bound) and the caller's whole wait through Ray
    (upper bound: both ends' serialization and dispatch). The learner trains ``rows_per_s`` rows/s,
    so it keeps up with ``W = learner_rows_per_s / (ratio * worker_rate)`` workers, and ``S`` shards
    stay at most half busy when ``S >= W * worker_rate * shard_s_per_row / 0.5``.
    """
    if "worker_sample" not in costs or "shard_via_ray" not in costs:
        return {}
    worker_rate = costs["worker_sample"]["transitions_per_s"]
    ray_shard = costs["shard_via_ray"]
    rows = costs.get("worker_batch_rows", 64)
    tbs = min(int(k) for k in costs["learner"])
    learner = costs["learner"][str(tbs)]

    def per_row(kind: str) -> float:
        add, rep, upd = (ray_shard[f"{k}_ms_{kind}"] / 1000 for k in ("add", "replay", "update"))
        return add / rows + ratio / tbs * (rep + upd)

    workers_per_learner = learner["rows_per_s"] / (ratio * worker_rate)
    plan: dict[str, Any] = {
        "worker_transitions_per_s": worker_rate,
        "learner_rows_per_s": learner["rows_per_s"],
        "train_batch_size": tbs,
        "replay_ratio": ratio,
        "workers_per_learner": round(workers_per_learner, 2),
    }
    for kind in ("inside_shard", "per_call"):
        s_per_row = per_row(kind)
        plan[f"shard_rows_per_s_{kind}"] = round(1 / s_per_row)
        plan[f"shards_per_learner_{kind}"] = round(workers_per_learner * worker_rate * s_per_row / 0.5, 2)
    return plan


def machine() -> dict[str, Any]:
    """The machine line: CPU model, cores, Python, torch/ray versions, the commit (and whether the tree
    had local changes)."""
    from importlib.metadata import PackageNotFoundError, version

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("torch", "tensorflow", "ray", "gymnasium", "numpy"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True).stdout)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        **versions,
        "commit": commit,
        "tree_dirty": dirty,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Medians per point over the rounds, scaling ratios (2 workers over 1), APEX over DQN."""
    by: dict[str, list[dict[str, Any]]] = {}
    for row in result.get("throughput", []):
        by.setdefault(row["name"], []).append(row)

    def med(name: str, key: str) -> float | None:
        vals = [r[key] for r in by.get(name, []) if isinstance(r.get(key), int | float)]
        return statistics.median(vals) if vals else None

    table = {
        name: {
            k: med(name, k)
            for k in (
                "sampled_per_s",
                "trained_per_s",
                "learner_busy_fraction",
                "learn_ms_per_batch",
                "driver_loop_cores",
                "driver_loop_ms_per_task",
            )
            if med(name, k) is not None
        }
        | {
            "own_cores": statistics.median(r["load"]["own_cores"] for r in rows),
            "sampled_per_own_core_s": round(
                statistics.median(r["sampled_per_s"] / max(r["load"]["own_cores"], 1e-9) for r in rows)
            ),
            "other_busy_cores": [r["load"]["other_busy_cores"] for r in rows],
        }
        for name, rows in by.items()
    }
    summary: dict[str, Any] = {"points": table}
    for kind in ("apex", "free", "sampler"):
        one, two = med(f"{kind}1", "sampled_per_s"), med(f"{kind}2", "sampled_per_s")
        if one and two:
            summary[f"{kind}_scaling_sampled_2_over_1"] = round(two / one, 3)
        one, two = med(f"{kind}1", "trained_per_s"), med(f"{kind}2", "trained_per_s")
        if one and two:
            summary[f"{kind}_scaling_trained_2_over_1"] = round(two / one, 3)
    for apex, dqn in (("apex2", "dqn2"), ("apex2", "dqn0"), ("apex1", "dqn0")):
        for key in ("sampled_per_s", "trained_per_s"):
            a, d = med(apex, key), med(dqn, key)
            if a and d:
                summary[f"{apex}_over_{dqn}_{key}"] = round(a / d, 3)
    for name in ("apex1", "apex2", "free1", "free2", "sampler1", "sampler2"):
        s = med(name, "sampled_per_s")
        if s:
            n = int(name[-1])
            summary.setdefault("per_worker_sampled_per_s", {})[name] = round(s / n)
    costs = result.get("costs")
    if costs:
        summary["scale_out"] = scale_out_plan(costs, ratio_of(apex_config(result["framework"], 2)))
        loop = [
            r["driver_loop_ms_per_task"]
            for r in result.get("throughput", [])
            if r.get("driver_loop_ms_per_task") and r["name"].startswith(("apex", "free"))  # with the learner
        ]
        driver_ms = statistics.median([x for x in loop if x > 0]) if any(x > 0 for x in loop) else None
        if driver_ms and summary["scale_out"]:
            plan = summary["scale_out"]
            rows = costs.get("worker_batch_rows", 64)
            # tasks the driver handles per sampled row: one sample task per batch, one replay per ratio/tbs rows
            per_row = 1 / rows + plan["replay_ratio"] / plan["train_batch_size"]
            plan["driver_ms_per_task"] = driver_ms
            plan["driver_rows_per_s_at_full_load"] = round(1000 / driver_ms / per_row)
            plan["workers_per_driver"] = round(1000 / driver_ms / per_row / plan["worker_transitions_per_s"], 2)
        summary["reference_frames_per_s_per_worker"] = RLLIB_PAPER_FRAMES_PER_S_PER_WORKER
        summary["vision_worker"] = costs.get("vision_worker")
    return summary


# ------------------------------------------------------------------------------------------- report
def markdown(result: dict[str, Any]) -> str:
    """The BENCHMARKS.md tables of a results file: every point, the medians and ratios, the costs."""
    lines = [
        "| round | point | workers | sampled/s | trained/s | trained/sampled | learner busy | learn ms/batch "
        "| weight syncs/s | driver loop cores | driver ms/task | sampled per core-s of this run "
        "| cores busy: all / this run / other | load avg |"
    ]
    lines.append("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")

    def fmt(v: Any, nd: int = 0) -> str:
        if v is None:
            return "-"
        return f"{v:,.{nd}f}" if isinstance(v, int | float) else str(v)

    for r in result.get("throughput", []):
        load = r["load"]
        lines.append(
            f"| {r['round']} | {r['name']} | {r['num_workers']} | {fmt(r['sampled_per_s'])} "
            f"| {fmt(r['trained_per_s'])} "
            f"| {fmt(r.get('replayed_per_sampled'), 2)} | {fmt(r.get('learner_busy_fraction'), 2)} "
            f"| {fmt(r.get('learn_ms_per_batch'), 2)} | {fmt(r.get('weight_syncs_per_s'), 1)} "
            f"| {fmt(r.get('driver_loop_cores'), 2)} | {fmt(r.get('driver_loop_ms_per_task'), 2)} "
            f"| {fmt(r['sampled_per_s'] / max(load['own_cores'], 1e-9))} "
            f"| {load['busy_cores']:.2f} / {load['own_cores']:.2f} / {load['other_busy_cores']:.2f} "
            f"| {load['loadavg_1min']:.1f} |"
        )
    out = ["\n".join(lines)]
    summary = result.get("summary", {})
    points = summary.get("points", {})
    if points:
        head = (
            "| point | sampled/s | trained/s | learner busy | learn ms/batch | cores of this run | sampled per core-s |"
        )
        rows = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, p in points.items():
            rows.append(
                f"| {name} | {fmt(p.get('sampled_per_s'))} | {fmt(p.get('trained_per_s'))} "
                f"| {fmt(p.get('learner_busy_fraction'), 2)} | {fmt(p.get('learn_ms_per_batch'), 2)} "
                f"| {fmt(p.get('own_cores'), 2)} | {fmt(p.get('sampled_per_own_core_s'))} |"
            )
        out.append("\n".join(rows))
    ratios = {k: v for k, v in summary.items() if isinstance(v, int | float)}
    if ratios:
        out.append("\n".join(["| ratio | value |", "| --- | ---: |", *[f"| {k} | {v} |" for k, v in ratios.items()]]))
    costs = result.get("costs")
    if costs:
        rows = ["| actor | measured | per second |", "| --- | --- | ---: |"]
        ws, wn = costs["worker_sample"], costs["worker_sample_no_priorities"]
        rows.append(
            f"| worker: sample + n-step + priorities | {ws['us_per_transition']} us/transition "
            f"| {ws['transitions_per_s']:,} transitions |"
        )
        rows.append(
            f"| worker: the same without priorities | {wn['us_per_transition']} us/transition "
            f"| {wn['transitions_per_s']:,} transitions |"
        )
        for n, c in costs["learner"].items():
            rows.append(f"| learner: learn_on_batch of {n} rows | {c['ms_per_batch']} ms | {c['rows_per_s']:,} rows |")
        for c in costs["shard"].values():
            rows.append(
                f"| shard ({c['capacity']:,} rows, in process): add {costs['worker_batch_rows']} rows / "
                f"replay / update | {c['add_ms_per_batch']} / {c['replay_ms_per_batch']} / "
                f"{c['update_ms_per_batch']} ms | |"
            )
        c = costs["shard_via_ray"]
        rows.append(
            f"| shard through Ray (a call from another process, the caller's wait): add / replay / update | "
            f"{c['add_ms_per_call']} / {c['replay_ms_per_call']} / {c['update_ms_per_call']} ms | |"
        )
        rows.append(
            f"| the same calls, time inside the shard actor | "
            f"{c['add_ms_inside_shard']} / {c['replay_ms_inside_shard']} / {c['update_ms_inside_shard']} ms | |"
        )
        for label, c in costs.get("vision_worker", {}).items():
            if "error" in c:
                rows.append(f"| worker on {label} | {c['error']} | |")
            else:
                rows.append(
                    f"| worker on {label} (1 thread) | {c['us_per_transition']} us/frame "
                    f"| {c['transitions_per_s']:,} frames |"
                )
        load = costs["load"]
        rows.append(
            f"| (machine while measured: cores busy all / this run / other) | {load['busy_cores']} / "
            f"{load['own_cores']} / {load['other_busy_cores']} | |"
        )
        out.append("\n".join(rows))
    plan = summary.get("scale_out")
    if plan:
        out.append("\n".join(["| scale-out | value |", "| --- | ---: |", *[f"| {k} | {v} |" for k, v in plan.items()]]))
    return "\n\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--framework", default="torch")
    p.add_argument("--seconds", type=float, default=40.0, help="timed train() window per point")
    p.add_argument("--rounds", type=int, default=1, help="how many times the list of points runs")
    p.add_argument("--points", nargs="+", default=POINTS, help=f"of {POINTS} (any worker count: apex4...)")
    p.add_argument("--skip-costs", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--costs-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/apex.json"))
    p.add_argument("--merge", nargs="*", default=[], metavar="JSON", help="add the points of earlier results files")
    p.add_argument("--report", default=None, metavar="JSON", help="print the markdown tables of a results file")
    a = p.parse_args()
    if a.report:
        result = json.loads(Path(a.report).read_text())
        result["summary"] = summarize(result)  # recomputed: a file written by an earlier version of this script
        print(markdown(result))
        return
    if a.child is not None:
        print(json.dumps(point_child(json.loads(a.child))), flush=True)
        return
    if a.costs_child:
        print(json.dumps(costs_child(a.framework)), flush=True)
        return
    result: dict[str, Any] = {"framework": a.framework, "seconds": a.seconds, "machine": machine()}
    result["apex_config"] = apex_config(a.framework, 2)
    result["apex_config_file"] = str(APEX_FILE.relative_to(ROOT)) if APEX_FILE.exists() else "FALLBACK_APEX"
    if not a.skip_costs:
        rows, _ = run_json([sys.executable, __file__, "--costs-child", "--framework", a.framework], timeout=900)
        result["costs"] = rows[-1]
        log(f"costs: {json.dumps(rows[-1])}")
    if not a.skip_throughput:
        result["throughput"] = throughput(a.points, a.rounds, a.framework, a.seconds)
    for path in a.merge:  # earlier runs' points (and their costs, unless measured here)
        earlier = json.loads(Path(path).read_text())
        before = earlier.get("throughput", [])
        offset = max((r["round"] for r in before), default=0)
        result["throughput"] = [*before, *({**r, "round": r["round"] + offset} for r in result.get("throughput", []))]
        if "costs" not in result and "costs" in earlier:
            result["costs"] = earlier["costs"]
        result.setdefault("merged_from", []).append({"file": path, "machine": earlier.get("machine")})
    result["summary"] = summarize(result)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
