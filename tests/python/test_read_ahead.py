"""Read-ahead on stream sockets (issue 19): a recv that finds bytes already
read ahead is answered without a request; every flag, mode and call keeps
its meaning. The daemon here listens on ipc://, where read-ahead is off by
default: $SOCKBROKER_READ_AHEAD turns it on for these tests (and the default
per transport is tested on its own)."""

from __future__ import annotations

import os
import socket as stdsocket
import struct
import threading
import unittest
from typing import Any, List

import sbtest
import sockbroker
from sockbroker import _socket

WAIT = 10.0


def pattern(size: int) -> bytes:
    return bytes((i * 2654435761 >> 13) & 0xFF for i in range(size))


class Peer:
    """A real TCP peer on 127.0.0.1 for one brokered connection: the test
    sends and closes through ``conn`` (the kernel's socket)."""

    def __init__(self, test: unittest.TestCase) -> None:
        listener = sbtest.RealSocket()
        test.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(WAIT)
        self.sock = sockbroker.create_connection(listener.getsockname(), timeout=WAIT)
        test.addCleanup(self.sock.close)
        self.conn, _ = listener.accept()
        test.addCleanup(self.conn.close)


class ReadAheadTest(sbtest.BrokerTestCase):
    def setUp(self) -> None:
        super().setUp()
        old = os.environ.get(_socket.READ_AHEAD_ENV)
        os.environ[_socket.READ_AHEAD_ENV] = "1"
        if old is None:
            self.addCleanup(os.environ.pop, _socket.READ_AHEAD_ENV, None)
        else:
            self.addCleanup(os.environ.__setitem__, _socket.READ_AHEAD_ENV, old)

    def count_sends(self) -> List[int]:
        """Count the requests the default client sends from now on."""
        counter = [0]
        original = self.client._send

        def counting(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return original(*args, **kwargs)

        self.client._send = counting  # type: ignore[method-assign]
        self.addCleanup(delattr, self.client, "_send")
        return counter

    def read_exactly(self, sock: Any, size: int, step: int) -> bytes:
        data = b""
        for _ in range(100000):
            if len(data) >= size:
                break
            chunk = sock.recv(min(step, size - len(data)))
            if not chunk:
                break
            data += chunk
        return data

    def test_the_default_is_per_transport_and_the_variable_forces_it(self) -> None:
        del os.environ[_socket.READ_AHEAD_ENV]
        self.assertTrue(_socket.read_ahead_wanted("tcp://127.0.0.1:1"))
        self.assertTrue(_socket.read_ahead_wanted("tls+tcp://host:1"))
        self.assertFalse(_socket.read_ahead_wanted("ipc:///run/x"))
        self.assertFalse(_socket.read_ahead_wanted("abstract://x"))
        os.environ[_socket.READ_AHEAD_ENV] = "off"
        self.assertFalse(_socket.read_ahead_wanted("tcp://127.0.0.1:1"))
        self.assertIsNone(Peer(self).sock._ra)
        os.environ[_socket.READ_AHEAD_ENV] = "on"
        self.assertTrue(_socket.read_ahead_wanted("ipc:///run/x"))
        self.assertIsNotNone(Peer(self).sock._ra)
        # Not on datagram or AF_UNIX sockets (SCM_RIGHTS must reach recvmsg).
        self.assertIsNone(self.sock(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)._ra)
        self.assertIsNone(self.pair()[0]._ra)

    def test_bytes_already_read_ahead_need_no_request(self) -> None:
        peer = Peer(self)
        size = 256 * 1024
        data = pattern(size)
        peer.conn.sendall(data)
        peer.conn.shutdown(stdsocket.SHUT_WR)
        sends = self.count_sends()
        got = self.read_exactly(peer.sock, size, 4096)
        self.assertEqual(got, data)
        self.assertEqual(peer.sock.recv(10), b"")
        self.assertEqual(peer.sock.recv(10), b"", "EOF is given again, as the kernel does")
        # Without read-ahead: one request per recv (64 + 2).
        self.assertLess(sends[0], size // 4096 // 2,
                        "most recvs should be answered from bytes read ahead")

    def test_recv_into_recvfrom_and_makefile_read_in_order(self) -> None:
        peer = Peer(self)
        data = pattern(100000)
        peer.conn.sendall(data)
        peer.conn.close()
        s = peer.sock
        got = bytearray(s.recv(1000))
        buf = bytearray(3000)
        n = s.recv_into(buf)
        got += buf[:n]
        n, address = s.recvfrom_into(buf, 500)
        self.assertIsNone(address)
        got += buf[:n]
        chunk, address = s.recvfrom(700)
        self.assertIsNone(address)
        got += chunk
        with s.makefile("rb") as f:
            got += f.read()
        self.assertEqual(bytes(got), data)

    def test_peek_and_waitall_see_the_bytes_read_ahead(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"hello world")
        self.assertEqual(s.recv(5), b"hello")
        peeked = s.recv(100, stdsocket.MSG_PEEK)
        self.assertTrue(peeked and b" world".startswith(peeked), peeked)
        self.assertEqual(self.read_exactly(s, 6, 100), b" world")
        # MSG_WAITALL: the buffered bytes, then the daemon waits for the rest.
        peer.conn.sendall(b"0123456789")
        self.assertEqual(s.recv(4), b"0123")
        sender = threading.Timer(0.05, peer.conn.sendall, (b"abcdefghij",))
        sender.start()
        self.addCleanup(sender.join)
        # (The daemon's MSG_WAITALL may stop short at a wake-up, as before
        # read-ahead: what it gives comes after the buffered bytes, in order.)
        got = s.recv(16, stdsocket.MSG_WAITALL)
        self.assertTrue(got.startswith(b"456789"), got)
        got += self.read_exactly(s, 16 - len(got), 16)
        self.assertEqual(got, b"456789abcdefghij")

    def test_a_timeout_keeps_its_meaning_and_loses_no_byte(self) -> None:
        peer = Peer(self)
        s = peer.sock
        s.settimeout(0.2)
        peer.conn.sendall(b"first")
        self.assertEqual(s.recv(100), b"first")
        with self.assertRaises(stdsocket.timeout):
            s.recv(100)  # nothing comes: the read-ahead outstanding times out
        peer.conn.sendall(b"second")
        self.assertEqual(self.read_exactly(s, 6, 100), b"second")

    def test_non_blocking_mode_serves_the_buffer_then_asks(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"0123456789")
        self.assertEqual(s.recv(4), b"0123")
        s.setblocking(False)
        self.assertEqual(s.recv(100), b"456789")
        with self.assertRaises(BlockingIOError):
            s.recv(100)

    def test_buffered_bytes_make_the_socket_readable(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"0123456789")
        self.assertEqual(s.recv(4), b"0123")
        # The daemon's kernel socket may be empty now: the bytes are here.
        readable, _, _ = sockbroker.select.select([s], [], [], WAIT)
        self.assertEqual(readable, [s])
        self.assertEqual(s.recv(100), b"456789")
        readable, _, _ = sockbroker.select.select([s], [], [], 0)
        self.assertEqual(readable, [])

    def test_so_rcvlowat_stops_the_read_ahead(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"ab")
        self.assertEqual(s.recv(1), b"a")  # read-ahead started
        s.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_RCVLOWAT, 10)
        # Nothing waits in the daemon ahead of the kernel's low-water mark;
        # what was read ahead comes first.
        self.assertFalse(s._ra.calls)
        self.assertEqual(s.recv(100), b"b")
        peer.conn.sendall(b"0123456789")
        sends = self.count_sends()
        self.assertEqual(self.read_exactly(s, 10, 100), b"0123456789")
        self.assertFalse(s._ra.calls)
        self.assertGreaterEqual(sends[0], 1)

    def test_close_with_read_ahead_outstanding(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"0123456789")
        self.assertEqual(s.recv(4), b"0123")
        self.assertTrue(s._ra.calls or s._ra.buf)
        s.close()
        # The session goes on: a new socket works, nothing waits.
        other = Peer(self)
        other.conn.sendall(b"x")
        self.assertEqual(other.sock.recv(1), b"x")

    def test_shutdown_ends_the_read_ahead_with_eof(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"01")
        self.assertEqual(s.recv(1), b"0")
        s.shutdown(stdsocket.SHUT_RD)
        self.assertEqual(s.recv(10), b"1")
        self.assertEqual(s.recv(10), b"")

    def test_detach_and_dup_keep_the_bytes_read_ahead(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"0123456789")
        self.assertEqual(s.recv(2), b"01")
        d = s.dup()
        self.addCleanup(d.close)
        self.assertEqual(d.recv(2), b"23")
        number = s.detach()
        again = sockbroker.socket(fileno=number)
        self.addCleanup(again.close)
        self.assertEqual(self.read_exactly(again, 6, 3), b"456789")
        d.close()
        peer.conn.sendall(b"more")
        self.assertEqual(self.read_exactly(again, 4, 10), b"more")

    def test_an_error_comes_after_the_buffered_bytes(self) -> None:
        peer = Peer(self)
        s = peer.sock
        peer.conn.sendall(b"01")
        self.assertEqual(s.recv(1), b"0")
        # The peer resets; what was read ahead still comes first.
        readable, _, _ = sockbroker.select.select([s], [], [], WAIT)
        self.assertEqual(readable, [s])
        peer.conn.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.conn.close()
        self.assertEqual(s.recv(10), b"1")
        try:
            end = s.recv(10)
        except ConnectionResetError:
            end = b""
        self.assertEqual(end, b"", "nothing but the end after the reset")

if __name__ == "__main__":
    unittest.main()
