"""Example envs of rl_algos, registered with rlcore by the plugin (``rlcore_register_envs``).

``StatelessCartPole-v1``: gymnasium's CartPole-v1 with the two velocity components removed from
the observation, which keeps the cart position and the pole angle (``obs[[0, 2]]``). The dynamics,
rewards, episode ends and the 500-step time limit are CartPole-v1's own (the wrapped env steps);
only what the agent sees changes. A policy that sees one observation cannot tell which way the
pole is moving, so it needs memory (``model.use_lstm``) to balance it for long: the task RLlib's
later examples used to show recurrent policies.

Imported lazily (the plugin names ``"rl_algos.envs:make_stateless_cartpole"``), so loading the
plugin imports neither gymnasium nor numpy.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from rlcore.errors import ConfigError

#: The CartPole observation indices kept: cart position (0) and pole angle (2).
KEPT = np.array([0, 2])


class StatelessCartPole(gymnasium.ObservationWrapper):
    """CartPole-v1 whose observation is ``[cart position, pole angle]`` (float32 ``(2,)``).

    ``kwargs`` go to ``gymnasium.make("CartPole-v1", **kwargs)`` (e.g. ``render_mode``), or wrap
    a given CartPole ``env``. Raises :class:`~rlcore.errors.ConfigError` when ``env`` does not have
    CartPole's observation space (a ``Box`` of shape ``(4,)``).
    """

    def __init__(self, env: gymnasium.Env | None = None, **kwargs: Any) -> None:
        super().__init__(env if env is not None else gymnasium.make("CartPole-v1", **kwargs))
        box = self.env.observation_space
        if not isinstance(box, spaces.Box) or box.shape != (4,):
            raise ConfigError(
                f"StatelessCartPole wraps CartPole (observations Box of shape (4,)); the env given has "
                f"observation space {box}: pass a CartPole-v1 env, or no env (it makes one)"
            )
        self.observation_space = spaces.Box(
            low=box.low[KEPT].astype(np.float32), high=box.high[KEPT].astype(np.float32), dtype=np.float32
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The full CartPole observation without its velocities."""
        return np.asarray(observation, dtype=np.float32)[KEPT]


def make_stateless_cartpole(env_config: dict[str, Any] | None = None) -> StatelessCartPole:
    """The env creator registered as ``StatelessCartPole-v1`` (``env_config``: keyword arguments of
    ``gymnasium.make("CartPole-v1", ...)``, such as ``render_mode``).

    Raises :class:`~rlcore.errors.ConfigError` naming a key CartPole-v1 does not take."""
    from rlcore.env_checks import check_gym_kwargs

    config = dict(env_config or {})
    check_gym_kwargs("CartPole-v1", config)
    return StatelessCartPole(**config)


__all__ = ["KEPT", "StatelessCartPole", "make_stateless_cartpole"]
