"""Policy optimizers for rlcore: sync, async, replay, multi-device, Ape-X."""

__version__ = "0.2.0"
