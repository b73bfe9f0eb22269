"""PyTorch models, action distributions and evaluators for rlcore."""

__version__ = "0.2.0"
