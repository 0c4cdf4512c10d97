"""Socket objects through the broker: every method of the reference's socket
class, its success path, its OS errors (checked by errno name) and its bad
arguments (the reference's exceptions, nothing sent)."""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import socket as stdsocket
import struct
import tempfile
import threading
import time
import unittest
import warnings

import sbtest
import sockbroker
from sockbroker._pb import pb


class TcpTest(sbtest.BrokerTestCase):
    def echo(self, host: str) -> None:
        server = sbtest.EchoServer(host)
        self.addCleanup(server.close)
        family = sockbroker.AF_INET6 if ":" in host else sockbroker.AF_INET
        with sockbroker.socket(family, sockbroker.SOCK_STREAM) as s:
            s.connect((host, server.port))
            self.assertEqual(s.getpeername()[:2], (host, server.port))
            self.assertEqual(s.getsockname()[0], host)
            s.sendall(b"hello " + host.encode())
            self.assertEqual(s.recv(100), b"hello " + host.encode())
            self.assertIsInstance(s.family, sockbroker.AddressFamily)
            self.assertIs(s.family, family)
            self.assertIs(s.type, sockbroker.SOCK_STREAM)
            self.assertEqual(s.proto, 0)

    def test_echo_ipv4(self) -> None:
        self.echo("127.0.0.1")

    def test_echo_ipv6(self) -> None:
        if not sbtest.ipv6_available():
            self.skipTest("no IPv6 loopback on this machine")
        self.echo("::1")

    def test_listen_accept_between_brokered_sockets(self) -> None:
        server = self.sock()
        server.setsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_REUSEADDR, 1)
        self.assertEqual(server.getsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_REUSEADDR), 1)
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        address = server.getsockname()
        client = self.sock()
        client.connect(address)
        conn, peer = server.accept()
        self.addCleanup(conn.close)
        self.assertEqual(peer, client.getsockname())
        self.assertEqual(conn.getpeername(), client.getsockname())
        client.sendall(b"ping")
        self.assertEqual(conn.recv(4), b"ping")
        conn.shutdown(sockbroker.SHUT_WR)
        self.assertEqual(client.recv(10), b"")

    def test_connect_to_a_closed_port_is_connection_refused(self) -> None:
        closed = sbtest.ClosedPort()
        self.addCleanup(closed.close)
        with self.assertRaises(ConnectionRefusedError) as cm:
            self.sock().connect(("127.0.0.1", closed.port))
        self.assertEqual(cm.exception.errno, errno.ECONNREFUSED)
        self.assertEqual(cm.exception.errno_name, "ECONNREFUSED")
        self.assertEqual(self.sock().connect_ex(("127.0.0.1", closed.port)), errno.ECONNREFUSED)

    def test_connect_ex_success_is_zero(self) -> None:
        server = sbtest.EchoServer()
        self.addCleanup(server.close)
        self.assertEqual(self.sock().connect_ex(("127.0.0.1", server.port)), 0)

    def test_bind_in_use_is_eaddrinuse(self) -> None:
        first = self.sock()
        first.bind(("127.0.0.1", 0))
        first.listen()
        with self.assertRaises(OSError) as cm:
            self.sock().bind(first.getsockname())
        self.assertEqual(cm.exception.errno, errno.EADDRINUSE)

    def test_unconnected_getpeername_is_enotconn(self) -> None:
        with self.assertRaises(OSError) as cm:
            self.sock().getpeername()
        self.assertEqual(cm.exception.errno, errno.ENOTCONN)

    def test_bad_host_name_is_gaierror(self) -> None:
        with self.assertRaises(sockbroker.gaierror) as cm:
            self.sock().connect(("no-such-host.invalid", 80))
        self.assertIsInstance(cm.exception, stdsocket.gaierror)
        self.assertIn(cm.exception.errno, (sockbroker.EAI_NONAME, sockbroker.EAI_AGAIN,
                                           sockbroker.EAI_FAIL))

    def test_bad_arguments_raise_the_references_exceptions(self) -> None:
        s = self.sock()
        with self.assertRaises(TypeError):
            s.connect("127.0.0.1:80")
        with self.assertRaises(TypeError):
            s.connect(("127.0.0.1",))
        with self.assertRaises(OverflowError):
            s.connect(("127.0.0.1", 70000))
        with self.assertRaises(TypeError):
            s.connect(("127.0.0.1", "80"))
        with self.assertRaises(ValueError):
            s.recv(-1)
        with self.assertRaises(ValueError):
            s.settimeout(-1)
        with self.assertRaises(TypeError):
            s.send("text")
        with self.assertRaises(TypeError):
            s.setsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_REUSEADDR, "1")
        v6 = self.sock(sockbroker.AF_INET6)
        with self.assertRaises(OverflowError):
            v6.connect(("::1", 80, 0x100000, 0))
        # The session is fine afterwards.
        self.assertEqual(s.gettimeout(), None)

    def test_socket_of_unknown_family_is_an_os_error(self) -> None:
        with self.assertRaises(OSError) as cm:
            sockbroker.socket(4242, sockbroker.SOCK_STREAM)
        self.assertEqual(cm.exception.errno, errno.EAFNOSUPPORT)

    def test_closed_socket_is_ebadf(self) -> None:
        s = sockbroker.socket()
        s.close()
        self.assertEqual(s.fileno(), -1)
        s.close()  # twice is fine
        with self.assertRaises(OSError) as cm:
            s.getsockname()
        self.assertEqual(cm.exception.errno, errno.EBADF)
        self.assertIn("closed", repr(s))

    def test_context_manager_closes(self) -> None:
        with sockbroker.socket() as s:
            handle = s.fileno()
            self.assertGreater(handle, 0)
        self.assertEqual(s.fileno(), -1)
        with self.assertRaises(OSError) as cm:
            self.client.call(pb.Request(getsockname=pb.HandleRequest(handle=handle)), "address")
        self.assertEqual(cm.exception.errno, errno.EBADF)

    def test_large_sendall_and_shutdown(self) -> None:
        server = sbtest.EchoServer()
        self.addCleanup(server.close)
        s = self.sock()
        s.connect(("127.0.0.1", server.port))
        data = os.urandom(1 << 20) * 20  # above one request's max_data_size
        received = bytearray()

        def reader() -> None:
            while len(received) < len(data):
                chunk = s.recv(1 << 20)
                if not chunk:
                    return
                received.extend(chunk)

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(memoryview(data))
        t.join(60)
        self.assertEqual(hashlib.sha256(received).digest(), hashlib.sha256(data).digest())

    def test_sendfile(self) -> None:
        a, b = self.pair()
        with tempfile.TemporaryFile() as f:
            f.write(b"0123456789" * 1000)
            f.flush()
            f.seek(0)
            self.assertEqual(a.sendfile(f, 10, 95), 95)
            self.assertEqual(f.tell(), 105)
            got = b""
            while len(got) < 95:
                got += b.recv(1000)
            self.assertEqual(got, (b"0123456789" * 11)[10:105])
            with self.assertRaises(ValueError):
                with open(f.fileno(), "r", closefd=False) as text:
                    a.sendfile(text)


class UdpTest(sbtest.BrokerTestCase):
    def echo(self, host: str) -> None:
        server = sbtest.UdpEchoServer(host)
        self.addCleanup(server.close)
        family = sockbroker.AF_INET6 if ":" in host else sockbroker.AF_INET
        s = self.sock(family, sockbroker.SOCK_DGRAM)
        s.settimeout(10)
        self.assertEqual(s.sendto(b"datagram", server.address), 8)
        data, address = s.recvfrom(100)
        self.assertEqual(data, b"datagram")
        self.assertEqual(address[:2], server.address[:2])
        self.assertEqual(len(address), 2 if family == sockbroker.AF_INET else 4)
        self.assertEqual(s.sendto(b"flags", 0, server.address), 5)
        buffer = bytearray(10)
        n, address = s.recvfrom_into(buffer)
        self.assertEqual((n, bytes(buffer[:n])), (5, b"flags"))
        s.connect(server.address)
        s.send(b"connected")
        buffer = bytearray(20)
        n = s.recv_into(memoryview(buffer)[5:])
        self.assertEqual(bytes(buffer[5:5 + n]), b"connected")

    def test_echo_ipv4(self) -> None:
        self.echo("127.0.0.1")

    def test_echo_ipv6(self) -> None:
        if not sbtest.ipv6_available():
            self.skipTest("no IPv6 loopback on this machine")
        self.echo("::1")

    def test_truncated_datagram_with_msg_trunc(self) -> None:
        a = self.sock(sockbroker.AF_INET, sockbroker.SOCK_DGRAM)
        b = self.sock(sockbroker.AF_INET, sockbroker.SOCK_DGRAM)
        b.bind(("127.0.0.1", 0))
        a.sendto(b"x" * 100, b.getsockname())
        buffer = bytearray(10)
        self.assertEqual(b.recv_into(buffer, 10, sockbroker.MSG_TRUNC), 100)


class UnixTest(sbtest.BrokerTestCase):
    def test_path_socket(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "server.sock")
            server = self.sock(sockbroker.AF_UNIX)
            server.bind(path)
            server.listen()
            self.assertEqual(server.getsockname(), path)
            client = self.sock(sockbroker.AF_UNIX)
            client.connect(path)
            conn, peer = server.accept()
            self.addCleanup(conn.close)
            self.assertEqual(peer, "")
            client.sendall(b"over a path")
            self.assertEqual(conn.recv(100), b"over a path")

    def test_abstract_socket(self) -> None:
        name = b"\0sockbroker-pytest-%d" % os.getpid()
        server = self.sock(sockbroker.AF_UNIX)
        server.bind(name)
        server.listen()
        self.assertEqual(server.getsockname(), name)
        client = self.sock(sockbroker.AF_UNIX)
        client.connect(name)
        conn, _ = server.accept()
        self.addCleanup(conn.close)
        conn.sendall(b"abstract")
        self.assertEqual(client.recv(100), b"abstract")

    def test_missing_path_is_file_not_found(self) -> None:
        with self.assertRaises(FileNotFoundError):
            self.sock(sockbroker.AF_UNIX).connect("/nonexistent/sockbroker-pytest.sock")

    def test_socketpair(self) -> None:
        a, b = self.pair()
        self.assertIs(a.family, sockbroker.AF_UNIX)
        self.assertIs(b.type, sockbroker.SOCK_STREAM)
        a.sendall(b"one way")
        self.assertEqual(b.recv(100), b"one way")
        b.sendall(b"other way")
        self.assertEqual(a.recv(100), b"other way")
        d1, d2 = self.pair(sockbroker.AF_UNIX, sockbroker.SOCK_DGRAM)
        self.assertIs(d1.type, sockbroker.SOCK_DGRAM)
        d1.send(b"dgram")
        self.assertEqual(d2.recv(100), b"dgram")


class ModesTest(sbtest.BrokerTestCase):
    def test_timeout_mode(self) -> None:
        a, b = self.pair()
        b.settimeout(0.2)
        self.assertEqual(b.gettimeout(), 0.2)
        self.assertEqual(b.timeout, 0.2)
        self.assertTrue(b.getblocking())
        start = time.monotonic()
        with self.assertRaises(TimeoutError) as cm:
            b.recv(10)
        self.assertGreaterEqual(time.monotonic() - start, 0.15)
        self.assertEqual(str(cm.exception), "timed out")
        self.assertIsInstance(cm.exception, sockbroker.timeout)
        a.sendall(b"after")
        self.assertEqual(b.recv(10), b"after")

    def test_connect_timeout(self) -> None:
        # A listener whose accept queue is full drops further SYNs, so the
        # next connect waits until its timeout.
        listener = sbtest.RealSocket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(3):
            filler = sbtest.RealSocket()
            self.addCleanup(filler.close)
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
        time.sleep(0.1)
        s = self.sock()
        s.settimeout(0.3)
        start = time.monotonic()
        with self.assertRaises(TimeoutError):
            s.connect(listener.getsockname())
        self.assertGreaterEqual(time.monotonic() - start, 0.25)
        late = self.sock()
        late.settimeout(0.3)
        self.assertEqual(late.connect_ex(listener.getsockname()), errno.EAGAIN)

    def test_non_blocking_mode(self) -> None:
        a, b = self.pair()
        b.setblocking(False)
        self.assertFalse(b.getblocking())
        self.assertEqual(b.gettimeout(), 0.0)
        with self.assertRaises(BlockingIOError) as cm:
            b.recv(10)
        self.assertEqual(cm.exception.errno, errno.EAGAIN)
        server = self.sock()
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        with self.assertRaises(BlockingIOError):
            server.accept()
        b.setblocking(True)
        self.assertIsNone(b.gettimeout())

    def test_non_blocking_connect_is_in_progress(self) -> None:
        server = sbtest.EchoServer()
        self.addCleanup(server.close)
        s = self.sock()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", server.port))
        except BlockingIOError as e:
            self.assertEqual(e.errno, errno.EINPROGRESS)
        s.setblocking(True)
        for _ in range(100):
            if s.getsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_ERROR) == 0:
                try:
                    s.getpeername()
                    break
                except OSError:
                    pass
            time.sleep(0.01)
        s.sendall(b"connected")
        self.assertEqual(s.recv(100), b"connected")

    def test_sock_nonblock_type_flag(self) -> None:
        s = self.sock(sockbroker.AF_INET, sockbroker.SOCK_STREAM | sockbroker.SOCK_NONBLOCK)
        self.assertIs(s.type, sockbroker.SOCK_STREAM)
        self.assertEqual(s.gettimeout(), 0.0)

    def test_default_timeout(self) -> None:
        sockbroker.setdefaulttimeout(1.5)
        self.assertEqual(sockbroker.getdefaulttimeout(), 1.5)
        s = self.sock()
        self.assertEqual(s.gettimeout(), 1.5)
        s.bind(("127.0.0.1", 0))
        s.listen()
        c = self.sock()
        c.connect(s.getsockname())
        conn, _ = s.accept()
        self.addCleanup(conn.close)
        self.assertEqual(conn.gettimeout(), 1.5)
        sockbroker.setdefaulttimeout(None)
        conn2_client = self.sock()
        conn2_client.connect(s.getsockname())
        conn2, _ = s.accept()
        self.addCleanup(conn2.close)
        self.assertIsNone(conn2.gettimeout())
        with self.assertRaises(ValueError):
            sockbroker.setdefaulttimeout(-1)


class ObjectsTest(sbtest.BrokerTestCase):
    def test_makefile_lines(self) -> None:
        a, b = self.pair()
        reader = b.makefile("r", encoding="utf-8", newline="\n")
        writer = a.makefile("w", encoding="utf-8")
        writer.write("first line\nsecond line\n")
        writer.flush()
        self.assertEqual(reader.readline(), "first line\n")
        self.assertEqual(reader.readline(), "second line\n")
        binary = b.makefile("rwb")
        a.sendall(b"bytes line\r\n")
        self.assertEqual(binary.readline(), b"bytes line\r\n")
        binary.write(b"written back")
        binary.flush()
        self.assertEqual(a.recv(100), b"written back")
        # The socket closes only once its files are closed too.
        b.close()
        a.sendall(b"still open\n")
        self.assertEqual(reader.readline(), "still open\n")
        for f in (reader, binary, writer):
            f.close()
        self.assertEqual(b.fileno(), -1)
        self.assertEqual(a.recv(10), b"")

    def test_makefile_timeout(self) -> None:
        a, b = self.pair()
        b.settimeout(0.1)
        f = b.makefile("rb")
        self.addCleanup(f.close)
        with self.assertRaises(TimeoutError):
            f.readline()

    def test_fileno_detach_and_adopt(self) -> None:
        a, b = self.pair()
        handle = a.fileno()
        self.assertEqual(a.detach(), handle)
        self.assertEqual(a.fileno(), -1)
        again = sockbroker.socket(fileno=handle)
        self.addCleanup(again.close)
        self.assertEqual(again.fileno(), handle)
        self.assertIs(again.family, sockbroker.AF_UNIX)
        self.assertIs(again.type, sockbroker.SOCK_STREAM)
        again.sendall(b"adopted")
        self.assertEqual(b.recv(100), b"adopted")
        with self.assertRaises(OSError) as cm:
            sockbroker.socket(fileno=2**50)
        self.assertEqual(cm.exception.errno, errno.EBADF)

    def test_dup_and_fromfd(self) -> None:
        a, b = self.pair()
        copy = a.dup()
        self.addCleanup(copy.close)
        self.assertNotEqual(copy.fileno(), a.fileno())
        a.close()
        copy.sendall(b"from the copy")
        self.assertEqual(b.recv(100), b"from the copy")
        other = sockbroker.fromfd(copy.fileno(), sockbroker.AF_UNIX, sockbroker.SOCK_STREAM)
        self.addCleanup(other.close)
        other.sendall(b"from fromfd")
        self.assertEqual(b.recv(100), b"from fromfd")
        handle = sockbroker.dup(b.fileno())
        sockbroker.close(handle)
        with self.assertRaises(OSError):
            sockbroker.close(handle)

    def test_inheritable_flag(self) -> None:
        s = self.sock()
        self.assertFalse(s.get_inheritable())
        s.set_inheritable(True)
        self.assertTrue(s.get_inheritable())

    def test_socket_options(self) -> None:
        s = self.sock()
        s.setsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_KEEPALIVE, True)
        self.assertEqual(s.getsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_KEEPALIVE), 1)
        linger = struct.pack("ii", 1, 5)
        s.setsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_LINGER, linger)
        self.assertEqual(s.getsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_LINGER, 8), linger)
        self.assertEqual(s.getsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_TYPE),
                         sockbroker.SOCK_STREAM)
        with self.assertRaises(OSError) as cm:
            s.getsockopt(sockbroker.SOL_SOCKET, 9999)
        self.assertEqual(cm.exception.errno, errno.ENOPROTOOPT)

    def test_repr_and_pickle(self) -> None:
        s = self.sock()
        s.bind(("127.0.0.1", 0))
        text = repr(s)
        self.assertIn(f"fd={s.fileno()}, handle={s._handle}", text)
        self.assertIn("laddr=('127.0.0.1'", text)
        import pickle
        with self.assertRaises(TypeError):
            pickle.dumps(s)

    def test_unclosed_socket_warns_and_is_closed(self) -> None:
        s = sockbroker.socket()
        handle = s._handle
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del s
            gc.collect()
        self.assertTrue(any(issubclass(w.category, ResourceWarning) for w in caught))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                self.client.call(pb.Request(getsockname=pb.HandleRequest(handle=handle)),
                                 "address")
            except OSError as e:
                self.assertEqual(e.errno, errno.EBADF)
                return
            time.sleep(0.01)
        self.fail("the handle of a collected socket stayed open")

    def test_socket_type_and_attributes(self) -> None:
        self.assertIs(sockbroker.SocketType, sockbroker.socket)
        s = self.sock()
        self.assertIs(s.client, self.client)
        self.assertIsInstance(s, sockbroker.SocketType)


if __name__ == "__main__":
    unittest.main()
