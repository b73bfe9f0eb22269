"""``rlcore rollout``: run a checkpoint's policy in its env and report episode returns.

By default the policy acts with numpy alone (:func:`rlcore.inference.load_policy`), so a
checkpoint of a catalog model rolls out with only ``rlcore`` installed. A checkpoint that needs
its framework (a custom model, or a policy without an acting spec: a whole-evaluator plugin)
acts through its trainer (:func:`load_trainer`) when that is possible here, and
:class:`RolloutPolicy` says why (``note``); ``framework`` forces the trainer path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlcore.errors import CheckpointError, ConfigError
from rlcore.evaluator import EpisodeMetrics


def load_trainer(
    checkpoint: str | os.PathLike[str], config: dict[str, Any] | None = None, *, asked: str | None = None
) -> Any:
    """A trainer (one process, no Ray workers) rebuilt from a checkpoint's algorithm, env and config.

    ``config`` overrides the checkpoint's; a ``config["framework"]`` restores into that framework
    (``asked`` says how it was asked for, in errors: ``"--framework jax"``; default
    ``config['framework']``).

    Raises:
        CheckpointError: the checkpoint is unreadable, or names an env, framework or config value
            that this install refuses (the message names the checkpoint and the refusal); the
            algorithm's or the framework's first-party plugin is not installed (every missing one
            named at once, with its ``pip install`` line); the framework asked for has no policy
            of the checkpoint's algorithm (naming the frameworks that have one).
    """
    from rlcore.checkpoint import read_checkpoint_meta
    from rlcore.errors import CheckpointError, UnknownNameError
    from rlcore.registration import get_algorithm_class
    from rlcore.run import resolve_restore

    meta = read_checkpoint_meta(checkpoint)
    wanted = (config or {}).get("framework")
    asked_here = (asked or f"config['framework'] {wanted!r}") if wanted else None
    check_trainer_plugins(checkpoint, meta, str(wanted or meta.get("framework")), asked_here)
    run, env, cfg = resolve_restore(checkpoint, None, None, {"num_workers": 0, **(config or {})})
    try:
        trainer = get_algorithm_class(run)(config=cfg, env=env)
    except (ConfigError, UnknownNameError) as exc:  # what it names comes from the checkpoint or the caller
        if asked_here:
            what = (
                f"a {run} trainer of framework {cfg.get('framework')!r} (asked for here: {asked_here}; the "
                f"checkpoint was written with {meta.get('framework')!r}, for env {env!r})"
            )
        else:
            what = f"the {run} trainer it was written by (env {env!r}, framework {cfg.get('framework')!r})"
        raise CheckpointError(
            f"{checkpoint}: {what} cannot be rebuilt from its algorithm, env and config here: {exc}"
        ) from exc
    try:
        trainer.restore(checkpoint)
    except BaseException:
        trainer.stop()
        raise
    return trainer


def check_trainer_plugins(
    checkpoint: str | os.PathLike[str],
    meta: dict[str, Any],
    framework: str,
    asked: str | None,
    *,
    numpy_hint: bool = True,
) -> None:
    """Refuse, before anything is built, a trainer whose first-party plugins are not installed
    (every missing one at once: the algorithm's and the framework's) or whose framework has no
    policy of the algorithm (naming the frameworks that have one). ``asked`` says how
    ``framework`` was asked for (None: it is the checkpoint's); ``numpy_hint`` adds that
    ``rlcore rollout`` without ``--framework`` acts with numpy alone.

    Raises:
        CheckpointError: saying so; nothing when the trainer's algorithm and policy are registered
            (or their absence is not first-party knowledge: the registry's own error says it then).
    """
    from rlcore.catalogue import load_catalogue, providers
    from rlcore.plugins import get_registry
    from rlcore.registration import get_algorithm_class

    registry = get_registry().load()
    run = str(meta.get("algorithm"))
    known = run in registry.specs["algorithm"]
    owner = str(getattr(get_algorithm_class(run), "policy_algorithm", None) or run) if known else run
    registered = {
        key.split("/", 1)[1]
        for kind in ("policy", "evaluator")
        for key in registry.specs[kind]
        if key.split("/", 1)[0] == owner
    }
    if known and framework in registered:
        return

    catalogue = load_catalogue()
    missing: dict[str, tuple[str, str]] = {}  # distribution -> (what of it is needed, why it is not here)
    if not known:
        for entry in providers("algorithm", run):
            problem = registry.provider_problem(entry)
            if problem is not None:
                missing[entry.distribution] = (f"the algorithm {run}", problem)
                for runtime in (e for e in catalogue if e.name in entry.runtime_plugins):
                    also = registry.provider_problem(runtime)  # what its trainers need too (their optimizers)
                    if also is not None:
                        missing.setdefault(runtime.distribution, (f"needed by the {entry.distribution} trainers", also))
    # frameworks with a policy of the algorithm: registered here, or in a first-party plugin
    offered = {key.split("/", 1)[1]: e for e in catalogue for key in e.names("policy") if key.startswith(f"{owner}/")}
    no_policy = False
    if framework not in registered:
        entries = [offered[framework]] if framework in offered else []
        if not entries and not known:  # which policies it trains is its plugin's to say: the framework's plugin
            entries = [e for e in catalogue if e.name == framework]
        for entry in entries:
            problem = registry.provider_problem(entry)
            if problem is not None:
                missing.setdefault(entry.distribution, (f"{owner}'s {framework} policy", problem))
        # whether any has one is known when the algorithm is here, or first-party (registry.toml)
        no_policy = not entries and (known or bool(providers("algorithm", run)))
    if not missing and not no_policy:
        return
    if asked:
        where = f"framework {framework!r} (asked for here: {asked})"
        head = f"a {run} trainer of {where}"
    else:  # what it names comes from the checkpoint: say so
        where = f"framework {framework!r}"
        head = f"the {run} trainer it was written by (env {meta.get('env')!r}, {where})"
    parts = []
    if missing:
        needed = "; ".join(f"{dist} ({what}): {problem}" for dist, (what, problem) in missing.items())
        parts.append(f"{head} needs plugins missing here: {needed}")
    if no_policy:
        listed = ", ".join(
            f if f in registered else f"{f} (plugin {offered[f].distribution}, not here)"
            for f in sorted(registered | set(offered))
        )
        parts.append(
            f"{'' if missing or asked else head + ' cannot be rebuilt here: '}no installed or first-party plugin "
            f"has a {owner} policy for "
            f"{f'framework {framework!r}' if missing else where}; frameworks with a {owner} "
            f"policy: {listed or '(none known before its algorithm plugin is installed)'}"
        )
    spec = meta.get("policy")
    if numpy_hint and asked and isinstance(spec, dict) and spec.get("model_kind") != "custom":
        parts.append("without --framework, rlcore rollout acts with numpy alone (rlcore.policy.load)")
    raise CheckpointError(f"{checkpoint}: " + "; ".join(parts))


@dataclass
class RolloutPolicy:
    """What a rollout acts with: ``actor`` (a :class:`~rlcore.inference.LoadedPolicy` or a
    trainer; both have ``new_acting_state()`` and ``compute_action(obs, explore=, state=)``),
    ``acting_with`` (``"numpy"`` or the trainer's framework), the env to make (``env_name``,
    ``env_config``) and ``note``: why the trainer path was taken without being asked (None
    otherwise)."""

    actor: Any
    acting_with: str
    env_name: str
    env_config: dict[str, Any]
    note: str | None = None

    def close(self) -> None:
        """Release the trainer (nothing for numpy acting)."""
        stop = getattr(self.actor, "stop", None)
        if callable(stop):
            stop()


def load_rollout_policy(
    checkpoint: str | os.PathLike[str],
    *,
    framework: str | None = None,
    seed: int | None = None,
    notify: Callable[[str], None] | None = None,
) -> RolloutPolicy:
    """The checkpoint's policy for a rollout: numpy acting (``framework`` None, the default), or
    its trainer (``framework=""``: the checkpoint's own framework; a name: that framework, the
    canonical weights restore into any framework that has the algorithm's policy).

    Numpy acting falls back to the trainer when the checkpoint needs its framework
    (:class:`~rlcore.errors.FrameworkRequiredError`) and the framework plugin it names is
    installed (or none is known for its framework); ``note`` then says why, and ``notify(note)``
    is called before the trainer is built (so the reason is said even when that fails).
    ``seed`` seeds numpy's ``explore`` sampling.

    Raises:
        FrameworkRequiredError: a custom model and its framework plugin is not installed.
        CheckpointError: what :func:`rlcore.inference.load_policy` or :func:`load_trainer` raise.
    """
    from rlcore.errors import FrameworkRequiredError

    if framework is None:
        from rlcore.inference import load_policy

        try:
            policy = load_policy(checkpoint, seed=seed)
        except FrameworkRequiredError as exc:
            missing = _missing_framework_plugin(_meta_framework(checkpoint))
            if missing is not None:
                raise
            note = f"{exc.reason}: acting through its trainer"
            if notify is not None:
                notify(note)
            return _trainer_policy(checkpoint, None, note)
        env_config = dict((policy.meta.get("config") or {}).get("env_config") or {})
        return RolloutPolicy(policy, "numpy", policy.env, env_config)
    return _trainer_policy(checkpoint, framework or None, None)


def _trainer_policy(checkpoint: str | os.PathLike[str], framework: str | None, note: str | None) -> RolloutPolicy:
    if framework:
        trainer = load_trainer(checkpoint, {"framework": framework}, asked=f"--framework {framework}")
    else:
        trainer = load_trainer(checkpoint)
    env_config = dict(trainer.config.get("env_config") or {})
    return RolloutPolicy(trainer, str(trainer.config.get("framework")), trainer.env_name, env_config, note)


def _meta_framework(checkpoint: str | os.PathLike[str]) -> str:
    from rlcore.checkpoint import read_checkpoint_meta

    return str(read_checkpoint_meta(checkpoint).get("framework"))


def _missing_framework_plugin(framework: str) -> str | None:
    """The distribution of the first-party plugin of ``framework`` when it is not installed here
    (None when it is, or when no first-party plugin provides that framework)."""
    import importlib.util

    from rlcore.catalogue import load_catalogue

    for entry in load_catalogue():
        if entry.name == framework:
            return entry.distribution if importlib.util.find_spec(entry.package) is None else None
    return None


def rollout(
    checkpoint: str | os.PathLike[str],
    episodes: int = 10,
    *,
    render: bool = False,
    explore: bool = False,
    seed: int | None = None,
    max_steps: int = 1_000_000,
    framework: str | None = None,
    policy: RolloutPolicy | None = None,
) -> Iterator[EpisodeMetrics]:
    """Yield one :class:`EpisodeMetrics` per episode of the checkpoint's policy in a fresh env.

    The policy acts with numpy (:func:`load_rollout_policy`; ``framework`` forces its trainer),
    or through ``policy`` when given (closed at the end). Actions are the policy's mode unless
    ``explore``, with the checkpoint's preprocessor and observation filter applied. ``render``
    makes the env with ``render_mode="human"``; ``seed`` seeds episode ``i``'s reset with
    ``seed + i`` (and numpy's ``explore`` sampling).
    """
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    from rlcore.envs import make_env
    from rlcore.errors import CheckpointError, UnknownNameError

    if policy is None:
        policy = load_rollout_policy(checkpoint, framework=framework, seed=seed)
    try:
        env_config = dict(policy.env_config)
        if render:
            env_config["render_mode"] = "human"
        import gymnasium

        try:
            try:
                env = make_env(policy.env_name, env_config)
            except (UnknownNameError, ConfigError) as exc:  # what it names comes from the checkpoint: say so
                raise CheckpointError(
                    f"{checkpoint}: the env {policy.env_name!r} it was written for (env_config "
                    f"{policy.env_config}) cannot be made here: {exc}"
                ) from exc
            try:
                _check_env_spaces(checkpoint, policy, env)
                yield from _episodes(env, policy.actor, episodes, explore, seed, max_steps, policy.env_name)
            finally:
                env.close()
        except gymnasium.error.DependencyNotInstalled as exc:
            raise ConfigError(f"cannot render {policy.env_name}: {exc}") from None
    finally:
        policy.close()


def _space_signature(space: Any) -> Any:
    """What acting depends on in a space: its type and layout (shape, dtype, n, start, keys), not its bounds."""
    from gymnasium import spaces

    if isinstance(space, spaces.Tuple):
        return ("Tuple", tuple(_space_signature(s) for s in space.spaces))
    if isinstance(space, spaces.Dict):
        return ("Dict", tuple((k, _space_signature(s)) for k, s in space.spaces.items()))
    if isinstance(space, spaces.Discrete):
        return ("Discrete", int(space.n), int(space.start))
    if isinstance(space, spaces.MultiDiscrete):
        return ("MultiDiscrete", tuple(space.nvec.ravel().tolist()), tuple(np.asarray(space.start).ravel().tolist()))
    return (type(space).__name__, tuple(space.shape or ()), str(getattr(space, "dtype", "")))


def _shape_of(space: Any) -> str:
    shape = getattr(space, "shape", None)
    return f" of shape {tuple(shape)}" if shape else ""


def _check_env_spaces(checkpoint: str | os.PathLike[str], policy: RolloutPolicy, env: Any) -> None:
    """A numpy policy acts on the spaces its checkpoint recorded: the env made here must have them.

    Raises:
        CheckpointError: the env's observation or action space is not the recorded one (naming both).
    """
    actor = policy.actor
    recorded = getattr(actor, "spec", None)
    if policy.acting_with != "numpy" or not isinstance(recorded, dict):
        return
    for name in ("observation_space", "action_space"):
        mine, theirs = getattr(actor, name), getattr(env, name, None)
        if theirs is None or _space_signature(mine) != _space_signature(theirs):
            raise CheckpointError(
                f"{checkpoint}: the env {policy.env_name!r} made here has the {name.replace('_', ' ')} {theirs}"
                f"{_shape_of(theirs)}, but the checkpoint recorded {mine}{_shape_of(mine)} (its acting spec): the env "
                "changed since the checkpoint was "
                "written, or the checkpoint was edited; roll out in the env it was trained on"
            )


def _episodes(
    env: Any,
    trainer: Any,
    episodes: int,
    explore: bool,
    seed: int | None,
    max_steps: int,
    env_name: str | None = None,
) -> Iterator[EpisodeMetrics]:
    from rlcore.env_checks import checked_reset, checked_step, env_problem
    from rlcore.errors import EnvError

    name = env_name or getattr(trainer, "env_name", "env")
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
