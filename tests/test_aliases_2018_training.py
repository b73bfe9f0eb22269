"""RLlib 2018 config names that train: trainers built with 2018 names train exactly like ones
built with today's, a checkpoint restored under 2018 names, ``rlcore train --config`` with 2018
names. They build torch policies, so they live with the full session's tests (rl_algos' own
session has no framework); plugins/rl_algos/tests/test_aliases_2018.py has the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlcore.config_aliases import RLlib2018Warning


def _state_arrays(state: Any) -> list[np.ndarray]:
    if isinstance(state, dict):
        return [a for k in sorted(state) for a in _state_arrays(state[k])]
    if isinstance(state, list | tuple):
        return [a for v in state for a in _state_arrays(v)]
    return [np.asarray(state)] if isinstance(state, np.ndarray | float | int) else []


@pytest.mark.parametrize(
    ("algo", "old", "new"),
    [
        (
            "PPO",
            {"sgd_batchsize": 64, "sgd_stepsize": 1e-3, "timesteps_per_batch": 256, "sample_batch_size": 64,
             "vf_share_layers": True, "use_gae": True, "sample_async": False},
            {"sgd_minibatch_size": 64, "lr": 1e-3, "train_batch_size": 256, "rollout_fragment_length": 64,
             "model": {"vf_share_layers": True}},
        ),
        (
            "DQN",
            {"grad_norm_clipping": 10.0, "exploration_fraction": 0.5, "schedule_max_timesteps": 400,
             "sample_batch_size": 8, "num_atoms": 1},
            {"grad_clip": 10.0, "exploration_timesteps": 200, "rollout_fragment_length": 8},
        ),
    ],
)  # fmt: skip
def test_a_trainer_built_with_2018_names_trains_like_one_built_with_todays(algo, old, new):
    from rl_algos.dqn import DQN
    from rl_algos.ppo import PPO

    cls = {"PPO": PPO, "DQN": DQN}[algo]
    small = {"seed": 3, "model": {"fcnet_hiddens": [16]}, "num_sgd_iter": 2} if algo == "PPO" else {
        "seed": 3, "model": {"fcnet_hiddens": [16]}, "hiddens": [16], "timesteps_per_iteration": 200,
        "learning_starts": 50,
    }  # fmt: skip
    with pytest.warns(RLlib2018Warning):
        a = cls({**small, **old, "model": {**small["model"], **old.get("model", {})}}, env="CartPole-v1")
    b = cls({**small, **new, "model": {**small["model"], **new.get("model", {})}}, env="CartPole-v1")
    try:
        assert a.config == b.config
        ra, rb = a.train(), b.train()
        for key in ("episode_reward_mean", "timesteps_total", "episodes_total"):
            assert ra[key] == rb[key] or (np.isnan(ra[key]) and np.isnan(rb[key])), key
        wa, wb = _state_arrays(a.get_state()["evaluator"]), _state_arrays(b.get_state()["evaluator"])
        assert wa and len(wa) == len(wb)
        for x, y in zip(wa, wb, strict=True):
            np.testing.assert_array_equal(x, y)
    finally:
        a.stop()
        b.stop()


def test_restoring_with_2018_names_overrides_the_checkpoints_todays_keys(tmp_path):
    """The checkpoint's config has today's names; the caller's 2018 ones are translated before the
    merge, so they override instead of clashing (rlcore train --restore CKPT --config '{...}')."""
    from rl_algos.ppo import PPO
    from rlcore.run import resolve_restore

    small = {
        "seed": 0,
        "train_batch_size": 64,
        "sgd_minibatch_size": 32,
        "num_sgd_iter": 1,
        "model": {"fcnet_hiddens": [8]},
    }
    trainer = PPO(small, env="CartPole-v1")
    try:
        trainer.train()
        path = trainer.save(tmp_path / "ckpt")
    finally:
        trainer.stop()
    with pytest.warns(RLlib2018Warning, match="'sgd_batchsize' is now 'sgd_minibatch_size'"):
        run, env, config = resolve_restore(path, None, None, {"sgd_batchsize": 16})
    assert (run, env, config["sgd_minibatch_size"]) == ("PPO", "CartPole-v1", 16)
    assert "sgd_batchsize" not in config
    restored = PPO(config, env=env)
    try:
        restored.restore(path)
        assert restored.config["sgd_minibatch_size"] == 16
    finally:
        restored.stop()


@pytest.mark.integration
def test_rlcore_train_config_json_with_2018_names_trains_under_todays(tmp_path):

    rlcore = Path(sys.executable).with_name("rlcore")
    config = {"sgd_batchsize": 32, "timesteps_per_batch": 64, "sample_batch_size": 64, "num_sgd_iter": 1}
    proc = subprocess.run(
        [str(rlcore), "train", "--run", "PPO", "--env", "CartPole-v1", "--stop", '{"training_iteration": 1}',
         "--config", json.dumps(config), "--local-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "RLlib2018Warning" in line]
    assert sorted(lines) == sorted(
        f"rlcore:0: RLlib2018Warning: RLlib 2018 config key '{old}' is now '{new}' (translated)"
        for old, new in (
            ("sgd_batchsize", "sgd_minibatch_size"),
            ("timesteps_per_batch", "train_batch_size"),
            ("sample_batch_size", "rollout_fragment_length"),
        )
    )
    (params,) = tmp_path.glob("*/*/params.json")
    saved = json.loads(params.read_text())
    assert (saved["sgd_minibatch_size"], saved["train_batch_size"], saved["rollout_fragment_length"]) == (32, 64, 64)
    assert not {"sgd_batchsize", "timesteps_per_batch", "sample_batch_size"} & set(saved)
