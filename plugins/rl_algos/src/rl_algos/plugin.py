"""The rlcore plugin of rlcore-algos. Imports no framework and no Ray."""

from __future__ import annotations

from rlcore import hookimpl
