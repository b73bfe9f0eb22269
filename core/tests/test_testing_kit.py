"""Tests of the conformance kit itself: its envs, fixtures, and every check on good and broken evaluators.

``TinyEvaluator`` is a deliberately small numpy REINFORCE evaluator that meets the contract; each
``Broken*`` subclass breaks exactly one rule, and the matching check must fail with a message
that names the problem and a fix.
"""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlcore
from rlcore import plugins
from rlcore.errors import UnsupportedOperationError
from rlcore.evaluator import EpisodeMetrics, PolicyEvaluator
from rlcore.postprocessing import compute_returns
from rlcore.rollout_evaluator import RolloutEvaluator, postprocessing
from rlcore.sample_batch import SampleBatch
from rlcore.sampling import postprocess_gae
from rlcore.testing import (
    TEST_ENVS,
    EvaluatorContract,
    NumpyLSTMPolicy,
    check_evaluator,
    check_recurrent,
    check_weight_exchange,
    make_continuous_corridor,
    make_corridor,
    register_test_envs,
)
from rlcore.testing import checks as C
from rlcore.testing.pytest_plugin import isolated_registry


# --------------------------------------------------------------------------- a good evaluator
class TinyEvaluator(PolicyEvaluator):
    """Linear softmax policy, REINFORCE on discounted returns, plain SGD; discrete actions only."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"discrete", "gradients", "remote"})
    _eps_counter = itertools.count()  # process-global episode ids: the kit compares them up to relabelling

    def __init__(self, env_creator: Callable[..., Any], config: dict[str, Any], worker_index: int = 0) -> None:
        self.config = {"seed": 0, "num_envs": 2, "rollout_fragment_length": 8, "lr": 0.1, "env_config": {}, **config}
        self.envs = [env_creator(dict(self.config["env_config"])) for _ in range(self.config["num_envs"])]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise UnsupportedOperationError(f"TinyEvaluator needs Discrete actions, got {self.action_space}")
        self.rng = self._make_rng(self.config["seed"], worker_index)
        dim = int(np.prod(self.observation_space.shape))
        self.w = {
            "pi/kernel": (0.1 * self.rng.standard_normal((dim, int(self.action_space.n)))).astype(np.float32),
            "pi/bias": np.zeros(int(self.action_space.n), np.float32),
        }
        seed = self.config["seed"]
        self.obs = np.stack([e.reset(seed=seed * 100 + i)[0] for i, e in enumerate(self.envs)]).astype(np.float32)
        self.eps = np.array([next(self._eps_counter) for _ in self.envs], np.int64)
        self.ep_ret = np.zeros(len(self.envs))
        self.ep_len = np.zeros(len(self.envs), np.int64)
        self.metrics: list[EpisodeMetrics] = []

    def _make_rng(self, seed: int, worker_index: int) -> np.random.Generator:
        return np.random.default_rng([seed, worker_index])

    def _logp(self, obs: np.ndarray) -> np.ndarray:
        z = np.asarray(obs, np.float32).reshape(len(obs), -1) @ self.w["pi/kernel"] + self.w["pi/bias"]
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def _act(self, logp: np.ndarray) -> np.ndarray:
        u = self.rng.random(len(logp))[:, None]
        return np.minimum((u > np.cumsum(np.exp(logp), axis=1)).sum(axis=1), logp.shape[1] - 1).astype(np.int64)

    def sample(self) -> SampleBatch:
        T, N = self.config["rollout_fragment_length"], len(self.envs)
        cols: dict[str, list[Any]] = {
            k: [] for k in ("obs", "actions", "rewards", "terminateds", "truncateds", "eps_id")
        }
        for _ in range(T):
            act = self._act(self._logp(self.obs))
            for k, v in (("obs", self.obs), ("actions", act), ("eps_id", self.eps.copy())):
                cols[k].append(v)
            step = [env.step(int(a)) for env, a in zip(self.envs, act, strict=True)]
            cols["rewards"].append([s[1] for s in step])
            cols["terminateds"].append([s[2] for s in step])
            cols["truncateds"].append([s[3] for s in step])
            new_obs = []
            for i, (o, r, term, trunc, _) in enumerate(step):
                self.ep_ret[i] += r
                self.ep_len[i] += 1
                if term or trunc:
                    self.metrics.append(EpisodeMetrics(float(self.ep_ret[i]), int(self.ep_len[i])))
                    self.ep_ret[i], self.ep_len[i] = 0.0, 0
                    self.eps[i] = next(self._eps_counter)
                    o = self.envs[i].reset()[0]
                new_obs.append(o)
            self.obs = np.stack(new_obs).astype(np.float32)
        arr = {k: np.asarray(v) for k, v in cols.items()}
        adv = compute_returns(arr["rewards"], np.zeros((T, N)), arr["terminateds"], arr["truncateds"], 0.9)

        def flat(x: np.ndarray) -> np.ndarray:
            return np.swapaxes(x, 0, 1).reshape(T * N, *x.shape[2:])

        return SampleBatch(
            obs=flat(arr["obs"]).astype(np.float32),
            actions=flat(arr["actions"]).astype(np.int64),
            rewards=flat(arr["rewards"]).astype(np.float32),
            terminateds=flat(arr["terminateds"]).astype(bool),
            truncateds=flat(arr["truncateds"]).astype(bool),
            eps_id=flat(arr["eps_id"]).astype(np.int64),
            advantages=flat(adv),
        )

    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        logp = self._logp(obs)
        return self._act(logp) if explore else np.argmax(logp, axis=1).astype(np.int64)

    def compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        x = np.asarray(batch["obs"], np.float64).reshape(batch.count, -1)
        logp = self._logp(batch["obs"]).astype(np.float64)
        n, acts, adv = batch.count, batch["actions"], batch["advantages"].astype(np.float64)
        onehot = np.eye(logp.shape[1])[acts]
        d = -(onehot - np.exp(logp)) * adv[:, None] / n
        loss = -np.mean(logp[np.arange(n), acts] * adv)
        return {"pi/kernel": (x.T @ d).astype(np.float32), "pi/bias": d.sum(0).astype(np.float32)}, {"loss": loss}

    def apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        for k, g in grads.items():
            self.w[k] = self.w[k] - np.float32(self.config["lr"]) * g

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.w.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.w = {k: np.array(v, np.float32, copy=True) for k, v in weights.items()}

    def get_metrics(self) -> list[EpisodeMetrics]:
        out, self.metrics = self.metrics, []
        return out


def tiny_factory(seed: int, env_creator: Callable[..., Any] | None = None) -> PolicyEvaluator:
    """The kit's factory for TinyEvaluator (module level: picklable for Ray)."""
    return TinyEvaluator(env_creator or make_corridor, {"seed": seed})


def factory_of(cls: type[PolicyEvaluator]) -> Callable[[int], PolicyEvaluator]:
    """A factory building ``cls`` on the discrete test corridor."""

    def factory(seed: int) -> PolicyEvaluator:
        return cls(make_corridor, {"seed": seed})

    return factory


# --------------------------------------------------------------------------- broken evaluators
class BrokenRewardDtype(TinyEvaluator):
    def sample(self) -> SampleBatch:
        batch = super().sample()
        batch["rewards"] = batch["rewards"].astype(np.float64)
        return batch


class BrokenNoEpsId(TinyEvaluator):
    def sample(self) -> SampleBatch:
        batch = super().sample()
        del batch["eps_id"]
        return batch


class BrokenEpsIdAfterDone(TinyEvaluator):
    def sample(self) -> SampleBatch:
        batch = super().sample()
        batch["eps_id"] = np.zeros(batch.count, np.int64)  # every episode shares one id
        return batch


class BrokenActionsOutOfSpace(TinyEvaluator):
    def sample(self) -> SampleBatch:
        batch = super().sample()
        batch["actions"] = batch["actions"] + 2
        return batch


class BrokenNoSpaces(TinyEvaluator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.action_space


class BrokenViewWeights(TinyEvaluator):
    def get_weights(self) -> dict[str, np.ndarray]:
        return self.w  # the live arrays

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.w = dict(weights)  # keeps the caller's arrays


class BrokenTorchLikeViews(TinyEvaluator):
    """Copies the dict but not the arrays (what ``param.numpy()`` does in torch)."""

    def get_weights(self) -> dict[str, np.ndarray]:
        return {k: v[...] for k, v in self.w.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        for k, v in weights.items():
            self.w[k][...] = v

    def apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        for k, g in grads.items():
            self.w[k] -= np.float32(self.config["lr"]) * g


class BrokenMutatingGradients(TinyEvaluator):
    def compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        grads, info = super().compute_gradients(batch)
        self.apply_gradients(grads)
        return grads, info


class BrokenAscent(TinyEvaluator):
    def apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        for k, g in grads.items():
            self.w[k] = self.w[k] + np.float32(self.config["lr"]) * g


class BrokenDoubleStepLearn(TinyEvaluator):
    def learn_on_batch(self, batch: SampleBatch) -> dict[str, Any]:
        super().learn_on_batch(batch)
        return super().learn_on_batch(batch)


class BrokenUnseeded(TinyEvaluator):
    def _make_rng(self, seed: int, worker_index: int) -> np.random.Generator:
        return np.random.default_rng()


class BrokenUnpicklable(TinyEvaluator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()


class BrokenNoMetrics(TinyEvaluator):
    def get_metrics(self) -> list[EpisodeMetrics]:
        self.metrics = []
        return []


class BrokenMetricsNotCleared(TinyEvaluator):
    def get_metrics(self) -> list[EpisodeMetrics]:
        return list(self.metrics)


class BrokenState(TinyEvaluator):
    def get_state(self) -> dict[str, Any]:
        return {"weights": self.get_weights(), "optimizer": object()}


class BrokenStateNotRestored(TinyEvaluator):
    steps = 0

    def sample(self) -> SampleBatch:
        self.steps += 1
        return super().sample()

    def get_state(self) -> dict[str, Any]:
        return {"weights": self.get_weights(), "steps": self.steps}


class BrokenUnknownCapability(TinyEvaluator):
    capabilities = frozenset({"discrete", "gradients", "fancy"})


class BrokenUndeclaredGradients(TinyEvaluator):
    capabilities = frozenset({"discrete"})


class NoGradients(TinyEvaluator):
    """Correctly declares no gradients: both gradient operations raise UnsupportedOperationError."""

    capabilities = frozenset({"discrete"})

    def compute_gradients(self, batch: SampleBatch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        raise self._unsupported("compute_gradients")

    def apply_gradients(self, grads: dict[str, np.ndarray]) -> None:
        raise self._unsupported("apply_gradients")


class BrokenAcceptsContinuous(TinyEvaluator):
    """Does not declare "continuous" yet samples on a Box action space."""

    def __init__(self, env_creator: Callable[..., Any], config: dict[str, Any], worker_index: int = 0) -> None:
        env = env_creator({})
        if isinstance(env.action_space, gym.spaces.Box):
            self.action_space = env.action_space
            self.observation_space = env.observation_space
            self.env = env
            env.reset(seed=0)
            return
        super().__init__(env_creator, config, worker_index)

    def sample(self) -> SampleBatch:
        if not hasattr(self, "env"):
            return super().sample()
        a = self.action_space.sample()
        obs, r, term, trunc, _ = self.env.step(a)
        return SampleBatch(
            obs=obs[None], actions=a[None], rewards=np.float32([r]), terminateds=[term], truncateds=[trunc], eps_id=[0]
        )


class MultiDevice(TinyEvaluator):
    """Two CPU "towers": gradients of each share averaged, applied once."""

    capabilities = frozenset({"discrete", "gradients", "remote", "multi_device"})
    num_devices = 2

    def load_batch(self, batch: SampleBatch) -> int:
        rows = batch.count // self.num_devices
        self.shares = [batch.slice(d * rows, (d + 1) * rows).copy() for d in range(self.num_devices)]
        return rows

    def _combine(self, grads: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.mean([g[k] for g in grads], axis=0) for k in grads[0]}

    def learn_on_loaded_batch(self, indices: np.ndarray) -> dict[str, Any]:
        outs = [self.compute_gradients(share.take(indices)) for share in self.shares]
        self.apply_gradients(self._combine([g for g, _ in outs]))
        return {"loss": float(np.mean([i["loss"] for _, i in outs]))}


class BrokenMultiDeviceSum(MultiDevice):
    def _combine(self, grads: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.sum([g[k] for g in grads], axis=0) for k in grads[0]}


class BrokenUndeclaredMultiDevice(MultiDevice):
    capabilities = frozenset({"discrete", "gradients", "remote"})


class RenamedWeights(TinyEvaluator):
    def get_weights(self) -> dict[str, np.ndarray]:
        return {k.replace("pi/", "policy."): v.copy() for k, v in self.w.items()}


class FlakyCrash(TinyEvaluator):
    def compute_actions(self, obs: np.ndarray, explore: bool = False) -> np.ndarray:
        raise RuntimeError("boom")


class UnpicklableFactory:
    """A factory object holding a lock: cloudpickle cannot send it to a Ray actor."""

    capabilities = TinyEvaluator.capabilities

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, seed: int) -> PolicyEvaluator:
        return TinyEvaluator(make_corridor, {"seed": seed})


# --------------------------------------------------------------------------- the envs
@pytest.mark.parametrize("name", sorted(TEST_ENVS))
def test_test_envs_pass_gymnasium_check_env(name: str) -> None:
    env = TEST_ENVS[name]({})
    check_env(env, skip_render_check=True)


@pytest.mark.parametrize("name", sorted(TEST_ENVS))
def test_test_envs_terminate_truncate_and_are_deterministic(name: str) -> None:
    def run(actions: list[Any]) -> list[tuple[float, bool, bool]]:
        env = TEST_ENVS[name]({"length": 4, "max_episode_steps": 6})
        env.reset(seed=0)
        return [env.step(a)[1:4] for a in actions]

    right, left = {
        "TestContinuousCorridor-v0": (np.float32([1.0]), np.float32([-1.0])),
        "TestMultiDiscreteCorridor-v0": (np.array([1, 2]), np.array([0, 2])),
    }.get(name, (1, 0))
    to_goal = run([right] * 3)
    assert to_goal[-1] == (pytest.approx(0.9), True, False)  # -0.1 + 1.0, terminated
    assert [r for r, *_ in to_goal[:2]] == [pytest.approx(-0.1)] * 2
    stuck = run([left] * 6)
    assert stuck[-1][1:] == (False, True)  # truncated by the time limit
    assert run([right, left, right]) == run([right, left, right])


def test_corridor_observations() -> None:
    env = make_corridor({"length": 3})
    obs, _ = env.reset(seed=1)
    assert obs.dtype == np.float32 and obs.tolist() == [1.0, 0.0, 0.0]
    assert env.step(1)[0].tolist() == [0.0, 1.0, 0.0]
    cont = make_continuous_corridor({"length": 3, "max_episode_steps": 4})
    cont.reset()
    assert cont.step(np.float32([0.5]))[0].tolist() == pytest.approx([0.25, 0.25])
    img = TEST_ENVS["TestImageCorridor-v0"]({"length": 5, "height": 2})
    obs, _ = img.reset()
    assert obs.shape == (2, 5, 1) and obs.dtype == np.uint8 and obs[:, 0, 0].tolist() == [255, 255]
    with pytest.raises(ValueError, match="length"):
        make_corridor({"length": 1})


def test_register_test_envs_in_an_isolated_registry(rlcore_registry: plugins.PluginRegistry) -> None:
    register_test_envs()
    assert set(TEST_ENVS) <= set(rlcore_registry.names("env"))
    assert isinstance(rlcore.make_env("TestCorridor-v0", {"length": 3}).observation_space, gym.spaces.Box)


# --------------------------------------------------------------------------- plugin fixtures and imports
def test_rlcore_registry_fixture_is_isolated(rlcore_registry: plugins.PluginRegistry) -> None:
    assert plugins.get_registry() is rlcore_registry
    assert [i.name for i in rlcore_registry.plugin_infos() if not i.builtin] == []  # no entry point loaded


def test_isolated_registry_restores_the_previous_one() -> None:
    before = plugins.get_registry()
    with isolated_registry() as reg:
        assert plugins.get_registry() is reg is not before
    assert plugins.get_registry() is before


def test_env_fixtures(
    rlcore_test_env: Callable[..., Any],
    rlcore_continuous_test_env: Callable[..., Any],
    rlcore_image_test_env: Callable[..., Any],
) -> None:
    assert isinstance(rlcore_test_env({}).action_space, gym.spaces.Discrete)
    assert isinstance(rlcore_continuous_test_env({}).action_space, gym.spaces.Box)
    assert rlcore_image_test_env({}).observation_space.dtype == np.uint8


@pytest.mark.parametrize(
    ("modules", "forbidden"),
    [
        ("rlcore.testing, rlcore.testing.pytest_plugin", "torch tensorflow ray gymnasium numpy"),
        ("rlcore.testing.checks, rlcore.testing.envs", "torch tensorflow ray pytest"),
    ],
)
def test_kit_is_light_to_import(modules: str, forbidden: str) -> None:
    code = f"import sys, {modules}; heavy = set({forbidden.split()!r}) & set(sys.modules); assert not heavy, heavy"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- the good evaluator passes
def test_good_evaluator_passes_every_local_check() -> None:
    passed = check_evaluator(tiny_factory, checks=[c for c in C.CHECKS if c != "ray_actor"])
    # TinyEvaluator refuses Tuple/Dict action spaces (UnsupportedOperationError): that check is n/a
    assert passed == [c for c in C.CHECKS if c not in ("ray_actor", "composite_actions")]
    with pytest.raises(C.CheckNotApplicable, match="refuses a Tuple action space"):
        C.check_composite_actions(tiny_factory)


def test_declared_capabilities_agree() -> None:
    C.check_capabilities(tiny_factory, capabilities={"discrete", "gradients", "remote"})
    with pytest.raises(AssertionError, match=r"capabilities given to the kit \['discrete'\] differ"):
        C.check_capabilities(tiny_factory, capabilities={"discrete"})


def test_no_gradients_evaluator_asserts_unsupported_not_skipped() -> None:
    passed = check_evaluator(factory_of(NoGradients), checks=[c for c in C.CHECKS if c != "ray_actor"])
    assert "compute_gradients_pure" in passed and "gradient_step_lowers_loss" in passed


def test_multi_device_evaluator_passes() -> None:
    C.check_multi_device(factory_of(MultiDevice))


def test_weight_exchange_between_two_factories() -> None:
    check_weight_exchange(tiny_factory, factory_of(TinyEvaluator))
    check_evaluator(tiny_factory, other_factory=factory_of(TinyEvaluator), checks=["weight_exchange"])


def test_registered_evaluator_factories(rlcore_registry: plugins.PluginRegistry) -> None:
    rlcore.register_evaluator("TINY", "numpy", TinyEvaluator, capabilities=TinyEvaluator.capabilities)
    factories = C.registered_evaluator_factories()
    assert factories == [C.RegisteredEvaluatorFactory("TINY", "numpy")]
    ev = factories[0](3)
    assert isinstance(ev, TinyEvaluator) and ev.config["seed"] == 3 and ev.config["num_envs"] == 2
    check_evaluator(factories[0], checks=["capabilities", "sample_schema", "same_seed_same_samples"])


# --------------------------------------------------------------------------- each check catches its bug
BROKEN: list[tuple[type[PolicyEvaluator], Callable[..., None], str]] = [
    (BrokenRewardDtype, C.check_sample_schema, r"'rewards' has dtype float64, expected float32[\s\S]*How to fix"),
    (BrokenNoEpsId, C.check_sample_schema, r"no column\(s\) \['eps_id'\]"),
    (BrokenEpsIdAfterDone, C.check_sample_schema, r"rows after its terminated/truncated row[\s\S]*new eps_id"),
    (BrokenActionsOutOfSpace, C.check_actions_in_space, r"not actions of Discrete\(2\)[\s\S]*in range"),
    (BrokenNoSpaces, C.check_actions_in_space, r"no 'action_space' attribute[\s\S]*self.observation_space"),
    (BrokenViewWeights, C.check_weight_round_trip, r"get_weights\(\) changed the evaluator's weights[\s\S]*copies"),
    (BrokenTorchLikeViews, C.check_weight_round_trip, r"weights[\s\S]*How to fix: return copies"),
    (BrokenMutatingGradients, C.check_compute_gradients_pure, r"compute_gradients changed the weights"),
    (BrokenAscent, C.check_gradient_step_lowers_loss, r"did not lower its loss[\s\S]*w -= lr \* g"),
    (BrokenDoubleStepLearn, C.check_compute_apply_equals_learn, r"give different weights[\s\S]*num_sgd_iter=1"),
    (BrokenUnseeded, C.check_same_seed_same_samples, r"seed 123[\s\S]*config\['seed'\]"),
    (BrokenUnpicklable, C.check_pickle, r"pickling the evaluator failed[\s\S]*__getstate__"),
    (BrokenNoMetrics, C.check_metrics, r"followed by 0 metrics[\s\S]*EpisodeMetrics"),
    (BrokenMetricsNotCleared, C.check_metrics, r"same episodes twice|followed by"),
    (BrokenState, C.check_state_round_trip, r"get_state\(\)\['optimizer'\] is a builtins.object[\s\S]*no pickle"),
    (BrokenStateNotRestored, C.check_state_round_trip, r"state\['steps'\] is 1 vs 0"),
    (BrokenUnknownCapability, C.check_capabilities, r"unknown capabilities \['fancy'\]"),
    (BrokenUndeclaredGradients, C.check_capabilities, r"'gradients' is not declared but compute_gradients works"),
    (BrokenUndeclaredGradients, C.check_compute_gradients_pure, r"'gradients' is not declared but"),
    (BrokenMultiDeviceSum, C.check_multi_device, r"differs from learn_on_batch[\s\S]*average the towers"),
    (BrokenUndeclaredMultiDevice, C.check_multi_device, r"'multi_device' is not declared but load_batch works"),
]


@pytest.mark.parametrize(("cls", "check", "message"), BROKEN, ids=[f"{c.__name__}-{f.__name__}" for c, f, _ in BROKEN])
def test_check_fails_with_a_helpful_message(
    cls: type[PolicyEvaluator], check: Callable[..., None], message: str
) -> None:
    with pytest.raises(AssertionError, match=message) as info:
        check(factory_of(cls))
    assert "How to fix:" in str(info.value)


@pytest.mark.parametrize(
    ("cls", "check"),
    [(BrokenRewardDtype, C.check_actions_in_space), (BrokenAscent, C.check_compute_apply_equals_learn)],
)
def test_other_checks_stay_quiet_on_an_unrelated_bug(cls: type[PolicyEvaluator], check: Callable[..., None]) -> None:
    check(factory_of(cls))


def test_action_space_membership_rules() -> None:
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    wide = np.float32([[0.5, 2.0], [0.0, 0.0]])
    assert C._outside(box, wide, sampled=True) == []  # stored samples may exceed bounds (env gets them clipped)
    assert C._outside(box, wide, sampled=False) == [0]  # compute_actions must return elements of the space
    assert C._outside(box, np.float32([[np.nan, 0.0]]), sampled=True) == [0]
    assert C._outside(box, np.zeros((2, 3), np.float32), sampled=True) == [0, 1]
    disc = gym.spaces.Discrete(3)
    assert C._outside(disc, np.array([0, 2, 3]), sampled=True) == [2]
    assert C._outside(disc, np.array([0.0, 1.0]), sampled=False) == [0, 1]  # floats are not discrete actions


def test_undeclared_continuous_is_caught_through_env_creator() -> None:
    def factory(seed: int, env_creator: Callable[..., Any] | None = None) -> PolicyEvaluator:
        return BrokenAcceptsContinuous(env_creator or make_corridor, {"seed": seed})

    with pytest.raises(AssertionError, match=r"'continuous' is not declared but the evaluator samples"):
        C.check_capabilities(factory)


def test_weight_exchange_reports_name_mismatch() -> None:
    with pytest.raises(AssertionError, match=r"weight names differ[\s\S]*canonical parameter names"):
        check_weight_exchange(tiny_factory, factory_of(RenamedWeights))


def test_check_evaluator_lists_every_failure_and_crashes() -> None:
    with pytest.raises(AssertionError) as info:
        check_evaluator(factory_of(FlakyCrash), checks=["sample_schema", "actions_in_space", "weight_round_trip"])
    text = str(info.value)
    assert text.startswith("FlakyCrash failed 2 of 3 conformance checks")
    assert "[actions_in_space] raised RuntimeError: boom" in text and "[weight_round_trip]" in text
    with pytest.raises(ValueError, match="unknown checks"):
        check_evaluator(tiny_factory, checks=["nope"])


def test_check_evaluator_reports_each_check_as_it_ends() -> None:
    heard: list[tuple[str, str, str]] = []
    with pytest.raises(AssertionError):
        check_evaluator(
            factory_of(FlakyCrash),
            checks=["sample_schema", "actions_in_space"],
            report=lambda *event: heard.append(event),
        )
    assert [(name, status) for name, status, _ in heard] == [("sample_schema", "ok"), ("actions_in_space", "FAIL")]
    assert heard[0][2].endswith(" s") and "boom" in heard[1][2]


def test_factory_must_build_an_evaluator() -> None:
    with pytest.raises(AssertionError, match=r"not a rlcore\.PolicyEvaluator"):
        check_evaluator(lambda seed: object())  # type: ignore[arg-type, return-value]


# --------------------------------------------------------------------------- Ray
def test_ray_check_does_not_apply_without_remote() -> None:
    with pytest.raises(C.CheckNotApplicable):
        C.check_ray_actor(factory_of(NoGradients))


@pytest.mark.ray
def test_good_evaluator_runs_as_a_ray_actor(ray_session: Any) -> None:
    C.check_ray_actor(tiny_factory)


@pytest.mark.ray
def test_unpicklable_factory_is_reported(ray_session: Any) -> None:
    with pytest.raises(AssertionError, match=r"cannot be pickled by cloudpickle[\s\S]*module-level function"):
        C.check_ray_actor(UnpicklableFactory())


# --------------------------------------------------------------------------- the pytest base class
class LocalTiny(TinyEvaluator):
    """TinyEvaluator without "remote": the contract then has no Ray test (Ray is tested above)."""

    capabilities = frozenset({"discrete", "gradients"})


def local_tiny_factory(seed: int, env_creator: Callable[..., Any] | None = None) -> PolicyEvaluator:
    """Factory of LocalTiny, accepting the kit's env creators."""
    return LocalTiny(env_creator or make_corridor, {"seed": seed})


class TestTinyContract(EvaluatorContract):
    """The contract as a plugin would use it."""

    capabilities = LocalTiny.capabilities
    composite_actions = False  # TinyEvaluator needs Discrete actions: its refusal is asserted

    @pytest.fixture
    def evaluator_factory(self) -> Callable[..., PolicyEvaluator]:
        return local_tiny_factory

    @pytest.fixture
    def other_evaluator_factory(self) -> Callable[..., PolicyEvaluator]:
        return factory_of(LocalTiny)


def test_contract_base_is_not_collected_but_subclasses_are() -> None:
    assert EvaluatorContract.__test__ is False
    assert TestTinyContract.__test__ is True

    class Abstract(EvaluatorContract):
        __test__ = False

    class Concrete(Abstract):
        pass

    assert Abstract.__test__ is False and Concrete.__test__ is True
    # tests with nothing to call are removed, not skipped
    assert TestTinyContract.test_ray_actor is None and TestTinyContract.test_weight_exchange is not None
    assert Concrete.test_weight_exchange is None
    assert {n for n in dir(EvaluatorContract) if n.startswith("test_")} == {f"test_{c}" for c in C.CHECKS} | {
        "test_weight_exchange"
    }


# --------------------------------------------------------------------------- recurrent policies

LSTM_MODEL = {"use_lstm": True, "lstm_cell_size": 6, "max_seq_len": 4, "fcnet_hiddens": [5]}


@postprocessing()
def gae(fragment: Any, policy: Any, config: Any) -> SampleBatch:
    return postprocess_gae(fragment, policy.compute_values, gamma=0.9, lambda_=0.95)


@dataclasses.dataclass(frozen=True)
class RolloutFactory:
    """``factory(seed, env_creator=None)``: a rollout evaluator around ``policy``; configurable (``config``)."""

    policy: Any = NumpyLSTMPolicy
    config: Mapping[str, Any] = dataclasses.field(default_factory=lambda: {"model": LSTM_MODEL})

    def __call__(self, seed: int, env_creator: Callable[..., Any] | None = None) -> PolicyEvaluator:
        config = {"seed": seed, "num_envs": 2, "rollout_fragment_length": 12, **self.config}
        return RolloutEvaluator(env_creator or make_corridor, config, 0, policy=self.policy, postprocess=gae)


def test_the_numpy_lstm_policy_passes_every_local_check() -> None:
    passed = check_evaluator(RolloutFactory(), checks=[c for c in C.CHECKS if c != "ray_actor"])
    assert "recurrent" in passed and "compute_apply_equals_learn" in passed


def test_a_policy_without_recurrent_must_refuse_use_lstm() -> None:
    from rlcore.testing.policies import check_policy_outputs

    class Plain(NumpyLSTMPolicy):
        capabilities = frozenset({"discrete", "gradients"})

    # the rollout evaluator refuses it (the check builds it with use_lstm and expects the refusal)
    C.check_recurrent(RolloutFactory(TinyRolloutPolicy, config={}))
    with pytest.raises(UnsupportedOperationError, match="Plain does not support recurrent models"):
        RolloutFactory(Plain)(0)
    check_policy_outputs(RolloutFactory())


class TinyRolloutPolicy(NumpyLSTMPolicy):
    """Not recurrent: the catalog fc model in numpy (used without use_lstm)."""

    capabilities = frozenset({"discrete", "gradients"})

    def build(self) -> None:
        from rlcore.models.layout import fc_layout, init_weights
        from rlcore.models.numpy_forward import NumpyFCForward

        self._layout = fc_layout(int(np.prod(self.obs_shape)), self.dist_spec.num_outputs, self.model_config)
        self.w = init_weights(self._layout, self.seed)
        self.net = NumpyFCForward(self.model_config)  # type: ignore[assignment]
        self.net.set_weights(self.w)

    def forward(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.net(obs)  # type: ignore[call-arg,return-value]


class ZeroStartLoss(NumpyLSTMPolicy):
    """Bug: the loss starts every sequence from zeros instead of its state_in."""

    def padded_values(self, batch: SampleBatch) -> np.ndarray:
        zeroed = batch.copy()
        for name in ("state_in_0", "state_in_1"):
            zeroed[name] = np.zeros_like(batch[name])
        return super().padded_values(zeroed)


class StuckState(NumpyLSTMPolicy):
    """Bug: forward_step returns the state it was given."""

    def forward_step(self, obs: np.ndarray, state: list[np.ndarray]) -> Any:
        logits, values, _ = self.net(obs, state)
        return logits, values, [np.asarray(s) for s in state]


class SkewedStep(NumpyLSTMPolicy):
    """Bug: the framework step (numpy_inference False) swaps h and c."""

    def forward_step(self, obs: np.ndarray, state: list[np.ndarray]) -> Any:
        logits, values, (h, c) = self.net(obs, state)
        return logits, values, [c, h]


def test_check_recurrent_catches_a_loss_that_ignores_state_in() -> None:
    with pytest.raises(AssertionError, match=r"\[recurrent\] loss differs when the batch's sequences are cut to 1 row"):
        check_recurrent(RolloutFactory(ZeroStartLoss))


def test_check_recurrent_catches_a_state_that_does_not_advance() -> None:
    factory = RolloutFactory(StuckState, config={"model": LSTM_MODEL, "numpy_inference": False})
    with pytest.raises(AssertionError, match=r"\[recurrent\] "):
        check_recurrent(factory)


def test_check_recurrent_catches_a_forward_step_unlike_the_mirror() -> None:
    with pytest.raises(AssertionError, match=r"numpy mirror and forward_step .* differ"):
        check_recurrent(RolloutFactory(SkewedStep))


def test_check_recurrent_makes_a_configurable_factory_recurrent() -> None:
    # a factory whose own config is not recurrent: the kit sets model.use_lstm on a copy
    variant = C._with_config(RolloutFactory(config={"model": {"fcnet_hiddens": [3]}}), model=C.RECURRENT_MODEL)
    assert variant is not None and variant.config["model"] == {"fcnet_hiddens": [8], **C.RECURRENT_MODEL}
    assert C._with_config(tiny_factory, model=C.RECURRENT_MODEL) is None


def test_weight_exchange_compares_recurrent_acting_steps() -> None:
    check_weight_exchange(RolloutFactory(), RolloutFactory(config={"model": LSTM_MODEL, "numpy_inference": False}))
    with pytest.raises(AssertionError, match=r"\[weight_exchange\] .*(acting step|recurrent state tensor)"):
        check_weight_exchange(
            RolloutFactory(), RolloutFactory(SkewedStep, config={"model": LSTM_MODEL, "numpy_inference": False})
        )
