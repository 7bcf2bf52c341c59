"""The keras_ae version, in a module that imports nothing.

A foundation module: any floor reads it (the exporter writes it into each export's
metadata) without importing the package top, which imports every family.

Example:
    >>> from keras_ae.version import __version__
    >>> __version__ == keras_ae.__version__
    True
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
