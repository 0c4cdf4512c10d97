"""sendmsg/recvmsg and ancillary data: scatter/gather, SCM_RIGHTS between
brokered sockets (handles become new handles), IP_PKTINFO on UDP."""

from __future__ import annotations

import array
import errno
import socket as stdsocket
import struct
import unittest

import sbtest
import sockbroker


class MsgTest(sbtest.BrokerTestCase):
    def test_sendmsg_gathers_and_recvmsg_returns_four_items(self) -> None:
        a, b = self.pair()
        with sbtest.unsupported_skips(self):
            buffers = [b"Mary had ", memoryview(b"a little"), bytearray(b" lamb")]
            self.assertEqual(a.sendmsg(buffers), 22)
        with sbtest.unsupported_skips(self):
            data, ancdata, flags, address = b.recvmsg(100)
        self.assertEqual(data, b"Mary had a little lamb")
        self.assertEqual(ancdata, [])
        self.assertEqual(flags, 0)
        self.assertIn(address, (None, ""))

    def test_recvmsg_into_scatters(self) -> None:
        # The reference's own example.
        s1, s2 = self.pair()
        b1 = bytearray(b"----")
        b2 = bytearray(b"0123456789")
        b3 = bytearray(b"--------------")
        s1.send(b"Mary had a little lamb")
        with sbtest.unsupported_skips(self):
            result = s2.recvmsg_into([b1, memoryview(b2)[2:9], b3])
        self.assertEqual(result[0], 22)
        self.assertEqual(result[1:3], ([], 0))
        self.assertEqual([b1, b2, b3], [bytearray(b"Mary"), bytearray(b"01 had a 9"),
                                        bytearray(b"little lamb---")])

    def test_scm_rights_passes_a_brokered_socket(self) -> None:
        carrier_a, carrier_b = self.pair()
        x, y = self.pair()
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.send_fds(carrier_a, [b"take this"], [x.fileno()]), 9)
        with sbtest.unsupported_skips(self):
            msg, fds, flags, address = sockbroker.recv_fds(carrier_b, 100, 4)
        self.assertEqual(msg, b"take this")
        self.assertEqual(len(fds), 1)
        self.assertNotEqual(fds[0], x.fileno())  # a new handle for the same socket
        received = sockbroker.socket(fileno=fds[0])
        self.addCleanup(received.close)
        self.assertIs(received.family, sockbroker.AF_UNIX)
        received.sendall(b"through the passed socket")
        self.assertEqual(y.recv(100), b"through the passed socket")

    def test_scm_rights_with_raw_sendmsg_and_recvmsg(self) -> None:
        carrier_a, carrier_b = self.pair()
        x1, y1 = self.pair()
        x2, y2 = self.pair()
        ids = array.array("i", [x1.fileno(), x2.fileno()])
        with sbtest.unsupported_skips(self):
            carrier_a.sendmsg([b"two"], [(sockbroker.SOL_SOCKET, sockbroker.SCM_RIGHTS, ids)])
        with sbtest.unsupported_skips(self):
            data, ancdata, flags, _ = carrier_b.recvmsg(10, sockbroker.CMSG_SPACE(2 * ids.itemsize))
        self.assertEqual(data, b"two")
        self.assertEqual(len(ancdata), 1)
        level, type_, cmsg_data = ancdata[0]
        self.assertEqual((level, type_), (sockbroker.SOL_SOCKET, sockbroker.SCM_RIGHTS))
        handles = array.array("i")
        handles.frombytes(cmsg_data)
        self.assertEqual(len(handles), 2)
        for handle, peer in zip(handles, (y1, y2)):
            with sockbroker.socket(fileno=handle) as s:
                s.sendall(b"ok %d" % handle)
                self.assertEqual(peer.recv(100), b"ok %d" % handle)

    def test_too_small_ancillary_buffer_truncates(self) -> None:
        carrier_a, carrier_b = self.pair()
        x, _ = self.pair()
        ids = array.array("i", [x.fileno()] * 4)
        with sbtest.unsupported_skips(self):
            carrier_a.sendmsg([b"four"], [(sockbroker.SOL_SOCKET, sockbroker.SCM_RIGHTS, ids)])
            data, ancdata, flags, _ = carrier_b.recvmsg(10, sockbroker.CMSG_LEN(4))
        self.assertEqual(data, b"four")
        self.assertTrue(flags & sockbroker.MSG_CTRUNC)
        for level, type_, cmsg_data in ancdata:
            handles = array.array("i")
            handles.frombytes(cmsg_data[:len(cmsg_data) - len(cmsg_data) % 4])
            for handle in handles:
                sockbroker.close(handle)

    def test_scm_rights_of_an_unknown_handle_is_ebadf(self) -> None:
        carrier_a, _ = self.pair()
        with sbtest.unsupported_skips(self):
            with self.assertRaises(OSError) as cm:
                carrier_a.sendmsg([b"x"], [(sockbroker.SOL_SOCKET, sockbroker.SCM_RIGHTS,
                                            array.array("i", [2**30]))])
        self.assertEqual(cm.exception.errno, errno.EBADF)

    def test_ip_pktinfo_on_udp(self) -> None:
        receiver = self.sock(sockbroker.AF_INET, sockbroker.SOCK_DGRAM)
        receiver.bind(("127.0.0.1", 0))
        receiver.setsockopt(sockbroker.IPPROTO_IP, sockbroker.IP_PKTINFO, 1)
        sender = self.sock(sockbroker.AF_INET, sockbroker.SOCK_DGRAM)
        with sbtest.unsupported_skips(self):
            sender.sendmsg([b"with pktinfo"], [], 0, receiver.getsockname())
        receiver.settimeout(5)
        with sbtest.unsupported_skips(self):
            data, ancdata, flags, address = receiver.recvmsg(100, sockbroker.CMSG_SPACE(12))
        self.assertEqual(data, b"with pktinfo")
        self.assertEqual(address, ("127.0.0.1", sender.getsockname()[1]))
        self.assertEqual(len(ancdata), 1)
        level, type_, cmsg_data = ancdata[0]
        self.assertEqual((level, type_), (sockbroker.IPPROTO_IP, sockbroker.IP_PKTINFO))
        ifindex, spec_dst, addr = struct.unpack("i4s4s", cmsg_data)
        self.assertEqual(stdsocket.inet_ntoa(addr), "127.0.0.1")
        self.assertGreater(ifindex, 0)

    def test_sendmsg_afalg(self) -> None:
        try:
            tfm = self.sock(sockbroker.AF_ALG, sockbroker.SOCK_SEQPACKET)
        except OSError as e:
            if e.errno != errno.EAFNOSUPPORT:
                raise
            self.skipTest("SKIP: the daemon's kernel has no AF_ALG")
        with sbtest.unsupported_skips(self):
            tfm.bind(("skcipher", "cbc(aes)"))
        tfm.setsockopt(sockbroker.SOL_ALG, sockbroker.ALG_SET_KEY, b"k" * 16)
        op, _ = tfm.accept()
        self.addCleanup(op.close)
        with sbtest.unsupported_skips(self):
            self.assertEqual(op.sendmsg_afalg([b"x" * 16], op=sockbroker.ALG_OP_ENCRYPT,
                                              iv=b"\0" * 16), 16)
        expected = stdsocket.socket(stdsocket.AF_ALG, stdsocket.SOCK_SEQPACKET)
        self.addCleanup(expected.close)
        expected.bind(("skcipher", "cbc(aes)"))
        expected.setsockopt(stdsocket.SOL_ALG, stdsocket.ALG_SET_KEY, b"k" * 16)
        local_op, _ = expected.accept()
        with local_op:
            local_op.sendmsg_afalg([b"x" * 16], op=stdsocket.ALG_OP_ENCRYPT, iv=b"\0" * 16)
            self.assertEqual(op.recv(16), local_op.recv(16))

    def test_sendmsg_bad_arguments(self) -> None:
        a, _ = self.pair()
        with self.assertRaises(TypeError):
            a.sendmsg(["text"])
        with self.assertRaises(TypeError):
            a.sendmsg([b"x"], [(1, 2)])
        with self.assertRaises(ValueError):
            a.recvmsg(-1)

    def test_recvmsg_non_blocking_is_eagain(self) -> None:
        _, b = self.pair()
        b.setblocking(False)
        with sbtest.unsupported_skips(self):
            with self.assertRaises(BlockingIOError):
                b.recvmsg(10)


if __name__ == "__main__":
    unittest.main()
