"""The rlcore plugin of rlcore-torch. Imports no torch: it only names lazy targets."""

from __future__ import annotations

from typing import Any

from rlcore import hookimpl

#: Modules this plugin needs at build time (module -> pip requirement), checked without importing.
RLCORE_REQUIRES = {"torch": "torch"}

#: What PPOTorchPolicy declares (kept equal to the class attribute by a test).
PPO_CAPABILITIES: tuple[str, ...] = ("continuous", "discrete", "gradients", "multi_device", "recurrent")
#: What A3CTorchPolicy declares (kept equal to the class attribute by a test).
A3C_CAPABILITIES: tuple[str, ...] = ("continuous", "discrete", "gradients", "recurrent")
#: What DQNTorchPolicy declares (kept equal to the class attribute by a test).
DQN_CAPABILITIES: tuple[str, ...] = ("discrete", "gradients")
#: What ESTorchPolicy declares (kept equal to the class attribute by a test): acting only, no "gradients".
ES_CAPABILITIES: tuple[str, ...] = ("continuous", "discrete")


@hookimpl
def rlcore_register_models(register: Any) -> None:
    """Register the torch catalog models: ``fc``, ``vision``, ``lstm`` and ``q``."""
    register(
        "fc",
        "torch",
        "rl_torch.models:FullyConnectedNetwork",
        summary="Fully connected policy and value networks (canonical weights)",
    )
    register(
        "vision",
        "torch",
        "rl_torch.models:VisionNetwork",
        summary="Conv trunk with logits and value heads, TensorFlow SAME/VALID padding (canonical weights)",
    )
    register(
        "lstm",
        "torch",
        "rl_torch.models:LSTMNetwork",
        summary="fc or conv trunk, one LSTM cell (gates i, f, g, o; state [h, c]), logits and value heads",
    )
    register(
        "q",
        "torch",
        "rl_torch.dqn:QNetwork",
        summary="Q network of DQN-family policies: fc or conv trunk, Q head (hiddens, dueling; canonical weights)",
    )


@hookimpl
def rlcore_register_policies(register: Any) -> None:
    """Register the torch policies: ("PPO", "torch"), ("A3C", "torch"), ("DQN", "torch"), ("APEX", "torch")
    (Ape-X acts and learns with DQN's policy) and ("ES", "torch") (forward only: ES perturbs its flat weights)."""
    register(
        "PPO",
        "torch",
        "rl_torch.ppo:PPOTorchPolicy",
        summary="PPO in PyTorch: clipped surrogate, value loss, entropy bonus, KL penalty; Adam",
        capabilities=PPO_CAPABILITIES,
    )
    register(
        "A3C",
        "torch",
        "rl_torch.a3c:A3CTorchPolicy",
        summary="A3C/A2C in PyTorch: advantage policy gradient, value loss, entropy bonus, global-norm clip; Adam",
        capabilities=A3C_CAPABILITIES,
    )
    register(
        "DQN",
        "torch",
        "rl_torch.dqn:DQNTorchPolicy",
        summary="DQN in PyTorch: Huber TD loss, n-step, double Q, dueling head, target network; Adam",
        capabilities=DQN_CAPABILITIES,
    )
    register(
        "APEX",
        "torch",
        "rl_torch.dqn:DQNTorchPolicy",
        summary="Ape-X's policy: DQN's in PyTorch (Huber TD loss, n-step, double Q, dueling, target network; Adam)",
        capabilities=DQN_CAPABILITIES,
    )
    register(
        "ES",
        "torch",
        "rl_torch.es:ESTorchPolicy",
        summary="ES in PyTorch: the catalog model (fc, vision), forward only; flat weights perturbed by the ES trainer",
        capabilities=ES_CAPABILITIES,
    )
