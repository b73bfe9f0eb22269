"""ES's optimizer: hand out antithetic-pair tasks, rank the returns, step the flat vector.

:class:`ESOptimizer` is internal to the :class:`~rl_algos.es.trainer.ES` trainer (not registered).
Each :meth:`~ESOptimizer.step` puts the local policy's flat parameter vector ``theta`` in the
object store once, submits :func:`~rl_algos.es.worker.es_rollouts` tasks (noise indices and
evaluation counts drawn here, from the config's ``seed``) to idle workers until the finished
perturbed episodes reach both ``episodes_per_batch`` and ``train_batch_size`` timesteps, then
estimates the gradient from the centered ranks (:func:`~rl_algos.es.ranks.es_gradient`), takes
an Adam or SGD step on ``-g + l2_coeff * theta`` and sets the new vector on the local policy
(and the remote ones: a recreated worker and ``compute_action`` see it).

With ``num_workers`` 0 the tasks run on the local evaluator, one after another, in this process.
A task whose worker died is dropped (counted in ``num_dropped_tasks``) and more are handed out; an
exception raised inside a task is raised here as the worker raised it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from rl_algos.es.ranks import FlatOptimizer, es_gradient, make_optimizer
from rl_algos.es.worker import es_rollouts
from rlcore.errors import GradientError
from rlcore.evaluator import EpisodeMetrics
from rlcore.model_policy import flat_weight_layout
from rlcore.optimizer import PolicyOptimizer, Timers

if TYPE_CHECKING:
    from rl_algos.es.noise import NoiseTable
    from rlcore.worker_set import WorkerSet

#: The config keys the optimizer reads (taken from the ES config as they are).
OPTIMIZER_KEYS: tuple[str, ...] = (
    "episodes_per_batch",
    "train_batch_size",
    "noise_stdev",
    "action_noise_std",
    "eval_prob",
    "l2_coeff",
    "stepsize",
    "optimizer_type",
    "sgd_momentum",
    "return_proc_mode",
    "num_envs_per_worker",
    "seed",
)


class ESOptimizer(PolicyOptimizer):
    """One ES iteration per :meth:`step` over ``workers`` (see the module docstring).

    ``config`` holds :data:`OPTIMIZER_KEYS`; ``noise_source()`` returns the driver's noise table
    and what ``workers.put(noise.array)`` returned (made and put once, at its first call: the
    trainer's :meth:`~rl_algos.es.trainer.ES.shared_noise`; tasks pass the reference, never the
    array), called at the first :meth:`step`. Raises
    :class:`~rlcore.errors.UnsupportedOperationError` when the local policy has no flat-weight
    layout.
    """

    def __init__(
        self, workers: WorkerSet, config: dict[str, Any], *, noise_source: Callable[[], tuple[NoiseTable, Any]]
    ) -> None:
        super().__init__(workers, config)
        self.policy: Any = self.local_evaluator.policy  # type: ignore[attr-defined]
        flat_weight_layout(self.policy, "ES")
        self.num_params = int(self.policy.num_params)
        self._noise_source = noise_source
        seed = self.config.get("seed")
        #: Draws the noise indices, evaluation counts and task seeds (its state is checkpointed).
        self.rng = np.random.default_rng(None if seed is None else int(seed))
        self.flat_optimizer: FlatOptimizer = make_optimizer(self.config, self.policy.get_flat_weights())
        self.timers = Timers("rollouts", "update")
        self.num_episodes_perturbed = 0
        self.num_eval_episodes = 0
        self.num_tasks = 0
        self.num_dropped_tasks = 0
        self._mean_pair_steps: float | None = None  # steps of an antithetic pair, last seen
        self._eval_episodes: list[EpisodeMetrics] = []
        self._round = 0  # iterations' task rounds (a task's tag): results of an earlier round are dropped

    @property
    def noise(self) -> NoiseTable:
        """The driver's noise table (from ``noise_source``)."""
        return self._noise_source()[0]

    @property
    def noise_ref(self) -> Any:
        """The noise table's object-store reference that tasks pass (embedded: the array)."""
        return self._noise_source()[1]

    # -- tasks ---------------------------------------------------------------------------------
    def _worker_indices(self) -> list[int]:
        return self.workers.remote_worker_indices or [0]

    def _pairs_wanted(self, episodes: int, steps: int) -> int:
        """Antithetic pairs still to hand out, given the perturbed ``episodes`` and ``steps``
        finished or in flight (steps of tasks in flight estimated from the last pair lengths)."""
        need_eps = max(0, int(self.config["episodes_per_batch"]) - episodes)
        need_steps = max(0, int(self.config["train_batch_size"]) - steps)
        pairs = math.ceil(need_eps / 2)
        if need_steps and self._mean_pair_steps:
            pairs = max(pairs, math.ceil(need_steps / self._mean_pair_steps))
        elif need_steps:
            pairs = max(pairs, 1)
        return pairs

    def _task(self, n_pairs: int) -> dict[str, Any]:
        eval_prob = float(self.config["eval_prob"])
        return {
            "noise_indices": self.noise.sample_index(self.rng, self.num_params, n_pairs),
            "num_eval": int(self.rng.binomial(n_pairs, eval_prob)) if eval_prob > 0 else 0,
            "noise_stdev": float(self.config["noise_stdev"]),
            "action_noise_std": float(self.config["action_noise_std"]),
            "seed": int(self.rng.integers(2**31 - 1)),
        }

    def _run_tasks(self, theta_ref: Any) -> list[dict[str, Any]]:
        """Submit tasks to idle workers until the finished perturbed episodes reach both targets;
        the results of every task handed out (the last ones in flight are waited for)."""
        self._round += 1
        indices = self._worker_indices()
        min_pairs = max(1, math.ceil(int(self.config["num_envs_per_worker"]) / 2))
        done_eps = done_steps = 0
        in_flight: dict[int, int] = {}  # worker index -> pairs of its task in flight
        results: list[dict[str, Any]] = []
        while True:
            idle = [i for i in indices if i not in in_flight]
            for k, i in enumerate(idle):
                pending = sum(in_flight.values())
                est = self._mean_pair_steps or 0.0
                wanted = self._pairs_wanted(done_eps + 2 * pending, done_steps + int(est * pending))
                if wanted <= 0:
                    break
                # the pairs still wanted, shared over the idle workers (each one's envs kept busy)
                n_pairs = max(min_pairs, math.ceil(wanted / (len(idle) - k)))
                in_flight[i] = n_pairs
                self.num_tasks += 1
                self.workers.submit(i, es_rollouts, self.noise_ref, theta_ref, self._task(n_pairs), tag=self._round)
            if not in_flight:
                return results
            for r in self.workers.completed(raise_errors=False):
                if r.tag != self._round:  # left in flight by an iteration that raised: another theta
                    continue
                if r.raised and r.error is not None:  # the task's own exception, as embedded raises it
                    raise r.error
                in_flight.pop(r.worker_index, None)
                if not r.ok:  # its worker died (recreated by now): the task is lost
                    self.num_dropped_tasks += 1
                    continue
                res = r.result
                results.append(res)
                lengths = np.asarray(res["lengths"])
                done_eps += lengths.size
                done_steps += int(lengths.sum())
                if lengths.size:
                    self._mean_pair_steps = float(lengths.sum()) / len(lengths)

    # -- the iteration -------------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        """One ES iteration; returns the learner info (see :class:`~rl_algos.es.trainer.ES`).
        Raises :class:`~rlcore.errors.GradientError` (weights unchanged) when the update direction
        is not finite (raw returns near float32's range), and what the tasks raise."""
        cfg = self.config
        theta = np.asarray(self.policy.get_flat_weights(), np.float32)
        with self.timers("rollouts"):
            results = self._run_tasks(self.workers.put(theta))
        indices = np.concatenate([np.asarray(r["noise_indices"], np.int64) for r in results])
        returns = np.concatenate([np.asarray(r["returns"], np.float64).reshape(-1, 2) for r in results])
        lengths = np.concatenate([np.asarray(r["lengths"], np.int64).reshape(-1, 2) for r in results])
        eval_returns = np.concatenate([np.asarray(r["eval_returns"], np.float64) for r in results])
        eval_lengths = np.concatenate([np.asarray(r["eval_lengths"], np.int64) for r in results])
        steps = sum(int(r["steps"]) for r in results)
        with self.timers("update"):
            g = es_gradient(self.noise, indices, returns[:, 0], returns[:, 1], self.num_params, cfg["return_proc_mode"])
            direction = -g + float(cfg["l2_coeff"]) * theta
            if not np.isfinite(direction).all():
                raise GradientError(
                    f"ES's update direction has {int((~np.isfinite(direction)).sum())} NaN or infinite values of "
                    f"{self.num_params:,} (perturbed returns {returns.min():.4g}..{returns.max():.4g}, "
                    f"return_proc_mode {cfg['return_proc_mode']!r}, noise_stdev {cfg['noise_stdev']}); the weights "
                    "were left as they were. "
                    "Use return_proc_mode 'centered_rank' (ranks, not the returns, weigh the noise), or scale the "
                    "env's rewards down"
                )
            new_theta, ratio = self.flat_optimizer.update(direction, theta=theta)
            self.policy.set_flat_weights(new_theta)
            self.workers.sync_weights()
        self.num_steps_sampled += steps
        self.num_steps_trained += int(lengths.sum())
        self.num_episodes_perturbed += int(lengths.size)
        self.num_eval_episodes += len(eval_returns)
        self._eval_episodes.extend(
            EpisodeMetrics(float(r), int(n)) for r, n in zip(eval_returns, eval_lengths, strict=True)
        )
        return {
            "grad_norm": float(np.linalg.norm(g)),
            "update_ratio": float(ratio),
            "weights_norm": float(np.linalg.norm(new_theta)),
            "episodes_this_iter": int(lengths.size),
            "perturbed_reward_mean": float(returns.mean()),
            "perturbed_reward_max": float(returns.max()),
            "perturbed_reward_min": float(returns.min()),
            "perturbed_len_mean": float(lengths.mean()),
            "perturbed_timesteps_this_iter": int(lengths.sum()),
            "num_eval_episodes": len(eval_returns),
            "num_tasks": len(results),
            "noise_stdev": float(cfg["noise_stdev"]),
            "stepsize": float(cfg["stepsize"]),
        }

    def collect_metrics(self) -> list[EpisodeMetrics]:
        """The evaluation (unperturbed) episodes finished since the last call: what
        ``episode_reward_mean`` is over. The evaluators' own episode lists stay empty."""
        out, self._eval_episodes = self._eval_episodes, []
        return out

    def stats(self) -> dict[str, Any]:
        """Counters (``num_steps_sampled``: perturbed and evaluation steps; ``num_steps_trained``:
        the perturbed ones), episodes, tasks handed out and dropped, and the phases' seconds."""
        return {
            **super().stats(),
            "num_episodes_perturbed": self.num_episodes_perturbed,
            "num_eval_episodes": self.num_eval_episodes,
            "num_tasks": self.num_tasks,
            "num_dropped_tasks": self.num_dropped_tasks,
        }

    # -- checkpoints ---------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Counters, the Adam/SGD state (arrays) and the state of the rng that draws the tasks (JSON)."""
        return {
            **super().get_state(),
            "num_episodes_perturbed": self.num_episodes_perturbed,
            "num_eval_episodes": self.num_eval_episodes,
            "num_tasks": self.num_tasks,
            "num_dropped_tasks": self.num_dropped_tasks,
            "mean_pair_steps": self._mean_pair_steps,
            "flat_optimizer": {"type": str(self.config["optimizer_type"]), **self.flat_optimizer.get_state()},
            "rng": self.rng.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`. Raises :class:`~rlcore.errors.ConfigError` for a state of
        another ``optimizer_type`` or parameter count (naming both)."""
        from rlcore.errors import ConfigError

        opt_state = dict(state["flat_optimizer"])
        kind = opt_state.pop("type", self.config["optimizer_type"])
        if kind != self.config["optimizer_type"]:
            raise ConfigError(
                f"the checkpoint's ES optimizer is {kind!r}, this trainer's optimizer_type is "
                f"{self.config['optimizer_type']!r}: restore it with optimizer_type {kind!r}"
            )
        self.flat_optimizer.set_state(opt_state)
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        super().set_state(state)
        self.rng = rng
        self.num_episodes_perturbed = int(state["num_episodes_perturbed"])
        self.num_eval_episodes = int(state["num_eval_episodes"])
        self.num_tasks = int(state["num_tasks"])
        self.num_dropped_tasks = int(state["num_dropped_tasks"])
        mean = state.get("mean_pair_steps")
        self._mean_pair_steps = None if mean is None else float(mean)
        self._eval_episodes = []
