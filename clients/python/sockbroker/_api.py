"""The module functions of the reference, as methods of a client.

``Client`` is what ``sockbroker.connect(url)`` returns; the functions of the
``sockbroker`` module are those of a default client. Every function that
needs the network or the daemon's host (name service, interfaces) is a
request to the daemon; the pure functions (inet_*, hton*) run here.

Where the reference implements a function in Python on top of others
(create_connection, create_server), the daemon's operation is used when it
has one, and the reference's algorithm over the other operations when it
answers UNSUPPORTED.
"""

from __future__ import annotations

import array
import ipaddress
import os
import socket as _stdsocket
import sys
from typing import Any, List, Optional, Tuple

from . import _address, _default, _errors
from ._constants import to_enum
from ._core import Core
from ._errors import UnsupportedOperation, from_wire
from ._pb import pb
from ._socket import (_C_LONG, _GLOBAL_DEFAULT_TIMEOUT, _c_int, _index, _native_socket,
                      _timeout_of, _timeout_value, default_timeout_of, live_socket, name_of,
                      release_number, reserve_number, socket)
from ._socket import setdefaulttimeout as _set_module_default_timeout

__all__ = ["Client", "send_fds", "recv_fds"]


def _op_unsupported(core: Core, name: str) -> bool:
    session = core._session
    return session is not None and not session.lost and name in session.unsupported


def _literal_family(host: str) -> Optional[int]:
    """4 or 6 for a numeric IPv4/IPv6 host, None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).version
    except ValueError:
        return None


class Client(Core):
    """A client of one sockbroker daemon, with the socket module's functions.

    ``Client(url)`` (or ``sockbroker.connect(url)``) connects on its first
    call. Its methods and attributes mirror the module: the functions, the
    default timeout (its own), the local helpers (inet_*, hton*/ntoh*), the
    exception classes, and the constants (``client.AF_INET``), which are
    always the daemon's values.

    ``close()`` ends the session: the daemon closes all of its sockets.
    ``close_handle(fd)`` closes one handle by id, what the module's
    ``sockbroker.close(fd)`` (the reference's ``socket.close(fd)``) does.
    """

    __module__ = "sockbroker"

    # The module's exception classes.
    error = _errors.error
    timeout = _errors.timeout
    gaierror = _errors.gaierror
    herror = _errors.herror

    # Pure functions: computed here, without the daemon.
    htonl = staticmethod(_stdsocket.htonl)
    htons = staticmethod(_stdsocket.htons)
    ntohl = staticmethod(_stdsocket.ntohl)
    ntohs = staticmethod(_stdsocket.ntohs)
    inet_aton = staticmethod(_stdsocket.inet_aton)
    inet_ntoa = staticmethod(_stdsocket.inet_ntoa)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not name[:1].isupper():
            raise AttributeError(name)
        # Anything that goes wrong is an AttributeError, so that getattr()
        # and hasattr() behave as for any missing attribute.
        try:
            constants = self.constants
        except Exception as e:
            raise AttributeError(f"the broker at {self.url} could not be asked for the "
                                 f"constant {name} ({e})") from e
        if name in constants.enums:
            return constants.enums[name]
        try:
            return constants.values[name]
        except KeyError:
            raise AttributeError(f"the broker at {self.url} has no constant {name}") from None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<sockbroker.Client url={self.url!r}>"

    def _const(self, name: str) -> Optional[int]:
        return self.constants.get(name)

    # ---- the default timeout -----------------------------------------------

    def getdefaulttimeout(self) -> Optional[float]:
        """The default timeout in seconds of this client's new sockets (None:
        blocking): the one set with setdefaulttimeout(), else the module's."""
        return default_timeout_of(self)

    def setdefaulttimeout(self, timeout: Optional[float]) -> None:
        """Set the default timeout in seconds of this client's new sockets
        (None: blocking). For the module's default client this is
        sockbroker.setdefaulttimeout()."""
        if _default.is_default(self):
            _set_module_default_timeout(timeout)
            return
        self._default_timeout = _timeout_value(timeout)
        self._default_timeout_is_own = True

    # ---- pure functions ----------------------------------------------------

    def _local_family(self, family: int) -> int:
        session = self._session
        if session is None:
            return family  # nothing said otherwise: this platform's numbers
        return _local_family(session.constants, family)

    def inet_pton(self, address_family: int, ip_string: str) -> bytes:
        """Pack an IPv4/IPv6 address string (family: this client's AF_INET or
        AF_INET6)."""
        return _stdsocket.inet_pton(self._local_family(address_family), ip_string)

    def inet_ntop(self, address_family: int, packed_ip: Any) -> str:
        """Format a packed IPv4/IPv6 address (family: this client's AF_INET
        or AF_INET6)."""
        return _stdsocket.inet_ntop(self._local_family(address_family), packed_ip)

    # ---- creating sockets --------------------------------------------------

    def socket(self, family: int = -1, type: int = -1, proto: int = -1,  # noqa: A002
               fileno: Optional[int] = None) -> socket:
        """A new brokered socket (see sockbroker.socket)."""
        return socket(family, type, proto, fileno, client=self)

    def socketpair(self, family: Optional[int] = None, type: Optional[int] = None,  # noqa: A002
                   proto: int = 0) -> Tuple[socket, socket]:
        """A pair of connected sockets (AF_UNIX and SOCK_STREAM by default)."""
        session = self.session()
        consts = session.constants
        request = pb.SocketPairRequest(
            family=_c_int(consts["AF_UNIX"] if family is None else family),
            type=_c_int(consts["SOCK_STREAM"] if type is None else type),
            proto=_c_int(proto))
        timeout = self.getdefaulttimeout()
        if timeout is not None:
            request.timeout = timeout
        reply = self.call(pb.Request(socketpair=request), "socketpair", session)
        return (socket._wrap(self, session, reply.first),
                socket._wrap(self, session, reply.second))

    def fromfd(self, fd: int, family: int, type: int, proto: int = 0) -> socket:  # noqa: A002
        """A socket for a duplicate of the brokered socket numbered ``fd``
        (its fileno(), or a number from detach(), dup() or recv_fds()); OS
        file descriptors cannot be brokered."""
        name = name_of(self, fd, "fromfd")
        reply = self.call(pb.Request(dup=pb.HandleRequest(handle=name.handle)), "socket",
                          name.session)
        sock = socket._wrap(self, name.session, reply)
        sock._family, sock._type, sock._proto = _index(family), _index(type), _index(proto)
        return sock

    def dup(self, fd: int) -> int:
        """Duplicate the brokered socket numbered ``fd``; return the new
        socket's number (socket(fileno=number) takes it up)."""
        name = name_of(self, fd, "dup")
        reply = self.call(pb.Request(dup=pb.HandleRequest(handle=name.handle)), "socket",
                          name.session)
        return reserve_number(self, name.session, reply.handle)

    def close_handle(self, fd: int) -> None:
        """Close the brokered socket numbered ``fd`` (the reference's
        socket.close(fd)), and give its number back."""
        name = name_of(self, fd, "close")
        sock = live_socket(_index(fd))
        if sock is not None:
            sock.detach()
        try:
            self.call(pb.Request(close=pb.HandleRequest(handle=name.handle)), "done",
                      name.session)
        finally:
            release_number(_index(fd))

    def create_connection(self, address: Tuple[Any, int], timeout: Any = _GLOBAL_DEFAULT_TIMEOUT,
                          source_address: Optional[Tuple[Any, int]] = None, *,
                          all_errors: bool = False) -> socket:
        """Connect to a TCP service at (host, port), trying each address the
        name resolves to, and return the connected socket."""
        host, port = address
        if timeout is _GLOBAL_DEFAULT_TIMEOUT:
            timeout = self.getdefaulttimeout()
        timeout = _timeout_value(timeout)
        if not _op_unsupported(self, "create_connection"):
            try:
                return self._create_connection_op(host, port, timeout, source_address,
                                                  all_errors)
            except UnsupportedOperation:
                pass
        return self._create_connection_here(host, port, timeout, source_address, all_errors)

    def _create_connection_op(self, host: Any, port: int, timeout: Optional[float],
                              source_address: Optional[Tuple[Any, int]],
                              all_errors: bool) -> socket:
        session = self.session()
        consts = session.constants
        request = pb.CreateConnectionRequest(
            host=_address.encode_host(host if host is not None else "", "create_connection"),
            port=_address._port(port, "create_connection"), all_errors=bool(all_errors))
        if timeout is not None:
            request.timeout = timeout
        if source_address is not None:
            src_host = _address.encode_host(source_address[0], "create_connection")
            family = consts["AF_INET6"] if ":" in src_host else consts["AF_INET"]
            request.source_address.CopyFrom(_address.encode(
                consts.get, family, tuple(source_address), 0, "create_connection"))
        if session.handoff:
            request.handoff = True
            seq, whole, fd = self.call_handoff(pb.Request(create_connection=request),
                                               "create_connection", session)
        else:
            seq, whole = self.call_reply(pb.Request(create_connection=request),
                                         "create_connection", session)
            fd = None
        reply = whole.create_connection
        if fd is not None:
            # Handed over: the standard library's own socket.
            return _native_socket(fd, reply.socket.family, reply.socket.type,  # type: ignore
                                  reply.socket.proto, _timeout_of(reply.socket))
        if reply.HasField("socket"):
            return socket._wrap(self, session, reply.socket, seq, whole)
        errors = [from_wire(e) for e in reply.attempt_errors]
        if not errors:
            raise OSError("getaddrinfo returns an empty list")
        raise ExceptionGroup("create_connection failed", errors)

    def _create_connection_here(self, host: Any, port: int, timeout: Optional[float],
                                source_address: Optional[Tuple[Any, int]],
                                all_errors: bool) -> socket:
        """The reference's algorithm over getaddrinfo/socket/connect; for a
        daemon without the create_connection operation."""
        consts = self.constants
        try:
            candidates = [(family, type_, proto, sockaddr) for family, type_, proto, _, sockaddr
                          in self.getaddrinfo(host, port, 0, consts["SOCK_STREAM"])]
        except UnsupportedOperation:
            # No name service either: a numeric host is its own address, a
            # name is resolved by the daemon's connect (IPv4).
            text = _address.encode_host(host if host is not None else "", "create_connection")
            if _literal_family(text) == 6:
                candidates = [(consts["AF_INET6"], consts["SOCK_STREAM"], 0, (text, port, 0, 0))]
            else:
                candidates = [(consts["AF_INET"], consts["SOCK_STREAM"], 0, (text, port))]
        exceptions: List[BaseException] = []
        for family, type_, proto, sockaddr in candidates:
            sock = None
            try:
                sock = self.socket(family, type_, proto)
                if timeout is not None:
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                exceptions.clear()
                return sock
            except OSError as exc:
                if not all_errors:
                    exceptions.clear()
                exceptions.append(exc)
                if sock is not None:
                    sock.close()
        if exceptions:
            try:
                if not all_errors:
                    raise exceptions[0]
                raise ExceptionGroup("create_connection failed", exceptions)
            finally:
                exceptions.clear()
        raise OSError("getaddrinfo returns an empty list")

    def create_server(self, address: Tuple[Any, int], *, family: Optional[int] = None,
                      backlog: Optional[int] = None, reuse_port: bool = False,
                      dualstack_ipv6: bool = False) -> socket:
        """A TCP socket bound to address and listening (SO_REUSEADDR set;
        with dualstack_ipv6 and AF_INET6 it takes IPv4 connections too)."""
        session = self.session()
        consts = session.constants
        if family is None:
            family = consts["AF_INET"]
        if reuse_port and consts.get("SO_REUSEPORT") is None:
            raise ValueError("SO_REUSEPORT not supported on this platform")
        if dualstack_ipv6:
            if not self.has_dualstack_ipv6():
                raise ValueError("dualstack_ipv6 not supported on this platform")
            if family != consts["AF_INET6"]:
                raise ValueError("dualstack_ipv6 requires AF_INET6 family")
        if not _op_unsupported(self, "create_server"):
            request = pb.CreateServerRequest(
                family=_c_int(family), reuse_port=bool(reuse_port),
                dualstack_ipv6=bool(dualstack_ipv6))
            request.address.CopyFrom(_address.encode(consts.get, family, address, 0,
                                                     "create_server"))
            if backlog is not None:
                request.backlog = max(0, _c_int(backlog))
            timeout = self.getdefaulttimeout()
            if timeout is not None:
                request.timeout = timeout
            try:
                reply = self.call(pb.Request(create_server=request), "socket", session)
                return socket._wrap(self, session, reply)
            except UnsupportedOperation:
                pass
        return self._create_server_here(address, family, backlog, reuse_port, dualstack_ipv6)

    def _create_server_here(self, address: Tuple[Any, int], family: int,
                            backlog: Optional[int], reuse_port: bool,
                            dualstack_ipv6: bool) -> socket:
        """The reference's algorithm; for a daemon without create_server."""
        consts = self.constants
        sock = self.socket(family, consts["SOCK_STREAM"])
        try:
            sock.setsockopt(consts["SOL_SOCKET"], consts["SO_REUSEADDR"], 1)
            if reuse_port:
                sock.setsockopt(consts["SOL_SOCKET"], consts["SO_REUSEPORT"], 1)
            if family == consts["AF_INET6"] and consts.get("IPV6_V6ONLY") is not None:
                sock.setsockopt(consts["IPPROTO_IPV6"], consts["IPV6_V6ONLY"],
                                0 if dualstack_ipv6 else 1)
            try:
                sock.bind(address)
            except OSError as err:
                raise OSError(err.errno, f"{err.strerror} (while attempting to bind on "
                              f"address {address!r})") from None
            if backlog is None:
                sock.listen()
            else:
                sock.listen(backlog)
            return sock
        except BaseException:
            sock.close()
            raise

    def has_dualstack_ipv6(self) -> bool:
        """Whether the daemon can make TCP sockets taking IPv4 and IPv6."""
        reply = self.call(pb.Request(has_dualstack_ipv6=pb.Empty()), "flag")
        return reply.value

    @property
    def has_ipv6(self) -> bool:
        """Whether the daemon's host supports IPv6."""
        value = self.session().has_ipv6
        if value is None:
            value = self.call(pb.Request(has_ipv6=pb.Empty()), "flag").value
        return bool(value)

    # ---- name service ------------------------------------------------------

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0,  # noqa: A002
                    proto: int = 0, flags: int = 0) -> List[Tuple[Any, Any, int, str, Any]]:
        """Resolve (host, port) on the daemon: a list of (family, type,
        proto, canonname, sockaddr)."""
        sys.audit("socket.getaddrinfo", host, port, family, type, proto, flags)
        request = pb.GetAddrInfoRequest(family=_c_int(family), type=_c_int(type),
                                        proto=_c_int(proto), flags=_c_int(flags))
        if host is not None:
            request.host = _address.encode_host(host, "getaddrinfo")
        if port is not None:
            if isinstance(port, int):
                if not -_C_LONG <= port < _C_LONG:
                    raise OverflowError("Python int too large to convert to C long")
                request.port = str(port)
            elif isinstance(port, str):
                request.port = port
            elif isinstance(port, (bytes, bytearray)):
                request.port = bytes(port).decode("ascii", "surrogateescape")
            else:
                raise OSError("Int or String expected")
        session = self.session()
        reply = self.call(pb.Request(getaddrinfo=request), "getaddrinfo", session)
        consts = session.constants
        result = []
        for info in reply.results:
            result.append((to_enum(info.family, consts.AddressFamily),
                           to_enum(info.type, consts.SocketKind), info.proto,
                           info.canonname,
                           _address.decode(info.address, info.proto, consts.get)))
        return result

    def getnameinfo(self, sockaddr: Tuple[Any, ...], flags: int) -> Tuple[str, str]:
        """(host, port) names for a socket address, resolved on the daemon."""
        if not isinstance(sockaddr, tuple):
            raise TypeError("getnameinfo() argument 1 must be a tuple")
        sys.audit("socket.getnameinfo", sockaddr)
        consts = self.constants
        host = _address.encode_host(sockaddr[0], "getnameinfo") if sockaddr else ""
        family = consts["AF_INET6"] if len(sockaddr) > 2 or ":" in host else consts["AF_INET"]
        if family == consts["AF_INET"] and len(sockaddr) != 2:
            raise OSError("IPv4 sockaddr must be 2 tuple")
        request = pb.GetNameInfoRequest(flags=_c_int(flags))
        request.address.CopyFrom(_address.encode(consts.get, family, sockaddr, 0,
                                                 "getnameinfo"))
        reply = self.call(pb.Request(getnameinfo=request), "getnameinfo")
        return reply.host, reply.service

    def gethostbyname(self, hostname: str) -> str:
        """The IPv4 address of a host name, resolved on the daemon."""
        sys.audit("socket.gethostbyname", hostname)
        request = pb.HostNameRequest(name=_address.encode_host(hostname, "gethostbyname"))
        return self.call(pb.Request(gethostbyname=request), "string").value

    def gethostbyname_ex(self, hostname: str) -> Tuple[str, List[str], List[str]]:
        """(hostname, aliases, IPv4 addresses) of a host name."""
        sys.audit("socket.gethostbyname", hostname)
        request = pb.HostNameRequest(name=_address.encode_host(hostname, "gethostbyname_ex"))
        reply = self.call(pb.Request(gethostbyname_ex=request), "hostent")
        return reply.hostname, list(reply.aliases), list(reply.addresses)

    def gethostbyaddr(self, ip_address: str) -> Tuple[str, List[str], List[str]]:
        """(hostname, aliases, addresses) of an IPv4/IPv6 address or name."""
        sys.audit("socket.gethostbyaddr", ip_address)
        request = pb.HostNameRequest(name=_address.encode_host(ip_address, "gethostbyaddr"))
        reply = self.call(pb.Request(gethostbyaddr=request), "hostent")
        return reply.hostname, list(reply.aliases), list(reply.addresses)

    def getfqdn(self, name: str = "") -> str:
        """A fully qualified domain name for name (the daemon's host if empty)."""
        request = pb.HostNameRequest(name=_address.encode_host(name, "getfqdn"))
        return self.call(pb.Request(getfqdn=request), "string").value

    def gethostname(self) -> str:
        """The host name of the daemon's machine."""
        sys.audit("socket.gethostname")
        return self.call(pb.Request(gethostname=pb.Empty()), "string").value

    def sethostname(self, name: Any) -> None:
        """Set the daemon's host name (needs the privilege, and the policy)."""
        sys.audit("socket.sethostname", name)
        data = os.fsencode(name) if isinstance(name, str) else bytes(memoryview(name))
        self.call(pb.Request(sethostname=pb.SetHostNameRequest(name=data)), "done")

    def getprotobyname(self, protocolname: str) -> int:
        """The protocol number of a protocol name ("icmp")."""
        if not isinstance(protocolname, str):
            raise TypeError(f"getprotobyname() argument must be str, not "
                            f"{type(protocolname).__name__}")
        request = pb.GetProtoByNameRequest(name=protocolname)
        return self.call(pb.Request(getprotobyname=request), "integer").value

    def getservbyname(self, servicename: str, protocolname: Optional[str] = None) -> int:
        """The port number of a service name ("http")."""
        sys.audit("socket.getservbyname", servicename, protocolname)
        request = pb.GetServByNameRequest(name=servicename)
        if protocolname is not None:
            request.proto = protocolname
        return self.call(pb.Request(getservbyname=request), "integer").value

    def getservbyport(self, port: int, protocolname: Optional[str] = None) -> str:
        """The service name of a port number."""
        sys.audit("socket.getservbyport", port, protocolname)
        port = _index(port)
        if not 0 <= port <= 65535:
            raise OverflowError("getservbyport: port must be 0-65535.")
        request = pb.GetServByPortRequest(port=port)
        if protocolname is not None:
            request.proto = protocolname
        return self.call(pb.Request(getservbyport=request), "string").value

    # ---- interfaces --------------------------------------------------------

    def if_nameindex(self) -> List[Tuple[int, str]]:
        """The daemon host's network interfaces: [(index, name), ...]."""
        reply = self.call(pb.Request(if_nameindex=pb.Empty()), "if_nameindex")
        return [(entry.index, entry.name) for entry in reply.interfaces]

    def if_nametoindex(self, if_name: Any) -> int:
        """The index of a network interface of the daemon's host."""
        name = os.fsdecode(if_name) if isinstance(if_name, (bytes, bytearray)) else if_name
        if not isinstance(name, str):
            raise TypeError(f"expected str, bytes or os.PathLike object, not "
                            f"{type(if_name).__name__}")
        request = pb.IfNameToIndexRequest(name=name)
        return self.call(pb.Request(if_nametoindex=request), "integer").value

    def if_indextoname(self, if_index: int) -> str:
        """The name of a network interface of the daemon's host."""
        if not isinstance(if_index, int):
            raise TypeError("an integer is required")
        if not 0 <= if_index < 2**32:
            raise OverflowError("index is too large" if if_index > 0 else
                                "index must not be negative")
        request = pb.IfIndexToNameRequest(index=if_index)
        return self.call(pb.Request(if_indextoname=request), "string").value

    # ---- ancillary data sizes ---------------------------------------------

    def _cmsg_size(self, length: int, caller: str) -> Any:
        length = _index(length)
        if not 0 <= length <= 2**31 // 2:
            raise OverflowError(f"{caller}() argument out of range")
        session = self.session()
        sizes = session.cmsg_sizes.get(length)
        if sizes is None:
            sizes = self.call(pb.Request(cmsg_size=pb.CmsgSizeRequest(length=length)),
                              "cmsg_size", session)
            if len(session.cmsg_sizes) < 1024:
                session.cmsg_sizes[length] = sizes
        return sizes

    def CMSG_LEN(self, length: int) -> int:  # noqa: N802 (the reference's name)
        """Length of an ancillary item with length data bytes, no trailing
        padding (the daemon's value)."""
        return self._cmsg_size(length, "CMSG_LEN").cmsg_len

    def CMSG_SPACE(self, length: int) -> int:  # noqa: N802
        """Buffer size for an ancillary item with length data bytes, with
        padding (the daemon's value)."""
        return self._cmsg_size(length, "CMSG_SPACE").cmsg_space

    # ---- passing sockets ---------------------------------------------------

    def send_fds(self, sock: socket, buffers: Any, fds: Any, flags: int = 0,
                 address: Any = None) -> int:
        """Send handle ids ``fds`` over an AF_UNIX brokered socket."""
        return send_fds(sock, buffers, fds, flags, address)

    def recv_fds(self, sock: socket, bufsize: int, maxfds: int,
                 flags: int = 0) -> Tuple[bytes, List[int], int, Any]:
        """Receive up to maxfds handles: (data, handle ids, msg_flags, address)."""
        return recv_fds(sock, bufsize, maxfds, flags)


def send_fds(sock: socket, buffers: Any, fds: Any, flags: int = 0, address: Any = None) -> int:
    """Send the sockets named by handle ids ``fds`` over an AF_UNIX brokered
    socket (the daemon passes them with SCM_RIGHTS)."""
    consts = sock._session.constants
    return sock.sendmsg(buffers, [(consts["SOL_SOCKET"], consts["SCM_RIGHTS"],
                                   array.array("i", fds))], flags, address)


def recv_fds(sock: socket, bufsize: int, maxfds: int,
             flags: int = 0) -> Tuple[bytes, List[int], int, Any]:
    """Receive up to maxfds sockets: (data, numbers, msg_flags, address).
    Each is a new socket of this session, reserved under its number until
    socket(fileno=number) takes it up or close(number) closes it."""
    client = sock.client
    consts = sock._session.constants
    fds = array.array("i")
    msg, ancdata, msg_flags, addr = sock.recvmsg(
        bufsize, client.CMSG_LEN(maxfds * fds.itemsize), flags)  # type: ignore[attr-defined]
    for level, type_, data in ancdata:
        if level == consts["SOL_SOCKET"] and type_ == consts["SCM_RIGHTS"]:
            fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds), msg_flags, addr


def _local_family(consts: Any, family: int) -> int:
    """This platform's AF_INET/AF_INET6 for the daemon's number."""
    if family == consts.get("AF_INET"):
        return _stdsocket.AF_INET
    if family == consts.get("AF_INET6"):
        return _stdsocket.AF_INET6
    return family
