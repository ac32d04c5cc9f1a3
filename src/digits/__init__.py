"""Data: MNIST sources, composing digit sequences, and the on-disk dataset format."""

__version__ = "0.1.0"
