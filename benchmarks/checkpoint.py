"""Checkpoint save/restore cost: rlcore's pickle-free, fsynced, atomic checkpoint against
``torch.save``/``torch.load`` of the same network and Adam state (pickle-based, what SB3 and most
torch code use; no fsync, no rename).

Both sides hold the PPO torch evaluator's state for CartPole-v1 with ``fcnet_hiddens`` of the
given width (policy + value towers, Adam moments). rlcore: ``Trainer.save`` (npz + JSON with
SHA-256, fsync, rename) and ``Trainer.restore`` (verify, decode, load into the evaluator, with
rollback snapshot). torch: ``torch.save({"model": state_dict, "optim": adam.state_dict()})`` and
``torch.load(weights_only=True)`` + ``load_state_dict``. Rounds alternate; medians and ratios.

Usage: .venv/bin/python benchmarks/checkpoint.py [--widths 256 1024] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT


def _time(fn, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench(width: int, rounds: int) -> dict:
    import torch

    from rlcore.registration import get_algorithm_class

    config = {"train_batch_size": 256, "sgd_minibatch_size": 128, "num_sgd_iter": 1, "seed": 0}
    config["model"] = {"fcnet_hiddens": [width, width]}
    trainer = get_algorithm_class("PPO")(config=config, env="CartPole-v1")
    trainer.train()
    # the peer: the same layer sizes as torch modules with a stepped torch Adam
    layers = []
    for out in (2, 1):  # policy tower, value tower
        layers += [torch.nn.Linear(4, width), torch.nn.Linear(width, width), torch.nn.Linear(width, out)]
    model = torch.nn.ModuleList(layers)
    adam = torch.optim.Adam(model.parameters())
    sum(p.sum() for p in model.parameters()).backward()
    adam.step()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = trainer.save(root / "rlcore")
        torch_file = root / "torch.pt"

        def torch_save() -> None:
            torch.save({"model": model.state_dict(), "optim": adam.state_dict()}, torch_file)

        def torch_load() -> None:
            data = torch.load(torch_file, weights_only=True)
            model.load_state_dict(data["model"])
            adam.load_state_dict(data["optim"])

        torch_save()
        out = {"width": width, "rlcore": {}, "torch": {}}
        # interleave: one sample of each per round
        r_save, r_load, t_save, t_load = [], [], [], []
        for _ in range(rounds):
            r_save.append(_time(lambda: trainer.save(root / "rlcore"), 1))
            t_save.append(_time(torch_save, 1))
            r_load.append(_time(lambda: trainer.restore(path), 1))
            t_load.append(_time(torch_load, 1))
        out["rlcore"] = {
            "save_ms": 1e3 * statistics.median(r_save),
            "restore_ms": 1e3 * statistics.median(r_load),
            "bytes": sum(f.stat().st_size for f in path.iterdir()),
        }
        out["torch"] = {
            "save_ms": 1e3 * statistics.median(t_save),
            "restore_ms": 1e3 * statistics.median(t_load),
            "bytes": torch_file.stat().st_size,
        }
    trainer.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/checkpoint.json"))
    args = p.parse_args()
    rows = [bench(w, args.rounds) for w in args.widths]
    print("| fcnet width | rlcore save ms | torch.save ms | ratio | rlcore restore ms | torch.load ms | ratio "
          "| rlcore bytes | torch bytes |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        a, b = r["rlcore"], r["torch"]
        print(
            f"| {r['width']} | {a['save_ms']:.1f} | {b['save_ms']:.1f} | {a['save_ms'] / b['save_ms']:.2f} "
            f"| {a['restore_ms']:.1f} | {b['restore_ms']:.1f} | {a['restore_ms'] / b['restore_ms']:.2f} "
            f"| {a['bytes']:,} | {b['bytes']:,} |"
        )
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
