"""The rlcore plugin of rlcore-torch. Imports no torch: it only names lazy targets."""

from __future__ import annotations

from rlcore import hookimpl

#: Modules this plugin needs at build time (module -> pip requirement), checked without importing.
RLCORE_REQUIRES = {"torch": "torch"}
