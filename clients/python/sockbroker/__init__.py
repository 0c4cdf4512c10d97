"""sockbroker: the standard socket module's API, run by a sockbroker daemon.

``import sockbroker as socket`` gives a module with the names of the standard
``socket`` module whose sockets live in the daemon: each socket is a handle
of this process's broker session, and each call a request to the daemon. A
process without a network of its own (``unshare -n``, a container without
one) reaches the network through the daemon's listen socket.

- ``sockbroker.install()`` makes the standard modules (socket, select,
  selectors) use the broker, for code that imports ``socket`` itself;
  ``python3 -m sockbroker.run script.py`` runs a program that way.
- ``sockbroker.connect(url)`` gives an explicit client whose methods are the
  module's functions (``client.socket()``, ``client.getaddrinfo()``, ...).
- The broker URL is $SOCKBROKER_URL, else the daemon's default path.

Constants: until the first call reaches the daemon, the constants are this
platform's values (the standard module's), so that importing never needs the
daemon. The first session's Hello reply then updates them with the daemon's
table: names the daemon adds appear, and a group of names on which the daemon
disagrees (a daemon on another kind of system) takes the daemon's values.
On the usual set-up (daemon and client on the same system) nothing changes.
A constant this platform lacks (``TCP_INQ`` on an older Python) can be read
before that first call: reading it connects the default client, as the first
call would, and looks it up in the daemon's table. ``dir()`` and ``__all__``
list the names known so far, without connecting.

``fileno()`` of a brokered socket is a descriptor of this process reserved
for it (on /dev/null), which names the socket to this module; a socket that
was handed over is the standard library's, on its real descriptor.
"""

from __future__ import annotations

import re as _re
import socket as _stdsocket
from typing import Any, List, Optional, Tuple

from . import _default
from ._api import Client, recv_fds, send_fds
from ._api import _local_family
from ._constants import Constants as _Constants
from ._core import Session as _Session
from ._core import __version__
from ._errors import (BrokerConnectionError, BrokerProtocolError, UnsupportedOperation, error,
                      gaierror, herror, timeout)
from ._socket import (_GLOBAL_DEFAULT_TIMEOUT, HandedOffSocket, SocketIO, SocketType,
                      getdefaulttimeout, setdefaulttimeout, socket)
from ._transport import default_url

# ---- constants: this platform's until the daemon says otherwise ------------

_constants = _Constants()
_constant_names = set(_constants.values)
globals().update(_constants.values)
AddressFamily = _constants.AddressFamily
SocketKind = _constants.SocketKind
MsgFlag = _constants.MsgFlag
AddressInfo = _constants.AddressInfo
has_ipv6: bool = _stdsocket.has_ipv6
# String constants (Bluetooth addresses): the same wherever the daemon runs.
# (Not the standard module's private ones, such as _LOCALHOST.)
_string_constants = {name: value for name, value in vars(_stdsocket).items()
                     if name[:1].isupper() and name.isupper() and isinstance(value, str)}
globals().update(_string_constants)

# What __all__ lists besides the constants.
_PUBLIC_NAMES = frozenset({
    "AddressFamily", "AddressInfo", "BrokerConnectionError", "BrokerProtocolError",
    "CMSG_LEN", "CMSG_SPACE", "Client", "MsgFlag", "SocketIO", "SocketKind",
    "SocketType", "UnsupportedOperation", "close", "connect", "create_connection",
    "create_server", "default_client", "default_url", "dup", "error", "fromfd",
    "gaierror", "getaddrinfo", "getdefaulttimeout", "getfqdn", "gethostbyaddr",
    "gethostbyname", "gethostbyname_ex", "gethostname", "getnameinfo", "getprotobyname",
    "getservbyname", "getservbyport", "has_dualstack_ipv6", "has_ipv6", "herror",
    "htonl", "htons", "if_indextoname", "if_nameindex", "if_nametoindex", "inet_aton",
    "inet_ntoa", "inet_ntop", "inet_pton", "install", "installed", "ntohl", "ntohs",
    "recv_fds", "send_fds", "set_default_url", "setdefaulttimeout", "sethostname",
    "socket", "socketpair", "timeout", "uninstall",
})


def _all_names() -> List[str]:
    return sorted(_constant_names | set(_string_constants) | _PUBLIC_NAMES)


def _apply_session(session: _Session) -> None:
    """Publish the default client's daemon constants as module attributes."""
    global _constant_names, has_ipv6, __all__
    namespace = globals()
    consts = session.constants
    for name in _constant_names - set(consts.values):
        namespace.pop(name, None)
    namespace.update(consts.values)
    namespace.update(consts.enums)
    _constant_names = set(consts.values)
    __all__ = _all_names()
    if session.has_ipv6 is not None:
        has_ipv6 = session.has_ipv6


_default.on_new_client(lambda client: client.add_session_hook(_apply_session))


def connect(url: Optional[str] = None, *, token: Optional[str] = None,
            handoff: Optional[bool] = None) -> Client:
    """A client of the daemon at url ($SOCKBROKER_URL or the default when
    None). It connects on its first call; use it as a context manager or
    close() it to end its session. handoff: ask the daemon to hand connected
    stream sockets over (default $SOCKBROKER_HANDOFF, else yes)."""
    return Client(url, token=token, handoff=handoff)


def default_client() -> Client:
    """The client behind the module's functions."""
    return _default.get()


def set_default_url(url: Optional[str]) -> Client:
    """Point the module's functions at the daemon at url (None: back to
    $SOCKBROKER_URL or the default). Sockets made before keep their daemon."""
    return _default.set_url(url)


# ---- module functions: the default client's --------------------------------


def socketpair(family: Optional[int] = None, type: Optional[int] = None,  # noqa: A002
               proto: int = 0) -> Tuple[socket, socket]:
    """A pair of connected brokered sockets (AF_UNIX, SOCK_STREAM by default)."""
    return _default.get().socketpair(family, type, proto)


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> socket:  # noqa: A002
    """A socket for a duplicate of the brokered socket numbered ``fd`` (its
    fileno(), or a number from detach(), dup() or recv_fds())."""
    return _default.get().fromfd(fd, family, type, proto)


def dup(fd: int) -> int:
    """Duplicate the brokered socket numbered ``fd``; return the new number."""
    return _default.get().dup(fd)


def close(fd: int) -> None:
    """Close the brokered socket numbered ``fd`` (its fileno(), or a number
    from detach(), dup() or recv_fds())."""
    _default.get().close_handle(fd)


def create_connection(address: Tuple[Any, int], timeout: Any = _GLOBAL_DEFAULT_TIMEOUT,
                      source_address: Optional[Tuple[Any, int]] = None, *,
                      all_errors: bool = False) -> socket:
    """Connect to (host, port) trying every address of host; return the socket."""
    return _default.get().create_connection(address, timeout, source_address,
                                            all_errors=all_errors)


def create_server(address: Tuple[Any, int], *, family: Optional[int] = None,
                  backlog: Optional[int] = None, reuse_port: bool = False,
                  dualstack_ipv6: bool = False) -> socket:
    """A listening TCP socket bound to address."""
    return _default.get().create_server(address, family=family, backlog=backlog,
                                        reuse_port=reuse_port, dualstack_ipv6=dualstack_ipv6)


def has_dualstack_ipv6() -> bool:
    """Whether the daemon can make a TCP socket taking both IPv4 and IPv6."""
    return _default.get().has_dualstack_ipv6()


def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0,  # noqa: A002
                proto: int = 0, flags: int = 0) -> List[Tuple[Any, Any, int, str, Any]]:
    """Resolve host and port on the daemon: [(family, type, proto, canonname,
    sockaddr), ...]."""
    return _default.get().getaddrinfo(host, port, family, type, proto, flags)


def getnameinfo(sockaddr: Tuple[Any, ...], flags: int) -> Tuple[str, str]:
    """(host, port) names of a socket address, resolved on the daemon."""
    return _default.get().getnameinfo(sockaddr, flags)


def gethostbyname(hostname: str) -> str:
    """The IPv4 address of a host name, resolved on the daemon."""
    return _default.get().gethostbyname(hostname)


def gethostbyname_ex(hostname: str) -> Tuple[str, List[str], List[str]]:
    """(hostname, aliaslist, ipaddrlist) of a host name."""
    return _default.get().gethostbyname_ex(hostname)


def gethostbyaddr(ip_address: str) -> Tuple[str, List[str], List[str]]:
    """(hostname, aliaslist, ipaddrlist) of an address."""
    return _default.get().gethostbyaddr(ip_address)


def getfqdn(name: str = "") -> str:
    """A fully qualified domain name for name (the daemon's host if empty)."""
    return _default.get().getfqdn(name)


def gethostname() -> str:
    """The host name of the daemon's machine."""
    return _default.get().gethostname()


def sethostname(name: Any) -> None:
    """Set the host name of the daemon's machine."""
    _default.get().sethostname(name)


def getprotobyname(protocolname: str) -> int:
    """The number of a protocol name."""
    return _default.get().getprotobyname(protocolname)


def getservbyname(servicename: str, protocolname: Optional[str] = None) -> int:
    """The port number of a service name."""
    return _default.get().getservbyname(servicename, protocolname)


def getservbyport(port: int, protocolname: Optional[str] = None) -> str:
    """The service name of a port number."""
    return _default.get().getservbyport(port, protocolname)


def if_nameindex() -> List[Tuple[int, str]]:
    """The daemon host's network interfaces: [(index, name), ...]."""
    return _default.get().if_nameindex()


def if_nametoindex(if_name: Any) -> int:
    """The index of an interface of the daemon's host."""
    return _default.get().if_nametoindex(if_name)


def if_indextoname(if_index: int) -> str:
    """The name of an interface of the daemon's host."""
    return _default.get().if_indextoname(if_index)


def CMSG_LEN(length: int) -> int:  # noqa: N802 (the reference's name)
    """Length of an ancillary data item with length data bytes (daemon's value)."""
    return _default.get().CMSG_LEN(length)


def CMSG_SPACE(length: int) -> int:  # noqa: N802
    """Buffer space for an ancillary data item with length data bytes."""
    return _default.get().CMSG_SPACE(length)


# ---- pure functions: computed here -----------------------------------------

ntohl = _stdsocket.ntohl
ntohs = _stdsocket.ntohs
htonl = _stdsocket.htonl
htons = _stdsocket.htons
inet_aton = _stdsocket.inet_aton
inet_ntoa = _stdsocket.inet_ntoa
# Captured: install() puts the functions below in their place.
_local_inet_pton = _stdsocket.inet_pton
_local_inet_ntop = _stdsocket.inet_ntop


def inet_pton(address_family: int, ip_string: str) -> bytes:
    """Pack an IPv4/IPv6 address string (family: this module's AF_INET or
    AF_INET6)."""
    return _local_inet_pton(_local_family(_constants_now(), address_family), ip_string)


def inet_ntop(address_family: int, packed_ip: Any) -> str:
    """Format a packed IPv4/IPv6 address (family: this module's AF_INET or
    AF_INET6)."""
    return _local_inet_ntop(_local_family(_constants_now(), address_family), packed_ip)


def _constants_now() -> Any:
    """The constants the module's names hold now (without connecting)."""
    namespace = globals()
    return {name: namespace.get(name) for name in ("AF_INET", "AF_INET6")}


# A name that reads as a constant: upper case before its first underscore
# (TCP_INQ, CAPI, and the kernel's TCP_CA_Open alike).
_CONSTANT_NAME = _re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Za-z0-9]+)*")


def __getattr__(name: str) -> Any:
    """A constant this platform lacks, from the daemon's table (PEP 562).

    Reading it connects the default client, as its first call would; after
    that, the daemon's names are plain module attributes. Whatever goes
    wrong is an AttributeError, so that getattr() and hasattr() behave as
    for any missing name.
    """
    if not _CONSTANT_NAME.fullmatch(name):
        raise AttributeError(f"module 'sockbroker' has no attribute {name!r}")
    client = _default.get()
    try:
        session = client.session()
    except Exception as e:
        raise AttributeError(
            f"module 'sockbroker' has no attribute {name!r}: this platform has no such "
            f"constant, and the broker at {client.url} could not be asked for it ({e})"
        ) from e
    value = session.constants.values.get(name)
    if value is None:
        raise AttributeError(f"module 'sockbroker' has no attribute {name!r}: neither this "
                             f"platform nor the broker at {client.url} has that constant")
    return value


from . import select, selectors  # noqa: E402  (they use the names above)
from ._install import install, installed, uninstall  # noqa: E402

__all__ = _all_names()
