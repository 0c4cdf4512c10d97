"""Handoff in the Python client (issue 11): where the daemon and its policy
allow it, a connected or accepted stream socket is handed over with the
reply and becomes the standard library's own socket on a real descriptor
(timeout and options carried over); with handoff off, or refused by the
policy, the RPC path gives the same results. A program in a network
namespace of its own (unshare -n) uses asyncio, selectors and fcntl on
handed-off sockets to talk to a server on the host."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket as stdsocket
import ssl
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from typing import Any

import sbtest
import sockbroker

# Bounded waits of these tests, in seconds.
WAIT = 10.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def echo_once(sock: Any, data: bytes) -> bytes:
    sock.sendall(data)
    received = b""
    for _ in range(100):
        if len(received) >= len(data):
            break
        chunk = sock.recv(len(data) - len(received))
        if not chunk:
            break
        received += chunk
    return received


ECHO_SERVER = """\
import socket, threading
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)
def echo(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=echo, args=(conn,), daemon=True).start()
"""


class ChildEchoServer:
    """A TCP echo server on 127.0.0.1 in a child process (so that its
    descriptors are not this process's), stopped by its pid."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", ECHO_SERVER],
                                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.strip():
            self.close()
            raise RuntimeError("the echo server did not start")
        self.port = int(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class HandoffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.daemon = sbtest.Daemon()
        cls.echo = ChildEchoServer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.echo.close()
        status = cls.daemon.stop()
        log = cls.daemon.log()
        cls.daemon.cleanup()
        super().tearDownClass()
        if status != 0:
            raise AssertionError(f"sockbrokerd exited {status}:\n{log}")

    def client(self, handoff: bool = True) -> sockbroker.Client:
        client = sockbroker.connect(self.daemon.url, handoff=handoff)
        self.addCleanup(client.close)
        return client

    def assert_real_socket(self, sock: Any) -> None:
        mode = os.fstat(sock.fileno()).st_mode
        self.assertTrue(stat.S_ISSOCK(mode), "fileno() is not a socket of this process")
        flags = fcntl.fcntl(sock.fileno(), fcntl.F_GETFL)
        self.assertEqual(bool(flags & os.O_NONBLOCK), sock.gettimeout() is not None)

    def test_hello_says_an_ipc_connection_can_hand_sockets_over(self) -> None:
        self.assertTrue(self.client().server_info.handoff)

    def test_create_connection_returns_the_standard_librarys_socket(self) -> None:
        s = self.client().create_connection(("127.0.0.1", self.echo.port), timeout=WAIT)
        self.addCleanup(s.close)
        self.assertIs(type(s), sbtest.RealSocket)
        self.assertEqual(s.gettimeout(), WAIT)
        self.assert_real_socket(s)
        self.assertEqual(s.getpeername(), ("127.0.0.1", self.echo.port))
        self.assertEqual(echo_once(s, b"handed over"), b"handed over")

    def test_connect_turns_the_socket_native_with_its_timeout_and_options(self) -> None:
        client = self.client()
        s = client.socket(client.AF_INET, client.SOCK_STREAM)
        self.addCleanup(s.close)
        s.settimeout(7.5)
        s.setsockopt(client.IPPROTO_TCP, client.TCP_NODELAY, 1)
        handle = s.fileno()
        s.connect(("127.0.0.1", self.echo.port))
        self.assertIsInstance(s, sockbroker.HandedOffSocket)
        self.assertNotEqual(s.fileno(), handle)
        self.assertEqual(s.gettimeout(), 7.5)
        self.assertEqual(s.getsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY), 1)
        self.assert_real_socket(s)
        self.assertEqual(echo_once(s, b"native"), b"native")
        # The daemon forgot the handle.
        with self.assertRaises(OSError):
            client.socket(fileno=handle)

    def test_a_non_blocking_connect_is_handed_over_non_blocking(self) -> None:
        client = self.client()
        s = client.socket()
        self.addCleanup(s.close)
        s.setblocking(False)
        s.connect(("127.0.0.1", self.echo.port))
        self.assertIsInstance(s, sockbroker.HandedOffSocket)
        self.assertFalse(s.getblocking())
        self.assert_real_socket(s)

    def test_accept_returns_the_standard_librarys_socket(self) -> None:
        client = self.client()
        listener = client.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.assertNotIsInstance(listener, sockbroker.HandedOffSocket)  # listening: stays
        peer = sbtest.real_create_connection(listener.getsockname(), timeout=WAIT)
        self.addCleanup(peer.close)
        conn, address = listener.accept()
        self.addCleanup(conn.close)
        self.assertIs(type(conn), sbtest.RealSocket)
        self.assertEqual(address, peer.getsockname())
        self.assert_real_socket(conn)
        peer.sendall(b"ping")
        conn.settimeout(WAIT)
        self.assertEqual(conn.recv(4), b"ping")

    def test_with_handoff_off_the_rpc_path_gives_the_same_results(self) -> None:
        for handoff in (True, False):
            s = self.client(handoff).create_connection(("127.0.0.1", self.echo.port),
                                                       timeout=WAIT)
            with s:
                self.assertEqual(isinstance(s, sockbroker.socket), not handoff)
                self.assertEqual(s.getpeername(), ("127.0.0.1", self.echo.port))
                self.assertEqual(echo_once(s, b"same either way"), b"same either way")

    def test_a_subclass_stays_brokered(self) -> None:
        class Mine(sockbroker.socket):
            __slots__ = ()

            def greeting(self) -> str:
                return "mine"

        s = Mine(client=self.client())
        self.addCleanup(s.close)
        s.connect(("127.0.0.1", self.echo.port))
        self.assertIs(type(s), Mine)
        self.assertEqual(s.greeting(), "mine")
        self.assertEqual(echo_once(s, b"subclass"), b"subclass")

    def test_brokered_tls_sockets_still_wait_in_select(self) -> None:
        from sockbroker import _tls
        from sockbroker import select as broker_select
        context = ssl.create_default_context()
        tls = _tls.wrap_socket(context, self.client().socket(), server_hostname="localhost")
        self.addCleanup(tls.close)
        self.assertEqual(broker_select.select([], [tls], [], 0)[1], [tls])

    def test_a_connected_udp_socket_stays_brokered(self) -> None:
        client = self.client()
        s = client.socket(client.AF_INET, client.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.connect(("127.0.0.1", self.echo.port))
        self.assertNotIsInstance(s, sockbroker.HandedOffSocket)

    def test_no_descriptor_leaks_over_many_handoffs(self) -> None:
        client = self.client()
        client.create_connection(("127.0.0.1", self.echo.port)).close()
        baseline = open_fds()
        for _ in range(200):
            s = client.create_connection(("127.0.0.1", self.echo.port), timeout=WAIT)
            s.close()
        self.assertEqual(open_fds(), baseline)


class RemoteClientTest(unittest.TestCase):
    def test_a_tcp_client_gets_the_rpc_path(self) -> None:
        port = sbtest.free_tcp_port()
        daemon = sbtest.Daemon(extra_listen=(f"tcp://127.0.0.1:{port}",))
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        echo = ChildEchoServer()
        self.addCleanup(echo.close)
        client = sockbroker.connect(f"tcp://127.0.0.1:{port}", handoff=True)
        self.addCleanup(client.close)
        self.assertFalse(client.server_info.handoff)
        s = client.create_connection(("127.0.0.1", echo.port), timeout=WAIT)
        self.addCleanup(s.close)
        self.assertIsInstance(s, sockbroker.socket)
        self.assertNotIsInstance(s, sockbroker.HandedOffSocket)
        self.assertEqual(echo_once(s, b"over tcp"), b"over tcp")


class PolicyForbidsHandoffTest(unittest.TestCase):
    def test_a_policy_without_handoff_keeps_the_rpc_path(self) -> None:
        policy = {"policy": {"rules": [
            {"name": "no-handoff", "allow": False, "ops": ["handoff"]},
            {"name": "tests-allow-all", "allow": True}]}}
        daemon = sbtest.Daemon(config=json.dumps(policy))
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        echo = sbtest.EchoServer()
        self.addCleanup(echo.close)
        client = sockbroker.connect(daemon.url, handoff=True)
        self.addCleanup(client.close)
        s = client.create_connection(("127.0.0.1", echo.port), timeout=WAIT)
        self.addCleanup(s.close)
        self.assertIsInstance(s, sockbroker.socket)
        self.assertEqual(echo_once(s, b"still brokered"), b"still brokered")
        t = client.socket()
        self.addCleanup(t.close)
        t.connect(("127.0.0.1", echo.port))
        self.assertNotIsInstance(t, sockbroker.HandedOffSocket)
        self.assertEqual(echo_once(t, b"and this one"), b"and this one")


SANDBOXED = """\
import asyncio, fcntl, os, selectors, socket, sys

port = int(sys.argv[1])
handed_off = sys.argv[2] == "handoff"

# selectors, on a socket from create_connection.
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.setblocking(False)
with selectors.DefaultSelector() as selector:
    selector.register(s, selectors.EVENT_READ)
    s.send(b"selectors")
    received = b""
    for _ in range(100):
        if len(received) >= 9 or not selector.select(10):
            break
        received += s.recv(100)
print("selectors:", received.decode())
if handed_off:
    # fcntl on its descriptor.
    flags = fcntl.fcntl(s.fileno(), fcntl.F_GETFL)
    print("fcntl: O_NONBLOCK", bool(flags & os.O_NONBLOCK))
s.close()

if handed_off:
    async def talk():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"asyncio")
        await writer.drain()
        data = await asyncio.wait_for(reader.readexactly(7), 10)
        writer.close()
        await writer.wait_closed()
        return data
    print("asyncio:", asyncio.run(talk()).decode())
"""


class SandboxHandoffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        unshare = shutil.which("unshare")
        if not unshare:
            raise unittest.SkipTest("SKIP: the unshare tool (util-linux) is missing")
        probe = subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=30)
        if probe.returncode != 0:
            raise unittest.SkipTest("SKIP: cannot make a network namespace here (needs root "
                                    f"or user namespaces): {probe.stderr.decode().strip()}")
        cls.unshare = unshare
        super().setUpClass()
        cls.daemon = sbtest.Daemon()
        cls.echo = sbtest.EchoServer()
        cls.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        cls.script = os.path.join(cls.tmp, "program.py")
        with open(cls.script, "w") as f:
            f.write(textwrap.dedent(SANDBOXED))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.echo.close()
        status = cls.daemon.stop()
        log = cls.daemon.log()
        cls.daemon.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()
        if status != 0:
            raise AssertionError(f"sockbrokerd exited {status}:\n{log}")

    def run_sandboxed(self, handoff: bool, broker: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["SOCKBROKER_URL"] = self.daemon.url
        env["SOCKBROKER_HANDOFF"] = "1" if handoff else "0"
        runner = ["-m", "sockbroker.run"] if broker else []
        argv = [self.unshare, "-n", "timeout", "-k", "5", "60", sys.executable, *runner,
                self.script, str(self.echo.port), "handoff" if handoff else "rpc"]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90)

    def test_asyncio_selectors_and_fcntl_on_handed_off_sockets(self) -> None:
        result = self.run_sandboxed(handoff=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "selectors: selectors\nfcntl: O_NONBLOCK True\n"
                         "asyncio: asyncio\n")

    def test_the_rpc_path_gives_the_same_results(self) -> None:
        result = self.run_sandboxed(handoff=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "selectors: selectors\n")

    def test_without_the_broker_the_program_cannot_connect(self) -> None:
        result = self.run_sandboxed(handoff=True, broker=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Network is unreachable", result.stderr)


if __name__ == "__main__":
    unittest.main()
