"""Argument checking as the reference does it (issue 13), the private
helpers of socket.socket that the standard library and its tests call, fcntl
on fileno(), and create_connection() honouring a replaced socket.socket.

The argument cases are a table: each call is made on the standard module
(a real socket) and on sockbroker (a brokered one), and must raise the same
exception class (or both succeed)."""

from __future__ import annotations

import fcntl
import os
import socket as stdsocket
import tempfile
import unittest
from typing import Any, Callable, List, Tuple

import sbtest
import sockbroker

BIG = 2**64
INT_MAX_PLUS = 2**31

# (label, call(module, socket factory)) where the factory makes a socket of
# that module; every socket made is closed after the case.
Case = Tuple[str, Callable[[Any, Callable[..., Any]], Any]]


def _cases() -> List[Case]:
    cases: List[Case] = []

    def add(label: str, call: Callable[[Any, Callable[..., Any]], Any]) -> None:
        cases.append((label, call))

    for v in (-1, 3, INT_MAX_PLUS, BIG, 1.5, "x", None):
        add(f"shutdown({v!r})", lambda m, s, v=v: s().shutdown(v))
    for v in (-1, INT_MAX_PLUS, 2**63, BIG, 1.5):
        add(f"CMSG_LEN({v!r})", lambda m, s, v=v: m.CMSG_LEN(v))
        add(f"CMSG_SPACE({v!r})", lambda m, s, v=v: m.CMSG_SPACE(v))
    for v in (-1, 65536, BIG, 1.5, "80"):
        add(f"connect port {v!r}", lambda m, s, v=v: s().connect(("127.0.0.1", v)))
        add(f"bind port {v!r}", lambda m, s, v=v: s().bind(("127.0.0.1", v)))
    for v in (-1, float("nan"), float("inf"), 1e300, BIG, -BIG, "1", b"1"):
        add(f"settimeout({v!r})", lambda m, s, v=v: s().settimeout(v))
    for v in (-1, INT_MAX_PLUS, BIG, 1.5):
        udp = (lambda m, s: s(m.AF_INET, m.SOCK_DGRAM))
        add(f"recv({v!r})", lambda m, s, v=v, u=udp: u(m, s).recv(v, m.MSG_DONTWAIT))
        add(f"recvfrom({v!r})",
            lambda m, s, v=v, u=udp: u(m, s).recvfrom(v, m.MSG_DONTWAIT))
        add(f"recv_into(nbytes={v!r})",
            lambda m, s, v=v, u=udp: u(m, s).recv_into(bytearray(4), v, m.MSG_DONTWAIT))
        add(f"recvmsg({v!r})", lambda m, s, v=v, u=udp: u(m, s).recvmsg(v, 0, m.MSG_DONTWAIT))
        add(f"recvmsg(1, {v!r})",
            lambda m, s, v=v, u=udp: u(m, s).recvmsg(1, v, m.MSG_DONTWAIT))
        add(f"recv flags {v!r}", lambda m, s, v=v, u=udp: u(m, s).recv(1, v))
        add(f"sendto flags {v!r}",
            lambda m, s, v=v, u=udp: u(m, s).sendto(b"x", v, ("127.0.0.1", 9)))
        add(f"listen({v!r})", lambda m, s, v=v: s().listen(v))
        add(f"setsockopt value {v!r}",
            lambda m, s, v=v: s().setsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, v))
        add(f"setsockopt level {v!r}",
            lambda m, s, v=v: s().setsockopt(v, m.SO_REUSEADDR, 1))
        add(f"getsockopt buflen {v!r}",
            lambda m, s, v=v: s().getsockopt(m.SOL_SOCKET, m.SO_REUSEADDR, v))
        add(f"socket family {v!r}", lambda m, s, v=v: s(v).close())
        add(f"getaddrinfo flags {v!r}",
            lambda m, s, v=v: m.getaddrinfo("127.0.0.1", 80, 0, 0, 0, v))
        add(f"getnameinfo flags {v!r}",
            lambda m, s, v=v: m.getnameinfo(("127.0.0.1", 80), v))
    add("getaddrinfo port 2**64", lambda m, s: m.getaddrinfo("127.0.0.1", BIG))
    to = ("127.0.0.1", 9)
    for args in ((b"x",), (b"x", None), (b"x", 0, None), (b"x", "bar", to),
                 (b"x", 0, to, 4), ("x", to), ("x", 0, to)):
        add(f"sendto{args!r}",
            lambda m, s, args=args: s(m.AF_INET, m.SOCK_DGRAM).sendto(*args))
    return cases


class ArgumentsTest(sbtest.BrokerTestCase):
    def outcome(self, module: Any, call: Callable[[Any, Callable[..., Any]], Any]) -> str:
        made: List[Any] = []

        def make(*args: Any) -> Any:
            sock = module.socket(*args)
            made.append(sock)
            return sock

        try:
            call(module, make)
            return "ok"
        except Exception as e:  # noqa: BLE001 (the class is the outcome)
            return type(e).__name__
        finally:
            for sock in made:
                sock.close()
            module.setdefaulttimeout(None)

    def test_the_reference_exception_classes(self) -> None:
        for label, call in _cases():
            with self.subTest(call=label):
                self.assertEqual(self.outcome(sockbroker, call), self.outcome(stdsocket, call))

    def test_sendto_counts_its_arguments_as_the_reference(self) -> None:
        with self.sock(sockbroker.AF_INET, sockbroker.SOCK_DGRAM) as s:
            for args, given in (((b"x",), "(1 given)"), ((b"x", 0, ("127.0.0.1", 9), 4),
                                                           "(4 given)")):
                with self.assertRaises(TypeError) as caught:
                    s.sendto(*args)
                self.assertIn(given, str(caught.exception))
            with self.assertRaises(TypeError) as caught:
                s.sendto(b"x", 0, None)
            self.assertIn("not NoneType", str(caught.exception))

    def test_setdefaulttimeout_checks_as_settimeout(self) -> None:
        for v in (float("inf"), BIG, "1", -1, float("nan")):
            with self.subTest(value=v):
                call = (lambda m, s, v=v: m.setdefaulttimeout(v))
                self.assertNotEqual(self.outcome(stdsocket, call), "ok")
                self.assertEqual(self.outcome(sockbroker, call), self.outcome(stdsocket, call))
        self.assertIsNone(sockbroker.getdefaulttimeout())


class PrivateHelpersTest(sbtest.BrokerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.echo = sbtest.EchoServer()
        self.addCleanup(self.echo.close)
        fd, self.path = tempfile.mkstemp(prefix="sockbroker-pytest-")
        os.close(fd)
        self.addCleanup(os.unlink, self.path)
        self.data = bytes(range(256)) * 64
        with open(self.path, "wb") as f:
            f.write(self.data)

    def echo_back(self, sock: Any, size: int) -> bytes:
        got = b""
        while len(got) < size:
            chunk = sock.recv(size - len(got))
            if not chunk:
                break
            got += chunk
        return got

    def test_sendfile_helpers(self) -> None:
        for name in ("_sendfile_use_send", "_sendfile_use_sendfile"):
            with self.subTest(helper=name):
                with sockbroker.create_connection(self.echo.address, timeout=30) as sock, \
                        open(self.path, "rb") as f:
                    self.assertEqual(getattr(sock, name)(f, 100, 1000), 1000)
                    self.assertEqual(f.tell(), 1100)
                    self.assertEqual(self.echo_back(sock, 1000), self.data[100:1100])

    def test_sendfile_helpers_of_a_handed_off_socket_are_the_kernels(self) -> None:
        with sockbroker.connect(self.daemon.url, handoff=True) as client:
            if not client.server_info.handoff:
                self.skipTest("the daemon does not hand sockets over on this URL")
            with client.socket() as sock, open(self.path, "rb") as f:
                sock.settimeout(30)
                sock.connect(self.echo.address)
                self.assertIsInstance(sock, sockbroker.HandedOffSocket)
                self.assertEqual(sock._sendfile_use_sendfile(f, 0, 1000), 1000)
                self.assertEqual(self.echo_back(sock, 1000), self.data[:1000])

    def test_sendfile_use_sendfile_gives_up_on_what_is_not_a_file(self) -> None:
        import io
        with sockbroker.create_connection(self.echo.address, timeout=30) as sock:
            with self.assertRaises(stdsocket._GiveupOnSendfile):  # type: ignore[attr-defined]
                sock._sendfile_use_sendfile(io.BytesIO(b"data"))
            # sendfile() falls back to send for it, as the reference's does.
            self.assertEqual(sock.sendfile(io.BytesIO(b"data")), 4)
            self.assertEqual(self.echo_back(sock, 4), b"data")

    def test_accept_returns_a_number_and_address(self) -> None:
        with sockbroker.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with sbtest.real_create_connection(server.getsockname(), timeout=30) as peer:
                number, address = server._accept()
                self.assertIsInstance(number, int)
                self.assertEqual(address, peer.getsockname())
                with sockbroker.socket(fileno=number) as conn:
                    peer.sendall(b"taken up")
                    self.assertEqual(conn.recv(8), b"taken up")

    def test_fcntl_on_fileno_acts_on_the_reserved_descriptor(self) -> None:
        with sockbroker.socket() as sock:
            fd = sock.fileno()
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
            self.assertEqual(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC,
                             fcntl.FD_CLOEXEC)
            self.assertEqual(os.readlink(f"/proc/self/fd/{fd}"), os.devnull)


class CreateConnectionTest(sbtest.BrokerTestCase):
    def test_a_replaced_socket_class_is_honoured(self) -> None:
        sockbroker.install(self.daemon.url, children=False)
        self.addCleanup(sockbroker.uninstall)
        # Made after install(): its accept() makes standard sockets.
        echo = sbtest.EchoServer()
        self.addCleanup(echo.close)
        made = []

        class Recording(stdsocket.socket):  # the installed class
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                made.append(args)
                super().__init__(*args, **kwargs)

        installed = stdsocket.socket
        with sockbroker.create_connection(echo.address) as plain:
            self.assertEqual(made, [])
        stdsocket.socket = Recording  # type: ignore[misc]
        try:
            with stdsocket.create_connection(echo.address, timeout=30) as sock:
                sock.sendall(b"mine")
                self.assertEqual(sock.recv(4), b"mine")
        finally:
            stdsocket.socket = installed  # type: ignore[misc]
        self.assertEqual(len(made), 1)
        self.assertIsInstance(sock, sockbroker.socket)
        self.assertTrue(plain._closed or plain.fileno() == -1)


if __name__ == "__main__":
    unittest.main()
