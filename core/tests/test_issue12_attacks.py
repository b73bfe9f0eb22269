"""Issue 12's new surfaces attacked with bad input (RLlib 2018 config names, Tune 2018 keys, trial
sizing, composite action spaces): each fault is one ConfigError at the boundary, before Ray starts.

The cases the attack found (the kind of fault each stands for):

* a key literally named ``grid_search`` (a whole config given as a grid) was named ``''`` in the
  error (``_dotted`` dropped it as if it were a grid step);
* Ray Tune experiment keys inside ``config`` (``trial_resources``, ``stop``...) got a nonsense
  nearest-name hint (``min_steps_per_task``) instead of "it belongs beside config";
* a 2018 key moved under ``model`` slipped past ``model: null`` (accepted) while ``model: null``
  alone is refused;
* a NaN under a 2018 name was shown twice (``got nan (lr nan)``: NaN != NaN);
* a trial (``trial_resources: {cpu: 1e23}``) or embedded workers (``num_workers: 10**20``) far
  beyond the machine started Ray, which failed with a traceback (its resource limit);
* an action space (or composite part) of no action values (``Box`` of shape ``(0,)``,
  ``MultiDiscrete([])``) crashed in the policy (ValueError) instead of a ConfigError;
* an algorithm config key beside ``config:`` got "unknown key" with the nearest experiment key;
* a ``grid_search`` handed to one trainer (``--config``) was named by today's key only;
* folded 2018 keys refused numpy numbers (``np.float32``), and ``schedule_max_timesteps: 10**400``
  raised OverflowError; a numpy int ``horizon`` passed the schema and was refused by the evaluator;
* a gymnasium ``reward_threshold`` of NaN became a NaN default stop.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

from rlcore import plugins
from rlcore.config_aliases import RLlib2018Warning
from rlcore.config_schema import COMMON_SCHEMA, ConfigValueError
from rlcore.errors import ConfigError
from rlcore.experiments import load_experiments
from rlcore.models.catalog import ModelCatalog
from rlcore.ray_init import MAX_CPUS_PER_CORE, check_oversubscription, machine_cpus
from rlcore.registration import register_algorithm
from rlcore.trainer import COMMON_CONFIG, Trainer
from rlcore.tune import _fit_local_ray, _largest_trials


class AttackTrainer(Trainer):
    """Only its name and default_config matter here (never built)."""

    name = "ATTACK12"
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "lr": 0.001}


@pytest.fixture
def attack_algo(rlcore_registry: plugins.PluginRegistry) -> str:
    register_algorithm("ATTACK12", AttackTrainer)
    return "ATTACK12"


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _translate(config: dict[str, Any]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        return COMMON_SCHEMA.translate(config, owner="X")


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


# -- a key named grid_search, Tune keys inside config --------------------------------------------


def test_a_whole_config_as_a_grid_search_is_named_and_explained() -> None:
    with pytest.raises(ConfigValueError) as exc:
        _translate({"grid_search": [{"sample_batch_size": 64}]})
    text = _one_line(exc)
    assert "X config is a grid_search as a whole" in text
    assert "unknown config key ''" not in text
    assert "grid_search goes on the value of each key" in text


def test_a_grid_search_beside_other_keys_is_named_with_its_path() -> None:
    with pytest.raises(ConfigValueError) as exc:
        _translate({"model": {"grid_search": [{}], "dim": 42}})
    assert "config key 'model.grid_search': a grid_search must be the only key of its mapping" in _one_line(exc)
    assert exc.value.path == ("model", "grid_search")


@pytest.mark.parametrize("key", ["trial_resources", "resources_per_trial", "repeat", "num_samples", "stop"])
def test_a_tune_experiment_key_inside_config_says_where_it_belongs(key: str) -> None:
    with pytest.raises(ConfigValueError) as exc:
        _translate({key: {"cpu": 1}})
    text = _one_line(exc)
    assert f"config key {key!r} is a Ray Tune experiment key, not an algorithm setting" in text
    assert "beside `config:`" in text
    assert "Did you mean" not in text


@pytest.mark.parametrize(
    ("config", "line", "words"),
    [
        ("    grid_search:\n      - {sample_batch_size: 64}\n", 5, "ATTACK12 config is a grid_search as a whole"),
        (
            "    num_workers: 0\n    trial_resources: {cpu: 3}\n",
            6,
            "ATTACK12 config key 'trial_resources' is a Ray Tune",
        ),
    ],
)
def test_misplaced_keys_in_an_experiments_config_point_at_their_line(
    attack_algo: str, tmp_path: Path, config: str, line: int, words: str
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(f"a:\n  run: {attack_algo}\n  env: CartPole-v0\n  config:\n{config}")
    with pytest.raises(ConfigError) as exc:
        load_experiments(path)
    assert _one_line(exc).startswith(f"{path}:{line}: experiment 'a': {words}")


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("num_workers: 2", "'num_workers' is an algorithm config key, not an experiment key: put it under `config:`"),
        ("sample_batch_size: 64", "'sample_batch_size' is an algorithm config key (RLlib 2018 name of "),
        ("sample_async: false", "'sample_async' is an algorithm config key (of RLlib 2018, without a counterpart"),
    ],
)
def test_a_config_key_beside_config_says_to_put_it_under_config(
    attack_algo: str, tmp_path: Path, key: str, words: str
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(f"a:\n  run: {attack_algo}\n  env: CartPole-v0\n  {key}\n")
    with pytest.raises(ConfigError) as exc:
        load_experiments(path)
    assert _one_line(exc).startswith(f"{path}:4: experiment 'a': {words}")


def test_an_unknown_experiment_key_still_gets_the_nearest_experiment_key(attack_algo: str, tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(f"a:\n  run: {attack_algo}\n  env: CartPole-v0\n  checkpoint_frq: 2\n")
    with pytest.raises(ConfigError) as exc:
        load_experiments(path)
    assert "unknown key 'checkpoint_frq'. Did you mean 'checkpoint_freq'?" in _one_line(exc)


def test_2018_and_todays_names_in_different_experiments_of_one_file(attack_algo: str, tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        f"old:\n  run: {attack_algo}\n  env: CartPole-v0\n  repeat: 2\n  config: {{sample_batch_size: 64}}\n"
        f"new:\n  run: {attack_algo}\n  env: CartPole-v0\n  num_samples: 3\n  config: {{rollout_fragment_length: 32}}\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        specs = load_experiments(path)
    assert (specs["old"].num_samples, specs["old"].config["rollout_fragment_length"]) == (2, 64)
    assert (specs["new"].num_samples, specs["new"].config["rollout_fragment_length"]) == (3, 32)
    assert "sample_batch_size" not in specs["old"].config


def test_a_nested_key_named_like_a_tune_key_is_left_to_the_schema() -> None:
    # only the top level of a config is where a Tune key lands by mistake
    out = _translate({"env_config": {"stop": 3}})
    assert out["env_config"] == {"stop": 3}


# -- 2018 keys moved under model, NaN shown once ---------------------------------------------------


def test_a_model_null_with_a_2018_model_key_is_refused() -> None:
    from rlcore.config_aliases import Alias, translate_config
    from rlcore.config_schema import MODEL_SCHEMA, Field, Schema

    schema = Schema(
        {"model": Field({}, "model", dict, schema=MODEL_SCHEMA)},
        aliases={"share": Alias("model.vf_share_layers")},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        assert translate_config(schema, {"share": True}) == {"model": {"vf_share_layers": True}}
        with pytest.raises(ConfigValueError) as exc:
            translate_config(schema, {"share": True, "model": None}, owner="X")
    assert "cannot go into 'model', which is not a plain mapping here" in _one_line(exc)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_nan_under_a_2018_name_is_shown_once(value: float) -> None:
    with pytest.raises(ConfigValueError) as exc:
        _translate({"smoothing_num_episodes": value})
    text = _one_line(exc)
    assert "'smoothing_num_episodes' (RLlib 2018 name of 'metrics_smoothing_episodes')" in text
    assert f"got {value!r};" in text


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"sample_batch_size": None}, "is not optional"),
        ({"sample_batch_size": "200"}, "is not an int"),
        ({"sample_batch_size": True}, "is not an int"),
        ({"sample_batch_size": [200]}, "is not an int"),
        ({"sample_batch_size": 200.0}, "is not an int (write 200"),
        ({"sample_batch_size": 0}, "is out of range"),
        ({"use_pytorch": None}, "is not True or False"),
        ({"use_pytorch": 1}, "is not True or False"),
        ({"model": {"custom_options": [1]}}, "is not a mapping"),
        ({"model": {"custom_options": "a=1"}}, "is not a mapping"),
    ],
)
def test_odd_values_under_2018_names_name_both_names(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigValueError) as exc:
        _translate(config)
    text = _one_line(exc)
    assert "(RLlib 2018 name of " in text
    assert words in text


def test_two_2018_names_and_todays_with_different_values_are_refused() -> None:
    with pytest.raises(ConfigValueError) as exc:
        _translate({"use_pytorch": True, "framework": "tf"})
    assert "are both given, with different values: 'torch' and 'tf'" in _one_line(exc)


# -- trials and embedded workers far beyond the machine --------------------------------------------


def test_oversubscription_past_the_per_core_limit_is_refused_in_one_line() -> None:
    check_oversubscription(MAX_CPUS_PER_CORE * 2, 2, "w")  # at the limit: fine
    with pytest.raises(ConfigError) as exc:
        check_oversubscription(10**20, 2, "20 workers ask for 1e20 CPUs")
    text = _one_line(exc)
    assert text.startswith("20 workers ask for 1e20 CPUs and this machine has 2 CPUs")
    assert f"up to {2 * MAX_CPUS_PER_CORE} logical CPUs ({MAX_CPUS_PER_CORE} per core), not 1e+20" in text


@pytest.mark.parametrize("resources", ["{cpu: 100000000000000000000000}", "{cpu: 1, extra_cpu: 1000000}"])
def test_a_trial_far_beyond_this_machine_is_refused_before_ray_starts(
    attack_algo: str, tmp_path: Path, resources: str
) -> None:
    path = _yaml(
        tmp_path,
        f"""
        big:
          run: {attack_algo}
          env: CartPole-v0
          trial_resources: {resources}
        """,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        specs = load_experiments(path)
    with pytest.raises(ConfigError) as exc:
        _fit_local_ray(_largest_trials(specs), None)
    text = _one_line(exc)
    assert f"this machine has {machine_cpus()} CPUs: rlcore oversubscribes a local Ray up to" in text
    assert "experiment 'big'" in text


# -- action spaces of no action values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "path"),
    [
        (gym.spaces.MultiDiscrete(np.zeros((0,), np.int64)), ""),
        (gym.spaces.Box(-1, 1, (0,), np.float32), ""),
        (gym.spaces.Box(-1, 1, (2, 0), np.float32), ""),
        (gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.MultiDiscrete(np.zeros((0,), np.int64)))), "[1]"),
        (gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Box(-1, 1, (0,))}), "['b']"),
    ],
)
def test_an_action_space_of_no_action_values_is_refused(space: gym.Space[Any], path: str) -> None:
    with pytest.raises(ConfigError) as exc:
        ModelCatalog.get_action_dist(space)
    text = _one_line(exc)
    assert "has no action values" in text
    if path:
        assert text.startswith(f"the part {path} of the action space")


@pytest.mark.parametrize(
    "space",
    [
        gym.spaces.Dict({1: gym.spaces.Discrete(2), 2: gym.spaces.Discrete(3)}),
        gym.spaces.Tuple((gym.spaces.Discrete(3, start=-1), gym.spaces.Box(-np.inf, np.inf, (2,), np.float32))),
        gym.spaces.Tuple((gym.spaces.MultiDiscrete(np.array([[2, 3], [4, 5]]), start=np.array([[1, 2], [3, -4]])),)),
        gym.spaces.Tuple((gym.spaces.Box(0, 5, (2,), np.int64), gym.spaces.Box(-1, 1, (2,), np.float64))),
        gym.spaces.Tuple(
            (gym.spaces.Dict({"a": gym.spaces.Tuple((gym.spaces.Dict({"b": gym.spaces.Discrete(2)}),))}),)
        ),
    ],
)
def test_odd_but_valid_composite_spaces_give_actions_inside_the_space(space: gym.Space[Any]) -> None:
    from rlcore.action_dist import flat_actions, structured_actions

    spec = ModelCatalog.get_action_dist(space)
    space.seed(0)
    actions = [space.sample() for _ in range(8)]
    flat = flat_actions(spec, actions)
    for action in structured_actions(spec, flat):
        assert space.contains(action), action


# -- grid_search handed to one trainer -------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"sample_batch_size": {"grid_search": [64, 128]}}, "sample_batch_size"),
        ({"rollout_fragment_length": {"grid_search": [64, 128]}}, "rollout_fragment_length"),
        ({"model": {"custom_options": {"grid_search": [{}, {"a": 1}]}}}, "model.custom_options"),
    ],
)
def test_a_grid_search_handed_to_a_trainer_names_the_key_as_given(
    attack_algo: str, config: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigValueError) as exc:
        AttackTrainer(config={"env": "CartPole-v0", **config})
    text = _one_line(exc)
    assert text.startswith(f"ATTACK12 config key {key!r} is a grid_search (")
    assert "in an experiments file (rlcore train -f)" in text


def test_a_grid_search_inside_env_config_is_the_envs() -> None:
    from rlcore.config_aliases import refuse_grid_search

    refuse_grid_search({"env_config": {"size": {"grid_search": [1, 2]}}}, owner="X")


# -- folded 2018 keys: numpy numbers, ints past a float --------------------------------------------


def _fold_schema() -> Any:
    from rlcore.config_aliases import Alias, int_at_least, number_between
    from rlcore.config_schema import Field, Schema

    fold = Alias(
        "steps",
        "steps = frac x total",
        together=("frac", "total"),
        defaults={"frac": 0.1, "total": 1000},
        fold=lambda v: max(1, round(v["frac"] * v["total"])),
    )
    return Schema(
        {"steps": Field(100, "steps", int, min=1)},
        aliases={
            "frac": Alias(**{**fold.__dict__, "check": number_between(0, 1), "allowed": "0 <= frac <= 1"}),
            "total": Alias(**{**fold.__dict__, "check": int_at_least(1), "allowed": "an int >= 1"}),
        },
    )


@pytest.mark.parametrize(
    ("config", "steps"),
    [({"frac": np.float32(0.5)}, 500), ({"total": np.int64(30)}, 3), ({"frac": 0.5, "total": np.uint8(10)}, 5)],
)
def test_folded_2018_keys_take_numpy_numbers(config: dict[str, Any], steps: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        assert _fold_schema().translate(config) == {"steps": steps}


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"total": 10**400}, "make no steps (OverflowError: int too large to convert to float): got frac 0.1, total"),
        ({"frac": 10**400}, "'frac' (RLlib 2018, folded into 'steps') is out of range: got 1000"),
        ({"frac": np.float32("nan")}, "'frac' (RLlib 2018, folded into 'steps') is not finite: got np.float32(nan)"),
        ({"frac": np.True_}, "'frac' (RLlib 2018, folded into 'steps') is not a number"),
        ({"total": 10.0}, "'total' (RLlib 2018, folded into 'steps') is not an int"),
    ],
)
def test_folded_2018_keys_refuse_what_makes_no_value_in_one_line(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigValueError) as exc:
        _fold_schema().translate(config, owner="X")
    assert words in _one_line(exc)
    assert len(str(exc.value)) < 400


# -- default stops of odd gymnasium thresholds -----------------------------------------------------


@pytest.mark.parametrize("threshold", [math.nan, math.inf, -math.inf, "high"])
def test_a_gymnasium_threshold_that_is_no_finite_number_gives_no_reward_stop(threshold: Any) -> None:
    from rlcore.run import default_stop

    env_id = "Attack12Threshold-v0"
    gym.register(env_id, entry_point="gymnasium.envs.classic_control:CartPoleEnv", reward_threshold=threshold)
    try:
        assert default_stop(env_id) == {"timesteps_total": 1_000_000}
    finally:
        del gym.registry[env_id]
