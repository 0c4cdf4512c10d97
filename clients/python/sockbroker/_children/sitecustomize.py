"""Start-up hook of the Python children of a brokered program.

``sockbroker.install()`` (and so ``python3 -m sockbroker.run``) puts this
directory first on ``$PYTHONPATH`` and sets ``$SOCKBROKER_INSTALL=1``, so a
Python child (``subprocess`` running ``sys.executable``, ``multiprocessing``
spawn and forkserver) imports this module at start-up, as ``site`` imports
``sitecustomize``. It takes its directory off ``sys.path`` again, runs the
``sitecustomize`` it hides (Debian has one), then calls
``sockbroker.install(connect=False)``: the child's sockets are brokered too,
in a session of its own that opens at its first call.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _chain() -> None:
    """Take this directory off sys.path and import the sitecustomize that
    it hid, if there is one."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    this = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401 (the next one on the path)
    except ImportError as e:
        if e.name != "sitecustomize":
            raise
        if this is not None:
            sys.modules["sitecustomize"] = this


def _install() -> None:
    if os.environ.get("SOCKBROKER_INSTALL") != "1":
        return
    try:
        try:
            import sockbroker
        except ImportError as e:
            if e.name != "sockbroker":
                raise
            sys.path.append(os.path.dirname(os.path.dirname(_HERE)))
            import sockbroker
        sockbroker.install(connect=False)
    except Exception as e:  # noqa: BLE001 (said, and the child runs on)
        sys.stderr.write(
            f"sockbroker: this Python ({sys.executable}), started by a brokered program, "
            f"could not install the broker, so its sockets are its own: {e}. It needs "
            "the sockbroker package and python3-protobuf (or unset SOCKBROKER_INSTALL "
            "for it).\n")


_chain()
_install()
