"""Third-party evaluators train on Ray workers.

An evaluator written outside the repository with nothing but the ``PolicyEvaluator`` base class's
defaults (no ``get_filters``, ``sync_filters``, ``set_global_vars``, ``get_state``...) is packaged
with a trainer and a plugin module in a temporary folder, pip-installed into a ``--target``
folder (entry point and all), and trained by ``rlcore train --num-workers 2`` in a subprocess.
The example plugin's whole evaluator ``PG/numpy_whole`` is driven by a ten-line trainer, embedded
and on two Ray workers (its policy ``PG/numpy`` trains through its own PG algorithm:
tests/test_example_plugin.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rlcore.trainer import COMMON_CONFIG, Trainer

PACKAGE = "rlcore_outside_pg"

EVALUATOR = '''
"""REINFORCE with a linear softmax policy, in numpy, with only the contract's abstract methods
(plus get_metrics and a sample counter): every optional part is the base class's default."""

import gymnasium as gym
import numpy as np

from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.sample_batch import SampleBatch


class OutsideEvaluator(PolicyEvaluator):
    def __init__(self, env_creator, config, worker_index=0):
        self.worker_index = worker_index
        self.env = env_creator(config.get("env_config", {}))
        self.observation_space, self.action_space = self.env.observation_space, self.env.action_space
        self.rng = np.random.default_rng([int(config.get("seed") or 0), worker_index])
        self.rows = int(config.get("rollout_fragment_length", 64))
        self.lr = 0.05
        obs_dim, n_act = int(np.prod(self.observation_space.shape)), int(self.action_space.n)
        self.w = np.zeros((obs_dim, n_act), np.float32)
        self.obs, _ = self.env.reset(seed=worker_index)
        self.ep_reward, self.ep_len, self.metrics, self.sampled = 0.0, 0, [], 0

    def _logp(self, obs):
        z = np.asarray(obs, np.float32).reshape(len(obs), -1) @ self.w
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def sample(self):
        obs, acts, rews, terms, truncs, eps = [], [], [], [], [], []
        for _ in range(self.rows):
            p = np.exp(self._logp(self.obs[None])[0])
            a = int(self.rng.choice(len(p), p=p / p.sum()))
            nxt, r, term, trunc, _ = self.env.step(a)
            obs.append(self.obs), acts.append(a), rews.append(r), terms.append(term), truncs.append(trunc)
            eps.append(len(self.metrics))
            self.ep_reward, self.ep_len = self.ep_reward + r, self.ep_len + 1
            if term or trunc:
                self.metrics.append(EpisodeMetrics(self.ep_reward, self.ep_len))
                self.ep_reward, self.ep_len = 0.0, 0
                nxt, _ = self.env.reset()
            self.obs = nxt
        self.sampled += self.rows
        rews = np.asarray(rews, np.float32)
        returns, running = np.zeros_like(rews), 0.0
        for t in reversed(range(len(rews))):
            running = rews[t] + 0.99 * running * (not (terms[t] or truncs[t]))
            returns[t] = running
        return SampleBatch(
            obs=np.asarray(obs, np.float32), actions=np.asarray(acts, np.int64), rewards=rews,
            terminateds=np.asarray(terms), truncateds=np.asarray(truncs), eps_id=np.asarray(eps, np.int64),
            advantages=(returns - returns.mean()) / (returns.std() + 1e-8),
        )

    def compute_actions(self, obs, explore=False):
        return np.argmax(self._logp(obs), axis=1).astype(np.int64)

    def compute_gradients(self, batch):
        x = np.asarray(batch["obs"], np.float32).reshape(batch.count, -1)
        probs = np.exp(self._logp(x))
        onehot = np.eye(probs.shape[1], dtype=np.float32)[batch["actions"]]
        adv = batch["advantages"][:, None]
        loss = -float(np.mean(np.log(probs[np.arange(batch.count), batch["actions"]] + 1e-8) * batch["advantages"]))
        return {"w": -(x.T @ ((onehot - probs) * adv)) / batch.count}, {"loss": loss}

    def apply_gradients(self, grads):
        self.w = self.w - self.lr * grads["w"]

    def get_weights(self):
        return {"w": self.w.copy()}

    def set_weights(self, weights):
        self.w = np.array(weights["w"], np.float32)

    def get_metrics(self):
        out, self.metrics = self.metrics, []
        return out

    def num_sampled(self):
        return self.sampled
'''

TRAINER = '''
"""A trainer for the outside evaluator: rlcore's LocalSyncOptimizer over its workers."""

from rlcore.trainer import COMMON_CONFIG, Trainer


class OutsidePG(Trainer):
    name = "OUTSIDEPG"
    default_config = {**COMMON_CONFIG, "framework": "numpy", "train_batch_size": 256, "rollout_fragment_length": 64}

    def setup(self):
        self.build_evaluators("OUTSIDEPG")
        self.build_optimizer("LocalSyncOptimizer", {"train_batch_size": self.config["train_batch_size"]})

    def step(self):
        info = self.optimizer.step()
        local, *remote = self.workers.foreach_worker("num_sampled")
        return {**info, "local_sampled": float(local), "remote_sampled": float(sum(remote))}
'''

PLUGIN = """
from rlcore import hookimpl


@hookimpl
def rlcore_register_evaluators(register):
    register("OUTSIDEPG", "numpy", "rlcore_outside_pg.evaluator:OutsideEvaluator", summary="outside numpy PG")


@hookimpl
def rlcore_register_algorithms(register):
    register("OUTSIDEPG", "rlcore_outside_pg.trainer:OutsidePG", summary="outside numpy PG")
"""

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "rlcore-outside-pg"
version = "0.1.0"
dependencies = ["rlcore", "numpy"]

[project.entry-points.rlcore]
outside_pg = "rlcore_outside_pg.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLCORE_") and k != "PYTEST_ADDOPTS"}
    return {**env, **extra}


@pytest.fixture(scope="module")
def outside_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outside package, pip-installed into a folder of its own (to put on PYTHONPATH)."""
    root = tmp_path_factory.mktemp("outside")
    src = root / "pkg" / "src" / PACKAGE
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "evaluator.py").write_text(textwrap.dedent(EVALUATOR))
    (src / "trainer.py").write_text(textwrap.dedent(TRAINER))
    (src / "plugin.py").write_text(textwrap.dedent(PLUGIN))
    (root / "pkg" / "pyproject.toml").write_text(PYPROJECT)
    site = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site)]
    if importlib.util.find_spec("setuptools") is not None:
        cmd.append("--no-build-isolation")
    proc = subprocess.run([*cmd, str(root / "pkg")], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    assert (site / PACKAGE / "evaluator.py").is_file()
    return site


def _rlcore() -> list[str]:
    script = Path(sys.executable).with_name("rlcore")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys, rlcore.cli; sys.exit(rlcore.cli.main())"]


@pytest.mark.ray
@pytest.mark.integration
def test_an_outside_evaluator_with_only_the_defaults_trains_on_two_ray_workers(outside_site: Path, tmp_path: Path):
    stop = json.dumps({"training_iteration": 2})
    config = json.dumps({"num_cpus_per_worker": 0.5, "seed": 0})
    args = ["train", "--run", "OUTSIDEPG", "--env", "CartPole-v1", "--num-workers", "2", "--stop", stop]
    args += ["--config", config, "--local-dir", str(tmp_path), "--quiet"]
    env = _env(PYTHONPATH=os.pathsep.join([str(outside_site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    proc = subprocess.run([*_rlcore(), *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"rlcore train failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    (result_file,) = tmp_path.glob("*/*/result.json")
    results = [json.loads(line) for line in result_file.read_text().splitlines()]
    assert [r["training_iteration"] for r in results] == [1, 2]
    last = results[-1]
    assert last["timesteps_total"] >= 512 and last["episodes_total"] > 0
    assert last["info"]["num_worker_failures"] == 0
    learner = last["info"]["learner"]
    assert learner["local_sampled"] == 0 and learner["remote_sampled"] >= 512  # the Ray workers sampled


# ------------------------------------------------------------------------------------ PG/numpy_whole
class PGNumpy(Trainer):
    """The example plugin's whole evaluator under rlcore's sync optimizer: all a trainer needs."""

    name = "PG"
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "framework": "numpy_whole", "seed": 0}

    def setup(self) -> None:
        self.build_evaluators("PG")
        self.build_optimizer("LocalSyncOptimizer", {"train_batch_size": 256})


@pytest.fixture
def example_plugin(example_registry: Any) -> None:
    """The example plugin installed (tests/conftest.py) and loaded in a fresh registry."""


def _train_pg(config: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
    with PGNumpy(config, env="NumpyCorridor-v0") as trainer:
        results = [trainer.train() for _ in range(2)]
        sampled = trainer.workers.foreach_worker(lambda ev: int(ev.num_steps_sampled))
    return results, sampled


def test_example_pg_numpy_trains_embedded(example_plugin: None):
    results, sampled = _train_pg({})
    assert [r["training_iteration"] for r in results] == [1, 2]
    assert results[-1]["timesteps_total"] >= 512 and sampled[0] == results[-1]["timesteps_total"]


@pytest.mark.ray
def test_example_pg_numpy_trains_on_two_ray_workers(example_plugin: None, ray_session: Any):
    results, sampled = _train_pg({"num_workers": 2, "num_cpus_per_worker": 0.5})
    assert [r["training_iteration"] for r in results] == [1, 2]
    assert results[-1]["info"]["num_worker_failures"] == 0
    assert sampled[0] == 0 and sum(sampled[1:]) == results[-1]["timesteps_total"] >= 512
