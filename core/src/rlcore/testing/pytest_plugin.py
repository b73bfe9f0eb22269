"""The ``pytest11`` plugin of rlcore: fixtures for testing evaluators and plugins.

Loaded by every pytest run where rlcore is installed, so importing it is cheap: gymnasium,
numpy and Ray are imported inside the fixtures that need them.

Fixtures:

* ``rlcore_test_env`` / ``rlcore_continuous_test_env`` / ``rlcore_image_test_env``: creators
  (``creator(env_config) -> gymnasium.Env``) of the kit's deterministic corridor envs;
* ``rlcore_registry``: a fresh, isolated :class:`rlcore.plugins.PluginRegistry` (no entry points
  loaded) installed as the process-wide registry for one test, the previous one restored after;
* ``ray_session``: Ray started once per session (``num_cpus=2``, no dashboard) and shut down at
  its end; skips the test when Ray is not installed (``pip install -c constraints.txt './core[ray]'``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rlcore.plugins import PluginRegistry


@contextlib.contextmanager
def isolated_registry(entry_points: Any = ()) -> Iterator[PluginRegistry]:
    """Install a fresh process-wide plugin registry for the ``with`` block, then restore the old one.

    ``entry_points`` defaults to none (nothing installed is loaded); pass ``None`` to load the
    installed ``rlcore`` entry points anew, or a list of ``EntryPoint`` objects.
    """
    from rlcore import plugins

    old = plugins.set_registry(None)
    registry = plugins.reset_registry(None if entry_points is None else list(entry_points))
    try:
        yield registry
    finally:
        plugins.set_registry(old)


@pytest.fixture
def rlcore_test_env() -> Callable[..., Any]:
    """Creator of the discrete test corridor (:class:`rlcore.testing.envs.CorridorEnv`)."""
    from rlcore.testing.envs import make_corridor

    return make_corridor


@pytest.fixture
def rlcore_continuous_test_env() -> Callable[..., Any]:
    """Creator of the continuous-action test corridor (:class:`rlcore.testing.envs.ContinuousCorridorEnv`)."""
    from rlcore.testing.envs import make_continuous_corridor

    return make_continuous_corridor


@pytest.fixture
def rlcore_image_test_env() -> Callable[..., Any]:
    """Creator of the image-observation test corridor (:class:`rlcore.testing.envs.ImageCorridorEnv`)."""
    from rlcore.testing.envs import make_image_corridor

    return make_image_corridor


@pytest.fixture
def rlcore_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginRegistry]:
    """A fresh, empty plugin registry installed process-wide for this test (restored after).

    Add plugins with ``rlcore_registry.add_plugin(module, "name")``; ``RLCORE_STRICT_PLUGINS``
    and ``RLCORE_DISABLE_PLUGINS`` are unset for the test.
    """
    monkeypatch.delenv("RLCORE_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("RLCORE_DISABLE_PLUGINS", raising=False)
    with isolated_registry() as registry:
        yield registry.load()


@pytest.fixture(autouse=True)
def _rlcore_2018_lines_said_afresh() -> None:
    """Each test sees rlcore's once-per-process RLlib2018Warning lines afresh (tests that expect one)."""
    from rlcore.config_aliases import forget_said

    forget_said()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """The ``ray`` module, initialized once for the session (2 CPUs, no dashboard), shut down after."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -c constraints.txt './core[ray]'")
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        started = True
    yield ray
    if started and ray.is_initialized():
        ray.shutdown()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ray`` marker (the conformance kit's Ray test carries it)."""
    config.addinivalue_line("markers", "ray: needs Ray (starts one local Ray per session)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Shut down Ray if the conformance kit started it during the session."""
    checks = sys.modules.get("rlcore.testing.checks")
    if checks is None or not getattr(checks, "_RAY_STARTED_BY_KIT", False):
        return
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    setattr(checks, "_RAY_STARTED_BY_KIT", False)  # noqa: B010 - a module found in sys.modules
