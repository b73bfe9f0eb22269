"""TensorFlow 2 models, action distributions and policies for rlcore."""

__version__ = "0.2.0"
