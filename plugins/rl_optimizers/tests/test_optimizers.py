"""LocalSyncOptimizer and LocalMultiGPUOptimizer, driven with a numpy evaluator (no framework)."""

from __future__ import annotations

import numpy as np
import pytest
from toy import TRUE_W, ToyEvaluator

from rl_optimizers.common import mean_info, standardize_fields
from rl_optimizers.multi_gpu import LocalMultiGPUOptimizer
from rl_optimizers.sync import LocalSyncOptimizer
from rlcore.errors import ConfigError
from rlcore.sample_batch import SampleBatch
from rlcore.worker_set import WorkerSet


def test_sync_samples_enough_and_runs_the_epochs():
    ev = ToyEvaluator(config={"rows": 50})
    opt = LocalSyncOptimizer(
        WorkerSet.from_evaluator(ev), {"train_batch_size": 120, "num_sgd_iter": 3, "sgd_minibatch_size": 40, "seed": 0}
    )
    info = opt.step()
    assert ev.calls["sample"] == 3  # 150 rows >= 120
    assert ev.calls["learn_on_batch"] == 3 * 4  # ceil(150 / 40) minibatches per epoch
    assert ev.seen_rows == 3 * 150
    assert opt.stats()["num_steps_sampled"] == 150 and opt.stats()["num_steps_trained"] == 150
    assert set(info) == {"loss", "adv_mean", "kl"}


def test_sync_standardizes_over_the_whole_batch():
    ev = ToyEvaluator(config={"rows": 200})
    opt = LocalSyncOptimizer(
        WorkerSet.from_evaluator(ev), {"train_batch_size": 200, "standardize_fields": ["advantages"]}
    )
    info = opt.step()  # one minibatch = the whole batch: its advantages have mean 0
    assert abs(info["adv_mean"]) < 1e-5


def test_sync_learns():
    ev = ToyEvaluator(config={"rows": 64, "lr": 0.05})
    opt = LocalSyncOptimizer(
        WorkerSet.from_evaluator(ev), {"train_batch_size": 256, "num_sgd_iter": 5, "sgd_minibatch_size": 32, "seed": 1}
    )
    for _ in range(5):
        opt.step()
    np.testing.assert_allclose(ev.w, TRUE_W, atol=1e-2)


def test_unknown_optimizer_key_is_rejected():
    with pytest.raises(ConfigError, match="Did you mean 'num_sgd_iter'"):
        LocalSyncOptimizer(WorkerSet.from_evaluator(ToyEvaluator()), {"num_sgd_iters": 3})


def test_multi_gpu_loads_once_and_splits_minibatches_over_towers():
    ev = ToyEvaluator(config={"rows": 100, "num_cpu_towers": 2})
    opt = LocalMultiGPUOptimizer(
        WorkerSet.from_evaluator(ev), {"train_batch_size": 200, "num_sgd_iter": 4, "sgd_minibatch_size": 40, "seed": 0}
    )
    opt.step()
    assert ev.calls["load_batch"] == 1
    # 100 rows per tower, 20 per tower per step -> 5 steps per epoch
    assert ev.calls["learn_on_loaded_batch"] == 4 * 5
    assert ev.seen_rows == 4 * 200
    assert opt.stats()["num_steps_trained"] == 200


def test_multi_gpu_equals_sync_when_towers_see_the_same_rows():
    """Towers' averaged gradient on equal shares == one gradient on their union."""
    batch = ToyEvaluator(config={"rows": 64}).sample()
    one, two = ToyEvaluator(config={"num_cpu_towers": 1}), ToyEvaluator(config={"num_cpu_towers": 2})
    one.load_batch(batch)
    two.load_batch(batch)
    idx = np.arange(32)
    one.learn_on_loaded_batch(np.arange(64))
    two.learn_on_loaded_batch(idx)
    np.testing.assert_allclose(one.w, two.w, rtol=1e-5, atol=1e-6)


def test_multi_gpu_needs_the_capability():
    ev = ToyEvaluator()
    ev.capabilities = frozenset({"gradients"})
    with pytest.raises(ConfigError, match="multi_device"):
        LocalMultiGPUOptimizer(WorkerSet.from_evaluator(ev), {})


class RecurrentToy(ToyEvaluator):
    """Batches with a seq_lens column, as a recurrent policy's (sequences of 5 rows)."""

    def sample(self) -> SampleBatch:
        batch = super().sample()
        batch["seq_lens"] = np.where(np.arange(batch.count) % 5 == 0, 5, 0).astype(np.int32)
        return batch


def test_multi_gpu_refuses_recurrent_sequences():
    ev = RecurrentToy(config={"rows": 20})
    opt = LocalMultiGPUOptimizer(WorkerSet.from_evaluator(ev), {"train_batch_size": 20, "sgd_minibatch_size": 10})
    with pytest.raises(ConfigError) as info:
        opt.step()
    assert str(info.value) == (
        "LocalMultiGPUOptimizer does not split recurrent sequences across devices (the batch has a 'seq_lens' "
        "column: the policy uses model.use_lstm); use LocalSyncOptimizer (simple_optimizer: true), whose "
        "minibatches keep each sequence whole"
    )
    assert ev.calls["load_batch"] == 0 and not ev.w.any()  # nothing loaded, nothing learned


def test_collect_metrics_from_local():
    opt = LocalSyncOptimizer(WorkerSet.from_evaluator(ToyEvaluator()), {})
    assert [m.episode_reward for m in opt.collect_metrics()] == [0.0]


def test_helpers():
    b = SampleBatch(advantages=np.array([1.0, 2.0, 3.0]), x=np.array([1, 2, 3]))
    standardize_fields(b, ["advantages", "missing"])
    assert abs(b["advantages"].mean()) < 1e-6 and abs(b["advantages"].std() - 1) < 1e-5
    assert mean_info([{"a": 1.0, "s": "x"}, {"a": 3.0, "s": "y"}]) == {"a": 2.0, "s": "y"}
    assert mean_info([]) == {}


def test_optimizer_state_round_trip():
    opt = LocalSyncOptimizer(WorkerSet.from_evaluator(ToyEvaluator()), {"train_batch_size": 10})
    opt.step()
    other = LocalSyncOptimizer(WorkerSet.from_evaluator(ToyEvaluator()), {})
    other.set_state(opt.get_state())
    assert other.stats()["num_steps_sampled"] == opt.stats()["num_steps_sampled"] == 50
