"""The rlcore plugin of rlcore-tf. Imports no TensorFlow: it only names lazy targets."""

from __future__ import annotations

from rlcore import hookimpl

#: Modules this plugin needs at build time (module -> pip requirement), checked without importing.
RLCORE_REQUIRES = {"tensorflow": "tensorflow-cpu"}
