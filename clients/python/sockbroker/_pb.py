"""The generated protobuf module of the wire contract (sockbroker.v1).

The module is generated from proto/sockbroker.proto at build time and never
kept in the source tree, so that it cannot drift from the contract: a pip
install generates it into this package (see setup.py), and a meson build
generates it into its build directory, which the tests put on sys.path.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["pb"]


def _load() -> ModuleType:
    error: Exception = ImportError()
    for name in (f"{__package__}.sockbroker_pb2", "sockbroker_pb2"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            error = e
    raise ImportError(
        "sockbroker: the protobuf module generated from sockbroker.proto "
        "(sockbroker_pb2) is missing. Install the package with pip, which "
        "runs protoc, or put a build directory that has it on PYTHONPATH "
        "(run protoc --python_out=DIR proto/sockbroker.proto). "
        f"Import error: {error}") from error


pb = _load()
