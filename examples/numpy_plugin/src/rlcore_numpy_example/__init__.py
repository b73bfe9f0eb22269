"""rlcore-example-numpy: an example third-party rlcore plugin (see README.md).

Importing the package imports nothing heavy; the plugin module is :mod:`rlcore_numpy_example.plugin`.
"""

__version__ = "0.1.0"
