"""The driver of an ES run with remote workers holds the noise table once: the object store's
read-only copy that every worker reads, not a private array beside it."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.ray


def test_driver_reads_the_object_store_copy_of_the_noise_table(ray_session: object) -> None:
    from rl_algos.es import ES

    trainer = ES(
        {"num_workers": 1, "noise_size": 200_000, "episodes_per_batch": 4, "train_batch_size": 10, "seed": 0},
        env="CartPole-v1",
    )
    try:
        table = trainer.noise.array
        assert not table.flags.writeable and not table.flags.owndata  # a view of the shared copy
        expected = np.random.default_rng(0).standard_normal(200_000, dtype=np.float32)
        np.testing.assert_array_equal(table, expected)
        result = trainer.train()
        assert result["perturbed_episodes_this_iter"] >= 4
    finally:
        trainer.stop()


def test_embedded_driver_keeps_its_own_array() -> None:
    from rl_algos.es import ES

    trainer = ES(
        {"num_workers": 0, "noise_size": 1000, "episodes_per_batch": 2, "model": {"fcnet_hiddens": []}},
        env="CartPole-v1",
    )
    try:
        assert trainer.noise_ref is trainer.noise.array and trainer.noise.array.flags.owndata
    finally:
        trainer.stop()
