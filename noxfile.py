"""Sessions for rlcore's monorepo, built from registry.toml.

Each first-party package is installed *alone* (not editable, so entry points come from real
metadata) with its own dependencies and tested; the core is also tested without any framework;
``full`` installs everything and runs the default suite, ``learning`` the learning tier.
Every install goes through constraints.txt (torch pinned to the CPU build on disk).

    nox                    # every session (what CI runs)
    nox -s core            # the core alone, no torch/TensorFlow/Ray installed
    nox -s "plugin(torch)" # one plugin with the core, alone
    nox -s reliability     # fault injection (marker ``reliability``)
    nox -s lint types
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
REGISTRY = tomllib.loads((ROOT / "registry.toml").read_text())
PLUGINS = {p["name"]: p for p in REGISTRY["plugin"]}
CONSTRAINTS = ["-c", str(ROOT / "constraints.txt")]
# The CPU build of torch lies on this machine's disk; pip finds it there.
FIND_LINKS = ["--find-links", "/opt/wheels"] if Path("/opt/wheels").is_dir() else []
PYTEST = ["pytest", "-p", "no:cacheprovider", "--import-mode=importlib"]

nox.options.sessions = ["lint", "types", "core", "plugin", "example", "full", "reliability", "learning"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True


def install(session: nox.Session, *args: str) -> None:
    """pip install with the constraints file (and the local torch wheel where present)."""
    session.install(*CONSTRAINTS, *FIND_LINKS, *args)


def all_packages() -> list[str]:
    return ["./core", *(f"./{p['folder']}" for p in PLUGINS.values())]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format check of the whole tree."""
    install(session, "ruff==0.17.6")  # pinned: a new ruff may format differently
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    """mypy on the core."""
    install(session, "mypy==2.4.1", "pytest", "./core[plot]", "ray[tune]")
    session.run("mypy")


@nox.session
def core(session: nox.Session) -> None:
    """The core alone: no torch, TensorFlow or Ray in the environment."""
    install(session, "./core[plot]", "pytest")
    code = (
        "import importlib.util as u, sys; found = [m for m in ('torch', 'tensorflow', 'ray') if u.find_spec(m)]; "
        "sys.exit(f'installed: {found}' if found else 0)"
    )
    session.run("python", "-c", code)
    session.run(*PYTEST, "core/tests", "-m", "not ray and not reliability", *session.posargs)


@nox.session
@nox.parametrize("name", sorted(PLUGINS))
def plugin(session: nox.Session, name: str) -> None:
    """One first-party plugin installed with the core only (plus the plugins its tests need, from
    registry.toml's ``test_plugins``: never another framework), and its own tests."""
    folder = PLUGINS[name]["folder"]
    # A framework plugin's tests check its policies with their algorithms (rl_algos): test_plugins.
    extra = [f"./{PLUGINS[p]['folder']}" for p in PLUGINS[name].get("test_plugins", [])]
    install(session, "./core", f"./{folder}", *extra, "pytest")
    session.run("rlcore", "list-plugins", "--check")
    # Ray is not installed with a plugin alone: its Ray tests run in the full session.
    session.run(*PYTEST, f"{folder}/tests", "-m", "not learning and not ray", *session.posargs)


@nox.session
def example(session: nox.Session) -> None:
    """The third-party example plugin installed from its folder, with its contract tests."""
    # its PG algorithm trains with LocalSyncOptimizer (rlcore-optimizers)
    install(session, "./core", "./plugins/rl_optimizers", "./examples/numpy_plugin", "pytest")
    session.run("rlcore", "list-plugins", "--check")
    session.run(*PYTEST, "examples/numpy_plugin/tests", "-m", "not ray", *session.posargs)


@nox.session
def full(session: nox.Session) -> None:
    """Everything installed together (with Ray): the default suite, learning tier excluded."""
    # nox: tests/test_readme.py checks the README's nox commands with `nox --list`
    install(session, *all_packages(), "./core[ray,plot]", "pytest", "nox")
    session.run(*PYTEST, "-m", "not learning and not reliability", *session.posargs)


@nox.session
def reliability(session: nox.Session) -> None:
    """Fault injection, everything installed: killed workers, tampered checkpoints, broken envs
    and plugins, bad configs through the CLI (marker ``reliability``)."""
    install(session, *all_packages(), "./core[ray,plot]", "pytest")
    session.run(*PYTEST, "-m", "reliability", *session.posargs)


@nox.session
def learning(session: nox.Session) -> None:
    """The learning tier: algorithms train to reward thresholds, seeds fixed."""
    install(session, *all_packages(), "./core[ray]", "pytest")
    session.run(*PYTEST, "-m", "learning", *session.posargs, success_codes=[0, 5])
