"""The SP (scalability protocols) wire protocol, spoken by hand.

The daemon listens with NNG's rep0 protocol; this module is the req0 side of
one connection, without NNG:

- connect: ``ipc://PATH`` and ``abstract://NAME`` (unix stream sockets),
  ``tcp://HOST:PORT``, ``tls+tcp://HOST:PORT`` (TLS with a client certificate);
- handshake: each side sends ``00 'S' 'P' 00``, its protocol id as a u16be
  (req0 = 0x30, rep0 = 0x31) and ``00 00``, and checks the peer's;
- frames: over ipc/abstract a byte 0x01, a u64be length and the message; over
  tcp and tls+tcp a u64be length and the message;
- a req0 message starts with a u32be request id with its high bit set, and the
  rep0 reply starts with the same id.

The transport sockets are always the standard library's, captured when this
module is imported, so that ``sockbroker.install()`` never routes the broker's
own connection through the broker.
"""

from __future__ import annotations

import os
import socket as _stdsocket
import ssl
import struct
import threading
import urllib.parse
from typing import Any, List, Optional, Tuple

from ._errors import BrokerConnectionError, BrokerProtocolError

__all__ = ["Connection", "default_url", "parse_url"]

# Captured at import: install() replaces the attributes of the socket module.
_RealSocket = _stdsocket.socket
_AF_UNIX = _stdsocket.AF_UNIX
_AF_INET = _stdsocket.AF_INET
_AF_INET6 = _stdsocket.AF_INET6
_SOCK_STREAM = _stdsocket.SOCK_STREAM
_real_getaddrinfo = _stdsocket.getaddrinfo

PROTO_REQ0 = 0x30
PROTO_REP0 = 0x31
_HANDSHAKE = b"\x00SP\x00" + struct.pack(">H", PROTO_REQ0) + b"\x00\x00"

URL_ENV = "SOCKBROKER_URL"
TLS_CA_FILE_ENV = "SOCKBROKER_TLS_CA_FILE"
TLS_CERT_KEY_FILE_ENV = "SOCKBROKER_TLS_CERT_KEY_FILE"

_U64 = struct.Struct(">Q")
_IPC_HEADER = struct.Struct(">BQ")


def default_url() -> str:
    """The broker URL: $SOCKBROKER_URL, else the daemon's default.

    The default is ipc:///run/sockbroker/sockbroker.sock for root, else
    ipc://$XDG_RUNTIME_DIR/sockbroker/sockbroker.sock, else
    ipc:///tmp/sockbroker-UID/sockbroker.sock, as the daemon chooses it.
    """
    url = os.environ.get(URL_ENV)
    if url:
        return url
    euid = os.geteuid()
    if euid == 0:
        return "ipc:///run/sockbroker/sockbroker.sock"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime_dir.startswith("/"):
        runtime_dir = runtime_dir.rstrip("/")
        return f"ipc://{runtime_dir}/sockbroker/sockbroker.sock"
    return f"ipc:///tmp/sockbroker-{euid}/sockbroker.sock"


def parse_url(url: str) -> Tuple[str, object]:
    """Split a broker URL into (scheme, address).

    The address is a path (bytes) for ipc, the abstract name with its leading
    NUL for abstract, and (host, port) for tcp and tls+tcp. Raises ValueError
    naming what is wrong.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"broker URL {url!r} has no scheme: use ipc://PATH, "
                         "abstract://NAME, tcp://HOST:PORT or tls+tcp://HOST:PORT")
    if scheme == "ipc":
        if not rest:
            raise ValueError(f"broker URL {url!r} has no path")
        return scheme, os.fsencode(rest)
    if scheme == "abstract":
        if not rest:
            raise ValueError(f"broker URL {url!r} has no name")
        # NNG takes the name URL-encoded (%00 for a NUL byte).
        return scheme, b"\0" + urllib.parse.unquote_to_bytes(rest)
    if scheme in ("tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4", "tls+tcp6"):
        host, colon, port = rest.rpartition(":")
        if not colon or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"broker URL {url!r} needs HOST:PORT with a port 0-65535")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return scheme.rstrip("46"), (host or "127.0.0.1", int(port))
    raise ValueError(f"broker URL {url!r}: unknown scheme {scheme!r}; use ipc://, "
                     "abstract://, tcp:// or tls+tcp://")


def _tls_context() -> ssl.SSLContext:
    ca_file = os.environ.get(TLS_CA_FILE_ENV)
    cert_key_file = os.environ.get(TLS_CERT_KEY_FILE_ENV)
    if not ca_file or not cert_key_file:
        raise BrokerConnectionError(
            "a tls+tcp:// broker needs the CA that signed the daemon's certificate "
            f"in ${TLS_CA_FILE_ENV} and this client's certificate and key (one PEM "
            f"file) in ${TLS_CERT_KEY_FILE_ENV}")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.load_cert_chain(cert_key_file)
    return context


class _TlsEngine:
    """TLS on memory buffers over a plain TCP socket.

    The reader thread decrypts while callers encrypt: an OpenSSL connection
    must not be used by two threads at once, so every use of it holds
    ``_engine_lock``, and ciphertext goes out in the order the engine made
    it: taking it out of the engine and writing it to the socket both happen
    under ``_wire_lock``. The reader never waits for a writer blocked on the
    socket, except to send the rare record that reading produced.
    """

    def __init__(self, sock: _stdsocket.socket, reader: Any, context: ssl.SSLContext,
                 host: str) -> None:
        self._sock = sock
        self._reader = reader
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._engine = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)
        self._engine_lock = threading.Lock()
        self._wire_lock = threading.Lock()
        while True:
            try:
                self._engine.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill()
        self._flush()

    def _flush(self) -> None:
        with self._wire_lock:
            with self._engine_lock:
                data = self._outgoing.read()
            if data:
                self._sock.sendall(data)

    def _fill(self) -> bool:
        data = self._reader.read1(256 * 1024)
        with self._engine_lock:
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
        return bool(data)

    def write(self, data: bytes) -> None:
        with self._wire_lock:
            with self._engine_lock:
                self._engine.write(data)
                ciphertext = self._outgoing.read()
            self._sock.sendall(ciphertext)

    def read(self) -> bytes:
        """Some plaintext; b"" at the end of the connection."""
        while True:
            with self._engine_lock:
                try:
                    data: Optional[bytes] = self._engine.read(256 * 1024)
                except ssl.SSLWantReadError:
                    data = None
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""
                pending = self._outgoing.pending
            if pending:
                self._flush()
            if data is not None:
                return data
            # At the end of the stream the engine gets EOF and the next read
            # above says so.
            self._fill()


class Connection:
    """One SP req0 connection to the daemon.

    ``send()`` may be called from any thread but must be serialized by the
    caller; ``recv()`` is meant for one reader thread. Both raise OSError
    when the connection fails.
    """

    def __init__(self, url: str, connect_timeout: Optional[float] = 30.0) -> None:
        self.url = url
        scheme, address = parse_url(url)
        self._framed_ipc = scheme in ("ipc", "abstract")
        self._tls: Optional[_TlsEngine] = None
        try:
            self._sock = self._open(scheme, address, connect_timeout)
        except OSError as e:
            raise BrokerConnectionError(
                e.errno, f"cannot connect to the broker at {url}: {e.strerror or e}; is "
                f"sockbrokerd running there? (set ${URL_ENV} to the daemon's listen URL)"
            ) from e
        self._reader = self._sock.makefile("rb", buffering=256 * 1024)
        self._buffer = bytearray()
        try:
            if scheme == "tls+tcp":
                host = address[0]  # type: ignore[index]
                try:
                    self._tls = _TlsEngine(self._sock, self._reader, _tls_context(), host)
                except ssl.SSLError as e:
                    raise BrokerConnectionError(
                        f"TLS with the broker at {url} failed: {e}; check that "
                        f"${TLS_CA_FILE_ENV} has the CA of the daemon's certificate, that "
                        f"the certificate names {host}, and that the daemon trusts the "
                        f"certificate in ${TLS_CERT_KEY_FILE_ENV}") from e
            self._handshake()
        except BaseException:
            self.close()
            raise
        self._sock.settimeout(None)

    def _open(self, scheme: str, address: object,
              connect_timeout: Optional[float]) -> _stdsocket.socket:
        if scheme in ("ipc", "abstract"):
            sock = _RealSocket(_AF_UNIX, _SOCK_STREAM)
            try:
                sock.settimeout(connect_timeout)
                sock.connect(address)
            except BaseException:
                sock.close()
                raise
            return sock
        host, port = address  # type: ignore[misc]
        last: Optional[OSError] = None
        for family, type_, proto, _, sockaddr in _real_getaddrinfo(
                host, port, 0, _SOCK_STREAM):
            sock = _RealSocket(family, type_, proto)
            try:
                sock.settimeout(connect_timeout)
                sock.connect(sockaddr)
                sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
            except OSError as e:
                sock.close()
                last = e
                continue
            return sock
        raise last or OSError(f"no address for {host}")

    def _handshake(self) -> None:
        self._send_bytes([_HANDSHAKE])
        peer = self._read_exactly(8)
        if peer[:4] != b"\x00SP\x00" or peer[6:] != b"\x00\x00":
            raise BrokerProtocolError(
                f"{self.url} does not speak the SP protocol (it answered {peer!r}); "
                "is it a sockbrokerd listen URL?")
        (proto,) = struct.unpack(">H", peer[4:6])
        if proto != PROTO_REP0:
            raise BrokerProtocolError(
                f"{self.url} speaks SP protocol 0x{proto:x}, not rep0 (0x31); is it a "
                "sockbrokerd listen URL?")

    def _read_exactly(self, n: int) -> bytes:
        if self._tls is None:
            data = self._reader.read(n)
            if data is None or len(data) < n:
                raise ConnectionResetError("the broker closed the connection")
            return data
        while len(self._buffer) < n:
            plaintext = self._tls.read()
            if not plaintext:
                raise ConnectionResetError("the broker closed the connection")
            self._buffer += plaintext
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _send_bytes(self, parts: List[bytes]) -> None:
        if self._tls is not None:
            self._tls.write(b"".join(parts))
        elif sum(len(p) for p in parts) > 4096:
            # Gather, so that a large payload is not copied once more.
            views = [memoryview(p) for p in parts]
            while views:
                sent = self._sock.sendmsg(views)
                while views and sent >= len(views[0]):
                    sent -= len(views[0])
                    views.pop(0)
                if views and sent:
                    views[0] = views[0][sent:]
        else:
            self._sock.sendall(b"".join(parts))

    def send(self, body_parts: Tuple[bytes, ...]) -> None:
        """Send one message made of the concatenation of body_parts."""
        length = sum(len(part) for part in body_parts)
        if self._framed_ipc:
            header = _IPC_HEADER.pack(1, length)
        else:
            header = _U64.pack(length)
        self._send_bytes([header, *body_parts])

    def recv(self) -> bytes:
        """Receive one message (without its frame header)."""
        if self._framed_ipc:
            kind, length = _IPC_HEADER.unpack(self._read_exactly(9))
            if kind != 1:
                raise BrokerProtocolError(
                    f"{self.url} sent an ipc frame of unknown type {kind}")
        else:
            (length,) = _U64.unpack(self._read_exactly(8))
        return self._read_exactly(length)

    def shutdown(self) -> None:
        """Wake the reader: the connection ends for both directions."""
        try:
            self._sock.shutdown(_stdsocket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the connection's file descriptor (no shutdown: safe after fork)."""
        try:
            self._reader.close()
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass

    def detach_after_fork(self) -> None:
        """In a forked child: drop the inherited descriptor, leaving the
        parent's connection untouched (no shutdown, no TLS close_notify)."""
        try:
            fd = self._sock.detach()
            os.close(fd)
        except OSError:
            pass
