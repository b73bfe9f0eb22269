"""The WorkerSet: embedded (no Ray), and with two Ray actors (foreach, the task pool, weights,
put, filters, and dead actors recreated with the current weights while their tasks are counted)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

from rlcore.errors import ConfigError
from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.optimizer import PolicyOptimizer, Timers
from rlcore.sample_batch import SampleBatch
from rlcore.worker_set import AsyncTaskPool, TaskResult, WorkerCrashedError, WorkerSet


class Counter(PolicyEvaluator):
    """The bare contract: only the abstract methods, every optional part left at its default."""

    def __init__(self, env_creator: Any, config: dict[str, Any], worker_index: int = 0, *, offset: float = 0.0):
        self.worker_index = worker_index
        self.rows = int(config.get("rows", 4))
        self.offset = offset
        self.w = np.zeros(2, np.float32)
        self.global_vars: dict[str, Any] = {}
        if config.get("fail_remote_init") and worker_index > 0:
            raise RuntimeError("no env on this worker")

    def sample(self) -> SampleBatch:
        return SampleBatch(obs=np.full((self.rows, 2), self.worker_index, np.float32), eps_id=np.zeros(self.rows))

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        return np.zeros(len(obs), np.int64)

    def compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"w": np.ones(2, np.float32)}, {"loss": 0.0}

    def apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        self.w = self.w - grads["w"]

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"w": self.w.copy()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.w = np.array(weights["w"], np.float32)

    def get_metrics(self) -> list[EpisodeMetrics]:
        return [EpisodeMetrics(float(self.worker_index), 1)]

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        self.global_vars.update(global_vars)

    # test helpers, called by name
    def index(self) -> int:
        return self.worker_index

    def work(self, seconds: float, value: Any = None) -> tuple[int, Any]:
        time.sleep(seconds)
        return self.worker_index, value

    def boom(self) -> None:
        raise ValueError("boom in the worker")

    def peek(self) -> dict[str, Any]:
        return {"w": self.w.copy(), "global_vars": dict(self.global_vars), "offset": self.offset}


class Filtered(Counter):
    """With an observation "filter": a running count, buffered per worker and merged by the local one."""

    def __init__(self, env_creator: Any, config: dict[str, Any], worker_index: int = 0, **kw: Any):
        super().__init__(env_creator, config, worker_index, **kw)
        self.count = 0
        self.buffer = 0

    def sample(self) -> SampleBatch:
        batch = super().sample()
        self.buffer += batch.count
        return batch

    def get_filters(self, flush_after: bool = False) -> dict[str, Any]:
        out = {"state": {"count": self.count + self.buffer}, "buffer": {"count": self.buffer}}
        if flush_after:
            self.buffer = 0
        return out

    def sync_filters(self, state: dict[str, Any]) -> None:
        self.count, self.buffer = int(state["count"]), 0

    def merge_filter_buffers(self, buffers: list[dict[str, Any]]) -> None:
        self.count += sum(int(b["count"]) for b in buffers)

    def get_state(self) -> dict[str, Any]:
        return {"weights": self.get_weights(), "filter": {"count": self.count}, "restored": True}

    def set_state(self, state: dict[str, Any]) -> None:
        self.set_weights(state["weights"])
        self.count = int(state["filter"]["count"])
        self.global_vars["restored"] = state.get("restored", False)


def double_offset(ev: Counter, factor: float) -> float:
    return ev.offset * factor


def table_sum(ev: Counter, table: np.ndarray) -> float:
    return float(table.sum()) + ev.worker_index


# ------------------------------------------------------------------------------------------ embedded
def test_embedded_set_has_no_remote_workers_and_runs_everything_locally():
    ws = WorkerSet(Counter, None, {"rows": 3}, 0, evaluator_kwargs={"offset": 2.0})
    assert ws.local_evaluator.worker_index == 0 and ws.local_evaluator.offset == 2.0
    assert ws.remote_evaluators == [] and ws.num_remote == 0 and ws.remote_worker_indices == []
    assert ws.foreach_worker("index") == [0]
    assert ws.foreach_worker(double_offset, 3.0) == [6.0]
    assert ws.foreach_worker("index", local=False) == []
    assert ws.foreach_worker_with_index("index") == [(0, 0)]
    table = np.arange(4.0)
    assert ws.put(table) is table
    ws.sync_weights()  # nothing to push to
    ws.sync_filters()  # nothing to sync
    ws.set_global_vars({"timestep": 5})
    assert ws.local_evaluator.global_vars == {"timestep": 5}
    ws.set_state({"weights": {"w": np.ones(2, np.float32)}})
    np.testing.assert_array_equal(ws.local_evaluator.w, 1.0)
    assert ws.stats() == {
        "num_remote_workers": 0,
        "num_worker_failures": 0,
        "num_dropped_tasks": 0,
        "num_tasks_in_flight": 0,
    }
    ws.stop()
    ws.stop()  # once is enough; twice does nothing


def test_tasks_on_worker_zero_run_now_and_wait_in_the_pool():
    ws = WorkerSet(Counter, None, {}, 0)
    ws.submit(0, "work", 0.0, "a", tag="first")
    ws.submit(0, table_sum, np.ones(3))
    assert ws.num_in_flight() == 2 and ws.num_in_flight(0) == 2
    first = ws.completed(max_results=1)
    assert first == [TaskResult(0, "work", (0, "a"), tag="first")] and first[0].ok
    assert [(r.name, r.result) for r in ws.completed(timeout=0)] == [("table_sum", 3.0)]
    assert ws.completed() == [] and ws.num_in_flight() == 0
    with pytest.raises(ValueError, match="boom in the worker"):
        ws.submit(0, "boom")
    with pytest.raises(IndexError, match="no remote worker 1"):
        ws.submit(1, "index")


def test_from_evaluator_wraps_one_built_already():
    ev = Counter(None, {}, 0)
    ws = WorkerSet.from_evaluator(ev)
    assert ws.local_evaluator is ev and ws.num_remote == 0
    assert ws.foreach_worker("get_metrics") == [[EpisodeMetrics(0.0, 1)]]


def test_bad_num_workers_is_a_config_error():
    with pytest.raises(ConfigError, match="num_workers must be an integer >= 0"):
        WorkerSet(Counter, None, {}, -1)


def test_an_embedded_set_never_imports_ray():
    code = (
        "import sys, numpy as np\n"
        "from rlcore.worker_set import WorkerSet\n"
        "from rlcore.evaluator import PolicyEvaluator\n"
        "class E(PolicyEvaluator):\n"
        "    def __init__(self, c, cfg, i=0): self.w = np.zeros(1)\n"
        "    def sample(self): raise NotImplementedError\n"
        "    def compute_actions(self, obs, explore=False): return obs\n"
        "    def compute_gradients(self, b): return {}, {}\n"
        "    def apply_gradients(self, g): pass\n"
        "    def get_weights(self): return {'w': self.w}\n"
        "    def set_weights(self, w): pass\n"
        "ws = WorkerSet(E, None, {}, 0)\n"
        "ws.sync_weights(); ws.sync_filters(); ws.set_global_vars({}); ws.put(1)\n"
        "ws.submit(0, 'get_weights'); ws.completed(); ws.foreach_worker('get_metrics'); ws.stop()\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_timers_add_up_per_phase():
    timers = Timers("sample")
    assert timers.stats() == {"sample_time_s": 0.0}
    with timers("learn"):
        time.sleep(0.01)
    with pytest.raises(RuntimeError), timers("learn"):
        raise RuntimeError("a phase that raises still counts")
    assert timers.counts == {"sample": 0, "learn": 2}
    assert timers.stats()["learn_time_s"] >= 0.01


def test_an_optimizer_takes_a_worker_set():
    class Noop(PolicyOptimizer):
        def step(self) -> dict[str, Any]:
            with self.timers("sample"):
                self.num_steps_sampled += self.local_evaluator.sample().count
            return {}

    ev = Counter(None, {}, 0)
    opt = Noop(WorkerSet.from_evaluator(ev), {})
    opt.step()
    assert opt.local_evaluator is ev and opt.remote_evaluators == []
    assert opt.stats()["num_steps_sampled"] == 4 and "sample_time_s" in opt.stats()
    assert opt.collect_metrics() == [EpisodeMetrics(0.0, 1)]
    with pytest.raises(TypeError, match=r"takes a WorkerSet.*from_evaluator"):
        Noop(ev, {})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ Ray
@pytest.fixture
def by_value(ray_session: Any) -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[Counter.__module__])  # tests are not importable there


@pytest.fixture
def ws(by_value: None):
    workers = WorkerSet(Counter, None, {"rows": 4}, 2, evaluator_kwargs={"offset": 1.5}, num_cpus_per_worker=0.5)
    yield workers
    workers.stop()


def _kill(actor: Any) -> None:
    """Kill an actor and wait until it is dead (``ray.kill`` only asks)."""
    import ray
    from ray.exceptions import RayActorError

    ray.kill(actor)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=10)
        except RayActorError:
            return
        time.sleep(0.05)
    raise AssertionError("the actor did not die")


def _remote(ws: WorkerSet, i: int, method: str, *args: Any) -> Any:
    import ray

    return ray.get(getattr(ws.remote_evaluators[i - 1], method).remote(*args))


@pytest.mark.ray
def test_foreach_worker_in_order_with_methods_functions_and_put(ws: WorkerSet):
    assert ws.num_remote == 2 and ws.remote_worker_indices == [1, 2]
    assert ws.foreach_worker("index") == [0, 1, 2]
    assert ws.foreach_worker("index", local=False, to=[2]) == [2]
    assert ws.foreach_worker(double_offset, 2.0) == [3.0, 3.0, 3.0]  # evaluator_kwargs reached every worker
    table = ws.put(np.arange(10.0))  # the object store holds it once; each worker gets it resolved
    assert ws.foreach_worker(table_sum, table) == [45.0, 46.0, 47.0]
    assert [b.count for b in ws.foreach_worker("sample", local=False)] == [4, 4]
    with pytest.raises(IndexError, match=r"remote workers are 1\.\.2"):
        ws.foreach_worker("index", to=[3])
    with pytest.raises(ValueError, match="boom in the worker"):
        ws.foreach_worker("boom", local=False)


@pytest.mark.ray
def test_sync_weights_to_all_or_some(ws: WorkerSet):
    ws.local_evaluator.w[:] = 7.0
    ws.sync_weights(to=[2])
    assert _remote(ws, 1, "peek")["w"].tolist() == [0.0, 0.0]
    assert _remote(ws, 2, "peek")["w"].tolist() == [7.0, 7.0]
    ws.sync_weights({"w": np.full(2, 3.0, np.float32)})
    assert [p["w"].tolist() for p in ws.foreach_worker("peek", local=False)] == [[3.0, 3.0], [3.0, 3.0]]


@pytest.mark.ray
def test_the_pool_returns_the_first_to_finish_first_and_takes_resubmissions(ws: WorkerSet):
    ws.submit(1, "work", 1.0, "slow")
    ws.submit(2, "work", 0.0, "fast")
    first = ws.completed()
    assert [(r.worker_index, r.result) for r in first] == [(2, (2, "fast"))]
    assert ws.num_in_flight() == 1 and ws.num_in_flight(1) == 1
    assert ws.completed(timeout=0) == []  # the slow one is still running

    # A3C's loop: one task per worker in flight, each result resubmitted to the worker that sent it.
    done = {1: 0, 2: 0}
    ws.submit(2, "work", 0.05, 0)
    while sum(done.values()) < 6:
        for r in ws.completed(timeout=10):
            assert r.ok
            done[r.worker_index] += 1
            if sum(done.values()) + ws.num_in_flight() < 6:
                ws.submit(r.worker_index, "work", 0.05, r.worker_index)
    assert ws.num_in_flight() == 0
    assert done[1] >= 1 and done[2] >= 2  # the fast worker did more rounds while the slow task ran


@pytest.mark.ray
def test_a_task_that_raises_raises_and_the_other_results_wait(ws: WorkerSet):
    ws.submit(1, "boom")
    ws.submit(2, "work", 0.0, "kept")
    time.sleep(1.0)
    with pytest.raises(ValueError, match="boom in the worker"):
        ws.completed()
    assert [r.result for r in ws.completed(timeout=0)] == [(2, "kept")]
    assert ws.num_failures == 0


@pytest.mark.ray
def test_completed_returns_raised_tasks_when_asked(ws: WorkerSet):
    """raise_errors=False: the raising task comes back with its worker, tag and the unwrapped error."""
    ws.submit(1, "boom", tag=7)
    ws.submit(2, "work", 0.0, "kept")
    results = {r.worker_index: r for r in _drain(ws, 2, raise_errors=False)}
    bad, good = results[1], results[2]
    assert good.ok and not good.raised and good.result == (2, "kept")
    assert not bad.ok and bad.raised and bad.tag == 7 and bad.result is None
    assert type(bad.error) is ValueError and str(bad.error) == "boom in the worker"
    notes = "".join(bad.error.__notes__)
    assert "(raised in remote worker 1" in notes and "remote traceback:" in notes
    assert ws.num_failures == 0 and ws.num_dropped_tasks == 0 and ws.num_in_flight() == 0
    ws.submit(1, "index")  # the worker that raised is alive and answers
    assert [r.result for r in ws.completed(timeout=30)] == [1]
    ws.submit(1, "boom")  # the default is unchanged: it raises
    with pytest.raises(ValueError, match="boom in the worker"):
        _drain(ws, 1)


@pytest.mark.ray
def test_a_killed_actor_is_recreated_with_the_current_weights_and_its_task_counted(ws: WorkerSet):

    ws.set_global_vars({"kl_coeff": 0.3})
    ws.sync_weights()
    ws.local_evaluator.w[:] = 5.0  # learned since the last push: "current" is the local evaluator's
    old = ws.remote_evaluators[0]
    _kill(old)
    ws.submit(1, "work", 0.0, "lost", tag="t")
    ws.submit(2, "work", 0.0, "fine")
    results = {r.worker_index: r for r in _drain(ws, 2)}
    assert results[2].ok and results[2].result == (2, "fine")
    lost = results[1]
    assert not lost.ok and lost.tag == "t" and lost.result is None
    from ray.exceptions import RayActorError

    assert isinstance(lost.error, RayActorError)
    assert ws.num_failures == 1 and ws.num_dropped_tasks == 1
    assert ws.remote_evaluators[0] is not old
    peek = _remote(ws, 1, "peek")
    assert peek["w"].tolist() == [5.0, 5.0] and peek["global_vars"] == {"kl_coeff": 0.3} and peek["offset"] == 1.5
    ws.submit(1, "index")  # resubmitted to the same index: the new actor answers
    assert [r.result for r in ws.completed(timeout=30)] == [1]

    # The synchronous path: a dead worker has no result this time, is recreated, and answers next time.
    _kill(ws.remote_evaluators[1])
    assert ws.foreach_worker("index") == [0, 1]
    assert ws.foreach_worker_with_index("index", local=False) == [(1, 1), (2, 2)]
    assert ws.num_failures == 2 and ws.num_dropped_tasks == 2
    assert ws.stats()["num_worker_failures"] == 2


@pytest.mark.ray
def test_a_death_seen_by_a_sync_call_drops_the_workers_pool_tasks(ws: WorkerSet):

    ws.submit(1, "work", 30.0)
    _kill(ws.remote_evaluators[0])
    ws.sync_weights()  # sees worker 1 dead first: recreates it, its pool task comes back failed
    (r,) = ws.completed(timeout=0)
    assert (r.worker_index, r.ok) == (1, False)
    assert ws.num_failures == 1 and ws.num_dropped_tasks == 2  # set_weights and the pooled task


def _drain(ws: WorkerSet, n: int, *, raise_errors: bool = True) -> list[TaskResult]:
    out: list[TaskResult] = []
    deadline = time.monotonic() + 60
    while len(out) < n and time.monotonic() < deadline:
        out.extend(ws.completed(timeout=10, raise_errors=raise_errors))
    return out


@pytest.mark.ray
def test_filters_sync_and_recreated_workers_get_filter_and_restored_state(by_value: None):

    ws = WorkerSet(Filtered, None, {"rows": 4}, 2, num_cpus_per_worker=0.5)
    try:
        ws.foreach_worker("sample", local=False)
        ws.sync_filters()
        assert ws.local_evaluator.count == 8
        assert [s["state"]["count"] for s in ws.foreach_worker("get_filters")] == [8, 8, 8]
        ws.set_state({"weights": {"w": np.full(2, 2.0, np.float32)}, "filter": {"count": 100}}, local=False)
        ws.local_evaluator.w[:] = 9.0
        _kill(ws.remote_evaluators[1])
        ws.sync_filters()  # worker 2 dies here and comes back
        assert ws.num_failures == 1
        peek = _remote(ws, 2, "peek")
        assert peek["w"].tolist() == [9.0, 9.0]  # the restored state first, then the current weights
        assert peek["global_vars"] == {"restored": False}  # set_state ran on the new actor
        assert _remote(ws, 2, "get_filters")["state"]["count"] == 8  # the local (current) filter
    finally:
        ws.stop()


@pytest.mark.ray
def test_the_bare_contract_needs_no_filter_methods(ws: WorkerSet):
    ws.foreach_worker("sample", local=False)
    ws.sync_filters()  # get_filters() is {} everywhere: nothing to merge or send
    ws.set_state({"weights": {"w": np.ones(2, np.float32)}})
    assert [p["w"].tolist() for p in ws.foreach_worker("peek")] == [[1.0, 1.0]] * 3


@pytest.mark.ray
def test_without_recreation_a_dead_worker_is_an_error(by_value: None):

    ws = WorkerSet(Counter, None, {}, 1, num_cpus_per_worker=0.5, recreate_failed=False)
    try:
        _kill(ws.remote_evaluators[0])
        with pytest.raises(WorkerCrashedError) as info:
            ws.foreach_worker("index")
        assert str(info.value) == (
            "remote worker 1 (Counter) died (it was killed by `ray.kill`); recreate_failed_workers is false: "
            "set it to true to replace dead workers"
        )
        assert ws.num_failures == 1
    finally:
        ws.stop()


@pytest.mark.ray
def test_a_worker_whose_constructor_raises_raises_that_error(by_value: None):
    """Not a death to retry: the constructor's own exception, as an embedded build would raise it."""
    with pytest.raises(RuntimeError) as info:
        WorkerSet(Counter, None, {"fail_remote_init": True}, 1, num_cpus_per_worker=0.5)
    assert type(info.value) is RuntimeError and str(info.value) == "no env on this worker"
    assert "(raised in remote worker 1 (Counter)" in info.value.__notes__[0]


@pytest.mark.ray
def test_a_standalone_pool_over_any_actors(by_value: None):
    import ray

    @ray.remote(num_cpus=0.1)
    class Shard:
        def add(self, x: int) -> int:
            return x + 1

    died: list[int] = []
    pool = AsyncTaskPool(on_actor_died=lambda i, actor, err: died.append(i))
    shards = [Shard.remote() for _ in range(2)]
    for i, shard in enumerate(shards):
        pool.submit(i, shard, "add", i * 10, tag=f"shard{i}")
    got = sorted((r.worker_index, r.result, r.tag) for r in _drain_pool(pool, 2))
    assert got == [(0, 1, "shard0"), (1, 11, "shard1")]
    _kill(shards[1])
    pool.submit(1, shards[1], "add", 0)
    (r,) = _drain_pool(pool, 1)
    assert not r.ok and died == [1]
    with pytest.raises(ValueError, match="max_results"):
        pool.completed(max_results=0)


def _drain_pool(pool: AsyncTaskPool, n: int) -> list[TaskResult]:
    out: list[TaskResult] = []
    deadline = time.monotonic() + 60
    while len(out) < n and time.monotonic() < deadline:
        out.extend(pool.completed(timeout=10))
    return out


def test_a_recreated_worker_gets_a_seed_of_its_own():
    """A replacement must not replay the episodes its predecessor sampled: seed + 104729 * generation."""

    class FakeActorClass:
        @staticmethod
        def remote(env_creator, config, index, **kwargs):
            return (index, config["seed"])

    ws = WorkerSet.__new__(WorkerSet)
    ws._setup_bookkeeping()
    ws._actor_cls, ws.config, ws.env_creator, ws.evaluator_kwargs = FakeActorClass, {"seed": 7}, None, {}
    assert ws._make(1) == (1, 7)
    ws._generations[1] = 2
    assert ws._make(1) == (1, 7 + 2 * 104729) and ws._make(2) == (2, 7)
    ws.config = {"seed": None}
    assert ws._make(1) == (1, None)
