"""install(): route the standard library's sockets through the broker.

After ``install()``, the standard ``socket`` module's constructors and
functions are sockbroker's (socket, socketpair, create_connection,
getaddrinfo and the rest of the name service, ...), ``select.select`` and
``select.poll`` handle brokered sockets, and every selector class of
``selectors`` is BrokerSelector, so that code written for the standard
modules (http.client, urllib, socketserver, ...) runs unmodified. What was
created before keeps working as it was. ``ssl`` wraps brokered sockets with
a TLS engine in memory (see _tls).

Local stays local: AF_UNIX sockets and ``socketpair()`` are what a sandbox
can make itself, in its own filesystem, so by default the installed
``socket.socket(AF_UNIX, ...)`` and ``socket.socketpair()`` make the
standard, local sockets. ``install(unix="broker")`` or
``$SOCKBROKER_UNIX=broker`` sends them to the daemon instead (a sidecar whose
filesystem is the one meant). The module's own API (``sockbroker.socket``,
``sockbroker.connect().socket``) always brokers.

asyncio's default loop takes ``selectors.DefaultSelector``, so it waits
with BrokerSelector. Python children install the broker too (children=True):
the environment and a start-up hook (``_children/sitecustomize.py``).

Not patched: ``socket.close(fd)`` and ``socket.dup(fd)`` (they act on OS
descriptors), ``select.epoll`` and friends.
"""

from __future__ import annotations

import select as _stdselect
import selectors as _stdselectors
import socket as _stdsocket
import os
import ssl as _stdssl
import sys
from typing import Any, Dict, Optional, Tuple, Type

from . import _default
from ._socket import HANDOFF_CLASSES

__all__ = ["install", "installed", "uninstall", "UNIX_ENV"]

UNIX_ENV = "SOCKBROKER_UNIX"
# Set for Python children: the start-up hook in _children installs the
# broker in a process that finds it set to "1".
INSTALL_ENV = "SOCKBROKER_INSTALL"
CHILDREN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_children")
_UNIX_MODES = ("local", "broker")

# What install() replaced: (module, name) -> original (or _MISSING).
_saved: Dict[Tuple[Any, str], Any] = {}
# The environment variables install() set for children: name -> old value
# (None: unset).
_saved_env: Dict[str, Optional[str]] = {}
_MISSING = object()

_SOCKET_FUNCTIONS = (
    "socket", "SocketType", "socketpair", "fromfd", "create_connection", "create_server",
    "has_dualstack_ipv6", "getaddrinfo", "getnameinfo", "gethostbyname", "gethostbyname_ex",
    "gethostbyaddr", "getfqdn", "gethostname", "sethostname", "getprotobyname",
    "getservbyname", "getservbyport", "if_nameindex", "if_nametoindex", "if_indextoname",
    "send_fds", "recv_fds", "CMSG_LEN", "CMSG_SPACE", "getdefaulttimeout",
    "setdefaulttimeout", "inet_pton", "inet_ntop",
)
# The standard socket class, and the C module's default timeout, before any
# install(): the standard library's own sockets keep using them.
_RealSocket = _stdsocket.socket
_GLOBAL_DEFAULT_TIMEOUT = _stdsocket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]
_real_setdefaulttimeout = _stdsocket.setdefaulttimeout
_real_socketpair = _stdsocket.socketpair
_real_create_connection = _stdsocket.create_connection
_LOCAL_AF_UNIX = _stdsocket.AF_UNIX

_SELECTOR_CLASSES = ("DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector",
                     "DevpollSelector", "KqueueSelector")


def _patch(module: Any, name: str, value: Any) -> None:
    key = (module, name)
    if key not in _saved:
        _saved[key] = getattr(module, name, _MISSING)
    setattr(module, name, value)


def _real_accept(self: Any) -> Tuple[Any, Any]:
    """socket.socket.accept of the standard class, which builds the accepted
    socket with the module's ``socket`` name; after install() that name is
    sockbroker's, so real sockets accept with the real class instead."""
    fd, address = self._accept()
    sock = _RealSocket(self.family, self.type, self.proto, fileno=fd)
    if _stdsocket.getdefaulttimeout() is None and self.gettimeout():
        sock.setblocking(True)
    return sock, address


# The socket class install() put into the socket module.
_installed_class: Any = None


def _create_connection(address: Tuple[Any, int], timeout: Any = _GLOBAL_DEFAULT_TIMEOUT,
                       source_address: Optional[Tuple[Any, int]] = None, *,
                       all_errors: bool = False) -> Any:
    """create_connection() of the installed module: the daemon's, in one
    call, unless the program (or its tests) replaced socket.socket after
    install(); then the reference's own, which makes its sockets with that
    class (resolving names through the broker)."""
    import sockbroker
    if _stdsocket.socket is not _installed_class:
        return _real_create_connection(address, timeout, source_address,
                                       all_errors=all_errors)
    return sockbroker.create_connection(address, timeout, source_address,
                                        all_errors=all_errors)


def _setdefaulttimeout(timeout: Optional[float]) -> None:
    """setdefaulttimeout() for brokered and real sockets alike."""
    import sockbroker
    sockbroker.setdefaulttimeout(timeout)
    _real_setdefaulttimeout(timeout)


def _unix_mode(unix: Optional[str]) -> str:
    mode = unix if unix is not None else (os.environ.get(UNIX_ENV) or "local")
    if mode not in _UNIX_MODES:
        where = "install(unix=...)" if unix is not None else f"${UNIX_ENV}"
        raise ValueError(f"{where} is {mode!r}: use 'local' (AF_UNIX sockets and "
                         "socketpair() stay in this process's own system, the default) or "
                         "'broker' (the daemon makes them, in its filesystem)")
    return mode


def _local_unix_socket_class(broker_socket: Type[Any]) -> Type[Any]:
    """The installed socket.socket: a brokered socket class whose AF_UNIX
    sockets are the standard module's own (and count as its instances)."""

    class LocalUnixMeta(type):
        def __call__(cls, family: Any = -1, type: Any = -1, proto: Any = -1,  # noqa: A002
                     fileno: Any = None, **kwargs: Any) -> Any:
            if family == _LOCAL_AF_UNIX and not kwargs:
                return _RealSocket(family, type, proto, fileno)
            return super().__call__(family, type, proto, fileno, **kwargs)

        def __instancecheck__(cls, instance: Any) -> bool:
            return isinstance(instance, (_RealSocket, broker_socket))

        def __subclasscheck__(cls, subclass: Any) -> bool:
            return issubclass(subclass, (_RealSocket, broker_socket)) or \
                type.__subclasscheck__(cls, subclass)

    class socket(broker_socket, metaclass=LocalUnixMeta):  # noqa: N801
        __slots__ = ()
        __module__ = "sockbroker"
        __doc__ = broker_socket.__doc__

    socket.__qualname__ = "socket"
    HANDOFF_CLASSES.add(socket)
    return socket


def _local_socketpair(family: Optional[int] = None, type: Optional[int] = None,  # noqa: A002
                      proto: int = 0) -> Tuple[Any, Any]:
    """socketpair() of the standard module: a local pair, unless a family
    other than AF_UNIX is asked for (then the broker's)."""
    import sockbroker
    if family is None or family == _LOCAL_AF_UNIX:
        return _real_socketpair(_LOCAL_AF_UNIX if family is None else family,
                                _stdsocket.SOCK_STREAM if type is None else type, proto)
    return sockbroker.socketpair(family, type, proto)


def _setenv(name: str, value: str) -> None:
    if name not in _saved_env:
        _saved_env[name] = os.environ.get(name)
    os.environ[name] = value


def _arrange_children(url: str, unix_mode: str, handoff: bool) -> None:
    """Make Python children of this process install the broker too: the
    start-up hook's directory first on $PYTHONPATH, and the settings of this
    installation in the environment they inherit."""
    _setenv(INSTALL_ENV, "1")
    _setenv("SOCKBROKER_URL", url)
    _setenv(UNIX_ENV, unix_mode)
    _setenv("SOCKBROKER_HANDOFF", "1" if handoff else "0")
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if CHILDREN_DIR not in path:
        _setenv("PYTHONPATH", os.pathsep.join([CHILDREN_DIR] + path))


def installed() -> bool:
    """Whether install() is in effect."""
    return bool(_saved)


def install(url: Optional[str] = None, *, connect: bool = True,
            unix: Optional[str] = None, handoff: Optional[bool] = None,
            children: bool = True) -> None:
    """Make the standard socket, select and selectors modules use the broker.

    url: the broker (default $SOCKBROKER_URL or the daemon's default path).
    connect: reach the daemon now, so that a missing daemon is reported here
    rather than at the program's first socket; this also loads the daemon's
    constants into the socket module.
    unix: "local" (AF_UNIX sockets and socketpair() stay local, the default)
    or "broker" (the daemon makes them); default $SOCKBROKER_UNIX, else
    "local".
    handoff: ask the daemon to hand connected and accepted stream sockets
    over, which then are the standard library's own sockets on real
    descriptors; default $SOCKBROKER_HANDOFF, else yes (where the daemon
    and its policy allow it).
    children: make Python children (subprocess running sys.executable,
    multiprocessing spawn and forkserver) install the broker too, with these
    settings: through the environment ($SOCKBROKER_INSTALL, $SOCKBROKER_URL,
    $SOCKBROKER_UNIX, $SOCKBROKER_HANDOFF) and a start-up hook on
    $PYTHONPATH. uninstall() restores the environment.
    """
    import sockbroker

    unix_mode = _unix_mode(unix)

    from . import _tls
    from . import select as broker_select
    from .selectors import BrokerSelector

    client = _default.set_url(url) if url is not None else _default.get()
    if handoff is not None:
        client.set_handoff(handoff)
    if connect:
        client.session()

    # A default timeout set before install() keeps applying.
    sockbroker.setdefaulttimeout(_stdsocket.getdefaulttimeout())
    for name in _SOCKET_FUNCTIONS:
        _patch(_stdsocket, name, getattr(sockbroker, name))
    if unix_mode == "local":
        local_class = _local_unix_socket_class(sockbroker.socket)
        _patch(_stdsocket, "socket", local_class)
        _patch(_stdsocket, "SocketType", local_class)
        _patch(_stdsocket, "socketpair", _local_socketpair)
    _patch(_stdsocket, "setdefaulttimeout", _setdefaulttimeout)
    _patch(_stdsocket, "create_connection", _create_connection)
    global _installed_class
    _installed_class = _stdsocket.socket
    _patch(_RealSocket, "accept", _real_accept)
    _patch(_stdsocket, "has_ipv6", sockbroker.has_ipv6)
    for name in sockbroker._constant_names:
        value = getattr(sockbroker, name, None)
        if value is not None and getattr(_stdsocket, name, None) != value:
            _patch(_stdsocket, name, value)
    for name in ("AddressFamily", "SocketKind", "MsgFlag", "AddressInfo"):
        if getattr(sockbroker, name) is not getattr(_stdsocket, name):
            _patch(_stdsocket, name, getattr(sockbroker, name))

    _patch(_stdselect, "select", broker_select.select)
    _patch(_stdselect, "poll", broker_select.poll)
    for name in _SELECTOR_CLASSES:
        if hasattr(_stdselectors, name):
            _patch(_stdselectors, name, BrokerSelector)
    socketserver = sys.modules.get("socketserver")
    if socketserver is not None and hasattr(socketserver, "_ServerSelector"):
        _patch(socketserver, "_ServerSelector", BrokerSelector)

    _patch(_stdssl.SSLContext, "wrap_socket", _tls.wrap_socket_patched)
    if children:
        _arrange_children(client.url, unix_mode, client.handoff)


def uninstall() -> None:
    """Undo install(): what is created from now on is local again."""
    for (module, name), original in reversed(list(_saved.items())):
        if original is _MISSING:
            try:
                delattr(module, name)
            except AttributeError:
                pass
        else:
            setattr(module, name, original)
    _saved.clear()
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_env.clear()
