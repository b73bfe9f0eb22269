"""ES's worker task: evaluate perturbed copies of the flat parameter vector, return only returns.

:func:`es_rollouts` runs on a worker (the local evaluator when ``num_workers`` is 0, else inside
a Ray actor through ``WorkerSet.submit``). It gets the shared noise table (an ObjectRef that Ray
resolves zero-copy: a read-only view of the object store, never copied here), the current flat
parameter vector ``theta`` and a small task dict drawn by the driver; it runs antithetic pairs
of episodes (``theta + noise_stdev * eps_j`` and ``theta - noise_stdev * eps_j`` with ``eps_j``
read at the driver's noise index ``j``) and the task's evaluation episodes of ``theta`` itself,
``num_envs_per_worker`` of them side by side, and sends back returns, lengths and the noise
indices: a few hundred bytes, never weights nor noise. The worker's own policy weights are not
touched (each episode's parameters are given to ``compute_population_actions``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: The keys of an ES task dict (drawn on the driver, see :class:`rl_algos.es.optimizer.ESOptimizer`).
TASK_KEYS: tuple[str, ...] = ("noise_indices", "num_eval", "noise_stdev", "action_noise_std", "seed")

#: With ``horizon`` None, a task in which no episode has ended for this many steps is refused
#: (:class:`~rlcore.errors.EnvError`): ES waits for whole episodes, so an env that never ends one
#: would hang the iteration. A ``horizon`` (any size) lifts the bound.
UNENDING_EPISODE_STEPS = 100_000


def episode_params(
    theta: np.ndarray, noise: np.ndarray, indices: np.ndarray, noise_stdev: float, episodes: np.ndarray
) -> np.ndarray:
    """The flat parameters ``[len(episodes), P]`` float32 of the given episode numbers of a task:
    episode ``2j`` is ``theta + noise_stdev * noise[indices[j]:indices[j] + P]``, episode ``2j + 1``
    is ``theta - noise_stdev * ...`` (the same ``eps_j``: an antithetic pair), and every episode at
    or past ``2 * len(indices)`` (an evaluation episode) is ``theta``."""
    dim = theta.shape[0]
    out = np.empty((len(episodes), dim), np.float32)
    n_perturbed = 2 * len(indices)
    for row, e in enumerate(np.asarray(episodes, np.int64)):
        if e >= n_perturbed:
            out[row] = theta
            continue
        start = int(indices[e // 2])
        sign = noise_stdev if e % 2 == 0 else -noise_stdev
        np.multiply(noise[start : start + dim], sign, out=out[row])
        out[row] += theta
    return out


def _unending(evaluator: Any, running: int) -> Exception:
    """The :class:`~rlcore.errors.EnvError` of a task whose episodes do not end (horizon None)."""
    from rlcore.errors import EnvError

    return EnvError(
        f"env {evaluator.config.get('env')!r} (worker {getattr(evaluator, 'worker_index', 0)}): none of the "
        f"{running} running ES episodes ended in {UNENDING_EPISODE_STEPS:,} steps and horizon is None. ES evaluates "
        "whole episodes, so every episode must end: set horizon (e.g. horizon: 1000; any horizon lifts this bound), "
        "or make the env end its episodes (terminated/truncated, e.g. gymnasium's TimeLimit or max_episode_steps)"
    )


def es_rollouts(evaluator: Any, noise: np.ndarray, theta: np.ndarray, task: dict[str, Any]) -> dict[str, Any]:
    """Run one ES task on ``evaluator`` (a rollout evaluator around a policy with a flat-weight
    layout) and return its returns.

    ``task``: ``noise_indices`` int64 ``[n]`` (start of ``eps_j`` in ``noise``), ``num_eval`` (how
    many unperturbed episodes of ``theta`` to run after the pairs), ``noise_stdev``,
    ``action_noise_std`` (Gaussian noise added to the actions of perturbed episodes in a Box
    action space, as RLlib 2018 did; evaluation episodes act without it) and ``seed`` (of that
    action noise). The ``2n + num_eval`` episodes run through ``evaluator.run_episodes`` (the
    observation filter frozen during the task, then updated with every observation it saw).

    Returns ``{"noise_indices": int64 [n], "returns": float64 [n, 2], "lengths": int64 [n, 2],
    "eval_returns": float64 [num_eval], "eval_lengths": int64 [num_eval], "steps": int}``, column 0
    the ``+eps`` episode and column 1 the ``-eps`` one. Raises what the env or the policy raise
    (as sampling does), :class:`~rlcore.errors.EnvError` when, with ``horizon`` None, no episode
    ends in :data:`UNENDING_EPISODE_STEPS` steps, and ``ValueError`` for a ``theta`` that is not the
    policy's ``[P]`` vector or a noise index out of the table.
    """
    from gymnasium import spaces

    policy = evaluator.policy
    theta = np.asarray(theta, np.float32)
    noise = np.asarray(noise)  # an ObjectRef's read-only view: never copied
    indices = np.asarray(task["noise_indices"], np.int64).reshape(-1)
    num_params = int(policy.num_params)
    if theta.shape != (num_params,):
        raise ValueError(f"es_rollouts: theta has shape {theta.shape}; the policy has {num_params:,} parameters")
    if len(indices) and (indices.min() < 0 or indices.max() > noise.shape[0] - num_params):
        raise ValueError(
            f"es_rollouts: noise indices must lie in [0, {noise.shape[0] - num_params}] (noise table of "
            f"{noise.shape[0]:,} values, {num_params:,} parameters); got {indices.min()}..{indices.max()}"
        )
    n_pairs, num_eval = len(indices), int(task["num_eval"])
    n_perturbed = 2 * n_pairs
    stdev = float(task["noise_stdev"])
    action_noise = float(task.get("action_noise_std", 0.0))
    box = isinstance(evaluator.action_space, spaces.Box) and action_noise > 0
    rng = np.random.default_rng(int(task["seed"]))
    # the rows' episodes change only when an episode ends: the [b, P] parameter matrix (and the
    # perturbed-row mask) are rebuilt only then, not at every step
    last: list[Any] = [None, None, None]  # [episodes as a list, params [b, P], perturbed mask [b]]
    bounded = evaluator.config.get("horizon") is None
    unchanged = [0]  # steps since the rows' episodes last changed (an episode ended)

    def act(obs: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        listed = np.asarray(episodes).tolist()
        if listed != last[0]:
            rows = np.asarray(episodes, np.int64)
            last[:] = [listed, episode_params(theta, noise, indices, stdev, rows), rows < n_perturbed]
            unchanged[0] = 0
        elif bounded:
            unchanged[0] += 1
            if unchanged[0] >= UNENDING_EPISODE_STEPS:
                raise _unending(evaluator, len(listed))
        params, perturbed = last[1], last[2]
        actions = np.asarray(policy.compute_population_actions(params, obs))
        if box and perturbed.any():
            actions = actions.astype(np.float32, copy=True)
            jitter = rng.standard_normal(actions.shape).astype(np.float32) * action_noise
            actions[perturbed] += jitter[perturbed]
        return actions

    runs = evaluator.run_episodes(act, n_perturbed + num_eval)
    returns = np.asarray(runs.returns, np.float64)
    lengths = np.asarray(runs.lengths, np.int64)
    return {
        "noise_indices": indices,
        "returns": returns[:n_perturbed].reshape(n_pairs, 2),
        "lengths": lengths[:n_perturbed].reshape(n_pairs, 2),
        "eval_returns": returns[n_perturbed:],
        "eval_lengths": lengths[n_perturbed:],
        "steps": int(runs.steps),
    }
