"""ES's update in numpy: centered ranks, the antithetic gradient estimate, Adam and SGD on a flat vector.

Salimans et al. 2017 (fitness shaping by ranks, antithetic sampling), as OpenAI's
``evolution-strategies-starter`` and RLlib 2018 (``agents/es/utils.py``, ``optimizers.py``) wrote them:

- :func:`compute_centered_ranks`: the returns of an iteration, all ``2 n`` together, replaced by their
  ranks scaled to ``[-0.5, 0.5]`` (robust to the returns' scale and outliers);
- :func:`es_gradient`: ``g = sum_i (f(r+_i) - f(r-_i)) eps_i / (2 n)``, ``eps_i`` read from the noise
  table at ``indices[i]`` (the ``1 / noise_stdev`` factor is left to the step size, as 2018's);
- :class:`Adam` / :class:`SGD`: one step on the flat parameter vector from ``globalg = -g + l2_coeff * theta``,
  returning the new vector and the update ratio ``||step|| / ||theta||``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from rlcore.errors import ConfigError, GradientError


def compute_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks ``0 .. len(x) - 1`` of a 1-d array (ties broken by position: a stable sort), int64."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"compute_ranks takes a 1-d array, got shape {x.shape}")
    ranks = np.empty(len(x), dtype=np.int64)
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
    return ranks


def compute_centered_ranks(x: np.ndarray) -> np.ndarray:
    """``ranks / (x.size - 1) - 0.5`` over all of ``x`` (raveled), float32 of ``x``'s shape: the
    lowest value gets -0.5, the highest 0.5. A single value gets 0."""
    x = np.asarray(x)
    ranks = compute_ranks(x.ravel()).reshape(x.shape).astype(np.float32)
    if x.size <= 1:
        return np.zeros(x.shape, np.float32)
    ranks /= np.float32(x.size - 1)
    ranks -= np.float32(0.5)
    return ranks


def _groups(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    group: list[Any] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def batched_weighted_sum(
    weights: np.ndarray, vectors: Iterable[np.ndarray], batch_size: int = 500, *, dim: int | None = None
) -> tuple[np.ndarray, int]:
    """``(sum_i weights[i] * vectors[i], n)``: the sum in float32, ``batch_size`` vectors at a time
    (one ``[b] @ [b, P]`` product each, so that the noise slices are never all stacked at once).

    ``vectors`` yields ``len(weights)`` arrays of one length ``P`` (views into the noise table).
    With no vectors the sum is ``zeros(dim)`` (``dim`` must then be given). Raises ``ValueError``
    when ``vectors`` yields a different number of vectors than ``weights`` has, or none without ``dim``.
    """
    weights = np.asarray(weights, np.float32).ravel()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    total: np.ndarray | None = None
    count = 0
    for group in _groups(vectors, batch_size):
        w = weights[count : count + len(group)]
        if len(w) != len(group):
            raise ValueError(f"batched_weighted_sum: more vectors than the {len(weights)} weights")
        part = w @ np.asarray(group, np.float32)
        total = part if total is None else total + part
        count += len(group)
    if count != len(weights):
        raise ValueError(f"batched_weighted_sum: {len(weights)} weights but {count} vectors")
    if total is None:
        if dim is None:
            raise ValueError("batched_weighted_sum: no vectors and no dim to size the zero sum")
        total = np.zeros(dim, np.float32)
    return total.astype(np.float32, copy=False), count


#: The most bytes of noise slices :func:`es_gradient` stacks at once (besides ``batch_size`` slices).
GRADIENT_CHUNK_BYTES = 64 * 2**20


class _NoiseSource(Protocol):
    def get(self, i: int, dim: int) -> np.ndarray: ...


def _noise_slice(noise: _NoiseSource | np.ndarray, i: int, dim: int) -> np.ndarray:
    if isinstance(noise, np.ndarray):
        return noise[i : i + dim]
    return noise.get(i, dim)


def process_returns(returns: np.ndarray, proc_mode: str) -> np.ndarray:
    """``returns`` ``[n, 2]`` shaped by ``proc_mode``: ``"centered_rank"`` (over all ``2 n``
    together) or ``"raw"`` (float32 copies). Raises :class:`~rlcore.errors.ConfigError` for
    another mode."""
    if proc_mode == "centered_rank":
        return compute_centered_ranks(returns)
    if proc_mode == "raw":
        return np.asarray(returns, np.float32).copy()
    raise ConfigError(
        f"ES config key 'return_proc_mode' is not one of the choices: got {proc_mode!r}; "
        "allowed: 'centered_rank', 'raw'"
    )


def es_gradient(
    noise: _NoiseSource | np.ndarray,
    indices: np.ndarray,
    returns_pos: np.ndarray,
    returns_neg: np.ndarray,
    num_params: int,
    proc_mode: str = "centered_rank",
    *,
    batch_size: int = 500,
    max_bytes: int = GRADIENT_CHUNK_BYTES,
) -> np.ndarray:
    """The ES gradient estimate (float32 ``[num_params]``, to ascend):
    ``g = sum_i (f(r+_i) - f(r-_i)) * noise[indices[i] : indices[i] + num_params] / (2 n)``, where
    ``f`` is :func:`process_returns` over all ``2 n`` returns together (RLlib 2018's ES).

    ``noise``: a :class:`~rl_algos.es.noise.NoiseTable` or the float32 table itself. The slices
    are summed ``batch_size`` at a time (RLlib's 500), fewer when that many would stack more than
    ``max_bytes`` (at least one: 500 slices of a 134,915-parameter model are 270 MB). Raises
    :class:`~rlcore.errors.GradientError` for non-finite returns (naming how many) and ``ValueError``
    for mismatched lengths or no pairs.
    """
    indices = np.asarray(indices, np.int64).ravel()
    pos = np.asarray(returns_pos, np.float64).ravel()
    neg = np.asarray(returns_neg, np.float64).ravel()
    if not len(indices) == len(pos) == len(neg):
        raise ValueError(
            f"es_gradient: {len(indices)} noise indices, {len(pos)} positive and {len(neg)} negative returns; "
            "one of each per antithetic pair"
        )
    if len(indices) == 0:
        raise ValueError("es_gradient: no antithetic pairs to estimate a gradient from")
    returns = np.stack([pos, neg], axis=1)
    bad = int(np.count_nonzero(~np.isfinite(returns)))
    if bad:
        raise GradientError(
            f"ES got {bad} non-finite episode returns of {returns.size} (NaN or inf rewards from the env): "
            "no gradient can be estimated; check the env's rewards"
        )
    shaped = process_returns(returns, proc_mode)
    g, _ = batched_weighted_sum(
        shaped[:, 0] - shaped[:, 1],
        (_noise_slice(noise, int(i), num_params) for i in indices),
        batch_size=min(int(batch_size), max(1, int(max_bytes) // (4 * max(1, int(num_params))))),
        dim=num_params,
    )
    return (g / np.float32(returns.size)).astype(np.float32)


class FlatOptimizer:
    """A first-order step on a flat float32 parameter vector ``theta`` it holds (OpenAI starter's
    ``Optimizer``): :meth:`update` takes ``globalg`` (the direction to *descend*:
    ``-g + l2_coeff * theta``), returns ``(theta + step, ||step|| / ||theta||)`` and keeps the new
    vector. ``theta`` (keyword) overrides the held vector first (the policy's current weights)."""

    def __init__(self, theta: np.ndarray, stepsize: float) -> None:
        self.theta = np.array(theta, np.float32).ravel()
        self.dim = int(self.theta.size)
        self.stepsize = float(stepsize)
        self.t = 0

    def _compute_step(self, globalg: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update(self, globalg: np.ndarray, theta: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """One step; returns ``(new theta (a copy), update ratio)``. The ratio is ``||step|| /
        ||theta||`` (``||step||`` when theta is all zeros). Raises
        :class:`~rlcore.errors.GradientError` for a ``globalg`` of another length or with
        non-finite values (nothing is changed then)."""
        globalg = np.asarray(globalg, np.float32).ravel()
        if theta is not None:
            theta = np.array(theta, np.float32).ravel()
            if theta.size != self.dim:
                raise GradientError(f"{type(self).__name__}: theta has {theta.size} values, the optimizer {self.dim}")
        if globalg.size != self.dim:
            raise GradientError(f"{type(self).__name__}: the gradient has {globalg.size} values, theta {self.dim}")
        if not np.all(np.isfinite(globalg)):
            raise GradientError(
                f"{type(self).__name__}: the update direction has {int(np.count_nonzero(~np.isfinite(globalg)))} "
                "non-finite values; the step is refused (theta unchanged)"
            )
        if theta is not None:
            self.theta = theta
        self.t += 1
        step = self._compute_step(globalg)
        norm_theta = float(np.linalg.norm(self.theta))
        ratio = float(np.linalg.norm(step)) / (norm_theta if norm_theta > 0 else 1.0)
        self.theta = (self.theta + step).astype(np.float32)
        return self.theta.copy(), ratio

    def get_state(self) -> dict[str, Any]:
        """The optimizer's state: numpy arrays and numbers only (``t``, ``theta`` and its moments)."""
        return {"t": np.int64(self.t), "theta": self.theta.copy(), **{k: v.copy() for k, v in self._moments().items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output. Raises :class:`~rlcore.errors.ConfigError` naming
        both sizes when its vectors have another length than this optimizer's."""
        moments = self._moments()
        missing = sorted({"t", "theta", *moments} - set(state))
        if missing:
            raise ConfigError(f"{type(self).__name__} state lacks {', '.join(missing)}")
        for key in ("theta", *moments):
            size = int(np.asarray(state[key]).size)
            if size != self.dim:
                raise ConfigError(
                    f"{type(self).__name__} state {key!r} has {size} values, this optimizer's vector {self.dim}: "
                    "the state is of another policy (another model or env)"
                )
        self.t = int(state["t"])
        self.theta = np.array(state["theta"], np.float32).ravel()
        for key in moments:
            setattr(self, key, np.array(state[key], np.float32).ravel())

    def _moments(self) -> dict[str, np.ndarray]:
        return {}


class Adam(FlatOptimizer):
    """Adam on the flat vector (Kingma and Ba 2015; the OpenAI starter's and RLlib 2018's ES):
    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``step = -stepsize * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon)``."""

    def __init__(
        self, theta: np.ndarray, stepsize: float, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
    ) -> None:
        super().__init__(theta, stepsize)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.m: np.ndarray = np.zeros(self.dim, np.float32)
        self.v: np.ndarray = np.zeros(self.dim, np.float32)

    def _compute_step(self, globalg: np.ndarray) -> np.ndarray:
        a = self.stepsize * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        self.m = (self.beta1 * self.m + (1 - self.beta1) * globalg).astype(np.float32)
        self.v = (self.beta2 * self.v + (1 - self.beta2) * (globalg * globalg)).astype(np.float32)
        return (-a * self.m / (np.sqrt(self.v) + self.epsilon)).astype(np.float32)

    def _moments(self) -> dict[str, np.ndarray]:
        return {"m": self.m, "v": self.v}


class SGD(FlatOptimizer):
    """SGD with momentum on the flat vector (the OpenAI starter's): ``v = momentum v + (1 - momentum) g``,
    ``step = -stepsize * v``."""

    def __init__(self, theta: np.ndarray, stepsize: float, momentum: float = 0.9) -> None:
        super().__init__(theta, stepsize)
        self.momentum = float(momentum)
        self.v: np.ndarray = np.zeros(self.dim, np.float32)

    def _compute_step(self, globalg: np.ndarray) -> np.ndarray:
        self.v = (self.momentum * self.v + (1 - self.momentum) * globalg).astype(np.float32)
        return (-self.stepsize * self.v).astype(np.float32)

    def _moments(self) -> dict[str, np.ndarray]:
        return {"v": self.v}


def make_optimizer(config: dict[str, Any] | Any, theta: np.ndarray) -> FlatOptimizer:
    """The flat-vector optimizer ``config`` asks for: :class:`Adam` (``optimizer_type`` ``"adam"``)
    or :class:`SGD` (``"sgd"``, with ``sgd_momentum``), at ``stepsize``. Raises
    :class:`~rlcore.errors.ConfigError` for another ``optimizer_type``."""
    kind = config["optimizer_type"]
    if kind == "adam":
        return Adam(theta, float(config["stepsize"]))
    if kind == "sgd":
        return SGD(theta, float(config["stepsize"]), momentum=float(config["sgd_momentum"]))
    raise ConfigError(f"ES config key 'optimizer_type' is not one of the choices: got {kind!r}; allowed: 'adam', 'sgd'")
