"""The module's default client: created on first use, for $SOCKBROKER_URL."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, List, Optional

if TYPE_CHECKING:
    from ._api import Client

__all__ = ["get", "is_default", "set_url", "on_new_client"]

_lock = threading.Lock()
_client: "Optional[Client]" = None
_url: Optional[str] = None
_new_client_hooks: List[Callable[["Client"], None]] = []


def get() -> "Client":
    """The default client (not yet connected: it connects on its first call)."""
    client = _client
    if client is not None:
        return client
    return _create()


def is_default(client: "Client") -> bool:
    """Whether client is the module's default client now."""
    return client is _client


def _create() -> "Client":
    global _client
    from ._api import Client
    with _lock:
        if _client is None:
            client = Client(_url)
            for hook in _new_client_hooks:
                hook(client)
            _client = client
        return _client


def set_url(url: Optional[str]) -> "Client":
    """Make a new default client for url (None: $SOCKBROKER_URL or the
    daemon's default). Sockets of the previous one keep working."""
    global _client, _url
    with _lock:
        _url = url
        _client = None
    return _create()


def on_new_client(hook: Callable[["Client"], None]) -> None:
    """Call hook(client) for each default client created from now on."""
    _new_client_hooks.append(hook)
    if _client is not None:
        hook(_client)
