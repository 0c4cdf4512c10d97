"""select() and poll() for brokered sockets (and local descriptors).

Like the standard ``select`` module's functions, over the daemon's Poll
operation for brokered sockets; local file descriptors (ints, or objects
with a real fileno()) are waited for with the kernel, in the same call.

Pass brokered sockets as objects, never as their fileno(): a handle id is
not a file descriptor of this process, and an int is always taken as one.
select()'s xlist (exceptional conditions, i.e. out-of-band data) is not
reported for brokered sockets: the wire's Poll has no such event.

The POLL* constants are the standard module's, so local descriptors get
exactly what the kernel's poll() says. For brokered sockets the daemon's Poll
knows readable, writable, error and hang-up: POLLIN/POLLRDNORM,
POLLOUT/POLLWRNORM, POLLERR and POLLHUP map to those; POLLRDHUP is reported
together with POLLHUP (a peer's half-close alone, shutdown(SHUT_WR) or a TCP
FIN, shows as POLLIN, with recv() returning b""); POLLPRI, POLLRDBAND,
POLLWRBAND and POLLMSG are accepted in a mask but never reported for brokered
sockets. PIPE_BUF is this system's, about its local pipes.
"""

from __future__ import annotations

import select as _stdselect
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._poll import ERROR, HANGUP, READABLE, WRITABLE, brokered, local_fd, wait

__all__ = ["select", "poll", "error", "PIPE_BUF", "POLLIN", "POLLPRI", "POLLOUT", "POLLERR",
           "POLLHUP", "POLLNVAL", "POLLRDNORM", "POLLRDBAND", "POLLWRNORM", "POLLWRBAND",
           "POLLMSG", "POLLRDHUP"]

error = OSError
POLLIN = _stdselect.POLLIN
POLLPRI = _stdselect.POLLPRI
POLLOUT = _stdselect.POLLOUT
POLLERR = _stdselect.POLLERR
POLLHUP = _stdselect.POLLHUP
POLLNVAL = _stdselect.POLLNVAL
# Where the standard module lacks one: the nearest bit, or Linux's value.
POLLRDNORM = getattr(_stdselect, "POLLRDNORM", POLLIN)
POLLWRNORM = getattr(_stdselect, "POLLWRNORM", POLLOUT)
POLLRDBAND = getattr(_stdselect, "POLLRDBAND", 0x080)
POLLWRBAND = getattr(_stdselect, "POLLWRBAND", 0x200)
POLLMSG = getattr(_stdselect, "POLLMSG", 0x400)
POLLRDHUP = getattr(_stdselect, "POLLRDHUP", 0x2000)
PIPE_BUF = getattr(_stdselect, "PIPE_BUF", 512)  # 512: POSIX's least

_select_real = _stdselect.select


def _fd_of(obj: Any) -> int:
    if isinstance(obj, int):
        fd = obj
    else:
        try:
            fd = obj.fileno()
        except AttributeError:
            raise TypeError("argument must be an int, or have a fileno() method.") from None
        if not isinstance(fd, int):
            raise TypeError("fileno() returned a non-integer")
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return local_fd(fd)


def _to_poll_bits(mask: int) -> int:
    bits = 0
    if mask & (POLLIN | POLLPRI | POLLRDNORM):
        bits |= READABLE
    if mask & (POLLOUT | POLLWRNORM):
        bits |= WRITABLE
    return bits


def _from_poll_bits(bits: int, mask: int) -> int:
    revents = 0
    if bits & READABLE:
        revents |= mask & (POLLIN | POLLRDNORM) or POLLIN
    if bits & WRITABLE:
        revents |= mask & (POLLOUT | POLLWRNORM) or POLLOUT
    if bits & ERROR:
        revents |= POLLERR
    if bits & HANGUP:
        # After a hang-up the peer sends nothing more: what POLLRDHUP says.
        revents |= POLLHUP | (mask & POLLRDHUP)
    return revents


def select(rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any],
           timeout: Optional[float] = None) -> Tuple[List[Any], List[Any], List[Any]]:
    """Wait until some of the objects are ready: (readable, writable,
    exceptional), as the standard select.select()."""
    if timeout is not None:
        timeout = float(timeout)
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    rlist, wlist, xlist = list(rlist), list(wlist), list(xlist)
    broker: List[Tuple[Any, int]] = []
    local: List[Tuple[int, int]] = []
    for objects, bits, mask in ((rlist, READABLE, POLLIN), (wlist, WRITABLE, POLLOUT),
                                (xlist, 0, POLLPRI)):
        for obj in objects:
            sock = brokered(obj)
            if sock is not None:
                if sock.fileno() < 0:
                    raise ValueError("file descriptor cannot be a negative integer (-1)")
                if bits:
                    broker.append((sock, bits))
            else:
                local.append((_fd_of(obj), mask))
    if not broker:
        return _select_real(rlist, wlist, xlist, timeout)  # type: ignore[no-any-return]
    ready_b, ready_l = wait(broker, local, timeout)

    def pick(objects: List[Any], bits: int, mask: int) -> List[Any]:
        out = []
        for obj in objects:
            sock = brokered(obj)
            if sock is not None:
                if ready_b.get(sock, 0) & bits:
                    out.append(obj)
            elif ready_l.get(_fd_of(obj), 0) & mask:
                out.append(obj)
        return out

    return (pick(rlist, READABLE | HANGUP | ERROR, POLLIN | POLLHUP | POLLERR),
            pick(wlist, WRITABLE | ERROR, POLLOUT | POLLERR),
            pick(xlist, 0, POLLPRI))


class poll:  # noqa: N801 (the standard module's name)
    """A poll object over brokered sockets and local descriptors.

    register() brokered sockets as objects; poll() reports them by their
    fileno() (the handle id) and local descriptors by their fd.
    """

    def __init__(self) -> None:
        self._entries: Dict[Any, Tuple[Any, int]] = {}

    @staticmethod
    def _key(obj: Any) -> Tuple[Any, Any]:
        sock = brokered(obj)
        if sock is not None:
            if sock.fileno() < 0:
                raise ValueError("file descriptor cannot be a negative integer (-1)")
            return ("broker", sock)
        return ("local", _fd_of(obj))

    def register(self, fd: Any, eventmask: int = POLLIN | POLLPRI | POLLOUT) -> None:
        """Register an object (or local fd) for the events in eventmask."""
        key = self._key(fd)
        self._entries[key] = (key[1], eventmask & 0xFFFF)

    def modify(self, fd: Any, eventmask: int) -> None:
        """Change the events of a registered object."""
        key = self._key(fd)
        if key not in self._entries:
            raise FileNotFoundError(2, "No such file or directory")
        self._entries[key] = (key[1], eventmask & 0xFFFF)

    def unregister(self, fd: Any) -> None:
        """Stop watching an object."""
        del self._entries[self._key(fd)]

    def poll(self, timeout: Optional[float] = None) -> List[Tuple[int, int]]:
        """Wait (timeout in milliseconds; None or negative: forever) and
        return [(fd or handle id, revents), ...]."""
        seconds = None if timeout is None or timeout < 0 else timeout / 1000.0
        broker = []
        local = []
        for (kind, target), (_, mask) in self._entries.items():
            if kind == "broker":
                if target.fileno() < 0:
                    continue
                broker.append((target, _to_poll_bits(mask)))
            else:
                local.append((target, mask))
        ready_b, ready_l = wait(broker, local, seconds)
        result = []
        for (kind, target), (_, mask) in self._entries.items():
            if kind == "broker":
                bits = ready_b.get(target, 0)
                revents = _from_poll_bits(bits, mask) & (mask | POLLERR | POLLHUP)
                if revents:
                    result.append((target.fileno(), revents))
            elif ready_l.get(target):
                result.append((target, ready_l[target]))
        return result
