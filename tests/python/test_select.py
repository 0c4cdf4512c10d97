"""Readiness through the daemon's Poll: sockbroker.select.select/poll and
BrokerSelector, over many brokered sockets and mixed with local pipes."""

from __future__ import annotations

import os
import select as stdselect
import socket as stdsocket
import time
import unittest

import sbtest
import sockbroker
from sockbroker import select as bselect
from sockbroker import selectors as bselectors


class SelectorTest(sbtest.BrokerTestCase):
    def test_selector_over_100_brokered_sockets(self) -> None:
        pairs = [self.pair() for _ in range(50)]
        selector = bselectors.BrokerSelector()
        self.addCleanup(selector.close)
        for i, (a, b) in enumerate(pairs):
            selector.register(a, bselectors.EVENT_READ, ("a", i))
            selector.register(b, bselectors.EVENT_READ, ("b", i))
        self.assertEqual(len(selector.get_map()), 100)
        with sbtest.unsupported_skips(self):
            self.assertEqual(selector.select(0), [])
        writers = [3, 17, 42]
        for i in writers:
            pairs[i][0].sendall(b"x")
        ready = selector.select(5)
        self.assertEqual(sorted(key.data for key, _ in ready), [("b", i) for i in writers])
        self.assertTrue(all(events == bselectors.EVENT_READ for _, events in ready))
        key = selector.get_key(pairs[3][1])
        self.assertEqual(key.data, ("b", 3))
        self.assertEqual(key.fd, pairs[3][1].fileno())
        selector.modify(pairs[0][0], bselectors.EVENT_WRITE, "w")
        ready = selector.select(5)
        self.assertIn(("w", bselectors.EVENT_WRITE), [(k.data, e) for k, e in ready])
        selector.unregister(pairs[0][0])
        with self.assertRaises(KeyError):
            selector.unregister(pairs[0][0])

    def test_selector_timeout_and_hangup(self) -> None:
        a, b = self.pair()
        selector = bselectors.DefaultSelector()
        self.addCleanup(selector.close)
        selector.register(b, bselectors.EVENT_READ)
        start = time.monotonic()
        with sbtest.unsupported_skips(self):
            self.assertEqual(selector.select(0.2), [])
        self.assertGreaterEqual(time.monotonic() - start, 0.15)
        a.close()
        ready = selector.select(5)
        self.assertEqual(len(ready), 1)
        self.assertEqual(b.recv(10), b"")

    def test_selector_mixes_brokered_and_local(self) -> None:
        a, b = self.pair()
        read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, read_fd)
        self.addCleanup(os.close, write_fd)
        selector = bselectors.BrokerSelector()
        self.addCleanup(selector.close)
        selector.register(b, bselectors.EVENT_READ, "broker")
        selector.register(read_fd, bselectors.EVENT_READ, "pipe")
        os.write(write_fd, b"x")
        with sbtest.unsupported_skips(self):
            ready = selector.select(5)
        self.assertEqual([k.data for k, _ in ready], ["pipe"])
        os.read(read_fd, 10)
        a.sendall(b"y")
        ready = selector.select(5)
        self.assertEqual([k.data for k, _ in ready], ["broker"])
        # Nothing ready: the timeout holds for both kinds at once.
        b.recv(10)
        start = time.monotonic()
        self.assertEqual(selector.select(0.2), [])
        self.assertGreaterEqual(time.monotonic() - start, 0.15)

    def test_closed_socket_is_dropped(self) -> None:
        a, b = self.pair()
        c, d = self.pair()
        selector = bselectors.BrokerSelector()
        self.addCleanup(selector.close)
        selector.register(b, bselectors.EVENT_READ)
        selector.register(d, bselectors.EVENT_READ)
        b.close()
        c.sendall(b"z")
        with sbtest.unsupported_skips(self):
            ready = selector.select(5)
        self.assertEqual([k.fileobj for k, _ in ready], [d])


    def test_a_sockets_fileno_given_as_an_int_waits_for_the_socket(self) -> None:
        a, b = self.pair()
        selector = bselectors.BrokerSelector()
        self.addCleanup(selector.close)
        key = selector.register(b.fileno(), bselectors.EVENT_READ)
        self.assertEqual(key.fd, b.fileno())
        with sbtest.unsupported_skips(self):
            self.assertEqual(selector.select(0), [])
        a.sendall(b"x")
        self.assertEqual([k.fileobj for k, _ in selector.select(5)], [b.fileno()])
        self.assertEqual(bselect.select([b.fileno()], [], [], 5)[0], [b.fileno()])

    def test_a_detached_sockets_number_is_refused_as_a_descriptor(self) -> None:
        s = self.sock()
        number = s.detach()
        self.addCleanup(sockbroker.close, number)
        with self.assertRaises(ValueError) as cm:
            bselect.select([number], [], [], 0)
        self.assertIn("socket(fileno=", str(cm.exception))


class SelectFunctionsTest(sbtest.BrokerTestCase):
    def test_select(self) -> None:
        a, b = self.pair()
        with sbtest.unsupported_skips(self):
            self.assertEqual(bselect.select([b], [], [], 0), ([], [], []))
        r, w, x = bselect.select([b], [a], [], 5)
        self.assertEqual((r, w, x), ([], [a], []))
        a.sendall(b"data")
        r, w, x = bselect.select([a, b], [], [], 5)
        self.assertEqual(r, [b])
        with self.assertRaises(ValueError):
            bselect.select([b], [], [], -1)
        closed = sockbroker.socket()
        closed.close()
        with self.assertRaises(ValueError):
            bselect.select([closed], [], [], 0)

    def test_select_with_a_local_pipe(self) -> None:
        a, b = self.pair()
        read_fd, write_fd = os.pipe()
        self.addCleanup(os.close, read_fd)
        self.addCleanup(os.close, write_fd)
        os.write(write_fd, b"x")
        with sbtest.unsupported_skips(self):
            r, _, _ = bselect.select([b, read_fd], [], [], 5)
        self.assertEqual(r, [read_fd])
        # Only local descriptors: the kernel's select answers alone.
        self.assertEqual(bselect.select([read_fd], [], [], 0)[0], [read_fd])

    def test_poll_object(self) -> None:
        a, b = self.pair()
        poller = bselect.poll()
        poller.register(b, bselect.POLLIN)
        poller.register(a, bselect.POLLOUT)
        with sbtest.unsupported_skips(self):
            result = poller.poll(1000)
        self.assertEqual(result, [(a.fileno(), bselect.POLLOUT)])
        poller.modify(a, bselect.POLLIN)
        a.sendall(b"x")
        self.assertEqual(poller.poll(1000), [(b.fileno(), bselect.POLLIN)])
        poller.unregister(b)
        self.assertEqual(poller.poll(0), [])
        with self.assertRaises(KeyError):
            poller.unregister(b)
        with self.assertRaises(FileNotFoundError):
            poller.modify(b, bselect.POLLIN)


class PollConstantsTest(sbtest.BrokerTestCase):
    NAMES = ("POLLIN", "POLLPRI", "POLLOUT", "POLLERR", "POLLHUP", "POLLNVAL", "POLLRDNORM",
             "POLLRDBAND", "POLLWRNORM", "POLLWRBAND", "POLLMSG", "POLLRDHUP", "PIPE_BUF")

    def test_the_constants_are_the_standard_modules(self) -> None:
        for name in self.NAMES:
            self.assertIn(name, bselect.__all__)
            if hasattr(stdselect, name):
                self.assertEqual(getattr(bselect, name), getattr(stdselect, name), name)

    def test_pollrdhup_is_reported_with_a_hangup(self) -> None:
        a, b = self.pair()
        poller = bselect.poll()
        poller.register(b, bselect.POLLIN | bselect.POLLRDHUP)
        with sbtest.unsupported_skips(self):
            self.assertEqual(poller.poll(0), [])
        a.close()
        [(handle, revents)] = poller.poll(5000)
        self.assertEqual(handle, b.fileno())
        for bit in (bselect.POLLIN, bselect.POLLHUP, bselect.POLLRDHUP):
            self.assertTrue(revents & bit, hex(revents))

    def test_pollrdhup_unasked_is_not_reported(self) -> None:
        a, b = self.pair()
        poller = bselect.poll()
        poller.register(b, bselect.POLLIN)
        a.close()
        with sbtest.unsupported_skips(self):
            [(_, revents)] = poller.poll(5000)
        self.assertTrue(revents & bselect.POLLHUP)
        self.assertFalse(revents & bselect.POLLRDHUP)

    def test_band_and_message_bits_are_never_reported_for_brokered_sockets(self) -> None:
        a, b = self.pair()
        a.sendall(b"x")  # b is readable, both are writable
        poller = bselect.poll()
        for sock in (a, b):
            poller.register(sock, bselect.POLLRDBAND | bselect.POLLWRBAND | bselect.POLLMSG)
        with sbtest.unsupported_skips(self):
            self.assertEqual(poller.poll(0), [])

    def test_local_descriptors_get_the_kernels_bits(self) -> None:
        local, peer = stdsocket.socketpair()
        self.addCleanup(local.close)
        self.addCleanup(peer.close)
        poller = bselect.poll()
        poller.register(local, bselect.POLLRDHUP)
        self.assertEqual(poller.poll(0), [])
        peer.shutdown(stdsocket.SHUT_WR)
        [(fd, revents)] = poller.poll(5000)
        self.assertEqual(fd, local.fileno())
        self.assertTrue(revents & bselect.POLLRDHUP)


class SelectorAliasesTest(sbtest.BrokerTestCase):
    NAMES = ("DefaultSelector", "SelectSelector", "PollSelector", "EpollSelector")

    def test_the_standard_names_are_the_brokered_selector(self) -> None:
        for name in self.NAMES:
            self.assertIs(getattr(bselectors, name), bselectors.BrokerSelector, name)
            self.assertIn(name, bselectors.__all__)

    def test_a_selector_by_a_standard_name_waits_on_brokered_sockets(self) -> None:
        a, b = self.pair()
        for name in self.NAMES:
            selector = getattr(bselectors, name)()
            self.addCleanup(selector.close)
            selector.register(b, bselectors.EVENT_READ, name)
            with sbtest.unsupported_skips(self):
                self.assertEqual(selector.select(0), [])
            a.sendall(b"x")
            self.assertEqual([key.data for key, _ in selector.select(5)], [name])
            self.assertEqual(b.recv(10), b"x")
            with self.assertRaises(KeyError):
                selector.register(b, bselectors.EVENT_READ)
            with self.assertRaises(ValueError):
                selector.register(a, 0)


if __name__ == "__main__":
    unittest.main()
