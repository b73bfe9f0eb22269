"""Issue 15's ES attacked with bad input and faults, as a user hits them: ``ES(config)``,
``rlcore train --run ES``, envs that raise, return NaN or never end an episode, odd spaces,
checkpoints from another run or tampered with, and the trained policy's own methods. Each bad
input is refused once, at the boundary it crosses, naming the key or value and what to do
(through the CLI: one ``rlcore: error:`` line, before Ray starts)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from rlcore.envs import register_env
from rlcore.errors import (
    CheckpointError,
    ConfigError,
    EnvError,
    GradientError,
    RLCoreError,
    UnsupportedOperationError,
)
from rlcore.registration import get_algorithm_class

RLCORE = str(Path(sys.executable).with_name("rlcore"))

#: What Ray prints once it starts (none of it may appear when input is refused before Ray).
RAY_TRACES = ("Started a local Ray", "ray.init", "Ray runtime started", "raylet")

#: A tiny embedded ES: a linear policy (10 acting parameters on CartPole), one pair an iteration.
SMALL: dict[str, Any] = {
    "env": "CartPole-v1",
    "num_workers": 0,
    "noise_size": 10_000,
    "episodes_per_batch": 2,
    "train_batch_size": 10,
    "eval_prob": 0.0,
    "model": {"fcnet_hiddens": []},
}


def es(**config: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_algorithm_class("ES")(config={**SMALL, **config})


def cli(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    cmd = [RLCORE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, **env})


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rlcore: error: "), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not any(trace in proc.stdout + proc.stderr for trace in RAY_TRACES), proc.stderr[-3000:]
    return lines[0]


class _Base(gym.Env):
    observation_space = spaces.Box(-1, 1, (3,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        self.t = 0
        return self.observation_space.sample() * 0, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        return self.observation_space.sample() * 0, 1.0, self.t >= 5, False, {}


class TupleActions(_Base):
    action_space = spaces.Tuple((spaces.Discrete(2), spaces.Box(-1, 1, (2,), np.float32)))


class DictObs(_Base):
    observation_space = spaces.Dict({"a": spaces.Box(-1, 1, (3,), np.float32), "b": spaces.Discrete(3)})

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        self.t = 0
        return {"a": np.zeros(3, np.float32), "b": 1}, {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        return {"a": np.zeros(3, np.float32), "b": 1}, 1.0, self.t >= 5, False, {}


class NaNReward(_Base):
    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, _, term, trunc, info = super().step(action)
        return obs, float("nan"), term, trunc, info


class InfReward(_Base):
    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, _, term, trunc, info = super().step(action)
        return obs, float("inf"), term, trunc, info


class NeverEnds(_Base):
    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        return np.zeros(3, np.float32), 1.0, False, False, {}


class RaisingReset(_Base):
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        raise RuntimeError("reset exploded")


class RaisingStep(_Base):
    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        raise RuntimeError("step exploded")


ENVS = [TupleActions, DictObs, NaNReward, InfReward, NeverEnds, RaisingReset, RaisingStep]
for _cls in ENVS:
    register_env(f"es_attack_{_cls.__name__}", lambda cfg, c=_cls: c())


# -- config keys ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("noise_stdev", float("nan"), "not finite"),
        ("noise_stdev", 0.0, "out of range"),
        ("stepsize", float("inf"), "not finite"),
        ("episodes_per_batch", 1, "antithetic pairs need 2"),
        ("episodes_per_batch", 0, "out of range"),
        ("episodes_per_batch", True, "not an int"),
        ("episodes_per_batch", 2.5, "not an int"),
        ("noise_size", "100000", "not an int"),
        ("noise_size", 1e5, "without the decimal point"),
        ("noise_size", 10**13, "would not fit in this machine's memory"),
        ("eval_prob", 1.5, "out of range"),
        ("eval_prob", float("nan"), "not finite"),
        ("l2_coeff", -1, "out of range"),
        ("action_noise_std", float("nan"), "not finite"),
        ("optimizer_type", "Adam", "one of 'adam', 'sgd'"),
        ("return_proc_mode", "rank", "one of 'centered_rank', 'raw'"),
        ("report_length", 0, "out of range"),
        ("sgd_momentum", 1.0, "out of range"),
        ("num_envs_per_worker", 0, "out of range"),
        ("observation_filter", "ConcurrentMeanStdFilter", "one of"),
        ("train_batch_size", "10", "not an int"),
        ("seed", -1, "out of range"),
        ("framework", 3, "not a str"),
    ],
)
def test_every_es_key_refuses_wrong_types_ranges_nan_and_bools_naming_it(key: str, value: Any, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        es(**{key: value})
    assert f"'{key}'" in str(info.value) and words in str(info.value), str(info.value)


def test_a_framework_that_does_not_exist_names_the_key_and_lists_the_installed_es_policies() -> None:
    with pytest.raises(ConfigError) as info:
        es(framework="jax")
    msg = str(info.value)
    assert "key 'framework' is 'jax'" in msg and "ES/numpy" in msg and "ES/torch" in msg and "ES/tf" in msg, msg
    assert "PPO/torch" not in msg, "lists the ES policies, not every algorithm's"


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("framework", "disabled", "words"),
    [
        ("jax", "", ["key 'framework' is 'jax'", "ES/numpy, ES/tf, ES/torch"]),
        (
            "torch",
            "torch",
            ["key 'framework' is 'torch'", "are ES/numpy, ES/tf:", "'torch' (rlcore-torch) is disabled"],
        ),
    ],
    ids=["jax", "disabled-torch"],
)
def test_a_framework_without_an_es_policy_through_the_cli_is_one_line_before_ray(
    tmp_path: Path, framework: str, disabled: str, words: list[str]
) -> None:
    cfg = json.dumps({**SMALL, "num_workers": 2})
    args = ["train", "--run", "ES", "--env", "CartPole-v1", "--framework", framework, "--config", cfg]
    proc = cli(*args, "--local-dir", str(tmp_path / "r"), tmp_path=tmp_path, RLCORE_DISABLE_PLUGINS=disabled)
    line = one_error_line(proc)
    for word in words:
        assert word in line, (word, line)


def test_the_2018_alias_conflicting_with_its_new_name_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError) as info:
        es(timesteps_per_batch=100, train_batch_size=50)
    assert "'timesteps_per_batch'" in str(info.value) and "'train_batch_size'" in str(info.value)
    assert es(timesteps_per_batch=50, train_batch_size=50).config["train_batch_size"] == 50


def test_noise_size_smaller_than_the_parameter_count_names_both_numbers() -> None:
    with pytest.raises(ConfigError) as info:
        es(noise_size=9)
    assert "'noise_size' 9 is smaller than the policy's 10 " in str(info.value), str(info.value)


def test_an_odd_episodes_per_batch_runs_whole_antithetic_pairs() -> None:
    result = es(episodes_per_batch=3).train()
    assert result["perturbed_episodes_this_iter"] >= 4 and result["perturbed_episodes_this_iter"] % 2 == 0


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ({"use_lstm": True}, "use_lstm"),
        ({"custom_model": "nope"}, "custom_model 'nope'"),
    ],
)
def test_models_the_numpy_policy_cannot_build_are_refused_naming_them(model: dict[str, Any], words: str) -> None:
    with pytest.raises(UnsupportedOperationError) as info:
        es(model=model)
    assert words in str(info.value), str(info.value)


def test_image_observations_with_the_numpy_framework_name_torch_and_tf() -> None:
    with pytest.raises(UnsupportedOperationError) as info:
        es(env="PixelGrid-v0", noise_size=2_000_000)
    msg = str(info.value)
    assert (
        "vision" in msg and "framework: torch" in msg and "pip install -c constraints.txt ./plugins/rl_torch" in msg
    ), msg


# -- spaces and envs ------------------------------------------------------------------------------
def test_box_actions_get_action_noise_and_are_clipped_on_pendulum() -> None:
    trainer = es(env="Pendulum-v1", action_noise_std=5.0, eval_prob=1.0, episodes_per_batch=2, train_batch_size=200)
    result = trainer.train()
    assert np.isfinite(result["perturbed_reward_mean"]) and np.isfinite(result["episode_reward_mean"])
    assert result["perturbed_len_mean"] == 200


@pytest.mark.parametrize("env", ["TupleActions", "DictObs"])
def test_tuple_and_dict_spaces_run(env: str) -> None:
    result = es(env=f"es_attack_{env}").train()
    assert result["perturbed_reward_mean"] == 5.0


@pytest.mark.parametrize(("env", "words"), [("NaNReward", "reward nan"), ("InfReward", "reward inf")])
def test_a_non_finite_reward_is_refused_naming_the_env_and_step(env: str, words: str) -> None:
    with pytest.raises(EnvError) as info:
        es(env=f"es_attack_{env}").train()
    assert f"env 'es_attack_{env}'" in str(info.value) and words in str(info.value), str(info.value)
    assert "step 1 of its episode" in str(info.value)


@pytest.mark.parametrize(("env", "words"), [("RaisingReset", "reset exploded"), ("RaisingStep", "step exploded")])
def test_an_env_raising_in_reset_or_step_names_the_env(env: str, words: str) -> None:
    with pytest.raises(RLCoreError) as info:
        es(env=f"es_attack_{env}").train()
    assert f"es_attack_{env}" in str(info.value) and words in str(info.value), str(info.value)


@pytest.mark.reliability
def test_episodes_that_never_end_without_a_horizon_are_refused_and_a_horizon_bounds_them() -> None:
    assert es(env="es_attack_NeverEnds", horizon=20).train()["perturbed_len_mean"] == 20
    with pytest.raises(EnvError) as info:
        es(env="es_attack_NeverEnds").train()
    msg = str(info.value)
    assert "env 'es_attack_NeverEnds'" in msg and "100,000 steps and horizon is None" in msg, msg
    assert "set horizon" in msg


# -- the trained policy and checkpoints -----------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    trainer = es()
    trainer.train()
    return trainer, trainer.save(str(tmp_path_factory.mktemp("es_ckpt")))


def test_compute_action_with_a_wrong_obs_shape_names_both_shapes(trained: tuple[Any, str]) -> None:
    trainer, _ = trained
    for obs in (np.zeros(3), np.zeros((1, 4))):
        with pytest.raises(RLCoreError) as info:
            trainer.compute_action(obs)
        assert "the space's is (4,)" in str(info.value), str(info.value)
    assert trainer.compute_action(np.zeros(4)) in (0, 1)


@pytest.mark.parametrize(
    ("flat", "words"),
    [
        (np.full(10, np.nan), "NaN or infinite"),
        (np.full(10, np.inf), "NaN or infinite"),
        (np.zeros(11), "has 10 parameters"),
        (np.zeros((1, 10)), "has 10 parameters"),
        (["a"] * 10, "float vector"),
    ],
)
def test_set_flat_weights_refuses_bad_vectors_and_changes_nothing(
    trained: tuple[Any, str], flat: Any, words: str
) -> None:
    policy = trained[0].local_evaluator.policy
    before = policy.get_flat_weights().copy()
    with pytest.raises(ConfigError) as info:
        policy.set_flat_weights(flat)
    assert words in str(info.value), str(info.value)
    np.testing.assert_array_equal(policy.get_flat_weights(), before)


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"noise_size": 20_000}, "noise_size 10,000 seed"),
        ({"seed": 5}, "seed 5"),
        ({"model": {"fcnet_hiddens": [4]}}, "does not fit this ES trainer"),
        ({"optimizer_type": "sgd"}, "restore it with optimizer_type 'adam'"),
    ],
)
def test_restoring_into_another_noise_table_model_or_optimizer_is_refused(
    trained: tuple[Any, str], config: dict[str, Any], words: str
) -> None:
    with pytest.raises(CheckpointError) as info:
        es(**config).restore(trained[1])
    assert words in str(info.value), str(info.value)


def test_a_numpy_checkpoint_restores_into_the_torch_es_policy_with_the_same_actions(trained: tuple[Any, str]) -> None:
    pytest.importorskip("torch")
    trainer, path = trained
    other = es(framework="torch")
    other.restore(path)
    np.testing.assert_allclose(
        other.local_evaluator.policy.get_flat_weights(), trainer.local_evaluator.policy.get_flat_weights(), atol=1e-6
    )


@pytest.mark.reliability
@pytest.mark.parametrize("target", ["checkpoint.json", "arrays.npz"])
def test_a_tampered_checkpoint_file_is_refused_naming_it(trained: tuple[Any, str], tmp_path: Path, target: str) -> None:
    import shutil

    copy = tmp_path / "ckpt"
    shutil.copytree(trained[1], copy)
    file = copy / target
    if target == "checkpoint.json":
        data = json.loads(file.read_text())
        data["state"]["algorithm"]["noise"]["size"] = 5
        file.write_text(json.dumps(data))
    else:
        file.write_bytes(file.read_bytes()[:-40] + b"\0" * 40)
    with pytest.raises(CheckpointError) as info:
        es().restore(str(copy))
    assert f"{copy / target}" in str(info.value), str(info.value)
    assert "modified after it was written" in str(info.value) or "corrupted" in str(info.value), str(info.value)


@pytest.mark.reliability
def test_rlcore_rollout_of_an_es_checkpoint(trained: tuple[Any, str], tmp_path: Path) -> None:
    proc = cli("rollout", trained[1], "--episodes", "2", "--json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2, proc.stdout


def test_population_actions_refuse_observations_of_the_wrong_shape(trained: tuple[Any, str]) -> None:
    policy = trained[0].local_evaluator.policy
    with pytest.raises(ConfigError) as info:
        policy.compute_population_actions(np.zeros((3, 10), np.float32), np.zeros((3, 5), np.float32))
    assert "obs has shape (3, 5); expected [3, 4]" in str(info.value), str(info.value)


class HugeRewards(_Base):
    """Rewards near float32's largest (accepted by the sampler): raw returns overflow the update."""

    observation_space = spaces.Box(-1, 1, (3,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        self.t = 0
        return np.full(3, 0.5, np.float32), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        return np.full(3, 0.5, np.float32), (3e38 if action == 1 else -3e38), self.t >= 5, False, {}


register_env("es_attack_HugeRewards", lambda cfg: HugeRewards())


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_a_non_finite_update_direction_is_refused_naming_the_returns_and_what_to_do() -> None:
    trainer = es(env="es_attack_HugeRewards", return_proc_mode="raw", optimizer_type="sgd", sgd_momentum=0.0)
    before = trainer.local_evaluator.policy.get_flat_weights().copy()
    with pytest.raises(GradientError) as info:
        for _ in range(3):
            trainer.train()
    msg = str(info.value)
    assert "NaN or infinite" in msg and "return_proc_mode 'raw'" in msg and "'centered_rank'" in msg, msg
    assert np.isfinite(trainer.local_evaluator.policy.get_flat_weights()).all()
    assert before.shape == trainer.local_evaluator.policy.get_flat_weights().shape
    # ranks are immune: the same env trains with centered_rank
    assert np.isfinite(es(env="es_attack_HugeRewards").train()["info"]["learner"]["weights_norm"])


THIRD_PARTY = """
import warnings
warnings.simplefilter("ignore")
from rlcore.registration import get_algorithm_class, register_policy
register_policy("ES", "opaque", "rlcore_numpy_example.policy:LinearPGPolicy", capabilities=("discrete",))
try:
    config = {"env": "CartPole-v1", "num_workers": NUM, "framework": "opaque", "noise_size": 10000}
    config["model"] = {"fcnet_hiddens": []}
    get_algorithm_class("ES")(config=config)
except Exception as exc:
    print(type(exc).__name__, exc)
import sys
print("ray imported:", "ray" in sys.modules and sys.modules["ray"].is_initialized())
"""


@pytest.mark.reliability
@pytest.mark.parametrize("workers", [0, 2])
def test_a_third_party_es_policy_without_flat_weights_is_refused_through_python(example: Path, workers: int) -> None:
    code = THIRD_PARTY.replace("NUM", str(workers))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert "UnsupportedOperationError ES perturbs a flat parameter vector, but" in out, out + proc.stderr[-2000:]
    assert "LinearPGPolicy (the policy registered for ES/opaque) has no flat-weight layout" in out, out
    assert "ray imported: False" in out, "refused before any worker starts"


@pytest.mark.ray
@pytest.mark.reliability
def test_episodes_that_never_end_in_a_ray_worker_read_as_embedded(ray_session: Any) -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the env classes reach the worker
    with pytest.raises(EnvError) as info:
        es(env="es_attack_NeverEnds", num_workers=1).train()
    msg = str(info.value)
    assert "env 'es_attack_NeverEnds' (worker 1)" in msg and "100,000 steps and horizon is None" in msg, msg


@pytest.mark.reliability
def test_a_grid_point_with_a_too_small_noise_table_is_refused_before_ray_starts(tmp_path: Path) -> None:
    """Each grid point's merged config is preflighted (not once per env): the second point's
    noise_size is checked against the parameter count before any trial starts."""
    (tmp_path / "grid.yaml").write_text(
        "es-grid:\n  env: CartPole-v1\n  run: ES\n  stop: {training_iteration: 1}\n  config:\n"
        "    num_workers: 2\n    episodes_per_batch: 2\n    train_batch_size: 10\n"
        "    model: {fcnet_hiddens: []}\n    noise_size: {grid_search: [100000, 5]}\n"
    )
    line = one_error_line(cli("train", "-f", "grid.yaml", "--local-dir", str(tmp_path / "r"), tmp_path=tmp_path))
    assert "grid point 2 of 2: ES config key 'noise_size' 5 is smaller than the policy's 10 acting" in line, line


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("noise_size", "words"),
    [
        (9, "'noise_size' 9 is smaller than the policy's 10 acting parameters"),
        (None, "float32 values x 2 copies (the driver's array and Ray's object store)"),
    ],
    ids=["too-small", "over-memory"],
)
def test_noise_size_through_the_cli_with_two_workers_is_one_line_before_ray(
    tmp_path: Path, noise_size: int | None, words: str
) -> None:
    from rlcore.models.layout import physical_memory_bytes

    # None: a table that fits in this machine's memory once, not twice
    noise_size = noise_size or int(0.75 * physical_memory_bytes() / 4)
    cfg = json.dumps({"noise_size": noise_size, "model": {"fcnet_hiddens": []}})
    args = ["train", "--run", "ES", "--env", "CartPole-v1", "--num-workers", "2", "--config", cfg]
    line = one_error_line(cli(*args, "--local-dir", str(tmp_path / "r"), tmp_path=tmp_path))
    assert words in line, line
