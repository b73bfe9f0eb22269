"""ES's worker task (es_rollouts): shapes, nothing but returns sent back, antithetic pairs, eval at theta.

Core + rl_algos only (framework "numpy", no Ray): the evaluator is the ES trainer's local one.
"""

from __future__ import annotations

import numpy as np
import pytest

from rl_algos.es import ES, es_rollouts
from rl_algos.es.worker import episode_params
from rlcore.models.layout import unflatten_weights

BASE = {
    "num_workers": 0,
    "seed": 3,
    "noise_size": 100_000,
    "episodes_per_batch": 4,
    "train_batch_size": 4,
    "num_envs_per_worker": 3,
}


def expected_return(policy, flat: np.ndarray) -> float:
    """The ParamReturnEnv return of the policy with ``flat``: the Gaussian mean (logits[0]) at obs [1]."""
    w = unflatten_weights(policy.flat_layout, np.asarray(flat, np.float32))
    return float(w["logits/kernel"][0, 0] + w["logits/bias"][0])


def test_cartpole_task_returns_only_returns_lengths_indices_and_counts():
    with ES({**BASE, "model": {"fcnet_hiddens": [8]}}, env="CartPole-v1") as trainer:
        ev = trainer.local_evaluator
        theta = ev.policy.get_flat_weights()
        before = {k: v.copy() for k, v in ev.policy.get_weights().items()}
        rng = np.random.default_rng(0)
        indices = trainer.noise.sample_index(rng, theta.size, 5)
        task = {"noise_indices": indices, "num_eval": 2, "noise_stdev": 0.02, "action_noise_std": 0.01, "seed": 1}
        out = es_rollouts(ev, trainer.noise.array, theta, task)
        assert set(out) == {"noise_indices", "returns", "lengths", "eval_returns", "eval_lengths", "steps"}
        assert out["returns"].shape == (5, 2) and out["returns"].dtype == np.float64
        assert out["lengths"].shape == (5, 2) and out["lengths"].dtype == np.int64
        assert out["eval_returns"].shape == (2,) and out["eval_lengths"].shape == (2,)
        np.testing.assert_array_equal(out["noise_indices"], indices)
        assert (out["lengths"] >= 1).all() and (out["eval_lengths"] >= 1).all()
        assert out["steps"] == out["lengths"].sum() + out["eval_lengths"].sum()
        np.testing.assert_array_equal(out["returns"], out["lengths"])  # CartPole: reward 1 a step
        # never weights nor noise: every array is a handful of numbers
        assert all(np.asarray(v).size <= 10 for v in out.values())
        # the worker's own policy is untouched (each episode's parameters go to compute_population_actions)
        for k, v in ev.policy.get_weights().items():
            np.testing.assert_array_equal(v, before[k])
        # the task's episodes are not reported as the sampler's episodes
        assert ev.get_metrics() == []


def test_antithetic_pairs_use_plus_and_minus_eps_of_the_same_index_and_eval_runs_theta(param_return_env):
    cfg = {**BASE, "model": {"fcnet_hiddens": []}, "observation_filter": "NoFilter"}
    with ES(cfg, env=param_return_env) as trainer:
        ev = trainer.local_evaluator
        policy = ev.policy
        theta = policy.get_flat_weights()
        noise = trainer.noise.array.copy()
        noise.flags.writeable = False  # as Ray hands it over: read-only, used as it is
        indices = np.array([0, 17, 900, 17], np.int64)
        sigma = 0.5
        task = {"noise_indices": indices, "num_eval": 3, "noise_stdev": sigma, "action_noise_std": 0.0, "seed": 0}
        out = es_rollouts(ev, noise, theta, task)
        r_theta = expected_return(policy, theta)
        for j, i in enumerate(indices):
            eps = noise[i : i + theta.size]
            assert out["returns"][j, 0] == pytest.approx(expected_return(policy, theta + sigma * eps), abs=1e-4)
            assert out["returns"][j, 1] == pytest.approx(expected_return(policy, theta - sigma * eps), abs=1e-4)
            # the return is linear in the parameters: the pair is symmetric around theta's
            assert out["returns"][j, 0] - r_theta == pytest.approx(r_theta - out["returns"][j, 1], abs=1e-4)
        assert out["returns"][1, 0] == pytest.approx(out["returns"][3, 0], abs=1e-6)  # same index, same eps
        assert out["returns"][0, 0] != pytest.approx(out["returns"][1, 0], abs=1e-3)
        np.testing.assert_allclose(out["eval_returns"], [r_theta] * 3, atol=1e-5)
        np.testing.assert_array_equal(out["lengths"], np.ones((4, 2)))


def test_action_noise_only_on_perturbed_episodes(param_return_env):
    cfg = {**BASE, "model": {"fcnet_hiddens": []}, "observation_filter": "NoFilter"}
    with ES(cfg, env=param_return_env) as trainer:
        ev, theta = trainer.local_evaluator, trainer.local_evaluator.policy.get_flat_weights()
        task = {"noise_indices": np.array([5]), "num_eval": 2, "noise_stdev": 0.1, "action_noise_std": 0.3, "seed": 4}
        out = es_rollouts(ev, trainer.noise.array, theta, task)
        r_theta = expected_return(ev.policy, theta)
        np.testing.assert_allclose(out["eval_returns"], [r_theta, r_theta], atol=1e-5)
        plus = expected_return(ev.policy, theta + 0.1 * trainer.noise.array[5 : 5 + theta.size])
        assert abs(out["returns"][0, 0] - plus) > 1e-3  # Gaussian action noise was added
        again = es_rollouts(ev, trainer.noise.array, theta, task)
        np.testing.assert_array_equal(again["returns"], out["returns"])  # drawn from the task's seed


def test_episode_params_rows():
    theta = np.arange(4, dtype=np.float32)
    noise = np.arange(100, dtype=np.float32)
    rows = episode_params(theta, noise, np.array([10, 50]), 2.0, np.array([0, 1, 2, 3, 4, 7]))
    np.testing.assert_array_equal(rows[0], theta + 2 * noise[10:14])
    np.testing.assert_array_equal(rows[1], theta - 2 * noise[10:14])
    np.testing.assert_array_equal(rows[2], theta + 2 * noise[50:54])
    np.testing.assert_array_equal(rows[3], theta - 2 * noise[50:54])
    np.testing.assert_array_equal(rows[4], theta)
    np.testing.assert_array_equal(rows[5], theta)


def test_bad_theta_and_noise_index_raise_naming_sizes():
    with ES({**BASE, "model": {"fcnet_hiddens": []}}, env="CartPole-v1") as trainer:
        ev = trainer.local_evaluator
        theta = ev.policy.get_flat_weights()
        task = {"noise_indices": np.array([0]), "num_eval": 0, "noise_stdev": 0.1, "action_noise_std": 0.0, "seed": 0}
        with pytest.raises(ValueError, match=f"{theta.size} parameters"):
            es_rollouts(ev, trainer.noise.array, theta[:-1], task)
        bad = {**task, "noise_indices": np.array([trainer.noise.size - 1])}
        with pytest.raises(ValueError, match="noise indices must lie in"):
            es_rollouts(ev, trainer.noise.array, theta, bad)
