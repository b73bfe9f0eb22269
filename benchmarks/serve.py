"""Serving a checkpoint: numpy-only acting (``rlcore.policy``) against loading the policy with torch and TF.

Usage: .venv/bin/python benchmarks/serve.py [--repeats 5] [--actions 1000] [--models fc vision]
       [--variants baseline numpy torch_trainer torch_bare numpy_tf tf_trainer tf_bare]
       [--workdir /tmp/rlcore-serve-bench] [--out benchmarks/results/serve.json]
       [--core-python /tmp/venv-core/bin/python]

Checkpoints (made once in ``--workdir`` by a child process each, reused when there; their
training time is not part of any measurement):

- ``fc``: PPO on CartPole-v1, the default model (fc ``[256, 256]``, tanh; policy and value towers),
  trained one iteration (``train_batch_size`` 1000, one SGD epoch), with torch, and the same with TF;
- ``vision``: PPO on rl_algos' ``PixelGrid-v0`` (``uint8`` frames ``16x16x1``, resized by the
  catalog's image preprocessor to ``84x84x1``, the default conv filters ``[16, 8x8, 4], [32, 4x4, 2],
  [256, 11x11, 1]``), trained one iteration (``train_batch_size`` 200), with torch, and with TF.

Each measurement is its own fresh ``python -c`` process doing exactly one variant; the variants
alternate, repeat by repeat, so all see the same machine load (the 1-minute load average before
each run is recorded). Per run: ``import_s`` (the variant's imports), ``load_s`` (policy, trainer
or model + weights from the checkpoint), ``first_action_s``, ``total_s`` (the three),
``launch_to_first_action_s`` (from the parent's launch to the first action: the interpreter's start
included), ``process_s`` (the whole child, the steady actions and exit included), ``peak_rss_mb`` after the
first action (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), then ``--actions`` more single
actions over 64 fixed observations (median and mean microseconds per action, peak RSS after them)
and the count of modules loaded:

- ``baseline``: ``import numpy`` and nothing else (the interpreter's and numpy's own cost, for scale);
- ``numpy``: ``import rlcore.policy; p = rlcore.policy.load(ckpt); p.compute_action(obs)`` on the
  torch checkpoint (the same arrays serve a TF checkpoint). The child asserts that no
  ``torch``/``tensorflow``/``ray``/``keras``/``jax`` module was imported and records the list;
- ``numpy_tf``: the same on the TF checkpoint (what ``tf_trainer`` is compared with);
- ``numpy_core`` / ``numpy_core_tf`` (with ``--core-python``): ``numpy`` / ``numpy_tf`` run by the python
  of a venv with only ``./core`` installed (``python -m venv V && V/bin/pip install -c constraints.txt ./core``);
- ``torch_trainer`` / ``tf_trainer``: ``from rlcore.rollout import load_trainer; t = load_trainer(ckpt);
  t.compute_action(obs)`` on the torch / TF checkpoint: the framework path users had before;
- ``torch_bare`` / ``tf_bare``: the least a framework user writes: ``import torch`` (``tensorflow``),
  the plugin's catalog model class (``rl_torch.models`` / ``rl_tf.models``), the canonical weights
  read from the torch checkpoint (``rlcore.checkpoint.read_checkpoint``) and ``set_weights``, the
  catalog's numpy preprocessor, one forward (``torch.no_grad`` / TF eager) and the argmax.

Every variant returns the deterministic action (``explore=False``). The actions of the 64
observations are compared between the variants acting the same checkpoint (``actions_agree``).
Medians over the repeats and the ratios numpy / each other variant are printed as a markdown
table and written with every run to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, log

HEAVY = ("torch", "tensorflow", "ray", "keras", "jax")
N_OBS = 64

#: model kind -> (env, trainer config besides the framework); the model config is the default.
CHECKPOINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "fc": ("CartPole-v1", {"train_batch_size": 1000, "sgd_minibatch_size": 128, "num_sgd_iter": 1}),
    "vision": (
        "PixelGrid-v0",
        {"train_batch_size": 200, "sgd_minibatch_size": 100, "num_sgd_iter": 1, "rollout_fragment_length": 200},
    ),
}
VARIANTS = ("baseline", "numpy", "torch_trainer", "torch_bare", "numpy_tf", "tf_trainer", "tf_bare")

# The child: stdlib only before t0; one variant's imports, load, first action; then steady actions.
CHILD = rf"""
import json, resource, sys, time
t0 = time.perf_counter()
variant, ckpt, obs_file, n_actions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HEAVY = {HEAVY!r}
if variant == "baseline":
    import numpy
    t1 = time.perf_counter()
    act = lambda o: 0
elif variant.startswith("numpy"):
    import rlcore.policy
    t1 = time.perf_counter()
    p = rlcore.policy.load(ckpt)
    act = lambda o: p.compute_action(o, explore=False)
elif variant.endswith("_trainer"):
    from rlcore.rollout import load_trainer
    t1 = time.perf_counter()
    t = load_trainer(ckpt)
    act = lambda o: t.compute_action(o, explore=False)
elif variant.endswith("_bare"):
    import numpy as np
    if variant == "torch_bare":
        import torch
        from rl_torch import models
    else:
        import tensorflow as tf
        from rl_tf import models
    import gymnasium
    from rlcore.checkpoint import read_checkpoint
    from rlcore.models.catalog import ModelCatalog
    t1 = time.perf_counter()
    ck = read_checkpoint(ckpt)
    cfg = ck.meta["config"]["model"]
    w = ck.state["evaluator"]["weights"]
    obs0 = np.load(obs_file)[0]
    space = gymnasium.spaces.Box(0, 255, obs0.shape, np.uint8) if obs0.dtype == np.uint8 else (
        gymnasium.spaces.Box(-np.inf, np.inf, obs0.shape, np.float32))
    prep = ModelCatalog.get_preprocessor(space, cfg)
    cls = models.VisionNetwork if len(prep.shape) == 3 else models.FullyConnectedNetwork
    model = cls(prep.shape, w["logits/bias"].shape[0], cfg)
    model.set_weights(w)
    if variant == "torch_bare":
        model.eval()

        def act(o):
            with torch.no_grad():
                logits, _ = model(torch.from_numpy(prep.transform(o)[None]))
            return int(logits[0].argmax())
    else:
        def act(o):
            logits, _ = model(tf.constant(prep.transform(o)[None]))
            return int(np.argmax(logits.numpy()[0]))
else:
    raise SystemExit(f"unknown variant {{variant!r}}")
t2 = time.perf_counter()
import numpy as np
obs = np.load(obs_file)
t3 = time.perf_counter()
first = act(obs[0])
t4 = time.perf_counter()
t4_epoch = time.time()
rss_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
if variant.startswith("numpy"):
    assert not heavy, f"numpy acting imported {{heavy[:10]}}"
actions = [int(np.asarray(act(o))) for o in obs]
lat = []
for i in range(n_actions):
    o = obs[i % len(obs)]
    s = time.perf_counter()
    act(o)
    lat.append(time.perf_counter() - s)
lat.sort()
print(json.dumps({{
    "variant": variant,
    "import_s": t1 - t0,
    "load_s": t2 - t1,
    "first_action_s": t4 - t3,
    "first_action_epoch": t4_epoch,
    "total_s": (t2 - t0) + (t4 - t3),
    "peak_rss_mb": rss_first,
    "peak_rss_steady_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "action_us_median": 1e6 * lat[len(lat) // 2] if lat else None,
    "action_us_mean": 1e6 * sum(lat) / len(lat) if lat else None,
    "actions_timed": len(lat),
    "first_action": int(np.asarray(first)),
    "actions": actions,
    "heavy_modules": heavy[:20],
    "heavy_module_count": len(heavy),
    "modules": len(sys.modules),
}}))
"""

TRAIN_CHILD = r"""
import json, sys
import rlcore
kind, framework, env, config, out = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
config = dict(config, framework=framework, num_workers=0, seed=0)
trainer = rlcore.get_algorithm_class("PPO")(config=config, env=env)
r = trainer.train()
path = trainer.save(out)
trainer.stop()
print(json.dumps({"path": str(path), "timesteps_total": r["timesteps_total"]}))
"""


def loadavg() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 2)


def ensure_checkpoint(workdir: Path, kind: str, framework: str) -> Path:
    """The checkpoint of ``kind`` trained with ``framework`` (made by a child process when missing)."""
    folder = workdir / f"{kind}_{framework}"
    found = sorted(folder.glob("checkpoint_*/checkpoint.json"))
    if found:
        return found[-1].parent
    env, config = CHECKPOINTS[kind]
    log(f"training the {kind} checkpoint with {framework} (PPO on {env}, one iteration) into {folder}")
    cmd = [sys.executable, "-c", TRAIN_CHILD, kind, framework, env, json.dumps(config), str(folder)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(f"training the {kind} {framework} checkpoint failed:\n{out.stderr[-3000:]}")
    return Path(json.loads(out.stdout.strip().splitlines()[-1])["path"])


def ensure_observations(workdir: Path, kind: str) -> Path:
    """64 fixed observations of the checkpoint's env (``obs_<kind>.npy``): reset and random-action steps, seed 0."""
    path = workdir / f"obs_{kind}.npy"
    if not path.exists():
        import numpy as np

        from rlcore.envs import make_env

        env = make_env(CHECKPOINTS[kind][0], {})
        rows = []
        obs, _ = env.reset(seed=0)
        env.action_space.seed(0)
        while len(rows) < N_OBS:
            rows.append(obs)
            obs, _, term, trunc, _ = env.step(env.action_space.sample())
            if term or trunc:
                obs, _ = env.reset()
        env.close()
        np.save(path, np.stack(rows))
    return path


def git(*args: str) -> str:
    """Output of ``git args`` in the repository (the tree measured may hold others' uncommitted work)."""
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def child_env() -> dict[str, str]:
    """The children's environment: TF's C++ info logging off (stderr only; no effect on the work)."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}


def run_child(variant: str, ckpt: Path, obs: Path, actions: int, python: str = sys.executable) -> dict[str, Any]:
    """One measurement in a fresh ``python`` process: its JSON line, ``process_s`` and the load average."""
    load = loadavg()
    cmd = [python, "-c", CHILD, variant.replace("_core", ""), str(ckpt), str(obs), str(actions)]
    launched = time.time()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=900)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{variant} on {ckpt} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1]) | {"variant": variant, "python": python}
    launch_s = row.pop("first_action_epoch") - launched  # interpreter start included
    return row | {"launch_to_first_action_s": launch_s, "process_s": wall, "loadavg_1min": load}


def checkpoint_of(variant: str, ckpts: dict[str, Path]) -> Path:
    """Which checkpoint a variant acts: the TF one for ``tf_trainer`` and ``*_tf``, else the torch one."""
    return ckpts["tf"] if variant == "tf_trainer" or variant.endswith("_tf") else ckpts["torch"]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per variant and the ratios numpy / variant (``numpy_tf`` for ``tf_trainer`` when run: the same
    checkpoint)."""
    keys = [
        "import_s",
        "load_s",
        "first_action_s",
        "total_s",
        "launch_to_first_action_s",
        "process_s",
        "peak_rss_mb",
        "peak_rss_steady_mb",
    ]
    keys += ["action_us_median", "action_us_mean", "modules"]
    med: dict[str, dict[str, float]] = {}
    for variant in dict.fromkeys(r["variant"] for r in runs):
        rs = [r for r in runs if r["variant"] == variant]
        med[variant] = {k: statistics.median(r[k] for r in rs) for k in keys} | {"runs": len(rs)}
    ratios: dict[str, dict[str, Any]] = {}
    for variant, m in med.items():
        base = "numpy_tf" if variant == "tf_trainer" and "numpy_tf" in med else "numpy"
        if base in med and not variant.startswith("numpy") and variant != "baseline":
            ratios[variant] = {"numpy_variant": base} | {k: med[base][k] / m[k] for k in keys if m[k]}
    return {"median": med, "ratio_numpy_over": ratios}


def markdown(results: dict[str, Any]) -> str:
    """One table per model: medians per variant and numpy's ratio to it."""
    lines = []
    for kind, res in results["models"].items():
        med, ratios = res["summary"]["median"], res["summary"]["ratio_numpy_over"]
        lines += [f"**{kind}** ({res['env']}; actions agree between the variants: {res['actions_agree']})", ""]
        head = ["variant", "import s", "load s", "first action ms", "total s", "launch to action s", "peak RSS MB"]
        head += ["action µs (median)", "modules", "numpy / it: total", "numpy / it: RSS", "numpy / it: action"]
        lines += ["| " + " | ".join(head) + " |", "| --- " + "| ---: " * (len(head) - 1) + "|"]
        for variant, m in med.items():
            r = ratios.get(variant)
            cells = [
                variant,
                f"{m['import_s']:.3f}",
                f"{m['load_s']:.3f}",
                f"{1e3 * m['first_action_s']:.2f}",
                f"{m['total_s']:.3f}",
                f"{m['launch_to_first_action_s']:.2f}",
                f"{m['peak_rss_mb']:.0f}",
                f"{m['action_us_median']:.0f}",
                f"{m['modules']:.0f}",
                f"{r['total_s']:.2f}" if r else "",
                f"{r['peak_rss_mb']:.2f}" if r else "",
                f"{r['action_us_median']:.2f}" if r else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--actions", type=int, default=1000, help="steady single actions timed after the first")
    p.add_argument("--models", nargs="+", default=list(CHECKPOINTS), choices=list(CHECKPOINTS))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--workdir", default="/tmp/rlcore-serve-bench", help="checkpoints and observations (reused)")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/serve.json"))
    p.add_argument(
        "--core-python",
        help="the python of a venv with only ./core installed: adds the variants numpy_core and numpy_core_tf "
        "(numpy acting there, on the torch and the TF checkpoint)",
    )
    args = p.parse_args()
    variants = list(args.variants) + (["numpy_core", "numpy_core_tf"] if args.core_python else [])
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    frameworks = ["torch"] + (["tf"] if any(v == "tf_trainer" or v.endswith("_tf") for v in variants) else [])
    setup = {
        kind: ({fw: ensure_checkpoint(workdir, kind, fw) for fw in frameworks}, ensure_observations(workdir, kind))
        for kind in args.models
    }
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in args.models}
    for rep in range(args.repeats):
        for kind in args.models:
            ckpts, obs = setup[kind]
            # alternate the order too, so no variant always runs right after the same one
            order = variants if rep % 2 == 0 else variants[::-1]
            for variant in order:
                python = args.core_python if "_core" in variant else sys.executable
                row = run_child(variant, checkpoint_of(variant, ckpts), obs, args.actions, python) | {"repeat": rep + 1}
                runs[kind].append(row)
                log(
                    f"{kind} {variant} #{rep + 1}: total {row['total_s']:.3f} s, "
                    f"launch to action {row['launch_to_first_action_s']:.2f} s, RSS {row['peak_rss_mb']:.0f} MB, "
                    f"{row['action_us_median']:.0f} µs/action, load {row['loadavg_1min']}"
                )
    results: dict[str, Any] = {
        "started_utc": started,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(["benchmarks/serve.py", *sys.argv[1:]]),
        "python": sys.version.split()[0],
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_core_files": git("status", "--porcelain", "--", "core", "plugins").splitlines(),
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "actions": args.actions,
        "models": {},
    }
    for kind in args.models:
        ckpts, _ = setup[kind]
        rs = runs[kind]
        by_ckpt: dict[str, set[tuple[int, ...]]] = {}
        for r in rs:
            if r["variant"] == "baseline":  # acts nothing
                continue
            by_ckpt.setdefault(str(checkpoint_of(r["variant"], ckpts)), set()).add(tuple(r["actions"]))
        results["models"][kind] = {
            "env": CHECKPOINTS[kind][0],
            "train_config": CHECKPOINTS[kind][1],
            "checkpoints": {
                fw: {"path": str(c), "bytes": sum(f.stat().st_size for f in c.iterdir())} for fw, c in ckpts.items()
            },
            "actions_agree": all(len(v) == 1 for v in by_ckpt.values()),
            "numpy_heavy_modules": sorted(
                {m for r in rs if r["variant"].startswith("numpy") for m in r["heavy_modules"]}
            ),
            "summary": summarize(rs),
            "runs": [{k: v for k, v in r.items() if k != "actions"} for r in rs],
        }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
