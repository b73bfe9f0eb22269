"""ES's policies in numpy, PyTorch and TensorFlow produce the same actions from the same flat vector.

The issue's promise, checked across the three registered policies (``("ES", "numpy")``,
``("ES", "torch")``, ``("ES", "tf")``): one seed builds one flat vector; from several flat vectors
the logits agree to 1e-5 and the deterministic actions and population actions are equal (fc
models; torch and TF also for vision models, which the numpy policy does not build); and, end to
end, the embedded ES trainer takes the same steps to the same weights with any of the three.
The framework policies run their own forward here (``numpy_inference: false``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlcore
from rl_algos.es import ES

FRAMEWORKS = ("numpy", "torch", "tf")
SPACES = {
    "discrete": gym.spaces.Discrete(3),
    "box": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
    "multidiscrete": gym.spaces.MultiDiscrete([3, 4]),
}
FC_MODELS = {
    "tanh-16-16": {"fcnet_hiddens": [16, 16]},
    "relu-8": {"fcnet_hiddens": [8], "fcnet_activation": "relu"},
    "linear": {"fcnet_hiddens": []},
    "free-log-std": {"fcnet_hiddens": [8], "free_log_std": True},
}
FC_CASES = [
    pytest.param(model, kind, id=f"{name}-{kind}")
    for name, model in FC_MODELS.items()
    for kind in SPACES
    if not (model.get("free_log_std") and kind != "box")  # the catalog refuses that pair
]
VISION_MODELS = {
    "relu": {"dim": 16, "conv_filters": [[8, [4, 4], 2], [16, [4, 4], 2], [16, [4, 4], 1]]},
    "tanh-5x5-valid": {"dim": 16, "conv_filters": [[8, [5, 5], 3], [8, [3, 3], 1]], "conv_activation": "tanh"},
}


def policies(obs_space: gym.Space, space: gym.Space, model: dict[str, Any], frameworks=FRAMEWORKS) -> dict[str, Any]:
    """The registered ES policy of each framework, one seed, the framework's own forward."""
    config = {"model": model, "numpy_inference": False}
    return {fw: rlcore.get_policy_class("ES", fw)(obs_space, space, config, seed=7) for fw in frameworks}


def assert_same_acting(pols: dict[str, Any], obs: np.ndarray, vectors: np.ndarray, discrete: bool) -> None:
    """Logits (1e-5), deterministic actions and population actions agree from each flat vector."""
    first = next(iter(pols))
    for flat in vectors:
        for p in pols.values():
            p.set_flat_weights(flat)
        logits = {fw: p.forward(obs)[0] for fw, p in pols.items()}
        actions = {fw: p.compute_actions(obs, explore=False)[0] for fw, p in pols.items()}
        for fw in pols:
            np.testing.assert_allclose(logits[fw], logits[first], rtol=1e-5, atol=1e-5, err_msg=fw)
            if discrete:
                np.testing.assert_array_equal(actions[fw], actions[first], err_msg=fw)
            else:
                np.testing.assert_allclose(actions[fw], actions[first], rtol=1e-5, atol=1e-5, err_msg=fw)
    rows = np.resize(vectors, (len(obs), vectors.shape[1]))  # one row per observation, rows repeating
    population = {fw: p.compute_population_actions(rows, obs) for fw, p in pols.items()}
    for fw in pols:
        np.testing.assert_allclose(population[fw], population[first], rtol=1e-5, atol=1e-5, err_msg=fw)


@pytest.mark.parametrize(("model", "kind"), FC_CASES)
def test_one_flat_vector_acts_the_same_in_numpy_torch_and_tf(model, kind):
    obs_space = gym.spaces.Box(-3.0, 3.0, (6,), np.float32)
    pols = policies(obs_space, SPACES[kind], model)
    assert not pols["torch"].uses_numpy_mirror and not pols["tf"].uses_numpy_mirror
    init = {fw: p.get_flat_weights() for fw, p in pols.items()}
    for fw in FRAMEWORKS:  # one seed, one canonical initialization
        np.testing.assert_array_equal(init[fw], init["numpy"], err_msg=fw)
    rng = np.random.default_rng(0)
    obs = rng.uniform(-3, 3, (12, 6)).astype(np.float32)
    vectors = np.concatenate([init["numpy"][None], rng.normal(scale=0.8, size=(3, init["numpy"].size))])
    assert_same_acting(pols, obs, vectors.astype(np.float32), discrete=kind != "box")


@pytest.mark.parametrize("framestack", [1, 2])
@pytest.mark.parametrize("model", list(VISION_MODELS))
def test_one_flat_vector_acts_the_same_in_torch_and_tf_vision_models(model, framestack):
    obs_space = gym.spaces.Box(0.0, 1.0, (16, 16, framestack), np.float32)
    pols = policies(obs_space, gym.spaces.Discrete(3), VISION_MODELS[model], frameworks=("torch", "tf"))
    assert pols["torch"].model_kind == pols["tf"].model_kind == "vision"
    np.testing.assert_array_equal(pols["torch"].get_flat_weights(), pols["tf"].get_flat_weights())
    rng = np.random.default_rng(1)
    obs = rng.uniform(0, 1, (6, 16, 16, framestack)).astype(np.float32)
    vectors = rng.normal(scale=0.3, size=(3, pols["tf"].num_params)).astype(np.float32)
    assert_same_acting(pols, obs, vectors, discrete=True)


SMALL_ES: dict[str, Any] = {
    "num_workers": 0,
    "seed": 1,
    "noise_size": 100_000,
    "episodes_per_batch": 6,
    "train_batch_size": 100,
    "eval_prob": 0.5,
    "num_envs_per_worker": 4,
    "model": {"fcnet_hiddens": [8]},
    "numpy_inference": False,
}


def es_run(framework: str, env: str, config: dict[str, Any], iterations: int) -> tuple[np.ndarray, list[Any]]:
    cfg = {**config, "framework": framework}
    if framework == "numpy":
        del cfg["numpy_inference"]
    with ES(cfg, env=env) as trainer:
        results = [trainer.train() for _ in range(iterations)]
        policy = trainer.local_evaluator.policy
        assert policy.framework == framework and (framework == "numpy" or not policy.uses_numpy_mirror)
        return policy.get_flat_weights(), [(r["timesteps_total"], r["episode_reward_mean"]) for r in results]


def test_es_trains_the_same_with_numpy_torch_and_tf_policies():
    """Embedded ES on CartPole-v1, two iterations: the same episodes, the same steps, the same weights."""
    runs = {fw: es_run(fw, "CartPole-v1", SMALL_ES, 2) for fw in FRAMEWORKS}
    for fw in FRAMEWORKS:
        assert runs[fw][1] == runs["numpy"][1], fw
        np.testing.assert_allclose(runs[fw][0], runs["numpy"][0], rtol=1e-5, atol=1e-6, err_msg=fw)


def test_es_trains_the_same_with_torch_and_tf_vision_policies():
    """Embedded ES on PixelGrid-v0's frames with a conv model: torch and TF take the same steps."""
    config = {**SMALL_ES, "episodes_per_batch": 4, "train_batch_size": 40, "model": VISION_MODELS["relu"]}
    runs = {fw: es_run(fw, "PixelGrid-v0", config, 2) for fw in ("torch", "tf")}
    assert runs["torch"][1] == runs["tf"][1]
    np.testing.assert_allclose(runs["torch"][0], runs["tf"][0], rtol=1e-5, atol=1e-6)
