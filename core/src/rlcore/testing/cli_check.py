"""``rlcore check-evaluator NAME [--framework F]``: the conformance kit from the command line."""

from __future__ import annotations

import sys
import warnings


def run_check(name: str, framework: str | None = None, *, remote: bool = False, training: bool = False) -> int:
    """Run every check of :func:`rlcore.testing.check_evaluator` on the evaluator registered as
    ``(name, framework)`` (a whole evaluator, or the rollout evaluator around a registered policy),
    printing one line per check; returns 0 when all pass, 1 otherwise."""
    from rlcore.plugins import get_registry
    from rlcore.registration import resolve_evaluator
    from rlcore.testing.checks import CHECKS, RegisteredEvaluatorFactory, check_evaluator

    registry = get_registry().load()
    specs = [*registry.specs["evaluator"].values(), *registry.specs["policy"].values()]
    frameworks = sorted({s.framework or "" for s in specs if s.name == name})
    if framework is None and frameworks:
        framework = "torch" if "torch" in frameworks else frameworks[0]
    # raises the registry's error when nothing is registered: what exists, what to install
    resolve_evaluator(name, framework or "torch")
    assert framework is not None
    factory = RegisteredEvaluatorFactory(name, framework)
    names = [n for n in CHECKS if remote or n != "ray_actor"]
    print(f"checking the {name} evaluator ({framework}): {len(names)} checks", flush=True)

    def show(check: str, status: str, detail: str) -> None:
        if status == "ok":
            print(f"  ok    {check}  ({detail})", flush=True)
        elif status == "n/a":
            print(f"  n/a   {check}: {detail}", flush=True)
        else:
            print(f"  FAIL  {check}", flush=True)

    try:
        with warnings.catch_warnings():  # a check that could not run is reported on its own line
            warnings.simplefilter("ignore")
            check_evaluator(factory, checks=names, report=show)
    except AssertionError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    policy = registry.specs["policy"].get(f"{name}/{framework}")
    if policy is not None and f"{name}/{framework}" not in registry.specs["evaluator"]:
        from rlcore.testing.policies import POLICY_CHECKS, PolicyEvaluatorFactory, check_policy

        count = len(POLICY_CHECKS) + 2  # and loss_columns, reference_loss
        print(f"checking the {name} policy ({framework}): {count} checks", flush=True)
        try:
            for check in check_policy(PolicyEvaluatorFactory(name, policy.target), evaluator_checks=False):
                print(f"  ok    {check}", flush=True)
        except AssertionError as exc:
            print(f"\n{exc}", file=sys.stderr)
            return 1
    if training:
        from rlcore.testing.training import check_training

        print(f"training {name} ({framework}) with each applicable optimizer", flush=True)
        try:
            for run in check_training(factory, num_workers=(0, 2) if remote else (0,)):
                print(f"  ok    {run}", flush=True)
        except AssertionError as exc:
            print(f"\n{exc}", file=sys.stderr)
            return 1
    print(f"all checks passed{'' if remote else ' (ray_actor skipped: add --remote)'}")
    return 0
