"""Issue 12's new surfaces attacked through the CLI (``rlcore train --config``, ``-f``,
``--num-workers``) and through real PPO trainers: each bad input is one ``rlcore: error:`` line (no
traceback), and nothing starts Ray before the error is known."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlcore.errors import ConfigError

RLCORE = str(Path(sys.executable).with_name("rlcore"))


def _rlcore(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RLCORE, "train", *args, "--local-dir", str(tmp_path / "results"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``rlcore: error:`` line of a failed run (no traceback, Ray never started)."""
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Started a local Ray" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("rlcore: error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.fixture
def ppo() -> str:
    from rlcore.plugins import get_registry

    if "PPO" not in get_registry().load().names("algorithm"):
        pytest.skip("rl_algos is not installed")
    return "PPO"


# -- through the CLI -------------------------------------------------------------------------------


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("config", "words"),
    [
        ('{"num_workers": 100000000000000000000}', "rlcore oversubscribes a local Ray up to"),
        ('{"trial_resources": {"cpu": 1}}', "config key 'trial_resources' is a Ray Tune experiment key"),
        ('{"stop": {"time_total_s": 10}}', "config key 'stop' is a Ray Tune experiment key"),
        ('{"model": {"grid_search": [{}], "dim": 42}}', "a grid_search must be the only key of its mapping"),
        ('{"sgd_stepsize": NaN}', "'sgd_stepsize' (RLlib 2018 name of 'lr') is not finite: got nan;"),
    ],
)
def test_cli_config_attacks_are_one_line_before_ray(ppo: str, tmp_path: Path, config: str, words: str) -> None:
    done = _rlcore("--env", "CartPole-v0", "--run", ppo, "--config", config, tmp_path=tmp_path)
    assert words in _error_line(done)


@pytest.mark.reliability
def test_cli_num_workers_far_beyond_the_machine_is_one_line_before_ray(ppo: str, tmp_path: Path) -> None:
    done = _rlcore("--env", "CartPole-v0", "--run", ppo, "--num-workers", "100000", tmp_path=tmp_path)
    line = _error_line(done)
    assert "100000 remote workers ask for 100000 CPUs" in line
    assert "not 100000; lower num_workers" in line


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("  trial_resources: {cpu: 100000000000000000000000}\n", 0, "rlcore oversubscribes a local Ray up to"),
        ("  config:\n    grid_search:\n      - {sgd_batchsize: 64}\n", 6, "config is a grid_search as a whole"),
        ("  config:\n    repeat: 2\n", 6, "config key 'repeat' is a Ray Tune experiment key"),
        ("  config:\n    sgd_stepsize: .nan\n", 6, "(RLlib 2018 name of 'lr') is not finite: got nan;"),
    ],
)
def test_cli_experiment_file_attacks_are_one_line_before_ray(
    ppo: str, tmp_path: Path, body: str, line: int, words: str
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(f"a:\n  run: {ppo}\n  env: CartPole-v0\n  stop: {{training_iteration: 1}}\n{body}")
    text = _error_line(_rlcore("-f", str(path), tmp_path=tmp_path))
    assert words in text
    if line:
        assert f"{path}:{line}: experiment 'a':" in text


# -- composite action spaces through a real trainer ------------------------------------------------


class _AnySpaceEnv(gym.Env[np.ndarray, Any]):
    """Observations of 3 zeros, 10 steps an episode, any action space; refuses actions outside it."""

    def __init__(self, space: gym.Space[Any]) -> None:
        self.action_space = space
        self.observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(3, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside {self.action_space}")
        self.t += 1
        return np.zeros(3, np.float32), 1.0, False, self.t >= 10, {}


def _ppo(ppo: str, name: str, space: gym.Space[Any]) -> Any:
    from rlcore.envs import register_env
    from rlcore.registration import get_algorithm_class

    register_env(name, lambda _cfg: _AnySpaceEnv(space), override=True)
    config = {
        "env": name,
        "train_batch_size": 64,
        "sgd_minibatch_size": 32,
        "num_sgd_iter": 1,
        "rollout_fragment_length": 64,
        "model": {"fcnet_hiddens": [8]},
    }
    return get_algorithm_class(ppo)(config=config)


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.MultiDiscrete(np.zeros((0,), np.int64)))),
        gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (0,), np.float32))),
        gym.spaces.MultiDiscrete(np.zeros((0,), np.int64)),
        gym.spaces.Box(-1, 1, (0,), np.float32),
    ],
)
def test_a_trainer_on_an_action_space_of_no_values_is_refused(ppo: str, space: gym.Space[Any]) -> None:
    pytest.importorskip("torch")
    with pytest.raises(ConfigError) as exc:
        _ppo(ppo, "Attack12NoValues-v0", space)
    assert "has no action values" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Dict({1: gym.spaces.Discrete(2), 2: gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)}),
        gym.spaces.Tuple((gym.spaces.Discrete(3, start=-1), gym.spaces.Box(0, 5, (2,), np.int64))),
        gym.spaces.Dict({"m": gym.spaces.MultiDiscrete(np.array([[2, 3], [4, 5]]), start=np.array([[1, 2], [3, -4]]))}),
        gym.spaces.Tuple((gym.spaces.Dict({"a": gym.spaces.Tuple((gym.spaces.Box(-1, 1, (2,), np.float64),))}),)),
    ],
)
def test_odd_composite_spaces_train_and_compute_actions_the_env_takes(ppo: str, space: gym.Space[Any]) -> None:
    pytest.importorskip("torch")
    trainer = _ppo(ppo, "Attack12Composite-v0", space)
    trainer.train()  # the env refuses any action outside its space
    for explore in (False, True):
        action = trainer.compute_action(np.zeros(3, np.float32), explore=explore)
        assert space.contains(action), action
        env = _AnySpaceEnv(space)
        env.reset()
        env.step(action)  # compute_action's structured action fed back to the env
    trainer.stop()


# -- the sampling keys with numpy numbers (the schema accepts them; the evaluator did not) ----------


def test_a_numpy_int_horizon_ends_episodes_there(ppo: str) -> None:
    pytest.importorskip("torch")
    from rlcore.registration import get_algorithm_class

    config = {
        "env": "CartPole-v0",
        "horizon": np.int64(5),
        "batch_mode": "complete_episodes",
        "train_batch_size": 64,
        "sgd_minibatch_size": 32,
        "num_sgd_iter": 1,
        "rollout_fragment_length": 32,
        "model": {"fcnet_hiddens": [8]},
    }
    trainer = get_algorithm_class(ppo)(config=config)
    result = trainer.train()
    assert 0 < result["episode_len_mean"] <= 5
    trainer.stop()


@pytest.mark.reliability
def test_cli_restore_with_a_2018_key_grid_names_it_as_given(ppo: str, tmp_path: Path) -> None:
    done = _rlcore(
        "--env",
        "CartPole-v0",
        "--run",
        ppo,
        "--config",
        '{"timesteps_per_batch": 200, "sgd_batchsize": 50, "num_sgd_iter": 1}',
        "--stop",
        '{"training_iteration": 1}',
        "--checkpoint-at-end",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (checkpoint,) = (tmp_path / "results").glob("*/*/checkpoint_000001")
    done = _rlcore(
        "--restore", str(checkpoint), "--config", '{"sgd_batchsize": {"grid_search": [16, 32]}}', tmp_path=tmp_path
    )
    line = _error_line(done)
    assert "config key 'sgd_batchsize' is a grid_search ({'grid_search': [16, 32]})" in line
