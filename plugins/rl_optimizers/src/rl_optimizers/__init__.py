"""Policy optimizers for rlcore: sync, async, replay, multi-device, Ape-X."""

__version__ = "0.1.0"
