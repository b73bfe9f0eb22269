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
def rlcore_register_evaluators(register: Any) -> None:
    """Register the pure-numpy policy-gradient evaluator as ("PG", "numpy")."""
    register(
        "PG",
        "numpy",
        "rlcore_numpy_example.evaluator:LinearPGEvaluator",
        summary="Linear softmax policy, REINFORCE with a linear value baseline, in numpy",
        capabilities=("discrete", "gradients", "remote"),
    )
