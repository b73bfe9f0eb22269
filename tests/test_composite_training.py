"""Composite (Tuple/Dict) action spaces through a whole PPO trainer, torch and TF: a trained
policy's ``compute_action`` returns the space's structure, the same after a checkpoint restore,
and ``rlcore rollout`` runs it. (Trainers need rl_optimizers too, so this lives with the full
session's tests; each framework plugin's tests check its Composite distribution.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rlcore
from rlcore.action_dist import flat_actions
from rlcore.models import ModelCatalog
from rlcore.rollout import rollout
from rlcore.testing.envs import register_test_envs


@pytest.fixture(scope="module", autouse=True)
def _test_envs() -> None:
    register_test_envs()


def _tiny_trainer(framework: str, env: str) -> Any:
    config = {"framework": framework, "train_batch_size": 64, "sgd_minibatch_size": 32, "num_sgd_iter": 1}
    return rlcore.get_algorithm_class("PPO")({**config, "model": {"fcnet_hiddens": [8]}, "seed": 0}, env=env)


@pytest.mark.parametrize("framework", ["torch", "tf"])
@pytest.mark.parametrize("env", ["TestTupleTarget-v0", "TestDictTarget-v0"])
def test_compute_action_returns_the_structure_and_a_checkpoint_restores_it(
    framework: str, env: str, tmp_path: Path
) -> None:
    trainer = _tiny_trainer(framework, env)
    try:
        trainer.train()
        space = trainer.local_evaluator.action_space
        observations = [np.float32([1.0, 0.3, -0.2]), np.float32([-1.0, -0.5, 0.5])]
        actions = [trainer.compute_action(o) for o in observations]
        assert all(space.contains(a) for a in actions)
        assert isinstance(actions[0], tuple if env == "TestTupleTarget-v0" else dict)
        assert space.contains(trainer.compute_action(observations[0], explore=True))
        path = trainer.save(tmp_path)
    finally:
        trainer.stop()
    restored = _tiny_trainer(framework, env)
    try:
        restored.restore(path)
        spec = ModelCatalog.get_action_dist(space)
        again = [restored.compute_action(o) for o in observations]
        np.testing.assert_allclose(flat_actions(spec, again), flat_actions(spec, actions), rtol=1e-6)
    finally:
        restored.stop()
    episodes = list(rollout(path, episodes=2, seed=0))  # what `rlcore rollout` runs
    assert [e.episode_length for e in episodes] == [5, 5]
