"""``rlcore check-evaluator NAME [--framework F]``: the conformance kit from the command line."""

from __future__ import annotations

import sys
import warnings

from rlcore.errors import UnknownNameError


def run_check(name: str, framework: str | None = None, *, remote: bool = False) -> int:
    """Run every check of :func:`rlcore.testing.check_evaluator` on the evaluator registered as
    ``(name, framework)``, printing one line per check; returns 0 when all pass, 1 otherwise."""
    from rlcore.plugins import get_registry
    from rlcore.testing.checks import CHECKS, RegisteredEvaluatorFactory, check_evaluator

    registry = get_registry().load()
    frameworks = sorted(s.framework or "" for s in registry.specs["evaluator"].values() if s.name == name)
    if not frameworks:
        from rlcore.registration import get_evaluator_class

        get_evaluator_class(name, framework or "torch")  # raises the registry's error: what exists, what to install
        raise UnknownNameError(f"no evaluator registered for {name!r}")  # pragma: no cover
    if framework is None:
        framework = "torch" if "torch" in frameworks else frameworks[0]
    elif framework not in frameworks:
        from rlcore.registration import get_evaluator_class

        get_evaluator_class(name, framework)  # raises with the install hint for a missing framework plugin
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
    print(f"all checks passed{'' if remote else ' (ray_actor skipped: add --remote)'}")
    return 0
