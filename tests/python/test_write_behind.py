"""Write-behind sends (issue 10, item 5): a send on a stream socket that fits
in the send credit of the newest reply returns at once; its error is raised
by a later call; bigger sends still arrive whole and in order; operations
that must see every earlier write complete wait for them."""

from __future__ import annotations

import array
import errno
import hashlib
import os
import socket as stdsocket
import struct
import threading
import time
import unittest
from typing import Any, Callable, List

import sbtest
import sockbroker

# Bounded waits of these tests, in seconds.
WAIT = 10.0


class DigestServer:
    """A real TCP server on 127.0.0.1: for each connection, reads to EOF
    (sleeping ``pause`` seconds between reads, to keep the client's send
    credit small), then answers the SHA-256 of all it read and its length."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.listener = sbtest.RealSocket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(WAIT)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(WAIT * 3)
            digest = hashlib.sha256()
            total = 0
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    digest.update(data)
                    total += len(data)
                    if self.pause:
                        time.sleep(self.pause)
                conn.sendall(digest.digest() + struct.pack(">Q", total))
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(WAIT)


def read_exactly(sock: Any, size: int) -> bytes:
    data = b""
    for _ in range(1000):
        if len(data) >= size:
            break
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class WriteBehindTest(sbtest.BrokerTestCase):
    def count_calls(self, name: str) -> List[int]:
        """Count calls of the default client's method name from now on."""
        counter = [0]
        original: Callable[..., Any] = getattr(self.client, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return original(*args, **kwargs)

        setattr(self.client, name, counting)
        self.addCleanup(delattr, self.client, name)
        return counter

    def connect_to(self, port: int) -> sockbroker.socket:
        s = sockbroker.create_connection(("127.0.0.1", port), timeout=WAIT * 3)
        self.addCleanup(s.close)
        return s

    def test_sends_within_the_credit_return_without_waiting_for_a_reply(self) -> None:
        echo = sbtest.EchoServer()
        self.addCleanup(echo.close)
        s = self.connect_to(echo.port)
        self.assertGreater(s._wb.credit, 0, "create_connection's reply carries no credit")
        waits = self.count_calls("_wait_reply")
        behind = self.count_calls("start_behind")
        message = b"".join(b"%03d|" % i for i in range(100))
        for i in range(100):
            self.assertEqual(s.send(b"%03d|" % i), 4)
        self.assertEqual(waits[0], 0, "a send within the credit waited for its reply")
        self.assertEqual(behind[0], 100)
        self.assertEqual(read_exactly(s, len(message)), message)

    def test_an_error_of_a_written_behind_send_is_raised_by_a_later_call(self) -> None:
        listener = sbtest.RealSocket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        s = self.connect_to(listener.getsockname()[1])
        listener.settimeout(WAIT)
        conn, _ = listener.accept()
        # The peer goes away with a reset: the kernel refuses later sends.
        conn.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        self.assertEqual(s.send(b"x" * 100), 100)  # written behind: no error yet
        call, _ = s._wb.pending[0]
        deadline = time.monotonic() + WAIT
        while not call.done() and time.monotonic() < deadline:
            time.sleep(0.01)
            self.client.pump(s._session)  # as any thread that reads replies would
        self.assertTrue(call.done(), "the written-behind send was never answered")
        with self.assertRaises(ConnectionError) as caught:
            s.getsockname()
        self.assertNotIsInstance(caught.exception, sockbroker.BrokerConnectionError)
        self.assertIn(caught.exception.errno, (errno.EPIPE, errno.ECONNRESET))
        self.assertEqual(s.getsockname()[0], "127.0.0.1")  # raised once, as SO_ERROR is

    def test_shutdown_waits_for_written_behind_sends_and_raises_their_error(self) -> None:
        listener = sbtest.RealSocket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        s = self.connect_to(listener.getsockname()[1])
        listener.settimeout(WAIT)
        conn, _ = listener.accept()
        conn.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        s.sendall(b"y" * 100)
        self.assertEqual(len(s._wb.pending), 1)
        with self.assertRaises(ConnectionError):
            s.shutdown(sockbroker.SHUT_WR)
        self.assertEqual(len(s._wb.pending), 0)

    def test_sendall_bigger_than_the_credit_sends_every_byte_in_order(self) -> None:
        server = DigestServer(pause=0.002)
        self.addCleanup(server.close)
        s = self.connect_to(server.port)
        credit = s._wb.credit
        self.assertGreater(credit, 0)
        behind = self.count_calls("start_behind")
        payload = os.urandom(3 * credit + 12345)
        expected = hashlib.sha256()
        sent = 0
        # Sends of every size around the credit: some fit (written behind),
        # some do not (they wait), and the big ones are pipelined.
        sizes = [1, 100, 4096, credit // 3, credit - 1, credit, credit + 1, 65536, 7]
        for size in sizes * 4:
            chunk = payload[sent % len(payload):][:size] or payload[:size]
            s.sendall(chunk)
            expected.update(chunk)
            sent += len(chunk)
        s.sendall(payload)
        expected.update(payload)
        sent += len(payload)
        s.shutdown(sockbroker.SHUT_WR)
        answer = read_exactly(s, 40)
        self.assertEqual(struct.unpack(">Q", answer[32:])[0], sent)
        self.assertEqual(answer[:32], expected.digest())
        self.assertGreater(behind[0], 0, "no send was written behind")

    def test_close_waits_for_written_behind_sends(self) -> None:
        server = DigestServer()
        self.addCleanup(server.close)
        s = sockbroker.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        r = s.dup()  # keeps the connection open to read the answer
        listener_side = hashlib.sha256()
        for _ in range(50):
            chunk = os.urandom(1000)
            s.sendall(chunk)
            listener_side.update(chunk)
        calls = [call for call, _ in s._wb.pending]
        self.assertTrue(calls)
        s.close()
        self.assertTrue(all(call.done() for call in calls))
        r.shutdown(sockbroker.SHUT_WR)
        answer = read_exactly(r, 40)
        r.close()
        self.assertEqual(answer[:32], listener_side.digest())

    def test_passing_a_socket_in_scm_rights_waits_for_its_written_behind_sends(self) -> None:
        echo = sbtest.EchoServer()
        self.addCleanup(echo.close)
        t = self.connect_to(echo.port)
        a, b = self.pair()
        t.sendall(b"before passing")
        self.assertEqual(len(t._wb.pending), 1)
        ids = array.array("i", [t.fileno()])
        a.sendmsg([b"h"], [(sockbroker.SOL_SOCKET, sockbroker.SCM_RIGHTS, ids)])
        self.assertEqual(len(t._wb.pending), 0)

    def test_what_is_never_written_behind(self) -> None:
        echo = sbtest.EchoServer()
        self.addCleanup(echo.close)
        s = self.connect_to(echo.port)
        behind = self.count_calls("start_behind")
        s.send(b"a", sockbroker.MSG_NOSIGNAL)  # flags: the daemon's send
        s.sendmsg([b"b"], [], 0, None)
        self.assertEqual(behind[0], 1)  # only the plain sendmsg
        s.setblocking(False)
        s.send(b"c")  # non-blocking mode: the kernel's answer, not the credit's
        s.setblocking(True)
        self.assertEqual(read_exactly(s, 3), b"abc")
        self.assertEqual(behind[0], 1)
        udp = self.sock(sockbroker.AF_INET, sockbroker.SOCK_DGRAM)
        self.assertIsNone(udp._wb)
        self.assertGreater(s._wb.credit, 0)
        with self.assertRaises(TypeError):
            s.send("text is not bytes")  # type: ignore[arg-type]
        big = b"z" * (s._wb.space() + 1)
        count = s.send(big)  # does not fit: the daemon's send answers the count
        self.assertGreater(count, 0)
        self.assertEqual(behind[0], 1)


if __name__ == "__main__":
    unittest.main()
