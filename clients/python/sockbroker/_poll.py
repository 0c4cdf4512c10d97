"""Waiting for readiness of brokered sockets and local file descriptors.

Brokered sockets have no file descriptor here: the daemon's Poll operation
waits for them (one request per broker session, all its handles at once).
Local descriptors (pipes, terminals, real sockets) are waited for with the
kernel's poll(). A wait on both at once sends the Poll requests, waits on
the local descriptors, the broker connections whose replies no other thread
is reading (this thread reads them meanwhile) and a wake-up pipe that the
thread reading the others' replies writes to when a Poll reply is in, then
cancels the Poll requests still waiting (Cancel names them by seq).
"""

from __future__ import annotations

import math
import os
import select as _stdselect
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from . import _errors
from ._core import FOLLOWER_RECHECK, Core, Session, _Call, _resign_locked
from ._pb import pb
from ._socket import is_reserved_number, live_socket, socket

__all__ = ["READABLE", "WRITABLE", "ERROR", "HANGUP", "brokered", "wait", "Waker"]

# PollEvents of the wire (independent of the host's POLL* values).
READABLE = 1
WRITABLE = 2
ERROR = 4
HANGUP = 8

# Captured at import: install() replaces select.poll.
_real_poll = _stdselect.poll
_POLLIN = _stdselect.POLLIN


def brokered(obj: Any) -> Optional[socket]:
    """The brokered socket behind obj, or None for anything else.

    Recognised: a sockbroker socket, its makefile() objects (at any layer),
    and objects holding one as ``socket`` or ``sock`` (socketserver's
    servers, http.client's connections).
    """
    if type(obj) is int:
        return live_socket(obj)  # a brokered socket's fileno()
    for _ in range(6):
        if isinstance(obj, socket):
            # A socket handed over is the kernel's: waited for by its fd.
            return obj if obj._native is None else None
        for attr in ("_sock", "raw", "buffer", "socket", "sock"):
            inner = getattr(obj, attr, None)
            if inner is not None and not callable(inner):
                obj = inner
                break
        else:
            return None
    return obj if isinstance(obj, socket) and obj._native is None else None


def local_fd(fd: int) -> int:
    """Check that an int given as a local file descriptor is not the number
    of a brokered socket nothing holds (after detach()), which stands for a
    socket in the daemon, not for a file here."""
    if is_reserved_number(fd):
        raise ValueError(
            f"{fd} is the number of a brokered socket that no socket object holds (after "
            "detach(), dup() or recv_fds()): take it up with socket(fileno=...) to wait "
            "for it")
    return fd


class Waker:
    """A pipe that the thread reading replies writes to when a Poll reply is
    in (or the reader role is free)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def wake(self) -> None:
        with self._lock:
            if self._write_fd >= 0:
                try:
                    os.write(self._write_fd, b"x")
                except OSError:
                    pass

    def drain(self) -> None:
        try:
            while os.read(self.read_fd, 512):
                pass
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            if self._write_fd >= 0:
                os.close(self._write_fd)
                os.close(self.read_fd)
                self._write_fd = self.read_fd = -1


def _local_poll(items: List[Tuple[int, int]], timeout: Optional[float]) -> Dict[int, int]:
    """poll() on local descriptors; timeout in seconds (None: forever)."""
    poller = _real_poll()
    for fd, mask in items:
        poller.register(fd, mask)
    if timeout is None:
        ms = None
    else:
        ms = max(0, math.ceil(timeout * 1000))
    ready: Dict[int, int] = {}
    for fd, revents in poller.poll(ms):
        ready[fd] = ready.get(fd, 0) | revents
    return ready


def _poll_request(items: Dict[int, int], timeout: Optional[float]) -> Any:
    request = pb.PollRequest()
    for handle, events in items.items():
        request.items.add(handle=handle, events=events)
    if timeout is not None:
        request.timeout = max(0.0, timeout)
    return pb.Request(poll=request)


def wait(broker: List[Tuple[socket, int]], local: List[Tuple[int, int]],
         timeout: Optional[float], waker: Optional[Waker] = None
         ) -> Tuple[Dict[socket, int], Dict[int, int]]:
    """Wait until a brokered socket or a local fd is ready, or timeout.

    ``broker``: (socket, READABLE|WRITABLE bits); ``local``: (fd, POLL*
    mask). Returns ({socket: ready bits}, {fd: revents}). Closed sockets
    must not be passed.

    A socket with bytes read ahead (or their EOF or error) is readable at
    once; its outstanding read-ahead requests are cancelled first, so that
    the daemon sees the kernel's own readiness.
    """
    buffered: Dict[socket, int] = {}
    for sock, events in broker:
        if events & READABLE and sock._ra is not None and sock._ra_settle() is not None:
            buffered[sock] = READABLE
    if not buffered:
        return _wait(broker, local, timeout, waker)
    ready, local_ready = _wait(broker, local, 0.0, waker)
    for sock, bits in buffered.items():
        ready[sock] = ready.get(sock, 0) | bits
    return ready, local_ready


def _wait(broker: List[Tuple[socket, int]], local: List[Tuple[int, int]],
          timeout: Optional[float], waker: Optional[Waker] = None
          ) -> Tuple[Dict[socket, int], Dict[int, int]]:
    groups: Dict[Any, Tuple[Any, Any, Dict[int, int], Dict[int, List[socket]]]] = {}
    for sock, events in broker:
        session = sock._session
        if session.lost:
            raise _errors.stale_socket(session.url)
        group = groups.get(id(session))
        if group is None:
            group = groups[id(session)] = (sock._core, session, {}, {})
        handle = sock._handle
        group[2][handle] = group[2].get(handle, 0) | events | ERROR | HANGUP
        group[3].setdefault(handle, []).append(sock)
    if not groups:
        return {}, _local_poll(local, timeout)

    def collect(group: Any, reply: Any, into: Dict[socket, int]) -> None:
        for item in reply.ready:
            for sock in group[3].get(item.handle, ()):
                into[sock] = into.get(sock, 0) | item.events

    ready: Dict[socket, int] = {}
    if len(groups) == 1 and not local:
        group = next(iter(groups.values()))
        reply = group[0].call(_poll_request(group[2], timeout), "poll", group[1])
        collect(group, reply, ready)
        return ready, {}

    own_waker = waker is None
    if waker is None:
        waker = Waker()
    try:
        calls = []
        for group in groups.values():
            call = group[0].start(_poll_request(group[2], timeout), group[1])
            call.waker = waker.wake
            calls.append((group, call))
        local_ready = _wait_any([(group[0], group[1], call) for group, call in calls], local,
                                timeout, waker)
        for group, call in calls:
            if not call.done():
                try:
                    group[0].start(pb.Request(cancel=pb.CancelRequest(target_seq=call.seq)),
                                   group[1]).discard = True
                except OSError:
                    pass
        failure: Optional[BaseException] = None
        for group, call in calls:
            call.waker = None
            try:
                collect(group, group[0].finish(group[1], call, "poll"), ready)
            except OSError as e:
                if getattr(e, "broker_kind", None) != "cancelled" and failure is None:
                    failure = e
        if failure is not None:
            raise failure
        return ready, local_ready
    finally:
        if own_waker:
            waker.close()


def _wait_any(calls: List[Tuple[Core, Session, _Call]], local: List[Tuple[int, int]],
              timeout: Optional[float], waker: Waker) -> Dict[int, int]:
    """Wait until one of calls is done, a local descriptor is ready, or
    timeout seconds (None: no limit) passed; return the ready local
    descriptors. Of each session whose reader role is free, this thread
    takes it for the wait and reads that connection too; the calls of the
    others wake it through waker."""
    deadline = None if timeout is None else time.monotonic() + timeout
    me = threading.get_ident()
    while True:
        led: List[Tuple[Core, Session]] = []
        ready: Dict[int, int] = {}
        try:
            for core, session, call in calls:
                with session.mutex:
                    if call.done() or session.lost:
                        continue
                    if session.leader is None or session.leader == me:
                        session.leader = me
                        session.depth += 1
                        led.append((core, session))
                    else:
                        call.sleeping = True
                        session.sleepers[call] = None
            answered = any(call.done() for _, _, call in calls)
            if answered or (deadline is not None and time.monotonic() >= deadline):
                wait: Optional[float] = 0.0
            elif deadline is not None:
                wait = deadline - time.monotonic()
            else:
                wait = None
            if any(call.sleeping for _, _, call in calls) and (wait is None
                                                               or wait > FOLLOWER_RECHECK):
                wait = FOLLOWER_RECHECK
            connections = {session.conn.fileno(): (core, session) for core, session in led}
            items = local + [(waker.read_fd, _POLLIN)] + [(fd, _POLLIN) for fd in connections]
            for _, session in led:
                session.safe = True
            try:
                ready = _local_poll(items, wait)
            finally:
                for _, session in led:
                    session.safe = False
            for fd, (core, session) in connections.items():
                if ready.pop(fd, None) is not None:
                    core._await(session, None, time.monotonic())
        finally:
            for core, session, call in calls:
                with session.mutex:
                    if (core, session) in led:
                        _resign_locked(session)
                    elif call.sleeping:
                        call.sleeping = False
                        session.sleepers.pop(call, None)
        ready.pop(waker.read_fd, None)
        waker.drain()
        if (ready or any(call.done() for _, _, call in calls)
                or (deadline is not None and time.monotonic() >= deadline)):
            return ready
