"""A pure-numpy policy evaluator: linear softmax policy, REINFORCE with a linear value baseline.

It implements the whole :class:`rlcore.PolicyEvaluator` contract with nothing but numpy, which
makes it a compact reference for plugin authors: vectorized sampling over ``num_envs`` envs
(one batched forward pass per step), terminated vs truncated handled by
:func:`rlcore.postprocessing.compute_gae` (``lambda=1``: Monte-Carlo returns that bootstrap from
the value baseline on truncation and at the fragment's end), analytic gradients, weights as
``dict[str, np.ndarray]`` with ``[in, out]`` layouts, metrics, state, pickling (for Ray).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.evaluator import EpisodeMetrics, Gradients, PolicyEvaluator, Weights
from rlcore.postprocessing import compute_gae
from rlcore.sample_batch import SampleBatch

#: Config keys of the evaluator and their defaults (other keys of a merged config are ignored).
DEFAULT_CONFIG: dict[str, Any] = {
    "seed": 0,
    "num_envs": 4,
    "rollout_fragment_length": 32,  # steps per env per sample() call
    "gamma": 0.99,
    "lr": 0.5,
    "vf_coeff": 0.5,
    "env_config": {},
}

_EPS_STRIDE = 1 << 40  # eps_id = worker_index * _EPS_STRIDE + per-worker counter


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class LinearPGEvaluator(PolicyEvaluator):
    """REINFORCE with a linear softmax policy and a linear value baseline, in numpy.

    ``LinearPGEvaluator(env_creator, config, worker_index=0)``; config keys in
    :data:`DEFAULT_CONFIG`. Weights: ``pi/kernel [obs_dim, num_actions]``, ``pi/bias
    [num_actions]``, ``vf/kernel [obs_dim, 1]``, ``vf/bias [1]`` (float32). The loss is
    ``-mean(logp(a|s) * A_normalized) + vf_coeff * 0.5 * mean((V(s) - G)^2)``; the optimizer is
    plain SGD with learning rate ``lr``.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients", "remote"})

    def __init__(
        self, env_creator: Callable[[dict[str, Any]], Any], config: dict[str, Any], worker_index: int = 0
    ) -> None:
        self.config = {**DEFAULT_CONFIG, **config}
        self.worker_index = int(worker_index)
        self.num_envs = int(self.config["num_envs"])
        self.fragment = int(self.config["rollout_fragment_length"])
        if self.num_envs < 1 or self.fragment < 1:
            raise ConfigError("num_envs and rollout_fragment_length must be >= 1")
        self.envs = [env_creator(dict(self.config["env_config"])) for _ in range(self.num_envs)]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        if not isinstance(self.action_space, spaces.Discrete):
            raise UnsupportedOperationError(
                f"LinearPGEvaluator supports Discrete action spaces only, got {self.action_space}"
            )
        if isinstance(self.observation_space, spaces.Box):
            self.obs_dim = int(np.prod(self.observation_space.shape))
        elif isinstance(self.observation_space, spaces.Discrete):
            self.obs_dim = int(self.observation_space.n)
        else:
            raise UnsupportedOperationError(f"LinearPGEvaluator cannot preprocess {self.observation_space}")
        n_act = int(self.action_space.n)

        # Every random source derives from (seed, worker_index): same seed, same samples.
        seed = self.config["seed"]  # None: fresh entropy (unseeded runs)
        entropy = None if seed is None else [int(seed), self.worker_index]
        init_ss, act_ss, env_ss = np.random.SeedSequence(entropy).spawn(3)
        init_rng = np.random.default_rng(init_ss)
        self._rng = np.random.default_rng(act_ss)
        self._w: dict[str, np.ndarray] = {
            "pi/kernel": (0.01 * init_rng.standard_normal((self.obs_dim, n_act))).astype(np.float32),
            "pi/bias": np.zeros(n_act, dtype=np.float32),
            "vf/kernel": np.zeros((self.obs_dim, 1), dtype=np.float32),
            "vf/bias": np.zeros(1, dtype=np.float32),
        }
        env_seeds = env_ss.generate_state(self.num_envs)
        self._obs = np.stack(
            [self._preprocess_one(env.reset(seed=int(s))[0]) for env, s in zip(self.envs, env_seeds, strict=True)]
        )
        self._eps_id = self.worker_index * _EPS_STRIDE + np.arange(self.num_envs, dtype=np.int64)
        self._next_eps = self.num_envs
        self._ep_reward = np.zeros(self.num_envs)
        self._ep_len = np.zeros(self.num_envs, dtype=np.int64)
        self._metrics: list[EpisodeMetrics] = []
        self.num_steps_sampled = 0

    # -- model -----------------------------------------------------------------
    def _preprocess_one(self, obs: Any) -> np.ndarray:
        if isinstance(self.observation_space, spaces.Discrete):
            out = np.zeros(self.obs_dim, dtype=np.float32)
            out[int(obs)] = 1.0
            return out
        return np.asarray(obs, dtype=np.float32).reshape(-1)

    def _preprocess(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if isinstance(self.observation_space, spaces.Discrete):
            return np.eye(self.obs_dim, dtype=np.float32)[obs.astype(np.int64).reshape(-1)]
        return obs.astype(np.float32).reshape(len(obs), -1)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``[B, A]`` and values ``[B]`` for preprocessed observations ``[B, D]``."""
        logits = x @ self._w["pi/kernel"] + self._w["pi/bias"]
        values = (x @ self._w["vf/kernel"] + self._w["vf/bias"])[:, 0]
        return logits, values

    def _sample_actions(self, logp: np.ndarray) -> np.ndarray:
        cdf = np.cumsum(np.exp(logp), axis=1)
        u = self._rng.random(len(logp))[:, None]
        return np.minimum((u > cdf).sum(axis=1), logp.shape[1] - 1).astype(np.int64)

    # -- data --------------------------------------------------------------------
    def sample(self) -> SampleBatch:
        """Step every env ``rollout_fragment_length`` times; rows are grouped env by env."""
        T, N, D = self.fragment, self.num_envs, self.obs_dim
        obs_buf = np.empty((T, N, D), np.float32)
        next_obs_buf = np.empty((T, N, D), np.float32)
        actions = np.empty((T, N), np.int64)
        rewards = np.empty((T, N), np.float32)
        terms = np.empty((T, N), bool)
        truncs = np.empty((T, N), bool)
        eps = np.empty((T, N), np.int64)
        logps = np.empty((T, N), np.float32)
        vf_preds = np.empty((T, N), np.float32)
        for t in range(T):
            logits, values = self._forward(self._obs)  # one batched forward pass for all envs
            logp_all = _log_softmax(logits)
            act = self._sample_actions(logp_all)
            obs_buf[t], actions[t], eps[t], vf_preds[t] = self._obs, act, self._eps_id, values
            logps[t] = logp_all[np.arange(N), act]
            new_obs = np.empty_like(self._obs)
            for i, env in enumerate(self.envs):
                o, r, terminated, truncated, _ = env.step(int(act[i]))
                o = self._preprocess_one(o)
                rewards[t, i], terms[t, i], truncs[t, i] = r, terminated, truncated
                next_obs_buf[t, i] = o  # the obs that really followed: the final one at an episode end
                self._ep_reward[i] += r
                self._ep_len[i] += 1
                if terminated or truncated:
                    self._metrics.append(EpisodeMetrics(float(self._ep_reward[i]), int(self._ep_len[i])))
                    self._ep_reward[i], self._ep_len[i] = 0.0, 0
                    self._eps_id[i] = self.worker_index * _EPS_STRIDE + self._next_eps
                    self._next_eps += 1
                    o = self._preprocess_one(env.reset()[0])
                new_obs[i] = o
            self._obs = new_obs
        self.num_steps_sampled += T * N
        # V(s_{t+1}): used on truncation and at the fragment's end, ignored after termination.
        next_values = self._forward(next_obs_buf.reshape(T * N, D))[1].reshape(T, N)
        adv, targets = compute_gae(
            rewards, vf_preds, next_values, terms, truncs, gamma=float(self.config["gamma"]), lambda_=1.0
        )

        def env_major(x: np.ndarray) -> np.ndarray:
            return np.swapaxes(x, 0, 1).reshape(T * N, *x.shape[2:])

        return SampleBatch(
            obs=env_major(obs_buf),
            actions=env_major(actions),
            rewards=env_major(rewards),
            terminateds=env_major(terms),
            truncateds=env_major(truncs),
            eps_id=env_major(eps),
            action_logp=env_major(logps),
            vf_preds=env_major(vf_preds),
            advantages=env_major(adv),
            value_targets=env_major(targets),
        )

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        """Greedy (``explore=False``) or sampled actions for raw observations ``[B, *obs_shape]``."""
        logp = _log_softmax(self._forward(self._preprocess(obs))[0])
        if explore:
            return self._sample_actions(logp)
        return np.argmax(logp, axis=1).astype(np.int64)

    def get_metrics(self) -> list[EpisodeMetrics]:
        """Episodes finished since the last call."""
        out, self._metrics = self._metrics, []
        return out

    # -- learning ------------------------------------------------------------------
    def compute_gradients(self, batch: SampleBatch) -> tuple[Gradients, dict[str, Any]]:
        """Analytic gradients of the REINFORCE + value loss on ``batch`` (weights untouched), the
        same as the example's policy (:func:`rlcore_numpy_example.policy.pg_gradients`)."""
        from rlcore_numpy_example.policy import pg_gradients

        return pg_gradients(self._w, batch, float(self.config["vf_coeff"]))

    def apply_gradients(self, grads: Gradients) -> None:
        """One SGD step: ``w -= lr * g``."""
        unknown = set(grads) - set(self._w)
        if unknown:
            raise KeyError(f"gradients for unknown weights {sorted(unknown)}; weights: {sorted(self._w)}")
        lr = np.float32(self.config["lr"])
        for k, g in grads.items():
            self._w[k] = (self._w[k] - lr * np.asarray(g, np.float32)).astype(np.float32)

    # -- weights and state -----------------------------------------------------------
    def get_weights(self) -> Weights:
        """Copies of the weights."""
        return {k: v.copy() for k, v in self._w.items()}

    def set_weights(self, weights: Weights) -> None:
        """Load (copies of) weights of the same names and shapes."""
        if set(weights) != set(self._w):
            raise KeyError(f"weights have keys {sorted(weights)}, expected {sorted(self._w)}")
        for k, v in weights.items():
            arr = np.array(v, dtype=np.float32, copy=True)
            if arr.shape != self._w[k].shape:
                raise ValueError(f"weight {k!r} has shape {arr.shape}, expected {self._w[k].shape}")
            self._w[k] = arr

    def get_state(self) -> dict[str, Any]:
        """Weights and the step counter (arrays and JSON values only)."""
        return {"weights": self.get_weights(), "num_steps_sampled": int(self.num_steps_sampled)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.set_weights(state["weights"])
        self.num_steps_sampled = int(state.get("num_steps_sampled", 0))

    def stop(self) -> None:
        """Close the envs."""
        for env in self.envs:
            env.close()
