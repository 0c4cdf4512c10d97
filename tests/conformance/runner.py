"""The conformance scenarios run by the Python client (clients/python).

Runs every scenario of tests/conformance/scenarios against the daemon at
$SOCKBROKER_URL through the client's socket API (a ``sockbroker.Client`` per
scenario, socket objects, ``sockbroker.select.poll``). The format is
described in tests/conformance/README.md. Handles are kept as ids; each id
maps to the socket object that owns it (one is made with
``socket(fileno=id)`` for an id the scenario got otherwise, as from
SCM_RIGHTS).

Where the reference itself refuses bad arguments before any system call
(``settimeout(-1)`` raises ValueError), the client does the same, and the
runner counts that as the error kind ``bad_request``.
"""

from __future__ import annotations

import array
import errno
import json
import os
import re
import select as stdselect
import sys
import traceback
from typing import Any, Dict, List, Optional

import sockbroker
import sockbroker.select as sbselect

HERE = os.path.dirname(os.path.abspath(__file__))
CONSTANT_NAMES = re.compile(r"^[A-Z][A-Z0-9_]*(\|[A-Z][A-Z0-9_]*)*$")

# Operations this client cannot express, with the reason (none today).
UNSUPPORTED: Dict[str, str] = {}

# Scenarios this client cannot express, by name, and why.
NOT_EXPRESSIBLE: Dict[str, str] = {
    "handles-are-never-reused":
        "a Python socket's number is a real descriptor of the process (fileno()), which "
        "the kernel reuses once it is closed, as for any file; the daemon's handle ids "
        "underneath are never reused",
}


class ScenarioError(Exception):
    pass


def load_scenarios(directory: str) -> List[Dict[str, Any]]:
    with open(os.path.join(directory, "fixtures.json")) as f:
        fixtures = json.load(f)["fixtures"]
    scenarios = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json") or name == "fixtures.json":
            continue
        with open(os.path.join(directory, name)) as f:
            for scenario in json.load(f)["scenarios"]:
                setup = fixtures[scenario["setup"]] if scenario.get("setup") else []
                scenarios.append(dict(scenario, file=name, steps=setup + scenario["steps"]))
    return scenarios


def bytes_of(spec: Dict[str, Any]) -> bytes:
    if "text" in spec:
        return spec["text"].encode()
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return (spec["repeat"] * spec["times"]).encode()


class Scenario:
    def __init__(self, url: str) -> None:
        self.client = sockbroker.Client(url, client_name="conformance-python")
        self.sockets: Dict[int, Any] = {}
        self.vars: Dict[str, Any] = {}

    def constant(self, name: str) -> int:
        table = self.client.constants
        value = table.values.get(name, table.errnos.get(name))
        if value is None:
            raise ScenarioError(f"the daemon has no constant {name}")
        return int(value)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            if value == "*":
                return value
            if value.startswith("$"):
                name, *keys = value[1:].split(".")
                if name not in self.vars:
                    raise ScenarioError(f"no variable {name}")
                v = self.vars[name]
                for key in keys:
                    v = v[int(key)] if isinstance(v, list) else v[key]
                return v
            if CONSTANT_NAMES.match(value):
                result = 0
                for name in value.split("|"):
                    result |= self.constant(name)
                return result
            return value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            if "text" in value or "hex" in value or "repeat" in value:
                return bytes_of(value)
            return {key: self.resolve(v) for key, v in value.items()}
        return value

    # ---- handles -------------------------------------------------------

    def adopt(self, sock: Any) -> int:
        self.sockets[sock.fileno()] = sock
        return sock.fileno()

    def sock(self, handle: int) -> Any:
        sock = self.sockets.get(handle)
        if sock is None:
            sock = self.client.socket(fileno=handle)
            self.sockets[handle] = sock
        return sock

    def close(self, handle: int) -> None:
        sock = self.sockets.pop(handle, None)
        if sock is None:
            sock = self.client.socket(fileno=handle)
        self.client.close_handle(sock.detach())

    def end(self) -> None:
        for sock in self.sockets.values():
            sock.detach()
        self.client.close()


def address(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def plain(value: Any) -> Any:
    """A result in the common form: tuples as lists."""
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


_TO_POLL = {1: stdselect.POLLIN, 2: stdselect.POLLOUT}
_FROM_POLL = [(stdselect.POLLIN, 1), (stdselect.POLLOUT, 2), (stdselect.POLLERR, 4),
              (stdselect.POLLHUP, 8)]


def op_poll(sc: Scenario, items: List[List[Any]], timeout: Optional[float]) -> Any:
    poller = sbselect.poll()
    for handle, bits in items:
        mask = 0
        for bit, flag in _TO_POLL.items():
            if bits & bit:
                mask |= flag
        poller.register(sc.sock(handle), mask)
    ready = poller.poll(None if timeout is None else timeout * 1000.0)
    result = []
    for handle, revents in ready:
        bits = 0
        for flag, bit in _FROM_POLL:
            if revents & flag:
                bits |= bit
        result.append([handle, bits])
    return result


def op_sendmsg(sc: Scenario, s: Any, buffers: List[bytes], ancillary: List[Dict[str, Any]],
               flags: int = 0, to: Any = None) -> Any:
    ancdata = []
    for item in ancillary:
        if "rights" in item:
            ancdata.append((item["level"], item["type"], array.array("i", item["rights"])))
        else:
            ancdata.append((item["level"], item["type"], item["data"]))
    if to is None:
        return s.sendmsg(buffers, ancdata, flags)
    return s.sendmsg(buffers, ancdata, flags, address(to))


def op_recvmsg(sc: Scenario, s: Any, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> Any:
    data, ancdata, msg_flags, addr = s.recvmsg(bufsize, ancbufsize, flags)
    rights: List[int] = []
    sol, scm = sc.constant("SOL_SOCKET"), sc.constant("SCM_RIGHTS")
    for level, type_, item in ancdata:
        if level == sol and type_ == scm:
            ids = array.array("i")
            ids.frombytes(item[: len(item) - len(item) % ids.itemsize])
            rights.extend(ids)
    return {"data": data, "rights": rights, "flags": msg_flags,
            "ancillary": [[level, type_] for level, type_, _ in ancdata], "address": plain(addr)}


def run_op(sc: Scenario, op: str, handle: Any, args: List[Any]) -> Any:
    c = sc.client
    if op == "socket":
        return sc.adopt(c.socket(*args))
    if op == "socketpair":
        return [sc.adopt(s) for s in c.socketpair(*args)]
    if op == "poll":
        return op_poll(sc, *args)
    if op == "create_connection":
        return sc.adopt(c.create_connection(address(args[0]), *args[1:]))
    if op == "create_server":
        return sc.adopt(c.create_server(address(args[0])))
    if op == "getaddrinfo":
        return plain(c.getaddrinfo(*args))
    if op == "getnameinfo":
        return plain(c.getnameinfo(address(args[0]), args[1]))
    if op in ("gethostbyname_ex", "gethostbyaddr"):
        return plain(getattr(c, op)(*args))
    if op in ("gethostbyname", "getservbyname", "getservbyport", "getprotobyname",
              "gethostname", "if_nametoindex", "if_indextoname", "CMSG_LEN", "CMSG_SPACE",
              "has_ipv6"):
        return getattr(c, op)(*args)
    if op == "close":
        sc.close(handle)
        return None
    s = sc.sock(handle)
    if op == "dup":
        return sc.adopt(s.dup())
    if op == "accept":
        conn, peer = s.accept()
        return [sc.adopt(conn), plain(peer)]
    if op in ("bind", "connect", "connect_ex"):
        return getattr(s, op)(address(args[0]))
    if op == "sendto":
        return s.sendto(args[0], args[1], address(args[2]))
    if op == "recvfrom":
        data, peer = s.recvfrom(*args)
        return [data, plain(peer)]
    if op == "sendmsg":
        return op_sendmsg(sc, s, *args)
    if op == "recvmsg":
        return op_recvmsg(sc, s, *args)
    if op in ("listen", "shutdown", "getsockname", "getpeername", "getsockopt", "setsockopt",
              "settimeout", "gettimeout", "setblocking", "send", "sendall", "recv"):
        return plain(getattr(s, op)(*args))
    raise ScenarioError(f"unknown operation {op}")


def error_of(e: BaseException) -> Dict[str, Any]:
    kind = getattr(e, "broker_kind", None)
    name = getattr(e, "errno_name", None)
    if kind is None:
        if isinstance(e, (ValueError, OverflowError, TypeError)):
            kind, name = "bad_request", "EINVAL"
        elif isinstance(e, TimeoutError):
            kind, name = "timeout", "ETIMEDOUT"
        elif isinstance(e, OSError) and e.errno:
            kind, name = "os", errno.errorcode.get(e.errno, "")
        else:
            raise e
    return {"kind": kind, "errno": name}


def matches(expected: Any, actual: Any) -> bool:
    if expected == "*":
        return True
    if isinstance(expected, bytes):
        return isinstance(actual, (bytes, bytearray)) and bytes(actual) == expected
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(matches(e, a) for e, a in zip(expected, actual)))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(e, actual[key]) for key, e in expected.items())
    if isinstance(expected, float) or isinstance(actual, float):
        return (isinstance(actual, (int, float)) and not isinstance(actual, bool)
                and abs(expected - actual) < 1e-9)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int):
        # Enum members (AddressFamily.AF_INET) compare as their numbers.
        return isinstance(actual, int) and int(actual) == expected
    return type(expected) is type(actual) and expected == actual


def show(value: Any) -> str:
    return json.dumps(value, default=lambda v: {"hex": bytes(v).hex()}
                      if isinstance(v, (bytes, bytearray)) else repr(v))


def run_scenario(url: str, scenario: Dict[str, Any]) -> None:
    sc = Scenario(url)
    try:
        for index, step in enumerate(scenario["steps"], 1):
            op = step["op"]
            where = f"step {index} ({op})"
            handle = step.get("handle")
            if isinstance(handle, str):
                handle = sc.resolve(handle if handle.startswith("$") else "$" + handle)
            args = sc.resolve(step.get("args", []))
            try:
                result = run_op(sc, op, handle, args)
            except ScenarioError:
                raise
            except Exception as e:  # noqa: BLE001 (any failure is the step's)
                want = step.get("error")
                got = error_of(e)
                if not want:
                    raise ScenarioError(f"{where}: failed: {got} {e}") from None
                if got["kind"] != want["kind"] or (want.get("errno")
                                                   and got["errno"] != want["errno"]):
                    raise ScenarioError(f"{where}: expected error {show(want)}, got "
                                        f"{show(got)} ({e})") from None
                continue
            if "error" in step:
                raise ScenarioError(f"{where}: expected error {show(step['error'])}, got "
                                    f"{show(result)}")
            if "expect" in step:
                want = sc.resolve(step["expect"])
                if not matches(want, result):
                    raise ScenarioError(f"{where}: expected {show(want)}, got {show(result)}")
            if "expect_contains" in step:
                want = sc.resolve(step["expect_contains"])
                if not isinstance(result, list) or not any(matches(want, r) for r in result):
                    raise ScenarioError(f"{where}: expected an element {show(want)} in "
                                        f"{show(result)}")
            if isinstance(step.get("as"), list):
                for name, value in zip(step["as"], result):
                    sc.vars[name] = value
            elif step.get("as"):
                sc.vars[step["as"]] = result
    finally:
        sc.end()


def main() -> int:
    url = os.environ.get("SOCKBROKER_URL")
    if not url:
        print("runner.py: set SOCKBROKER_URL to the daemon (run.py does)", file=sys.stderr)
        return 2
    scenarios = load_scenarios(os.path.join(HERE, "scenarios"))
    passed = failed = 0
    skipped = []
    for scenario in scenarios:
        if scenario["name"] in NOT_EXPRESSIBLE:
            skipped.append((scenario["name"], NOT_EXPRESSIBLE[scenario["name"]]))
            continue
        missing = next((s["op"] for s in scenario["steps"] if s["op"] in UNSUPPORTED), None)
        if missing:
            skipped.append((scenario["name"], f"{missing}: {UNSUPPORTED[missing]}"))
            continue
        try:
            run_scenario(url, scenario)
        except ScenarioError as e:
            failed += 1
            print(f"FAIL {scenario['name']} ({scenario['file']}): {e}", flush=True)
        except Exception:  # noqa: BLE001 (a bug of the runner or the client)
            failed += 1
            print(f"FAIL {scenario['name']} ({scenario['file']}):\n{traceback.format_exc()}",
                  flush=True)
        else:
            passed += 1
            print(f"ok {scenario['name']}", flush=True)
    print(f"\nPython runner: {len(scenarios)} scenarios; skipped:{'' if skipped else ' none'}")
    for name, reason in skipped:
        print(f"  skip {name}: {reason}")
    print(f"{passed} passed, {failed} failed, {len(skipped)} skipped")
    return 1 if failed else (0 if passed else 77)


if __name__ == "__main__":
    sys.exit(main())
