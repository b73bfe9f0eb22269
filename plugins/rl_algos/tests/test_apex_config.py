"""APEX's config: RLlib 2018's Ape-X defaults, its 2018 names (the nested ``optimizer`` settings), the
paper's per-worker epsilons, and bad input refused at construction naming the key (before any env
sampler, framework policy or Ray actor is built: this session has neither a framework nor Ray)."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rl_algos.apex import APEX, DEFAULT_CONFIG, SCHEMA, metrics_workers, per_worker_epsilons, worker_epsilon
from rl_algos.dqn import DQN
from rlcore.config import merge_config
from rlcore.config_aliases import RLlib2018Warning
from rlcore.errors import ConfigError, UnknownNameError, UnsupportedOperationError
from rlcore.testing.envs import (
    make_continuous_corridor,
    make_corridor,
    make_dict_target,
    make_multi_discrete_corridor,
    make_tuple_target,
)

#: RLlib 2018's APEX_DEFAULT_CONFIG (agents/dqn/apex.py, ray 0.5-0.6) and the paper's exploration.
DEFAULTS_2018 = {
    "num_replay_buffer_shards": 4,  # optimizer.num_replay_buffer_shards
    "max_weight_sync_delay": 400,  # optimizer.max_weight_sync_delay
    "debug": False,  # optimizer.debug
    "n_step": 3,
    "num_workers": 32,
    "buffer_size": 2_000_000,
    "learning_starts": 50_000,
    "train_batch_size": 512,
    "rollout_fragment_length": 50,  # sample_batch_size
    "target_network_update_freq": 500_000,
    "timesteps_per_iteration": 25_000,
    "per_worker_exploration": True,
    "worker_side_prioritization": True,
    "exploration_eps": 0.4,  # the paper's epsilon, hard-coded in 2018's per-worker schedule
    "exploration_alpha": 7.0,  # the paper's alpha
    "prioritized_replay_alpha": 0.6,
    "prioritized_replay_beta": 0.4,
    "prioritized_replay_eps": 1e-6,
    "min_train_to_sample_ratio": 0.0,  # 2018: learn as fast as possible
    "sample_queue_depth": 2,  # 2018's SAMPLE_QUEUE_DEPTH
    "replay_queue_depth": 4,  # REPLAY_QUEUE_DEPTH
    "learner_queue_size": 16,  # LEARNER_QUEUE_MAX_SIZE
    "learner_thread": True,
    "dueling": True,
    "double_q": True,
}

#: A small config that passes the schema (an embedded trainer, no Ray).
SMALL = {
    "num_workers": 0,
    "num_replay_buffer_shards": 2,
    "buffer_size": 1000,
    "learning_starts": 100,
    "train_batch_size": 32,
}


def merged(config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RLlib2018Warning)
        out = merge_config(SCHEMA.defaults(), SCHEMA.translate(config, owner="APEX"))
    SCHEMA.validate(out, owner="APEX")
    return out


# -- defaults ----------------------------------------------------------------------------------------


def test_defaults_are_rllib_2018s_ape_x_and_the_papers():
    assert {k: DEFAULT_CONFIG[k] for k in DEFAULTS_2018} == DEFAULTS_2018


def test_dqns_loss_model_and_exploration_keys_are_apexs_its_replay_pacing_is_not():
    # (every key documented, typed and ranged: test_config_every_key.py)
    assert {"lr", "hiddens", "dueling", "double_q", "huber_delta", "exploration_final_eps"} <= set(SCHEMA.fields)
    assert not {"training_intensity", "prioritized_replay"} & set(SCHEMA.fields)


def test_the_trainer_is_dqns_with_apexs_postprocessing():
    assert issubclass(APEX, DQN) and APEX.name == "APEX"
    assert APEX.postprocessing == "rl_algos.apex.postprocessing:postprocess_apex"
    assert APEX.reference_loss == DQN.reference_loss
    assert rlcore.get_algorithm_class("APEX") is APEX


# -- RLlib 2018 names ------------------------------------------------------------------------------


def test_2018s_nested_optimizer_settings_become_top_level_keys():
    given = {"optimizer": {"max_weight_sync_delay": 50, "num_replay_buffer_shards": 2, "debug": True}}
    with pytest.warns(RLlib2018Warning, match=r"'optimizer' is now the keys .*'num_replay_buffer_shards'"):
        config = merge_config(SCHEMA.defaults(), SCHEMA.translate(given, owner="APEX"))
    assert (config["max_weight_sync_delay"], config["num_replay_buffer_shards"], config["debug"]) == (50, 2, True)
    assert "optimizer" not in config
    assert merged({"optimizer": {}})["num_replay_buffer_shards"] == 4  # 2018's {}: the defaults
    assert merged({"optimizer": {"num_replay_buffer_shards": 8}})["max_weight_sync_delay"] == 400


def test_2018s_ape_x_config_loads_as_it_was():
    """RLlib 2018's APEX_DEFAULT_CONFIG overrides, under their 2018 names, give the same config."""
    config_2018 = {
        "optimizer_class": "AsyncReplayOptimizer",
        "optimizer": {"max_weight_sync_delay": 400, "num_replay_buffer_shards": 4, "debug": False},
        "n_step": 3,
        "num_gpus": 0,  # 2018: 1 (a GPU learner); rlcore learns on the CPU and accepts only 0
        "num_workers": 32,
        "buffer_size": 2000000,
        "learning_starts": 50000,
        "train_batch_size": 512,
        "sample_batch_size": 50,
        "target_network_update_freq": 500000,
        "timesteps_per_iteration": 25000,
        "per_worker_exploration": True,
        "worker_side_prioritization": True,
        "min_iter_time_s": 30,
        "prioritized_replay": True,
    }
    assert merged(config_2018) == DEFAULT_CONFIG


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"optimizer": {"grads_per_step": 10}}, r"'optimizer' .*unknown setting 'grads_per_step'; allowed: "),
        ({"optimizer": 3}, r"'optimizer' .*is not a mapping"),
        (
            {"optimizer": {"num_replay_buffer_shards": 0}},
            r"'optimizer.num_replay_buffer_shards' \(RLlib 2018 name of 'num_replay_buffer_shards'\) is out of range",
        ),
        (
            {"optimizer": {"max_weight_sync_delay": 5}, "max_weight_sync_delay": 6},
            r"'max_weight_sync_delay'.* both given, with different values",
        ),
        ({"num_gpus": 1}, r"'num_gpus' is an RLlib 2018 key whose feature .*runs on the CPU"),
        ({"prioritized_replay": False}, r"'prioritized_replay' .*always replay by priority"),
        ({"min_iter_time_s": 5}, r"'min_iter_time_s' .*timesteps_per_iteration sampled steps"),
        ({"optimizer_class": "SyncReplayOptimizer"}, r"'optimizer_class' .*ApexOptimizer"),
    ],
)
def test_bad_2018_values_are_refused_naming_the_key(config, match):
    with pytest.raises(ConfigError, match=match):
        merged(config)


def test_a_2018_ape_x_key_given_to_dqn_points_to_apex():
    for key in ("per_worker_exploration", "worker_side_prioritization"):
        with pytest.raises(ConfigError, match=rf"DQN config key '{key}' .*run APEX \(rlcore train --run APEX\)"):
            DQN.config_schema.translate({key: True}, owner="DQN")


# -- the paper's per-worker epsilons ----------------------------------------------------------------


def test_one_worker_explores_with_exploration_eps():
    assert worker_epsilon(0, 1, 0.4, 7.0) == 0.4
    assert per_worker_epsilons(1, 0.4, 7.0) == {0: 0.0, 1: 0.4}


def test_two_workers_span_eps_to_eps_to_the_1_plus_alpha():
    eps = per_worker_epsilons(2, 0.4, 7.0)
    assert eps[0] == 0.0  # the local evaluator (the learner) acts greedily
    assert eps[1] == pytest.approx(0.4) and eps[2] == pytest.approx(0.4**8)
    assert per_worker_epsilons(2, 0.4, 3.0)[2] == pytest.approx(0.4**4)  # the tuned example's alpha


def test_eight_workers_follow_the_papers_formula():
    eps = per_worker_epsilons(8, 0.4, 7.0)
    assert sorted(eps) == list(range(9))
    for i in range(8):
        assert eps[i + 1] == pytest.approx(0.4 ** (1 + i / 7 * 7.0)), i
    assert eps[4] == pytest.approx(0.4**4)  # i = 3: 1 + 3/7*7
    values = [eps[i] for i in range(1, 9)]
    assert values == sorted(values, reverse=True)  # the first worker explores most, the last least
    assert values[-1] == pytest.approx(0.4**8)


def test_embedded_the_local_evaluator_samples_with_exploration_eps():
    assert per_worker_epsilons(0, 0.3, 7.0) == {0: 0.3}


def test_alpha_zero_gives_every_worker_exploration_eps():
    assert set(per_worker_epsilons(5, 0.25, 0.0).values()) == {0.0, 0.25}


def test_a_worker_outside_the_set_is_refused():
    with pytest.raises(ValueError, match=r"worker 3 is not one of 0 \.\. 2"):
        worker_epsilon(3, 3, 0.4, 7.0)


def test_annealed_epsilon_keys_with_per_worker_exploration_are_said_to_have_no_effect(corridor):
    from rl_algos.apex.trainer import AnnealedEpsilonIgnoredWarning

    with (
        pytest.warns(AnnealedEpsilonIgnoredWarning, match=r"'exploration_final_eps', 'exploration_timesteps' have no"),
        pytest.raises(UnknownNameError),  # past the config: the framework's policy (none here)
    ):
        APEX({**SMALL, "exploration_final_eps": 0.01, "exploration_timesteps": 5, "framework": "none"}, env=corridor)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnnealedEpsilonIgnoredWarning)
        with pytest.raises(UnknownNameError):  # per_worker_exploration off: they are read, no warning
            config = {**SMALL, "per_worker_exploration": False, "exploration_final_eps": 0.01, "framework": "none"}
            APEX(config, env=corridor)


def test_a_saved_config_with_every_key_at_its_default_gives_no_annealed_epsilon_warning(corridor):
    # a checkpoint's config holds every key (the defaults too); rlcore train --restore and rlcore
    # rollout pass it back: the annealed-epsilon keys at their defaults were not given by anyone
    from rl_algos.apex.trainer import AnnealedEpsilonIgnoredWarning

    saved = {**DEFAULT_CONFIG, **SMALL, "framework": "none"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnnealedEpsilonIgnoredWarning)
        with pytest.raises(UnknownNameError):  # past the config: the framework's policy (none here)
            APEX(saved, env=corridor)
    with (
        pytest.warns(AnnealedEpsilonIgnoredWarning, match=r"key 'exploration_timesteps' has no effect"),
        pytest.raises(UnknownNameError),
    ):
        APEX({**saved, "exploration_timesteps": 5}, env=corridor)  # one changed from its default: said


def test_the_episode_metrics_count_the_least_exploring_third_of_the_workers():
    assert metrics_workers(1, True) == [1]
    assert metrics_workers(2, True) == [2]  # epsilon 0.4 ** 8 (0.4 ** 4 in the tuned example), not 0.4
    assert metrics_workers(3, True) == [3]
    assert metrics_workers(4, True) == [3, 4]
    assert metrics_workers(32, True) == list(range(22, 33))  # 11: RLlib 2018's remote_evaluators[-32 // 3:]
    assert metrics_workers(0, True) == [0]  # embedded: the local evaluator samples
    assert metrics_workers(3, False) == [0, 1, 2, 3]  # one annealed epsilon: every worker


# -- bad input at construction (key named) -----------------------------------------------------------


@pytest.fixture
def corridor(rlcore_registry):
    rlcore.register_env("Corridor-v0", make_corridor)
    return "Corridor-v0"


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"num_replay_buffer_shards": 0}, r"^APEX config key 'num_replay_buffer_shards' is out of range: got 0"),
        ({"num_replay_buffer_shards": -2}, r"^APEX config key 'num_replay_buffer_shards' is out of range: got -2"),
        ({"num_replay_buffer_shards": 1.5}, r"^APEX config key 'num_replay_buffer_shards' is not an int"),
        (
            {"learning_starts": 5000},
            r"^APEX config: learning_starts \(5000\) exceeds what the 2 replay shards hold together "
            r"\(buffer_size 1000\)",
        ),
        (
            {"train_batch_size": 600},
            r"^APEX config: each of the 2 replay shards holds buffer_size // num_replay_buffer_shards = 500 rows, "
            r"fewer than train_batch_size \(600\)",
        ),
        (
            {"num_replay_buffer_shards": 40, "train_batch_size": 32},
            r"num_replay_buffer_shards = 25 rows, fewer than train_batch_size \(32\)",
        ),
        ({"min_train_to_sample_ratio": -1}, r"^APEX config key 'min_train_to_sample_ratio' is out of range: got -1"),
        ({"min_train_to_sample_ratio": -0.001}, r"^APEX config key 'min_train_to_sample_ratio' is out of range"),
        ({"min_train_to_sample_ratio": math.nan}, r"^APEX config key 'min_train_to_sample_ratio' is not finite"),
        ({"min_train_to_sample_ratio": math.inf}, r"^APEX config key 'min_train_to_sample_ratio' is not finite"),
        ({"max_weight_sync_delay": 0}, r"^APEX config key 'max_weight_sync_delay' is out of range"),
        ({"exploration_eps": 1.5}, r"^APEX config key 'exploration_eps' is out of range"),
        ({"exploration_alpha": -1.0}, r"^APEX config key 'exploration_alpha' is out of range"),
        ({"learner_queue_size": 0}, r"^APEX config key 'learner_queue_size' is out of range"),
        (
            {"training_intensity": 4},
            r"^APEX unknown config key 'training_intensity': it is DQN's .*min_train_to_sample_ratio",
        ),
    ],
)
def test_bad_input_is_refused_at_construction_naming_the_key(corridor, config, match):
    with pytest.raises(ConfigError, match=match):
        APEX({**SMALL, **config}, env=corridor)


def test_the_2018_nested_shards_are_checked_against_the_buffer_too(corridor):
    with (
        pytest.raises(
            ConfigError, match=r"each of the 8 replay shards holds .* = 125 rows, fewer than train_batch_size"
        ),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", RLlib2018Warning)
        given = {k: v for k, v in SMALL.items() if k != "num_replay_buffer_shards"}
        APEX({**given, "optimizer": {"num_replay_buffer_shards": 8}, "train_batch_size": 200}, env=corridor)


@pytest.mark.parametrize(
    ("env", "creator", "space"),
    [
        ("Pendulum-v1", None, "Box"),
        ("MountainCarContinuous-v0", None, "Box"),
        ("ContinuousCorridor-v0", make_continuous_corridor, "Box"),
        ("MultiDiscreteCorridor-v0", make_multi_discrete_corridor, "MultiDiscrete"),
        ("TupleTarget-v0", make_tuple_target, "Tuple"),
        ("DictTarget-v0", make_dict_target, "Dict"),
    ],
)
def test_an_action_space_that_is_not_discrete_is_refused_before_any_worker(rlcore_registry, env, creator, space):
    """Refused before the evaluators: this session has no framework, so reaching them would raise
    UnknownNameError (APEX/torch) instead. Embedded (this session has no Ray either); with remote
    workers the same check runs before Ray starts (tests/test_apex_trainer.py, through the CLI)."""
    if creator is not None:
        rlcore.register_env(env, creator)
    with pytest.raises(UnsupportedOperationError) as info:
        APEX({**SMALL, "num_workers": 0}, env=env)
    msg = str(info.value)
    assert msg.startswith(f"APEX needs a Discrete action space (Q-learning picks one of n actions); env {env!r} has ")
    assert space in msg and "use a policy-gradient algorithm: PPO, A3C or A2C" in msg, msg


def test_a_discrete_env_goes_on_to_the_policies(corridor):
    """Past every check, the trainer looks up APEX's policy (none here: no framework is installed
    in this session, or the framework's registration is what answers)."""
    try:
        trainer = APEX({**SMALL, "framework": "no-such-framework"}, env=corridor)
    except UnknownNameError as exc:
        assert "APEX/no-such-framework" in str(exc)
    else:  # pragma: no cover - a framework that is registered under that name
        trainer.stop()
        pytest.fail("APEX/no-such-framework resolved")


def test_the_action_space_check_builds_one_env_and_closes_it(rlcore_registry):
    made = []

    class Continuous(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

        def __init__(self):
            self.closed = False
            made.append(self)

        def close(self):
            self.closed = True

    rlcore.register_env("Continuous-v0", lambda cfg: Continuous())
    with pytest.raises(UnsupportedOperationError, match=r"env 'Continuous-v0' has Box"):
        APEX(SMALL, env="Continuous-v0")
    assert len(made) == 1 and made[0].closed
