"""Exceptions: the daemon's errors as the socket module's exceptions.

The wire carries an error kind, the errno *name* and number of the daemon's
host, and a message. Numbers differ between platforms, so the exception is
chosen by name: the errno of this platform with that name builds an OSError,
which Python turns into the matching subclass (ConnectionRefusedError,
BlockingIOError, ...). Timeouts raise TimeoutError("timed out"), name service
failures the standard module's own gaierror and herror classes, so that code
catching ``socket.gaierror`` catches ours too.
"""

from __future__ import annotations

import errno as _errno
import os
import socket as _stdsocket
from typing import Any, Optional

__all__ = [
    "BrokerConnectionError",
    "BrokerProtocolError",
    "UnsupportedOperation",
    "error",
    "gaierror",
    "herror",
    "timeout",
]

error = OSError
timeout = TimeoutError
gaierror = _stdsocket.gaierror
herror = _stdsocket.herror


class BrokerConnectionError(ConnectionError):
    """The connection to the broker failed or was lost.

    Every socket of a broker session lives only as long as its connection:
    once this is raised for a lost connection, the sockets of that session
    are gone (the daemon closed them). The next call opens a new session.
    """


class BrokerProtocolError(BrokerConnectionError):
    """The broker sent something this client cannot understand.

    The connection is closed when this happens, as for a lost connection.
    """


class UnsupportedOperation(OSError):
    """The daemon does not implement this operation (yet).

    ``operation`` names it; errno is ENOSYS.
    """

    operation: str = ""


# Kinds of the wire's ErrorKind enum, by number (proto/sockbroker.proto).
KIND_OS = 1
KIND_TIMEOUT = 2
KIND_GAI = 3
KIND_HERROR = 4
KIND_DENIED = 5
KIND_BAD_REQUEST = 6
KIND_BAD_HANDLE = 7
KIND_UNSUPPORTED = 8
KIND_QUOTA = 9
KIND_CANCELLED = 10

_KIND_NAMES = {
    KIND_OS: "os",
    KIND_TIMEOUT: "timeout",
    KIND_GAI: "gai",
    KIND_HERROR: "herror",
    KIND_DENIED: "denied",
    KIND_BAD_REQUEST: "bad_request",
    KIND_BAD_HANDLE: "bad_handle",
    KIND_UNSUPPORTED: "unsupported",
    KIND_QUOTA: "quota",
    KIND_CANCELLED: "cancelled",
}

# The errno a kind stands for when the daemon named none.
_KIND_DEFAULT_ERRNO = {
    KIND_TIMEOUT: "ETIMEDOUT",
    KIND_DENIED: "EACCES",
    KIND_BAD_REQUEST: "EINVAL",
    KIND_BAD_HANDLE: "EBADF",
    KIND_UNSUPPORTED: "ENOSYS",
    KIND_QUOTA: "ENOBUFS",
    KIND_CANCELLED: "ECANCELED",
}


def local_errno(name: Optional[str], number: Optional[int] = None) -> Optional[int]:
    """This platform's errno for a daemon errno name.

    Falls back to the daemon's number when this platform has no such name
    (the exception is then a plain OSError).
    """
    if name:
        value = getattr(_errno, name, None)
        if isinstance(value, int):
            return value
    return number


def os_error(errno_name: str, message: Optional[str] = None) -> OSError:
    """An OSError subclass for an errno name of this platform."""
    number = getattr(_errno, errno_name)
    return OSError(number, message or os.strerror(number))


def from_wire(err: Any) -> OSError:
    """Build the exception for a wire ``Error`` message.

    The result carries the wire's details as attributes: ``broker_kind``
    ("os", "timeout", ...), ``errno_name``, and for DENIED the policy
    ``rule``.
    """
    kind = err.kind if err.HasField("kind") else KIND_OS
    message = err.message
    name = err.errno_name or _KIND_DEFAULT_ERRNO.get(kind, "")
    exc: OSError
    if kind == KIND_TIMEOUT:
        exc = TimeoutError(message or "timed out")
    elif kind == KIND_GAI:
        exc = gaierror(err.gai_code, message)
        exc.gai_name = err.gai_name  # type: ignore[attr-defined]
    elif kind == KIND_HERROR:
        exc = herror(err.herror_code, message)
    elif kind == KIND_UNSUPPORTED:
        number = local_errno("ENOSYS") or 0
        exc = UnsupportedOperation(
            number, message or f"the broker does not support {err.operation}")
        exc.operation = err.operation
    else:
        number = local_errno(name, err.errno_number if err.HasField("errno_number") else None)
        if not message:
            message = os.strerror(number) if number else name
        if kind == KIND_DENIED and err.rule:
            message = f"{message} (policy rule {err.rule!r})"
        if number is None:
            exc = OSError(message)
        else:
            exc = OSError(number, message)
    exc.broker_kind = _KIND_NAMES.get(kind, "os")  # type: ignore[attr-defined]
    exc.errno_name = name  # type: ignore[attr-defined]
    if kind == KIND_DENIED:
        exc.rule = err.rule  # type: ignore[attr-defined]
    return exc


def connection_lost(url: str, why: str = "") -> BrokerConnectionError:
    """The error of every call that was waiting when a connection dropped."""
    detail = f" ({why})" if why else ""
    return BrokerConnectionError(
        _errno.ECONNRESET,
        f"the connection to the broker at {url} was lost{detail}; the broker "
        "session and all its sockets are gone (a new call opens a new session)")


def cannot_wait(url: str, why: str) -> BrokerConnectionError:
    """The error of a call made where no reply can reach it."""
    return BrokerConnectionError(
        _errno.EDEADLK,
        f"a brokered call cannot wait for its reply {why}: nothing would answer it, so "
        f"it was not sent to the broker at {url}; close sockets before the program "
        "ends (or in an atexit handler) and keep socket calls out of signal handlers")


def stale_socket(url: str) -> BrokerConnectionError:
    """The error of a call on a socket of a broker session that ended."""
    return BrokerConnectionError(
        _errno.ECONNRESET,
        f"this socket belonged to a broker session (at {url}) whose connection "
        "was lost; the broker closed it, create a new socket")
