"""The rlcore plugin of rlcore-tf. Imports no TensorFlow: it only names lazy targets."""

from __future__ import annotations

from typing import Any

from rlcore import hookimpl

#: Modules this plugin needs at build time (module -> pip requirement), checked without importing.
RLCORE_REQUIRES = {"tensorflow": "tensorflow-cpu"}

#: The framework name this plugin registers under.
FRAMEWORK = "tf"

#: Capabilities of PPOTFEvaluator (kept equal to the class attribute by a test).
PPO_CAPABILITIES = ("continuous", "discrete", "gradients", "multi_device", "remote")

#: Capabilities of DQNTFEvaluator (kept equal to the class attribute by a test).
DQN_CAPABILITIES = ("discrete", "gradients", "remote")


@hookimpl
def rlcore_register_models(register: Any) -> None:
    """Register the fully connected and vision catalog models in TensorFlow."""
    register("fc", FRAMEWORK, "rl_tf.models:FullyConnectedNetwork", summary="Fully connected policy/value nets (TF)")
    register("vision", FRAMEWORK, "rl_tf.models:VisionNetwork", summary="Conv policy/value nets, NHWC (TF)")


@hookimpl
def rlcore_register_evaluators(register: Any) -> None:
    """Register PPO's and DQN's TensorFlow evaluators."""
    register(
        "PPO",
        FRAMEWORK,
        "rl_tf.ppo:PPOTFEvaluator",
        summary="PPO (clipped surrogate, KL penalty) in TensorFlow 2",
        capabilities=PPO_CAPABILITIES,
    )
    register(
        "DQN",
        FRAMEWORK,
        "rl_tf.dqn:DQNTFEvaluator",
        summary="DQN (double Q, dueling, n-step, Huber loss, target network) in TensorFlow 2",
        capabilities=DQN_CAPABILITIES,
    )
