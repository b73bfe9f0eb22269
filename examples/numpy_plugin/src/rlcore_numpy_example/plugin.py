"""The plugin module named by the ``rlcore`` entry point.

It imports only ``rlcore.hookimpl`` and names its targets as ``"module:attribute"`` strings, so
that ``rlcore list-plugins`` and name lookups never import the env or the evaluator (nor numpy).
"""

from __future__ import annotations

from typing import Any

from rlcore import hookimpl


@hookimpl
def rlcore_register_envs(register: Any) -> None:
    """Register the example's corridor env."""
    register(
        "NumpyCorridor-v0",
        "rlcore_numpy_example.envs:make_corridor",
        summary="Walk right along a corridor to the goal (discrete actions, one-hot obs)",
    )


@hookimpl
def rlcore_register_policies(register: Any) -> None:
    """Register the pure-numpy policy of the PG algorithm as ("PG", "numpy")."""
    register(
        "PG",
        "numpy",
        "rlcore_numpy_example.policy:LinearPGPolicy",
        summary="Linear softmax policy and linear value baseline (REINFORCE), in numpy",
        capabilities=("discrete", "gradients"),
    )


@hookimpl
def rlcore_register_algorithms(register: Any) -> None:
    """Register the PG algorithm (config schema, postprocessing, trainer)."""
    register("PG", "rlcore_numpy_example.algorithm:PG", summary="Vanilla policy gradient with a value baseline")


@hookimpl
def rlcore_register_evaluators(register: Any) -> None:
    """Register the whole evaluator (it samples its own way) as ("PG", "numpy_whole")."""
    register(
        "PG",
        "numpy_whole",
        "rlcore_numpy_example.evaluator:LinearPGEvaluator",
        summary="The same PG as a whole PolicyEvaluator that samples its own way, in numpy",
        capabilities=("discrete", "gradients", "remote"),
    )
