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

import array
import math
import os
import select as _select
import socket as _stdsocket
import ssl
import struct
import threading
import urllib.parse
from typing import List, Optional, Tuple

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
_real_poll = _select.poll
_POLLIN = _select.POLLIN
_MSG_DONTWAIT = _stdsocket.MSG_DONTWAIT

# The receive buffer: its usual size, the room a read asks for at least, the
# size above which an emptied buffer is replaced by a usual one, and the
# largest reply accepted (a bigger announcement is a broken stream).
RECV_BUFFER = 256 * 1024
RECV_MIN_ROOM = 64 * 1024
RECV_BUFFER_KEEP = 4 * RECV_BUFFER
MAX_REPLY_SIZE = 1 << 32
_TLS_CHUNK = 256 * 1024
_SOL_SOCKET = _stdsocket.SOL_SOCKET
_SCM_RIGHTS = _stdsocket.SCM_RIGHTS
_MSG_CTRUNC = _stdsocket.MSG_CTRUNC
_MSG_CMSG_CLOEXEC = getattr(_stdsocket, "MSG_CMSG_CLOEXEC", 0)
# Room for the descriptors one read may bring (the daemon sends one per
# reply frame; the kernel stops a read after the bytes that carry some).
_FDS_SPACE = _stdsocket.CMSG_SPACE(64 * array.array("i").itemsize)


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

    Callers encrypt while the thread reading replies decrypts: an OpenSSL
    connection must not be used by two threads at once, so every use of it
    holds ``_engine_lock``, and ciphertext goes out in the order the engine
    made it: taking it out of the engine and writing it to the socket both
    happen under ``_wire_lock``. The reader never waits for a writer blocked
    on the socket, except to send the rare record that reading produced.
    """

    def __init__(self, sock: _stdsocket.socket, context: ssl.SSLContext, host: str) -> None:
        self._sock = sock
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
                # The socket is in timeout mode during the handshake.
                data = self._sock.recv(_TLS_CHUNK)
                if not data:
                    raise ConnectionResetError("the broker closed the connection")
                self._incoming.write(data)
        self._flush()

    def _flush(self) -> None:
        with self._wire_lock:
            with self._engine_lock:
                data = self._outgoing.read()
            if data:
                self._sock.sendall(data)

    def write(self, data: bytes) -> None:
        with self._wire_lock:
            with self._engine_lock:
                self._engine.write(data)
                ciphertext = self._outgoing.read()
            self._sock.sendall(ciphertext)

    def take(self, ciphertext: Optional[bytes]) -> bytes:
        """Feed ciphertext read from the socket (b"": its end; None:
        nothing new); return all the plaintext there is (b"" when none, or
        at the end)."""
        out = []
        with self._engine_lock:
            if ciphertext:
                self._incoming.write(ciphertext)
            elif ciphertext is not None:
                self._incoming.write_eof()
            while True:
                try:
                    data = self._engine.read(_TLS_CHUNK)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    break
                if not data:
                    break
                out.append(data)
            pending = self._outgoing.pending
        if pending:
            self._flush()
        return b"".join(out)


class Connection:
    """One SP req0 connection to the daemon.

    ``send()`` may be called from any thread but must be serialized by the
    caller. Replies are read by whichever thread the caller lets (one at a
    time): ``wait_readable()`` waits for bytes without taking any,
    ``fill()`` takes what the kernel has without blocking, and
    ``peek_frame()``/``consume()`` hand out whole messages. Nothing but
    ``fill()`` moves bytes, and an exception (a signal handler's) anywhere
    but inside ``fill()`` leaves the reading state whole: the frame last
    peeked is consumed only once its message was handed over. All raise
    OSError when the connection fails.
    """

    def __init__(self, url: str, connect_timeout: Optional[float] = 30.0) -> None:
        self.url = url
        scheme, address = parse_url(url)
        self._framed_ipc = scheme in ("ipc", "abstract")
        self._peer_checked = True  # until the SP header is sent
        self._pending_header = b""
        # Between cork() and uncork(): the messages to send in one write.
        self._corked: Optional[List[bytes]] = None
        # The peer's SP header was wrong: why the connection failed.
        self.refusal: Optional[BrokerProtocolError] = None
        self._header = _IPC_HEADER if self._framed_ipc else _U64
        self._tls: Optional[_TlsEngine] = None
        self._wake_read = self._wake_write = -1
        try:
            self._sock = self._open(scheme, address, connect_timeout)
        except OSError as e:
            raise BrokerConnectionError(
                e.errno, f"cannot connect to the broker at {url}: {e.strerror or e}; is "
                f"sockbrokerd running there? (set ${URL_ENV} to the daemon's listen URL)"
            ) from e
        self._fd = self._sock.fileno()
        self._buffer = bytearray(RECV_BUFFER)
        self._view = memoryview(self._buffer)
        self._start = 0  # first byte not consumed
        self._end = 0  # end of the bytes received
        # Descriptors that came with replies (handoff), in arrival order:
        # _fds[_claimed:] are not yet claimed by a reply. pass_fds: take
        # them in (set once Hello said the daemon passes descriptors).
        self.pass_fds = False
        self._fds: List[int] = []
        self._claimed = 0
        # The frame last peeked was handed over (1), and claimed the oldest
        # unclaimed descriptor (2); 0: not yet. consume() resets it.
        self.delivered = 0
        # wake() makes a wait_readable() in progress return: the wait that a
        # signal handler interrupted, when the handler took in the replies.
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poller = _real_poll()
        self._poller.register(self._fd, _POLLIN)
        self._poller.register(self._wake_read, _POLLIN)
        try:
            if scheme == "tls+tcp":
                host = address[0]  # type: ignore[index]
                try:
                    self._tls = _TlsEngine(self._sock, _tls_context(), host)
                    # What came with the end of the TLS handshake.
                    self._append(self._tls.take(None))
                except ssl.SSLError as e:
                    raise BrokerConnectionError(
                        f"TLS with the broker at {url} failed: {e}; check that "
                        f"${TLS_CA_FILE_ENV} has the CA of the daemon's certificate, that "
                        f"the certificate names {host}, and that the daemon trusts the "
                        f"certificate in ${TLS_CERT_KEY_FILE_ENV}") from e
            self._handshake(connect_timeout)
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

    def _handshake(self, timeout: Optional[float]) -> None:
        """Send the SP header with the first request (one segment). The
        daemon's is checked when it comes, in front of the first reply
        (peek_frame()): the first requests go out without waiting a round
        trip for it."""
        self._pending_header = _HANDSHAKE
        self._peer_checked = False

    def _check_peer_header(self) -> None:
        peer = bytes(self._view[self._start:self._start + 8])
        self._start += 8
        self._peer_checked = True
        if peer[:4] != b"\x00SP\x00" or peer[6:] != b"\x00\x00":
            self.refusal = BrokerProtocolError(
                f"{self.url} does not speak the SP protocol (it answered {peer!r}); "
                "is it a sockbrokerd listen URL?")
            raise self.refusal
        (proto,) = struct.unpack(">H", peer[4:6])
        if proto != PROTO_REP0:
            self.refusal = BrokerProtocolError(
                f"{self.url} speaks SP protocol 0x{proto:x}, not rep0 (0x31); is it a "
                "sockbrokerd listen URL?")
            raise self.refusal

    def _send_bytes(self, parts: List[bytes]) -> None:
        if self._pending_header:
            parts = [self._pending_header, *parts]
            self._pending_header = b""
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
        if self._corked is not None:
            self._corked += [header, *body_parts]
            return
        self._write([header, *body_parts])

    def cork(self) -> None:
        """Hold the messages sent from now on until uncork()."""
        self._corked = []

    def uncork(self) -> None:
        """Send the messages held since cork(), in one write."""
        parts, self._corked = self._corked, None
        if parts:
            self._write(parts)

    def _write(self, parts: List[bytes]) -> None:
        try:
            self._send_bytes(parts)
        except OSError as e:
            refusal = self._peer_refusal()
            if refusal is not None:
                raise refusal from e
            raise

    def _peer_refusal(self) -> Optional[BrokerProtocolError]:
        """After a send failed before the daemon's SP header was checked:
        the complaint about the header, if the peer sent a wrong one (a
        server that is not sockbrokerd, which closed the connection)."""
        if self._peer_checked:
            return None
        try:
            while self._end - self._start < 8 and self.wait_readable(0.5):
                self.fill()
        except OSError:
            pass
        if self._end - self._start < 8:
            return None
        try:
            self._check_peer_header()
        except BrokerProtocolError as e:
            return e
        return None

    # ---- reading ---------------------------------------------------------

    def fileno(self) -> int:
        """The connection's descriptor (to wait on it with others)."""
        return self._fd

    def wait_readable(self, timeout: Optional[float]) -> bool:
        """Wait until the daemon sent something (or the connection ended),
        at most timeout seconds (None: no limit); whether it did. Takes no
        bytes: a signal handler that runs meanwhile may read replies."""
        ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
        try:
            events = self._poller.poll(ms)
        except RuntimeError:
            # Used by the wait that a signal handler interrupted.
            poller = _real_poll()
            poller.register(self._fd, _POLLIN)
            events = poller.poll(ms)
        for fd, _ in events:
            if fd == self._wake_read:
                try:
                    os.read(self._wake_read, 64)
                except OSError:
                    pass
        return bool(events)

    def wake(self) -> None:
        """Make the wait_readable() in progress return."""
        try:
            os.write(self._wake_write, b"\0")
        except OSError:
            pass

    def fill(self) -> None:
        """Take the bytes the kernel has for this connection, without
        blocking (none: nothing happens). Raises ConnectionResetError at the
        end of the connection."""
        if self._tls is not None:
            try:
                ciphertext = self._sock.recv(_TLS_CHUNK, _MSG_DONTWAIT)
            except BlockingIOError:
                return
            plaintext = self._tls.take(ciphertext)
            if not ciphertext and not plaintext:
                raise ConnectionResetError("the broker closed the connection")
            self._append(plaintext)
            return
        if self._start == self._end and len(self._buffer) > RECV_BUFFER_KEEP:
            self._view.release()  # a big reply was taken: back to the usual size
            self._buffer = bytearray(RECV_BUFFER)
            self._view = memoryview(self._buffer)
            self._start = self._end = 0
        if len(self._buffer) - self._end < RECV_MIN_ROOM:
            self._room(RECV_MIN_ROOM)
        if not self.pass_fds:
            try:
                count = self._sock.recv_into(self._view[self._end:], 0, _MSG_DONTWAIT)
            except BlockingIOError:
                return
            if not count:
                raise ConnectionResetError("the broker closed the connection")
            self._end += count
            return
        if self._claimed:
            del self._fds[:self._claimed]
            self._claimed = 0
        try:
            count, ancdata, flags, _ = self._sock.recvmsg_into(
                [self._view[self._end:]], _FDS_SPACE, _MSG_DONTWAIT | _MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return
        for level, kind, data in ancdata:
            if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                self._fds.extend(fds)
        if flags & _MSG_CTRUNC:
            raise BrokerProtocolError(f"the broker at {self.url} passed more descriptors at "
                                      "once than this client takes; some were lost")
        if not count:
            raise ConnectionResetError("the broker closed the connection")
        self._end += count

    def unclaimed_fd(self) -> Optional[int]:
        """The oldest descriptor received that no reply claimed yet."""
        return self._fds[self._claimed] if len(self._fds) > self._claimed else None

    def _append(self, data: bytes) -> None:
        self._room(len(data))
        self._buffer[self._end:self._end + len(data)] = data
        self._end += len(data)

    def _room(self, size: int) -> None:
        """Make room for size more bytes after the unconsumed ones."""
        if len(self._buffer) - self._end >= size:
            return
        kept = self._end - self._start
        if kept + size <= len(self._buffer) and self._start:
            self._buffer[:kept] = self._view[self._start:self._end]
        else:
            bigger = bytearray(max(kept + size, 2 * len(self._buffer)))
            bigger[:kept] = self._view[self._start:self._end]
            self._view.release()
            self._buffer = bigger
            self._view = memoryview(bigger)
        self._start, self._end = 0, kept

    def peek_frame(self) -> Optional[Tuple[bytes, int]]:
        """The next whole message received (without its frame header) and
        the size to consume() once it was handed over; None until one is
        in."""
        if not self._peer_checked:
            if self._end - self._start < 8:
                return None
            self._check_peer_header()
        start = self._start
        available = self._end - start
        header = self._header
        if available < header.size:
            return None
        if self._framed_ipc:
            kind, length = header.unpack_from(self._buffer, start)
            if kind != 1:
                raise BrokerProtocolError(f"{self.url} sent an ipc frame of unknown type {kind}")
        else:
            (length,) = header.unpack_from(self._buffer, start)
        if length > MAX_REPLY_SIZE:
            raise BrokerProtocolError(f"{self.url} announced a reply of {length} bytes")
        size = header.size + length
        if available < size:
            if len(self._buffer) - start < size:
                self._room(size - available)
            return None
        return bytes(self._view[start + header.size:start + size]), size

    def consume(self, size: int) -> None:
        """Drop the frame last peeked (size bytes), once it was handed over
        (``delivered``), with the descriptor it claimed. No call in here:
        an exception from a signal handler comes before or after it all."""
        start = self._start + size
        if start >= self._end:
            start = self._end = 0
        self._start = start
        self._claimed += self.delivered == 2
        self.delivered = 0

    def shutdown(self) -> None:
        """End the connection for both directions (a thread waiting in
        wait_readable() wakes up)."""
        try:
            self._sock.shutdown(_stdsocket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the connection's file descriptor (no shutdown: safe after
        fork), and the descriptors received that no reply claimed."""
        self._close_wake_pipe()
        fds, self._fds = self._fds[self._claimed:], []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self._sock.close()
        except OSError:
            pass

    def detach_after_fork(self) -> None:
        """In a forked child: drop the inherited descriptor, leaving the
        parent's connection untouched (no shutdown, no TLS close_notify)."""
        self._close_wake_pipe()
        fds, self._fds = self._fds[self._claimed:], []
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            fd = self._sock.detach()
            os.close(fd)
        except OSError:
            pass

    def _close_wake_pipe(self) -> None:
        for fd in (self._wake_read, self._wake_write):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wake_read = self._wake_write = -1
