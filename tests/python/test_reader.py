"""Replies are read on the calling threads (leader/follower, issue 10): a
lone caller reads its own reply with no thread of the client's; of several
waiting threads one reads at a time and hands each reply to its owner; the
role passes on when the reader's own reply is in, or when it is interrupted;
a lost connection fails the reader and the threads waiting behind it."""

from __future__ import annotations

import signal
import threading
import time
import unittest
from typing import Any, Dict, List

import sbtest
import sockbroker
from sockbroker import _core

# Bounded waits of these tests, in seconds.
WAIT = 10.0


class ReaderTest(sbtest.BrokerTestCase):
    def readers_of_replies(self) -> List[int]:
        """The threads that hand replies over from now on, one entry per
        reply."""
        seen: List[int] = []
        original = self.client._deliver

        def deliver(session: Any, data: bytes) -> None:
            seen.append(threading.get_ident())
            original(session, data)

        self.client._deliver = deliver  # type: ignore[method-assign]
        self.addCleanup(delattr, self.client, "_deliver")
        return seen

    def test_a_lone_caller_reads_its_own_replies_with_no_thread_of_the_client(self) -> None:
        before = set(threading.enumerate())
        client = sockbroker.connect(self.daemon.url)
        self.addCleanup(client.close)
        s = client.socket()
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        self.assertEqual(s.getsockname()[0], "127.0.0.1")
        self.assertEqual(set(threading.enumerate()), before, "the client started a thread")

        seen = self.readers_of_replies()
        t = self.sock()
        t.bind(("127.0.0.1", 0))
        t.getsockname()
        self.assertTrue(seen)
        self.assertEqual(set(seen), {threading.get_ident()})

    def test_another_thread_is_answered_while_the_reader_waits_in_recv(self) -> None:
        a, b = self.pair()
        result: Dict[str, Any] = {}
        started = threading.Event()

        def blocked() -> None:
            started.set()
            result["recv"] = b.recv(100)  # the reader for as long as it waits

        t = threading.Thread(target=blocked)
        t.start()
        self.addCleanup(t.join, WAIT)
        self.assertTrue(started.wait(WAIT))
        time.sleep(0.1)  # the recv is parked in the daemon
        seen = self.readers_of_replies()
        for _ in range(20):
            self.assertEqual(a.getsockname(), b.getpeername())
        self.assertTrue(t.is_alive())
        self.assertIn(t.ident, seen, "the waiting recv's thread read no reply")
        a.sendall(b"at last")
        t.join(WAIT)
        self.assertEqual(result.get("recv"), b"at last")

    def test_the_reader_role_passes_on_when_the_readers_reply_is_in(self) -> None:
        pairs = [self.pair() for _ in range(4)]
        results: Dict[int, bytes] = {}
        seen = self.readers_of_replies()

        def receive(i: int) -> None:
            results[i] = pairs[i][1].recv(100)

        threads = [threading.Thread(target=receive, args=(i,)) for i in range(len(pairs))]
        for t in threads:
            t.start()
        time.sleep(0.2)  # every recv is parked: one thread reads, three sleep
        # Answer them one at a time: each answer ends the wait of whichever
        # thread reads or wakes a sleeping one, and the others still get
        # theirs.
        for i, t in enumerate(threads):
            pairs[i][0].sendall(b"to %d" % i)
            t.join(WAIT)
            self.assertFalse(t.is_alive(), f"recv {i} was not answered")
        self.assertEqual(results, {i: b"to %d" % i for i in range(len(pairs))})
        readers = {t.ident for t in threads} & set(seen)
        self.assertGreater(len(readers), 1, "the reader role never passed on")

    def test_an_interrupted_reader_passes_the_role_on(self) -> None:
        a, b = self.pair()
        c, d = self.pair()
        result: Dict[str, Any] = {}
        started = threading.Event()

        def follower() -> None:
            started.set()
            result["recv"] = d.recv(100)

        class Interrupted(Exception):
            pass

        def on_alarm(signum: int, frame: object) -> None:
            raise Interrupted()

        # Only the role passing on can wake the follower within the test.
        recheck = _core.FOLLOWER_RECHECK
        _core.FOLLOWER_RECHECK = WAIT * 3
        self.addCleanup(setattr, _core, "FOLLOWER_RECHECK", recheck)
        previous = signal.signal(signal.SIGALRM, on_alarm)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        # This thread reads (it waits first), the other sleeps behind it.
        signal.setitimer(signal.ITIMER_REAL, 0.4)
        t = threading.Thread(target=lambda: (time.sleep(0.1), follower()))
        t.start()
        self.addCleanup(t.join, WAIT)
        with self.assertRaises(Interrupted):
            b.recv(100)
        self.assertTrue(started.wait(WAIT))
        c.sendall(b"for the follower")
        t.join(WAIT)
        self.assertEqual(result.get("recv"), b"for the follower")
        a.sendall(b"not lost")
        b.settimeout(WAIT)
        self.assertEqual(b.recv(100), b"not lost")

    def test_written_behind_replies_are_taken_in_by_the_next_reader(self) -> None:
        echo = sbtest.EchoServer()
        self.addCleanup(echo.close)
        s = sockbroker.create_connection(("127.0.0.1", echo.port), timeout=WAIT)
        self.addCleanup(s.close)
        s.sendall(b"behind")
        calls = [call for call, _ in s._wb.pending]
        self.assertEqual(len(calls), 1)
        other = self.sock()
        other.bind(("127.0.0.1", 0))
        other.getsockname()  # reads every reply up to its own
        self.assertTrue(calls[0].done())
        self.assertEqual(s.recv(100), b"behind")


class LostWhileReadingTest(unittest.TestCase):
    def test_the_reader_and_the_threads_behind_it_fail_when_the_daemon_goes(self) -> None:
        daemon = sbtest.Daemon()
        self.addCleanup(daemon.cleanup)
        client = sockbroker.connect(daemon.url)
        self.addCleanup(client.close)
        pairs = [client.socketpair() for _ in range(3)]
        errors: List[BaseException] = []

        def receive(i: int) -> None:
            try:
                pairs[i][1].recv(10)
            except BaseException as e:  # noqa: B902
                errors.append(e)

        threads = [threading.Thread(target=receive, args=(i,)) for i in range(len(pairs))]
        for t in threads:
            t.start()
        time.sleep(0.2)
        daemon.kill()
        for t in threads:
            t.join(WAIT)
            self.assertFalse(t.is_alive(), "a waiting call hung after the connection was lost")
        self.assertEqual(len(errors), len(pairs))
        for e in errors:
            self.assertIsInstance(e, sockbroker.BrokerConnectionError)


if __name__ == "__main__":
    unittest.main()
