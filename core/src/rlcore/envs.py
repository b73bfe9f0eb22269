"""Environment registration and creation.

``register_env("MyEnv-v0", creator)`` registers a creator taking an ``env_config`` dict; plugins
register envs through the ``rlcore_register_envs`` hook. Any gymnasium id works as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlcore.errors import PluginClashError, UnknownNameError, nearest
from rlcore.plugins import get_registry
from rlcore.specs import Spec

EnvCreator = Callable[[dict[str, Any]], Any]


def register_env(name: str, creator: EnvCreator | str, *, summary: str = "", override: bool = False) -> None:
    """Register an env creator (``creator(env_config) -> gymnasium.Env``) under ``name``.

    ``creator`` may also be a lazy ``"module:function"`` target. Raises
    :class:`~rlcore.errors.PluginClashError` when ``name`` is a gymnasium id or a plugin's env,
    unless ``override=True`` (then yours is used in this process).
    """
    if not (callable(creator) or isinstance(creator, str)):
        raise TypeError(f"register_env({name!r}, ...) needs a callable creator(env_config) -> Env, got {creator!r}")
    if not override:
        import gymnasium

        if name in gymnasium.registry:
            raise PluginClashError(
                f"env {name!r} is a gymnasium id: registering it would replace gymnasium's env for every run "
                "in this process. Pick another name, or pass override=True to replace it."
            )
    get_registry().register_spec(Spec(kind="env", name=name, target=creator, summary=summary), override=override)


def get_env_creator(name: str) -> EnvCreator:
    """The creator of a registered env, or one that calls ``gymnasium.make(name, **env_config)``."""
    registry = get_registry().load()
    registry.check_env_ids()  # a plugin's registration of a gymnasium id is refused
    spec = registry.specs["env"].get(name)
    if spec is not None:
        return registry.get("env", name).load()
    import gymnasium

    if name not in gymnasium.registry:
        from rlcore.catalogue import providers

        for entry in providers("env", name):  # a first-party plugin's env: say which and how to get it
            problem = registry.provider_problem(entry)
            if problem is not None:
                raise UnknownNameError(
                    f"unknown env {name!r}: it is provided by the distribution {entry.distribution} (plugin "
                    f"{entry.name!r}), which is {problem}"
                    if problem.startswith("not installed")
                    else f"unknown env {name!r}: it is provided by the distribution {entry.distribution}, but {problem}"
                )
        known = sorted(registry.specs["env"])
        close = nearest(name, list(gymnasium.registry) + known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"unknown env {name!r}: it is neither registered with rlcore nor a gymnasium id.{hint} "
            f"Envs registered with rlcore: {', '.join(known) if known else '(none)'}. Register yours with "
            "rlcore.register_env(name, creator), or import the package that registers it with gymnasium."
        )

    def make_gym(env_config: dict[str, Any] | None = None) -> Any:
        from rlcore.env_checks import check_gym_kwargs

        check_gym_kwargs(name, env_config or {})  # an unknown key: a ConfigError naming it, not a traceback
        return gymnasium.make(name, **(env_config or {}))

    return make_gym


def make_env(name: str, env_config: dict[str, Any] | None = None) -> Any:
    """Create the env registered as ``name`` (or the gymnasium id ``name``) with ``env_config``."""
    return get_env_creator(name)(dict(env_config or {}))
