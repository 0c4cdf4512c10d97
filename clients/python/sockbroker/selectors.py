"""A ``selectors`` selector for brokered sockets (and local descriptors).

``BrokerSelector`` has the interface of the standard module's selectors:
register file objects, then select() for the ready ones. Brokered sockets
(and their makefile() objects, and objects holding one as ``socket``, like
socketserver's servers) are waited for with the daemon's Poll operation,
anything else with the kernel, both in one select() call. Register brokered
sockets as objects: a bare int is always taken as a local file descriptor.

``DefaultSelector``, ``SelectSelector``, ``PollSelector`` and
``EpollSelector`` are all ``BrokerSelector``, as they are in the standard
module after ``install()``, so that code naming one of them works. There is
no epoll descriptor behind any of them (no ``fileno()``).
"""

from __future__ import annotations

import select as _stdselect
import selectors as _stdselectors
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ._poll import ERROR, HANGUP, READABLE, WRITABLE, Waker, brokered, local_fd, wait

__all__ = ["BaseSelector", "BrokerSelector", "DefaultSelector", "EVENT_READ", "EVENT_WRITE",
           "EpollSelector", "PollSelector", "SelectSelector", "SelectorKey"]

EVENT_READ = _stdselectors.EVENT_READ
EVENT_WRITE = _stdselectors.EVENT_WRITE
SelectorKey = _stdselectors.SelectorKey
BaseSelector = _stdselectors.BaseSelector

_POLLIN = _stdselect.POLLIN
_POLLOUT = _stdselect.POLLOUT
_POLLERR = _stdselect.POLLERR
_POLLHUP = _stdselect.POLLHUP


class _KeyMapping(Mapping):
    def __init__(self, selector: "BrokerSelector") -> None:
        self._selector = selector

    def __len__(self) -> int:
        return len(self._selector._keys)

    def __getitem__(self, fileobj: Any) -> SelectorKey:
        try:
            return self._selector._keys[self._selector._ident(fileobj)]
        except (KeyError, ValueError, TypeError):
            raise KeyError(f"{fileobj!r} is not registered") from None

    def __iter__(self) -> Iterator[Any]:
        return (key.fileobj for key in list(self._selector._keys.values()))


class BrokerSelector(_stdselectors.BaseSelector):
    """A selector over brokered sockets and local file descriptors."""

    def __init__(self) -> None:
        self._keys: Dict[Tuple[str, Any], SelectorKey] = {}
        self._map = _KeyMapping(self)
        self._waker: Optional[Waker] = None

    @staticmethod
    def _ident(fileobj: Any) -> Tuple[str, Any]:
        sock = brokered(fileobj)
        if sock is not None:
            return ("broker", sock)
        return ("local", local_fd(_stdselectors._fileobj_to_fd(fileobj)))  # type: ignore

    def register(self, fileobj: Any, events: int, data: Any = None) -> SelectorKey:
        if not events or events & ~(EVENT_READ | EVENT_WRITE):
            raise ValueError(f"Invalid events: {events!r}")
        ident = self._ident(fileobj)
        if ident[0] == "broker":
            fd = ident[1].fileno()
            if fd < 0:
                raise ValueError(f"Invalid file object: {fileobj!r}")
        else:
            fd = ident[1]
        if ident in self._keys:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        key = SelectorKey(fileobj, fd, events, data)
        self._keys[ident] = key
        return key

    def unregister(self, fileobj: Any) -> SelectorKey:
        try:
            return self._keys.pop(self._ident(fileobj))
        except (KeyError, ValueError):
            raise KeyError(f"{fileobj!r} is not registered") from None

    def modify(self, fileobj: Any, events: int, data: Any = None) -> SelectorKey:
        ident = self._ident(fileobj)
        key = self._keys.get(ident)
        if key is None:
            raise KeyError(f"{fileobj!r} is not registered")
        if events != key.events:
            self.unregister(fileobj)
            return self.register(fileobj, events, data)
        if data != key.data:
            key = key._replace(data=data)
            self._keys[ident] = key
        return key

    def select(self, timeout: Optional[float] = None) -> List[Tuple[SelectorKey, int]]:
        if timeout is not None:
            timeout = max(0.0, timeout)
        broker = []
        local = []
        for (kind, target), key in self._keys.items():
            if kind == "broker":
                if target.fileno() < 0:
                    continue  # closed: as epoll forgets a closed descriptor
                bits = (READABLE if key.events & EVENT_READ else 0) | \
                       (WRITABLE if key.events & EVENT_WRITE else 0)
                broker.append((target, bits))
            else:
                mask = (_POLLIN if key.events & EVENT_READ else 0) | \
                       (_POLLOUT if key.events & EVENT_WRITE else 0)
                local.append((target, mask))
        if broker and local and self._waker is None:
            self._waker = Waker()
        ready_b, ready_l = wait(broker, local, timeout, self._waker)
        result = []
        for (kind, target), key in list(self._keys.items()):
            events = 0
            if kind == "broker":
                bits = ready_b.get(target, 0)
                if bits & (READABLE | ERROR | HANGUP):
                    events |= EVENT_READ
                if bits & (WRITABLE | ERROR | HANGUP):
                    events |= EVENT_WRITE
            else:
                revents = ready_l.get(target, 0)
                if revents & (_POLLIN | _POLLERR | _POLLHUP):
                    events |= EVENT_READ
                if revents & (_POLLOUT | _POLLERR | _POLLHUP):
                    events |= EVENT_WRITE
            events &= key.events
            if events:
                result.append((key, events))
        return result

    def close(self) -> None:
        self._keys.clear()
        if self._waker is not None:
            self._waker.close()
            self._waker = None

    def get_map(self) -> Mapping:
        return self._map


DefaultSelector = BrokerSelector
SelectSelector = BrokerSelector
PollSelector = BrokerSelector
EpollSelector = BrokerSelector
