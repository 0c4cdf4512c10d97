"""TLS over brokered sockets, with the ssl module's TLS engine in memory.

The standard ``ssl.SSLSocket`` runs TLS on an OS file descriptor, which a
brokered socket does not have. ``SSLSocket`` here runs the same engine
(``SSLContext.wrap_bio``) on memory buffers and moves the encrypted bytes
with the brokered socket's recv/sendall: the daemon sees only ciphertext.
After ``sockbroker.install()``, ``SSLContext.wrap_socket`` returns one for a
brokered socket, so https with urllib or http.client works unmodified.
"""

from __future__ import annotations

import ssl as _stdssl
from typing import Any, Optional

from ._socket import _live, release_number, socket

__all__ = ["SSLSocket", "wrap_socket", "wrap_socket_patched"]

_real_wrap_socket = _stdssl.SSLContext.wrap_socket
_READ_SIZE = 64 * 1024


class SSLSocket(socket):
    """A brokered socket carrying TLS (the interface of ssl.SSLSocket)."""

    __slots__ = ("_context", "_sslobj", "_incoming", "_outgoing", "server_side",
                 "server_hostname", "do_handshake_on_connect", "suppress_ragged_eofs",
                 "_tls_session")

    @classmethod
    def _create(cls, sock: socket, context: _stdssl.SSLContext, server_side: bool = False,
                do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                server_hostname: Optional[str] = None, session: Any = None) -> "SSLSocket":
        if sock._type != sock._const("SOCK_STREAM"):
            raise NotImplementedError("only stream sockets are supported")
        if server_side and server_hostname:
            raise ValueError("server_hostname can only be specified in client mode")
        if session is not None and server_side:
            raise ValueError("session is only valid for client side sockets")
        if context.check_hostname and not server_hostname and not server_side:
            raise ValueError("check_hostname requires server_hostname")
        self = cls.__new__(cls)
        self._closed = False
        self._io_refs = 0
        self._native = None
        self._core = sock._core
        self._session = sock._session
        self._family, self._type, self._proto = sock._family, sock._type, sock._proto
        self._timeout = sock._timeout
        sock._flush_behind()
        self._handle, self._number = sock._handle, sock._number
        sock._handle = sock._number = None  # handed to this object
        sock._closed = True
        self._wb = sock._wb
        self._ra, sock._ra = sock._ra, None
        if self._number is not None:
            _live[self._number] = self
        self._context = context
        self._sslobj = None
        self._incoming = _stdssl.MemoryBIO()
        self._outgoing = _stdssl.MemoryBIO()
        self.server_side = server_side
        self.server_hostname = context._encode_hostname(server_hostname)  # type: ignore
        self.do_handshake_on_connect = do_handshake_on_connect
        self.suppress_ragged_eofs = suppress_ragged_eofs
        self._tls_session = session
        try:
            socket.getpeername(self)
            connected = True
        except OSError:
            connected = False
        if connected:
            try:
                self._start_tls()
            except (OSError, ValueError):
                self.close()
                raise
        return self

    def _start_tls(self) -> None:
        self._sslobj = self._context.wrap_bio(
            self._incoming, self._outgoing, server_side=self.server_side,
            server_hostname=self.server_hostname, session=self._tls_session)
        if self.do_handshake_on_connect:
            if self._timeout == 0.0:
                raise ValueError("do_handshake_on_connect should not be specified for "
                                 "non-blocking sockets")
            self.do_handshake()

    # ---- moving ciphertext -------------------------------------------------

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            socket.sendall(self, data)

    def _fill(self) -> None:
        try:
            data = socket.recv(self, _READ_SIZE)
        except BlockingIOError:
            raise _stdssl.SSLWantReadError("The operation did not complete (read)") from None
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def _run(self, operation: Any, *args: Any) -> Any:
        """Run an SSLObject operation, feeding it until it completes."""
        while True:
            try:
                result = operation(*args)
            except _stdssl.SSLWantReadError:
                self._flush()
                self._fill()
            except _stdssl.SSLWantWriteError:
                self._flush()
            else:
                self._flush()
                return result

    def _check_connected(self) -> Any:
        if self._sslobj is None:
            raise OSError(107, "Transport endpoint is not connected")
        return self._sslobj

    # ---- the ssl.SSLSocket interface ---------------------------------------

    @property
    def context(self) -> _stdssl.SSLContext:
        return self._context

    @property
    def session(self) -> Any:
        return self._sslobj.session if self._sslobj is not None else None

    @property
    def session_reused(self) -> Optional[bool]:
        return self._sslobj.session_reused if self._sslobj is not None else None

    def do_handshake(self, block: bool = False) -> None:
        """Run the TLS handshake."""
        self._run(self._check_connected().do_handshake)

    def connect(self, address: Any) -> None:
        if self._sslobj is not None:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        socket.connect(self, address)
        self._start_tls()

    def connect_ex(self, address: Any) -> int:
        if self._sslobj is not None:
            raise ValueError("attempt to connect already-connected SSLSocket!")
        result = socket.connect_ex(self, address)
        if result == 0:
            self._start_tls()
        return result

    def accept(self) -> Any:
        conn, address = socket.accept(self)
        return SSLSocket._create(conn, self._context, server_side=True,
                                 do_handshake_on_connect=self.do_handshake_on_connect,
                                 suppress_ragged_eofs=self.suppress_ragged_eofs), address

    def read(self, len: int = 1024, buffer: Any = None) -> Any:  # noqa: A002
        """Read up to len bytes of plaintext (into buffer when given)."""
        sslobj = self._check_connected()
        try:
            if buffer is not None:
                return self._run(sslobj.read, len, buffer)
            return self._run(sslobj.read, len)
        except _stdssl.SSLError as e:
            if e.args[0] == _stdssl.SSL_ERROR_EOF and self.suppress_ragged_eofs:
                return 0 if buffer is not None else b""
            raise

    def write(self, data: Any) -> int:
        """Write plaintext; return the count taken."""
        return self._run(self._check_connected().write, data)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to recv() on {type(self)}")
        if self._sslobj is None:
            return socket.recv(self, buflen, flags)
        return self.read(buflen)

    def recv_into(self, buffer: Any, nbytes: Optional[int] = None, flags: int = 0) -> int:
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to recv_into() on "
                             f"{type(self)}")
        if nbytes is None or nbytes == 0:
            nbytes = memoryview(buffer).nbytes
        if self._sslobj is None:
            return socket.recv_into(self, buffer, nbytes, flags)
        return self.read(nbytes, buffer)

    def send(self, data: Any, flags: int = 0) -> int:
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to send() on {type(self)}")
        if self._sslobj is None:
            return socket.send(self, data, flags)
        return self.write(data)

    def sendall(self, data: Any, flags: int = 0) -> None:
        if flags != 0:
            raise ValueError(f"non-zero flags not allowed in calls to sendall() on "
                             f"{type(self)}")
        if self._sslobj is None:
            socket.sendall(self, data, flags)
            return
        view = memoryview(data).cast("B")
        while view:
            sent = self.write(view[:_READ_SIZE])
            view = view[sent:]

    def _not_allowed(self, name: str) -> None:
        raise ValueError(f"{name} not allowed on instances of {type(self)}")

    def recvfrom(self, *args: Any) -> Any:
        self._not_allowed("recvfrom")

    def recvfrom_into(self, *args: Any) -> Any:
        self._not_allowed("recvfrom_into")

    def sendto(self, *args: Any) -> Any:
        self._not_allowed("sendto")

    def recvmsg(self, *args: Any) -> Any:
        self._not_allowed("recvmsg")

    def recvmsg_into(self, *args: Any) -> Any:
        self._not_allowed("recvmsg_into")

    def sendmsg(self, *args: Any, **kwargs: Any) -> Any:
        self._not_allowed("sendmsg")

    def dup(self) -> Any:
        raise NotImplementedError(f"Can't dup() {type(self).__name__} instances")

    def pending(self) -> int:
        return self._sslobj.pending() if self._sslobj is not None else 0

    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._check_connected().getpeercert(binary_form)

    def cipher(self) -> Any:
        return self._sslobj.cipher() if self._sslobj is not None else None

    def shared_ciphers(self) -> Any:
        return self._sslobj.shared_ciphers() if self._sslobj is not None else None

    def compression(self) -> Any:
        return self._sslobj.compression() if self._sslobj is not None else None

    def version(self) -> Optional[str]:
        return self._sslobj.version() if self._sslobj is not None else None

    def selected_alpn_protocol(self) -> Optional[str]:
        return self._sslobj.selected_alpn_protocol() if self._sslobj is not None else None

    def selected_npn_protocol(self) -> None:
        return None

    def get_channel_binding(self, cb_type: str = "tls-unique") -> Any:
        return self._sslobj.get_channel_binding(cb_type) if self._sslobj is not None else None

    def unwrap(self) -> socket:
        """Shut TLS down; return the plain brokered socket."""
        sslobj = self._check_connected()
        self._run(sslobj.unwrap)
        plain = socket._wrap(self._core, self._session, _Described(self))
        self._handle = None
        number, self._number = self._number, None
        release_number(number)
        self._closed = True
        self._sslobj = None
        return plain


class _Described:
    """What socket._wrap() reads from a SocketReply, from a live socket."""

    def __init__(self, sock: socket) -> None:
        self.handle = sock._handle
        self.family, self.type, self.proto = sock._family, sock._type, sock._proto
        self.timeout = sock._timeout

    def HasField(self, name: str) -> bool:  # noqa: N802 (protobuf's name)
        return name == "timeout" and self.timeout is not None


def wrap_socket(context: _stdssl.SSLContext, sock: socket, server_side: bool = False,
                do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                server_hostname: Optional[str] = None, session: Any = None) -> SSLSocket:
    """TLS on a brokered socket with ``context`` (as context.wrap_socket)."""
    return SSLSocket._create(sock, context, server_side, do_handshake_on_connect,
                             suppress_ragged_eofs, server_hostname, session)


def wrap_socket_patched(self: _stdssl.SSLContext, sock: Any, server_side: bool = False,
                        do_handshake_on_connect: bool = True, suppress_ragged_eofs: bool = True,
                        server_hostname: Optional[str] = None, session: Any = None) -> Any:
    """SSLContext.wrap_socket after install(): brokered sockets get
    SSLSocket, anything else the standard one."""
    if isinstance(sock, socket) and sock._native is None:
        return wrap_socket(self, sock, server_side, do_handshake_on_connect,
                           suppress_ragged_eofs, server_hostname, session)
    return _real_wrap_socket(self, sock, server_side, do_handshake_on_connect,
                             suppress_ragged_eofs, server_hostname, session)
