"""The call machinery: sessions, requests in flight, replies matched by id.

One ``Core`` talks to one daemon URL over one connection at a time. That
connection is a broker *session*: the daemon ties every handle to it and
closes them all when it ends. The first request of a session is Hello.

Calls:
- any thread may call; requests are numbered (``Request.seq`` 1, 2, 3, ...)
  and written under one send lock, so the order on the wire is the order of
  the numbers, and the daemon starts them in that order;
- each request carries an SP request id, and replies are read on the calling
  threads (leader/follower): of the threads waiting for a reply, one at a
  time holds the reader role and reads whatever the daemon sends, handing
  each reply to the thread waiting for its id; when its own reply is in it
  passes the role to another waiting thread. A lone caller thus reads its
  own reply, with no other thread involved; any number of calls may be in
  flight at once (a blocking recv does not hold up others);
- replies nobody waits for (closes, written-behind sends) are read by
  whichever thread reads next, and by close();
- nothing is ever resent, and there is no timeout on this side: the daemon
  applies the socket's timeout, a blocking recv may wait for hours;
- when the connection drops, every waiting call fails with
  BrokerConnectionError, the session's sockets are dead, and the next call
  opens a new session.

No call waits for a reply that cannot come. Where no thread could read its
reply, a call that needs one fails at once with BrokerConnectionError
(EDEADLK), before anything is sent:
- during interpreter shutdown (finalizers run after daemon threads, which
  may hold the reader role, were stopped);
- on a thread that is in the middle of sending a request, of opening the
  session, or of taking in and handing over replies (a signal handler or a
  finalizer that interrupted it there). A thread that holds the reader role
  while it waits for bytes is not in the middle of anything: a signal
  handler that interrupts that wait reads its own reply.
A request that needs no answer (a close) is sent without waiting where it
can be, deferred until the interrupted send is done where it cannot, and
dropped at shutdown if another thread was stopped mid-send: the daemon
closes a session's sockets when the session ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from . import _errors
from ._constants import Constants
from ._errors import BrokerProtocolError
from ._pb import pb
from ._transport import Connection, default_url

__all__ = ["Core", "Session"]

__version__ = "0.1.0"

PROTOCOL_VERSION = 1
DEFAULT_MAX_DATA_SIZE = 1 << 20
TOKEN_ENV = "SOCKBROKER_TOKEN"
HANDOFF_ENV = "SOCKBROKER_HANDOFF"

_REQUEST_ID = struct.Struct(">I")

# During interpreter shutdown a thread stopped in the middle of a send may
# hold the send lock for ever: a request that needs no answer gives up after
# this many seconds (the daemon closes the session's sockets anyway).
SHUTDOWN_SEND_WAIT = 0.5
# Seconds close() waits for the replies to requests nobody waits for (closes,
# written-behind sends), so that the session ends with nothing in flight.
CLOSE_DRAIN_WAIT = 2.0
# Seconds a new connection's SP handshake and Hello may take.
HELLO_WAIT = 30.0
# A thread waiting for another thread to read its reply looks again this
# often (seconds) whether the reader role is free: an exception that a
# signal handler raised in the reader's thread at the wrong instant may have
# kept the role from being passed on.
FOLLOWER_RECHECK = 1.0

_all_cores: "weakref.WeakSet[Core]" = weakref.WeakSet()


def _seq_prefix(seq: int) -> bytes:
    """Field 1 (``seq``) as a varint: protobuf takes fields in any order, so
    it goes in front of the already serialized request."""
    out = bytearray(b"\x08")
    while True:
        byte = seq & 0x7F
        seq >>= 7
        if seq:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _Call:
    """One request in flight.

    ``lock`` is held while no thread signalled the one waiting for the call
    (``sleeping``): the reader releases it when the reply is in, or to pass
    it the reader role. A call with a ``waker`` is waited for by other means
    (a Poll's wake-up pipe), which the reader calls instead.
    """

    __slots__ = ("lock", "seq", "request_id", "data", "error", "discard", "waker", "unwaited",
                 "sleeping", "fd", "frame")

    def __init__(self, seq: int, request_id: int) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.seq = seq
        self.request_id = request_id
        self.data: Optional[bytes] = None
        self.error: Optional[Callable[[], BaseException]] = None
        self.discard = False
        self.waker: Optional[Callable[[], None]] = None
        # Sent without a thread waiting for it (close, written-behind send).
        self.unwaited = False
        # A thread waits for it and for the reader role (Session.sleepers).
        self.sleeping = False
        # The descriptor its reply handed over (Reply.handed_off), until
        # the caller takes it.
        self.fd: Optional[int] = None
        # Its frame's parts, to send again when a resumed session did not
        # receive it (resumable sessions only).
        self.frame: Optional[Tuple[bytes, ...]] = None

    def done(self) -> bool:
        return self.data is not None or self.error is not None


class Session:
    """One connection to the daemon and what its Hello said."""

    def __init__(self, url: str, conn: Connection) -> None:
        self.url = url
        self.conn = conn
        self.lost = False
        self.lost_reason = ""
        self.seq = 0
        self.request_id = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        self.pending: Dict[int, _Call] = {}
        self.hello: Any = None
        self.max_data_size = DEFAULT_MAX_DATA_SIZE
        self.constants = Constants()
        self.has_ipv6: Optional[bool] = None
        self.unsupported: Set[str] = set()
        self.cmsg_sizes: Dict[int, Any] = {}
        # The reader role (see the module's notes): the thread that holds
        # it, how many times (a signal handler that interrupted its wait
        # holds it once more), and whether it is waiting for bytes (nothing
        # half taken in: a signal handler there may read too). ``mutex``
        # guards these, Call.sleeping and ``sleepers`` (the calls whose
        # threads wait, oldest first). Re-entrant: a finalizer that runs
        # while its thread holds it may lose the session (a failed send).
        self.mutex = threading.RLock()
        self.leader: Optional[int] = None
        self.depth = 0
        self.safe = False
        self.sleepers: Dict[_Call, None] = {}
        # The daemon hands sockets over on this connection and the client
        # wants them (Core.handoff).
        self.handoff = False
        # Requests that need no answer, queued by a thread that could not
        # send them itself; sent after the next request.
        self.deferred: List[bytes] = []
        # Resuming the session over a new connection (tcp, tls+tcp): what
        # Hello gave; grace 0: the session ends with its connection.
        self.resume_secret = b""
        self.resume_grace = 0.0
        self.constants_digest = b""
        # A send failed: the frames of pending calls go out again once the
        # reader has resumed the session.
        self.link_down = False


class Core:
    """The connection to one daemon, and the calls on it.

    ``url`` defaults to $SOCKBROKER_URL or the daemon's default path;
    ``token`` to $SOCKBROKER_TOKEN. Nothing happens until the first call.
    """

    def __init__(self, url: Optional[str] = None, *, token: Optional[str] = None,
                 client_name: Optional[str] = None, handoff: Optional[bool] = None) -> None:
        self.url = url or default_url()
        self._token = token if token is not None else os.environ.get(TOKEN_ENV)
        # Ask for connected stream sockets to be handed over (default
        # $SOCKBROKER_HANDOFF, else yes).
        self.handoff = handoff_default() if handoff is None else bool(handoff)
        self._client_name = client_name or f"python-sockbroker/{__version__}"
        self._session: Optional[Session] = None
        self._send_lock = threading.Lock()
        self._send_owner: Optional[int] = None
        self._connect_lock = threading.Lock()
        self._connect_owner: Optional[int] = None
        # Kept here: module globals may be gone when finalizers run at exit.
        self._is_finalizing = sys.is_finalizing
        self._get_ident = threading.get_ident
        self._session_hooks: List[Callable[[Session], None]] = []
        self._closed = False
        # The client's own default timeout for new sockets, once set
        # (Client.setdefaulttimeout); until then the module's applies.
        self._default_timeout: Optional[float] = None
        self._default_timeout_is_own = False
        _all_cores.add(self)

    # ---- sessions ----------------------------------------------------------

    def session(self) -> Session:
        """The live session, connecting (and saying Hello) if there is none."""
        session = self._session
        if session is not None and not session.lost:
            return session
        why = self.cannot_wait(None)
        if why is None and self._connect_owner == self._get_ident():
            why = "while this thread is opening the broker session"
        if why is not None:
            raise _errors.cannot_wait(self.url, why)
        with self._connect_lock:
            self._connect_owner = self._get_ident()
            try:
                session = self._session
                if session is not None and not session.lost:
                    return session
                if self._closed:
                    raise _errors.BrokerConnectionError(
                        "this sockbroker client was closed; create a new one")
                session = self._open_session()
                self._session = session
            finally:
                self._connect_owner = None
        for hook in list(self._session_hooks):
            hook(session)
        return session

    def _open_session(self) -> Session:
        cached = _load_constants(self.url)
        conn = Connection(self.url)
        session = Session(self.url, conn)
        hello = pb.HelloRequest(protocol_version=PROTOCOL_VERSION,
                                client_name=f"{self._client_name} (pid {os.getpid()})")
        if self._token:
            hello.token = self._token
        if cached is not None:
            hello.constants_digest = cached[0]
        try:
            # The SP header, Hello and the next request go out together, in
            # one write; the daemon's SP header is checked in front of the
            # reply.
            conn.cork()
            hello_call = self._send(session, pb.Request(hello=hello).SerializeToString())
            ipv6_call = self._send(session, pb.Request(has_ipv6=pb.Empty()).SerializeToString())
            try:
                conn.uncork()
            except OSError as e:
                self._lose(session, f"sending failed: {e.strerror or e}")
                raise _errors.connection_lost(self.url, session.lost_reason) from e
            if not self._await(session, hello_call, time.monotonic() + HELLO_WAIT):
                raise _errors.BrokerConnectionError(
                    f"{self.url} did not answer the SP handshake and Hello within "
                    f"{HELLO_WAIT:g} s; is it a sockbrokerd listen URL?")
            reply = self._wait(session, hello_call, "hello")
            try:
                session.has_ipv6 = self._wait(session, ipv6_call, "flag").value
            except OSError:
                session.has_ipv6 = None
        except BaseException as e:
            self._lose(session, "the session could not be started")
            if conn.refusal is not None and e is not conn.refusal:
                raise conn.refusal from e
            raise
        session.hello = reply
        session.resume_secret = reply.resume_secret
        session.resume_grace = reply.resume_grace_ms / 1000.0
        session.constants_digest = reply.constants_digest
        if reply.max_data_size:
            session.max_data_size = reply.max_data_size
        if reply.constants or cached is None or reply.constants_digest != cached[0]:
            table = {c.name: c.value for c in reply.constants}
            if reply.constants_digest:
                _store_constants(self.url, reply.constants_digest, table)
        else:
            table = cached[1]  # the daemon's table is the one cached
        session.constants = Constants(table)
        session.handoff = self.handoff and reply.handoff
        conn.pass_fds = session.handoff
        return session

    def set_handoff(self, handoff: bool) -> None:
        """Ask for handoff from now on, or not."""
        self.handoff = bool(handoff)
        session = self._session
        if session is not None and not self.handoff:
            session.handoff = False

    def add_session_hook(self, hook: Callable[[Session], None]) -> None:
        """Call ``hook(session)`` after each new session's Hello."""
        self._session_hooks.append(hook)

    def close(self) -> None:
        """End the session: the daemon closes all of its sockets. Requests
        that nobody waits for (closes, written-behind sends) are answered
        first, for up to CLOSE_DRAIN_WAIT seconds."""
        with self._connect_lock:
            self._closed = True
            session = self._session
        if session is not None:
            if self.cannot_wait(session) is None:
                self._drain(session)
            self._lose(session, "the client was closed")

    def _drain(self, session: Session) -> None:
        deadline = time.monotonic() + CLOSE_DRAIN_WAIT
        for call in [c for c in list(session.pending.values()) if c.unwaited]:
            if not self._await(session, call, deadline):
                return

    def _lose(self, session: Session, why: str) -> None:
        """Mark the session lost and fail every call waiting on it."""
        with self._send_lock:
            if session.lost:
                return
            session.lost = True
            session.lost_reason = why
        # A thread waiting for bytes wakes up; the connection is closed once
        # no thread reads from it.
        session.conn.shutdown()
        self._fail_pending(session)
        with session.mutex:
            if session.leader is None:
                session.conn.close()

    # ---- resuming the session --------------------------------------------

    def _resumable(self, session: Session) -> bool:
        return bool(session.resume_secret) and session.resume_grace > 0 and \
            not session.lost and not self._closed

    def _resume_or_lose(self, session: Session, why: str) -> None:
        """The connection failed while this thread holds the reader role:
        resume the session over a new connection when it is resumable, else
        lose it."""
        if not self._resumable(session):
            self._lose(session, why)
            return
        try:
            self._resume(session)
        except OSError as e:
            self._lose(session, f"{why}; the session could not be resumed: "
                       f"{e.strerror or e}")

    def _resume(self, session: Session) -> None:
        """Connect again within the broker's grace period and resume the
        session: the replies the broker sent while the link was down go to
        their calls, the requests it never received go out again in order,
        and the calls still waiting there get their replies on the new
        connection. Senders wait meanwhile (the send lock)."""
        session.link_down = True
        session.conn.shutdown()
        deadline = time.monotonic() + session.resume_grace
        with self._send_lock:
            pause = 0.1
            while True:
                try:
                    conn, reply = self._resume_hello(session)
                    break
                except _ResumeRefused:
                    raise
                except OSError:
                    if time.monotonic() + pause >= deadline or self._closed:
                        raise
                    time.sleep(pause)
                    pause = min(1.0, pause * 2)
            conn.pass_fds = session.handoff
            old, session.conn = session.conn, conn
            old.close()
            for request_id, data in zip(reply.missed_request_ids, reply.missed_replies):
                call = session.pending.pop(request_id & 0x7FFFFFFF, None)
                if call is None or call.discard:
                    continue
                with session.mutex:
                    if not call.done():
                        call.data = _REQUEST_ID.pack(request_id) + data
                    if call.sleeping:
                        _rouse_locked(session, call)
                if call.waker is not None:
                    call.waker()
            again = sorted((c for c in session.pending.values()
                            if c.seq >= reply.resume_next_seq and c.frame is not None),
                           key=lambda c: c.seq)
            session.link_down = False
            for call in again:
                conn.send(call.frame)

    def _resume_hello(self, session: Session) -> Tuple[Connection, Any]:
        """A new connection and the reply of the Hello that resumed the
        session on it."""
        conn = Connection(self.url)
        try:
            hello = pb.HelloRequest(protocol_version=PROTOCOL_VERSION,
                                    client_name=f"{self._client_name} (pid {os.getpid()})",
                                    resume_secret=session.resume_secret,
                                    resume_pending_seqs=sorted(
                                        c.seq for c in session.pending.values()),
                                    constants_digest=session.constants_digest)
            if self._token:
                hello.token = self._token
            session.request_id = (session.request_id + 1) & 0x7FFFFFFF
            while session.request_id in session.pending:
                session.request_id = (session.request_id + 1) & 0x7FFFFFFF
            request_id = session.request_id
            conn.send((_REQUEST_ID.pack(request_id | 0x80000000),
                       pb.Request(hello=hello).SerializeToString()))
            deadline = time.monotonic() + 30.0
            while True:
                frame = conn.peek_frame()
                if frame is not None:
                    break
                if not conn.wait_readable(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError("the broker did not answer the resuming Hello")
                conn.fill()
            conn.consume(frame[1])
            reply = pb.Reply.FromString(frame[0][4:])
            if _REQUEST_ID.unpack_from(frame[0])[0] & 0x7FFFFFFF != request_id:
                raise BrokerProtocolError("the broker answered another request first")
            if reply.HasField("error") or not reply.hello.resumed:
                raise _ResumeRefused(
                    reply.error.errno_number or 0,
                    reply.error.message or "the broker did not resume the session")
            return conn, reply.hello
        except BaseException:
            conn.close()
            raise

    def _fail_pending(self, session: Session) -> None:
        pending = session.pending
        url, why = session.url, session.lost_reason
        while pending:
            try:
                _, call = pending.popitem()
            except KeyError:
                break
            with session.mutex:
                if not call.done():
                    call.error = lambda: _errors.connection_lost(url, why)
                if call.sleeping:
                    _rouse_locked(session, call)
            if call.waker is not None:
                call.waker()

    def cannot_wait(self, session: Optional[Session]) -> Optional[str]:
        """Why this thread cannot wait for a reply now (None: it can)."""
        if self._is_finalizing():
            return "during interpreter shutdown (from a finalizer)"
        me = self._get_ident()
        if me == self._send_owner:
            return ("while this thread is sending another request (from a signal handler "
                    "or a finalizer)")
        if session is not None and session.leader == me and not session.safe:
            return ("while this thread is taking in the broker's replies (from a signal "
                    "handler or a finalizer)")
        return None

    # ---- reading replies ---------------------------------------------------

    def _await(self, session: Session, call: Optional[_Call],
               deadline: Optional[float]) -> bool:
        """Wait until call is done, reading replies while this thread holds
        the reader role; False if the time.monotonic() deadline (None: none)
        passed first. With call None: read what has come, until the
        deadline."""
        me = self._get_ident()
        while call is None or not call.done():
            lead = False
            # The role is taken and given back inside one try: an exception
            # raised by a signal handler between the two must not keep it.
            try:
                with session.mutex:
                    if call is not None and call.done():
                        return True
                    if session.lost:
                        if call is not None and not call.done():
                            url, why = session.url, session.lost_reason
                            call.error = lambda: _errors.connection_lost(url, why)
                        return True
                    if session.leader is None:
                        session.leader = me
                        session.depth = 1
                        lead = True
                    elif session.leader == me:
                        session.depth += 1
                        lead = True
                    elif call is None:
                        return False  # another thread reads
                    else:
                        call.sleeping = True
                        session.sleepers[call] = None
                if lead:
                    if not self._lead(session, call, deadline):
                        return False
                    if call is None:
                        return True
                    continue
                wait = FOLLOWER_RECHECK
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                call.lock.acquire(True, wait)  # type: ignore[union-attr]
            finally:
                with session.mutex:
                    if lead:
                        _resign_locked(session)
                    elif call is not None:
                        if call.sleeping:
                            call.sleeping = False
                            session.sleepers.pop(call, None)
                        else:
                            call.lock.acquire(False)  # woken: armed again
                            if session.leader is None and session.sleepers:
                                # A role passed to a thread that leaves.
                                _rouse_locked(session, next(iter(session.sleepers)))
            if deadline is not None and time.monotonic() >= deadline:
                return call is not None and call.done()
        return True

    def _lead(self, session: Session, call: Optional[_Call],
              deadline: Optional[float]) -> bool:
        """Read and hand over replies until call is done (True) or the
        deadline passed (False); this thread holds the reader role."""
        conn = session.conn
        while call is None or not call.done():
            if session.lost:
                return True
            try:
                frame = conn.peek_frame()
            except BrokerProtocolError as e:
                self._lose(session, str(e))
                continue
            if frame is not None:
                self._deliver(session, frame[0])
                conn.consume(frame[1])
                continue
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            session.safe = True
            try:
                readable = conn.wait_readable(remaining)
            except OSError as e:
                self._resume_or_lose(session, f"{e.strerror or e}")
                conn = session.conn
                continue
            finally:
                session.safe = False
            if not readable:
                if remaining is not None:
                    return False
                continue
            if call is not None and call.done():
                break  # a signal handler's call read it meanwhile
            try:
                conn.fill()
            except OSError as e:
                self._resume_or_lose(session, f"{e.strerror or e}" if not session.lost else "")
                conn = session.conn
            except BaseException:
                # Interrupted while the kernel handed over bytes: whether
                # it did is unknown, and so is where the next reply starts.
                self._lose(session, "a signal handler's exception interrupted the client "
                           "while it took in a reply")
                raise
        return True

    def _deliver(self, session: Session, data: bytes) -> None:
        """Hand one reply to its call. Done again for the same reply (an
        exception before it was consumed), it changes nothing."""
        conn = session.conn
        if conn.delivered:
            return
        if len(data) < 4:
            self._lose(session, f"the broker at {session.url} sent a reply without a "
                       "request id")
            return
        request_id = _REQUEST_ID.unpack_from(data)[0] & 0x7FFFFFFF
        call = session.pending.get(request_id)
        fd = conn.unclaimed_fd()
        if fd is not None and not pb.Reply.FromString(memoryview(data)[4:]).handed_off:
            fd = None
        if call is None or call.discard:
            # Nobody takes the socket handed over with it.
            conn.delivered = 2 if fd is not None else 1
            if fd is not None:
                os.close(fd)
            return
        with session.mutex:
            if not call.done():
                call.data = data
                call.fd = fd
            if call.sleeping:
                _rouse_locked(session, call)
        conn.delivered = 2 if fd is not None else 1
        session.pending.pop(request_id, None)
        if call.waker is not None:
            call.waker()

    def await_call(self, session: Session, call: _Call, timeout: Optional[float] = None) -> bool:
        """Wait until a call sent earlier is done, at most timeout seconds
        (None: no limit); whether it is. The caller checked cannot_wait()."""
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._await(session, call, deadline)

    def pump(self, session: Session) -> None:
        """Take in and hand over the replies that have come, without
        waiting, if no other thread reads and this one can."""
        if session.lost or session.leader is not None or self.cannot_wait(session):
            return
        self._await(session, None, time.monotonic())

    # ---- calls -------------------------------------------------------------

    def _send(self, session: Session, body: bytes) -> _Call:
        """Number and send one serialized Request; the reply comes to the
        returned call."""
        if self._send_owner == self._get_ident():
            raise _errors.cannot_wait(session.url, "while this thread is sending another "
                                      "request (from a signal handler or a finalizer)")
        if self._is_finalizing():
            # Another thread may have been stopped holding the lock for ever.
            if not self._send_lock.acquire(timeout=SHUTDOWN_SEND_WAIT):
                raise _errors.cannot_wait(session.url, "during interpreter shutdown, while "
                                          "a stopped thread was sending")
        else:
            self._send_lock.acquire()
        self._send_owner = self._get_ident()
        call: Optional[_Call] = None
        try:
            if session.lost:
                if session is self._session or session.hello is None:
                    raise _errors.connection_lost(session.url, session.lost_reason)
                raise _errors.stale_socket(session.url)
            try:
                call = self._send_locked(session, body)
                while session.deferred:
                    deferred = self._send_locked(session, session.deferred.pop(0))
                    deferred.unwaited = deferred.discard = True
                return call
            except OSError as e:
                failure = e
                if self._resumable(session):
                    # The calls stay pending; the reader resumes the session and
                    # sends their frames again.
                    session.link_down = True
                    session.conn.shutdown()
                    return call if call is not None else session.pending[session.request_id]
        finally:
            self._send_owner = None
            self._send_lock.release()
        self._lose(session, f"sending failed: {failure.strerror or failure}")
        raise _errors.connection_lost(session.url, session.lost_reason)

    def _send_locked(self, session: Session, body: bytes) -> _Call:
        session.seq += 1
        seq = session.seq
        session.request_id = (session.request_id + 1) & 0x7FFFFFFF
        call = _Call(seq, session.request_id)
        session.pending[call.request_id] = call
        frame = (_REQUEST_ID.pack(call.request_id | 0x80000000), _seq_prefix(seq), body)
        if session.resume_grace:
            call.frame = frame
            if session.link_down:
                return call  # sent when the session is resumed
        try:
            session.conn.send(frame)
        except BaseException:
            if not self._resumable(session):
                session.pending.pop(call.request_id, None)
            raise
        return call

    def _wait(self, session: Session, call: _Call, expect: str) -> Any:
        """Wait for a call's reply; return its ``expect`` result member."""
        return getattr(self._wait_reply(session, call, expect), expect)

    def _wait_reply(self, session: Session, call: _Call, expect: str) -> Any:
        """Wait for a call's reply; return the whole Reply (an error reply
        raises)."""
        if not call.done():
            why = self.cannot_wait(session)
            if why is not None:
                call.discard = True
                raise _errors.cannot_wait(session.url, why)
        try:
            self._await(session, call, None)
        except BaseException:
            # Interrupted (KeyboardInterrupt): the daemon still runs the
            # operation; cancel it if it waits, and drop its reply.
            self._abandon(session, call)
            raise
        return self.reply_of(session, call, expect)

    def reply_of(self, session: Session, call: _Call, expect: str) -> Any:
        """The Reply of a call that is done (``call.done()``), without
        touching its lock; an error reply raises."""
        if call.error is not None:
            raise call.error()
        reply = pb.Reply.FromString(memoryview(call.data)[4:])  # type: ignore[index]
        if reply.HasField("error"):
            exc = _errors.from_wire(reply.error)
            if isinstance(exc, _errors.UnsupportedOperation):
                session.unsupported.add(exc.operation or expect)
            raise exc
        which = reply.WhichOneof("result")
        if which != expect or (reply.seq and reply.seq != call.seq):
            self._lose(session, f"the broker answered request {call.seq} with {which!r} "
                       f"(seq {reply.seq}) where {expect!r} was expected")
            raise BrokerProtocolError(f"the broker at {session.url} sent a reply that does "
                                      "not match its request; the connection was closed")
        return reply

    def _abandon(self, session: Session, call: _Call) -> None:
        call.discard = True
        fd, call.fd = call.fd, None
        if fd is not None:
            os.close(fd)  # a socket handed over to a call nobody finishes
        if call.done() or session.lost:
            return
        try:
            cancel = pb.Request(cancel=pb.CancelRequest(target_seq=call.seq))
            self._send(session, cancel.SerializeToString()).discard = True
        except OSError:
            pass

    def call(self, request: Any, expect: str, session: Optional[Session] = None) -> Any:
        """Send a Request and return its reply's ``expect`` member.

        ``session``: the session a socket belongs to (its calls fail once
        that session is gone); None for the live one.
        """
        if session is None:
            session = self.session()
        why = self.cannot_wait(session)
        if why is not None:
            raise _errors.cannot_wait(session.url, why)
        call = self._send(session, request.SerializeToString())
        return self._wait(session, call, expect)

    def call_reply(self, request: Any, expect: str, session: Session) -> Tuple[int, Any]:
        """As call(), but return (the request's seq, the whole Reply)."""
        why = self.cannot_wait(session)
        if why is not None:
            raise _errors.cannot_wait(session.url, why)
        call = self._send(session, request.SerializeToString())
        return call.seq, self._wait_reply(session, call, expect)

    def call_handoff(self, request: Any, expect: str,
                     session: Session) -> Tuple[int, Any, Optional[int]]:
        """As call_reply(), plus the descriptor the reply handed over (None
        when the socket stayed with the daemon); the caller owns it."""
        why = self.cannot_wait(session)
        if why is not None:
            raise _errors.cannot_wait(session.url, why)
        call = self._send(session, request.SerializeToString())
        reply = self._wait_reply(session, call, expect)
        fd, call.fd = call.fd, None
        if reply.handed_off and fd is None:
            self._lose(session, "a reply handed a socket over without its descriptor")
            raise BrokerProtocolError(f"the broker at {session.url} handed a socket over "
                                      "without its descriptor; the connection was closed")
        return call.seq, reply, fd

    def call_nowait(self, request: Any, session: Session) -> None:
        """Send a Request whose reply nobody waits for (a close). Never
        blocks for long and never raises: a thread in the middle of a send
        (a finalizer or signal handler that interrupted it) queues the
        request for the next send; during shutdown it is dropped if a
        stopped thread holds the connection (the daemon closes the session's
        sockets when the session ends)."""
        if session.lost:
            return
        body = request.SerializeToString()
        if self._send_owner == self._get_ident():
            session.deferred.append(body)
            return
        try:
            call = self._send(session, body)
        except OSError:
            return
        call.unwaited = True
        call.discard = True

    def start(self, request: Any, session: Optional[Session] = None) -> _Call:
        """Send a Request; finish it with ``finish()``. For pipelining."""
        if session is None:
            session = self.session()
        why = self.cannot_wait(session)
        if why is not None:
            raise _errors.cannot_wait(session.url, why)
        return self._send(session, request.SerializeToString())

    def start_behind(self, request: Any, session: Session) -> _Call:
        """Send a Request whose reply is collected later, maybe by another
        thread: this thread need not be able to wait (a written-behind send
        from a finalizer at shutdown)."""
        call = self._send(session, request.SerializeToString())
        call.unwaited = True
        return call

    def finish(self, session: Session, call: _Call, expect: str) -> Any:
        """Wait for a call sent with ``start()``."""
        return self._wait(session, call, expect)

    def finish_reply(self, session: Session, call: _Call, expect: str) -> Any:
        """Wait for a call sent with ``start()``; return the whole Reply."""
        return self._wait_reply(session, call, expect)

    # ---- what Hello said ---------------------------------------------------

    @property
    def constants(self) -> Constants:
        """The daemon's constants (connecting if needed)."""
        return self.session().constants

    @property
    def server_info(self) -> Any:
        """The daemon's HelloReply (version, limits, identity, constants)."""
        return self.session().hello


def _constants_cache_path(url: str) -> Optional[str]:
    """Where the constants table of the daemon at url is cached:
    $XDG_CACHE_HOME/sockbroker (default ~/.cache/sockbroker), one file per
    URL; None without a home."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    name = hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(base, "sockbroker", f"constants-{name}.json")


def _load_constants(url: str) -> Optional[Tuple[bytes, Dict[str, int]]]:
    """The cached (digest, table) for url, if a sound one is there."""
    path = _constants_cache_path(url)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        digest = bytes.fromhex(data["digest"])
        table = data["constants"]
        if len(digest) != 32 or not isinstance(table, dict) or not all(
                isinstance(k, str) and type(v) is int for k, v in table.items()):
            return None
        return digest, table
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_constants(url: str, digest: bytes, table: Dict[str, int]) -> None:
    """Cache the daemon's constants table (best effort: a cache that cannot
    be written costs the table's bytes on the next Hello, nothing else)."""
    path = _constants_cache_path(url)
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"url": url, "digest": digest.hex(), "constants": table}, f)
        os.replace(tmp, path)
    except OSError:
        pass


def handoff_default() -> bool:
    """Whether clients ask for handoff unless told: $SOCKBROKER_HANDOFF
    ("0", "no", "off" or "false" turn it off), else yes."""
    value = os.environ.get(HANDOFF_ENV, "").strip().lower()
    return value not in ("0", "no", "off", "false")


class _ResumeRefused(_errors.BrokerConnectionError):
    """The broker answered the resuming Hello with a refusal: no later
    attempt can do better."""


def _rouse_locked(session: Session, call: _Call) -> None:
    """Wake the thread waiting for call (session.mutex held): its reply is
    in, or the reader role is free for it."""
    call.sleeping = False
    session.sleepers.pop(call, None)
    if call.waker is not None:
        call.waker()
    else:
        call.lock.release()


def _resign_locked(session: Session) -> None:
    """Give the reader role back (session.mutex held), to the oldest thread
    that waits for a reply, if any."""
    session.depth -= 1
    if session.depth:
        # A signal handler's reading ends: the wait it interrupted looks
        # again whether its own reply came in meanwhile.
        session.conn.wake()
        return
    session.leader = None
    session.safe = False
    if session.lost:
        session.conn.close()
    elif session.sleepers:
        _rouse_locked(session, next(iter(session.sleepers)))


def _after_fork_in_child() -> None:
    # The child shares the parent's connection; it must neither use it nor
    # shut it down. It gets a session of its own on its next call.
    for core in list(_all_cores):
        session = core._session
        core._send_lock = threading.Lock()
        core._send_owner = None
        core._connect_lock = threading.Lock()
        core._connect_owner = None
        if session is not None:
            session.lost = True
            session.lost_reason = "the process forked; a child cannot use its parent's session"
            session.pending = {}
            session.mutex = threading.RLock()
            session.leader = None
            session.depth = 0
            session.sleepers = {}
            session.conn.detach_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
