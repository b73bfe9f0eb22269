"""A tiny numpy evaluator for optimizer tests: linear regression on synthetic rows.

It implements the whole contract, including the multi-device pair (``load_batch`` and
``learn_on_loaded_batch``) with numpy "towers", so the optimizers are tested without a framework.
Faults on demand for the AsyncOptimizer's tests (:meth:`ToyEvaluator.set_faults`, at run time,
in a worker through ``foreach_worker("set_faults", ...)``): ``grad_sleep_s`` (seconds
``compute_gradients`` takes), ``raise_times`` (how many of the next calls of ``raise_in``,
``"compute_gradients"`` or ``"sample"``, raise ``error``; -1: all), ``nan_grads`` (return NaN
gradients with a NaN ``policy_loss`` in the info).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from rlcore.errors import EnvError, GradientError, NonFiniteLossError
from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.sample_batch import SampleBatch

TRUE_W = np.array([1.0, -2.0, 0.5], dtype=np.float32)


class ToyEvaluator(PolicyEvaluator):
    """Samples ``rows`` rows of ``obs -> value_targets`` and fits a linear model by SGD."""

    capabilities = frozenset({"gradients", "remote", "multi_device"})

    def __init__(self, env_creator: Any = None, config: dict[str, Any] | None = None, worker_index: int = 0):
        config = config or {}
        self.rng = np.random.default_rng(config.get("seed", 0) + worker_index)
        self.rows = config.get("rows", 50)
        self.lr = config.get("lr", 0.1)
        self.num_devices = config.get("num_cpu_towers", 1)
        self.w = np.zeros(3, dtype=np.float32)
        self.calls: dict[str, int] = {"sample": 0, "learn_on_batch": 0, "load_batch": 0, "learn_on_loaded_batch": 0}
        self.seen_rows = 0
        self.worker_index = worker_index
        self.global_vars: dict[str, Any] = {}
        self._loaded: list[SampleBatch] = []
        self.history: list[np.ndarray] = []  # the weights each compute_gradients call used
        self.applied: list[np.ndarray] = []  # the weights after each apply_gradients call
        self.set_faults()

    def set_faults(
        self,
        grad_sleep_s: float = 0.0,
        raise_times: int = 0,
        nan_grads: bool = False,
        raise_in: str = "compute_gradients",
        error: str = "ValueError",
        grads_out: str = "",
    ) -> None:
        self.grad_sleep_s, self.raise_times, self.nan_grads = grad_sleep_s, raise_times, nan_grads
        self.raise_in, self.error = raise_in, error
        self.grads_out = grads_out  # "wrong_shape": a gradient of 5 weights; "bare": the dict alone

    def _maybe_raise(self, where: str) -> None:
        if not self.raise_times or where != self.raise_in:
            return
        self.raise_times -= 1
        if self.error == "NonFiniteLossError":  # as a first-party policy refuses a NaN loss
            raise NonFiniteLossError(
                "ToyEvaluator: the loss term 'policy_loss' is nan. No gradients were returned; nothing was applied."
            )
        if self.error == "EnvError":
            raise EnvError(f"env 'Toy-v0' of worker {self.worker_index} returned a non-finite reward nan")
        raise ValueError(f"boom in {where} of worker {self.worker_index}")

    def sample(self) -> SampleBatch:
        self.calls["sample"] += 1
        self._maybe_raise("sample")
        x = self.rng.standard_normal((self.rows, 3)).astype(np.float32)
        adv = self.rng.normal(5.0, 3.0, self.rows).astype(np.float32)
        return SampleBatch(
            obs=x, value_targets=x @ TRUE_W, advantages=adv, eps_id=np.full(self.rows, self.worker_index)
        )

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        return np.asarray(obs, np.float32) @ self.w

    def _grad(self, batch: SampleBatch) -> tuple[np.ndarray, float]:
        err = batch["obs"] @ self.w - batch["value_targets"]
        return (2 * batch["obs"].T @ err / batch.count).astype(np.float32), float((err**2).mean())

    def compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        self.history.append(self.w.copy())
        time.sleep(self.grad_sleep_s)
        self._maybe_raise("compute_gradients")
        g, loss = self._grad(batch)
        if self.nan_grads:
            return {"w": np.full(3, np.nan, np.float32)}, {"policy_loss": float("nan"), "vf_loss": 0.3, "loss": np.nan}
        if self.grads_out == "wrong_shape":
            return {"w": np.zeros(5, np.float32)}, {"loss": loss}
        if self.grads_out == "bare":
            return {"w": g}  # type: ignore[return-value]
        return {"w": g}, {"loss": loss, "adv_mean": float(batch["advantages"].mean()), "kl": 0.0}

    def apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        if set(grads) != {"w"} or np.shape(grads["w"]) != self.w.shape:  # as ModelPolicy's check_gradients
            raise GradientError(f"ToyEvaluator.apply_gradients: the gradients do not fit the weights: {grads!r}")
        self.w = self.w - self.lr * grads["w"]
        self.applied.append(self.w.copy())

    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        self.calls["learn_on_batch"] += 1
        self.seen_rows += batch.count
        return super().learn_on_batch(batch)

    def load_batch(self, batch: SampleBatch) -> int:
        self.calls["load_batch"] += 1
        per = batch.count // self.num_devices
        self._loaded = [batch.slice(i * per, (i + 1) * per).copy() for i in range(self.num_devices)]
        return per

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        self.calls["learn_on_loaded_batch"] += 1
        grads, losses = zip(*(self._grad(t.take(indices)) for t in self._loaded), strict=True)
        self.seen_rows += len(indices) * self.num_devices
        self.apply_gradients({"w": np.mean(grads, axis=0)})
        return {"loss": float(np.mean(losses))}

    def get_weights(self) -> dict[str, np.ndarray]:
        return {"w": self.w.copy()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.w = np.asarray(weights["w"], np.float32).copy()

    def get_metrics(self) -> list[EpisodeMetrics]:
        return [EpisodeMetrics(float(self.worker_index), 1)]

    def set_global_vars(self, global_vars: dict[str, Any]) -> None:
        self.global_vars.update(global_vars)

    def apply(self, fn: Any, *args: Any) -> Any:
        return fn(self, *args)

    # test helpers, called by name
    def pid(self) -> int:
        return os.getpid()

    def get_history(self) -> list[np.ndarray]:
        return list(self.history)
