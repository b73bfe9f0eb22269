"""The rlcore plugin of rlcore-optimizers. Imports no framework and no Ray."""

from __future__ import annotations

from rlcore import hookimpl
