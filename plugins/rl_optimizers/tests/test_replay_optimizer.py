"""LocalSyncReplayOptimizer driven by a numpy evaluator that returns TD errors (no framework)."""

from __future__ import annotations

import numpy as np
import pytest
from replay_toy import ReplayToyEvaluator
from toy import TRUE_W

from rl_optimizers.replay import PrioritizedReplayBuffer, ReplayBuffer, ReplayError
from rl_optimizers.replay_optimizer import LocalSyncReplayOptimizer
from rlcore.errors import ConfigError
from rlcore.worker_set import WorkerSet


def make(rows: int = 10, td: object = "residual", **config):
    ev = ReplayToyEvaluator(config={"rows": rows, "td_error": td, "lr": 0.05})
    return ev, LocalSyncReplayOptimizer(WorkerSet.from_evaluator(ev), {"seed": 0, **config})


def test_learning_starts_is_respected():
    ev, opt = make(rows=10, learning_starts=35, train_batch_size=8, buffer_size=100)
    infos = [opt.step() for _ in range(3)]  # 10, 20, 30 rows: no learning
    assert infos == [{}, {}, {}]
    assert ev.calls["learn_on_batch"] == 0 and opt.num_steps_trained == 0
    info = opt.step()  # 40 rows >= 35
    assert ev.calls["learn_on_batch"] == 1 and opt.num_steps_trained == 8
    assert set(info) == {"loss", "adv_mean", "kl"}  # td_error stripped
    assert all(type(v) is float for v in info.values())


def test_training_waits_for_a_full_train_batch_even_with_learning_starts_zero():
    ev, opt = make(rows=10, learning_starts=0, train_batch_size=25, buffer_size=100)
    opt.step()
    opt.step()
    assert ev.calls["learn_on_batch"] == 0
    opt.step()
    assert ev.calls["learn_on_batch"] == 1


def test_counters_and_stats():
    _, opt = make(rows=16, learning_starts=32, train_batch_size=8, buffer_size=40, prioritized_replay=False)
    for _ in range(5):
        opt.step()
    s = opt.stats()
    assert s["num_steps_sampled"] == 80 and s["num_steps_trained"] == 4 * 8 and s["num_train_steps"] == 4
    assert s["buffer_size"] == 40 and s["buffer_capacity"] == 40 and s["buffer_bytes"] > 0
    assert {"sample_time_s", "replay_time_s", "learn_time_s", "update_priorities_time_s"} <= set(s)
    assert isinstance(opt.buffer, ReplayBuffer) and not isinstance(opt.buffer, PrioritizedReplayBuffer)
    state = opt.get_state()
    assert state == {"num_steps_sampled": 80, "num_steps_trained": 32}
    _, fresh = make()
    fresh.set_state(state)
    assert fresh.num_steps_sampled == 80 and len(fresh.buffer) == 0  # the buffer is not checkpointed


def test_priorities_become_abs_td_plus_eps():
    ev, opt = make(rows=20, td=-0.25, learning_starts=20, train_batch_size=6, buffer_size=50)
    buf = opt.buffer
    assert isinstance(buf, PrioritizedReplayBuffer)
    opt.step()
    replayed = np.unique(ev.batches[-1]["batch_indexes"])
    expected = (0.25 + 1e-6) ** 0.6
    np.testing.assert_allclose(buf.sum_tree[replayed], expected, rtol=1e-6)
    untouched = np.setdiff1d(np.arange(20), replayed)
    np.testing.assert_allclose(buf.sum_tree[untouched], 1.0)  # still the initial max priority
    assert "weights" in ev.batches[-1] and ev.batches[-1]["weights"].dtype == np.float32


def test_residual_priorities_follow_the_evaluator():
    ev, opt = make(rows=20, learning_starts=20, train_batch_size=8, buffer_size=50)
    opt.step()
    batch = ev.batches[-1]
    td = batch["obs"] @ np.zeros(3, np.float32) - batch["value_targets"]  # weights were 0 before learning
    last = {int(i): abs(float(t)) for i, t in zip(batch["batch_indexes"], td, strict=True)}
    for i, t in last.items():
        assert opt.buffer.sum_tree[i] == pytest.approx((t + 1e-6) ** 0.6, rel=1e-5)


def test_training_intensity_carries_fractions():
    ev, opt = make(rows=4, learning_starts=0, train_batch_size=8, buffer_size=100, training_intensity=1.0)
    for _ in range(10):  # 40 sampled rows, 1 replayed row per sampled row -> 5 train steps of 8
        opt.step()
    # the first step (4 rows < 8) cannot train; its owed half step is never counted
    assert ev.calls["learn_on_batch"] == 4
    ev2, opt2 = make(rows=10, learning_starts=0, train_batch_size=4, buffer_size=100, training_intensity=1.0)
    for _ in range(4):
        opt2.step()
    assert ev2.calls["learn_on_batch"] == 10  # 2.5 per round: 2, 3, 2, 3


def test_default_trains_once_per_step():
    ev, opt = make(rows=7, learning_starts=0, train_batch_size=7, buffer_size=100)
    for _ in range(3):
        opt.step()
    assert ev.calls["learn_on_batch"] == 3


def test_learns_the_toy_regression():
    ev, opt = make(rows=32, learning_starts=64, train_batch_size=32, buffer_size=1000, training_intensity=4.0)
    for _ in range(60):
        opt.step()
    np.testing.assert_allclose(ev.w, TRUE_W, atol=0.05)


def test_prioritized_without_td_error_says_what_to_do():
    _, opt = make(rows=10, td="none", learning_starts=10, train_batch_size=4, buffer_size=20)
    with pytest.raises(ReplayError, match="td_error"):
        opt.step()
    _, plain = make(
        rows=10, td="none", learning_starts=10, train_batch_size=4, buffer_size=20, prioritized_replay=False
    )
    assert set(plain.step()) == {"loss", "adv_mean", "kl"}


def test_non_finite_td_error_is_rejected():
    _, opt = make(rows=10, td=float("nan"), learning_starts=10, train_batch_size=4, buffer_size=20)
    with pytest.raises(ReplayError, match="finite"):
        opt.step()


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"learning_starts": 101, "buffer_size": 100}, "learning_starts .101. exceeds buffer_size .100."),
        ({"train_batch_size": 64, "buffer_size": 32, "learning_starts": 0}, "train_batch_size"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"learning_starts": -1}, "learning_starts"),
        ({"training_intensity": 0}, "training_intensity"),
        ({"prioritized_replay_alpha": -1.0}, "alpha"),
        ({"buffer_sz": 10}, "Did you mean 'buffer_size'"),
    ],
)
def test_bad_configs_are_rejected_at_construction(config, match):
    with pytest.raises(ConfigError, match=match):
        LocalSyncReplayOptimizer(WorkerSet.from_evaluator(ReplayToyEvaluator()), config)


def test_registered_as_a_lazy_target():
    from rlcore.registration import get_optimizer_class

    assert get_optimizer_class("LocalSyncReplayOptimizer") is LocalSyncReplayOptimizer
