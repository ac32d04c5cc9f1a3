"""The network, its training, and reading digit strings with it.

``from model import Reader`` is the Python API (``model.api``); importing ``model`` imports
no TensorFlow until a Reader is built.
"""


def __getattr__(name: str):
    if name in ("Reader", "Reading"):
        from model import api

        return getattr(api, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")


__all__ = ["Reader", "Reading"]
