"""``batch_mode: complete_episodes``, ``horizon`` and ``clip_rewards`` through the real PPO and DQN
trainers (rl_algos + rl_torch + rl_optimizers) on CartPole, locally and on a remote Ray worker."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

import rlcore

pytest.importorskip("torch")
pytest.importorskip("rl_algos")

GAMMA = 0.95


def runs(batch) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of equal eps_id, in batch order."""
    eps = batch["eps_id"]
    cuts = [0, *(np.flatnonzero(eps[1:] != eps[:-1]) + 1).tolist(), len(eps)]
    return list(itertools.pairwise(cuts))


def assert_whole_episodes(batch, lengths) -> list[tuple[int, int]]:
    """Each eps_id run is one whole episode, and the runs are the episodes the metrics counted."""
    done = batch["terminateds"] | batch["truncateds"]
    spans = runs(batch)
    assert len({int(batch["eps_id"][a]) for a, _ in spans}) == len(spans), "an episode is split in the batch"
    for a, b in spans:
        assert done[b - 1] and not done[a : b - 1].any(), f"rows {a}:{b} are not one whole episode"
    assert sorted(b - a for a, b in spans) == sorted(lengths)
    return spans


def ppo(**config):
    base = {
        "framework": "torch",
        "seed": 0,
        "rollout_fragment_length": 16,
        "train_batch_size": 64,
        "sgd_minibatch_size": 32,
        "num_sgd_iter": 2,
        "gamma": GAMMA,
        "lambda": 1.0,
        "batch_mode": "complete_episodes",
        "model": {"fcnet_hiddens": [16]},
    }
    return rlcore.get_algorithm_class("PPO")({**base, **config}, env="CartPole-v1")


@pytest.mark.parametrize(("framework", "num_envs"), [("torch", 1), ("torch", 3), ("tf", 3)])
def test_ppo_complete_episodes_batches_are_whole_episodes_and_gae_is_the_monte_carlo_return(framework, num_envs):
    if framework == "tf":
        pytest.importorskip("rl_tf")
    trainer = ppo(num_envs_per_worker=num_envs, framework=framework)
    try:
        ev = trainer.workers.local_evaluator
        sizes = []
        for _ in range(3):
            batch = ev.sample()
            spans = assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()])
            sizes.append(batch.count)
            for a, b in spans:
                assert batch["terminateds"][b - 1]  # an untrained CartPole policy falls long before 500
                r = batch["rewards"][a:b].astype(np.float64)
                mc = np.array([np.sum(GAMMA ** np.arange(b - a - t) * r[t:]) for t in range(b - a)])
                np.testing.assert_allclose(batch["advantages"][a:b], mc - batch["vf_preds"][a:b], rtol=1e-4, atol=1e-4)
        assert min(sizes) >= 16 * num_envs and max(sizes) > 16 * num_envs  # episodes of ~20 steps: grown
        for _ in range(2):  # train batches of varying size (>= train_batch_size) go through the optimizer
            result = trainer.train()
        assert result["timesteps_this_iter"] >= 64 and result["episodes_this_iter"] > 0
    finally:
        trainer.stop()


def test_dqn_complete_episodes_with_n_step_transitions():
    config = {
        "framework": "torch",
        "seed": 0,
        "batch_mode": "complete_episodes",
        "rollout_fragment_length": 4,
        "num_envs_per_worker": 2,
        "n_step": 3,
        "gamma": GAMMA,
        "learning_starts": 64,
        "train_batch_size": 16,
        "timesteps_per_iteration": 100,
        "model": {"fcnet_hiddens": [16]},
        "hiddens": [16],
    }
    trainer = rlcore.get_algorithm_class("DQN")(config, env="CartPole-v1")
    try:
        ev = trainer.workers.local_evaluator
        for _ in range(3):
            batch = ev.sample()
            spans = assert_whole_episodes(batch, [m.episode_length for m in ev.get_metrics()])
            for a, b in spans:
                # n-step transitions inside one episode: next_obs is the observation 3 steps on
                full = np.arange(a, b - 3)
                np.testing.assert_array_equal(batch["next_obs"][full], batch["obs"][full + 3])
                np.testing.assert_allclose(batch["discounts"][full], GAMMA**3, rtol=1e-6)
                assert batch["discounts"][b - 1] == 0.0  # CartPole terminates: no bootstrap
        result = trainer.train()
        result = trainer.train()
        assert result["timesteps_total"] >= 200 and result["info"]["optimizer"]["num_steps_trained"] > 0
    finally:
        trainer.stop()


def test_ppo_horizon_truncates_and_clip_rewards_keeps_the_metrics():
    """CartPole's reward is 1 per step (its sign is itself): clipping keeps training rewards of 1,
    and horizon 8 makes every episode 8 steps long (random CartPole lasts longer than 8)."""
    trainer = ppo(horizon=8, clip_rewards=True, batch_mode="truncate_episodes")
    try:
        result = trainer.train()
        assert result["episode_len_mean"] == 8.0 and result["episode_reward_mean"] == 8.0
        batch = trainer.workers.local_evaluator.sample()
        assert set(batch["rewards"].tolist()) == {1.0}
        ends = np.flatnonzero(batch["truncateds"])
        assert len(ends) and not batch["terminateds"].any()
    finally:
        trainer.stop()


def test_a_2018_experiment_config_with_batch_mode_validates():
    cls = rlcore.get_algorithm_class("PPO")
    with pytest.raises(rlcore.errors.ConfigError, match="batch_mode"):
        cls({"batch_mode": "episodes"}, env="CartPole-v1")


@pytest.mark.ray
def test_complete_episodes_on_a_remote_worker(ray_session):
    trainer = ppo(num_workers=1, num_envs_per_worker=2)
    try:
        for _ in range(2):
            (batch,) = trainer.workers.foreach_worker("sample", local=False)
            (metrics,) = trainer.workers.foreach_worker("get_metrics", local=False)
            assert_whole_episodes(batch, [m.episode_length for m in metrics])
            assert batch.count >= 32
        result = trainer.train()
        assert result["timesteps_this_iter"] >= 64 and result["episodes_this_iter"] > 0
    finally:
        trainer.stop()


def test_ppo_learns_cartpole_with_complete_episodes():
    """A short learning check: PPO with complete_episodes reaches a mean return of 100 on CartPole-v1."""
    trainer = ppo(
        rollout_fragment_length=128,
        num_envs_per_worker=4,
        train_batch_size=512,
        sgd_minibatch_size=128,
        num_sgd_iter=8,
        gamma=0.99,
        lr=0.003,
        kl_coeff=0.0,
        model={"fcnet_hiddens": [64, 64]},
        **{"lambda": 0.95},
    )
    start = time.monotonic()
    try:
        best = 0.0
        while time.monotonic() - start < 60 and best < 100:
            best = max(best, trainer.train()["episode_reward_mean"])
        assert best >= 100, f"mean return {best} after {time.monotonic() - start:.0f} s"
    finally:
        trainer.stop()


@pytest.mark.parametrize("algorithm", ["PPO", "DQN"])
def test_the_conformance_kit_passes_with_complete_episodes(algorithm):
    """The evaluator contract (same seed same samples, pickling, gradient checks...) holds with
    complete_episodes and a horizon, on the kit's corridor env."""
    from rlcore.testing import PolicyEvaluatorFactory, check_evaluator

    policy = {"PPO": "rl_torch.ppo:PPOTorchPolicy", "DQN": "rl_torch.dqn:DQNTorchPolicy"}[algorithm]
    factory = PolicyEvaluatorFactory(algorithm, policy, config={"batch_mode": "complete_episodes", "horizon": 7})
    check_evaluator(factory)


def test_an_experiments_file_with_the_2018_sampling_keys_loads(tmp_path):
    from rlcore.experiments import load_experiments

    path = tmp_path / "exp.yaml"
    path.write_text(
        "cartpole:\n  run: PPO\n  env: CartPole-v0\n  stop: {episode_reward_mean: 195}\n"
        "  config:\n    batch_mode: complete_episodes\n    horizon: 150\n    clip_rewards: false\n"
    )
    (spec,) = load_experiments(path).values()
    assert spec.config["batch_mode"] == "complete_episodes" and spec.config["horizon"] == 150
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("complete_episodes", "whole_episodes"))
    with pytest.raises(rlcore.errors.ConfigError, match="batch_mode"):
        load_experiments(bad)
