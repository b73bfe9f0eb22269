"""Issue 14's surfaces (APEX, the ApexOptimizer's config, DQN's vision Q-networks, PixelGrid-v0)
attacked through every boundary a user crosses: ``APEX(config)``, ``rlcore train --run APEX``,
``--config`` JSON, experiments files (RLlib 2018 Ape-X files with ``optimizer: {...}`` and
grid_search), image observations of odd shapes and checkpoints. Each bad input is refused once, at
that boundary, naming the key or value and what to do (through the CLI: one ``rlcore: error:``
line, before Ray starts)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from rlcore.errors import CheckpointError, ConfigError, RLCoreError, UnsupportedOperationError
from rlcore.registration import get_algorithm_class

RLCORE = str(Path(sys.executable).with_name("rlcore"))

#: A small embedded APEX (no Ray): one shard, a tiny buffer, a tiny net.
SMALL: dict[str, Any] = {
    "env": "CartPole-v1",
    "framework": "torch",
    "num_workers": 0,
    "num_replay_buffer_shards": 1,
    "buffer_size": 1000,
    "learning_starts": 100,
    "train_batch_size": 32,
    "timesteps_per_iteration": 100,
    "rollout_fragment_length": 10,
    "hiddens": [16],
    "model": {"fcnet_hiddens": [16]},
}


def apex(**config: Any) -> Any:
    model = {**SMALL["model"], **config.pop("model", {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_algorithm_class("APEX")(config={**SMALL, **config, "model": model})


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [RLCORE, "train", *args, "--local-dir", str(tmp_path / "results")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The only stderr line of a refused CLI run (no traceback, no Ray log line), without its prefix."""
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("rlcore: error: "), lines
    return lines[0]


class Image(gym.Env):
    """A Discrete(2) env with Box image observations of any shape and dtype."""

    def __init__(self, shape: tuple[int, ...], dtype: Any = np.uint8, high: float = 255) -> None:
        self.observation_space = spaces.Box(0, high, shape, dtype)
        self.action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self.observation_space.sample(), float(action), False, False, {}


@pytest.fixture
def installed() -> Any:
    """A fresh registry of the installed plugins for this test (its own registrations dropped after)."""
    from rlcore.testing.pytest_plugin import isolated_registry

    with isolated_registry(None) as registry:
        yield registry


# -- APEX(config): the cases and more of each kind ------------------------------------------
@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"num_replay_buffer_shards": 0}, r"'num_replay_buffer_shards' is out of range: got 0"),
        ({"num_replay_buffer_shards": -3}, r"'num_replay_buffer_shards' is out of range: got -3"),
        ({"num_replay_buffer_shards": "2"}, r"'num_replay_buffer_shards' is not an int: got '2'"),
        ({"num_replay_buffer_shards": 2.0}, r"'num_replay_buffer_shards' is not an int \(write 2"),
        ({"num_replay_buffer_shards": True}, r"'num_replay_buffer_shards' is not an int: got True"),
        ({"optimizer": {"num_replay_buffer_shards": 0}}, r"'optimizer.num_replay_buffer_shards' .* out of range"),
        ({"learning_starts": 2000}, r"learning_starts \(2000\) exceeds what the 1 replay shards hold"),
        (
            {"num_replay_buffer_shards": 4, "buffer_size": 100, "train_batch_size": 32, "learning_starts": 10},
            r"each of the 4 replay shards holds .* = 25 rows, fewer than train_batch_size \(32\)",
        ),
        ({"min_train_to_sample_ratio": -1}, r"'min_train_to_sample_ratio' is out of range: got -1"),
        ({"min_train_to_sample_ratio": float("nan")}, r"'min_train_to_sample_ratio' is not finite"),
        ({"min_train_to_sample_ratio": float("inf")}, r"'min_train_to_sample_ratio' is not finite"),
        ({"exploration_eps": float("nan")}, r"'exploration_eps' is not finite"),
        ({"exploration_eps": 1.5}, r"'exploration_eps' is out of range"),
        ({"exploration_alpha": -1}, r"'exploration_alpha' is out of range"),
        ({"max_weight_sync_delay": 0}, r"'max_weight_sync_delay' is out of range: got 0"),
        ({"sample_queue_depth": 0}, r"'sample_queue_depth' is out of range"),
        ({"replay_queue_depth": 0}, r"'replay_queue_depth' is out of range"),
        ({"learner_queue_size": 0}, r"'learner_queue_size' is out of range"),
        ({"max_shard_restarts": -1}, r"'max_shard_restarts' is out of range"),
        ({"target_network_update_freq": 0}, r"'target_network_update_freq' is out of range"),
        ({"n_step": 0}, r"'n_step' is out of range"),
        ({"num_workers": -1}, r"'num_workers' is out of range"),
        ({"training_intensity": 1.0}, r"'training_intensity'.*give min_train_to_sample_ratio instead"),
        ({"prioritized_replay": False}, r"'prioritized_replay' .*APEX's replay shards always replay by priority"),
        # RLlib 2018 keys: the nested optimizer mapping and names given twice with conflicting values
        (
            {"optimizer": {"num_replay_buffer_shards": 2}, "num_replay_buffer_shards": 1},
            r"'optimizer.num_replay_buffer_shards' .* and 'num_replay_buffer_shards' are both given, with different "
            r"values: 2 and 1",
        ),
        (
            {"optimizer": {"max_weight_sync_delay": 10}, "max_weight_sync_delay": 20},
            r"'optimizer.max_weight_sync_delay' .* both given, with different values",
        ),
        ({"sample_batch_size": 20}, r"'sample_batch_size' .* and 'rollout_fragment_length' are both given"),
        ({"optimizer": 3}, r"'optimizer' .* is not a mapping of its settings .*got 3"),
        ({"optimizer": {"num_replay_shards": 2}}, r"'optimizer' .* unknown setting 'num_replay_shards'"),
        ({"optimizer": {"num_replay_buffer_shards": {"grid_search": [1, 2]}}}, r"is a grid_search .*rlcore train -f"),
        ({"optimizer_class": "SyncReplayOptimizer"}, r"'optimizer_class'"),
        ({"num_gpus": 1}, r"'num_gpus'"),
    ],
)
def test_bad_apex_config_is_refused_at_construction_naming_the_key(config: dict, match: str):
    with pytest.raises(ConfigError, match=match):
        apex(**config)


@pytest.mark.parametrize("env", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_a_continuous_action_space_is_refused_saying_what_to_use(env: str):
    with pytest.raises(UnsupportedOperationError, match=r"APEX needs a Discrete action space.*Box.*--run PPO"):
        apex(env=env)


def test_a_multi_discrete_action_space_is_refused_too(installed: Any):
    from rlcore.envs import register_env

    class MultiAction(Image):
        def __init__(self) -> None:
            super().__init__((4,), np.float32, 1.0)
            self.action_space = spaces.MultiDiscrete([2, 2])

    register_env("MultiAction-v0", lambda cfg: MultiAction())
    with pytest.raises(UnsupportedOperationError, match=r"env 'MultiAction-v0' has MultiDiscrete"):
        apex(env="MultiAction-v0")


# -- image observations: framestack, PixelGrid-v0's env_config, odd image shapes ---------------------
@pytest.mark.parametrize(
    ("model", "match"),
    [
        ({"framestack": 0}, r"'model.framestack' is out of range: got 0"),
        ({"framestack": -1}, r"'model.framestack' is out of range: got -1"),
        ({"framestack": "2"}, r"'model.framestack' is not an int: got '2'"),
        ({"framestack": 2.5}, r"'model.framestack' is not an int"),
    ],
)
@pytest.mark.parametrize("algo", ["APEX", "DQN"])
def test_bad_framestack_on_pixel_grid_is_refused_naming_the_key(algo: str, model: dict, match: str):
    config = {"env": "PixelGrid-v0", "framework": "torch", "num_workers": 0, "model": model}
    with pytest.raises(ConfigError, match=match):
        get_algorithm_class(algo)(config=config)


@pytest.mark.parametrize(
    ("env_config", "match"),
    [
        ({"size": 4}, r"PixelGrid-v0 env_config 'size' must be an int >= 8, got 4"),
        ({"size": "16"}, r"'size' must be an int >= 8, got '16'"),
        ({"size": True}, r"'size' must be an int >= 8, got True"),
        ({"episode_len": 0}, r"'episode_len' must be an int >= 1"),
        ({"noise": 200}, r"'noise' must be an int in \[0, 127\]"),
        ({"blink": "yes"}, r"'blink' must be true or false, got 'yes'"),
        ({"seed": -1}, r"'seed' must be an int >= 0"),
        ({"sz": 16}, r"PixelGrid-v0 has no env_config key 'sz'. Did you mean 'size'"),
    ],
)
def test_bad_pixel_grid_env_config_is_refused_naming_the_key(env_config: dict, match: str):
    with pytest.raises(ConfigError, match=match):
        apex(env="PixelGrid-v0", env_config=env_config)


@pytest.mark.parametrize(
    ("shape", "dtype", "high"),
    [
        ((1, 84, 1), np.uint8, 255),  # a 1xN image
        ((4, 4, 1), np.uint8, 255),  # below PixelGrid's 8x8
        ((16, 16, 1), np.float32, 1.0),  # not uint8
        ((16, 16), np.uint8, 255),  # no channel axis
    ],
)
def test_odd_image_shapes_train_or_are_refused_at_construction(installed: Any, shape: tuple, dtype: Any, high: float):
    """An odd image is either learned from (the catalog picks a net that fits it) or refused when the
    trainer is built; never an error mid-training."""
    from rlcore.envs import register_env

    register_env("OddImage-v0", lambda cfg: Image(shape, dtype, high))
    try:
        trainer = apex(env="OddImage-v0")
    except RLCoreError as exc:
        assert "OddImage" in str(exc) or "model" in str(exc), exc
        return
    try:
        assert trainer.train()["timesteps_total"] >= 100
    finally:
        trainer.stop()


@pytest.mark.parametrize("shape", [(84, 84, 0), (0, 8, 1), (0,)])
@pytest.mark.parametrize(("algo", "framework"), [("APEX", "torch"), ("DQN", "torch"), ("APEX", "tf")])
def test_an_observation_space_of_no_values_is_refused_at_construction(
    installed: Any, algo: str, framework: str, shape: tuple
):
    """Found here: (84, 84, 0) failed in the first forward pass (PolicyRaisedError from torch),
    (0, 8, 1) blamed conv_filters, (0,) raised a bare ValueError mid-training. The catalog refuses it."""
    from rlcore.envs import register_env

    register_env("EmptyObs-v0", lambda cfg: Image(shape, np.uint8 if len(shape) == 3 else np.float32, 1))
    config = {**SMALL, "env": "EmptyObs-v0", "framework": framework}
    config.pop("num_replay_buffer_shards") if algo == "DQN" else None
    with pytest.raises(
        ConfigError, match=r"the observation space .* has no values \(shape " + re.escape(str(list(shape)))
    ):
        get_algorithm_class(algo)(config=config)


def test_framestack_stacks_images_along_the_last_axis_and_trains():
    trainer = apex(env="PixelGrid-v0", env_config={"size": 8}, model={"framestack": 3})
    try:
        assert trainer.train()["timesteps_total"] >= 100
    finally:
        trainer.stop()


# -- checkpoints ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    trainer = apex()
    try:
        trainer.train()
        return Path(trainer.save(str(tmp_path_factory.mktemp("apex_ckpt"))))
    finally:
        trainer.stop()


def test_a_checkpoint_restores_into_other_shard_counts(checkpoint: Path):
    """The shards' contents are not in checkpoints: a run restored with more shards refills them."""
    trainer = apex(num_replay_buffer_shards=2)
    try:
        trainer.restore(str(checkpoint))
        assert trainer.train()["timesteps_total"] >= 200
    finally:
        trainer.stop()


def test_a_torch_checkpoint_restores_into_tf(checkpoint: Path):
    """Canonical weight names: the learner's weights cross frameworks (its optimizer state too)."""
    trainer = apex(framework="tf")
    try:
        trainer.restore(str(checkpoint))
        assert trainer.train()["timesteps_total"] >= 200
    finally:
        trainer.stop()


def test_a_checkpoint_into_another_model_is_refused_naming_the_weights(checkpoint: Path):
    trainer = apex(model={"fcnet_hiddens": [32]})
    try:
        with pytest.raises(CheckpointError, match=r"does not fit this APEX trainer.*fc_0/kernel"):
            trainer.restore(str(checkpoint))
    finally:
        trainer.stop()


def test_an_apex_checkpoint_into_dqn_says_to_restore_it_with_apex(checkpoint: Path):
    trainer = get_algorithm_class("DQN")(config={k: v for k, v in SMALL.items() if k != "num_replay_buffer_shards"})
    try:
        with pytest.raises(
            CheckpointError, match=r"is a APEX checkpoint; this trainer is DQN: restore it with --run APEX"
        ):
            trainer.restore(str(checkpoint))
    finally:
        trainer.stop()


@pytest.mark.reliability
def test_a_tampered_apex_checkpoint_is_refused_naming_the_file(checkpoint: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / checkpoint.name
    shutil.copytree(checkpoint, copy)
    meta = json.loads((copy / "checkpoint.json").read_text())
    meta["state"]["algorithm"]["last_target_update"] = -5
    (copy / "checkpoint.json").write_text(json.dumps(meta))
    trainer = apex()
    try:
        with pytest.raises(CheckpointError, match=r"checkpoint.json was modified after it was written"):
            trainer.restore(str(copy))
    finally:
        trainer.stop()


# -- the CLI: --config JSON, flags and experiments files -------------------------------------------------
@pytest.mark.reliability
@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"num_replay_buffer_shards": 0}, "'num_replay_buffer_shards' is out of range: got 0"),
        ({"optimizer": {"num_replay_buffer_shards": 2}, "num_replay_buffer_shards": 3}, "both given"),
        ({"learning_starts": 3_000_000}, "learning_starts (3000000) exceeds what the 4 replay shards hold"),
    ],
)
def test_rlcore_train_run_apex_bad_config_json_is_one_error_line(tmp_path: Path, config: dict, match: str):
    proc = cli(
        "--run", "APEX", "--env", "CartPole-v1", "--config", json.dumps({"num_workers": 0, **config}), tmp_path=tmp_path
    )
    assert match in one_error_line(proc)


EXPERIMENTS = {
    # RLlib 2018 Ape-X file: a grid over the nested optimizer setting, one point bad
    "grid_in_optimizer": (
        "    config:\n        num_workers: 0\n        optimizer:\n            num_replay_buffer_shards:\n"
        "                grid_search: [1, 0]\n",
        "'optimizer.num_replay_buffer_shards' (RLlib 2018 name of 'num_replay_buffer_shards') is out of range",
    ),
    "grid_of_optimizer": (
        "    config:\n        optimizer:\n            grid_search: [{num_replay_buffer_shards: 1}]\n",
        "'optimizer' (RLlib 2018: its settings are today's keys) cannot take a grid_search",
    ),
    "grid_learning_starts": (
        "    config:\n        buffer_size: 4000\n        num_replay_buffer_shards: 1\n"
        "        learning_starts:\n            grid_search: [100, 5000]\n",
        "grid point 2 of 2: APEX config: learning_starts (5000) exceeds",
    ),
    "negative_ratio": ("    config:\n        min_train_to_sample_ratio: -1\n", "'min_train_to_sample_ratio'"),
}


@pytest.mark.reliability
@pytest.mark.parametrize("case", sorted(EXPERIMENTS))
def test_rlcore_train_f_bad_apex_experiment_is_one_error_line_naming_the_file(tmp_path: Path, case: str):
    body, match = EXPERIMENTS[case]
    (tmp_path / "apex.yaml").write_text(
        "apex:\n    env: CartPole-v1\n    run: APEX\n    stop:\n        training_iteration: 1\n" + body
    )
    line = one_error_line(cli("-f", "apex.yaml", tmp_path=tmp_path))
    assert "apex.yaml:" in line and "experiment 'apex'" in line and match in line, line


@pytest.mark.reliability
def test_rlcore_train_f_dqn_on_a_continuous_env_is_one_line_before_ray_starts(tmp_path: Path):
    (tmp_path / "dqn.yaml").write_text(
        "dqn:\n    env: Pendulum-v1\n    run: DQN\n    config:\n        num_workers: 2\n"
    )
    line = one_error_line(cli("-f", "dqn.yaml", tmp_path=tmp_path))
    assert "dqn.yaml:2: experiment 'dqn': DQN needs a Discrete action space" in line, line


@pytest.mark.reliability
def test_rlcore_train_f_apex_on_a_continuous_env_is_one_line_before_ray_starts(tmp_path: Path):
    """Found here: the trial built the env under Ray Tune and failed there (Ray's log lines, a
    trial error); APEX's preflight now refuses it while the file is checked."""
    (tmp_path / "apex.yaml").write_text(
        "apex:\n    env: Pendulum-v1\n    run: APEX\n    config:\n        num_workers: 2\n"
    )
    line = one_error_line(cli("-f", "apex.yaml", tmp_path=tmp_path))
    assert "apex.yaml:2: experiment 'apex': APEX needs a Discrete action space" in line, line
    assert "env 'Pendulum-v1' has Box(" in line and "--run PPO" in line, line


# -- replay memory: buffer_size rows of (preprocessed) images against this machine's memory ------------
def test_apex_on_images_with_a_buffer_larger_than_memory_is_refused_naming_buffer_size():
    """Found here: APEX's default buffer_size (2M rows, Atari's) of PixelGrid-v0's frames, as the
    policies see them (84x84 float32, obs and next_obs), is ~105 GiB: the shards filled lazily and died
    out of memory mid-run. Refused at construction, with the rows that fit."""
    with pytest.raises(ConfigError) as info:
        apex(env="PixelGrid-v0", buffer_size=2_000_000, model={"framestack": 4})
    msg = str(info.value)
    assert msg.startswith("APEX config key 'buffer_size' (2000000): the replay shards would hold"), msg
    assert "(84, 84, 4) float32" in msg and "Lower buffer_size (at most about" in msg, msg


def test_dqn_on_images_with_a_buffer_larger_than_memory_is_refused_naming_buffer_size():
    """The same kind for DQN, whose one replay buffer lives in the trainer's process."""
    config = {"env": "PixelGrid-v0", "framework": "torch", "num_workers": 0, "buffer_size": 2_000_000}
    with pytest.raises(ConfigError) as info:
        get_algorithm_class("DQN")(config={**config, "learning_starts": 1000})
    msg = str(info.value)
    assert msg.startswith("DQN config key 'buffer_size' (2000000): the replay buffer would hold"), msg
    assert "(84, 84, 1) float32" in msg and "Lower buffer_size" in msg, msg


def test_a_buffer_that_fits_in_memory_is_accepted():
    trainer = apex(env="PixelGrid-v0", buffer_size=5_000, learning_starts=100)
    trainer.stop()


@pytest.mark.reliability
def test_rlcore_train_run_apex_on_images_with_the_default_buffer_is_one_line_before_ray_starts(tmp_path: Path):
    line = one_error_line(cli("--run", "APEX", "--env", "PixelGrid-v0", "--num-workers", "2", tmp_path=tmp_path))
    assert "APEX config key 'buffer_size' (2000000)" in line and "GiB" in line, line


@pytest.mark.reliability
def test_rlcore_train_f_apex_on_images_with_the_default_buffer_is_one_line_naming_the_file(tmp_path: Path):
    (tmp_path / "apex.yaml").write_text(
        "apex:\n    env: PixelGrid-v0\n    run: APEX\n    config:\n        num_workers: 2\n"
    )
    line = one_error_line(cli("-f", "apex.yaml", tmp_path=tmp_path))
    assert "apex.yaml:2: experiment 'apex': APEX config key 'buffer_size' (2000000)" in line, line


# -- with Ray: a checkpoint into remote workers and shards, an env error on the workers ------------------
@pytest.mark.ray
def test_an_embedded_checkpoint_restores_into_remote_workers_and_shards(ray_session: Any, checkpoint: Path):
    trainer = apex(num_workers=1, num_replay_buffer_shards=2)
    try:
        trainer.restore(str(checkpoint))
        result = trainer.train()
        assert result["timesteps_total"] >= 200 and result["info"]["num_worker_failures"] == 0
    finally:
        trainer.stop()


@pytest.mark.ray
def test_a_bad_pixel_grid_env_config_with_remote_workers_reads_as_embedded(ray_session: Any):
    with pytest.raises(ConfigError) as remote:
        apex(env="PixelGrid-v0", num_workers=1, env_config={"size": 4})
    with pytest.raises(ConfigError) as embedded:
        apex(env="PixelGrid-v0", env_config={"size": 4})
    assert "PixelGrid-v0 env_config 'size' must be an int >= 8, got 4" in str(remote.value), remote.value
    assert str(embedded.value) in str(remote.value)


@pytest.mark.reliability
@pytest.mark.parametrize("algo", ["APEX", "DQN"])
def test_rlcore_train_f_bad_pixel_grid_env_config_is_one_line_before_ray_starts(tmp_path: Path, algo: str):
    """Found here: the env_config reached the trial, which failed under Ray Tune (Ray's log lines, a
    trial error); DQN's and APEX's preflight build the env while the file is checked."""
    (tmp_path / "pg.yaml").write_text(
        f"pg:\n    env: PixelGrid-v0\n    run: {algo}\n    config:\n        num_workers: 0\n"
        "        env_config:\n            size: 4\n"
    )
    line = one_error_line(cli("-f", "pg.yaml", tmp_path=tmp_path))
    assert line.endswith("pg.yaml:2: experiment 'pg': PixelGrid-v0 env_config 'size' must be an int >= 8, got 4"), line
