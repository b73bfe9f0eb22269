"""Make the tests' helper modules (``toy``, ``replay_toy``, ``ray_faults``) importable (tests run with
--import-mode=importlib), and the Ray workers of the replay toy evaluator that the ApexOptimizer's
Ray tests share."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def replay_workers(request: pytest.FixtureRequest, ray_session: Any) -> Iterator[Any]:
    """Two Ray workers of ``ReplayToyEvaluator`` (10 rows a sample), one WorkerSet per test module.

    The toy modules and the test module itself (its lambdas) are pickled by value: Ray workers
    don't have the tests folder on their path.
    """
    import replay_toy
    import toy
    from ray import cloudpickle

    from rlcore.worker_set import WorkerSet

    for module in (toy, replay_toy, request.module):
        cloudpickle.register_pickle_by_value(module)
    ws = WorkerSet(replay_toy.ReplayToyEvaluator, None, {"rows": 10}, 2, num_cpus_per_worker=0.5)
    yield ws
    ws.stop()
