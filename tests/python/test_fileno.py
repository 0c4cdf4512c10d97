"""fileno() of a brokered socket (issue 13): a descriptor of this process,
reserved for as long as the socket lives, so that its number never names
another open file; sockbroker.select, its poll() and selectors wait for the
socket itself when given the number, next to local descriptors."""

from __future__ import annotations

import array
import os
import stat
import unittest

import sbtest
import sockbroker
from sockbroker import _socket
from sockbroker import select as bselect

# Bounded waits of these tests, in milliseconds.
WAIT_MS = 10000


def is_reserved_descriptor(number: int) -> bool:
    """Whether number is open here on /dev/null (a reservation)."""
    try:
        info = os.fstat(number)
    except OSError:
        return False
    null = os.stat(os.devnull)
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == null.st_rdev


class FilenoTest(sbtest.BrokerTestCase):
    def test_fileno_is_a_descriptor_reserved_while_the_socket_lives(self) -> None:
        socks = [sockbroker.socket() for _ in range(5)]
        numbers = [s.fileno() for s in socks]
        self.assertEqual(len(set(numbers)), len(numbers))
        for number in numbers:
            self.assertTrue(is_reserved_descriptor(number), number)
        # Files opened now never get one of those numbers.
        read_end, write_end = os.pipe()
        self.addCleanup(os.close, read_end)
        self.addCleanup(os.close, write_end)
        self.assertFalse({read_end, write_end} & set(numbers))
        for s in socks:
            s.close()
            self.assertEqual(s.fileno(), -1)
        for number in numbers:
            self.assertFalse(_socket.is_reserved_number(number))

    def test_a_detached_number_stays_reserved_until_taken_up_or_closed(self) -> None:
        a, b = self.pair()
        number = a.detach()
        self.assertTrue(is_reserved_descriptor(number))
        again = sockbroker.socket(fileno=number)
        self.assertEqual(again.fileno(), number)
        again.sendall(b"still here")
        self.assertEqual(b.recv(100), b"still here")
        again.close()
        self.assertFalse(_socket.is_reserved_number(number))
        copy = sockbroker.dup(b.fileno())
        self.assertTrue(is_reserved_descriptor(copy))
        sockbroker.close(copy)
        self.assertFalse(_socket.is_reserved_number(copy))

    def test_received_sockets_get_reserved_numbers(self) -> None:
        carrier_a, carrier_b = self.pair()
        x, y = self.pair()
        sockbroker.send_fds(carrier_a, [b"take"], [x.fileno()])
        data, numbers, _, _ = sockbroker.recv_fds(carrier_b, 100, 1)
        self.assertEqual(data, b"take")
        self.assertEqual(len(numbers), 1)
        self.assertTrue(is_reserved_descriptor(numbers[0]))
        with sockbroker.socket(fileno=numbers[0]) as received:
            received.sendall(b"via the passed socket")
            self.assertEqual(y.recv(100), b"via the passed socket")
        self.assertEqual(array.array("i", numbers).itemsize, 4)

    def test_poll_waits_for_a_sockets_fileno_next_to_a_pipe(self) -> None:
        a, b = self.pair()
        read_end, write_end = os.pipe()
        self.addCleanup(os.close, read_end)
        self.addCleanup(os.close, write_end)
        poller = bselect.poll()
        poller.register(b.fileno(), bselect.POLLIN)
        poller.register(read_end, bselect.POLLIN)
        with sbtest.unsupported_skips(self):
            self.assertEqual(poller.poll(0), [])
        a.sendall(b"x")
        self.assertEqual(poller.poll(WAIT_MS), [(b.fileno(), bselect.POLLIN)])
        self.assertEqual(b.recv(1), b"x")
        os.write(write_end, b"y")
        self.assertEqual(poller.poll(WAIT_MS), [(read_end, bselect.POLLIN)])


if __name__ == "__main__":
    unittest.main()
