"""Constant tables: this platform's, and the daemon's from its Hello reply.

The wire carries the daemon's native numbers, and Hello gives their names.
Before a client has spoken to the daemon it only knows this platform's
values (those of the standard socket module). A ``Constants`` object merges
the two per name group (the part of a name before its first underscore:
``AF``, ``SO``, ``IPV6``, ...):

- a group on which both agree for every name they share keeps this
  platform's names and gains the daemon's extra ones (the usual case: the
  daemon runs on the same kind of system);
- a group on which they disagree (a daemon on another platform) is replaced
  by the daemon's names and values.

The enums of the standard module (AddressFamily, SocketKind, MsgFlag,
AddressInfo) are kept when their group agrees, so that values compare and
print exactly as the standard module's; otherwise they are rebuilt from the
daemon's table.
"""

from __future__ import annotations

import enum
import re
import socket as _stdsocket
from typing import Dict, Mapping, Optional, Type

__all__ = ["Constants", "STANDARD_VALUES", "local_table", "to_enum"]

_ERRNO_NAME = re.compile(r"E[A-Z0-9]+")

# (enum name, name prefix, enum base) as the standard module builds them.
ENUM_SPECS = (
    ("AddressFamily", "AF_", enum.IntEnum),
    ("SocketKind", "SOCK_", enum.IntEnum),
    ("MsgFlag", "MSG_", enum.IntFlag),
    ("AddressInfo", "AI_", enum.IntFlag),
)


# Names whose values a standard fixes, the same on every system, for a
# Python whose socket module predates them: the IEEE 802 EtherTypes of
# <net/ethernet.h> (the standard module has them from Python 3.12 on).
STANDARD_VALUES = {
    "ETHERTYPE_ARP": 0x0806,
    "ETHERTYPE_IP": 0x0800,
    "ETHERTYPE_IPV6": 0x86DD,
    "ETHERTYPE_VLAN": 0x8100,
}


def _group(name: str) -> str:
    return name.split("_", 1)[0]


def local_table() -> Dict[str, int]:
    """This platform's socket constants, from the standard module (and
    STANDARD_VALUES where it lacks them)."""
    table = {}
    for name in _stdsocket.__all__:
        value = getattr(_stdsocket, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and name[:1].isupper():
            table[name] = int(value)
    for name, value in STANDARD_VALUES.items():
        table.setdefault(name, value)
    return table


def to_enum(value: int, enum_class: Type[enum.IntEnum]) -> int:
    """``enum_class(value)`` when it has such a member, else the int (as the
    standard module does for values it has no name for)."""
    try:
        return enum_class(value)
    except ValueError:
        return value


class Constants:
    """One constant table: names to values, errno names, and the enums.

    ``values`` maps each exported name to its value (an enum member where the
    enum has it); ``daemon`` is the daemon's raw table (None before Hello),
    ``errnos`` the daemon's errno names.
    """

    def __init__(self, daemon: Optional[Mapping[str, int]] = None) -> None:
        local = local_table()
        self.daemon: Optional[Dict[str, int]] = None
        self.errnos: Dict[str, int] = {}
        if daemon is None:
            merged = dict(local)
            disagree: set = set()
        else:
            self.daemon = {}
            for name, value in daemon.items():
                if _ERRNO_NAME.fullmatch(name):
                    self.errnos[name] = value
                else:
                    self.daemon[name] = value
            merged, disagree = self._merge(local, self.daemon)
        self.enums: Dict[str, Type[enum.IntEnum]] = {}
        for enum_name, prefix, base in ENUM_SPECS:
            if _group(prefix) not in disagree:
                cls = getattr(_stdsocket, enum_name)
            else:
                members = {n: v for n, v in merged.items() if n.startswith(prefix)}
                cls = base(enum_name, members, module="sockbroker")  # type: ignore[call-overload]
            self.enums[enum_name] = cls
            for name, member in cls.__members__.items():
                if merged.get(name) == int(member):
                    merged[name] = member
        self.values: Dict[str, int] = merged

    @staticmethod
    def _merge(local: Dict[str, int], daemon: Dict[str, int]):
        groups: Dict[str, Dict[str, int]] = {}
        for name, value in daemon.items():
            groups.setdefault(_group(name), {})[name] = value
        disagree = {g for g, names in groups.items()
                    if any(n in local and local[n] != v for n, v in names.items())}
        merged = {n: v for n, v in local.items() if _group(n) not in disagree}
        merged.update(daemon)
        return merged, disagree

    def get(self, name: str, default: Optional[int] = None) -> Optional[int]:
        """The value of a constant, as the daemon numbers it when known."""
        if self.daemon is not None and name in self.daemon:
            return self.daemon[name]
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> int:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    @property
    def AddressFamily(self) -> Type[enum.IntEnum]:  # noqa: N802 (the module's name)
        return self.enums["AddressFamily"]

    @property
    def SocketKind(self) -> Type[enum.IntEnum]:  # noqa: N802
        return self.enums["SocketKind"]

    @property
    def MsgFlag(self) -> Type[enum.IntEnum]:  # noqa: N802
        return self.enums["MsgFlag"]

    @property
    def AddressInfo(self) -> Type[enum.IntEnum]:  # noqa: N802
        return self.enums["AddressInfo"]
