"""ApexOptimizer without Ray (the embedded mode, num_workers=0): config refusals naming the key,
shards as plain objects, per-shard learning_starts, priorities from td_error and from the
worker-side ``priorities`` column, min_train_to_sample_ratio, per_worker_vars, stats, state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from replay_toy import ReplayToyEvaluator

from rl_optimizers.apex import DEFAULTS, PRIORITIES, STATS_KEYS, ApexOptimizer
from rl_optimizers.replay import ReplayError
from rlcore.errors import ConfigError, UnsupportedOperationError
from rlcore.worker_set import WorkerSet

TESTS = Path(__file__).parent

SMALL = {
    "num_replay_buffer_shards": 2,
    "buffer_size": 400,
    "learning_starts": 40,
    "train_batch_size": 8,
    "seed": 0,
}


def _embedded(toy: dict[str, Any] | None = None, **config: Any) -> tuple[ReplayToyEvaluator, ApexOptimizer]:
    ev = ReplayToyEvaluator(config={"rows": 10, **(toy or {})})
    return ev, ApexOptimizer(WorkerSet.from_evaluator(ev), {**SMALL, **config})


# ------------------------------------------------------------------------------ bad config
@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("num_replay_buffer_shards", 0, "num_replay_buffer_shards must be an int >= 1 (replay shard actors), got 0"),
        ("num_replay_buffer_shards", 1.5, "num_replay_buffer_shards must be an int >= 1"),
        ("num_replay_buffer_shards", True, "num_replay_buffer_shards must be an int >= 1"),
        ("min_train_to_sample_ratio", -0.5, "min_train_to_sample_ratio must be a finite number >= 0"),
        ("min_train_to_sample_ratio", float("inf"), "min_train_to_sample_ratio must be a finite number >= 0"),
        ("min_train_to_sample_ratio", float("nan"), "min_train_to_sample_ratio must be a finite number >= 0"),
        ("min_train_to_sample_ratio", "2", "min_train_to_sample_ratio must be a finite number >= 0"),
        ("max_weight_sync_delay", 0, "max_weight_sync_delay must be an int >= 1"),
        ("max_weight_sync_delay", 2.5, "max_weight_sync_delay must be an int >= 1"),
        ("train_batch_size", 0, "train_batch_size must be an int >= 1"),
        ("buffer_size", -3, "buffer_size must be an int >= 1"),
        ("learning_starts", -1, "learning_starts must be an int >= 0"),
        ("sample_queue_depth", 0, "sample_queue_depth must be an int >= 1"),
        ("replay_queue_depth", 0, "replay_queue_depth must be an int >= 1"),
        ("learner_queue_size", None, "learner_queue_size must be an int >= 1"),
        ("max_shard_restarts", -1, "max_shard_restarts must be an int >= 0"),
        ("step_min_time_s", -1, "step_min_time_s must be a finite number >= 0"),
        ("prioritized_replay_alpha", -1, "prioritized_replay_alpha must be a finite number >= 0"),
        ("prioritized_replay_beta", float("nan"), "prioritized_replay_beta must be a finite number >= 0"),
        ("prioritized_replay_eps", 0, "prioritized_replay_eps must be a finite number > 0"),
        ("learner_thread", "yes", "learner_thread must be true or false, got 'yes'"),
        ("worker_side_prioritization", 1, "worker_side_prioritization must be true or false"),
        ("per_worker_vars", {"1": {"epsilon": 0.1}}, "per_worker_vars must be None or a dict {worker_index"),
        ("per_worker_vars", {1: 0.1}, "per_worker_vars must be None or a dict"),
        ("seed", "0", "seed must be None or an int"),
        ("ignore_worker_failures", "no", "ignore_worker_failures must be true or false, got 'no'"),
        ("max_worker_errors_in_a_row", 0, "max_worker_errors_in_a_row must be an int >= 1"),
    ],
)
def test_bad_values_are_refused_naming_the_key(key: str, value: Any, text: str):
    with pytest.raises(ConfigError) as info:
        _embedded(**{key: value})
    assert str(info.value).startswith(f"ApexOptimizer: {text}"), str(info.value)


def test_per_worker_vars_for_workers_that_do_not_exist_are_refused():
    with pytest.raises(ConfigError) as info:
        _embedded(per_worker_vars={0: {"epsilon": 0.4}, 2: {"epsilon": 0.1}})
    assert str(info.value) == (
        "ApexOptimizer: per_worker_vars names worker(s) [2], but the workers are 0 (local) to 0; give one entry "
        "per worker index that exists"
    )
    _, opt = _embedded()
    with pytest.raises(ConfigError, match=r"per_worker_vars names worker\(s\) \[1\]"):
        opt.set_per_worker_vars({1: {"epsilon": 0.1}})


def test_learning_starts_beyond_what_the_shards_hold_is_refused():
    with pytest.raises(ConfigError) as info:
        _embedded(learning_starts=401)
    assert str(info.value) == (
        "ApexOptimizer: learning_starts (401) exceeds what the 2 replay shard(s) hold together (buffer_size 400): "
        "learning would never start; raise buffer_size or lower learning_starts"
    )


def test_shards_smaller_than_a_batch_are_refused():
    with pytest.raises(
        ConfigError,
        match=r"buffer_size // num_replay_buffer_shards = 400 // 4 = 100 rows per shard, "
        r"fewer than train_batch_size \(128\)",
    ):
        _embedded(num_replay_buffer_shards=4, train_batch_size=128, learning_starts=0)


def test_unknown_key_is_refused():
    with pytest.raises(ConfigError, match=r"unknown config key 'num_replay_shards'"):
        _embedded(num_replay_shards=2)


def test_defaults_are_the_papers():
    assert DEFAULTS["num_replay_buffer_shards"] == 4 and DEFAULTS["buffer_size"] == 2_000_000
    assert DEFAULTS["learning_starts"] == 50_000 and DEFAULTS["train_batch_size"] == 512
    assert DEFAULTS["max_weight_sync_delay"] == 400 and DEFAULTS["min_train_to_sample_ratio"] == 0.0


# ------------------------------------------------------------------------------ embedded steps
def test_embedded_waits_for_each_shards_learning_starts_then_learns():
    ev, opt = _embedded()
    assert opt.shard_starts == [20, 20] and opt.capacities == [200, 200]
    infos = [opt.step() for _ in range(4)]  # 10 rows a step, round robin: shard 0 holds 20 after step 3
    assert infos[:2] == [{}, {}] and opt.num_steps_trained == 16  # one batch in steps 3 and 4
    assert set(infos[3]) == {"loss", "adv_mean", "kl"} and "td_error" not in infos[3]
    assert opt.num_steps_sampled == 40 and opt.stats()["shard_sizes"] == [20, 20]
    for _ in range(20):
        opt.step()
    assert opt.num_learner_updates == 22 and opt.num_steps_trained == 22 * 8
    assert {int(b["eps_id"][0]) for b in ev.batches} == {0}


def test_embedded_priorities_come_from_td_error():
    ev, opt = _embedded(toy={"td_error": 3.0}, learning_starts=0, prioritized_replay_alpha=1.0)
    opt.step()
    shard = opt.shards[0]
    replayed = ev.batches[-1]["batch_indexes"]
    np.testing.assert_allclose(shard.buffer.sum_tree.leaves[replayed], 3.0 + 1e-6, rtol=1e-6)


def test_embedded_worker_side_priorities_are_initial_priorities_and_not_stored():
    _, opt = _embedded(toy={"priorities": True}, learning_starts=400, prioritized_replay_alpha=1.0)
    opt.step()  # learning_starts not reached: sample + add only
    shard = opt.shards[0]
    np.testing.assert_allclose(shard.buffer.sum_tree.leaves[:10], np.arange(10) % 7 + 1)
    assert PRIORITIES not in shard.buffer.columns and shard.buffer.max_priority == 7.0


def test_embedded_missing_td_error_is_a_clear_error():
    _, opt = _embedded(toy={"td_error": "none"}, learning_starts=0)
    with pytest.raises(
        ReplayError, match=r"ApexOptimizer needs learn_on_batch to return 'td_error'.*ReplayToyEvaluator"
    ):
        opt.step()


def test_embedded_td_error_of_the_wrong_length_is_a_clear_error():
    _, opt = _embedded(toy={"td_error": "short"}, learning_starts=0)
    with pytest.raises(ReplayError, match=r"got 8 rows replayed but 7 priorities"):
        opt.step()


def test_embedded_nan_td_error_is_refused_before_it_reaches_the_shard():
    _, opt = _embedded(toy={"td_error": float("nan")}, learning_starts=0)
    with pytest.raises(ReplayError, match=r"priorities must be finite and >= 0; got nan"):
        opt.step()


@pytest.mark.parametrize("ratio", [0.5, 2.0, 4.0])
def test_embedded_min_train_to_sample_ratio_is_respected(ratio: float):
    _, opt = _embedded(min_train_to_sample_ratio=ratio)
    for _ in range(40):
        opt.step()
    after = opt.num_steps_sampled - opt.learning_starts
    assert opt.num_steps_trained >= ratio * after
    assert opt.num_steps_trained < ratio * after + opt.train_batch_size  # no more than needed


def test_embedded_per_worker_vars_delivered():
    ev, opt = _embedded(per_worker_vars={0: {"epsilon": 0.25}})
    opt.step()
    assert ev.vars_seen[-1] == {"epsilon": 0.25}
    opt.set_per_worker_vars({0: {"epsilon": 0.5}})
    opt.step()
    assert ev.vars_seen[-1] == {"epsilon": 0.5}


def test_embedded_is_deterministic_with_a_seed():
    runs = []
    for _ in range(2):
        ev, opt = _embedded(min_train_to_sample_ratio=1.0)
        for _ in range(15):
            opt.step()
        runs.append((ev.w.copy(), [b["batch_indexes"].tolist() for b in ev.batches]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_stats_keys_and_state_round_trip():
    _, opt = _embedded(min_train_to_sample_ratio=1.0)
    for _ in range(8):
        opt.step()
    stats = opt.stats()
    base = {"num_steps_sampled", "num_steps_trained", "wait_sample_time_s", "wait_replay_time_s", "push_time_s"}
    assert set(stats) == {*STATS_KEYS, *base, "learn_time_s", *opt.workers.stats()}
    assert stats["sampled_per_s"] > 0 and stats["trained_per_s"] > 0 and 0 < stats["learner_busy_fraction"] <= 1
    assert stats["shard_bytes"][0] > 0 and stats["num_shard_failures"] == 0
    state = opt.get_state()
    import json

    json.dumps(state)  # JSON-able
    _, fresh = _embedded()
    fresh.set_state(state)
    assert fresh.get_state() == state
    assert fresh.num_steps_sampled == 80 and fresh.num_learner_updates == opt.num_learner_updates
    assert fresh.stats()["shard_sizes"] == [0, 0]  # contents are not saved: refilled after a restore
    fresh.step()
    assert fresh.num_steps_trained == opt.num_steps_trained  # waits for learning_starts again (per shard)
    opt.stop()
    opt.stop()  # once


def test_step_after_stop_is_refused():
    _, opt = _embedded()
    opt.step()
    opt.stop()
    with pytest.raises(UnsupportedOperationError, match=r"ApexOptimizer: step\(\) after stop\(\)"):
        opt.step()


def test_run_on_learner_runs_under_the_lock():
    ev, opt = _embedded()
    assert opt.run_on_learner(lambda e: (e is ev, opt.lock.locked())) == (True, True)


def test_registered():
    from rlcore.registration import get_optimizer_class

    assert get_optimizer_class("ApexOptimizer") is ApexOptimizer


def test_embedded_never_imports_ray():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(TESTS)!r})\n"
        "from replay_toy import ReplayToyEvaluator\n"
        "from rlcore.registration import get_optimizer_class\n"
        "from rlcore.worker_set import WorkerSet\n"
        "cls = get_optimizer_class('ApexOptimizer')\n"
        "opt = cls(WorkerSet.from_evaluator(ReplayToyEvaluator()), {'num_replay_buffer_shards': 2,\n"
        "    'buffer_size': 1000, 'learning_starts': 100, 'train_batch_size': 16})\n"
        "for _ in range(5): opt.step()\n"
        "assert opt.num_steps_trained > 0\n"
        "opt.stop()\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
