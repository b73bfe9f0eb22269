"""Experiment files (RLlib's tuned-example YAML): errors with file and line, grid expansion. No Ray."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rlcore import plugins
from rlcore.config_schema import COMMON_SCHEMA, model_policy_schema
from rlcore.errors import ConfigError
from rlcore.experiments import EXPERIMENT_KEYS, ExperimentSpec, expand_grid, load_experiments
from rlcore.logger import default_results_dir
from rlcore.registration import register_algorithm, register_policy
from rlcore.trainer import COMMON_CONFIG, Trainer

REPO = Path(__file__).resolve().parents[2]
TUNED = sorted((REPO / "tuned_examples").glob("*.yaml"))


class FakeTrainer(Trainer):
    """Only its name and default_config matter here (never built)."""

    name = "FAKE"
    default_config: ClassVar[dict[str, Any]] = {
        **COMMON_CONFIG,
        "lr": 0.001,
        "num_sgd_iter": 10,
        "adam": {"beta1": 0.9, "beta2": 0.999},
    }


@pytest.fixture
def write(tmp_path: Path):
    def write(text: str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


@pytest.fixture
def fake_algo(rlcore_registry: plugins.PluginRegistry) -> str:
    register_algorithm("FAKE", FakeTrainer)
    return "FAKE"


def load(path: Path) -> dict[str, ExperimentSpec]:
    return load_experiments(path, check_names=False)


# -- a valid file -----------------------------------------------------------------


def test_load_all_supported_keys(write, tmp_path):
    import numpy as np

    from rlcore.checkpoint import write_checkpoint

    ckpt = tmp_path / "ckpt"
    saved = {"env": "Pendulum-v1", "gamma": 0.9, "lr": 0.1, "model": {"fcnet_hiddens": [8], "fcnet_activation": "relu"}}
    meta = {"algorithm": "PPO", "framework": "torch", "env": "CartPole-v1", "config": saved, "iteration": 1}
    write_checkpoint(ckpt, {"w": np.zeros(1)}, {**meta, "timesteps_total": 1, "versions": {}})
    path = write(
        f"""
        first:
          env: CartPole-v1
          run: PPO
          stop: {{episode_reward_mean: 475, timesteps_total: 100000}}
          checkpoint_freq: 5
          checkpoint_at_end: true
          keep_checkpoints_num: 2
          num_samples: 3
          local_dir: {tmp_path / "out"}
          restore: {ckpt}
          max_failures: 1
          config:
            lr: 5e-4
            model: {{fcnet_hiddens: [32]}}
        second:
          run: DQN
          config: {{env: Pendulum-v1}}
        """
    )
    specs = load(path)
    assert list(specs) == ["first", "second"]
    first = specs["first"]
    assert (first.run, first.env) == ("PPO", "CartPole-v1")
    assert first.stop == {"episode_reward_mean": 475.0, "timesteps_total": 100000.0}
    assert (first.checkpoint_freq, first.checkpoint_at_end, first.keep_checkpoints_num) == (5, True, 2)
    assert (first.num_samples, first.max_failures, first.num_trials) == (3, 1, 3)
    assert first.local_dir == str(tmp_path / "out") and first.restore == str(ckpt)
    # the checkpoint's config under the file's (model keys merged one level down)
    model = {"fcnet_hiddens": [32], "fcnet_activation": "relu"}
    assert first.config == {"env": "CartPole-v1", "gamma": 0.9, "lr": 5e-4, "model": model}
    assert isinstance(first.config["lr"], float), "5e-4 (no dot) is a float, not YAML 1.1's string"
    assert (first.source, first.line) == (str(path), 1)
    second = specs["second"]
    assert (second.env, second.config["env"], second.stop, second.line) == ("Pendulum-v1", "Pendulum-v1", {}, 15)
    assert (second.checkpoint_freq, second.checkpoint_at_end, second.num_samples) == (0, False, 1)


@pytest.mark.parametrize("path", TUNED, ids=[p.name for p in TUNED])
def test_shipped_tuned_examples_load(path):
    specs = load(path)
    assert specs
    for spec in specs.values():
        assert spec.env and spec.run and spec.stop
        # the seed's RLlib 2018 file, shipped unchanged, is a 2 x 3 grid (its 2018 names translated)
        assert 1 <= spec.num_trials <= (6 if path.name == "cartpole-grid-search-example.yaml" else 4)


def test_grid_example_is_a_small_grid():
    (spec,) = load(REPO / "tuned_examples" / "cartpole-ppo-grid.yaml").values()
    assert 2 <= spec.num_trials <= 4
    assert spec.stop["episode_reward_mean"] == 475


# -- file and YAML errors ---------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"not found; check the path"):
        load_experiments(tmp_path / "nope.yaml")


def test_malformed_yaml_gives_line_and_column(write):
    path = write(
        """
        exp:
          env: CartPole-v1
          run: PPO
           config: {}
        """
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    assert f"{path}:4:" in str(info.value)
    assert "malformed YAML" in str(info.value)


def test_unclosed_bracket_is_malformed(write):
    path = write("exp: {run: PPO, env: CartPole-v1\n")
    with pytest.raises(ConfigError, match=rf"{path}:2:1: malformed YAML"):
        load(path)


def test_top_level_must_be_a_mapping(write):
    with pytest.raises(ConfigError, match="top level must map experiment names"):
        load(write("- run: PPO\n"))


def test_empty_file(write):
    with pytest.raises(ConfigError, match="no experiments in the file"):
        load(write("# nothing\n"))


def test_duplicate_key_names_both_lines(write):
    path = write(
        """
        exp:
          run: PPO
          env: CartPole-v1
          config:
            lr: 0.1
            lr: 0.2
        """
    )
    with pytest.raises(ConfigError, match=rf"{path}:6: duplicate key 'lr' under 'exp.config' \(first at line 5\)"):
        load(path)


def test_experiment_must_be_a_mapping(write):
    path = write("a:\n  run: PPO\n  env: CartPole-v1\nb: 3\n")
    with pytest.raises(ConfigError, match=rf"{path}:4: experiment 'b': expected a mapping"):
        load(path)


# -- experiment keys ----------------------------------------------------------------


def test_unknown_key_names_experiment_line_and_nearest(write):
    path = write(
        """
        exp:
          run: PPO
          env: CartPole-v1
          chekpoint_freq: 10
        """
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:4: experiment 'exp': unknown key 'chekpoint_freq'.")
    assert "Did you mean 'checkpoint_freq'?" in msg
    assert all(key in msg for key in EXPERIMENT_KEYS)


def test_missing_run(write):
    with pytest.raises(ConfigError, match=r"experiment 'exp': missing `run:`"):
        load(write("exp:\n  env: CartPole-v1\n"))


def test_missing_env(write):
    with pytest.raises(ConfigError, match=r"experiment 'exp': missing `env:`"):
        load(write("exp:\n  run: PPO\n  config: {lr: 0.1}\n"))


def test_env_given_twice_differently(write):
    path = write("exp:\n  run: PPO\n  env: CartPole-v1\n  config: {env: Pendulum-v1}\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: .*env is 'CartPole-v1' but config.env is 'Pendulum-v1'"):
        load(path)


def test_env_given_twice_the_same_is_fine(write):
    (spec,) = load(write("exp:\n  run: PPO\n  env: CartPole-v1\n  config: {env: CartPole-v1}\n")).values()
    assert spec.env == "CartPole-v1"


def test_unknown_stop_key_suggests_and_locates(write):
    path = write(
        """
        exp:
          run: PPO
          env: CartPole-v1
          stop:
            timesteps_total: 1000
            episode_reward: 400
        """
    )
    with pytest.raises(ConfigError, match=rf"{path}:6: .*unknown stop key 'episode_reward'.*'episode_reward_mean'"):
        load(path)


def test_stop_needs_numbers(write):
    with pytest.raises(ConfigError, match="stop criterion 'timesteps_total' needs a number"):
        load(write("exp:\n  run: PPO\n  env: CartPole-v1\n  stop: {timesteps_total: lots}\n"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("checkpoint_freq: -1", "checkpoint_freq needs an integer >= 0"),
        ("checkpoint_freq: true", "checkpoint_freq needs an integer >= 0"),
        ("num_samples: 0", "num_samples needs an integer >= 1"),
        ("keep_checkpoints_num: 0", "keep_checkpoints_num needs an integer >= 1"),
        ("checkpoint_at_end: 1", "checkpoint_at_end needs true or false"),
        ("local_dir: [a]", "local_dir needs a path"),
        ("config: [1, 2]", "config needs a mapping"),
        ("stop: 100", "stop needs a mapping"),
        ("restore: /no/such/checkpoint", "restore: checkpoint path '/no/such/checkpoint' does not exist"),
    ],
)
def test_bad_values_are_located(write, line, message):
    path = write(f"exp:\n  run: PPO\n  env: CartPole-v1\n  {line}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:4: experiment 'exp': {message}"):
        load(path)


# -- grid_search ----------------------------------------------------------------------


def test_expand_grid_cartesian_product_last_fastest():
    config = {"lr": {"grid_search": [1, 2]}, "model": {"hiddens": {"grid_search": [[8], [16], [32]]}}, "gamma": 0.9}
    variants = expand_grid(config)
    assert [(v["lr"], v["model"]["hiddens"]) for v in variants] == [
        (1, [8]),
        (1, [16]),
        (1, [32]),
        (2, [8]),
        (2, [16]),
        (2, [32]),
    ]
    assert all(v["gamma"] == 0.9 for v in variants)
    assert config["lr"] == {"grid_search": [1, 2]}, "the input is not modified"


def test_expand_grid_without_grid_is_one_copy():
    config = {"lr": 0.1, "model": {"fcnet_hiddens": [8]}}
    (variant,) = expand_grid(config)
    assert variant == config
    variant["model"]["fcnet_hiddens"].append(9)
    assert config["model"]["fcnet_hiddens"] == [8]


def test_expand_grid_inside_lists_and_mapping_values():
    variants = expand_grid(
        {"schedule": [[0, {"grid_search": [0.1, 0.2]}]], "env_config": {"grid_search": [{}, {"a": 1}]}}
    )
    assert [(v["schedule"][0][1], v["env_config"]) for v in variants] == [
        (0.1, {}),
        (0.1, {"a": 1}),
        (0.2, {}),
        (0.2, {"a": 1}),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"grid_search": []}, "lr: grid_search needs a non-empty list"),
        ({"grid_search": 0.1}, "lr: grid_search needs a non-empty list"),
        ({"grid_search": [1], "other": 2}, "lr: a grid_search mapping must have no other keys"),
        ({"grid_search": [{"grid_search": [1]}]}, "lr: grid_search values may not contain another grid_search"),
    ],
)
def test_expand_grid_rejects_bad_grids(value, message):
    with pytest.raises(ConfigError, match=message):
        expand_grid({"lr": value})


def test_bad_grid_in_file_points_at_its_line(write):
    path = write(
        """
        exp:
          run: PPO
          env: CartPole-v1
          config:
            gamma: 0.99
            lr:
              grid_search: []
        """
    )
    with pytest.raises(ConfigError, match=rf"^{path}:6: experiment 'exp': lr: grid_search needs a non-empty list"):
        load(path)


def test_num_trials_is_grid_times_samples(write):
    path = write(
        """
        exp:
          run: PPO
          env: CartPole-v1
          num_samples: 2
          config:
            lr: {grid_search: [0.1, 0.01, 0.001]}
            num_sgd_iter: {grid_search: [1, 2]}
        """
    )
    (spec,) = load(path).values()
    assert len(spec.variants) == 6 and spec.num_trials == 12
    assert spec.variants[1] == {"env": "CartPole-v1", "lr": 0.1, "num_sgd_iter": 2}


# -- algorithm, env and config keys, checked before Ray -------------------------------------


def test_unknown_algorithm_is_located(write, fake_algo):
    path = write("exp:\n  env: CartPole-v1\n  run: FAEK\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: experiment 'exp': .*FAEK"):
        load_experiments(path)


class FakeModelTrainer(Trainer):
    """A trainer with the model keys (never built): its policies' registrations are what matter."""

    name = "FAKEM"
    config_schema = COMMON_SCHEMA | model_policy_schema(lr=1e-3, adam_epsilon=1e-8)
    default_config: ClassVar[dict[str, Any]] = config_schema.defaults()


def test_use_lstm_with_a_policy_registered_without_recurrent_is_refused_before_ray(write, rlcore_registry):
    register_algorithm("FAKEM", FakeModelTrainer)
    # lazy targets, never imported: the registrations' declared capabilities decide
    register_policy("FAKEM", "flat", "nowhere.policies:FlatPolicy", capabilities=["discrete", "gradients"])
    register_policy("FAKEM", "rnn", "nowhere.policies:RNNPolicy", capabilities=["discrete", "recurrent"])
    register_policy("FAKEM", "unsaid", "nowhere.policies:UnsaidPolicy")  # no capabilities: left to the trainer
    text = """
        exp:
          env: CartPole-v1
          run: FAKEM
          config:
            framework: {grid_search: [rnn, unsaid, flat]}
            model:
              use_lstm: true
        """
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    assert str(info.value).startswith(
        f"{path}:7: experiment 'exp': grid point 3 of 3: nowhere.policies.FlatPolicy does not support recurrent "
        "models (model config use_lstm=True): its capabilities ['discrete', 'gradients'] lack 'recurrent'."
    )
    assert "or set model.use_lstm to false" in str(info.value)
    assert list(load_experiments(write(text.replace(", flat]", "]"), "ok.yaml"))) == ["exp"]


def test_unknown_env_is_located(write, fake_algo):
    path = write("exp:\n  env: CartPol-v1\n  run: FAKE\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: experiment 'exp': unknown env 'CartPol-v1'.*'CartPole-v1'"):
        load_experiments(path)


def test_unknown_config_key_suggests_and_locates(write, fake_algo):
    path = write(
        """
        exp:
          env: CartPole-v1
          run: FAKE
          config:
            lr: 0.01
            num_sgd_iters: 3
        """
    )
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:6: experiment 'exp': unknown config key 'num_sgd_iters'.")
    assert "Did you mean 'num_sgd_iter'?" in msg


def test_unknown_key_in_a_later_grid_point(write, fake_algo):
    path = write(
        """
        exp:
          env: CartPole-v1
          run: FAKE
          config:
            env_config: {a: 1}
            lr:
              grid_search: [0.1, 0.2]
            num_sgd_iter: {grid_search: [1, 2]}
        """
    )
    assert load_experiments(path)["exp"].num_trials == 4
    path = write(
        """
        exp:
          env: CartPole-v1
          run: FAKE
          config:
            adam:
              grid_search:
                - {beta1: 0.8}
                - {betta1: 0.7}
        """
    )
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:5: experiment 'exp': grid point 2 of 2: unknown config key 'adam.betta1'.")
    assert "Did you mean 'beta1'?" in msg


def test_unknown_key_whose_value_is_a_grid(write, fake_algo):
    path = write(
        """
        exp:
          env: CartPole-v1
          run: FAKE
          config:
            observation_filter: NoFilter
            env_config: {}
            "num_workerz": {grid_search: [0, 1]}
        """
    )
    with pytest.raises(ConfigError, match=rf"^{path}:7: .*unknown config key 'num_workerz'.*'num_workers'"):
        load_experiments(path)


def test_name_checks_can_be_skipped(write, rlcore_registry):
    (spec,) = load_experiments(write("exp:\n  env: Nowhere-v0\n  run: NOPE\n"), check_names=False).values()
    assert (spec.run, spec.env) == ("NOPE", "Nowhere-v0")


# -- results folder, import weight -------------------------------------------------------


def test_default_results_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RLCORE_RESULTS_DIR", str(tmp_path / "r"))
    assert default_results_dir() == tmp_path / "r"
    monkeypatch.delenv("RLCORE_RESULTS_DIR")
    assert default_results_dir() == Path.home() / "rlcore_results"


def test_importing_experiments_and_tune_imports_no_ray():
    code = (
        "import sys, rlcore.experiments, rlcore.tune\n"
        "heavy = [m for m in ('ray', 'torch', 'tensorflow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_restore_of_another_algorithm_fails_before_ray_starts(write, tmp_path):
    import numpy as np

    from rlcore.checkpoint import write_checkpoint

    meta = {"algorithm": "DQN", "framework": "torch", "env": "CartPole-v1", "config": {}, "iteration": 1}
    write_checkpoint(tmp_path / "ckpt", {"w": np.zeros(1)}, {**meta, "timesteps_total": 1, "versions": {}})
    path = write(
        f"""
        exp:
          env: CartPole-v1
          run: PPO
          restore: {tmp_path / "ckpt"}
        """
    )
    with pytest.raises(ConfigError, match=r"exp.yaml:4: .*is a DQN checkpoint but the algorithm to run is PPO"):
        load(path)
