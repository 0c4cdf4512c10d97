"""The brokered socket object: the reference's socket class over handles.

A ``socket`` holds a handle id of one broker session; every method is one
request to the daemon (or, for makefile, the ``_into`` variants, sendfile and
the timeout getters, client-side code over those requests). The daemon keeps
the socket's state, its timeout mode included; this object caches the mode
it set so that gettimeout() needs no round trip.

``fileno()`` returns a descriptor of this process reserved for the socket
(on /dev/null): no other open file gets its number, and the number names the
socket to this module (``socket(fileno=...)``, ``fromfd``, ``send_fds``,
sockbroker.select and sockbroker.selectors, which wait for the socket
itself). The socket is in the daemon: os.read or the standard select on the
number see /dev/null, never another file.

Write-behind: every reply about a stream socket carries the kernel's free
send space on it. A send/sendall/sendmsg (no ancillary data, no flags, not
in non-blocking mode) whose bytes fit in that credit, less what was written
behind since, goes as a sendall request whose reply is not waited for: the
kernel would have taken those bytes at once. Its reply is collected by a
later call on the socket, and an error in it (ECONNRESET, EPIPE, ...) is
raised by that call, as the kernel raises its asynchronous errors. close,
shutdown, detach, dup, a timeout change and passing the socket in
SCM_RIGHTS wait for the written-behind replies first.

Read-ahead: once a program reads from an IPv4/IPv6 stream socket in blocking
or timeout mode, the client keeps receive requests outstanding on it (at
most READ_AHEAD_DEPTH, each for up to READ_AHEAD_MAX bytes, and none while
READ_AHEAD_MAX bytes wait here unread), so that data already in flight when the program calls recv again is answered
here. The bytes come in order: buffered data first, then the end of the
stream or an error, as the kernel's socket gives them. Only where the round
trip to the daemon is long (tcp, tls+tcp) unless $SOCKBROKER_READ_AHEAD
says otherwise ("1"/"on" always, "0"/"off" never). Calls with flags, recvmsg,
a timeout change, SO_RCVLOWAT, select/poll and handoff first cancel what is
outstanding and take in what it had read (see _ra_settle()).
"""

from __future__ import annotations

import array
import errno
import io
import math
import operator
import os
import socket as _stdsocket
import sys
import threading
import time
import warnings
import weakref
from collections import deque
from typing import Any, Deque, Dict, Iterable, List, Optional, Tuple

from . import _address, _default
from ._constants import to_enum
from ._core import Core, Session, _Call
from ._errors import cannot_wait, os_error, stale_socket
from ._pb import pb

__all__ = ["socket", "SocketType", "getdefaulttimeout", "setdefaulttimeout"]

# Requests of a pipelined sendall/sendfile that may be in flight at once.
PIPELINE_WINDOW = 4
# Written-behind sends of one socket whose replies may be outstanding at once
# (beyond that, a send waits for its reply as without write-behind).
WRITE_BEHIND_MAX = 256
# Read-ahead (see the module's notes): receive requests outstanding at once
# on one socket, and the most bytes each asks for.
# A parked recv holds no buffer in the daemon (it reads into its scratch
# buffer when the data is there), so the window costs nothing until bytes
# come; here at most READ_AHEAD_MAX are kept before reading ahead stops.
READ_AHEAD_DEPTH = 4
READ_AHEAD_MAX = 256 << 10
READ_AHEAD_ENV = "SOCKBROKER_READ_AHEAD"
# Chunk size for sendfile (bounded further by the daemon's max_data_size).
SENDFILE_BLOCK = 1 << 20
# Seconds the daemon may wait for a non-blocking socket's connect to
# complete so that it can hand the socket over (see socket.connect()).
HANDOFF_CONNECT_WAIT = 30.0

# Captured at import: install() replaces the socket module's class.
_RealSocket = _stdsocket.socket

SocketIO = _stdsocket.SocketIO
_GLOBAL_DEFAULT_TIMEOUT = _stdsocket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]

_default_timeout: Optional[float] = None

class _Name:
    """What a reserved descriptor stands for: a handle of a session."""

    __slots__ = ("core", "session", "handle", "read_ahead")

    def __init__(self, core: Core, session: Session, handle: int) -> None:
        self.core = core
        self.session = session
        self.handle = handle
        # The read-ahead of the socket detached as this number, taken up
        # again by socket(fileno=...).
        self.read_ahead: Optional["_ReadAhead"] = None


# The numbers fileno() gives brokered sockets: descriptors of this process
# (on /dev/null), reserved so that no other open file gets the number, each
# standing for a handle. A number stays reserved while a socket has it, and
# after detach(), dup(fd) or recv_fds() until a socket adopts it or it is
# closed. No lock: a dict's item operations are atomic, and a finalizer
# (a socket's __del__ gives its number back) may run inside any of them.
_names: Dict[int, _Name] = {}

# Live brokered sockets by their number, to wait for a socket whose number
# is given where a file descriptor is expected (select, selectors).
_live: "weakref.WeakValueDictionary[int, socket]" = weakref.WeakValueDictionary()


def reserve_number(core: Core, session: Session, handle: int) -> int:
    """Reserve a descriptor to stand for handle; return its number."""
    try:
        number = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)  # a sandbox without /dev/null
        os.close(write_end)
        number = read_end
    name = _Name(core, session, handle)
    _names[number] = name
    return number


def release_number(number: Optional[int]) -> None:
    """Give back the descriptor reserved as number."""
    if number is None:
        return
    if _names.pop(number, None) is not None:
        try:
            os.close(number)
        except OSError:
            pass


def name_of(core: Core, number: Any, caller: str) -> _Name:
    """What number (a brokered socket's fileno()) stands for in core's
    sessions; OSError EBADF if nothing."""
    number = _index(number)
    name = _names.get(number)
    if name is None or name.core is not core:
        exc = OSError(errno.EBADF, f"{caller}: {number} is not a brokered socket of this "
                      "client (give the fileno() of one, or a number from detach(), dup() "
                      "or recv_fds())")
        # What the daemon answers for a handle of no session: the same kind.
        exc.broker_kind = "bad_handle"  # type: ignore[attr-defined]
        exc.errno_name = "EBADF"  # type: ignore[attr-defined]
        raise exc
    return name


def live_socket(number: int) -> Optional["socket"]:
    """The open brokered socket whose fileno() is number, if any."""
    sock = _live.get(number)
    return sock if sock is not None and sock._number == number else None


def is_reserved_number(number: int) -> bool:
    """Whether number is a descriptor reserved for a brokered socket."""
    return number in _names


def _timeout_value(value: Any) -> Optional[float]:
    """A timeout argument checked as the reference checks it."""
    if value is None:
        return None
    # As _PyTime_FromSecondsObject: a float, else an integer (__index__),
    # in nanoseconds within a signed 64-bit count.
    if not isinstance(value, float):
        value = _index(value)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("Invalid value NaN (not a number)")
    if not -_C_LONG <= value * 1e9 < _C_LONG:
        raise OverflowError("timestamp too large to convert to C _PyTime_t")
    if value < 0:
        raise ValueError("Timeout value out of range")
    return float(value)


def getdefaulttimeout() -> Optional[float]:
    """Default timeout in seconds for new sockets (None: blocking)."""
    return _default_timeout


def setdefaulttimeout(timeout: Optional[float]) -> None:
    """Set the default timeout in seconds for new sockets (None: blocking)."""
    global _default_timeout
    _default_timeout = _timeout_value(timeout)


def default_timeout_of(core: Core) -> Optional[float]:
    """The default timeout of core's new sockets: its own when it has one
    (Client.setdefaulttimeout), else the module's."""
    if core._default_timeout_is_own:
        return core._default_timeout
    return _default_timeout


def _index(value: Any) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an "
                        "integer") from None


_C_LONG = 2**63


def _c_int(value: Any) -> int:
    """An argument the reference parses as a C int: OverflowError out of
    range, as CPython's argument parsing raises it."""
    value = _index(value)
    if not -_C_LONG <= value < _C_LONG:
        raise OverflowError("Python int too large to convert to C long")
    if value >= 2**31:
        raise OverflowError("signed integer is greater than maximum")
    if value < -2**31:
        raise OverflowError("signed integer is less than minimum")
    return value


def _c_ssize(value: Any) -> int:
    """An argument the reference parses as a C ssize_t (buffer sizes)."""
    value = _index(value)
    if not -_C_LONG <= value < _C_LONG:
        raise OverflowError("Python int too large to convert to C ssize_t")
    return value


def _bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(data).__name__}'"
                        ) from None


def _timeout_of(reply: Any) -> Optional[float]:
    return reply.timeout if reply.HasField("timeout") else None


class _WriteBehind:
    """The write-behind state of one stream socket.

    ``credit`` is the free send space the newest reply about the handle
    carried, the reply to request ``credit_seq``; ``pending`` holds the
    written-behind sends whose replies were not collected yet, oldest first.
    The space left is the credit less the pending sends made after
    ``credit_seq``. ``lock`` is re-entrant: a signal handler may use the
    socket that the code it interrupted was using.
    """

    __slots__ = ("lock", "credit", "credit_seq", "pending")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.credit = 0
        self.credit_seq = 0
        self.pending: Deque[Tuple[_Call, int]] = deque()

    def note(self, seq: int, reply: Any) -> None:
        """Take the credit of the reply to request seq if it is the newest."""
        if seq > self.credit_seq and reply.HasField("send_space"):
            with self.lock:
                if seq > self.credit_seq:
                    self.credit = reply.send_space
                    self.credit_seq = seq

    def space(self) -> int:
        """The send space left (call with lock held)."""
        credit_seq = self.credit_seq
        return self.credit - sum(n for call, n in self.pending if call.seq > credit_seq)


def read_ahead_wanted(url: str) -> bool:
    """Whether sockets of a session with the daemon at url read ahead:
    $SOCKBROKER_READ_AHEAD ("1", "on", "yes", "true" / "0", "off", "no",
    "false"), else on tcp and tls+tcp only (on ipc a round trip is cheap)."""
    value = os.environ.get(READ_AHEAD_ENV, "").strip().lower()
    if value in ("1", "on", "yes", "true"):
        return True
    if value in ("0", "off", "no", "false"):
        return False
    return url.split("://", 1)[0] in ("tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4",
                                      "tls+tcp6")


class _ReadAhead:
    """The read-ahead state of one stream socket (shared by its dup()s).

    ``buf`` holds the bytes read ahead and not yet given to the program;
    ``calls`` the receive requests outstanding, oldest first; ``final`` what
    comes after the buffered bytes once a reply said it: EOF (b"") or an
    exception. ``off``: no more requests (SO_RCVLOWAT set, a quota said no).
    """

    __slots__ = ("lock", "buf", "calls", "window", "final", "off", "users")

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.buf = bytearray()
        self.calls: Deque[_Call] = deque()
        self.window = 0
        self.final: Any = None
        self.off = False
        # Socket objects on it: a dup() shares it (the kernel's buffer is
        # one for both).
        self.users = 1


# Errors of a read-ahead request that mean "nothing read" rather than
# something the program must see: its wait timed out, it was cancelled, or
# the session may not keep more operations waiting.
_READ_AHEAD_NOTHING = ("timeout", "cancelled", "quota")


class socket:  # noqa: N801 (the reference's name)
    """A brokered socket: socket(family=AF_INET, type=SOCK_STREAM, proto=0,
    fileno=None, *, client=None).

    ``fileno``, when given, is a handle id of this client's session (from
    ``detach()`` or ``recv_fds()``): the object takes it over. ``client``
    is the sockbroker client to use (default: the module's, from
    $SOCKBROKER_URL).
    """

    __module__ = "sockbroker"
    __slots__ = ("__weakref__", "_core", "_session", "_handle", "_family", "_type",
                 "_proto", "_timeout", "_closed", "_io_refs", "_wb", "_native", "_number",
                 "_ra")

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1,  # noqa: A002
                 fileno: Optional[int] = None, *, client: Optional[Core] = None) -> None:
        self._handle: Optional[int] = None
        self._closed = False
        self._io_refs = 0
        self._wb: Optional[_WriteBehind] = None
        self._ra: Optional[_ReadAhead] = None
        self._native: Optional[_stdsocket.socket] = None
        self._number: Optional[int] = None
        core = client if client is not None else _default.get()
        if fileno is not None:
            if _index(fileno) < 0:
                raise ValueError("negative file descriptor")
            name = name_of(core, fileno, "socket")
            session = name.session
            if session.lost:
                raise stale_socket(session.url)
        else:
            session = core.session()
        consts = session.constants
        self._core = core
        self._session = session
        if fileno is None:
            if family is None or family == -1:
                family = consts["AF_INET"]
            if type is None or type == -1:
                type = consts["SOCK_STREAM"]
            if proto is None or proto == -1:
                proto = 0
            family, type, proto = _c_int(family), _c_int(type), _c_int(proto)
            request = pb.SocketRequest(family=family, type=type, proto=proto)
            timeout = default_timeout_of(core)
            if timeout is not None:
                request.timeout = timeout
            reply = core.call(pb.Request(socket=request), "socket", session)
            self._adopt(reply)
            sys.audit("socket.__new__", self, family, type, proto)
            return
        handle = name.handle
        self._handle = handle
        sol = consts["SOL_SOCKET"]
        try:
            if family is None or family == -1:
                family = self.getsockopt(sol, consts["SO_DOMAIN"])
            if type is None or type == -1:
                type = self.getsockopt(sol, consts["SO_TYPE"])
            if proto is None or proto == -1:
                proto = self.getsockopt(sol, consts["SO_PROTOCOL"])
            reply = core.call(pb.Request(gettimeout=pb.HandleRequest(handle=handle)),
                              "timeout", session)
        except BaseException:
            self._handle = None
            raise
        self._family, self._type, self._proto = family, type, proto
        self._timeout = _timeout_of(reply)
        self._wb = self._write_behind_state()
        self._ra = name.read_ahead or self._read_ahead_state()
        name.read_ahead = None
        self._number = _index(fileno)
        _live[self._number] = self

    def _adopt(self, reply: Any) -> None:
        self._handle = reply.handle
        self._number = reserve_number(self._core, self._session, reply.handle)
        _live[self._number] = self
        self._family = reply.family
        self._type = reply.type
        self._proto = reply.proto
        self._timeout = _timeout_of(reply)
        self._wb = self._write_behind_state()
        self._ra = self._read_ahead_state()

    @classmethod
    def _wrap(cls, core: Core, session: Session, reply: Any, seq: int = 0,
              whole_reply: Any = None) -> "socket":
        """A socket object for a handle the daemon just created; the whole
        Reply to request seq, when given, may carry its send credit."""
        sock = cls.__new__(cls)
        sock._closed = False
        sock._io_refs = 0
        sock._native = None
        sock._number = None
        sock._ra = None
        sock._core = core
        sock._session = session
        sock._adopt(reply)
        if whole_reply is not None and sock._wb is not None:
            sock._wb.note(seq, whole_reply)
        return sock

    # ---- handoff -----------------------------------------------------------

    def _wants_handoff(self) -> bool:
        """Whether to ask for this socket once it is connected. Not for
        subclasses (the brokered TLS socket, a program's own): turning into
        HandedOffSocket would drop what they add."""
        return (self._session.handoff and type(self) in HANDOFF_CLASSES
                and self._wb is not None and not self._wb.pending
                and (self._ra is None or not (self._ra.calls or self._ra.buf))
                and self._handle is not None)

    def _take_over(self, fd: int) -> None:
        """The daemon handed this socket over as fd: from now on the object
        is a front for the standard library's socket on it (class
        HandedOffSocket), with the same timeout."""
        native = _native_socket(fd, self._family, self._type, self._proto, self._timeout)
        self._handle = None
        number, self._number = self._number, None
        release_number(number)
        self._wb = None
        self._ra = None
        self._native = native
        self.__class__ = HandedOffSocket

    # ---- plumbing ----------------------------------------------------------

    def _write_behind_state(self) -> Optional[_WriteBehind]:
        stream = self._session.constants.get("SOCK_STREAM")
        if stream is None or (self._type & 0xF) != stream:
            return None
        return _WriteBehind()

    def _call(self, request: Any, expect: str) -> Any:
        if self._handle is None:
            raise os_error("EBADF")
        wb = self._wb
        if wb is None:
            return self._core.call(request, expect, self._session)
        if wb.pending:
            self._collect(wait=False)
        seq, reply = self._core.call_reply(request, expect, self._session)
        wb.note(seq, reply)
        return getattr(reply, expect)

    def _collect(self, wait: bool, raise_errors: bool = True) -> None:
        """Collect the replies of written-behind sends: those that are in
        (all of them with wait). Raise the first error among them."""
        wb = self._wb
        if wb is None:
            return
        core, session = self._core, self._session
        first: Optional[BaseException] = None
        if not wait and wb.pending and not wb.pending[0][0].done():
            core.pump(session)  # take in the replies that came meanwhile
        while wb.pending:
            call, _ = wb.pending[0]
            if not call.done():
                if not wait:
                    break
                why = core.cannot_wait(session)
                if why is not None:
                    if not raise_errors:
                        return
                    raise cannot_wait(session.url, why)
                core.await_call(session, call)
            with wb.lock:
                if not wb.pending or wb.pending[0][0] is not call:
                    continue  # collected meanwhile (a signal handler)
                try:
                    wb.note(call.seq, core.reply_of(session, call, "send"))
                except OSError as e:
                    if first is None:
                        first = e
                finally:
                    wb.pending.popleft()
        if first is not None and raise_errors:
            raise first

    def _write_behind(self, data: bytes, flags: int) -> bool:
        """Send data as a written-behind sendall if it fits in the credit;
        whether it did."""
        wb = self._wb
        if wb is None or flags or self._timeout == 0.0 or self._handle is None:
            return False
        if wb.pending:
            self._collect(wait=False)
        size = len(data)
        if not 0 < size <= self._session.max_data_size:
            return False
        with wb.lock:
            if len(wb.pending) >= WRITE_BEHIND_MAX or size > wb.space():
                return False
            call = self._core.start_behind(pb.Request(sendall=pb.SendRequest(
                handle=self._handle, data=data)), self._session)
            wb.pending.append((call, size))
        return True

    def _flush_behind(self) -> None:
        """Wait for the written-behind sends; raise the first error."""
        if self._wb is not None and self._wb.pending:
            self._collect(wait=True)

    # ---- read-ahead --------------------------------------------------------

    def _read_ahead_state(self) -> Optional[_ReadAhead]:
        consts = self._session.constants
        if self._wb is None or self._family not in (consts.get("AF_INET"),
                                                    consts.get("AF_INET6")):
            return None  # not a TCP-like stream (AF_UNIX may carry SCM_RIGHTS)
        return _ReadAhead() if read_ahead_wanted(self._session.url) else None

    def _ra_take(self, ra: _ReadAhead, call: _Call) -> None:
        """Take in the reply of a read-ahead request that is done (ra.lock
        held): its bytes go to the buffer, EOF or an error after them."""
        try:
            reply = self._core.reply_of(self._session, call, "recv")
        except OSError as e:
            kind = getattr(e, "broker_kind", None)
            if kind == "quota":
                ra.off = True
            if kind not in _READ_AHEAD_NOTHING and ra.final is None:
                ra.final = e
            return
        if ra.final is not None:
            return  # nothing comes after EOF or an error
        data = reply.recv.data
        if not data:
            ra.final = b""
            return
        ra.buf += data

    def _ra_harvest(self, ra: _ReadAhead) -> None:
        """Take in the read-ahead replies that came (ra.lock held)."""
        if ra.calls and not ra.calls[0].done():
            self._core.pump(self._session)
        while ra.calls and ra.calls[0].done():
            self._ra_take(ra, ra.calls.popleft())

    def _ra_start(self, ra: _ReadAhead) -> None:
        """Keep READ_AHEAD_DEPTH requests outstanding (ra.lock held)."""
        if (ra.off or ra.final is not None or self._timeout == 0.0 or self._handle is None
                or self._session.lost or len(ra.buf) >= READ_AHEAD_MAX):
            return
        while len(ra.calls) < READ_AHEAD_DEPTH:
            ra.calls.append(self._core.start(pb.Request(recv=pb.RecvRequest(
                handle=self._handle, bufsize=ra.window)), self._session))

    def _ra_settle(self) -> Optional[_ReadAhead]:
        """Cancel the outstanding read-ahead requests and take in what they
        read; return the state when bytes, EOF or an error are buffered."""
        ra = self._ra
        if ra is None:
            return None
        with ra.lock:
            if ra.calls:
                self._ra_harvest(ra)
            if ra.calls:
                core, session = self._core, self._session
                why = core.cannot_wait(session)
                if why is not None:
                    raise cannot_wait(session.url, why)
                for call in ra.calls:
                    core.call_nowait(pb.Request(cancel=pb.CancelRequest(
                        target_seq=call.seq)), session)
                while ra.calls:
                    core.await_call(session, ra.calls[0])
                    self._ra_take(ra, ra.calls.popleft())
            return ra if ra.buf or ra.final is not None else None

    def _ra_buffered(self, ra: _ReadAhead, n: int, peek: bool = False) -> Optional[bytes]:
        """Up to n buffered bytes, then EOF or the error (raised once, and
        read-ahead ends); None when nothing is buffered (ra.lock held)."""
        if ra.buf:
            data = bytes(ra.buf[:n])
            if not peek:
                del ra.buf[:n]
            return data
        final = ra.final
        if final is None:
            return None
        if isinstance(final, BaseException):
            if not peek:
                ra.final = None
                ra.off = True
            raise final
        return b""

    def _ra_recv(self, n: int) -> Optional[bytes]:
        """recv(n) with read-ahead; None where the daemon must be asked
        (read-ahead off, non-blocking mode with nothing buffered)."""
        ra = self._ra
        if ra is None or self._handle is None:
            return None
        core, session = self._core, self._session
        with ra.lock:
            if n == 0:
                return b""
            ra.window = min(READ_AHEAD_MAX, session.max_data_size)
            timeout = self._timeout
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                self._ra_harvest(ra)
                data = self._ra_buffered(ra, n)
                if data is not None:
                    if data:
                        self._ra_start(ra)
                    return data
                if ra.off or timeout == 0.0:
                    return None
                self._ra_start(ra)
                if not ra.calls:
                    return None
                why = core.cannot_wait(session)
                if why is not None:
                    raise cannot_wait(session.url, why)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise _stdsocket.timeout("timed out")
                core.await_call(session, ra.calls[0], remaining)

    def _ra_flagged(self, n: int, flags: int) -> Optional[bytes]:
        """recv(n, flags) where bytes are read ahead: MSG_PEEK looks at the
        buffer, MSG_WAITALL takes it and asks the daemon for the rest;
        None where the daemon must be asked (nothing buffered, other
        flags)."""
        const = self._const
        peek, waitall = const("MSG_PEEK") or 0, const("MSG_WAITALL") or 0
        if flags & ~(peek | waitall | (const("MSG_DONTWAIT") or 0)):
            self._ra_settle()
            return None  # MSG_OOB, MSG_TRUNC...: the kernel's own
        ra = self._ra_settle()
        if ra is None:
            return None
        with ra.lock:
            data = self._ra_buffered(ra, n, peek=bool(flags & peek))
            if data is None or not waitall & flags or flags & peek or \
                    not data or len(data) >= n:
                return data
            try:
                rest = self._call(pb.Request(recv=pb.RecvRequest(
                    handle=self._h, bufsize=n - len(data), flags=flags)), "recv").data
            except BaseException:
                ra.buf[0:0] = data  # not read after all
                raise
            return data + rest

    def _ra_read(self, n: int, flags: int) -> Optional[bytes]:
        """What a recv of n bytes gets from the read-ahead; None where the
        daemon must be asked."""
        if self._ra is None:
            return None
        if flags:
            return self._ra_flagged(n, flags)
        return self._ra_recv(n)

    def _ra_drop(self) -> None:
        """This object no longer uses its read-ahead (close): the last user
        drops what is outstanding (the daemon's close answers it)."""
        ra, self._ra = self._ra, None
        if ra is None:
            return
        with ra.lock:
            ra.users -= 1
            if ra.users > 0:
                return
            for call in ra.calls:
                call.discard = True
            ra.calls.clear()
            ra.buf.clear()

    def _const(self, name: str) -> Optional[int]:
        return self._session.constants.get(name)

    def _encode_address(self, address: Any, caller: str) -> Any:
        return _address.encode(self._const, self._family, address, self._proto, caller)

    def _decode_address(self, msg: Any) -> Any:
        return _address.decode(msg, self._proto, self._const)

    @property
    def _h(self) -> int:
        if self._handle is None:
            raise os_error("EBADF")
        return self._handle

    # ---- attributes --------------------------------------------------------

    @property
    def family(self) -> int:
        """The socket's address family (an AddressFamily member when known)."""
        return to_enum(self._family, self._session.constants.AddressFamily)

    @property
    def type(self) -> int:  # noqa: A003
        """The socket's type (a SocketKind member when known)."""
        return to_enum(self._type, self._session.constants.SocketKind)

    @property
    def proto(self) -> int:
        """The socket's protocol number."""
        return self._proto

    @property
    def timeout(self) -> Optional[float]:
        """The timeout in seconds, None in blocking mode (as gettimeout())."""
        return self._timeout

    @property
    def client(self) -> Core:
        """The sockbroker client this socket belongs to."""
        return self._core

    def __repr__(self) -> str:
        closed = getattr(self, "_closed", False)
        handle = self._handle if self._handle is not None else -1
        text = (f"<{type(self).__module__}.{type(self).__qualname__}"
                f"{' [closed]' if closed else ''} fd={self.fileno()}, handle={handle}, "
                f"family={self.family}, type={self.type}, proto={self._proto}")
        if not closed and self._handle is not None and not self._session.lost:
            try:
                text += f", laddr={self.getsockname()!r}"
            except (OSError, TypeError, ValueError):
                pass
            try:
                text += f", raddr={self.getpeername()!r}"
            except (OSError, TypeError, ValueError):
                pass
        return text + ">"

    def __getstate__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")

    def __enter__(self) -> "socket":
        return self

    def __exit__(self, *args: Any) -> None:
        if not self._closed:
            self.close()

    def __del__(self) -> None:
        try:
            handle = self._handle
        except AttributeError:
            return
        if handle is None:
            return
        try:
            warnings.warn(f"unclosed brokered socket handle={handle}", ResourceWarning,
                          source=self)
        except Exception:
            pass
        try:
            self._handle = None
            self._core.call_nowait(pb.Request(close=pb.HandleRequest(handle=handle)),
                                   self._session)
        except Exception:
            pass
        try:
            number, self._number = self._number, None
            release_number(number)
        except Exception:
            pass

    # ---- lifecycle ---------------------------------------------------------

    def fileno(self) -> int:
        """A descriptor of this process reserved for the socket (-1 once
        closed): no other open file has its number, but it is not the
        socket (that is in the daemon). It names the socket to this module:
        socket(fileno=), fromfd(), send_fds(), select and selectors."""
        number = self._number
        return number if number is not None and self._handle is not None else -1

    def close(self) -> None:
        """Close the socket (once the last makefile() object is closed)."""
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self) -> None:
        handle = self._handle
        if handle is None:
            return
        number, self._number = self._number, None
        release_number(number)
        if self._ra is not None and self._ra.users > 1:
            try:
                self._ra_settle()  # a dup() goes on reading: keep what came
            except OSError:
                pass
        self._ra_drop()
        if self._session.lost:
            self._handle = None
            return  # the daemon closed it with its session
        # The written-behind sends go first (a close would cancel one the
        # daemon still waits to finish); their errors have nowhere to go,
        # as the kernel's pending errors at close. The close itself needs no
        # answer.
        try:
            self._collect(wait=True, raise_errors=False)
        finally:
            self._handle = None
            self._core.call_nowait(pb.Request(close=pb.HandleRequest(handle=handle)),
                                   self._session)

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def detach(self) -> int:
        """Close the object without closing the socket; return its number
        (socket(fileno=number) takes it up again)."""
        self._flush_behind()
        self._closed = True
        handle, number = self._handle, self._number
        self._handle = self._number = None
        ra, self._ra = self._ra, None
        name = _names.get(number) if number is not None else None
        if ra is not None and name is not None:
            name.read_ahead = ra  # socket(fileno=number) reads on
        return number if handle is not None and number is not None else -1

    def dup(self) -> "socket":
        """A new socket object for a duplicate of the handle."""
        self._flush_behind()
        reply = self._call(pb.Request(dup=pb.HandleRequest(handle=self._h)), "socket")
        sock = type(self)._wrap(self._core, self._session, reply)
        ra = self._ra
        if ra is not None:
            self._ra_settle()  # requests on this handle: the dup's reads come in order
            with ra.lock:
                ra.users += 1
            sock._ra = ra
        return sock

    def bind(self, address: Any) -> None:
        """Bind the socket to address."""
        sys.audit("socket.bind", self, address)
        msg = self._encode_address(address, "bind")
        self._call(pb.Request(bind=pb.BindRequest(handle=self._h, address=msg)), "done")

    def listen(self, backlog: Optional[int] = None) -> None:
        """Enable a server to accept connections."""
        request = pb.ListenRequest(handle=self._h)
        if backlog is not None:
            request.backlog = max(0, _c_int(backlog))
        self._call(pb.Request(listen=request), "done")

    def _accept(self) -> Tuple[int, Any]:
        """The reference's private accept: (number, address). The number is
        the accepted socket's, for socket(fileno=...) to take up; after a
        handoff it is the kernel socket's descriptor (for the standard
        class)."""
        sock, address = self.accept()
        return sock.detach(), address

    def accept(self) -> Tuple["socket", Any]:
        """Accept a connection: (new socket, peer address)."""
        request = pb.AcceptRequest(handle=self._h)
        timeout = default_timeout_of(self._core)
        if timeout is not None:
            request.default_timeout = timeout
        if self._wb is not None and self._wb.pending:
            self._collect(wait=False)
        if self._session.handoff:
            request.handoff = True
            seq, whole, fd = self._core.call_handoff(pb.Request(accept=request), "accept",
                                                     self._session)
        else:
            seq, whole = self._core.call_reply(pb.Request(accept=request), "accept",
                                               self._session)
            fd = None
        reply = whole.accept
        address = self._decode_address(reply.address)
        if fd is not None:
            described = reply.socket
            return _native_socket(fd, described.family, described.type, described.proto,
                                  _timeout_of(described)), address
        sock = socket._wrap(self._core, self._session, reply.socket, seq, whole)
        return sock, address

    def connect(self, address: Any) -> None:
        """Connect to a remote socket at address. Where the daemon hands
        connected sockets over, this one becomes the standard library's
        socket on the descriptor (see HandedOffSocket)."""
        sys.audit("socket.connect", self, address)
        msg = self._encode_address(address, "connect")
        request = pb.ConnectRequest(handle=self._h, address=msg)
        if not self._wants_handoff():
            self._call(pb.Request(connect=request), "done")
            return
        request.handoff = True
        timeout = self._timeout
        if timeout == 0.0:
            # Non-blocking: the daemon waits for the outcome (at most
            # HANDOFF_CONNECT_WAIT seconds) so that it can hand the socket
            # over, and it comes back in non-blocking mode.
            self._call(pb.Request(settimeout=pb.SetTimeoutRequest(
                handle=self._h, timeout=HANDOFF_CONNECT_WAIT)), "done")
            self._timeout = HANDOFF_CONNECT_WAIT
        try:
            seq, whole, fd = self._core.call_handoff(pb.Request(connect=request), "done",
                                                     self._session)
        except BaseException:
            if timeout == 0.0:
                self.setblocking(False)
            raise
        if fd is None:
            if self._wb is not None:
                self._wb.note(seq, whole)
            if timeout == 0.0:
                self.setblocking(False)
            return
        self._timeout = timeout
        self._take_over(fd)

    def connect_ex(self, address: Any) -> int:
        """Like connect(), but return the errno of the connect itself (0 on
        success) instead of raising it."""
        sys.audit("socket.connect", self, address)
        msg = self._encode_address(address, "connect_ex")
        request = pb.ConnectRequest(handle=self._h, address=msg, ex=True)
        if self._wants_handoff() and self._timeout != 0.0:
            request.handoff = True
            seq, whole, fd = self._core.call_handoff(pb.Request(connect=request), "connect",
                                                     self._session)
            reply = whole.connect
            if fd is not None:
                self._take_over(fd)
            elif self._wb is not None:
                self._wb.note(seq, whole)
        else:
            reply = self._call(pb.Request(connect=request), "connect")
        if not reply.errno_number:
            return 0
        from ._errors import local_errno
        return local_errno(reply.errno_name, reply.errno_number) or reply.errno_number

    def shutdown(self, how: int) -> None:
        """Shut down one or both halves of the connection."""
        self._flush_behind()
        self._call(pb.Request(shutdown=pb.ShutdownRequest(handle=self._h, how=_c_int(how))),
                   "done")
        # A send after shutting the sending side fails there and then (EPIPE):
        # it must not be written behind.
        if how != _stdsocket.SHUT_RD:
            self._wb = None

    def getsockname(self) -> Any:
        """The socket's own address."""
        reply = self._call(pb.Request(getsockname=pb.HandleRequest(handle=self._h)), "address")
        return self._decode_address(reply.address)

    def getpeername(self) -> Any:
        """The address of the peer the socket is connected to."""
        reply = self._call(pb.Request(getpeername=pb.HandleRequest(handle=self._h)), "address")
        return self._decode_address(reply.address)

    # ---- options and modes -------------------------------------------------

    def getsockopt(self, level: int, optname: int, buflen: Optional[int] = None) -> Any:
        """An option's value: an int, or up to buflen bytes."""
        request = pb.GetSockOptRequest(handle=self._h, level=_c_int(level),
                                       optname=_c_int(optname))
        if buflen is not None:
            buflen = _c_int(buflen)
            if not 0 < buflen <= 1024:
                raise OSError("getsockopt buflen out of range")
            request.buflen = buflen
        reply = self._call(pb.Request(getsockopt=request), "getsockopt")
        if reply.WhichOneof("value") == "int_value":
            return reply.int_value
        return reply.bytes_value

    def setsockopt(self, level: int, optname: int, value: Any,
                   optlen: Optional[int] = None) -> None:
        """Set an option: setsockopt(level, optname, int | buffer) or
        setsockopt(level, optname, None, optlen)."""
        request = pb.SetSockOptRequest(handle=self._h, level=_c_int(level),
                                       optname=_c_int(optname))
        if self._ra is not None and (level, optname) == (self._const("SOL_SOCKET"),
                                                         self._const("SO_RCVLOWAT")):
            # The kernel's low-water mark decides when a recv returns: no
            # more reading ahead of it (what was read is served first).
            self._ra_settle()
            self._ra.off = True
        if optlen is not None:
            if value is not None:
                raise TypeError("setsockopt() takes value None when optlen is given")
            request.null_optlen = _c_int(optlen)
        elif value is None:
            raise TypeError("setsockopt() with value None needs optlen")
        elif isinstance(value, int):
            if not -2**31 <= value < 2**31:
                # The reference tries (int, int, int), then (int, int,
                # buffer), and reports the last.
                raise TypeError("a bytes-like object is required, not 'int'")
            request.int_value = value
        else:
            data = _bytes(value)
            request.bytes_value = data
        self._call(pb.Request(setsockopt=request), "done")

    def settimeout(self, value: Optional[float]) -> None:
        """Set the timeout: None blocking, 0.0 non-blocking, else seconds."""
        timeout = _timeout_value(value)
        self._flush_behind()
        self._ra_settle()  # requests waiting under the old timeout
        request = pb.SetTimeoutRequest(handle=self._h)
        if timeout is not None:
            request.timeout = timeout
        self._call(pb.Request(settimeout=request), "done")
        self._timeout = timeout

    def gettimeout(self) -> Optional[float]:
        """The timeout in seconds, or None in blocking mode."""
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        """setblocking(True) is settimeout(None), setblocking(False) settimeout(0.0)."""
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        """False in non-blocking mode (timeout 0.0), True otherwise."""
        return self._timeout != 0.0

    def get_inheritable(self) -> bool:
        """The handle's inheritable flag (kept by the daemon, for the daemon's
        fd; it does not make this process's children inherit anything)."""
        reply = self._call(pb.Request(get_inheritable=pb.HandleRequest(handle=self._h)), "flag")
        return reply.value

    def set_inheritable(self, inheritable: bool) -> None:
        """Set the handle's inheritable flag (see get_inheritable())."""
        self._call(pb.Request(set_inheritable=pb.SetInheritableRequest(
            handle=self._h, inheritable=bool(inheritable))), "done")

    # ---- receiving ---------------------------------------------------------

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Receive up to bufsize bytes."""
        bufsize = _c_ssize(bufsize)
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        flags = _c_int(flags)
        data = self._ra_read(bufsize, flags)
        if data is not None:
            return data
        reply = self._call(pb.Request(recv=pb.RecvRequest(
            handle=self._h, bufsize=bufsize, flags=_c_int(flags))), "recv")
        return reply.data

    def recvfrom(self, bufsize: int, flags: int = 0) -> Tuple[bytes, Any]:
        """Receive up to bufsize bytes: (data, sender address or None)."""
        bufsize = _c_ssize(bufsize)
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        flags = _c_int(flags)
        data = self._ra_read(bufsize, flags)
        if data is not None:
            return data, None  # a stream socket's recvfrom gives no address
        reply = self._call(pb.Request(recvfrom=pb.RecvRequest(
            handle=self._h, bufsize=bufsize, flags=_c_int(flags))), "recv")
        address = self._decode_address(reply.address) if reply.HasField("address") else None
        return reply.data, address

    @staticmethod
    def _target(buffer: Any, nbytes: int, caller: str) -> Tuple[memoryview, int]:
        view = memoryview(buffer)
        if view.readonly:
            raise TypeError(f"{caller}() argument 1 must be read-write bytes-like object, "
                            f"not {type(buffer).__name__}")
        view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        nbytes = _c_ssize(nbytes)
        if nbytes < 0:
            raise ValueError(f"negative buffersize in {caller}")
        if nbytes == 0:
            nbytes = len(view)
        elif nbytes > len(view):
            raise ValueError("buffer too small for requested bytes")
        return view, nbytes

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """Receive into buffer (up to nbytes, default its size); return the count."""
        view, nbytes = self._target(buffer, nbytes, "recv_into")
        flags = _c_int(flags)
        data = self._ra_read(nbytes, flags)
        if data is not None:
            view[:len(data)] = data
            return len(data)
        reply = self._call(pb.Request(recv=pb.RecvRequest(
            handle=self._h, bufsize=nbytes, flags=_c_int(flags))), "recv")
        data = reply.data
        view[:len(data)] = data
        return reply.count if reply.HasField("count") else len(data)

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> Tuple[int, Any]:
        """Receive into buffer: (count, sender address or None)."""
        view, nbytes = self._target(buffer, nbytes, "recvfrom_into")
        flags = _c_int(flags)
        data = self._ra_read(nbytes, flags)
        if data is not None:
            view[:len(data)] = data
            return len(data), None
        reply = self._call(pb.Request(recvfrom=pb.RecvRequest(
            handle=self._h, bufsize=nbytes, flags=_c_int(flags))), "recv")
        data = reply.data
        view[:len(data)] = data
        address = self._decode_address(reply.address) if reply.HasField("address") else None
        return (reply.count if reply.HasField("count") else len(data)), address

    def recvmsg(self, bufsize: int, ancbufsize: int = 0,
                flags: int = 0) -> Tuple[bytes, List[Tuple[int, int, bytes]], int, Any]:
        """Receive data and ancillary data: (data, ancdata, msg_flags, address).

        File descriptors received with SCM_RIGHTS are new handles of this
        session; their ids come as a native int array, as the reference's
        fds do (wrap them with socket(fileno=id)).
        """
        bufsize, ancbufsize = _c_ssize(bufsize), _c_ssize(ancbufsize)
        if bufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        if not 0 <= ancbufsize < 2**31:
            raise ValueError("invalid ancillary data buffer length")
        flags = _c_int(flags)
        if self._ra is not None:
            # A TCP stream's bytes carry no ancillary data.
            data = self._ra_flagged(bufsize, flags)
            if data is not None:
                return data, [], 0, None
        reply = self._call(pb.Request(recvmsg=pb.RecvMsgRequest(
            handle=self._h, bufsize=bufsize, ancbufsize=ancbufsize, flags=_c_int(flags))),
            "recvmsg")
        ancdata = []
        for anc in reply.ancillary:
            data = anc.data
            if anc.WhichOneof("decoded") == "rights":
                # New handles of this session: numbers reserved for each.
                data = array.array("i", [reserve_number(self._core, self._session, h)
                                         for h in anc.rights.handles]).tobytes()
            ancdata.append((anc.level, anc.type, data))
        address = self._decode_address(reply.address) if reply.HasField("address") else None
        return reply.data, ancdata, reply.msg_flags, address

    def recvmsg_into(self, buffers: Iterable[Any], ancbufsize: int = 0,
                     flags: int = 0) -> Tuple[int, List[Tuple[int, int, bytes]], int, Any]:
        """recvmsg() scattering the data into buffers: (nbytes, ancdata,
        msg_flags, address)."""
        views = []
        for buffer in buffers:
            view = memoryview(buffer)
            if view.readonly:
                raise TypeError("recvmsg_into() argument 1 must be an iterable of "
                                "single-segment read-write buffers")
            views.append(view.cast("B") if view.format != "B" or view.ndim != 1 else view)
        total = sum(len(v) for v in views)
        data, ancdata, msg_flags, address = self.recvmsg(total, ancbufsize, flags)
        offset = 0
        for view in views:
            if offset >= len(data):
                break
            chunk = data[offset:offset + len(view)]
            view[:len(chunk)] = chunk
            offset += len(chunk)
        return len(data), ancdata, msg_flags, address

    # ---- sending -----------------------------------------------------------

    def send(self, data: Any, flags: int = 0) -> int:
        """Send data; return the number of bytes sent (maybe fewer than given)."""
        data = _bytes(data)
        flags = _c_int(flags)
        if self._write_behind(data, flags):
            return len(data)
        limit = self._session.max_data_size
        if len(data) > limit:
            data = data[:limit]  # a partial send, as the kernel may do
        reply = self._call(pb.Request(send=pb.SendRequest(
            handle=self._h, data=data, flags=_c_int(flags))), "send")
        return reply.count

    def sendto(self, *args: Any) -> int:
        """sendto(data, address) or sendto(data, flags, address)."""
        if len(args) == 2:
            (data, address), flags = args, 0
        elif len(args) == 3:
            data, flags, address = args
            flags = _c_int(flags)
        else:
            raise TypeError(f"sendto() takes 2 or 3 arguments ({len(args)} given)")
        sys.audit("socket.sendto", self, address)
        data = _bytes(data)
        msg = self._encode_address(address, "sendto")
        reply = self._call(pb.Request(sendto=pb.SendRequest(
            handle=self._h, data=data, flags=flags, address=msg)), "send")
        return reply.count

    def _send_pipelined(self, chunks: Iterable[bytes], flags: int) -> int:
        """Send chunks as consecutive sendall requests, a few in flight;
        return the count the daemon confirmed."""
        session, core, handle = self._session, self._core, self._h
        if self._handle is None:
            raise os_error("EBADF")
        in_flight: Deque[Any] = deque()
        confirmed = 0
        wb = self._wb
        if wb is not None and wb.pending:
            self._collect(wait=False)

        def finish(call: _Call) -> int:
            reply = core.finish_reply(session, call, "send")
            if wb is not None:
                wb.note(call.seq, reply)
            return reply.send.count

        try:
            for chunk in chunks:
                in_flight.append(core.start(pb.Request(sendall=pb.SendRequest(
                    handle=handle, data=chunk, flags=flags)), session))
                if len(in_flight) >= PIPELINE_WINDOW:
                    confirmed += finish(in_flight.popleft())
            while in_flight:
                confirmed += finish(in_flight.popleft())
        finally:
            for call in in_flight:
                call.discard = True
        return confirmed

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Send all of data; the socket's timeout bounds the whole call.

        Data above the daemon's max_data_size goes as several pipelined
        requests, which the daemon runs in order.
        """
        flags = _c_int(flags)
        limit = self._session.max_data_size
        if isinstance(data, bytes) and len(data) <= limit:
            if self._write_behind(data, flags):
                return
            self._call(pb.Request(sendall=pb.SendRequest(
                handle=self._h, data=data, flags=flags)), "send")
            return
        try:
            view = memoryview(data).cast("B")
        except TypeError:
            view = memoryview(_bytes(data))
        if len(view) <= limit:
            data = view.tobytes()
            if self._write_behind(data, flags):
                return
            self._call(pb.Request(sendall=pb.SendRequest(
                handle=self._h, data=data, flags=flags)), "send")
            return
        self._send_pipelined((view[i:i + limit].tobytes()
                              for i in range(0, len(view), limit)), flags)

    def sendmsg(self, buffers: Iterable[Any], ancdata: Iterable[Any] = (), flags: int = 0,
                address: Any = None) -> int:
        """Send data gathered from buffers, with ancillary data; return the
        byte count. SCM_RIGHTS items carry handle ids (a native int array, as
        fileno() gives them); the daemon passes their sockets."""
        flags = _c_int(flags)
        buffers = [_bytes(b) for b in buffers]
        ancdata = list(ancdata)
        if not ancdata and address is None and self._write_behind(b"".join(buffers), flags):
            return sum(len(b) for b in buffers)
        request = pb.SendMsgRequest(handle=self._h, flags=flags)
        request.buffers.extend(buffers)
        sol, rights = self._const("SOL_SOCKET"), self._const("SCM_RIGHTS")
        for item in ancdata:
            try:
                level, type_, data = item
            except (TypeError, ValueError):
                raise TypeError("sendmsg() ancillary data items must be (level, type, "
                                "data) tuples") from None
            anc = request.ancillary.add(level=_index(level), type=_index(type_))
            data = _bytes(data)
            if anc.level == sol and anc.type == rights:
                ids = array.array("i")
                ids.frombytes(data[:len(data) - len(data) % ids.itemsize])
                for passed in ids:
                    # The receiver must get every byte written before.
                    sock = live_socket(passed)
                    if sock is not None:
                        sock._flush_behind()
                    anc.rights.handles.append(name_of(self._core, passed, "sendmsg").handle)
            else:
                anc.data = data
        if address is not None:
            sys.audit("socket.sendmsg", self, address)
            request.address.CopyFrom(self._encode_address(address, "sendmsg"))
        reply = self._call(pb.Request(sendmsg=request), "send")
        return reply.count

    def sendmsg_afalg(self, msg: Iterable[Any] = (), *, op: int, iv: Any = None,
                      assoclen: Optional[int] = None, flags: int = 0) -> int:
        """sendmsg() for an AF_ALG socket: operation, IV and AEAD length."""
        request = pb.SendMsgAfalgRequest(handle=self._h, op=_index(op), flags=_c_int(flags))
        request.buffers.extend(_bytes(b) for b in msg)
        if iv is not None:
            request.iv = _bytes(iv)
        if assoclen is not None:
            assoclen = _index(assoclen)
            if assoclen < 0:
                raise TypeError("assoclen must be positive")
            request.assoclen = assoclen
        reply = self._call(pb.Request(sendmsg_afalg=request), "send")
        return reply.count

    def _check_sendfile_params(self, file: Any, offset: int, count: Optional[int]) -> None:
        if "b" not in getattr(file, "mode", "b"):
            raise ValueError("file should be opened in binary mode")
        if not self._type & self._const("SOCK_STREAM"):  # type: ignore[operator]
            raise ValueError("only SOCK_STREAM type sockets are supported")
        if count is not None:
            if not isinstance(count, int):
                raise TypeError(f"count must be a positive integer (got {count!r})")
            if count <= 0:
                raise ValueError(f"count must be a positive integer (got {count!r})")

    def sendfile(self, file: Any, offset: int = 0, count: Optional[int] = None) -> int:
        """Send a binary file's contents until EOF (or count bytes); return
        the count sent. The file is read here and its data pipelined to the
        daemon; file.tell() afterwards is just past what was sent."""
        return self._sendfile_use_send(file, offset, count)

    def _sendfile_use_sendfile(self, file: Any, offset: int = 0,
                               count: Optional[int] = None) -> int:
        """The reference's os.sendfile() path, which sendfile() tries first:
        it gives up (_GiveupOnSendfile) on what is not a regular file, as
        the reference's does. The socket is in the daemon, so there is no
        zero-copy: the file's data is pipelined as _sendfile_use_send()
        does."""
        self._check_sendfile_params(file, offset, count)
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation) as err:
            raise _stdsocket._GiveupOnSendfile(err)  # type: ignore[attr-defined]
        try:
            size = os.fstat(fileno).st_size
        except OSError as err:
            raise _stdsocket._GiveupOnSendfile(err)  # type: ignore[attr-defined]
        if not size:
            return 0
        return self._sendfile_use_send(file, offset, count)

    def _sendfile_use_send(self, file: Any, offset: int = 0,
                           count: Optional[int] = None) -> int:
        """sendfile() through send requests (the reference's fallback)."""
        self._check_sendfile_params(file, offset, count)
        if self._timeout == 0:
            raise ValueError("non-blocking sockets are not supported")
        if offset:
            file.seek(offset)
        block = min(SENDFILE_BLOCK, self._session.max_data_size)
        sent = 0

        def chunks() -> Iterable[bytes]:
            remaining = count
            while remaining is None or remaining > 0:
                size = block if remaining is None else min(block, remaining)
                data = file.read(size)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield bytes(data)

        try:
            sent = self._send_pipelined(chunks(), 0)
        finally:
            if hasattr(file, "seek"):
                try:
                    file.seek(offset + sent)
                except OSError:
                    pass
        return sent

    # ---- file objects ------------------------------------------------------

    def makefile(self, mode: str = "r", buffering: Optional[int] = None, *,
                 encoding: Optional[str] = None, errors: Optional[str] = None,
                 newline: Optional[str] = None) -> Any:
        """A file object on the socket, as the reference's (SocketIO under
        the standard io buffering and text layers)."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        rawmode = ("r" if reading else "") + ("w" if writing else "")
        raw = SocketIO(self, rawmode)
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: Any
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        encoding = io.text_encoding(encoding)
        text = io.TextIOWrapper(buffer, encoding, errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text


SocketType = socket


def _native_socket(fd: int, family: int, type: int, proto: int,  # noqa: A002
                   timeout: Optional[float]) -> _stdsocket.socket:
    """The standard library's socket on a descriptor handed over, in the
    timeout mode the brokered socket had."""
    try:
        native = _RealSocket(family, type, proto, fd)
    except OSError:
        os.close(fd)
        raise
    native.settimeout(timeout)
    return native


def _forward(name: str) -> Any:
    def method(self: "HandedOffSocket", *args: Any, **kwargs: Any) -> Any:
        return getattr(self._native, name)(*args, **kwargs)
    method.__name__ = name
    method.__qualname__ = f"HandedOffSocket.{name}"
    method.__doc__ = getattr(_RealSocket, name).__doc__
    return method


class HandedOffSocket(socket):
    """A socket that was brokered until the daemon handed it over
    (``connect()`` where handoff is on): every method is the standard
    library's socket's on the real descriptor, so ``fileno()``, ``fcntl``,
    ``select``, ``selectors``, ``asyncio`` and ``ssl`` are native. The
    broker no longer sees it."""

    __slots__ = ()

    @property
    def family(self) -> int:
        return self._native.family  # type: ignore[union-attr]

    @property
    def type(self) -> int:  # noqa: A003
        return self._native.type  # type: ignore[union-attr]

    @property
    def proto(self) -> int:
        return self._native.proto  # type: ignore[union-attr]

    @property
    def timeout(self) -> Optional[float]:
        return self._native.gettimeout()  # type: ignore[union-attr]

    def close(self) -> None:
        self._closed = True
        self._native.close()  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"<sockbroker.HandedOffSocket {self._native!r}>"


for _name in ("accept", "bind", "connect", "connect_ex", "detach", "dup", "fileno",
              "get_inheritable", "getblocking", "getpeername", "getsockname", "getsockopt",
              "gettimeout", "listen", "makefile", "recv", "recv_into", "recvfrom",
              "recvfrom_into", "recvmsg", "recvmsg_into", "send", "sendall", "sendfile",
              "sendmsg", "sendto", "set_inheritable", "setblocking", "setsockopt", "settimeout",
              "shutdown", "_accept", "_sendfile_use_send", "_sendfile_use_sendfile"):
    setattr(HandedOffSocket, _name, _forward(_name))
del _name

# The classes whose connected sockets may turn into HandedOffSocket: this
# one and the class install() puts in the socket module (which adds nothing).
HANDOFF_CLASSES = {socket}
