"""The rlcore plugin of rlcore-algos. Imports no framework and no Ray (nor gymnasium: targets are lazy)."""

from __future__ import annotations

from rlcore import hookimpl


@hookimpl
def rlcore_register_algorithms(register):
    """Register the algorithms of this distribution (lazy targets)."""
    register("PPO", "rl_algos.ppo:PPO", summary="Proximal Policy Optimization (clipped surrogate, adaptive KL)")
    register("DQN", "rl_algos.dqn:DQN", summary="DQN with double Q, dueling heads, n-step and prioritized replay")
    register(
        "A3C",
        "rl_algos.a3c:A3C",
        summary="Asynchronous advantage actor-critic: gradients from remote workers applied as they arrive",
    )
    register(
        "A2C",
        "rl_algos.a3c:A2C",
        summary="Synchronous A3C: samples gathered each round, one gradient step on the local learner (A3C policy)",
    )
    register(
        "APEX",
        "rl_algos.apex:APEX",
        summary="Ape-X: distributed prioritized replay DQN (per-worker epsilons, replay shards, a learner thread)",
    )
    register(
        "ES",
        "rl_algos.es:ES",
        summary="Evolution Strategies: antithetic perturbations from a shared noise table, centered ranks, Adam",
    )


#: What ESNumpyPolicy declares (kept equal to the class attribute by a test).
ES_NUMPY_CAPABILITIES: tuple[str, ...] = ("continuous", "discrete")


@hookimpl
def rlcore_register_policies(register):
    """Register the pure-numpy ES policy as ("ES", "numpy") (ES's default framework: no torch or TF needed)."""
    register(
        "ES",
        "numpy",
        "rl_algos.es.policy:ESNumpyPolicy",
        summary="ES's policy in numpy: the catalog fc model, forward only (flat weights perturbed by ES)",
        capabilities=ES_NUMPY_CAPABILITIES,
    )


@hookimpl
def rlcore_register_envs(register):
    """Register the example envs of this distribution (lazy targets)."""
    register(
        "StatelessCartPole-v1",
        "rl_algos.envs:make_stateless_cartpole",
        summary="CartPole-v1 without the velocities (obs: cart position, pole angle): needs memory",
    )
    register(
        "PixelGrid-v0",
        "rl_algos.envs:make_pixel_grid",
        summary="16x16 uint8 frames with one shape drawn; name the shape (reward 1 if right, 10 steps): vision nets",
    )
