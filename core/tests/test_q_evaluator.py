"""QSamplingEvaluator: epsilon-greedy acting through the numpy Q mirror, n-step transitions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlcore.errors import UnsupportedOperationError
from rlcore.models.layout import init_weights
from rlcore.models.numpy_forward import NumpyQForward
from rlcore.q_evaluator import QSamplingEvaluator
from rlcore.testing.envs import make_continuous_corridor


class NumpyQ(QSamplingEvaluator):
    """Q-values from the numpy mirror itself; no learning (enough to test the shared half)."""

    def build_model(self):
        self.layout = self.q_layout()
        self.weights = init_weights(self.layout, self.seed)
        self.net = NumpyQForward(self.model_config, list(self.config["hiddens"]), bool(self.config["dueling"]))
        self.net.set_weights(self.weights)
        self.target = dict(self.weights)

    def q_forward(self, obs):
        return self.net(obs)

    def update_target(self):
        self.target = {k: v.copy() for k, v in self.weights.items()}

    def compute_gradients(self, batch):
        return {k: np.zeros_like(v) for k, v in self.weights.items()}, {"loss": 0.0}

    def apply_gradients(self, grads):
        pass

    def get_weights(self):
        return {k: v.copy() for k, v in self.weights.items()}

    def set_weights(self, weights):
        self.weights = {k: np.asarray(v).copy() for k, v in weights.items()}
        self.net.set_weights(self.weights)


class Chain(gym.Env):
    """obs [t]; reward 1 per step; terminates at step 3 or truncates at step 3 (``trunc``)."""

    observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, trunc=False):
        self.trunc, self.t = trunc, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t == 3
        return np.array([self.t], np.float32), 1.0, done and not self.trunc, done and self.trunc, {}


CONFIG = {
    "seed": 0,
    "num_envs": 1,
    "rollout_fragment_length": 6,
    "gamma": 0.5,
    "n_step": 2,
    "model": {"fcnet_hiddens": [8]},
    "hiddens": [8],
}


def test_n_step_transitions_with_termination():
    ev = NumpyQ(lambda c: Chain(), CONFIG)
    b = ev.sample()
    assert b["obs"][:, 0].tolist() == [0, 1, 2, 0, 1, 2]
    assert b["rewards"].tolist() == [1.5, 1.5, 1.0, 1.5, 1.5, 1.0]
    # the episode terminates within the 2 steps of rows 1 and 2: no bootstrap (discount 0)
    assert b["discounts"].tolist() == [0.25, 0.0, 0.0, 0.25, 0.0, 0.0]
    assert b["next_obs"][:, 0].tolist() == [2, 3, 3, 2, 3, 3]
    assert b["terminateds"].tolist() == [False, False, True, False, False, True]  # per step, as sampled
    assert b["weights"].tolist() == [1.0] * 6


def test_truncation_bootstraps_from_the_final_observation():
    b = NumpyQ(lambda c: Chain(trunc=True), CONFIG).sample()
    assert not b["terminateds"].any()
    assert b["discounts"].tolist() == [0.25, 0.25, 0.5, 0.25, 0.25, 0.5]
    assert b["next_obs"][:, 0].tolist() == [2, 3, 3, 2, 3, 3]


def test_epsilon_anneals_and_greedy_actions():
    ev = NumpyQ(lambda c: Chain(), {**CONFIG, "exploration_timesteps": 100, "exploration_final_eps": 0.1})
    assert ev.epsilon == 1.0
    ev.set_global_vars({"timestep": 50})
    assert ev.epsilon == pytest.approx(0.55)
    ev.set_global_vars({"timestep": 10_000})
    assert ev.epsilon == pytest.approx(0.1)
    obs = np.array([[0.0], [1.0], [2.0]], np.float32)
    np.testing.assert_array_equal(ev.compute_actions(obs), ev.q_forward(obs).argmax(axis=1))
    q, v = ev.forward(obs)
    np.testing.assert_allclose(v, q.max(axis=1))


def test_dueling_q_is_value_plus_centered_advantage():
    ev = NumpyQ(lambda c: Chain(), {**CONFIG, "dueling": True})
    names = {p.name for p in ev.layout}
    assert {"advantage_out/kernel", "state_value_out/kernel", "fc_0/kernel"} <= names
    plain = NumpyQ(lambda c: Chain(), {**CONFIG, "dueling": False})
    assert {"q_out/kernel", "q_fc_0/kernel"} <= {p.name for p in plain.layout}


def test_continuous_actions_are_refused():
    with pytest.raises(UnsupportedOperationError, match="Discrete action space"):
        NumpyQ(make_continuous_corridor, CONFIG)
