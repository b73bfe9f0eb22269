"""Replay checkpoints frozen by an older rlcore (or an older version of a plugin) with the current code.

A *checkpoint fixture* is a folder ``<root>/<version>/<name>/`` holding a checkpoint exactly as
that version's ``Trainer.save`` wrote it, and ``expected.json`` beside it: what that version's
trainer answered (its actions, ``explore=False``, on stored observations, and the returns of
greedy episodes from fixed reset seeds). rlcore's own are in ``tests/fixtures/checkpoints/``
(written by ``tests/fixtures/checkpoints/make_fixtures.py``); a plugin can freeze its own the
same way and replay them here:

    for fixture in find_checkpoint_fixtures("tests/fixtures/checkpoints"):
        policy = rlcore.policy.load(fixture.checkpoint)
        check_fixture_actions(fixture, policy.compute_action, by="rlcore.policy.load")
        check_fixture_returns(fixture, policy.compute_action, by="rlcore.policy.load")

A check that fails raises an ``AssertionError`` naming the fixture's version, algorithm and
framework, how many answers differ and the first one: the drift, not just that there is one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.errors import CheckpointError

#: The file beside each fixture checkpoint that holds what the writing version answered.
EXPECTED_FILE = "expected.json"
#: The keys every ``expected.json`` has (``make_fixtures.py`` writes them).
EXPECTED_KEYS = (
    "rlcore_version",
    "commit",
    "algorithm",
    "framework",
    "env",
    "checkpoint",
    "observations",
    "actions",
    "episode_seeds",
    "episode_returns",
)

Act = Callable[[np.ndarray], Any]


def _version_key(version: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.split("."))


@dataclass(frozen=True)
class CheckpointFixture:
    """One frozen checkpoint and what the rlcore version that wrote it answered."""

    #: The fixture folder (``<root>/<version>/<name>``).
    folder: Path
    #: The contents of its ``expected.json``.
    expected: dict[str, Any]

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> CheckpointFixture:
        """Read the fixture in ``folder``.

        Raises:
            CheckpointError: ``expected.json`` is missing, not JSON, lacks a key of
                :data:`EXPECTED_KEYS` or holds one of the wrong kind (observations that are not a
                rectangular list of numbers, not one action per observation, seeds that are not
                ints, not one return per seed...; the message names the file, the fixture's
                version, algorithm and framework, and the key), or the checkpoint it names is not
                beside it.
        """
        folder = Path(folder)
        file = folder / EXPECTED_FILE
        try:
            expected = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{file}: cannot read the fixture's expected answers: {exc}") from exc
        if not isinstance(expected, dict):
            raise CheckpointError(f"{file}: expected a JSON object, got {type(expected).__name__}")
        missing = [k for k in EXPECTED_KEYS if k not in expected]
        if missing:
            raise CheckpointError(
                f"{file}: lacks the key(s) {', '.join(missing)} (fixture "
                f"{_who(expected) or 'of unknown version, algorithm and framework'}): rewrite it with make_fixtures.py"
            )
        _check_expected(file, expected)
        fixture = cls(folder, expected)
        if not fixture.checkpoint.is_dir():
            raise CheckpointError(f"{file}: names the checkpoint {expected['checkpoint']!r}, not found in {folder}")
        return fixture

    @property
    def name(self) -> str:
        """The fixture's folder name (``ppo_torch``)."""
        return self.folder.name

    @property
    def version(self) -> str:
        """The rlcore version that wrote it (``rlcore.__version__`` of the writing code)."""
        return str(self.expected["rlcore_version"])

    @property
    def commit(self) -> str:
        """The git commit of the writing code."""
        return str(self.expected["commit"])

    @property
    def algorithm(self) -> str:
        return str(self.expected["algorithm"])

    @property
    def framework(self) -> str:
        return str(self.expected["framework"])

    @property
    def env(self) -> str:
        return str(self.expected["env"])

    @property
    def checkpoint(self) -> Path:
        """The checkpoint folder beside ``expected.json``."""
        return self.folder / str(self.expected["checkpoint"])

    @property
    def observations(self) -> np.ndarray:
        """The stored observations, float32 as they were given to the writing trainer."""
        return np.asarray(self.expected["observations"], dtype=np.float32)

    @property
    def actions(self) -> list[Any]:
        """The writing trainer's action for each stored observation."""
        return list(self.expected["actions"])

    @property
    def episode_seeds(self) -> list[int]:
        return [int(s) for s in self.expected["episode_seeds"]]

    @property
    def episode_returns(self) -> list[float]:
        return [float(r) for r in self.expected["episode_returns"]]

    @property
    def label(self) -> str:
        """``0.1.0/ppo_torch (PPO, torch)``: which fixture, in every message about it."""
        return f"{self.folder.parent.name}/{self.name} ({self.algorithm}, {self.framework})"

    @property
    def recorded_by(self) -> str:
        """``rlcore 0.1.0 (commit 8b31e4ae0d41)``."""
        return f"rlcore {self.version} (commit {self.commit[:12]})"


def _who(expected: dict[str, Any]) -> str:
    """``0.1.0 PPO torch``: the fixture's version, algorithm and framework, those its file names."""
    keys = ("rlcore_version", "algorithm", "framework")
    return " ".join(str(expected[k])[:40] for k in keys if isinstance(expected.get(k), str))


def _check_expected(file: Path, expected: dict[str, Any]) -> None:
    """CheckpointError naming the fixture and the key of ``expected.json`` that is not what
    ``make_fixtures.py`` writes."""
    who = _who(expected)

    def bad(key: str, what: str) -> CheckpointError:
        return CheckpointError(
            f"{file} (fixture {who or 'of unknown version, algorithm and framework'}): its {key!r} {what}; "
            "it was edited: rewrite it with make_fixtures.py"
        )

    for key in ("rlcore_version", "commit", "algorithm", "framework", "env", "checkpoint"):
        if not isinstance(expected[key], str) or not expected[key]:
            raise bad(key, f"is {expected[key]!r:.60}, not a non-empty string")
    name = expected["checkpoint"]
    if name in (".", "..") or "/" in name or "\\" in name:
        raise bad("checkpoint", f"is {name!r:.60}, not the name of a folder beside it")
    observations = expected["observations"]
    if not isinstance(observations, list) or not observations:
        raise bad("observations", "is not a non-empty list of observations")
    try:
        array = np.asarray(observations, dtype=np.float32)
    except (ValueError, TypeError):
        raise bad("observations", "is not a rectangular list of numbers (one observation per row)") from None
    if array.ndim < 1 or len(array) != len(observations):
        raise bad("observations", f"has shape {list(array.shape)}, not one observation per row")
    actions = expected["actions"]
    if not isinstance(actions, list) or len(actions) != len(observations):
        got = f"{len(actions)} actions" if isinstance(actions, list) else f"a {type(actions).__name__}"
        raise bad("actions", f"holds {got} for {len(observations)} observations (one action per observation)")
    seeds, returns = expected["episode_seeds"], expected["episode_returns"]
    if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seeds):
        raise bad("episode_seeds", f"is {seeds!r:.80}, not a list of ints >= 0")
    if not isinstance(returns, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in returns
    ):
        raise bad("episode_returns", f"is {returns!r:.80}, not a list of numbers")
    if len(returns) != len(seeds):
        raise bad("episode_returns", f"holds {len(returns)} returns for {len(seeds)} episode_seeds (one per seed)")


def rewrite_checkpoint_meta(folder: str | os.PathLike[str], edit: Callable[[dict[str, Any]], Any]) -> Path:
    """Edit the ``checkpoint.json`` of the checkpoint folder ``folder`` in place (``edit(meta)``
    changes the dict) and give it a valid digest again: a checkpoint as another rlcore version, or
    a forger, would have written it, for testing what the reader makes of it. Returns ``folder``."""
    from rlcore.checkpoint import META_FILE, _digest

    path = Path(folder)
    meta = json.loads((path / META_FILE).read_text())
    edit(meta)
    meta["digest"] = _digest(meta)
    (path / META_FILE).write_text(json.dumps(meta))
    return path


def find_checkpoint_fixtures(root: str | os.PathLike[str]) -> list[CheckpointFixture]:
    """Every fixture ``<root>/<version>/<name>/expected.json``, oldest version first, then by name.

    Raises:
        CheckpointError: ``root`` is not a folder, or a fixture in it cannot be read
            (:meth:`CheckpointFixture.load`).
    """
    root = Path(root)
    if not root.is_dir():
        raise CheckpointError(f"{root}: no such fixture folder")
    versions = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: _version_key(d.name))
    return [CheckpointFixture.load(f.parent) for v in versions for f in sorted(v.glob(f"*/{EXPECTED_FILE}"))]


def _same(got: Any, recorded: Any) -> bool:
    a, b = np.asarray(got), np.asarray(recorded)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _shown(action: Any) -> str:
    return str(np.asarray(action).tolist())


def action_drift(fixture: CheckpointFixture, actions: Sequence[Any], by: str = "") -> str | None:
    """None when ``actions`` (one per stored observation) are the recorded ones, else what drifted:

    ``0.1.0/ppo_torch (PPO, torch): 3 of 32 actions [of rlcore.policy.load] differ from those recorded
    by rlcore 0.1.0 (commit 8b31e4ae0d41): first at observation 5: got 1, recorded 0``.
    """
    recorded = fixture.actions
    of = f" of {by}" if by else ""
    if len(actions) != len(recorded):
        return (
            f"{fixture.label}: {len(actions)} actions{of} for the {len(recorded)} actions recorded "
            f"by {fixture.recorded_by}"
        )
    differ = [i for i, (g, r) in enumerate(zip(actions, recorded, strict=True)) if not _same(g, r)]
    if not differ:
        return None
    first = differ[0]
    return (
        f"{fixture.label}: {len(differ)} of {len(recorded)} actions{of} differ from those recorded by "
        f"{fixture.recorded_by}: first at observation {first}: got {_shown(actions[first])}, "
        f"recorded {_shown(recorded[first])}"
    )


def check_fixture_actions(fixture: CheckpointFixture, act: Act, by: str = "") -> None:
    """``act(obs)`` on every stored observation gives the recorded action.

    Raises:
        AssertionError: the :func:`action_drift` message.
    """
    actions = []
    for i, obs in enumerate(fixture.observations):
        try:
            actions.append(act(obs))
        except Exception as exc:  # refusing a recorded observation is a drift too: name the fixture
            of = f" {by}" if by else " the code under test"
            raise AssertionError(
                f"{fixture.label}:{of} refused observation {i} recorded by {fixture.recorded_by} "
                f"(which acted on it): {type(exc).__name__}: {str(exc)[:400]}"
            ) from exc
    drift = action_drift(fixture, actions, by)
    if drift:
        raise AssertionError(drift)


def episode_returns(act: Act, env: str, seeds: Sequence[int]) -> list[float]:
    """The return of one episode of ``gymnasium.make(env)`` per ``env.reset(seed=s)``, acting with ``act``."""
    import gymnasium

    environment = gymnasium.make(env)
    returns = []
    try:
        for seed in seeds:
            obs, _ = environment.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = environment.step(act(obs))
                total += float(reward)
                done = bool(terminated or truncated)
            returns.append(total)
    finally:
        environment.close()
    return returns


def return_drift(fixture: CheckpointFixture, returns: Sequence[float], by: str = "") -> str | None:
    """None when ``returns`` (one per stored seed) are the recorded ones, else what drifted."""
    recorded = fixture.episode_returns
    if list(returns) == recorded:
        return None
    of = f" of {by}" if by else ""
    differ = [i for i, (g, r) in enumerate(zip(returns, recorded, strict=False)) if g != r]
    first = differ[0] if differ else min(len(returns), len(recorded))
    got = returns[first] if first < len(returns) else "nothing"
    rec = recorded[first] if first < len(recorded) else "nothing"
    mean = f"mean {float(np.mean(returns)):.1f}" if len(returns) else "no episodes"
    return (
        f"{fixture.label}: episode returns{of} {list(returns)} ({mean}) differ from {recorded} "
        f"(mean {float(np.mean(recorded)):.1f}) recorded by {fixture.recorded_by}: first at reset seed "
        f"{fixture.episode_seeds[first] if first < len(fixture.episode_seeds) else first}: got {got}, recorded {rec}"
    )


def check_fixture_returns(fixture: CheckpointFixture, act: Act, by: str = "") -> list[float]:
    """Episodes from the stored reset seeds, acting with ``act``, score the recorded returns; returns them.

    Raises:
        AssertionError: the :func:`return_drift` message.
    """
    try:
        returns = episode_returns(act, fixture.env, fixture.episode_seeds)
    except Exception as exc:  # the env missing here or acting refused: name the fixture
        of = f" of {by}" if by else ""
        raise AssertionError(
            f"{fixture.label}: the episodes{of} on {fixture.env!r} recorded by {fixture.recorded_by} could not be "
            f"played again: {type(exc).__name__}: {str(exc)[:400]}"
        ) from exc
    drift = return_drift(fixture, returns, by)
    if drift:
        raise AssertionError(drift)
    return returns
