"""Example envs of rl_algos, registered with rlcore by the plugin (``rlcore_register_envs``).

``StatelessCartPole-v1``: gymnasium's CartPole-v1 with the two velocity components removed from
the observation, which keeps the cart position and the pole angle (``obs[[0, 2]]``). The dynamics,
rewards, episode ends and the 500-step time limit are CartPole-v1's own (the wrapped env steps);
only what the agent sees changes. A policy that sees one observation cannot tell which way the
pole is moving, so it needs memory (``model.use_lstm``) to balance it for long: the task RLlib's
later examples used to show recurrent policies.

``PixelGrid-v0`` (:class:`PixelGrid`): a small uint8 image env for vision Q-networks. Each step
shows a ``Box(0, 255, (16, 16, 1), uint8)`` frame of background noise with one bright shape drawn
on it, a 4x4 square, a horizontal 1x8 bar or a vertical 8x1 bar, at a random place and
intensity; the action (``Discrete(3)``) names the shape (0 square, 1 horizontal bar, 2 vertical
bar) and earns reward 1 when right, else 0. An episode is 10 steps, so a random policy averages
about 3.3 and a perfect one 10. It is a contextual bandit in pixels: telling the shapes apart
is a job for a conv trunk and needs no memory.

Imported lazily (the plugin names ``"rl_algos.envs:make_stateless_cartpole"``), so loading the
plugin imports neither gymnasium nor numpy.
"""

from __future__ import annotations

from typing import Any, ClassVar

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


#: PixelGrid's shapes, in action order: (name, height, width).
SHAPES: tuple[tuple[str, int, int], ...] = (("square", 4, 4), ("horizontal bar", 1, 8), ("vertical bar", 8, 1))
#: PixelGrid's env_config keys and their defaults.
PIXEL_GRID_DEFAULTS: dict[str, Any] = {"size": 16, "episode_len": 10, "noise": 40, "blink": False, "seed": None}
#: The smallest image side: the longest shape (8) must fit, and rlcore's image preprocessing needs 8.
MIN_SIZE = 8


def _int_option(config: dict[str, Any], key: str, low: int, high: int | None = None) -> int:
    value = config[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"an int >= {low}" if high is None else f"an int in [{low}, {high}]"
        raise ConfigError(f"PixelGrid-v0 env_config {key!r} must be {bound}, got {value!r}")
    return int(value)


class PixelGrid(gymnasium.Env[np.ndarray, np.int64]):
    """A uint8 image env: name the shape drawn in the frame (reward 1 when right, else 0).

    ``PixelGrid(size=16, episode_len=10, noise=40, blink=False, seed=None)``. Observations:
    ``Box(0, 255, (size, size, 1), uint8)``, background noise uniform in ``[0, noise]`` with one
    shape of :data:`SHAPES` (a 4x4 square, a 1x8 or an 8x1 bar) drawn at a uniformly random place
    with a uniform intensity in ``[128, 255]``. Actions: ``Discrete(3)``, the index of the shape in
    :data:`SHAPES`. ``step(a)`` rewards 1.0 when ``a`` names the shape of the frame the agent was
    shown (the last observation returned), then shows a new frame; the episode terminates after
    ``episode_len`` steps. ``info["shape"]`` is the index of the shape in the returned frame.

    With ``blink`` a new shape is drawn every second step and is shown only on its first frame
    (even step indexes); the frame after is noise only, and its answer is still the shape shown
    just before, so a policy needs the last two frames (``framestack: 2``) to answer every step.

    Randomness comes from ``reset(seed=...)``'s generator (gymnasium's rule); ``seed`` seeds the
    first ``reset()`` called without one. Raises :class:`~rlcore.errors.ConfigError` for a
    ``size`` below 8, an ``episode_len`` below 1 or a ``noise`` outside ``[0, 127]``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self, size: int = 16, episode_len: int = 10, noise: int = 40, blink: bool = False, seed: int | None = None
    ) -> None:
        config = {"size": size, "episode_len": episode_len, "noise": noise, "blink": blink, "seed": seed}
        self.size = _int_option(config, "size", MIN_SIZE)
        self.episode_len = _int_option(config, "episode_len", 1)
        self.noise = _int_option(config, "noise", 0, 127)
        if not isinstance(blink, bool | np.bool_):
            raise ConfigError(f"PixelGrid-v0 env_config 'blink' must be true or false, got {blink!r}")
        self.blink = bool(blink)
        if seed is not None:
            _int_option(config, "seed", 0)
        self._first_seed = seed
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 1), np.uint8)
        self.action_space = spaces.Discrete(len(SHAPES))
        self._t = 0
        self._shape = 0

    def _frame(self, show: bool) -> np.ndarray:
        rng = self.np_random
        frame = rng.integers(0, self.noise + 1, size=(self.size, self.size, 1), dtype=np.uint8)
        if show:
            _, h, w = SHAPES[self._shape]
            top, left = int(rng.integers(0, self.size - h + 1)), int(rng.integers(0, self.size - w + 1))
            frame[top : top + h, left : left + w, 0] = rng.integers(128, 256, dtype=np.uint8)
        return frame

    def _next_frame(self) -> np.ndarray:
        if self.blink and self._t % 2 == 1:
            return self._frame(show=False)  # the answer stays the shape shown one step before
        self._shape = int(self.np_random.integers(len(SHAPES)))
        return self._frame(show=True)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """A new episode's first frame and ``{"shape": its shape index}``."""
        if seed is None and self._first_seed is not None:
            seed, self._first_seed = self._first_seed, None
        super().reset(seed=seed)
        self._t = 0
        return self._next_frame(), {"shape": self._shape}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Reward 1.0 when ``action`` names the shape of the last frame shown, then the next frame."""
        if not self.action_space.contains(action):
            raise ValueError(f"PixelGrid-v0 takes actions in {self.action_space}, got {action!r}")
        reward = 1.0 if int(action) == self._shape else 0.0
        self._t += 1
        obs = self._next_frame()
        return obs, reward, self._t >= self.episode_len, False, {"shape": self._shape}


def make_pixel_grid(env_config: dict[str, Any] | None = None) -> PixelGrid:
    """The env creator registered as ``PixelGrid-v0`` (``env_config`` keys: :data:`PIXEL_GRID_DEFAULTS`).

    Raises :class:`~rlcore.errors.ConfigError` naming an unknown key or a bad value."""
    from rlcore.errors import did_you_mean

    config = dict(env_config or {})
    unknown = sorted(set(config) - set(PIXEL_GRID_DEFAULTS))
    if unknown:
        raise ConfigError(
            f"PixelGrid-v0 has no env_config key {unknown[0]!r}.{did_you_mean(str(unknown[0]), PIXEL_GRID_DEFAULTS)} "
            f"Its keys: {', '.join(PIXEL_GRID_DEFAULTS)}"
        )
    return PixelGrid(**{**PIXEL_GRID_DEFAULTS, **config})


__all__ = [
    "KEPT",
    "PIXEL_GRID_DEFAULTS",
    "SHAPES",
    "PixelGrid",
    "StatelessCartPole",
    "make_pixel_grid",
    "make_stateless_cartpole",
]
