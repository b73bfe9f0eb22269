"""The ``rlcore`` command line. Subcommands import only what they need, so
``rlcore list-plugins`` answers in about the time of a bare Python start."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

EPILOG_LIST = """examples:
  rlcore list-plugins              table of plugins, their status and what they provide
  rlcore list-plugins --json       stable, sorted JSON for scripts
  rlcore list-plugins --check      exit 1 if any plugin is broken (for CI of plugin authors)
"""


def _provides_text(provides: dict[str, list[str]]) -> str:
    parts = [f"{kind}: {', '.join(sorted(names))}" for kind, names in sorted(provides.items()) if names]
    return "; ".join(parts) if parts else "-"


def cmd_list_plugins(args: argparse.Namespace) -> int:
    """Print the plugins table (or JSON); with ``--check`` exit 1 when a plugin is broken."""
    from rlcore.plugins import BROKEN, load_plugins

    infos = load_plugins().plugin_infos()
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2, sort_keys=True))
    else:
        rows = [("NAME", "VERSION", "STATUS", "PROVIDES")]
        rows += [(i.name, i.version or "-", i.status, _provides_text(i.provides)) for i in infos]
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        errors = {i.name: i.error for i in infos if i.error}
        for row in rows:
            print("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:3])) + "  " + row[3])
            if row[0] in errors:
                print(f"    error: {errors[row[0]]}")
        if not infos:
            print("(no plugins installed: pip install rlcore-torch rlcore-optimizers rlcore-algos)")
    if args.check and any(i.status == BROKEN for i in infos):
        broken = ", ".join(i.name for i in infos if i.status == BROKEN)
        print(f"broken plugins: {broken}", file=sys.stderr)
        return 1
    return 0


EPILOG_TRAIN = """examples:
  rlcore train --env CartPole-v1 --run PPO
  rlcore train --env CartPole-v1 --run PPO --framework tf --num-workers 2
  rlcore train --env Pendulum-v1 --run PPO --config '{"lr": 0.0003, "model": {"fcnet_hiddens": [64, 64]}}'
  rlcore train --env CartPole-v1 --run PPO --stop '{"timesteps_total": 50000}' --json

Without --stop, training stops when the env's reward threshold (gymnasium's spec, 475 for
CartPole-v1) is reached by episode_reward_mean, or after 1,000,000 timesteps.
"""


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def default_stop(env: str) -> dict[str, float]:
    """Stop at the env's gymnasium reward threshold (if it has one) or after 1M timesteps."""
    stop: dict[str, float] = {"timesteps_total": 1_000_000}
    try:
        import gymnasium

        spec = gymnasium.spec(env)
        if spec.reward_threshold is not None:
            stop["episode_reward_mean"] = float(spec.reward_threshold)
    except Exception:  # noqa: BLE001 - not a gymnasium id: no threshold
        pass
    return stop


def _progress_line(r: dict) -> str:
    rate = r["timesteps_this_iter"] / max(r["time_this_iter_s"], 1e-9)
    reward = r["episode_reward_mean"]
    reward_text = "   n/a" if reward != reward else f"{reward:8.2f}"
    return (
        f"iter {r['training_iteration']:4d}  timesteps {r['timesteps_total']:9d}  reward {reward_text}  "
        f"episodes {r['episodes_total']:6d}  {rate:8.0f} steps/s  {r['time_total_s']:7.1f} s"
    )


def cmd_train(args: argparse.Namespace) -> int:
    """Train an algorithm on an env until a stop criterion is reached."""
    from rlcore.registration import get_algorithm_class
    from rlcore.results import check_stop, dumps, should_stop

    config = dict(args.config or {})
    if args.framework:
        config["framework"] = args.framework
    if args.num_workers is not None:
        config["num_workers"] = args.num_workers
    if args.ray_address:
        config["ray_address"] = args.ray_address
    stop = check_stop(args.stop if args.stop is not None else default_stop(args.env))
    trainer_cls = get_algorithm_class(args.run)
    trainer = trainer_cls(config=config, env=args.env)
    result: dict = {}
    try:
        if not args.quiet and not args.json:
            fw = trainer.config["framework"]
            print(f"training {args.run} ({fw}) on {args.env}; stop: {stop}", flush=True)
        while True:
            result = trainer.train()
            if args.json:
                print(dumps({k: v for k, v in result.items() if k != "config"}), flush=True)
            elif not args.quiet:
                print(_progress_line(result), flush=True)
            if should_stop(result, stop):
                break
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        trainer.stop()
    if result and not args.json:
        print(
            f"done: {result['training_iteration']} iterations, {result['timesteps_total']} timesteps, "
            f"episode_reward_mean {result['episode_reward_mean']:.2f}, {result['time_total_s']:.1f} s"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rlcore`` command."""
    from rlcore import __version__

    parser = argparse.ArgumentParser(
        prog="rlcore",
        description="rlcore: scalable reinforcement learning with pluggable frameworks and algorithms.",
    )
    parser.add_argument("--version", action="version", version=f"rlcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    lp = sub.add_parser(
        "list-plugins",
        help="list installed plugins, their status and what they provide",
        epilog=EPILOG_LIST,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lp.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    lp.add_argument("--check", action="store_true", help="exit with status 1 when any plugin is broken")
    lp.set_defaults(func=cmd_list_plugins)

    tr = sub.add_parser(
        "train",
        help="train an algorithm on an env (embedded, or with Ray workers)",
        epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tr.add_argument("--env", required=True, help="a gymnasium id or an env registered with rlcore")
    tr.add_argument("--run", required=True, help="the algorithm: PPO, DQN, ... (rlcore list-plugins shows them)")
    tr.add_argument("--framework", help="torch, tf, or another framework a plugin provides (default: torch)")
    tr.add_argument("--num-workers", type=int, help="remote evaluators (Ray actors); 0 = one process, no Ray")
    tr.add_argument("--config", type=_json_arg, help="algorithm config overrides as a JSON object")
    tr.add_argument("--stop", type=_json_arg, help="stop criteria as JSON, e.g. '{\"timesteps_total\": 100000}'")
    tr.add_argument("--ray-address", help="join an existing Ray cluster at this address")
    tr.add_argument("--json", action="store_true", help="print one JSON result per line instead of progress")
    tr.add_argument("--quiet", action="store_true", help="print only the final summary")
    tr.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rlcore`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from rlcore.errors import RLCoreError

    try:
        return int(args.func(args))
    except RLCoreError as exc:
        print(f"rlcore: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
