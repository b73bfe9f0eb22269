"""The ``rlcore`` command line. Subcommands import only what they need, so
``rlcore list-plugins`` answers in about the time of a bare Python start."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlcore.plugins import PluginInfo

EPILOG_MAIN = """examples:
  rlcore list-plugins
  rlcore train --env CartPole-v1 --run PPO --checkpoint-at-end
  rlcore train -f tuned_examples/cartpole-ppo-grid.yaml
  rlcore rollout ~/rlcore_results/PPO_CartPole-v1/<trial>
  rlcore plot ~/rlcore_results/PPO_CartPole-v1 -o curve.png
  rlcore check-evaluator PPO --framework tf

rlcore COMMAND --help shows each command's options and examples.
"""

EPILOG_LIST = """examples:
  rlcore list-plugins              table of plugins, their status and what they provide
  rlcore list-plugins --json       stable, sorted JSON for scripts
  rlcore list-plugins --check      exit 1 if any plugin is broken or clashes (for CI of plugin authors)

The core's own plugins (the loggers json, csv, tensorboard and the progress display) are listed
as built-in (distribution rlcore); RLCORE_DISABLE_PLUGINS=tensorboard,... skips any plugin.
"""


def _provides_text(info: PluginInfo) -> str:
    parts = [f"{kind}: {', '.join(sorted(names))}" for kind, names in sorted(info.provides.items()) if names]
    if info.builtin:
        parts.insert(0, f"built-in {info.summary}".strip())
    return "; ".join(parts) if parts else "-"


def cmd_list_plugins(args: argparse.Namespace) -> int:
    """Print the plugins table (or JSON); with ``--check`` exit 1 when a plugin is broken or clashes
    (``--check`` also compares plugins' env ids with gymnasium's, which imports gymnasium)."""
    from rlcore.plugins import FAILING_STATUSES, load_plugins

    infos = load_plugins().plugin_infos(check_env_ids=args.check)
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2, sort_keys=True))
    else:
        rows = [("NAME", "VERSION", "STATUS", "PROVIDES")]
        rows += [(i.name, i.version or "-", i.status, _provides_text(i)) for i in infos]
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        errors = {i.name: i.error for i in infos if i.error}
        for row in rows:
            print("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:3])) + "  " + row[3])
            if row[0] in errors:
                print(f"    error: {errors[row[0]]}")
        if not infos:
            print(
                "(no plugins installed; from the root of an rlcore checkout: pip install -c constraints.txt "
                "./plugins/rl_torch ./plugins/rl_optimizers ./plugins/rl_algos)"
            )
    if args.check and any(i.status in FAILING_STATUSES for i in infos):
        failing = ", ".join(f"{i.name} ({i.status})" for i in infos if i.status in FAILING_STATUSES)
        print(f"rlcore: plugins that need fixing: {failing}", file=sys.stderr)
        return 1
    return 0


EPILOG_TRAIN = """examples:
  rlcore train --env CartPole-v1 --run PPO
  rlcore train --env CartPole-v1 --run PPO --framework tf --num-workers 2
  rlcore train --env Pendulum-v1 --run PPO --config '{"lr": 0.0003, "model": {"fcnet_hiddens": [64, 64]}}'
  rlcore train --env CartPole-v1 --run PPO --stop '{"timesteps_total": 50000}' --json
  rlcore train --env CartPole-v1 --run PPO --checkpoint-freq 1 --stop '{"training_iteration": 3}'
  rlcore train --restore ~/rlcore_results/PPO_CartPole-v1/PPO_CartPole-v1_2026-11-25_18-00-00
  rlcore train --restore PATH --framework tf          # continue a torch checkpoint on TensorFlow
  rlcore train -f tuned_examples/cartpole-ppo-grid.yaml --local-dir results   # Ray Tune grid search
  rlcore train -f tuned_examples/cartpole-apex.yaml   # Ape-X: 2 Ray workers, 2 replay shards, a learner thread
  rlcore train -f tuned_examples/pixelgrid-dqn.yaml   # DQN with a conv Q-network on 16x16 uint8 frames

Without --stop, training stops when the env's reward threshold (gymnasium's spec, 475 for
CartPole-v1) is reached by episode_reward_mean, or after 1,000,000 timesteps.
Results (params.json, result.json, progress.csv, TensorBoard events, checkpoints) go to
<local-dir>/<experiment-name>/<trial>; local-dir defaults to $RLCORE_RESULTS_DIR or ~/rlcore_results.
The files and the progress display are built-in plugins: RLCORE_DISABLE_PLUGINS=tensorboard skips one.
--restore takes a checkpoint folder or a trial folder (its latest checkpoint); the algorithm,
env and config come from the checkpoint unless given.
"""


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno}): {text!r}") from None
    except RecursionError:
        raise argparse.ArgumentTypeError(
            f"JSON nested too deeply to read ({len(text)} characters starting {text[:40]!r})"
        ) from None
    except ValueError as exc:  # a number past what Python reads (an int of over 4300 digits)
        raise argparse.ArgumentTypeError(f"JSON that cannot be read ({exc}); starting {text[:40]!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    if _nesting(value) > MAX_JSON_NESTING:
        raise argparse.ArgumentTypeError(
            f"JSON nested more than {MAX_JSON_NESTING} levels deep ({text[:40]!r}...); configs are a few levels deep"
        )
    return value


#: The deepest nesting of objects/arrays that --config and --stop take (configs are a few levels).
MAX_JSON_NESTING = 64


def _nesting(value: Any) -> int:
    """How many levels of dicts/lists ``value`` nests (iteratively: no recursion limit)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            todo.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _non_negative(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (never) or more, got {value}")
    return value


def _positive(text: str) -> int:
    """A count of at least 1 (rollout's --episodes): refused before any checkpoint is read."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _seed_arg(text: str) -> int:
    """A seed as numpy and gymnasium take it: a whole number from 0 to 2**32 - 1."""
    from rlcore.config_schema import MAX_SEED

    value = _whole(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_SEED}, got {value}")
    return value


def _framework_arg(text: str) -> str:
    """rollout's ``--framework NAME``: a framework name, never a path (``--framework CHECKPOINT``
    would otherwise take the checkpoint as the name and then miss it)."""
    from pathlib import Path

    folder = Path(text)
    path = "/" in text or os.sep in text or (folder.is_dir() and any(folder.glob("checkpoint*")))
    if not text or path:
        raise argparse.ArgumentTypeError(
            f"takes a framework name (torch, tf, or another a plugin provides), got {text!r}"
            + (", a path: give it as --framework NAME, before or after the checkpoint" if text else "")
        )
    return text


def _display_mode(args: argparse.Namespace) -> str:
    return "json" if args.json else "quiet" if args.quiet else "auto"


def cmd_train(args: argparse.Namespace) -> int:
    """Train an algorithm on an env (or the experiments of a YAML file) until a stop criterion."""
    from rlcore.errors import ConfigError

    if args.file:
        names = ("env", "run", "restore", "stop", "framework", "num_workers", "config", "experiment_name")
        given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is not None]
        if given:
            raise ConfigError(
                f"-f runs the experiments of {args.file}; give {', '.join(given)} in that file instead (env, run, "
                "restore, stop, config: {framework, num_workers, ...}; the experiment's name is its top-level key)"
            )
        return _train_experiments(args)
    return _train_one(args)


def _train_one(args: argparse.Namespace) -> int:
    from rlcore.errors import ConfigError
    from rlcore.progress import progress_display
    from rlcore.run import resolve_restore, run_trial

    config = dict(args.config or {})
    if args.framework:
        config["framework"] = args.framework
    if args.num_workers is not None:
        config["num_workers"] = args.num_workers
    if args.ray_address:
        config["ray_address"] = args.ray_address
    run, env = args.run, args.env
    if args.restore:
        from rlcore.config_aliases import refuse_grid_search

        refuse_grid_search(config, owner=run or "")  # named as given: the restore translates 2018 names
        run, env, config = resolve_restore(args.restore, run, env, config)
    if not run or not env:
        missing = " and ".join(f"--{n}" for n, v in (("env", env), ("run", run)) if not v)
        raise ConfigError(f"rlcore train needs {missing} (or --restore CHECKPOINT, or -f experiments.yaml)")
    if args.ray_address and not config.get("num_workers"):
        print(
            f"rlcore: warning: --ray-address {args.ray_address} is ignored: without --num-workers N (N > 0) "
            "training runs in this process and starts no Ray (or run experiments with -f)",
            file=sys.stderr,
        )
    mode = _display_mode(args)
    display = progress_display()
    if display is None and mode == "json":
        print(
            "rlcore: warning: --json prints through the built-in plugin 'progress', which "
            "RLCORE_DISABLE_PLUGINS disables: no results will be printed",
            file=sys.stderr,
        )
    outcome = None
    try:
        with display.configured(mode) if display is not None else contextlib.nullcontext():
            outcome = run_trial(
                run,
                env,
                config,
                args.stop,
                local_dir=args.local_dir,
                experiment=args.experiment_name,
                checkpoint_freq=args.checkpoint_freq,
                checkpoint_at_end=args.checkpoint_at_end,
                restore=args.restore,
            )
    finally:
        if outcome is not None and outcome.result and mode != "json":
            r = outcome.result
            summary = (
                f"{'interrupted' if outcome.interrupted else 'done'}: {r['training_iteration']} iterations, "
                f"{r['timesteps_total']} timesteps, episode_reward_mean {r['episode_reward_mean']:.2f}, "
                f"{r['time_total_s']:.1f} s; results in {outcome.logdir}"
            )
            if outcome.checkpoints:
                summary += f"\nlast checkpoint: {outcome.checkpoints[-1]}"
            print(summary, flush=True)
    return 130 if outcome is not None and outcome.interrupted else 0


def _train_experiments(args: argparse.Namespace) -> int:
    from rlcore.experiments import load_experiments
    from rlcore.run import check_results_root, fill_default_stops
    from rlcore.tune import run_experiments

    experiments = load_experiments(args.file)
    check_results_root(args.local_dir)
    fill_default_stops(experiments)
    for spec in experiments.values():
        for key, value in (("checkpoint_freq", args.checkpoint_freq), ("checkpoint_at_end", args.checkpoint_at_end)):
            if value:
                setattr(spec, key, value)
    trials = run_experiments(
        experiments,
        local_dir=args.local_dir,
        ray_address=args.ray_address,
        quiet=args.quiet or args.json,
        raise_on_error=False,
    )
    failed = [t for t in trials if t.error]
    if args.json:
        print(json.dumps([t.as_dict() for t in trials], indent=2))
    else:
        for t in trials:
            print(t.summary_line())
    return 1 if failed else 0


EPILOG_ROLLOUT = """examples:
  rlcore rollout ~/rlcore_results/PPO_CartPole-v1/PPO_CartPole-v1_2026-11-25_18-00-00
  rlcore rollout results/exp/trial/checkpoint_000010 --episodes 20 --json
  rlcore rollout CHECKPOINT --render                  # draw the env (needs pygame for classic control)
  rlcore rollout CHECKPOINT --framework torch         # act through a torch trainer (needs its plugins)

The policy acts with numpy alone (the checkpoint's catalog model, preprocessor and observation
filter; no torch, TensorFlow or Ray needed). A checkpoint that needs its framework (a custom
model) acts through its trainer when the framework plugin is installed (said on stderr);
--framework NAME forces that path: restored into a trainer of framework NAME (name the
checkpoint's own framework, or another: the canonical weights restore into either). Actions are
deterministic (the distribution's mode) unless --explore is given. A trial folder resolves to its
latest checkpoint; the checkpoint taken (folder, iteration) and what acts are printed on stderr.
"""


def cmd_rollout(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint's policy for N episodes and print their returns."""
    from rlcore.checkpoint import find_checkpoint, read_checkpoint_meta
    from rlcore.rollout import load_rollout_policy, rollout

    # say which checkpoint a trial (or experiment) folder resolved to: stderr, so --json stays JSON
    chosen = find_checkpoint(args.checkpoint)
    meta = read_checkpoint_meta(chosen)
    policy = load_rollout_policy(
        chosen,
        framework=args.framework,
        seed=args.seed,
        notify=lambda note: print(f"rlcore rollout: {chosen}: {note}", file=sys.stderr, flush=True),
    )
    print(
        f"rlcore rollout: checkpoint {chosen} (iteration {meta['iteration']}, {meta['timesteps_total']} timesteps; "
        f"{meta['algorithm']} ({meta['framework']}) on {meta['env']}); acting with {policy.acting_with}",
        file=sys.stderr,
        flush=True,
    )
    returns = []
    episodes = rollout(
        chosen, episodes=args.episodes, render=args.render, explore=args.explore, seed=args.seed, policy=policy
    )
    for episode in episodes:
        returns.append(episode.episode_reward)
        if args.json:
            print(
                json.dumps(
                    {"episode": len(returns), "return": episode.episode_reward, "length": episode.episode_length}
                ),
                flush=True,
            )
        else:
            print(
                f"episode {len(returns):4d}  return {episode.episode_reward:10.2f}  length {episode.episode_length}",
                flush=True,
            )
    if not args.json and returns:
        import statistics

        spread = statistics.pstdev(returns)
        print(f"mean return {statistics.fmean(returns):.2f} +- {spread:.2f} over {len(returns)} episodes")
    return 0


EPILOG_PLOT = """examples:
  rlcore plot ~/rlcore_results/PPO_CartPole-v1            # every trial below, one line each -> curve.png
  rlcore plot results/cartpole-ppo-grid -o grid.png
  rlcore plot results --y episode_len_mean --x time_total_s

One panel per env; each trial's line is labelled with the config values that differ between the
trials of its panel (lr=0.001, num_sgd_iter=8), read from the trial's params.json.
Needs matplotlib; from the root of an rlcore checkout: pip install -c constraints.txt './core[plot]'.
"""


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw the learning curves of the trials under a results folder to an image file."""
    from rlcore.plot import plot_results

    path = plot_results(args.results_dir, args.output, x=args.x, y=args.y, title=args.title)
    print(f"wrote {path}")
    return 0


EPILOG_CHECK = """examples:
  rlcore check-evaluator PPO                    # the PPO evaluator of the default framework (torch)
  rlcore check-evaluator DQN --framework tf
  rlcore check-evaluator PG --framework numpy   # the example third-party plugin's policy and whole
  rlcore check-evaluator PG --framework numpy_whole --remote --training   # evaluator (examples/numpy_plugin)

NAME and --framework are those of rlcore list-plugins (policies: NAME/FRAMEWORK, evaluators:
NAME/FRAMEWORK); an unknown pair is refused with the list of registered ones.

Runs rlcore.testing's conformance suite (check_evaluator; for a policy also check_policy) on the
registered evaluator and prints each check; exits 1 with what broke and how to fix it.
--training also trains it through the trainer with every applicable optimizer, embedded (and
with --remote on 2 Ray workers).
"""


def cmd_check_evaluator(args: argparse.Namespace) -> int:
    """Run the conformance kit on one registered evaluator."""
    from rlcore.testing.cli_check import run_check

    return run_check(args.name, args.framework, remote=args.remote, training=args.training)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rlcore`` command."""
    from rlcore import __version__

    parser = argparse.ArgumentParser(
        prog="rlcore",
        description="rlcore: scalable reinforcement learning with pluggable frameworks and algorithms.",
        epilog=EPILOG_MAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    lp.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when any plugin is broken or clashes (missing-deps is fine)",
    )
    lp.set_defaults(func=cmd_list_plugins)

    tr = sub.add_parser(
        "train",
        help="train an algorithm on an env (embedded, with Ray workers, or a Ray Tune experiments file)",
        epilog=EPILOG_TRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tr.add_argument("-f", "--file", help="a YAML file of experiments (RLlib's tuned-example format), run by Ray Tune")
    tr.add_argument("--env", help="a gymnasium id or an env registered with rlcore")
    tr.add_argument("--run", help="the algorithm: PPO, DQN, ... (rlcore list-plugins shows them)")
    tr.add_argument(
        "--framework",
        help="torch, tf, numpy, or another framework a plugin provides (default: the algorithm's own: "
        "torch for PPO, A2C, A3C, DQN and APEX, numpy for ES)",
    )
    tr.add_argument("--num-workers", type=int, help="remote evaluators (Ray actors); 0 = one process, no Ray")
    tr.add_argument("--config", type=_json_arg, help="algorithm config overrides as a JSON object")
    tr.add_argument("--stop", type=_json_arg, help="stop criteria as JSON, e.g. '{\"timesteps_total\": 100000}'")
    tr.add_argument(
        "--checkpoint-freq", type=_non_negative, default=0, metavar="N", help="checkpoint every N iterations"
    )
    tr.add_argument("--checkpoint-at-end", action="store_true", help="checkpoint when training stops")
    tr.add_argument("--restore", metavar="PATH", help="continue from a checkpoint (or a trial folder's latest)")
    tr.add_argument(
        "--local-dir", help="root of the results folders (default: $RLCORE_RESULTS_DIR or ~/rlcore_results)"
    )
    tr.add_argument("--experiment-name", help="results subfolder (default: <run>_<env>)")
    tr.add_argument("--ray-address", help="join an existing Ray cluster at this address")
    tr.add_argument(
        "--json", action="store_true", help="print one JSON result per line (with the trial folder as logdir)"
    )
    tr.add_argument("--quiet", action="store_true", help="print only the final summary")
    tr.set_defaults(func=cmd_train)

    ro = sub.add_parser(
        "rollout",
        help="evaluate a checkpoint's policy and print episode returns",
        epilog=EPILOG_ROLLOUT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ro.add_argument("checkpoint", help="a checkpoint folder, or a trial folder (its latest checkpoint)")
    ro.add_argument("--episodes", type=_positive, default=10, help="episodes to run (default 10)")
    ro.add_argument("--render", action="store_true", help="render the env (render_mode='human')")
    ro.add_argument("--explore", action="store_true", help="sample actions instead of taking the most likely")
    ro.add_argument("--seed", type=_seed_arg, default=None, help="seed of the first episode's reset")
    ro.add_argument("--json", action="store_true", help="one JSON object per episode")
    ro.add_argument(
        "--framework",
        type=_framework_arg,
        default=None,
        metavar="NAME",
        help="act through a trainer of framework NAME (torch, tf: the checkpoint's own or another) instead of "
        "numpy; needs the algorithm's and the framework's plugins",
    )
    ro.set_defaults(func=cmd_rollout)

    pl = sub.add_parser(
        "plot",
        help="draw learning curves (reward against timesteps, a line per trial) to a PNG",
        epilog=EPILOG_PLOT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pl.add_argument("results_dir", help="a results root, experiment or trial folder (every result.json below)")
    pl.add_argument("-o", "--output", default="curve.png", help="image file to write, or a folder (curve.png in it)")
    pl.add_argument("--x", default="timesteps_total", help="result key on the x axis (default timesteps_total)")
    pl.add_argument("--y", default="episode_reward_mean", help="result key on the y axis (default episode_reward_mean)")
    pl.add_argument("--title", help="figure title (default: the folder's name)")
    pl.set_defaults(func=cmd_plot)

    ce = sub.add_parser(
        "check-evaluator",
        help="run the evaluator conformance kit on a registered evaluator",
        epilog=EPILOG_CHECK,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ce.add_argument("name", help="algorithm name the evaluator is registered under (PPO, DQN, ...)")
    ce.add_argument("--framework", default=None, help="framework of the evaluator (default: the first registered)")
    ce.add_argument("--remote", action="store_true", help="also check it as a Ray actor (starts a local Ray)")
    ce.add_argument(
        "--training", action="store_true", help="also train it with each applicable optimizer (check_training)"
    )
    ce.set_defaults(func=cmd_check_evaluator)
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
    except OSError as exc:  # a path that cannot be written or read: the OS's words, no traceback
        print(f"rlcore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlcore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
