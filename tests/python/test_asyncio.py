"""asyncio in real programs (issue 13): unmodified asyncio programs in a new
network namespace (unshare -n) reach servers on the host through the broker,
on the RPC path and with handoff, and the same programs fail without it.

The default event loop after install() waits with the broker's selector
(selectors.DefaultSelector is BrokerSelector): brokered sockets by the
daemon's Poll and local descriptors (its self-pipe, AF_UNIX sockets, pipes)
with the kernel, in one select() call.
"""

from __future__ import annotations

import shutil
import tempfile
import unittest
from typing import Any, Tuple

import sbtest

MODES = (("rpc", False), ("handoff", True))

CLIENT = """\
    import asyncio, socket, sys

    async def main(port):
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo("localhost", port, family=socket.AF_INET,
                                       type=socket.SOCK_STREAM)
        reader, writer = await asyncio.open_connection(*infos[0][4])
        writer.write(b"open_connection\\n")
        await writer.drain()
        print((await reader.readline()).decode(), end="")
        writer.close()
        await writer.wait_closed()

        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, b"sock_sendall\\n")
        data = b""
        while not data.endswith(b"\\n"):
            data += await loop.sock_recv(sock, 100)
        print(data.decode(), end="")
        await loop.sock_sendall(sock, b"sock_recv_into\\n")
        buffer = bytearray(100)
        got = 0
        while not buffer[:got].endswith(b"\\n"):
            got += await loop.sock_recv_into(sock, memoryview(buffer)[got:])
        print(buffer[:got].decode(), end="")
        with open(sys.argv[0], "rb") as f:
            sent = await loop.sock_sendfile(sock, f)
            f.seek(0)
            source = f.read()
        data = b""
        while len(data) < sent:
            data += await loop.sock_recv(sock, 65536)
        print("sock_sendfile", data == source)
        sock.close()

    asyncio.run(main(int(sys.argv[1])))
    """

SERVER = """\
    import asyncio

    async def main():
        done = asyncio.Event()

        async def handle(reader, writer):
            line = await reader.readline()
            writer.write(line.upper())
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            done.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await done.wait()
        print("served", flush=True)

    asyncio.run(main())
    """

CONNECTIONS = 200
MANY = """\
    import asyncio, sys

    async def main(port, count):
        opened = await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port)
                                        for _ in range(count)])
        for i, (_, writer) in enumerate(opened):
            writer.write(b"%d\\n" % i)
        replies = await asyncio.gather(*[reader.readline() for reader, _ in opened])
        for _, writer in opened:
            writer.close()
        print(sum(reply == b"%d\\n" % i for i, reply in enumerate(replies)), "of", count)

    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
    """

UDP = """\
    import asyncio, sys

    class Client(asyncio.DatagramProtocol):
        def __init__(self):
            self.reply = asyncio.get_running_loop().create_future()

        def datagram_received(self, data, addr):
            self.reply.set_result(data)

        def error_received(self, exc):
            self.reply.set_exception(exc)

    async def main(port):
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            Client, remote_addr=("127.0.0.1", port))
        transport.sendto(b"a datagram")
        print((await protocol.reply).decode())
        transport.close()

    asyncio.run(main(int(sys.argv[1])))
    """

UDP_SERVER = """\
    import asyncio

    class Upper(asyncio.DatagramProtocol):
        def __init__(self, done):
            self.done = done

        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            self.transport.sendto(data.upper(), addr)
            self.done.set_result(None)

    async def main():
        done = asyncio.get_running_loop().create_future()
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: Upper(done), local_addr=("127.0.0.1", 0))
        print(transport.get_extra_info("sockname")[1], flush=True)
        await done
        transport.close()
        print("served", flush=True)

    asyncio.run(main())
    """

TLS = """\
    import asyncio, ssl, sys

    async def main(port, ca):
        context = ssl.create_default_context(cafile=ca)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(b"GET / HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
        response = await reader.read()
        writer.close()
        print(writer.get_extra_info("ssl_object").version() is not None,
              response.split(b"\\r\\n\\r\\n", 1)[1].decode(), end="")

    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
    """

UNIX = """\
    import asyncio, os, sys, tempfile

    async def main(port):
        path = os.path.join(tempfile.mkdtemp(), "server.sock")

        async def handle(reader, writer):
            writer.write((await reader.readline()).upper())
            writer.close()

        server = await asyncio.start_unix_server(handle, path)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"over a local unix socket\\n")
        print((await reader.readline()).decode(), end="")
        writer.close()
        server.close()
        await server.wait_closed()
        os.unlink(path)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"and over tcp\\n")
        print((await reader.readline()).decode(), end="")
        writer.close()

    asyncio.run(main(int(sys.argv[1])))
    """

POLL = """\
    import os, select, socket, sys

    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    r, w = os.pipe()
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(r, select.POLLIN)
    print("nothing", poller.poll(0))
    os.write(w, b"x")
    print("pipe", poller.poll(30000) == [(r, select.POLLIN)])
    os.read(r, 1)
    sock.sendall(b"echo")
    print("socket", poller.poll(30000) == [(sock.fileno(), select.POLLIN)])
    print(sock.recv(4).decode())
    """


class AsyncioTest(sbtest.SandboxTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.echo = sbtest.EchoServer(backlog=CONNECTIONS + 16)
        cls.udp = sbtest.UdpEchoServer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.echo.close()
        cls.udp.close()
        super().tearDownClass()

    def each_mode(self, script: str, *args: str, expect: str) -> None:
        for name, handoff in MODES:
            with self.subTest(path=name):
                self.assert_runs(script, *args, expect=expect, handoff=handoff)

    def test_open_connection_getaddrinfo_and_sock_methods(self) -> None:
        script = self.program(CLIENT, "client.py")
        port = str(self.echo.port)
        self.each_mode(script, port,
                       expect="open_connection\nsock_sendall\nsock_recv_into\n"
                              "sock_sendfile True\n")
        self.assert_fails_without_broker(script, port)

    def test_start_server_reached_from_the_host(self) -> None:
        script = self.program(SERVER, "server.py")
        for name, handoff in MODES:
            with self.subTest(path=name):
                process, port = self.start_server_program(script, handoff=handoff)
                with sbtest.real_create_connection(("127.0.0.1", port), timeout=30) as conn:
                    conn.sendall(b"from the host\n")
                    reply = conn.makefile("rb").readline()
                self.assertEqual(reply, b"FROM THE HOST\n")
                self.assert_finishes(process, "served\n")
        self.assert_unreachable_from_the_host(script)

    def test_200_concurrent_connections(self) -> None:
        script = self.program(MANY, "many.py")
        args = (str(self.echo.port), str(CONNECTIONS))
        self.each_mode(script, *args, expect=f"{CONNECTIONS} of {CONNECTIONS}\n")
        self.assert_fails_without_broker(script, *args)

    def test_a_udp_endpoint(self) -> None:
        script = self.program(UDP, "udp.py")
        port = str(self.udp.address[1])
        self.each_mode(script, port, expect="a datagram\n")
        self.assert_fails_without_broker(script, port)

    def test_a_udp_server_endpoint_reached_from_the_host(self) -> None:
        script = self.program(UDP_SERVER, "udp_server.py")
        for name, handoff in MODES + (("without the broker", None),):
            with self.subTest(path=name):
                process, port = self.start_server_program(script, broker=handoff is not None,
                                                          handoff=bool(handoff))
                with sbtest.RealSocket(sbtest.stdsocket.AF_INET,
                                       sbtest.stdsocket.SOCK_DGRAM) as udp:
                    udp.settimeout(30)
                    udp.connect(("127.0.0.1", port))
                    udp.send(b"a datagram from the host")
                    if handoff is None:
                        # It listens in the sandbox: nothing does here.
                        with self.assertRaises(ConnectionRefusedError):
                            udp.recv(100)
                        continue
                    self.assertEqual(udp.recv(100), b"A DATAGRAM FROM THE HOST")
                self.assert_finishes(process, "served\n")

    def test_tls_through_open_connection(self) -> None:
        directory = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        self.addCleanup(shutil.rmtree, directory, True)
        certificates = sbtest.make_certificates(directory)
        if certificates is None:
            self.skipTest("the openssl tool is missing (it makes the test certificates)")
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates["server"])
        server = sbtest.HttpServer(context)
        self.addCleanup(server.close)
        script = self.program(TLS, "tls.py")
        args = (str(server.port), certificates["ca"])
        self.each_mode(script, *args, expect="True " + sbtest.PAGE.decode())
        self.assert_fails_without_broker(script, *args)

    def test_a_unix_server_and_client_inside_the_sandbox(self) -> None:
        script = self.program(UNIX, "unix.py")
        port = str(self.echo.port)
        self.each_mode(script, port, expect="OVER A LOCAL UNIX SOCKET\nand over tcp\n")
        # Without the broker the unix socket works (it is the sandbox's
        # own), the tcp connection does not.
        result = self.run_program(script, port, broker=False)
        self.assertIn("OVER A LOCAL UNIX SOCKET\n", result.stdout)
        self.assertIn("Network is unreachable", result.stderr)

    def test_select_poll_on_fileno_next_to_a_pipe(self) -> None:
        script = self.program(POLL, "poll.py")
        port = str(self.echo.port)
        self.each_mode(script, port, expect="nothing []\npipe True\nsocket True\necho\n")
        self.assert_fails_without_broker(script, port)


if __name__ == "__main__":
    unittest.main()


class LoopTest(sbtest.BrokerTestCase):
    """The default loop after install(), in this process, on the RPC path:
    it parks on brokered sockets (no spinning) and wakes for local events
    (no missed wake-up)."""

    def setUp(self) -> None:
        super().setUp()
        import sockbroker
        sockbroker.install(self.daemon.url, children=False, handoff=False)
        self.addCleanup(sockbroker.uninstall)
        # Made after install(): its accept() makes standard sockets.
        self.echo = sbtest.EchoServer()
        self.addCleanup(self.echo.close)

    def run_counting(self, main: Any) -> Tuple[Any, int]:
        """asyncio.run(main()), and how many times the loop's selector
        waited."""
        import asyncio
        import selectors
        waits = [0]
        base = selectors.DefaultSelector

        class Counting(base):  # type: ignore[misc, valid-type]
            def select(self, timeout: Any = None) -> Any:
                waits[0] += 1
                return super().select(timeout)

        selectors.DefaultSelector = Counting
        try:
            result = asyncio.run(main())
        finally:
            selectors.DefaultSelector = base
        return result, waits[0]

    def test_an_idle_loop_parks_on_a_brokered_socket(self) -> None:
        import asyncio

        async def main() -> Any:
            reader, writer = await asyncio.open_connection(*self.echo.address)
            self.assertIsInstance(writer.get_extra_info("socket")._sock, sockbroker_socket())
            loop = asyncio.get_running_loop()
            # Nothing arrives; the loop waits until the timer ends it.
            done = loop.create_future()
            loop.call_later(0.3, done.set_result, None)
            await done
            writer.close()
            await writer.wait_closed()

        _, waits = self.run_counting(main)
        # A loop that spun on the reserved descriptor would wait thousands
        # of times in 0.3 s; a parked one a handful.
        self.assertLess(waits, 50)

    def test_another_thread_wakes_a_loop_parked_on_a_brokered_socket(self) -> None:
        import asyncio
        import threading

        async def main() -> Any:
            reader, writer = await asyncio.open_connection(*self.echo.address)
            loop = asyncio.get_running_loop()
            woken = loop.create_future()
            reading = asyncio.ensure_future(reader.read(1))
            await asyncio.sleep(0)  # the read now waits on the brokered socket
            threading.Thread(target=loop.call_soon_threadsafe,
                             args=(woken.set_result, "woken")).start()
            result = await asyncio.wait_for(woken, 30)
            self.assertFalse(reading.done())
            writer.write(b"x")
            self.assertEqual(await asyncio.wait_for(reading, 30), b"x")
            writer.close()
            await writer.wait_closed()
            return result

        result, _ = self.run_counting(main)
        self.assertEqual(result, "woken")


def sockbroker_socket() -> Any:
    import sockbroker
    return sockbroker.socket
