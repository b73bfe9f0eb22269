"""The common training API, driven by a tiny numpy evaluator and optimizer defined here."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest

import rlcore
from rlcore import hookspecs
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.optimizer import PolicyOptimizer
from rlcore.results import check_stop, dumps, jsonable, should_stop
from rlcore.sampling_evaluator import SamplingEvaluator
from rlcore.testing.envs import make_corridor
from rlcore.trainer import COMMON_CONFIG, Trainer


class LinearEvaluator(SamplingEvaluator):
    """A linear softmax policy in numpy; its "gradient" nudges the logits' bias."""

    capabilities = frozenset({"discrete", "gradients"})

    def build_model(self) -> None:
        self.w = np.zeros((int(np.prod(self.obs_shape)), self.dist_spec.num_outputs), np.float32)
        self.b = np.zeros(self.dist_spec.num_outputs, np.float32)

    def forward(self, obs):
        obs = obs.reshape(len(obs), -1)
        return obs @ self.w + self.b, np.zeros(len(obs), np.float32)

    def compute_gradients(self, batch):
        return {"b": -np.ones_like(self.b)}, {"loss": 0.0, "rows": float(batch.count)}

    def apply_gradients(self, grads):
        self.b = self.b - 0.01 * grads["b"]

    def get_weights(self):
        return {"w": self.w.copy(), "b": self.b.copy()}

    def set_weights(self, weights):
        self.w, self.b = weights["w"].copy(), weights["b"].copy()


class OneBatchOptimizer(PolicyOptimizer):
    def step(self) -> dict[str, Any]:
        batch = self.local_evaluator.sample()
        self.num_steps_sampled += batch.count
        return self.local_evaluator.learn_on_batch(batch)


class Toy(Trainer):
    name = "TOY"
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "framework": "numpy", "rollout_fragment_length": 25}

    def setup(self) -> None:
        self.build_evaluators("TOY")
        self.optimizer = OneBatchOptimizer(self.local_evaluator, self.remote_evaluators, {})


@pytest.fixture
def toy(fresh_registry):
    fresh_registry()
    rlcore.register_env("Corridor-v0", make_corridor)
    rlcore.register_evaluator("TOY", "numpy", LinearEvaluator)
    rlcore.register_algorithm("TOY", Toy)
    return Toy


def test_result_fields(toy):
    trainer = toy({"num_envs_per_worker": 2, "seed": 0}, env="Corridor-v0")
    r1 = trainer.train()
    r2 = trainer.train()
    for key in (
        "episode_reward_mean",
        "episode_reward_min",
        "episode_reward_max",
        "episode_len_mean",
        "episodes_this_iter",
        "episodes_total",
        "timesteps_this_iter",
        "timesteps_total",
        "training_iteration",
        "time_this_iter_s",
        "time_total_s",
        "info",
    ):
        assert key in r2, key
    assert (r1["training_iteration"], r2["training_iteration"]) == (1, 2)
    assert r1["timesteps_this_iter"] == 50 and r2["timesteps_total"] == 100
    assert r2["episodes_total"] == r1["episodes_this_iter"] + r2["episodes_this_iter"] > 0
    assert r2["episode_reward_min"] <= r2["episode_reward_mean"] <= r2["episode_reward_max"]
    assert r2["time_total_s"] >= r2["time_this_iter_s"] > 0
    assert r2["info"]["learner"] == {"loss": 0.0, "rows": 50.0}
    assert r2["info"]["num_worker_failures"] == 0
    trainer.stop()


def test_reward_mean_is_over_the_last_n_episodes(toy):
    trainer = toy({"metrics_smoothing_episodes": 3, "seed": 1}, env="Corridor-v0")
    seen = []
    for _ in range(4):
        trainer.train()
        seen = [e.episode_reward for e in trainer._episodes]
    assert len(seen) == 3
    r = trainer.train()
    last3 = [e.episode_reward for e in trainer._episodes]
    assert r["episode_reward_mean"] == pytest.approx(np.mean(last3))


def test_no_episode_yet_gives_nan_and_json_null(toy):
    trainer = toy({"rollout_fragment_length": 1}, env="Corridor-v0")
    r = trainer.train()
    assert math.isnan(r["episode_reward_mean"])
    assert '"episode_reward_mean": null' in dumps(r)


def test_on_train_result_hook_fires_for_every_result(toy):
    class Logger:
        def __init__(self):
            self.seen = []

        @hookspecs.hookimpl
        def rlcore_on_train_result(self, trainer, result):
            self.seen.append(result["training_iteration"])
            result["logged"] = True

    logger = Logger()
    rlcore.get_registry().add_plugin(logger, "logger")
    trainer = toy({}, env="Corridor-v0")
    assert trainer.train()["logged"] and trainer.train()["logged"]
    assert logger.seen == [1, 2]


def test_compute_action_and_unknown_keys(toy):
    trainer = toy({}, env="Corridor-v0")
    obs, _ = trainer.local_evaluator.sampler.envs[0].reset(seed=0)
    assert trainer.compute_action(obs) in (0, 1)
    with pytest.raises(ConfigError, match="Did you mean 'num_workers'"):
        toy({"num_worker": 1}, env="Corridor-v0")
    with pytest.raises(ConfigError, match="needs an env"):
        toy({})
    with pytest.raises(UnknownNameError, match="unknown env"):
        toy({}, env="Corridorr-v0")


def test_unknown_framework_lists_what_exists(toy):
    with pytest.raises(UnknownNameError, match=r"unknown evaluator 'TOY/jax'.*Available evaluators:.*TOY/numpy"):
        toy({"framework": "jax"}, env="Corridor-v0")


def test_stop_criteria_and_json():
    assert check_stop({"timesteps_total": 10}) == {"timesteps_total": 10.0}
    with pytest.raises(ConfigError, match="Did you mean 'timesteps_total'"):
        check_stop({"timestep_total": 10})
    with pytest.raises(ConfigError, match="needs a number"):
        check_stop({"timesteps_total": "10"})
    assert should_stop({"timesteps_total": 12}, {"timesteps_total": 10.0})
    assert not should_stop({"episode_reward_mean": math.nan}, {"episode_reward_mean": 1.0})
    assert jsonable({"a": np.float32(1.5), "b": np.arange(2), "c": [math.inf]}) == {"a": 1.5, "b": [0, 1], "c": [None]}


def test_cli_train_json_and_progress(toy, capsys):
    import json

    from rlcore.cli import main

    args = ["train", "--env", "Corridor-v0", "--run", "TOY", "--stop", '{"training_iteration": 2}']
    assert main([*args, "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["training_iteration"] for line in lines] == [1, 2]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "training TOY (numpy) on Corridor-v0" in out and "iter    2" in out and "done: 2 iterations" in out


def test_cli_train_bad_input(toy, capsys):
    from rlcore.cli import main

    assert main(["train", "--env", "Corridor-v0", "--run", "TOYY", "--stop", '{"training_iteration": 1}']) == 2
    assert "unknown algorithm 'TOYY'" in capsys.readouterr().err
    assert main(["train", "--env", "Corridor-v0", "--run", "TOY", "--stop", '{"iterations": 1}']) == 2
    assert "unknown stop key 'iterations'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--env", "Corridor-v0", "--run", "TOY", "--config", "{nope"])
    assert "not valid JSON" in capsys.readouterr().err


def test_discrete_start_is_honoured(fresh_registry):
    """A Discrete(2, start=1) env receives 1 or 2; the batch keeps 0-based indices for the loss."""
    import gymnasium as gym

    seen = []

    class StartEnv(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Discrete(2, start=1)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, np.float32), {}

        def step(self, action):
            seen.append(int(action))
            return np.zeros(2, np.float32), 1.0, len(seen) % 5 == 0, False, {}

    fresh_registry()
    ev = LinearEvaluator(lambda cfg: StartEnv(), {"seed": 0, "num_envs": 2, "rollout_fragment_length": 10})
    batch = ev.sample()
    assert set(seen) <= {1, 2} and set(batch["actions"].tolist()) <= {0, 1}
    assert set(ev.compute_actions(np.zeros((4, 2), np.float32)).tolist()) <= {1, 2}
