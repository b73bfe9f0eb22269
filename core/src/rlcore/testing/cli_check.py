"""``rlcore check-evaluator NAME [--framework F]``: the conformance kit from the command line."""

from __future__ import annotations

import sys
import time
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
    failures = []
    for check in names:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                passed = check_evaluator(factory, checks=[check])
            except AssertionError as exc:
                failures.append(str(exc))
                print(f"  FAIL  {check}", flush=True)
                continue
        took = time.perf_counter() - start
        if passed:
            print(f"  ok    {check}  ({took:.1f} s)", flush=True)
        else:
            why = "; ".join(str(w.message) for w in caught) or "does not apply to this evaluator's capabilities"
            print(f"  n/a   {check}: {why}", flush=True)
    if failures:
        print("\n" + "\n\n".join(failures), file=sys.stderr)
        print(f"\n{len(failures)} of {len(names)} checks failed", file=sys.stderr)
        return 1
    print(f"all checks passed{'' if remote else ' (ray_actor skipped: add --remote)'}")
    return 0
