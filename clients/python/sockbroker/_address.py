"""Socket addresses: Python tuples and strings <-> the wire's Address message.

The formats are the reference's, chosen by the socket's family (the daemon's
AF_* numbers): (host, port) for AF_INET, (host, port, flowinfo, scope_id) for
AF_INET6, a path (str or bytes, a leading NUL for Linux's abstract namespace)
for AF_UNIX, and the tuples of AF_NETLINK, AF_PACKET, AF_ALG, AF_VSOCK,
AF_CAN, AF_TIPC. Any other family takes and gives (family, bytes): the raw
sockaddr bytes after sa_family.

Host names are not resolved here: the daemon resolves them, as the reference
does. Arguments are checked here with the reference's exceptions, so that a
request the daemon would refuse is never sent.
"""

from __future__ import annotations

import operator
import os
from typing import Any, Callable, Optional

from ._pb import pb

__all__ = ["decode", "encode", "encode_host"]


def encode_host(host: Any, caller: str) -> str:
    """A host as the wire takes it: str, IDNA-encoded when not ASCII."""
    if isinstance(host, str):
        if host.isascii():
            return host
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise ValueError(f"{caller}(): cannot encode host name {host!r}: {e}") from None
    if isinstance(host, (bytes, bytearray)):
        try:
            return bytes(host).decode("ascii")
        except UnicodeDecodeError:
            raise TypeError(f"{caller}(): host name must be ASCII bytes") from None
    raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")


def _port(value: Any, caller: str) -> int:
    if not isinstance(value, int):
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an "
                            "integer") from None
    if not 0 <= value <= 65535:
        raise OverflowError(f"{caller}(): port must be 0-65535.")
    return int(value)


def _uint(value: Any, bits: int, what: str, caller: str) -> int:
    if not isinstance(value, int):
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{caller}(): {what} must be an integer, not "
                            f"{type(value).__name__}") from None
    if not 0 <= value < (1 << bits):
        raise OverflowError(f"{caller}(): {what} must be 0-{(1 << bits) - 1}.")
    return int(value)


def _tuple(address: Any, family_name: str, caller: str) -> tuple:
    if not isinstance(address, tuple):
        raise TypeError(f"{caller}(): {family_name} address must be tuple, not "
                        f"{type(address).__name__}")
    return address


def _unix_name(address: Any, caller: str) -> bytes:
    if isinstance(address, str):
        name = os.fsencode(address)
    else:
        try:
            name = bytes(memoryview(address))
        except TypeError:
            raise TypeError(f"{caller}(): AF_UNIX address must be str or bytes-like, not "
                            f"{type(address).__name__}") from None
    if len(name) > 108:  # sizeof(sun_path), as the reference checks
        raise OSError("AF_UNIX path too long")
    return name


def encode(constant: Callable[[str], Optional[int]], family: int, address: Any,
           proto: int = 0, caller: str = "connect") -> Any:
    """Build an Address message for a socket of ``family`` (daemon numbers).

    ``constant`` maps a constant name to the daemon's value. Raises
    TypeError, ValueError or OverflowError as the reference does.
    """
    msg = pb.Address()
    if family == constant("AF_INET"):
        address = _tuple(address, "AF_INET", caller)
        if len(address) != 2:
            raise TypeError("AF_INET address must be a pair (host, port)")
        msg.af_inet.host = encode_host(address[0], caller)
        msg.af_inet.port = _port(address[1], caller)
    elif family == constant("AF_INET6"):
        address = _tuple(address, "AF_INET6", caller)
        if not 2 <= len(address) <= 4:
            raise TypeError("AF_INET6 address must be a tuple (host, port[, flowinfo[, "
                            "scopeid]])")
        m = msg.af_inet6
        m.host = encode_host(address[0], caller)
        m.port = _port(address[1], caller)
        if len(address) > 2:
            flowinfo = _uint(address[2], 32, "flowinfo", caller)
            if flowinfo > 0xFFFFF:
                raise OverflowError(f"{caller}(): flowinfo must be 0-1048575.")
            m.flowinfo = flowinfo
        if len(address) > 3:
            m.scope_id = _uint(address[3], 32, "scope_id", caller)
    elif family == constant("AF_UNIX"):
        name = _unix_name(address, caller)
        if name.startswith(b"\0"):
            msg.af_unix.abstract = name[1:]
        else:
            msg.af_unix.path = name
    elif family == constant("AF_NETLINK"):
        address = _tuple(address, "AF_NETLINK", caller)
        if len(address) != 2:
            raise TypeError("AF_NETLINK address must be a pair (pid, groups)")
        msg.af_netlink.pid = _uint(address[0], 32, "pid", caller)
        msg.af_netlink.groups = _uint(address[1], 32, "groups", caller)
    elif family == constant("AF_PACKET"):
        address = _tuple(address, "AF_PACKET", caller)
        if not 2 <= len(address) <= 5:
            raise TypeError("AF_PACKET address must be a tuple of two to five elements")
        m = msg.af_packet
        m.ifname = address[0]
        m.proto = _uint(address[1], 16, "proto", caller)
        if len(address) > 2:
            m.pkttype = _uint(address[2], 32, "pkttype", caller)
        if len(address) > 3:
            m.hatype = _uint(address[3], 32, "hatype", caller)
        if len(address) > 4:
            hwaddr = bytes(address[4])
            if len(hwaddr) > 8:
                raise ValueError("Hardware address must be 8 bytes or less")
            m.addr = hwaddr
    elif family == constant("AF_ALG"):
        address = _tuple(address, "AF_ALG", caller)
        if not 2 <= len(address) <= 4:
            raise TypeError("AF_ALG address must be a tuple (type, name[, feat[, mask]])")
        m = msg.af_alg
        m.type = address[0]
        m.name = address[1]
        if len(address) > 2:
            m.feat = _uint(address[2], 32, "feat", caller)
        if len(address) > 3:
            m.mask = _uint(address[3], 32, "mask", caller)
    elif family == constant("AF_VSOCK"):
        address = _tuple(address, "AF_VSOCK", caller)
        if len(address) != 2:
            raise TypeError("AF_VSOCK address must be a pair (cid, port)")
        msg.af_vsock.cid = _uint(address[0], 32, "cid", caller)
        msg.af_vsock.port = _uint(address[1], 32, "port", caller)
    elif family == constant("AF_CAN"):
        address = _tuple(address, "AF_CAN", caller)
        m = msg.af_can
        if not address:
            raise TypeError("AF_CAN address must be a tuple (interface, ...)")
        m.ifname = address[0]
        if proto == constant("CAN_ISOTP"):
            if len(address) != 3:
                raise TypeError("AF_CAN address must be a tuple (interface, rx_addr, "
                                "tx_addr)")
            m.rx_addr = _uint(address[1], 32, "rx_addr", caller)
            m.tx_addr = _uint(address[2], 32, "tx_addr", caller)
        elif proto == constant("CAN_J1939"):
            if len(address) != 4:
                raise TypeError("AF_CAN address must be a tuple (interface, name, pgn, "
                                "addr)")
            m.j1939_name = _uint(address[1], 64, "name", caller)
            m.j1939_pgn = _uint(address[2], 32, "pgn", caller)
            m.j1939_addr = _uint(address[3], 8, "addr", caller)
        elif len(address) != 1:
            raise TypeError("AF_CAN address must be a tuple (interface,)")
    elif family == constant("AF_TIPC"):
        address = _tuple(address, "AF_TIPC", caller)
        if not 4 <= len(address) <= 5:
            raise TypeError("AF_TIPC address must be a tuple (addr_type, v1, v2, v3[, "
                            "scope])")
        m = msg.af_tipc
        m.addr_type = _uint(address[0], 32, "addr_type", caller)
        m.v1 = _uint(address[1], 32, "v1", caller)
        m.v2 = _uint(address[2], 32, "v2", caller)
        m.v3 = _uint(address[3], 32, "v3", caller)
        if len(address) > 4:
            m.scope = _uint(address[4], 32, "scope", caller)
    else:
        # Any other family: the sockaddr bytes after sa_family, or
        # (family, bytes) as this module's replies give them.
        data = address[1] if isinstance(address, tuple) and len(address) == 2 else address
        try:
            raw = bytes(memoryview(data))
        except TypeError:
            raise OSError(f"{caller}(): bad family: sockbroker passes addresses of family "
                          f"{family} as raw sockaddr bytes (give bytes, or (family, "
                          "bytes))") from None
        msg.raw.family = family
        msg.raw.data = raw
    return msg


def decode(msg: Any, proto: int = 0, constant: Optional[Callable[[str], Optional[int]]] = None
           ) -> Any:
    """The Python form of an Address message (None when it names nothing)."""
    which = msg.WhichOneof("family")
    if which == "af_inet":
        return (msg.af_inet.host, msg.af_inet.port)
    if which == "af_inet6":
        m = msg.af_inet6
        return (m.host, m.port, m.flowinfo, m.scope_id)
    if which == "af_unix":
        name = msg.af_unix.WhichOneof("name")
        if name == "abstract":
            return b"\0" + msg.af_unix.abstract
        if name == "path":
            return os.fsdecode(msg.af_unix.path)
        return ""
    if which == "af_netlink":
        return (msg.af_netlink.pid, msg.af_netlink.groups)
    if which == "af_packet":
        m = msg.af_packet
        return (m.ifname, m.proto, m.pkttype, m.hatype, m.addr)
    if which == "af_alg":
        m = msg.af_alg
        return (m.type, m.name, m.feat, m.mask)
    if which == "af_vsock":
        return (msg.af_vsock.cid, msg.af_vsock.port)
    if which == "af_can":
        m = msg.af_can
        if constant is not None and proto == constant("CAN_ISOTP"):
            return (m.ifname, m.rx_addr, m.tx_addr)
        if constant is not None and proto == constant("CAN_J1939"):
            return (m.ifname, m.j1939_name, m.j1939_pgn, m.j1939_addr)
        return (m.ifname,)
    if which == "af_tipc":
        m = msg.af_tipc
        return (m.addr_type, m.v1, m.v2, m.v3, m.scope)
    if which == "raw":
        return (msg.raw.family, msg.raw.data)
    return None
