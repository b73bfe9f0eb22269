"""The common training API, driven by a tiny numpy evaluator and optimizer defined here."""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import numpy as np
import pytest

import rlcore
from rlcore import hookspecs
from rlcore.errors import ConfigError, UnknownNameError
from rlcore.optimizer import PolicyOptimizer
from rlcore.policy import Policy
from rlcore.results import check_stop, dumps, jsonable, should_stop
from rlcore.rollout_evaluator import RolloutEvaluator
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import flatten_env_major
from rlcore.testing.envs import make_corridor
from rlcore.trainer import COMMON_CONFIG, Trainer


class LinearPolicy(Policy):
    """A linear softmax policy in numpy; its "gradient" nudges the logits' bias."""

    capabilities = frozenset({"discrete", "gradients"})

    def __init__(self, observation_space, action_space, config, *, seed=None):
        self.observation_space, self.action_space, self.config = observation_space, action_space, config
        self.rng = np.random.default_rng(seed)
        self.w = np.zeros((int(np.prod(observation_space.shape)), int(action_space.n)), np.float32)
        self.b = np.zeros(int(action_space.n), np.float32)

    def compute_actions(self, obs, state=None, explore=True):
        logits = obs.reshape(len(obs), -1) @ self.w + self.b
        z = logits - logits.max(1, keepdims=True)
        actions = (z + self.rng.gumbel(size=z.shape)).argmax(1) if explore else z.argmax(1)
        return actions.astype(np.int64), [], {}

    def compute_gradients(self, batch):
        return {"w": np.zeros_like(self.w), "b": -np.ones_like(self.b)}, {"loss": 0.0, "rows": float(batch.count)}

    def apply_gradients(self, grads):
        self.b = self.b - 0.01 * grads["b"]

    def get_weights(self):
        return {"w": self.w.copy(), "b": self.b.copy()}

    def set_weights(self, weights):
        self.w, self.b = weights["w"].copy(), weights["b"].copy()


def postprocess_toy(fragment, policy, config):
    """The fragment's rows, env-major, as they are."""
    return SampleBatch({k: flatten_env_major(v) for k, v in fragment.columns.items()})


class OneBatchOptimizer(PolicyOptimizer):
    def step(self) -> dict[str, Any]:
        batch = self.local_evaluator.sample()
        self.num_steps_sampled += batch.count
        return self.local_evaluator.learn_on_batch(batch)


class Toy(Trainer):
    name = "TOY"
    default_config: ClassVar[dict[str, Any]] = {**COMMON_CONFIG, "framework": "numpy", "rollout_fragment_length": 25}
    postprocessing = staticmethod(postprocess_toy)

    def setup(self) -> None:
        self.build_evaluators("TOY")
        self.optimizer = OneBatchOptimizer(self.workers, {})


@pytest.fixture
def toy(fresh_registry):
    fresh_registry()
    rlcore.register_env("Corridor-v0", make_corridor)
    rlcore.register_policy("TOY", "numpy", LinearPolicy)
    rlcore.register_algorithm("TOY", Toy)
    return Toy


def test_result_fields(toy):
    trainer = toy({"num_envs_per_worker": 2, "seed": 0}, env="Corridor-v0")
    r1 = trainer.train()
    r2 = trainer.train()
    for key in (
        "episode_reward_mean",
        "episode_reward_min",
        "episode_reward_max",
        "episode_len_mean",
        "episodes_this_iter",
        "episodes_total",
        "timesteps_this_iter",
        "timesteps_total",
        "training_iteration",
        "time_this_iter_s",
        "time_total_s",
        "info",
    ):
        assert key in r2, key
    assert (r1["training_iteration"], r2["training_iteration"]) == (1, 2)
    assert r1["timesteps_this_iter"] == 50 and r2["timesteps_total"] == 100
    assert r2["episodes_total"] == r1["episodes_this_iter"] + r2["episodes_this_iter"] > 0
    assert r2["episode_reward_min"] <= r2["episode_reward_mean"] <= r2["episode_reward_max"]
    assert r2["time_total_s"] >= r2["time_this_iter_s"] > 0
    assert r2["info"]["learner"] == {"loss": 0.0, "rows": 50.0}
    assert r2["info"]["num_worker_failures"] == 0
    trainer.stop()


def test_reward_mean_is_over_this_iterations_episodes_topped_up_to_n(toy):
    """RLlib's window (collect_metrics(min_history=metrics_smoothing_episodes)): this iteration's
    episodes, all of them however many, topped up with the latest earlier ones to at least N."""
    from rlcore.evaluator import EpisodeMetrics

    trainer = toy({"metrics_smoothing_episodes": 3, "seed": 1}, env="Corridor-v0")

    def rewards(episodes):
        return [e.episode_reward for e in episodes]

    trainer._episodes.extend(EpisodeMetrics(float(r), 1) for r in (1, 2, 3))
    assert rewards(trainer.metrics_window([EpisodeMetrics(10.0, 1)])) == [2, 3, 10]
    assert rewards(trainer.metrics_window([])) == [1, 2, 3]
    five = [EpisodeMetrics(float(r), 1) for r in range(10, 15)]
    assert trainer.metrics_window(five) == five  # more than N this iteration: all of them
    trainer._episodes.clear()

    # through train(): with a window larger than every episode so far, the mean is over all of them
    trainer = toy({"metrics_smoothing_episodes": 1000, "seed": 1}, env="Corridor-v0")
    for _ in range(3):
        r = trainer.train()
    assert r["episode_reward_mean"] == pytest.approx(np.mean(rewards(trainer._episodes)))
    assert len(trainer._episodes) == r["episodes_total"]


def test_no_episode_yet_gives_nan_and_json_null(toy):
    trainer = toy({"rollout_fragment_length": 1}, env="Corridor-v0")
    r = trainer.train()
    assert math.isnan(r["episode_reward_mean"])
    assert '"episode_reward_mean": null' in dumps(r)


def test_on_train_result_hook_fires_for_every_result(toy):
    class Logger:
        def __init__(self):
            self.seen = []

        @hookspecs.hookimpl
        def rlcore_on_train_result(self, trainer, result):
            self.seen.append(result["training_iteration"])
            result["logged"] = True

    logger = Logger()
    rlcore.get_registry().add_plugin(logger, "logger")
    trainer = toy({}, env="Corridor-v0")
    assert trainer.train()["logged"] and trainer.train()["logged"]
    assert logger.seen == [1, 2]


def test_compute_action_and_unknown_keys(toy):
    trainer = toy({}, env="Corridor-v0")
    obs, _ = trainer.local_evaluator.sampler.envs[0].reset(seed=0)
    assert trainer.compute_action(obs) in (0, 1)
    with pytest.raises(ConfigError, match="Did you mean 'num_workers'"):
        toy({"num_worker": 1}, env="Corridor-v0")
    with pytest.raises(ConfigError, match="needs an env"):
        toy({})
    with pytest.raises(UnknownNameError, match="unknown env"):
        toy({}, env="Corridorr-v0")


def test_unknown_framework_lists_what_exists(toy):
    with pytest.raises(UnknownNameError, match=r"unknown policy 'TOY/jax'.*Available policies:.*TOY/numpy"):
        toy({"framework": "jax"}, env="Corridor-v0")


def test_stop_criteria_and_json():
    assert check_stop({"timesteps_total": 10}) == {"timesteps_total": 10.0}
    with pytest.raises(ConfigError, match="Did you mean 'timesteps_total'"):
        check_stop({"timestep_total": 10})
    with pytest.raises(ConfigError, match="needs a number"):
        check_stop({"timesteps_total": "10"})
    assert should_stop({"timesteps_total": 12}, {"timesteps_total": 10.0})
    assert not should_stop({"episode_reward_mean": math.nan}, {"episode_reward_mean": 1.0})
    assert jsonable({"a": np.float32(1.5), "b": np.arange(2), "c": [math.inf]}) == {"a": 1.5, "b": [0, 1], "c": [None]}


def test_cli_train_json_and_progress(toy, capsys):
    from rlcore.cli import main

    args = ["train", "--env", "Corridor-v0", "--run", "TOY", "--stop", '{"training_iteration": 2}']
    assert main([*args, "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["training_iteration"] for line in lines] == [1, 2]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    # not a terminal: the first and the last lines only, no per-iteration progress
    assert out[0].startswith("training TOY (numpy) on Corridor-v0") and "results: " in out[0]
    assert out[1].startswith("done: 2 iterations") and len(out) == 2
    assert main([*args, "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("done: 2 iterations")


def test_progress_on_a_terminal_shows_iterations():
    import io

    from rlcore.progress import Display

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    display = Display("auto", {"timesteps_total": 1000}, stream=stream)
    display.start("training")
    result = {
        "training_iteration": 1,
        "timesteps_total": 100,
        "timesteps_this_iter": 100,
        "time_this_iter_s": 0.5,
        "time_total_s": 0.5,
        "episode_reward_mean": 12.5,
        "episodes_total": 4,
    }
    display.update(result)
    display.close("done")
    text = stream.getvalue()
    assert "iter 1  100 steps  reward 12.5  200 steps/s" in text  # the live bar
    assert "iter    1  timesteps       100  reward    12.50" in text  # the log line above it
    assert text.rstrip().endswith("done")


def _toy_args(tmp_path, *extra):
    return ["train", "--env", "Corridor-v0", "--run", "TOY", "--local-dir", str(tmp_path), *extra]


def _results(path):
    import json

    return [json.loads(line) for line in (path / "result.json").read_text().splitlines()]


def test_results_folder(toy, tmp_path, capsys):
    import csv

    from rlcore.cli import main

    assert main(_toy_args(tmp_path, "--stop", '{"training_iteration": 3}', "--experiment-name", "exp")) == 0
    (trial,) = (tmp_path / "exp").iterdir()
    assert trial.name.startswith("TOY_Corridor-v0_")
    params = json.loads((trial / "params.json").read_text())
    assert params["run"] == "TOY" and params["env"] == "Corridor-v0" and params["rollout_fragment_length"] == 25
    results = _results(trial)
    assert [r["training_iteration"] for r in results] == [1, 2, 3]
    rows = list(csv.DictReader((trial / "progress.csv").open()))
    assert [int(r["training_iteration"]) for r in rows] == [1, 2, 3]
    assert float(rows[2]["timesteps_total"]) == results[2]["timesteps_total"]
    from rlcore.loggers.tensorboard_logger import read_scalars

    (events,) = trial.glob("events.out.tfevents.*")
    scalars = read_scalars(events)
    steps = sorted({step for step, tag, _ in scalars if tag == "episode_reward_mean"})
    assert steps == [r["timesteps_total"] for r in results]
    assert any(tag == "info/learner/rows" for _, tag, _ in scalars)
    assert not list(trial.glob("checkpoint_*"))
    capsys.readouterr()


def test_checkpoint_restore_continues_with_the_same_counters(toy, tmp_path, capsys):
    """The issue's sequence: --checkpoint-freq 1 for 3 iterations, then --restore continues from 3."""
    from rlcore.cli import main

    assert main(_toy_args(tmp_path, "--checkpoint-freq", "1", "--stop", '{"training_iteration": 3}')) == 0
    (trial,) = (tmp_path / "TOY_Corridor-v0").iterdir()
    assert sorted(p.name for p in trial.glob("checkpoint_*")) == [f"checkpoint_00000{i}" for i in (1, 2, 3)]
    first = _results(trial)
    assert "last checkpoint: " in capsys.readouterr().out
    # --restore a trial folder takes its latest checkpoint; run and env come from the checkpoint
    args = ["train", "--restore", str(trial), "--local-dir", str(tmp_path), "--stop", '{"training_iteration": 5}']
    assert main([*args, "--checkpoint-at-end"]) == 0
    (cont,) = [p for p in (tmp_path / "TOY_Corridor-v0").iterdir() if p != trial]
    second = _results(cont)
    assert [r["training_iteration"] for r in second] == [4, 5]
    per_iter = first[0]["timesteps_this_iter"]
    assert second[0]["timesteps_total"] == first[-1]["timesteps_total"] + per_iter
    assert second[0]["episodes_total"] >= first[-1]["episodes_total"]
    assert json.loads((cont / "params.json").read_text())["restored_from"].endswith("checkpoint_000003")
    assert [p.name for p in cont.glob("checkpoint_*")] == ["checkpoint_000005"]


def test_trainer_save_restore_round_trip(toy, tmp_path):
    trainer = toy({"num_envs_per_worker": 2, "seed": 0, "observation_filter": "MeanStdFilter"}, env="Corridor-v0")
    for _ in range(2):
        trainer.train()
    path = trainer.save(tmp_path)
    assert path == tmp_path / "checkpoint_000002"
    other = toy({"num_envs_per_worker": 2, "seed": 1, "observation_filter": "MeanStdFilter"}, env="Corridor-v0")
    assert other.restore(tmp_path) == path
    a, b = trainer.get_state(), other.get_state()
    assert a["counters"] == b["counters"]
    np.testing.assert_array_equal(a["recent_episodes"], b["recent_episodes"])
    for k, v in a["evaluator"]["weights"].items():
        np.testing.assert_array_equal(v, b["evaluator"]["weights"][k])
    np.testing.assert_array_equal(a["evaluator"]["filter"]["mean"], b["evaluator"]["filter"]["mean"])
    assert other.optimizer.num_steps_sampled == trainer.optimizer.num_steps_sampled
    r1, r2 = trainer.train(), other.train()
    assert r1["training_iteration"] == r2["training_iteration"] == 3
    assert r1["timesteps_total"] == r2["timesteps_total"]


def test_restore_refuses_the_wrong_checkpoint(toy, tmp_path, capsys):
    from rlcore.checkpoint import write_checkpoint
    from rlcore.cli import main
    from rlcore.errors import CheckpointError

    trainer = toy({"seed": 0}, env="Corridor-v0")
    trainer.train()
    meta = {"framework": "numpy", "env": "Corridor-v0", "config": {}, "iteration": 1, "timesteps_total": 50}
    write_checkpoint(tmp_path / "other", trainer.get_state(), {**meta, "algorithm": "OTHER", "versions": {}})
    with pytest.raises(CheckpointError, match="is a OTHER checkpoint; this trainer is TOY"):
        trainer.restore(tmp_path / "other")
    # an algorithm nothing registers: the error lists what exists
    assert main(["train", "--restore", str(tmp_path / "other"), "--local-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "written by the algorithm 'OTHER'" in err and "unknown algorithm 'OTHER'" in err
    # a state that fails half-way (the evaluator's part loads, the optimizer's lacks a counter):
    # a clear error, and the trainer is left as it was
    state = trainer.get_state()
    del state["optimizer"]["num_steps_trained"]
    state["evaluator"]["weights"]["b"] = np.full_like(state["evaluator"]["weights"]["b"], 7.0)
    write_checkpoint(tmp_path / "bad", state, {**meta, "algorithm": "TOY", "versions": {}})
    before = trainer.get_state()
    with pytest.raises(CheckpointError, match="does not fit this TOY trainer"):
        trainer.restore(tmp_path / "bad")
    after = trainer.get_state()["evaluator"]["weights"]
    for key in ("w", "b"):
        np.testing.assert_array_equal(after[key], before["evaluator"]["weights"][key])
    assert main(["train", "--restore", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--restore", str(tmp_path / "other"), "--run", "TOY"]) == 2
    assert "is a OTHER checkpoint but the algorithm to run is TOY" in capsys.readouterr().err


def test_rollout_cli(toy, tmp_path, capsys):
    from rlcore.cli import main

    assert main(_toy_args(tmp_path, "--checkpoint-at-end", "--stop", '{"training_iteration": 2}')) == 0
    capsys.readouterr()
    (trial,) = (tmp_path / "TOY_Corridor-v0").iterdir()
    assert main(["rollout", str(trial), "--episodes", "3", "--json", "--seed", "0"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["episode"] for line in lines] == [1, 2, 3] and all(line["length"] > 0 for line in lines)
    assert main(["rollout", str(trial), "--episodes", "2"]) == 0
    assert "mean return" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:  # a usage error, before the checkpoint is read
        main(["rollout", str(trial), "--episodes", "0"])
    assert exit_.value.code == 2
    assert "argument --episodes: must be 1 or more, got 0" in capsys.readouterr().err


def test_cli_train_bad_input(toy, capsys):
    from rlcore.cli import main

    assert main(["train", "--env", "Corridor-v0", "--run", "TOYY", "--stop", '{"training_iteration": 1}']) == 2
    assert "unknown algorithm 'TOYY'" in capsys.readouterr().err
    assert main(["train", "--env", "Corridor-v0", "--run", "TOY", "--stop", '{"iterations": 1}']) == 2
    assert "unknown stop key 'iterations'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--env", "Corridor-v0", "--run", "TOY", "--config", "{nope"])
    assert "not valid JSON" in capsys.readouterr().err


def test_discrete_start_is_honoured(fresh_registry):
    """A Discrete(2, start=1) env receives 1 or 2; the batch keeps 0-based indices for the loss."""
    import gymnasium as gym

    seen = []

    class StartEnv(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        action_space = gym.spaces.Discrete(2, start=1)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, np.float32), {}

        def step(self, action):
            seen.append(int(action))
            return np.zeros(2, np.float32), 1.0, len(seen) % 5 == 0, False, {}

    fresh_registry()
    ev = RolloutEvaluator(
        lambda cfg: StartEnv(),
        {"seed": 0, "num_envs": 2, "rollout_fragment_length": 10},
        policy=LinearPolicy,
        postprocess=postprocess_toy,
    )
    batch = ev.sample()
    assert set(seen) <= {1, 2} and set(batch["actions"].tolist()) <= {0, 1}
    assert set(ev.compute_actions(np.zeros((4, 2), np.float32)).tolist()) <= {1, 2}


def test_save_without_a_folder_goes_to_the_results_dir(toy, monkeypatch, tmp_path):
    monkeypatch.setenv("RLCORE_RESULTS_DIR", str(tmp_path))
    trainer = toy({"seed": 0}, env="Corridor-v0")
    trainer.train()
    first = trainer.save()
    trainer.train()
    second = trainer.save()
    assert first.parent == second.parent == trainer.logdir
    assert trainer.logdir.parent == tmp_path / "TOY_Corridor-v0"
    assert (first.name, second.name) == ("checkpoint_000001", "checkpoint_000002")


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda f: f.update(n=-3), "count n=-3 observations: not an int >= 0"),
        (lambda f: f.update(n=2.5), "count n=2.5 observations: not an int >= 0"),
    ],
    ids=["negative-count", "float-count"],
)
def test_edited_filter_statistics_are_said_to_be_edited(toy, tmp_path, edit, words):
    """Statistics no rlcore writes are refused as an edit of the file, not as a checkpoint of
    another env or model config (whose advice would not help); the trainer is left as it was."""
    from rlcore.errors import CheckpointError
    from rlcore.testing import rewrite_checkpoint_meta

    filtered = toy({"seed": 0, "observation_filter": "MeanStdFilter"}, env="Corridor-v0")
    filtered.train()
    path = rewrite_checkpoint_meta(filtered.save(tmp_path), lambda m: edit(m["state"]["evaluator"]["filter"]))
    other = toy({"seed": 0, "observation_filter": "MeanStdFilter"}, env="Corridor-v0")
    before = other.get_state()["evaluator"]["filter"]
    with pytest.raises(CheckpointError) as info:
        other.restore(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: its observation-filter statistics (state.evaluator.filter) are not what rlcore ")
    assert words in msg and "the checkpoint was edited or damaged" in msg and "same env and model config" not in msg
    assert other.get_state()["evaluator"]["filter"]["n"] == before["n"]


def test_a_filter_mismatch_is_refused(toy, tmp_path):
    from rlcore.errors import CheckpointError

    filtered = toy({"seed": 0, "observation_filter": "MeanStdFilter"}, env="Corridor-v0")
    filtered.train()
    path = filtered.save(tmp_path)
    plain = toy({"seed": 0}, env="Corridor-v0")
    with pytest.raises(CheckpointError, match="observation_filter is NoFilter"):
        plain.restore(path)
    plain.train()
    with pytest.raises(CheckpointError, match="observation_filter is MeanStdFilter"):
        toy({"seed": 0, "observation_filter": "MeanStdFilter"}, env="Corridor-v0").restore(plain.save(tmp_path / "p"))
