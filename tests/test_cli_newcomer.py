"""What the command line tells a newcomer: its help's examples exist, ``--json`` names the results
folder, ``rollout`` says which checkpoint it took."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from rlcore import cli

EPILOGS = {name: getattr(cli, name) for name in dir(cli) if name.startswith("EPILOG_")}
PLACEHOLDERS = re.compile(r"PATH|CHECKPOINT|HEAD|<")


def help_examples() -> list[tuple[str, list[str]]]:
    """Every ``rlcore ...`` line of every help epilog, as arguments (comments dropped)."""
    found = []
    for name, text in EPILOGS.items():
        for line in text.splitlines():
            if line.startswith("  rlcore "):  # the indented lines under "examples:"
                line = line.strip()
                found.append((name, shlex.split(_command_part(line), comments=True)[1:]))
    return found


def _command_part(line: str) -> str:
    """The line up to the first run of two spaces outside quotes (what follows describes it)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif line.startswith("  ", i):
            return line[:i]
    return line


def test_every_help_example_parses() -> None:
    """Each example of ``rlcore COMMAND --help`` is a valid command line (argparse accepts it)."""
    parser = cli.build_parser()
    examples = help_examples()
    assert len(examples) > 15
    for name, args in examples:
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{name}: `rlcore {shlex.join(args)}` does not parse")


def test_help_example_names_are_registered(example_registry) -> None:
    """The algorithms, envs and (algorithm, framework) pairs the help names exist once the first-party
    plugins and the example plugin (examples/numpy_plugin) are installed."""
    from rlcore.registration import get_algorithm_class, resolve_evaluator

    parser = cli.build_parser()
    checked = 0
    for _name, args in help_examples():
        if any(PLACEHOLDERS.search(a) for a in args):
            continue
        ns = parser.parse_args(args)
        if ns.command == "check-evaluator":
            resolve_evaluator(ns.name, ns.framework or "torch")  # raises UnknownNameError with what exists
            checked += 1
        elif ns.command == "train" and ns.run:
            get_algorithm_class(ns.run)
            resolve_evaluator(ns.run, ns.framework or "torch")
            checked += 1
    assert checked >= 8


@pytest.fixture
def trained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, list[dict]]:
    """``rlcore train --json`` of PPO on CartPole for 2 iterations with a checkpoint each; its lines."""
    config = {"train_batch_size": 256, "sgd_minibatch_size": 128, "num_sgd_iter": 1, "seed": 0}
    args = ["train", "--env", "CartPole-v1", "--run", "PPO", "--config", json.dumps(config), "--json"]
    args += ["--stop", '{"training_iteration": 2}', "--checkpoint-freq", "1", "--local-dir", str(tmp_path)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    return tmp_path, [json.loads(line) for line in out.splitlines()]


def test_train_json_names_the_results_folder(trained: tuple[Path, list[dict]]) -> None:
    """Every ``--json`` line is a result that names its trial folder (``logdir``); stdout holds only them."""
    root, lines = trained
    (trial,) = (root / "PPO_CartPole-v1").iterdir()
    assert [r["training_iteration"] for r in lines] == [1, 2]
    assert {r["logdir"] for r in lines} == {str(trial)}
    assert (Path(lines[0]["logdir"]) / "result.json").is_file()
    # the file's lines are the results themselves: logdir is added to what is printed only
    assert "logdir" not in json.loads((trial / "result.json").read_text().splitlines()[0])


def test_rollout_says_which_checkpoint(trained: tuple[Path, list[dict]], capsys: pytest.CaptureFixture[str]) -> None:
    """Given a trial folder, rollout prints the checkpoint it took (the latest) on stderr; --json stays JSON."""
    root, _ = trained
    (trial,) = (root / "PPO_CartPole-v1").iterdir()
    assert cli.main(["rollout", str(trial), "--episodes", "2", "--json", "--seed", "0"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["episode"] for line in captured.out.splitlines()] == [1, 2]
    assert f"checkpoint {trial / 'checkpoint_000002'} (iteration 2, " in captured.err
    assert "PPO (torch) on CartPole-v1" in captured.err
    # a checkpoint folder named directly is the one taken
    assert cli.main(["rollout", str(trial / "checkpoint_000001"), "--episodes", "1"]) == 0
    assert f"checkpoint {trial / 'checkpoint_000001'} (iteration 1, " in capsys.readouterr().err


def test_apex_restore_and_rollout_say_nothing_of_keys_nobody_gave(tmp_path: Path) -> None:
    """An APEX checkpoint's config holds every key at its value, the annealed-epsilon ones at their
    defaults: ``train --restore`` and ``rollout`` pass it back without an AnnealedEpsilonIgnoredWarning
    (it named 'exploration_initial_eps', 'exploration_final_eps', 'exploration_timesteps', which no one
    had given)."""
    import warnings

    from rl_algos.apex.trainer import AnnealedEpsilonIgnoredWarning

    config = {"num_replay_buffer_shards": 2, "buffer_size": 4000, "learning_starts": 200, "train_batch_size": 32}
    config |= {"timesteps_per_iteration": 300, "seed": 0}
    args = ["train", "--env", "CartPole-v1", "--run", "APEX", "--num-workers", "0", "--config", json.dumps(config)]
    args += ["--stop", '{"training_iteration": 1}', "--checkpoint-at-end", "--local-dir", str(tmp_path), "--quiet"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(args) == 0
        (trial,) = (tmp_path / "APEX_CartPole-v1").iterdir()
        restore = ["train", "--restore", str(trial), "--stop", '{"training_iteration": 2}', "--quiet"]
        assert cli.main([*restore, "--local-dir", str(tmp_path)]) == 0
        assert cli.main(["rollout", str(trial), "--episodes", "1"]) == 0
    assert not [str(w.message) for w in caught if issubclass(w.category, AnnealedEpsilonIgnoredWarning)]
