"""ESTorchPolicy: ES's forward-only torch policy (catalog fc and vision models, flat weights).

rl_algos' ES contracts (:mod:`rl_algos.es.contract`): the kit's policy contract on discrete,
continuous, MultiDiscrete and image envs and through the numpy mirror, and the same actions as
ES/numpy from the same flat vectors with torch running its own forward; then what is torch's own.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

import rlcore
from rl_algos.es.contract import FC, ESPolicyContract, ESPolicyTests
from rl_torch import plugin
from rl_torch.es import ESTorchPolicy


class TestESTorchPolicyContract(ESPolicyContract):
    policy = ESTorchPolicy


class TestESTorchPolicy(ESPolicyTests):
    policy = ESTorchPolicy


def test_registered_as_es_torch_with_its_capabilities():
    spec = rlcore.get_spec("policy", "ES", "torch")
    assert rlcore.get_policy_class("ES", "torch") is ESTorchPolicy
    assert spec.capabilities == ESTorchPolicy.capabilities == frozenset(plugin.ES_CAPABILITIES)


def test_forward_only_and_num_cpu_threads_honoured():
    threads = torch.get_num_threads()
    try:
        obs = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        policy = ESTorchPolicy(obs, gym.spaces.Discrete(2), {**FC, "num_cpu_threads": 1})
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert not any(p.requires_grad for p in policy.model.parameters()) and not hasattr(policy, "_adam")
