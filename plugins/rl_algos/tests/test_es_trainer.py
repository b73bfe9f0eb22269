"""The ES trainer embedded (num_workers 0, framework "numpy"; core + rl_algos only, no Ray): results,
determinism, checkpoints, the CLI, and bad input refused at the trainer's boundary."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rl_algos.es import ES
from rlcore.errors import CheckpointError, ConfigError, UnsupportedOperationError
from rlcore.policy import Policy

SMALL = {
    "num_workers": 0,
    "seed": 1,
    "noise_size": 200_000,
    "episodes_per_batch": 10,
    "train_batch_size": 200,
    "eval_prob": 0.5,
    "num_envs_per_worker": 4,
    "model": {"fcnet_hiddens": [8]},
    "metrics_smoothing_episodes": 5,
}


def spy_eval_returns(trainer: ES) -> list[list[float]]:
    """Record each iteration's evaluation returns as the tasks send them (the tasks still run)."""
    seen: list[list[float]] = []
    run = trainer.optimizer._run_tasks

    def recording(theta_ref):
        results = run(theta_ref)
        seen.append([float(r) for res in results for r in res["eval_returns"]])
        return results

    trainer.optimizer._run_tasks = recording  # type: ignore[method-assign]
    return seen


def test_train_reports_eval_episodes_as_episode_metrics_and_perturbed_fields():
    with ES(SMALL, env="CartPole-v1") as trainer:
        seen = spy_eval_returns(trainer)
        results = [trainer.train() for _ in range(3)]
    total_steps = 0
    for k, r in enumerate(results):
        learner = r["info"]["learner"]
        assert r["episodes_this_iter"] == learner["num_eval_episodes"] == len(seen[k])
        assert r["perturbed_episodes_this_iter"] == learner["episodes_this_iter"] >= SMALL["episodes_per_batch"]
        assert r["perturbed_episodes_this_iter"] % 2 == 0  # antithetic pairs
        assert learner["perturbed_timesteps_this_iter"] >= SMALL["train_batch_size"]  # whichever comes last
        for f in ("perturbed_reward_mean", "perturbed_reward_max", "perturbed_reward_min", "perturbed_len_mean"):
            assert r[f] == learner[f] and math.isfinite(r[f])
        assert r["perturbed_reward_min"] <= r["perturbed_reward_mean"] <= r["perturbed_reward_max"]
        # timesteps: perturbed and evaluation steps (CartPole: return == length)
        assert r["timesteps_this_iter"] == learner["perturbed_timesteps_this_iter"] + sum(seen[k])
        total_steps += r["timesteps_this_iter"]
        assert r["timesteps_total"] == total_steps
        for key in ("grad_norm", "update_ratio", "weights_norm", "noise_stdev", "stepsize"):
            assert math.isfinite(learner[key])
    # episode_reward_mean: the evaluation episodes (topped up to metrics_smoothing_episodes), not the perturbed
    window = [x for s in seen for x in s][-max(SMALL["metrics_smoothing_episodes"], len(seen[-1])) :]
    if window:
        assert results[-1]["episode_reward_mean"] == pytest.approx(np.mean(window))
    stats = results[-1]["info"]["optimizer"]
    assert stats["num_eval_episodes"] == sum(len(s) for s in seen)
    assert stats["num_dropped_tasks"] == 0


def test_no_eval_episode_gives_nan_reward_mean_and_eval_prob_zero_warns_so():
    from rl_algos.es import NoEvaluationEpisodesWarning

    with pytest.warns(NoEvaluationEpisodesWarning, match="'eval_prob' is 0.*stays NaN.*perturbed_reward_mean"):
        trainer = ES({**SMALL, "eval_prob": 0.0}, env="CartPole-v1")
    with trainer:
        r = trainer.train()
    assert r["episodes_this_iter"] == 0 and math.isnan(r["episode_reward_mean"])
    assert r["perturbed_episodes_this_iter"] >= 10 and math.isfinite(r["perturbed_reward_mean"])


def run_iterations(config, n, env="CartPole-v1"):
    with ES(config, env=env) as trainer:
        out = [trainer.train() for _ in range(n)]
        return out, trainer.local_evaluator.policy.get_flat_weights()


FIELDS = ("episode_reward_mean", "perturbed_reward_mean", "perturbed_len_mean", "timesteps_total", "episodes_total")


@pytest.mark.parametrize("optimizer_type", ["adam", "sgd"])
def test_one_seed_two_runs_equal(optimizer_type):
    cfg = {**SMALL, "optimizer_type": optimizer_type}
    a, wa = run_iterations(cfg, 3)
    b, wb = run_iterations(cfg, 3)
    for ra, rb in zip(a, b, strict=True):
        for f in FIELDS:
            assert ra[f] == rb[f] or (math.isnan(ra[f]) and math.isnan(rb[f])), f
    np.testing.assert_array_equal(wa, wb)
    _, wc = run_iterations({**cfg, "seed": 2}, 1)
    assert not np.array_equal(wc, run_iterations(cfg, 1)[1])


@pytest.mark.parametrize("optimizer_type", ["adam", "sgd"])
def test_save_restore_continues_identically(tmp_path, optimizer_type, param_return_env):
    # returns depend on the parameters only: a restored run must redo exactly what the first one did
    cfg = {**SMALL, "observation_filter": "NoFilter", "optimizer_type": optimizer_type, "model": {"fcnet_hiddens": []}}
    env = param_return_env
    with ES(cfg, env=env) as first:
        for _ in range(2):
            first.train()
        path = first.save(tmp_path)
        opt_state = first.optimizer.flat_optimizer.get_state()
        later = [first.train() for _ in range(2)]
        w_first = first.local_evaluator.policy.get_flat_weights()
    with ES(cfg, env=env) as second:
        second.restore(path)
        for k, v in opt_state.items():
            np.testing.assert_array_equal(second.optimizer.flat_optimizer.get_state()[k], v)
        again = [second.train() for _ in range(2)]
        w_second = second.local_evaluator.policy.get_flat_weights()
    for ra, rb in zip(later, again, strict=True):
        for f in (*FIELDS, "training_iteration", "perturbed_reward_max"):
            assert ra[f] == rb[f] or (math.isnan(ra[f]) and math.isnan(rb[f])), f
    np.testing.assert_array_equal(w_first, w_second)
    # no pickle: the state is JSON and arrays
    files = sorted(os.listdir(path))
    assert files == ["arrays.npz", "checkpoint.json"]
    meta = json.loads((path / "checkpoint.json").read_text())
    assert "noise" in json.dumps(meta)


def test_restore_with_another_noise_table_is_refused_naming_both(tmp_path):
    with ES(SMALL, env="CartPole-v1") as first:
        first.train()
        path = first.save(tmp_path)
        weights = first.local_evaluator.policy.get_flat_weights()
    for change in ({"noise_size": 300_000}, {"seed": 9}):
        with ES({**SMALL, **change}, env="CartPole-v1") as other:
            before = other.local_evaluator.policy.get_flat_weights()
            with pytest.raises(CheckpointError) as info:
                other.restore(path)
            msg = str(info.value)
            assert "noise_size 200,000 seed 1" in msg
            mine = f"noise_size {other.config['noise_size']:,} seed {other.config['seed']}"
            assert mine in msg
            # all or nothing: the trainer is as it was
            np.testing.assert_array_equal(other.local_evaluator.policy.get_flat_weights(), before)
            assert other.iteration == 0
            assert not np.array_equal(before, weights)


def test_restore_into_another_optimizer_type_is_refused(tmp_path):
    with ES(SMALL, env="CartPole-v1") as first:
        first.train()
        path = first.save(tmp_path)
    with ES({**SMALL, "optimizer_type": "sgd"}, env="CartPole-v1") as other:
        with pytest.raises(CheckpointError, match="optimizer is 'adam', this trainer's optimizer_type is 'sgd'"):
            other.restore(path)
        assert other.iteration == 0
        other.train()  # still usable


#: A tuned linear-policy CartPole config, embedded (measured: seeds 0-9 all reach 475, 1-26 iterations).
TUNED = {
    "num_workers": 0,
    "noise_size": 1_000_000,
    "episodes_per_batch": 20,
    "train_batch_size": 100,
    "eval_prob": 0.3,
    "num_envs_per_worker": 10,
    "model": {"fcnet_hiddens": []},
    "stepsize": 0.05,
    "noise_stdev": 0.1,
    "metrics_smoothing_episodes": 20,
}


def test_learns_cartpole_linear_to_475_in_seconds():
    with ES({**TUNED, "seed": 0}, env="CartPole-v1") as trainer:
        for _ in range(40):
            result = trainer.train()
            if result["episode_reward_mean"] >= 475:
                break
    assert result["episode_reward_mean"] >= 475, result["training_iteration"]
    assert result["time_total_s"] < 30


# -- bad input at the trainer's boundary ------------------------------------------------------------


def test_noise_size_smaller_than_the_parameters_names_both_before_any_worker():
    # 4 -> 64 -> 64 -> 2 (4,610): the catalog fc layout's acting parameters (the value branch's 4,545 not perturbed)
    # embedded here (this session has no Ray); with --num-workers 2 the same line comes before Ray
    # starts: tests/test_es_cli.py
    cfg = {**SMALL, "num_workers": 0, "noise_size": 1000, "model": {"fcnet_hiddens": [64, 64]}}
    with pytest.raises(ConfigError) as info:
        ES(cfg, env="CartPole-v1")
    msg = str(info.value)
    assert "noise_size' 1,000 is smaller than the policy's 4,610 acting parameters" in msg
    assert "at least 4,610" in msg


def test_preflight_checks_noise_size():
    from rl_algos.es.config import SCHEMA

    cfg = SCHEMA.defaults() | {"env": "CartPole-v1", "noise_size": 10, "model": {"fcnet_hiddens": [4]}}
    with pytest.raises(ConfigError, match="noise_size' 10 is smaller than the policy's 30 acting parameters"):
        ES.preflight(cfg)
    ES.preflight({**cfg, "noise_size": 30})


def test_episodes_per_batch_one_refused():
    with pytest.raises(ConfigError, match="episodes_per_batch") as info:
        ES({**SMALL, "episodes_per_batch": 1}, env="CartPole-v1")
    assert "antithetic" in str(info.value)


class NoFlatWeightsPolicy(Policy):
    """A policy that acts but keeps its weights its own way (no flat-weight layout)."""

    capabilities = frozenset({"discrete"})

    def __init__(self, observation_space, action_space, config, seed=None):
        self.action_space = action_space

    def compute_actions(self, obs, state=None, explore=True):
        return np.zeros(len(obs), np.int64), [], {}

    def get_weights(self):
        return {}

    def set_weights(self, weights):
        pass

    def compute_gradients(self, batch):
        raise NotImplementedError

    def apply_gradients(self, grads):
        raise NotImplementedError


def test_policy_without_flat_weight_layout_refused_before_any_worker():
    rlcore.registration.register_policy(
        "ES", "es_test_noflat", NoFlatWeightsPolicy, capabilities=("discrete",), override=True
    )
    with pytest.raises(UnsupportedOperationError) as info:
        # embedded here (no Ray in this session); with --num-workers 2: tests/test_es_cli.py
        ES({**SMALL, "num_workers": 0, "framework": "es_test_noflat"}, env="CartPole-v1")
    msg = str(info.value)
    assert "ES perturbs a flat parameter vector" in msg
    assert "NoFlatWeightsPolicy" in msg and "get_flat_weights" in msg
    assert "ForwardOnlyModelPolicy" in msg


def test_noise_size_checked_against_the_built_policy_too():
    # a registered ES policy whose model is not the one the config's catalog model would be: the
    # preflight's count (10) passes, the policy's own (226 acting parameters) is checked once it is built
    from rl_algos.es.policy import ESNumpyPolicy

    class WiderESPolicy(ESNumpyPolicy):
        def build(self):
            self.model_config = {**self.model_config, "fcnet_hiddens": [32]}
            super().build()

    rlcore.registration.register_policy("ES", "es_test_wider", WiderESPolicy, override=True)
    cfg = {**SMALL, "framework": "es_test_wider", "noise_size": 100, "model": {"fcnet_hiddens": []}}
    with pytest.raises(ConfigError, match="'noise_size' 100 is smaller than the policy's 226 acting parameters"):
        ES(cfg, env="CartPole-v1")
    with ES({**cfg, "noise_size": 226}, env="CartPole-v1") as trainer:
        assert trainer.local_evaluator.policy.num_params == 226
        trainer.train()


def test_flat_weight_layout_check_on_an_instance():
    from rlcore.model_policy import flat_weight_layout

    policy = NoFlatWeightsPolicy(None, gym.spaces.Discrete(2), {})
    with pytest.raises(UnsupportedOperationError, match=r"it lacks layout .*get_flat_weights"):
        flat_weight_layout(policy, "ES")


# -- the CLI ---------------------------------------------------------------------------------------


def rlcore_train_es(tmp_path, config, stop, *extra):
    """``rlcore train --run ES --env CartPole-v1 --num-workers 0`` with ``config`` and ``stop``, in a subprocess."""
    rlcore_cli = os.path.join(os.path.dirname(sys.executable), "rlcore")
    cmd = [rlcore_cli, "train", "--run", "ES", "--env", "CartPole-v1", "--num-workers", "0"]
    cmd += ["--config", json.dumps(config), "--stop", json.dumps(stop), "--local-dir", str(tmp_path), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def test_cli_train_run_es_embedded(tmp_path):
    config = {
        "seed": 0,
        "noise_size": 100_000,
        "episodes_per_batch": 6,
        "train_batch_size": 50,
        "eval_prob": 0.5,
        "model": {"fcnet_hiddens": []},
    }
    proc = rlcore_train_es(tmp_path, config, {"training_iteration": 2}, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    results = [x for x in lines if "training_iteration" in x]
    assert [r["training_iteration"] for r in results][-1] == 2
    assert "perturbed_reward_mean" in results[-1]
    assert results[-1]["perturbed_episodes_this_iter"] >= 6 and results[-1]["info"]["learner"]["noise_stdev"] == 0.02


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"noise_size": 10}, "'noise_size' 10 is smaller than the policy's 67,586 acting parameters"),
        ({"episodes_per_batch": 1}, "antithetic pairs need 2"),
    ],
)
def test_cli_bad_es_config_one_error_line(tmp_path, config, expected):
    proc = rlcore_train_es(tmp_path, config, {"training_iteration": 1})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


def test_acting_and_restoring_never_make_the_noise_table(tmp_path):
    """The noise table is made (and put) at the first train(): building a trainer, acting, saving,
    restoring and `rlcore rollout`'s load never draw it (250,000,000 values by default: 1 GB)."""
    from rlcore.rollout import load_trainer

    with ES({**SMALL, "num_workers": 0}, env="CartPole-v1") as trainer:
        assert trainer._noise is None
        trainer.compute_action(np.zeros(4, np.float32))
        assert trainer._noise is None
        trainer.train()
        assert trainer._noise is not None and trainer.noise.size == SMALL["noise_size"]
        path = trainer.save(tmp_path / "ckpt")
        action = trainer.compute_action(np.full(4, 0.1, np.float32))
    restored = load_trainer(path)
    try:
        assert restored._noise is None
        assert restored.compute_action(np.full(4, 0.1, np.float32)) == action
        assert restored._noise is None
        restored.train()  # continues: the table is made from the checkpoint's size and seed
        assert restored.noise.size == SMALL["noise_size"]
    finally:
        restored.stop()
