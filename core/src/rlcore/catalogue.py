"""The catalogue of first-party plugins (a copy of the repository's ``registry.toml``).

It tells which distribution provides a name, so that asking for a name whose plugin is not
installed says what to ``pip install``. Reading it imports nothing but ``tomllib``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

#: The plural section names of registry.toml, by spec kind.
SECTIONS: dict[str, str] = {
    "env": "envs",
    "model": "models",
    "policy": "policies",
    "evaluator": "evaluators",
    "optimizer": "optimizers",
    "algorithm": "algorithms",
}


@dataclass(frozen=True)
class CatalogueEntry:
    """One first-party plugin as registry.toml describes it."""

    name: str
    folder: str
    distribution: str
    package: str
    frameworks: tuple[str, ...]
    provides: dict[str, tuple[str, ...]] = field(default_factory=dict)
    planned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Plugins (by ``name``) that what it provides needs at run time (rl_algos' trainers build
    #: rl_optimizers' optimizers).
    runtime_plugins: tuple[str, ...] = ()

    def names(self, kind: str, *, planned: bool = True) -> tuple[str, ...]:
        """Keys of one kind that this plugin provides (and, with ``planned``, will provide)."""
        section = SECTIONS[kind]
        out = self.provides.get(section, ())
        return out + self.planned.get(section, ()) if planned else out


def parse(data: dict[str, Any]) -> list[CatalogueEntry]:
    """Parse the ``[[plugin]]`` tables of a loaded registry.toml."""
    entries = []
    for raw in data.get("plugin", []):
        entries.append(
            CatalogueEntry(
                name=raw["name"],
                folder=raw["folder"],
                distribution=raw["distribution"],
                package=raw["package"],
                frameworks=tuple(raw.get("frameworks", ())),
                provides={k: tuple(v) for k, v in raw.get("provides", {}).items()},
                planned={k: tuple(v) for k, v in raw.get("planned", {}).items()},
                runtime_plugins=tuple(raw.get("runtime_plugins", ())),
            )
        )
    return entries


@cache
def load_catalogue() -> tuple[CatalogueEntry, ...]:
    """The catalogue shipped with rlcore."""
    text = resources.files("rlcore").joinpath("data/registry.toml").read_text("utf-8")
    return tuple(parse(tomllib.loads(text)))


def providers(kind: str, key: str) -> list[CatalogueEntry]:
    """First-party plugins that provide (or will provide) ``key`` of ``kind``."""
    return [e for e in load_catalogue() if key in e.names(kind)]


def by_distribution(distribution: str) -> CatalogueEntry | None:
    """The catalogue entry of a distribution name (compared as PEP 503 normalizes names), if it is first-party."""
    wanted = re.sub(r"[-_.]+", "-", distribution).lower()
    for entry in load_catalogue():
        if re.sub(r"[-_.]+", "-", entry.distribution).lower() == wanted:
            return entry
    return None
