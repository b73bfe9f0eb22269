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
