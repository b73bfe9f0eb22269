"""Review of issue 15's ES (core + rl_algos, numpy, no Ray): faults found after the change landed."""

from __future__ import annotations

import tracemalloc

import numpy as np

from rl_algos.es import NoiseTable, es_gradient


def test_es_gradient_stacks_at_most_max_bytes_of_noise_at_once():
    """The gradient's weighted sum stacks noise slices in groups; a group is bounded in bytes as well
    as in count (RLlib's 500 slices of the default 134,915-parameter model are 270 MB at once)."""
    dim, pairs = 10_000, 100  # all stacked at once: 4 MB
    noise = NoiseTable.create(200_000, 0)
    rng = np.random.default_rng(1)
    idx = noise.sample_index(rng, dim, pairs)
    pos, neg = rng.standard_normal(pairs), rng.standard_normal(pairs)
    full = es_gradient(noise, idx, pos, neg, dim)
    tracemalloc.start()
    try:
        bounded = es_gradient(noise, idx, pos, neg, dim, max_bytes=400_000)  # 10 slices a group
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_500_000, f"peak {peak:,} bytes for max_bytes 400,000"
    np.testing.assert_allclose(bounded, full, rtol=1e-5, atol=1e-6)
