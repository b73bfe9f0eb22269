"""ES's shared noise table: made once from a seed, sliced as views, indices that always fit, and the
bad input of its size (too small for the parameter count, more than the machine's memory)."""

from __future__ import annotations

import numpy as np
import pytest

from rl_algos.es.noise import NoiseTable, check_noise_size, noise_memory_problem
from rlcore.errors import ConfigError


def test_create_is_seeded_float32_standard_normal():
    a, b = NoiseTable.create(100_000, seed=123), NoiseTable.create(100_000, seed=123)
    assert a.array.dtype == np.float32 and a.size == 100_000
    np.testing.assert_array_equal(a.array, b.array)
    assert not np.array_equal(a.array, NoiseTable.create(100_000, seed=124).array)
    assert abs(float(a.array.mean())) < 0.02 and abs(float(a.array.std()) - 1.0) < 0.02


def test_get_is_a_view_and_refuses_slices_past_the_end():
    table = NoiseTable(np.arange(10, dtype=np.float32))
    view = table.get(3, 4)
    assert view.tolist() == [3.0, 4.0, 5.0, 6.0] and np.shares_memory(view, table.array)
    assert table.get(6, 4).tolist() == [6.0, 7.0, 8.0, 9.0]  # the last slice that fits
    with pytest.raises(IndexError, match=r"noise slice \[7, 11\) is outside the table of 10 values"):
        table.get(7, 4)
    with pytest.raises(IndexError, match="outside"):
        table.get(-1, 2)


def test_a_read_only_array_is_kept_not_copied():
    """A Ray object-store array arrives read-only: the table keeps it as it is."""
    array = np.arange(5, dtype=np.float32)
    array.flags.writeable = False
    table = NoiseTable(array)
    assert table.array is array and not table.get(0, 2).flags.writeable


def test_sample_index_covers_the_whole_range_and_always_fits():
    table = NoiseTable(np.zeros(10, np.float32))
    idx = table.sample_index(np.random.default_rng(0), dim=4, n=2000)
    assert idx.dtype == np.int64 and idx.shape == (2000,)
    assert idx.min() == 0 and idx.max() == 6  # [0, size - dim]
    assert table.sample_index(np.random.default_rng(0), dim=10, n=3).tolist() == [0, 0, 0]
    assert table.sample_index(np.random.default_rng(0), dim=4).shape == (1,)


def test_noise_size_smaller_than_the_parameter_count_names_both_numbers():
    with pytest.raises(ConfigError) as info:
        check_noise_size(1000, 4610)
    assert str(info.value) == (
        "ES config key 'noise_size' 1,000 is smaller than the policy's 4,610 acting parameters: each perturbation "
        "reads num_params consecutive values of the noise table; set noise_size to at least 4,610 (RLlib's default "
        "250,000,000; 10,000,000 is plenty for small models)"
    )
    check_noise_size(4610, 4610)  # exactly enough: one slice
    with pytest.raises(ConfigError, match="noise_size' 10 is smaller than the policy's 11 acting parameters"):
        NoiseTable(np.zeros(10, np.float32)).sample_index(np.random.default_rng(0), dim=11, n=1)


def test_noise_size_above_the_machines_memory():
    gb = 1024**3
    why = noise_memory_problem(2 * 10**9, memory=4 * gb)  # 8 GB of float32 on a 4 GiB machine
    assert why is not None and why.startswith(
        "would not fit in this machine's memory: 2,000,000,000 float32 values take 7.5 GiB, the machine has 4.0 GiB"
    )
    assert "at most about 1,073,741,824 values fit" in why
    assert noise_memory_problem(10**9, memory=4 * gb) is None  # exactly 4 GB... of 4 GiB: fits
    two = noise_memory_problem(10**9, memory=4 * gb, copies=2)  # the driver's array and Ray's object store
    assert two is not None and "1,000,000,000 float32 values x 2 copies" in two and "7.5 GiB" in two
    assert "at most about 536,870,912 values fit" in two
    with pytest.raises(ConfigError, match=r"^ES config key 'noise_size' would not fit in this machine's memory: "):
        NoiseTable.create(10**15, seed=0)  # 4 PB: more than any machine this runs on; refused before allocating


@pytest.mark.parametrize("size", [0, -5, 2.5, "10", True, None])
def test_create_refuses_a_size_that_is_not_a_positive_int(size):
    with pytest.raises(ConfigError, match=rf"'noise_size' must be an int >= 1; got {size!r}"):
        NoiseTable.create(size, seed=0)


@pytest.mark.parametrize(
    "array",
    [np.zeros(5, np.float64), np.zeros((2, 3), np.float32), np.zeros(0, np.float32)],
    ids=["float64", "2-d", "empty"],
)
def test_table_refuses_an_array_that_is_not_1d_float32(array):
    with pytest.raises(ConfigError, match="a noise table is a non-empty 1-d float32 array"):
        NoiseTable(array)
