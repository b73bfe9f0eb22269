"""The A3C and A2C trainers end to end (rl_algos + rl_optimizers + a framework): one iteration
embedded in torch and TF, recurrent policies through the trainers in both (A3C, A2C, PPO on
the LocalSyncOptimizer), ``rlcore train --run A3C`` from the command line, A2C's policies found under
A3C, and ``model.use_lstm`` refused at the trainer level for a policy without recurrence."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rl_algos.a3c import A2C, A3C
from rl_algos.a3c.reference_loss import INFO_KEYS
from rl_algos.dqn import DQN
from rl_algos.ppo import PPO
from rlcore import cli
from rlcore.errors import UnknownNameError, UnsupportedOperationError

FRAMEWORKS = ["torch", "tf"]
TINY = {"model": {"fcnet_hiddens": [16]}, "seed": 0}
LSTM = {"model": {"use_lstm": True, "lstm_cell_size": 8, "max_seq_len": 5, "fcnet_hiddens": [8]}, "seed": 0}


def _weights_changed(before: dict, after: dict) -> bool:
    return any(not np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a3c_one_iteration_embedded_applies_grads_per_step_gradients(framework):
    config = {**TINY, "framework": framework, "grads_per_step": 4, "num_envs_per_worker": 2}
    with A3C(config, env="CartPole-v1") as trainer:
        assert type(trainer.optimizer).__name__ == "AsyncOptimizer"
        before = trainer.local_evaluator.get_weights()
        result = trainer.train()
        assert _weights_changed(before, trainer.local_evaluator.get_weights())
    assert result["timesteps_this_iter"] == 4 * 10 * 2  # grads_per_step x rollout_fragment_length x envs
    assert set(INFO_KEYS) <= set(result["info"]["learner"])
    stats = result["info"]["optimizer"]
    assert stats["num_gradients_applied"] == 4 and stats["num_gradients_dropped"] == 0
    assert stats["staleness_max"] == 0  # embedded: computed and applied on the same weights
    assert result["info"]["num_worker_failures"] == 0 and result["config"]["algorithm"] == "A3C"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a2c_one_iteration_embedded_is_one_step_on_the_whole_batch(framework):
    config = {**TINY, "framework": framework, "train_batch_size": 40, "rollout_fragment_length": 20}
    with A2C(config, env="CartPole-v1") as trainer:
        assert type(trainer.optimizer).__name__ == "LocalSyncOptimizer"
        opt = trainer.optimizer.config
        assert (opt["num_sgd_iter"], opt["sgd_minibatch_size"], opt["standardize_fields"]) == (1, None, [])
        assert type(trainer.local_evaluator.policy).__name__ == f"A3C{'Torch' if framework == 'torch' else 'TF'}Policy"
        before = trainer.local_evaluator.get_weights()
        result = trainer.train()
        assert _weights_changed(before, trainer.local_evaluator.get_weights())
    assert result["timesteps_this_iter"] == 40
    assert set(INFO_KEYS) <= set(result["info"]["learner"])
    assert result["config"]["algorithm"] == "A2C"


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("algo", ["A3C", "A2C", "PPO"])
def test_recurrent_policies_train_through_the_trainers_on_stateless_cartpole(algo, framework):
    cls, extra = {
        "A3C": (A3C, {"grads_per_step": 3}),
        "A2C": (A2C, {"train_batch_size": 40}),
        "PPO": (PPO, {"train_batch_size": 64, "sgd_minibatch_size": 16, "num_sgd_iter": 2}),
    }[algo]
    config = {**LSTM, **extra, "framework": framework, "num_envs_per_worker": 2}
    with cls(config, env="StatelessCartPole-v1") as trainer:
        if algo == "PPO":  # whole sequences per minibatch: never the multi-GPU optimizer (simple_optimizer false)
            assert not trainer.config["simple_optimizer"]
            assert type(trainer.optimizer).__name__ == "LocalSyncOptimizer"
        assert trainer.local_evaluator.observation_space.shape == (2,)
        before = trainer.local_evaluator.get_weights()
        result = trainer.train()
        assert _weights_changed(before, trainer.local_evaluator.get_weights())
        assert any("lstm" in name for name in before)
        assert np.isfinite(result["info"]["learner"]["loss"])
        state = trainer.new_acting_state()
        trainer.compute_action(np.zeros(2, np.float32), state=state)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_use_lstm_with_a_policy_without_recurrence_names_the_policy_at_the_trainer(framework):
    with pytest.raises(UnsupportedOperationError) as info:
        DQN({"framework": framework, "model": {"use_lstm": True}}, env="CartPole-v1")
    msg = str(info.value)
    policy = "DQNTorchPolicy" if framework == "torch" else "DQNTFPolicy"
    assert policy in msg and "does not support recurrent models" in msg and "'recurrent'" in msg, msg
    assert "set model.use_lstm to false" in msg, msg


def test_rlcore_train_run_a3c_exits_0(tmp_path):
    cmd = [sys.executable, "-m", "rlcore.cli", "train", "--env", "CartPole-v1", "--run", "A3C"]
    cmd += ["--stop", '{"training_iteration": 1}', "--local-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (trial,) = (tmp_path / "A3C_CartPole-v1").iterdir()
    (line,) = (trial / "result.json").read_text().splitlines()
    result = json.loads(line)
    assert result["training_iteration"] == 1 and result["timesteps_total"] == 100 * 10  # 2018's defaults
    assert result["info"]["optimizer"]["num_gradients_applied"] == 100


def test_rlcore_train_run_a2c(tmp_path, capsys):
    args = ["train", "--env", "CartPole-v1", "--run", "A2C", "--stop", '{"training_iteration": 2}', "--json"]
    args += ["--config", json.dumps({"train_batch_size": 40, "seed": 0}), "--local-dir", str(tmp_path)]
    assert cli.main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["training_iteration"] for r in lines] == [1, 2]
    assert lines[-1]["timesteps_total"] == 2 * 40 and "A2C_CartPole-v1" in lines[-1]["logdir"]


def test_rlcore_train_run_a3c_refuses_a_bad_grads_per_step(capsys):
    args = ["train", "--env", "CartPole-v1", "--run", "A3C", "--config", '{"grads_per_step": 0}']
    assert cli.main(args) != 0
    err = capsys.readouterr().err
    assert "A3C config key 'grads_per_step' is out of range: got 0; allowed: an int, grads_per_step >= 1" in err


def test_check_evaluator_a2c_points_at_a3cs_policies(capsys):
    assert cli.main(["check-evaluator", "A2C"]) != 0
    err = capsys.readouterr().err
    assert "The A2C trainer has no policies of its own: it trains those registered for 'A3C'" in err
    assert "rlcore check-evaluator A3C" in err
    with pytest.raises(UnknownNameError, match="it trains those registered for 'A3C'"):
        from rlcore.testing import RegisteredEvaluatorFactory

        RegisteredEvaluatorFactory("A2C", "torch")(0)


@pytest.mark.ray
def test_a3c_with_two_ray_workers_one_iteration(ray_session):
    config = {**TINY, "framework": "torch", "num_workers": 2, "grads_per_step": 10}
    with A3C(config, env="CartPole-v1") as trainer:
        result = trainer.train()
    stats = result["info"]["optimizer"]
    assert stats["num_gradients_applied"] == 10 and stats["num_remote_workers"] == 2
    assert result["timesteps_this_iter"] == 10 * 10
    assert stats["staleness_max"] >= 1  # two workers: one's gradient lands after the other's was applied
    assert result["info"]["num_worker_failures"] == 0


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("algo", ["A3C", "PPO"])
def test_reference_losses_replay_a_recurrent_batch_as_the_policy_unrolls_it(algo, framework):
    """The numpy reference losses (rl_algos) of a batch with seq_lens equal the policy's own loss
    terms: each sequence replayed from its recorded initial state (rlcore.sequences.replay_sequences)."""
    from rl_algos.a3c.reference_loss import a3c_loss
    from rl_algos.ppo.reference_loss import ppo_loss
    from rlcore.sample_batch import SEQ_LENS

    cls, reference = {"A3C": (A3C, a3c_loss), "PPO": (PPO, ppo_loss)}[algo]
    config = {**LSTM, "framework": framework, "num_envs_per_worker": 3, "rollout_fragment_length": 12}
    with cls(config, env="StatelessCartPole-v1") as trainer:
        ev = trainer.local_evaluator
        batch = ev.sample()
        assert SEQ_LENS in batch and (batch[SEQ_LENS] > 0).sum() >= 3 * 12 // 5
        trainer.train()  # weights move away from those that sampled: the state_in columns stay as recorded
        _, info = ev.policy.compute_gradients(batch)
        ref = reference(ev.policy, batch)
    for key in ("policy_loss", "vf_loss", "entropy", "loss"):
        assert info[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-5), key


@pytest.mark.parametrize("algo", ["A2C", "A3C"])
def test_checkpoints_restore_and_roll_out_by_the_trainers_name(algo, tmp_path, capsys):
    """A checkpoint names its algorithm (A2C, not the A3C policy it trains): restore and rollout find it."""
    config = {"seed": 0, **({"train_batch_size": 40} if algo == "A2C" else {"grads_per_step": 2})}
    args = ["train", "--env", "CartPole-v1", "--run", algo, "--stop", '{"training_iteration": 1}']
    args += ["--config", json.dumps(config), "--checkpoint-at-end", "--local-dir", str(tmp_path), "--quiet"]
    assert cli.main(args) == 0
    (trial,) = (tmp_path / f"{algo}_CartPole-v1").iterdir()
    capsys.readouterr()
    assert cli.main(["rollout", str(trial), "--episodes", "1", "--json", "--seed", "0"]) == 0
    out = capsys.readouterr()
    (episode,) = [json.loads(line) for line in out.out.splitlines()]
    assert episode["return"] > 0 and episode["length"] > 0
    assert f"{algo} (torch) on CartPole-v1" in out.err
    cls = {"A2C": A2C, "A3C": A3C}[algo]
    with cls(config, env="CartPole-v1") as trainer:
        trainer.restore(trial)
        assert trainer.iteration == 1


def test_use_lstm_with_a_whole_evaluator_without_recurrence_is_refused(example_registry):
    """A whole evaluator samples its own way: one that does not declare 'recurrent' would ignore
    model.use_lstm, so the trainer refuses it naming the evaluator (the example plugin's PG/numpy_whole)."""
    from rlcore.registration import get_algorithm_class

    pg = get_algorithm_class("PG")
    with pytest.raises(UnsupportedOperationError) as info:
        pg({"framework": "numpy_whole", "model": {"use_lstm": True}}, env="CartPole-v1")
    msg = str(info.value)
    assert msg.startswith("rlcore_numpy_example.evaluator.LinearPGEvaluator (whole evaluator PG/numpy_whole) does not")
    assert "lack 'recurrent'" in msg and "set model.use_lstm to false" in msg
    with pytest.raises(UnsupportedOperationError, match=r"LinearPGPolicy does not support recurrent models"):
        pg({"framework": "numpy", "model": {"use_lstm": True}}, env="CartPole-v1")
    pg({"framework": "numpy_whole"}, env="CartPole-v1").stop()
