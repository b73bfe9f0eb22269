"""ES's shared noise table: ``noise_size`` standard-normal float32 values made once from a seed.

Every perturbation ``eps_i`` is ``num_params`` consecutive values of the table starting at a random
index (OpenAI starter's ``SharedNoiseTable``, RLlib 2018's ``create_shared_noise``), so a worker
returns an index instead of a vector. The trainer makes the table once on the driver and puts it
in Ray's object store once; the workers read it zero-copy (a read-only view), never copying it.
"""

from __future__ import annotations

import numpy as np

from rlcore.errors import ConfigError

#: Bytes per value of the table (float32).
BYTES_PER_VALUE = 4


def noise_memory_problem(size: int, memory: int | None = None, copies: int = 1) -> str | None:
    """Why ``copies`` tables of ``size`` float32 values cannot fit in ``memory`` bytes (default:
    this machine's physical memory), as the end of "config key 'noise_size' ...": ``"would not fit
    in this machine's memory: ..."``; None when they fit or the memory is unknown. With remote
    workers the table is held twice on the driver's machine: the driver's array and its copy in
    Ray's object store (shared memory), which the workers map."""
    from rlcore.models.layout import physical_memory_bytes

    memory = physical_memory_bytes() if memory is None else memory
    need = int(size) * BYTES_PER_VALUE * copies
    if memory is None or need <= memory:
        return None
    gb = 1024**3
    held = "" if copies == 1 else f" x {copies} copies (the driver's array and Ray's object store)"
    return (
        f"would not fit in this machine's memory: {int(size):,} float32 values{held} take {need / gb:.1f} GiB, the "
        f"machine has {memory / gb:.1f} GiB. Lower noise_size (at most about "
        f"{memory // (BYTES_PER_VALUE * copies):,} values fit, leave room for the rest; 10,000,000 is plenty for "
        "small models)"
    )


def check_noise_size(size: int, num_params: int) -> None:
    """Raise :class:`~rlcore.errors.ConfigError` naming both numbers when a table of ``size`` values
    cannot hold one perturbation of ``num_params`` values (each reads ``num_params`` consecutive ones).
    ``num_params`` counts the policy's acting parameters (its flat vector: the value branch of the
    catalog models is not perturbed)."""
    if int(size) < int(num_params):
        raise ConfigError(
            f"ES config key 'noise_size' {int(size):,} is smaller than the policy's {int(num_params):,} acting "
            "parameters: "
            "each perturbation reads num_params consecutive values of the noise table; set noise_size to at least "
            f"{int(num_params):,} (RLlib's default 250,000,000; 10,000,000 is plenty for small models)"
        )


class NoiseTable:
    """A 1-d float32 noise table (a view is kept, never a copy: a Ray object-store array stays shared).

    Raises :class:`~rlcore.errors.ConfigError` for an array that is not 1-d float32 or is empty.
    """

    def __init__(self, array: np.ndarray) -> None:
        array = np.asarray(array)
        if array.ndim != 1 or array.dtype != np.float32 or array.size == 0:
            raise ConfigError(
                f"a noise table is a non-empty 1-d float32 array; got {array.dtype} of shape {array.shape}"
            )
        self.array = array

    @classmethod
    def create(cls, size: int, seed: int) -> NoiseTable:
        """``size`` standard-normal float32 values from ``np.random.default_rng(seed)``. Raises
        :class:`~rlcore.errors.ConfigError` when ``size`` is not a positive int or the table would
        not fit in this machine's memory (naming noise_size)."""
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ConfigError(f"ES config key 'noise_size' must be an int >= 1; got {size!r}")
        problem = noise_memory_problem(int(size))
        if problem is not None:
            raise ConfigError(f"ES config key 'noise_size' {problem}: got {int(size)}")
        rng = np.random.default_rng(seed)
        return cls(rng.standard_normal(int(size), dtype=np.float32))

    @property
    def size(self) -> int:
        """The number of values."""
        return int(self.array.size)

    def get(self, i: int, dim: int) -> np.ndarray:
        """The ``dim`` values from index ``i`` (a view). Raises ``IndexError`` past the end."""
        if i < 0 or i + dim > self.array.size:
            raise IndexError(f"noise slice [{i}, {i + dim}) is outside the table of {self.array.size} values")
        return self.array[i : i + dim]

    def sample_index(self, rng: np.random.Generator, dim: int, n: int | None = None) -> np.ndarray:
        """``n`` start indices (int64 ``[n]``) uniform in ``[0, size - dim]``, so that every slice of
        ``dim`` values fits. Raises :class:`~rlcore.errors.ConfigError` (:func:`check_noise_size`)
        when ``dim`` exceeds the table."""
        check_noise_size(self.size, dim)
        count = 1 if n is None else int(n)
        return rng.integers(0, self.size - dim + 1, size=count, dtype=np.int64)
