"""Every code block of README.md runs as written.

The blocks are read from the README itself (fences ```bash, ```sh, ```shell, ```console, ```python,
```yaml, ```toml); one parametrized test per block, its id the section heading and the block's
index in that section, so a block that anyone adds is run without touching this file. A fence in
another language fails ``test_every_fence_language_is_known``.

How each kind runs:

- **shell** (``bash``, ``sh``, ``shell``; ``console`` runs its ``$ `` lines and checks that every
  output line the README shows is printed): bash with ``set -euo pipefail`` and ``failglob`` (an
  unquoted ``[extra]`` that bash would glob fails), in a temporary folder that holds the
  checkout's top-level files and folders (symlinks), as a reader at the repository root would.
  The reader's ``.venv`` is the environment running the tests: ``.venv/bin`` holds its python,
  ``activate`` puts that folder first on PATH, ``python3 -m venv .venv`` is a no-op. The blocks of
  the Quick start run in a *fresh* shell (this environment's bin folder removed from PATH: a block
  that forgets to activate the venv finds no ``rlcore``); every later block runs with the venv
  activated, as the Quick start leaves the reader. The test knobs (scripts in ``.venv/bin``, and
  shell functions ``pip``, ``python3`` and ``python`` defined before the block):

  * ``rlcore train`` gets a tiny stop: ``--stop '{"training_iteration": 1}'`` is appended (a later
    ``--stop`` wins in argparse); with ``-f FILE`` the experiments' ``stop`` is set to one
    iteration in a copy of the file. Nothing else of the command changes.
  * ``pip install ...`` (``pip``, ``.venv/bin/pip``, ``python3 -m pip``) installs nothing: its
    arguments are checked (the constraints file and every local path exist, every ``[extra]`` is
    declared in that package's pyproject.toml, every other argument is a valid requirement). The
    Quick start's install runs for real in a fresh venv in ``test_quick_start_in_a_fresh_venv``
    (marker ``integration``; ``rlcore train`` there gets the same tiny stop through a shell
    function), which also runs ``pip install --dry-run`` of every other install line.
  * ``pytest ARGS`` runs ``pytest --collect-only ARGS tests/test_registry_toml.py`` at the
    repository root (one small file: collecting the whole suite takes 20 s), and
    ``python3 -m nox ARGS`` runs ``nox --list ARGS`` (the README's test commands must not run the
    suite inside itself): the options, marker expressions and session names are checked, not run.

- **python**: executed in this process (``exec``), in the same temporary folder, with a registry of
  the installed plugins made anew (what a block registers is gone after it). Some blocks have extra
  checks below (``EXTRA_CHECKS``).
- **yaml**: an experiments file (``rlcore train -f``): written to a file and loaded with
  ``rlcore.experiments.load_experiments`` (every key, name and value checked).
- **toml**: parsed; an entry-point table must be the group ``rlcore``.

Tiers: everything here runs in the default suite (nox's ``full`` session); the fresh-venv install
is marked ``integration`` (about 2 minutes, in ``full`` too). The rest takes about 1.5 minutes on
2 cores otherwise idle (4 minutes with other work on them), most of it the shell blocks that train
(each command a new process).

``ALLOWED`` lists the commands that cannot run here, each with its reason; the test fails when an
allowed command is no longer in the README (the list stays exact).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py"}
DATA = {"yaml", "yml", "toml"}
TINY_STOP = '{"training_iteration": 1}'
QUICK_START = "Quick start"

#: Commands (one line of a shell block, as written) that cannot run here, with the reason.
ALLOWED: dict[str, str] = {
    "rlcore train --env CartPole-v1 --run PPO --ray-address auto   # join an existing Ray cluster": (
        "needs a running Ray cluster (`ray start --head`); joining one is tested in core/tests/test_ray_address.py"
    ),
}


@dataclass(frozen=True)
class Block:
    heading: str
    index: int
    lang: str
    code: str
    line: int  # 1-based line of the opening fence

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"{slug}-{self.index}"


def readme_blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README (``` or ~~~, indented ones too: in a list item), with the
    heading it sits under and its index there."""
    lines = (README.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    heading, counts = "top", {}  # type: ignore[var-annotated]
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^(\s*)(`{3,}|~{3,})(.*)$", line)
        if fence:
            indent, marker, info = fence[1], fence[2], fence[3].strip()
            lang = info.split()[0].strip("{}.") if info else ""
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
                i += 1
            n = counts.get(heading, 0)
            counts[heading] = n + 1
            blocks.append(Block(heading, n, lang, "\n".join(body) + "\n", i - len(body)))
        elif re.match(r"^#{1,6} ", line):
            heading = line.lstrip("#").strip()
        i += 1
    return blocks


def test_blocks_are_found_however_fenced() -> None:
    text = "# A\n\n```bash\necho a\n```\n\n## B\n\n1. step:\n\n   ~~~python\n   print(1)\n   ~~~\n\n```\nx\n```\n"
    blocks = readme_blocks(text)
    assert [(b.heading, b.index, b.lang, b.code) for b in blocks] == [
        ("A", 0, "bash", "echo a\n"),
        ("B", 0, "python", "print(1)\n"),
        ("B", 1, "", "x\n"),
    ]


BLOCKS = readme_blocks()


def by_lang(langs: set[str]) -> list[Any]:
    return [pytest.param(b, id=b.id) for b in BLOCKS if b.lang in langs]


# --------------------------------------------------------------------------------- the reader's folder
def _pip_check_script() -> str:
    return textwrap.dedent(
        f"""\
        #!{sys.executable}
        # The README test's pip: checks an install command's arguments and installs nothing.
        import re, sys, tomllib
        from pathlib import Path
        from packaging.requirements import InvalidRequirement, Requirement

        args = sys.argv[1:]
        if not args or args[0] != "install":
            sys.exit(f"README test pip: only 'pip install' is expected, got {{args}}")
        args, errors, i = args[1:], [], 0
        while i < len(args):
            a = args[i]
            if a in ("-c", "--constraint", "-r", "--requirement"):
                i += 1
                if not Path(args[i]).is_file():
                    errors.append(f"{{a}} {{args[i]}}: no such file")
            elif a in ("-e", "--editable"):
                pass
            elif a.startswith("-"):
                if a not in ("-q", "-U", "--upgrade", "--quiet"):
                    errors.append(f"unexpected pip option {{a}}")
            elif a.startswith(("./", "../", "/")) or a == ".":
                m = re.fullmatch(r"([^\\[\\]]+)(?:\\[([^\\]]*)\\])?", a)
                if not m:
                    errors.append(f"malformed local path {{a!r}}")
                else:
                    project = Path(m[1]) / "pyproject.toml"
                    if not project.is_file():
                        errors.append(f"{{m[1]}}: not a project folder (no pyproject.toml)")
                    elif m[2]:
                        declared = tomllib.loads(project.read_text())["project"].get("optional-dependencies", {{}})
                        for extra in m[2].split(","):
                            if extra.strip() not in declared:
                                errors.append(f"{{a}}: {{m[1]}} declares no extra {{extra.strip()!r}}")
            else:
                try:
                    Requirement(a)
                except InvalidRequirement as exc:
                    errors.append(f"not a requirement: {{a!r}} ({{exc}})")
            i += 1
        if errors:
            sys.exit("README test pip: " + "; ".join(errors))
        print("README test pip: checked, not installed:", " ".join(sys.argv[1:]))
        """
    )


def _rlcore_script() -> str:
    return textwrap.dedent(
        f"""\
        #!{sys.executable}
        # The README test's rlcore: `train` gets a tiny stop (one iteration); all else as it is.
        import sys, tempfile
        from pathlib import Path

        import yaml

        from rlcore.cli import main

        args = sys.argv[1:]
        if args[:1] == ["train"]:
            for flag in ("-f", "--file"):
                if flag in args:
                    i = args.index(flag) + 1
                    experiments = yaml.safe_load(Path(args[i]).read_text())
                    for spec in experiments.values():
                        spec["stop"] = {{"training_iteration": 1}}
                    copy = Path(tempfile.mkdtemp()) / Path(args[i]).name
                    copy.write_text(yaml.safe_dump(experiments))
                    args[i] = str(copy)
                    break
            else:
                args += ["--stop", {TINY_STOP!r}]
        sys.exit(main(args))
        """
    )


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def reader_folder(root: Path) -> Path:
    """``root`` as a checkout's root: its top-level entries, and a ``.venv`` that is this environment."""
    root.mkdir(parents=True)
    for entry in REPO.iterdir():
        if entry.name not in (".git", ".venv", ".nox", "results") and not entry.name.endswith("_cache"):
            (root / entry.name).symlink_to(entry)
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(sys.executable)
    _executable(bin_dir / "rlcore", _rlcore_script())
    _executable(bin_dir / "pip", _pip_check_script())
    _executable(
        bin_dir / "pytest",
        f"#!/usr/bin/env bash\n# The README test's pytest: collects only, at the repository root.\ncd {REPO}\n"
        f'{sys.executable} -m pytest --collect-only -q -p no:cacheprovider "$@" tests/test_registry_toml.py'
        " || [ $? = 5 ]  # 5: the marker expression deselected every test of that file\n",
    )
    (bin_dir / "activate").write_text(f'export VIRTUAL_ENV={root / ".venv"}\nexport PATH="{bin_dir}:$PATH"\n')
    return root


def shell_preamble(root: Path) -> str:
    """Functions for the commands that may not run as they are inside a test (see the docstring)."""
    bin_dir = root / ".venv" / "bin"
    return textwrap.dedent(
        f"""\
        set -euo pipefail
        shopt -s failglob
        pip() {{ {bin_dir}/pip "$@"; }}
        _python() {{
            local exe=$1; shift
            case "${{1:-}} ${{2:-}}" in
                "-m venv")  # .venv stands for this environment
                    [ "${{3:-}}" = .venv ] || {{ echo "README test: only 'python3 -m venv .venv'" >&2; return 1; }} ;;
                "-m pip") shift 2; pip "$@" ;;
                "-m nox") shift 2; (cd {REPO} && {sys.executable} -m nox --list "$@") ;;
                *) command "$exe" "$@" ;;
            esac
        }}
        python3() {{ _python python3 "$@"; }}
        python() {{ _python python "$@"; }}
        """
    )


def fresh_path() -> str:
    """PATH without this environment's bin folder: a newcomer's shell before any venv."""
    here = str(Path(sys.executable).parent)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and p != here)


def shell_script(block: Block) -> tuple[str, list[str]]:
    """The block's commands (``console``: its ``$ `` lines) and the output lines it shows."""
    if block.lang != "console":
        commands, shown = block.code, []
    else:
        lines = block.code.splitlines()
        commands = "\n".join(line[2:] for line in lines if line.startswith("$ ")) + "\n"
        shown = [line for line in lines if line.strip() and not line.startswith("$ ")]
    kept = []
    for line in commands.splitlines():
        if line.strip() in ALLOWED:
            kept.append(f": allowed, not run: {line.strip()!r}")
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", shown


@pytest.fixture
def reader(tmp_path: Path) -> Path:
    return reader_folder(tmp_path / "checkout")


@pytest.mark.parametrize("block", by_lang(SHELL))
def test_shell_block(block: Block, reader: Path) -> None:
    """The shell block runs in the reader's folder and exits 0 (console: shows what it says)."""
    script, shown = shell_script(block)
    env = {**os.environ, "RLCORE_RESULTS_DIR": str(reader / "rlcore_results")}
    if block.heading.startswith(QUICK_START):
        env["PATH"] = fresh_path()
        env.pop("VIRTUAL_ENV", None)
    else:
        env["PATH"] = f"{reader / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
        env["VIRTUAL_ENV"] = str(reader / ".venv")
    proc = subprocess.run(
        ["bash", "-c", shell_preamble(reader) + script],
        cwd=reader,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = (
        f"README.md:{block.line} ({block.id}) exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    )
    assert proc.returncode == 0, report
    printed = {" ".join(line.split()) for line in proc.stdout.splitlines()}
    missing = [line for line in shown if " ".join(line.split()) not in printed]
    assert not missing, f"README.md:{block.line}: output shown but not printed: {missing}\n{report}"


# --------------------------------------------------------------------------------- python blocks
def _check_writing_an_algorithm(ns: dict[str, Any], out: str) -> None:
    from rlcore.errors import ConfigError

    assert ns["result"]["training_iteration"] == 3 and ns["result"]["timesteps_total"] >= 3 * 512
    assert int(out.split()[0]) == ns["result"]["timesteps_total"]
    with pytest.raises(ConfigError, match=r"MCPPO config key 'num_sgd_iter' is out of range: got 0"):
        ns["MCPPO"]({"num_sgd_iter": 0}, env="CartPole-v1")


def _check_policy_skeleton(ns: dict[str, Any], out: str) -> None:
    from rlcore.model_policy import ModelPolicy

    assert issubclass(ns["MyPPOPolicy"], ModelPolicy)


def _check_policy_conformance(ns: dict[str, Any], out: str) -> None:
    assert "checks passed" in out


def _check_whole_evaluator(ns: dict[str, Any], out: str) -> None:
    import rlcore

    spec = rlcore.get_spec("evaluator", "PPO", "my_simulator")
    assert spec.target == "my_package.evaluator:MySimulatorPPOEvaluator" and "remote" in spec.capabilities


def _check_logger(ns: dict[str, Any], out: str) -> None:
    (trial,) = (Path("results") / "PPO_CartPole-v1").iterdir()
    lines = (trial / "result.json").read_text().splitlines()
    rewards = [json.loads(line)["episode_reward_mean"] for line in lines]
    best = float((trial / "best.txt").read_text())
    assert best == max(r for r in rewards if r is not None)
    assert f"best episode_reward_mean {best}" in out


def _check_deploy_three_lines(ns: dict[str, Any], out: str) -> None:
    assert ns["action"] == 1 and type(ns["policy"]).__name__ == "LoadedPolicy"


#: Modules a serving environment with only ``./core`` does not have.
FRAMEWORK_MODULES = ("torch", "tensorflow", "ray", "rl_torch", "rl_tf", "rl_algos", "rl_optimizers")


def _check_deploy_recorded_returns(ns: dict[str, Any], out: str) -> None:
    """The printed means are the fixtures' recorded ones, and the block runs again in a fresh
    interpreter where torch, TensorFlow, Ray and every plugin package cannot be imported (as in
    a venv with only ./core) with the same output."""
    block = next(b for b in BLOCKS if b.id == "deploying-a-trained-policy-2")
    fixtures = REPO / "tests" / "fixtures" / "checkpoints" / "0.1.0"
    expected = []
    for name in ("ppo_torch", "ppo_tf"):
        recorded = json.loads((fixtures / name / "expected.json").read_text())
        expected.append(f"{name} PPO {recorded['framework']} {recorded['mean_return']}")
    assert out.splitlines() == expected, out
    assert [line.removeprefix("# ") for line in block.code.splitlines() if line.startswith("# ")] == expected
    blocker = textwrap.dedent(
        f"""\
        import importlib.abc, sys
        class _Absent(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {FRAMEWORK_MODULES!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (a venv with only ./core)")
        sys.meta_path.insert(0, _Absent())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocker + block.code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == expected, proc.stdout


#: Checks beyond "it runs", by block id: ``check(namespace, stdout)``.
EXTRA_CHECKS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "writing-an-algorithm-0": _check_writing_an_algorithm,
    "writing-a-framework-plugin-policies-0": _check_policy_skeleton,
    "writing-a-framework-plugin-policies-1": _check_policy_conformance,
    "whole-evaluators-libraries-that-sample-their-own-way-0": _check_whole_evaluator,
    "writing-a-logger-0": _check_logger,
    "deploying-a-trained-policy-1": _check_deploy_three_lines,
    "deploying-a-trained-policy-2": _check_deploy_recorded_returns,
}


@pytest.fixture
def installed_registry():
    """A fresh registry with the installed plugins: what a README block registers is gone after."""
    from rlcore import plugins

    old = plugins.set_registry(None)
    try:
        yield plugins.get_registry().load()
    finally:
        plugins.set_registry(old)


@pytest.mark.parametrize("block", by_lang(PYTHON))
def test_python_block(
    block: Block, reader: Path, installed_registry: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The python block runs as a script in the reader's folder."""
    monkeypatch.chdir(reader)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    code = compile("\n" * (block.line) + block.code, str(README), "exec")  # tracebacks point at the README
    exec(code, namespace)
    out = capsys.readouterr().out
    check = EXTRA_CHECKS.get(block.id)
    if check is not None:
        check(namespace, out)


def test_extra_checks_name_existing_blocks() -> None:
    ids = {b.id for b in BLOCKS}
    assert not set(EXTRA_CHECKS) - ids, f"EXTRA_CHECKS of blocks that are gone: {set(EXTRA_CHECKS) - ids}"


# --------------------------------------------------------------------------------- data blocks
@pytest.mark.parametrize("block", by_lang(DATA))
def test_data_block(block: Block, tmp_path: Path) -> None:
    """A YAML block is an experiments file that loads; a TOML block parses (entry points: group rlcore)."""
    if block.lang == "toml":
        data = tomllib.loads(block.code)
        groups = data.get("project", {}).get("entry-points", {})
        assert groups and set(groups) == {"rlcore"}, f"README.md:{block.line}: entry points {groups}"
        return
    from rlcore.experiments import load_experiments

    path = tmp_path / "experiments.yaml"
    path.write_text(block.code)
    assert load_experiments(path)


# --------------------------------------------------------------------------------- the README as a whole
def test_every_fence_language_is_known() -> None:
    unknown = [f"README.md:{b.line} ({b.id}): ```{b.lang}" for b in BLOCKS if b.lang not in SHELL | PYTHON | DATA]
    assert not unknown, f"blocks this test does not know how to run: {unknown}; add their language to it"


def test_allowed_commands_are_in_the_readme() -> None:
    lines = {line.strip() for b in BLOCKS if b.lang in SHELL for line in b.code.splitlines()}
    assert not set(ALLOWED) - lines, f"ALLOWED lists commands no longer in the README: {set(ALLOWED) - lines}"


def test_the_readme_test_command_is_what_ci_runs() -> None:
    """The Quick start's test command is .ci/run's (there with -q); nox itself is not run here."""
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if "nox" in line and "pip" in line]
    commands = [line.strip() for b in BLOCKS if b.heading.startswith(QUICK_START) for line in b.code.splitlines()]
    assert ci and ci[-1].replace(" -q", "") in commands


# --------------------------------------------------------------------------------- the real install
@pytest.mark.integration
def test_quick_start_in_a_fresh_venv(tmp_path: Path) -> None:
    """The Quick start's first block as written, in a fresh venv made by it, from a copy of the
    checkout (its build files stay out of the repository), with PATH a newcomer's shell and
    ``rlcore train`` given a tiny stop; then ``pip install --dry-run`` of every other install line."""
    (block, *_) = [b for b in BLOCKS if b.heading.startswith(QUICK_START) and b.lang in SHELL]
    checkout = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    preamble = textwrap.dedent(
        f"""\
        set -euo pipefail
        shopt -s failglob
        rlcore() {{
            if [ "${{1:-}}" = train ]; then command rlcore "$@" --stop {TINY_STOP!r}; else command rlcore "$@"; fi
        }}
        """
    )
    env = {**os.environ, "PATH": fresh_path(), "RLCORE_RESULTS_DIR": str(tmp_path / "results")}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(
        ["bash", "-c", preamble + block.code], cwd=checkout, env=env, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert "done: 1 iterations" in proc.stdout, proc.stdout[-2000:]

    pip = checkout / ".venv" / "bin" / "pip"
    installs = [
        line.split("#")[0].replace("\\", " ")
        for b in BLOCKS
        if b.lang in SHELL and b is not block
        for line in _logical_lines(b.code)
        if re.search(r"\bpip install\b", line) and "nox" not in line
    ]
    for command in installs:
        args = command[command.index("pip install") + len("pip install") :]
        proc = subprocess.run(
            ["bash", "-c", f"set -euo pipefail; shopt -s failglob; {pip} install --dry-run -q {args}"],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"pip install --dry-run{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _logical_lines(code: str) -> list[str]:
    """Shell lines with their ``\\`` continuations joined."""
    return code.replace("\\\n", " ").splitlines()


def test_quick_start_config_is_the_tuned_example_with_a_seed() -> None:
    """The Quick start says its config is tuned_examples/cartpole-ppo.yaml's: the same config once the
    algorithm's defaults are filled in, plus ``seed``."""
    import shlex

    import yaml

    from rlcore.registration import get_algorithm_class

    (block, *_) = [b for b in BLOCKS if b.heading.startswith(QUICK_START) and b.lang in SHELL]
    commands = [c.strip() for line in _logical_lines(block.code) for c in line.split("&&")]
    (train,) = [shlex.split(c) for c in commands if c.startswith("rlcore train")]
    given = json.loads(train[train.index("--config") + 1])
    assert given.pop("seed") == 0
    tuned = yaml.safe_load((REPO / "tuned_examples" / "cartpole-ppo.yaml").read_text())["cartpole-ppo"]
    defaults = get_algorithm_class("PPO").default_config
    assert {**defaults, **given} == {**defaults, **tuned["config"]}
    assert "--env" in train and train[train.index("--env") + 1] == tuned["env"]


# --------------------------------------------------------------------------------- what the prose names
def _inline_code() -> list[str]:
    return re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README.read_text(), flags=re.S))


def test_paths_the_readme_names_exist() -> None:
    """Every repository path in the README's inline code (``core/src/rlcore/sampling.py``,
    ``plugins/*/tests``) exists in the checkout."""
    tops = {p.name for p in REPO.iterdir() if not p.name.startswith(".")}
    missing, seen = [], 0
    for span in _inline_code():
        path = span.split(":")[0].split(" ")[0].rstrip(",.")
        if "/" in path and path.split("/")[0] in tops:
            seen += 1
            if not list(REPO.glob(path.rstrip("/"))):
                missing.append(span)
    assert seen > 20 and not missing, f"the README names paths that do not exist: {missing}"


def test_python_names_the_readme_names_exist() -> None:
    """Every ``rlcore.x.y`` (and ``rl_algos...``, ``rl_torch...``) the README names imports."""
    import importlib

    packages = ("rlcore", "rl_torch", "rl_tf", "rl_algos", "rl_optimizers")
    names = {m for span in _inline_code() for m in re.findall(rf"\b((?:{'|'.join(packages)})(?:\.\w+)+)", span)}
    bad = []
    for name in sorted(names):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                bad.append(name)
            break
        else:
            bad.append(name)
    assert len(names) > 10 and not bad, f"the README names what does not exist: {bad}"


def test_rlcore_options_the_readme_names_exist() -> None:
    """Every ``--option`` of an ``rlcore COMMAND ...`` in the README (inline or in a block) is an
    option of that command."""
    from rlcore.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)]
    commands = [*_inline_code(), *(line for b in BLOCKS if b.lang in SHELL for line in _logical_lines(b.code))]
    bad, seen = [], 0
    for text in commands:
        for m in re.finditer(r"\brlcore ([a-z-]+)((?: [^|;&#]*)?)", text):
            sub = subparsers.choices.get(m[1])
            if sub is None:
                continue
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m[2]):
                seen += 1
                if flag not in sub._option_string_actions:
                    bad.append(f"rlcore {m[1]} {flag}")
    assert seen > 20 and not bad, f"the README gives options these commands do not have: {bad}"
