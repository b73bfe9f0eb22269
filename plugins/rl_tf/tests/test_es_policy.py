"""ESTFPolicy: ES's forward-only TensorFlow policy (catalog fc and vision models, flat weights).

rl_algos' ES contracts (:mod:`rl_algos.es.contract`): the kit's policy contract on discrete,
continuous, MultiDiscrete and image envs and through the numpy mirror, and the same actions as
ES/numpy from the same flat vectors with TensorFlow running its own graph; then what is TensorFlow's own.
"""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np

import rlcore
from rl_algos.es.contract import ESPolicyContract, ESPolicyTests
from rl_tf import plugin
from rl_tf.es import ESTFPolicy


class TestESTFPolicyContract(ESPolicyContract):
    policy = ESTFPolicy


class TestESTFPolicy(ESPolicyTests):
    policy = ESTFPolicy


def test_registered_as_es_tf_with_its_capabilities():
    spec = rlcore.get_spec("policy", "ES", "tf")
    assert rlcore.get_policy_class("ES", "tf") is ESTFPolicy
    assert spec.capabilities == ESTFPolicy.capabilities == frozenset(plugin.ES_CAPABILITIES)


def test_forward_only_one_graph_traced_once():
    policy = ESTFPolicy(gym.spaces.Box(-1.0, 1.0, (5,), np.float32), gym.spaces.Box(-1.0, 1.0, (2,), np.float32), {})
    assert not hasattr(policy, "optimizer") and not hasattr(policy, "_grads_fn") and policy.loss_columns == ()
    for n in (1, 7, 3):
        policy.forward(np.zeros((n, 5), np.float32))
    rows = np.random.default_rng(1).normal(size=(3, policy.num_params)).astype(np.float32)
    policy.compute_population_actions(rows, np.zeros((3, 5), np.float32))
    assert policy._forward_fn.function.experimental_get_tracing_count() == 1


def test_num_cpu_threads_caps_a_fresh_process():
    """TensorFlow fixes its thread pools when it starts: in a fresh process (a Ray worker) the policy
    built first sets num_cpu_threads intra-op threads and one inter-op thread."""
    code = (
        "import gymnasium as gym, numpy as np, tensorflow as tf\n"
        "from rl_tf.es import ESTFPolicy\n"
        "p = ESTFPolicy(gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(2), {'num_cpu_threads': 1})\n"
        "t = tf.config.threading\n"
        "print(p.threads_limited, t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split()[-3:] == ["True", "1", "1"], out.stderr[-2000:]
