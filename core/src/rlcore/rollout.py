"""``rlcore rollout``: run a checkpoint's policy in its env and report episode returns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from rlcore.errors import ConfigError
from rlcore.evaluator import EpisodeMetrics


def load_trainer(checkpoint: str | os.PathLike[str], config: dict[str, Any] | None = None) -> Any:
    """A trainer (one process, no Ray workers) rebuilt from a checkpoint's algorithm, env and config.

    Raises:
        CheckpointError: the checkpoint is unreadable, or names an env, framework or config value
            that this install refuses (the message names the checkpoint and the refusal).
    """
    from rlcore.errors import CheckpointError, UnknownNameError
    from rlcore.registration import get_algorithm_class
    from rlcore.run import resolve_restore

    run, env, cfg = resolve_restore(checkpoint, None, None, {"num_workers": 0, **(config or {})})
    try:
        trainer = get_algorithm_class(run)(config=cfg, env=env)
    except (ConfigError, UnknownNameError) as exc:  # what it names comes from the checkpoint: say so
        raise CheckpointError(
            f"{checkpoint}: the {run} trainer it was written by (env {env!r}, framework {cfg.get('framework')!r}) "
            f"cannot be rebuilt from its algorithm, env and config here: {exc}"
        ) from exc
    try:
        trainer.restore(checkpoint)
    except BaseException:
        trainer.stop()
        raise
    return trainer


def rollout(
    checkpoint: str | os.PathLike[str],
    episodes: int = 10,
    *,
    render: bool = False,
    explore: bool = False,
    seed: int | None = None,
    max_steps: int = 1_000_000,
) -> Iterator[EpisodeMetrics]:
    """Yield one :class:`EpisodeMetrics` per episode of the checkpoint's policy in a fresh env.

    Actions come from ``Trainer.compute_action`` (the policy's mode unless ``explore``), with the
    checkpoint's observation filter applied. ``render`` makes the env with ``render_mode="human"``.
    """
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    from rlcore.envs import make_env

    trainer = load_trainer(checkpoint)
    try:
        env_config = dict(trainer.config.get("env_config") or {})
        if render:
            env_config["render_mode"] = "human"
        import gymnasium

        try:
            env = make_env(trainer.env_name, env_config)
            try:
                yield from _episodes(env, trainer, episodes, explore, seed, max_steps)
            finally:
                env.close()
        except gymnasium.error.DependencyNotInstalled as exc:
            raise ConfigError(f"cannot render {trainer.env_name}: {exc}") from None
    finally:
        trainer.stop()


def _episodes(
    env: Any, trainer: Any, episodes: int, explore: bool, seed: int | None, max_steps: int
) -> Iterator[EpisodeMetrics]:
    from rlcore.env_checks import checked_reset, checked_step, env_problem
    from rlcore.errors import EnvError

    name = getattr(trainer, "env_name", "env")
    why = env_problem(env)  # what the env returns is checked where it enters, as in sampling
    if why is not None:
        raise EnvError(f"env {name!r} (rollout): the env creator {why}")
    for i in range(episodes):
        where = f"env {name!r} (rollout episode {i + 1})"
        obs = checked_reset(env, where, seed=None if seed is None else seed + i)
        state = trainer.new_acting_state()  # a new episode: fresh frame stacks and recurrent state
        total, length, done = 0.0, 0, False
        while not done and length < max_steps:
            action = trainer.compute_action(obs, explore=explore, state=state)
            obs, reward, terminated, truncated, _ = checked_step(env, action, f"{where} at step {length + 1}")
            total += float(reward)
            length += 1
            done = bool(terminated or truncated)
        yield EpisodeMetrics(total, length)
