"""The rlcore plugin of rlcore-tf. Imports no TensorFlow: it only names lazy targets."""

from __future__ import annotations

from typing import Any

from rlcore import hookimpl

#: Modules this plugin needs at build time (module -> pip requirement), checked without importing.
RLCORE_REQUIRES = {"tensorflow": "tensorflow-cpu"}

#: The framework name this plugin registers under.
FRAMEWORK = "tf"

#: What PPOTFPolicy declares (kept equal to the class attribute by a test).
PPO_CAPABILITIES: tuple[str, ...] = ("continuous", "discrete", "gradients", "multi_device", "recurrent")
#: What A3CTFPolicy declares (kept equal to the class attribute by a test).
A3C_CAPABILITIES: tuple[str, ...] = ("continuous", "discrete", "gradients", "recurrent")
#: What DQNTFPolicy declares (kept equal to the class attribute by a test).
DQN_CAPABILITIES: tuple[str, ...] = ("discrete", "gradients")
#: What ESTFPolicy declares (kept equal to the class attribute by a test): acting only, no "gradients".
ES_CAPABILITIES: tuple[str, ...] = ("continuous", "discrete")


@hookimpl
def rlcore_register_models(register: Any) -> None:
    """Register the fully connected, vision, LSTM and Q catalog models in TensorFlow."""
    register("fc", FRAMEWORK, "rl_tf.models:FullyConnectedNetwork", summary="Fully connected policy/value nets (TF)")
    register("vision", FRAMEWORK, "rl_tf.models:VisionNetwork", summary="Conv policy/value nets, NHWC (TF)")
    register(
        "lstm",
        FRAMEWORK,
        "rl_tf.models:LSTMNetwork",
        summary="fc or conv trunk, one LSTM cell (gates i f g o, state [h, c]), policy/value heads; tf.scan (TF)",
    )
    register(
        "q",
        FRAMEWORK,
        "rl_tf.dqn:QNetwork",
        summary="Q network of DQN-family policies: fc or conv trunk (NHWC), Q head (hiddens, dueling) (TF)",
    )


@hookimpl
def rlcore_register_policies(register: Any) -> None:
    """Register the TensorFlow policies: ("PPO", "tf"), ("A3C", "tf"), ("DQN", "tf"), ("APEX", "tf")
    (Ape-X acts and learns with DQN's policy) and ("ES", "tf") (forward only: ES perturbs its flat weights)."""
    register(
        "PPO",
        FRAMEWORK,
        "rl_tf.ppo:PPOTFPolicy",
        summary="PPO in TensorFlow 2: clipped surrogate, value loss, entropy bonus, KL penalty; Adam",
        capabilities=PPO_CAPABILITIES,
    )
    register(
        "A3C",
        FRAMEWORK,
        "rl_tf.a3c:A3CTFPolicy",
        summary="A3C/A2C in TensorFlow 2: advantage policy gradient, value loss, entropy bonus, global-norm clip; Adam",
        capabilities=A3C_CAPABILITIES,
    )
    register(
        "DQN",
        FRAMEWORK,
        "rl_tf.dqn:DQNTFPolicy",
        summary="DQN in TensorFlow 2: Huber TD loss, n-step, double Q, dueling head, target network; Adam",
        capabilities=DQN_CAPABILITIES,
    )
    register(
        "APEX",
        FRAMEWORK,
        "rl_tf.dqn:DQNTFPolicy",
        summary="Ape-X's policy: DQN's in TensorFlow 2 (Huber TD loss, n-step, double Q, dueling, target net; Adam)",
        capabilities=DQN_CAPABILITIES,
    )
    register(
        "ES",
        FRAMEWORK,
        "rl_tf.es:ESTFPolicy",
        summary="ES in TensorFlow 2: the catalog model (fc, vision), forward graph only; flat weights perturbed by ES",
        capabilities=ES_CAPABILITIES,
    )
