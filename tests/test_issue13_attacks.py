"""Issue 13's surfaces (A3C/A2C, the AsyncOptimizer, recurrent policies) attacked with real
trainers, real envs, real Ray and the CLI: each bad input is refused once, at the boundary it
crosses, saying what was wrong and what to do (and before Ray starts where it can be known)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlcore.errors import ConfigError, EnvError, NonFiniteLossError
from rlcore.model_policy import RecurrentStateError
from rlcore.registration import get_algorithm_class

RLCORE = str(Path(sys.executable).with_name("rlcore"))
SMALL = {"fcnet_hiddens": [16], "lstm_cell_size": 8}


@pytest.fixture
def installed() -> Any:
    """A fresh registry of the installed plugins for this test (its own registrations dropped after)."""
    from rlcore.testing.pytest_plugin import isolated_registry

    with isolated_registry(None) as registry:
        yield registry


def _trainer(algo: str, **config: Any) -> Any:
    base: dict[str, Any] = {"env": "CartPole-v1", "framework": "torch", "rollout_fragment_length": 10}
    base["model"] = {**SMALL, **config.pop("model", {})}
    if algo == "A3C":
        base["grads_per_step"] = 4
    else:
        base["train_batch_size"] = 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_algorithm_class(algo)(config={**base, **config})


# -- acting with a recurrent policy ----------------------------------------------------------


@pytest.mark.parametrize("algo", ["A3C", "A2C"])
def test_compute_action_with_a_2018_style_state_list_is_refused_saying_what_to_pass(algo: str):
    trainer = _trainer(algo, model={"use_lstm": True})
    try:
        obs = np.zeros(4, np.float32)
        h_c = [np.zeros(8, np.float32), np.zeros(8, np.float32)]  # RLlib 2018's compute_action(obs, state=[h, c])
        with pytest.raises(RecurrentStateError, match=r"must be the ActingState that new_acting_state\(\) returns"):
            trainer.compute_action(obs, state=h_c)
        state = trainer.new_acting_state()
        assert trainer.compute_action(obs, state=state) in (0, 1)
        assert state.recurrent[0].shape == (1, 8)
    finally:
        trainer.stop()


# -- a third-party policy under the AsyncOptimizer -------------------------------------------


def test_a3c_with_a_policy_declaring_no_gradients_is_refused_when_built(installed: Any):
    from rlcore.registration import register_policy
    from rlcore.testing.policies import NumpyLSTMPolicy

    class ActsOnly(NumpyLSTMPolicy):
        capabilities = frozenset({"discrete", "recurrent"})

    register_policy("A3C", "actsonly", ActsOnly)
    with pytest.raises(ConfigError, match=r"needs an evaluator with the 'gradients' capability.*policy .*ActsOnly"):
        _trainer("A3C", framework="actsonly", model={"use_lstm": True})
    # A2C learns on whole batches (LocalSyncOptimizer): the same policy trains there
    trainer = _trainer("A2C", framework="actsonly", model={"use_lstm": True})
    try:
        assert np.isfinite(trainer.train()["info"]["learner"]["loss"])
    finally:
        trainer.stop()


# -- non-finite values from the env ----------------------------------------------------------


class HugeReward(gym.Wrapper):
    """CartPole whose rewards become 1e38 after 15 steps: finite, but the returns overflow float32."""

    def __init__(self, env_config: dict[str, Any]) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.t = 0

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        return obs, 1e38 if self.t > 15 else reward, terminated, truncated, info


@pytest.mark.reliability
@pytest.mark.parametrize(("algo", "lstm"), [("A3C", True), ("A2C", False)])
def test_overflowing_rewards_are_refused_naming_the_term_and_what_to_do(algo: str, lstm: bool, installed: Any):
    from rlcore.envs import register_env

    register_env("HugeReward-v0", HugeReward)
    trainer = _trainer(algo, env="HugeReward-v0", model={"use_lstm": lstm})
    try:
        before = trainer.workers.local_evaluator.get_weights()
        with pytest.raises(NonFiniteLossError) as info:
            for _ in range(5):
                trainer.train()
        msg = str(info.value)
        assert "loss term 'policy_loss' is not finite" in msg and "'value_targets'" in msg
        assert "scale its rewards (clip_rewards: true)" in msg
        after = trainer.workers.local_evaluator.get_weights()
        assert all(np.isfinite(v).all() for v in after.values())
        assert before.keys() == after.keys()
    finally:
        trainer.stop()


# -- a worker whose env raises, on real Ray workers --------------------------------------------

DRIVER_PID = os.getpid()


class FlakyCartPole(gym.Wrapper):
    """CartPole that raises in ~1% of its steps when it runs in a process other than the driver's."""

    def __init__(self, env_config: dict[str, Any]) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.rng = np.random.default_rng(os.getpid())

    def step(self, action: Any) -> Any:
        if os.getpid() != DRIVER_PID and self.rng.random() < 0.02:
            raise RuntimeError(f"flaky env broke in pid {os.getpid()}")
        return self.env.step(action)


@pytest.mark.ray
@pytest.mark.reliability
def test_a3c_worker_env_raising_is_shown_or_counted_per_ignore_worker_failures(ray_session: Any, installed: Any):
    from ray import cloudpickle

    from rlcore.envs import register_env

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/ (nor DRIVER_PID)
    register_env("FlakyCartPole-v0", FlakyCartPole)
    common = {"env": "FlakyCartPole-v0", "num_workers": 2, "num_cpus_per_worker": 0.5, "grads_per_step": 12}
    trainer = _trainer("A3C", **common)
    try:
        with pytest.raises(EnvError) as info:
            for _ in range(5):
                trainer.train()
        assert "raised RuntimeError: flaky env broke in pid" in str(info.value)
        assert any("raised in remote worker" in n for n in getattr(info.value, "__notes__", ()))
        assert isinstance(info.value.__cause__, RuntimeError)  # the env's own traceback comes along
    finally:
        trainer.stop()
    trainer = _trainer("A3C", ignore_worker_failures=True, **common)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = [trainer.train() for _ in range(3)]
        opt = results[-1]["info"]["optimizer"]
        assert opt["num_gradients_applied"] == 36
        assert opt["num_worker_errors"] >= 1 and opt["num_gradients_dropped"] == opt["num_worker_errors"]
    finally:
        trainer.stop()


# -- experiment files: use_lstm with a policy that is not recurrent, before Ray ----------------


@pytest.mark.reliability
def test_experiment_file_with_use_lstm_on_dqn_is_refused_before_ray(tmp_path: Path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "dqn-lstm:\n  run: DQN\n  env: CartPole-v1\n  stop: {training_iteration: 1}\n"
        "  config:\n    num_workers: 2\n    model: {use_lstm: true}\n"
    )
    done = subprocess.run(
        [RLCORE, "train", "-f", str(exp), "--local-dir", str(tmp_path / "results"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "Started a local Ray" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"rlcore: error: {exp}:7: experiment 'dqn-lstm': rl_torch.dqn.DQNTorchPolicy does not")
    assert "lack 'recurrent'" in errors[0] and "set model.use_lstm to false" in errors[0]


# -- checkpoints of recurrent A3C/A2C ---------------------------------------------------------


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("saved_lstm", "why"), [(True, "use_lstm (True there, False here)"), (False, "use_lstm (False there, True here)")]
)
def test_restoring_across_use_lstm_names_the_model_keys_that_differ(saved_lstm: bool, why: str, tmp_path: Path):
    from rlcore.errors import CheckpointError

    writer = _trainer("A2C", model={"use_lstm": saved_lstm})
    try:
        writer.train()
        path = writer.save(tmp_path)
    finally:
        writer.stop()
    reader = _trainer("A2C", model={"use_lstm": not saved_lstm, "lstm_cell_size": 16})
    try:
        with pytest.raises(CheckpointError) as info:
            reader.restore(path)
        msg = str(info.value)
        assert "does not fit this A2C trainer" in msg and "restore it with the same env and model config" in msg
        assert f"a model config that differs in lstm_cell_size (8 there, 16 here), {why}" in msg
    finally:
        reader.stop()
    same = _trainer("A2C", framework="tf", model={"use_lstm": saved_lstm})  # the same model config in TF: restores
    try:
        same.restore(path)
        assert same.compute_action(np.zeros(4, np.float32), state=same.new_acting_state()) in (0, 1)
    finally:
        same.stop()
