"""The module functions: connection helpers, the name service, interfaces,
ancillary sizes, constants, exceptions and the local pure functions.

Operations the daemon does not run yet are skipped with the operation's
name (it answers UNSUPPORTED); they start passing when it does."""

from __future__ import annotations

import errno
import os
import socket as stdsocket
import unittest

import sbtest
import sockbroker
from sockbroker import _api


class ConnectionHelpersTest(sbtest.BrokerTestCase):
    def test_create_connection(self) -> None:
        server = sbtest.EchoServer()
        self.addCleanup(server.close)
        with sockbroker.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            self.assertEqual(s.gettimeout(), 5.0)
            s.sendall(b"created")
            self.assertEqual(s.recv(100), b"created")
        with sockbroker.create_connection(("localhost", server.port)) as s:
            self.assertIsNone(s.gettimeout())
            self.assertEqual(s.getpeername(), ("127.0.0.1", server.port))

    def test_create_connection_to_a_closed_port_is_refused(self) -> None:
        closed = sbtest.ClosedPort()
        self.addCleanup(closed.close)
        with self.assertRaises(ConnectionRefusedError):
            sockbroker.create_connection(("127.0.0.1", closed.port))
        with self.assertRaises(ExceptionGroup) as cm:
            sockbroker.create_connection(("127.0.0.1", closed.port), all_errors=True)
        self.assertIsInstance(cm.exception.exceptions[0], ConnectionRefusedError)

    def test_create_connection_operation(self) -> None:
        """The daemon's own create_connection (not the client-side fallback)."""
        server = sbtest.EchoServer()
        self.addCleanup(server.close)
        closed = sbtest.ClosedPort()
        self.addCleanup(closed.close)
        with sbtest.unsupported_skips(self):
            s = self.client._create_connection_op("127.0.0.1", server.port, 2.0,
                                                  ("127.0.0.1", 0), False)
        with s:
            self.assertEqual(s.gettimeout(), 2.0)
            s.sendall(b"op")
            self.assertEqual(s.recv(10), b"op")
        with self.assertRaises(ConnectionRefusedError):
            self.client._create_connection_op("127.0.0.1", closed.port, None, None, False)
        with self.assertRaises(ExceptionGroup):
            self.client._create_connection_op("127.0.0.1", closed.port, None, None, True)
        with self.assertRaises(sockbroker.gaierror):
            self.client._create_connection_op("no-such-host.invalid", 80, None, None, False)

    def test_create_server(self) -> None:
        with sockbroker.create_server(("127.0.0.1", 0)) as server:
            self.assertEqual(server.getsockopt(sockbroker.SOL_SOCKET, sockbroker.SO_REUSEADDR),
                             1)
            port = server.getsockname()[1]
            with sockbroker.create_connection(("127.0.0.1", port)) as c:
                conn, _ = server.accept()
                with conn:
                    c.sendall(b"served")
                    self.assertEqual(conn.recv(10), b"served")

    def test_create_server_dualstack(self) -> None:
        if not sbtest.ipv6_available():
            self.skipTest("no IPv6 loopback on this machine")
        self.assertIsInstance(sockbroker.has_dualstack_ipv6(), bool)
        if not sockbroker.has_dualstack_ipv6():
            self.skipTest("the daemon's host has no dual-stack sockets")
        with sockbroker.create_server(("", 0), family=sockbroker.AF_INET6,
                                      dualstack_ipv6=True) as server:
            port = server.getsockname()[1]
            for host in ("127.0.0.1", "::1"):
                with sockbroker.create_connection((host, port)) as c:
                    conn, peer = server.accept()
                    self.assertEqual(peer[1], c.getsockname()[1])
                    with conn:
                        expected = "::ffff:127.0.0.1" if host == "127.0.0.1" else "::1"
                        self.assertEqual(peer[0], expected)
        with self.assertRaises(ValueError):
            sockbroker.create_server(("", 0), dualstack_ipv6=True)

    def test_create_server_in_use(self) -> None:
        with sockbroker.create_server(("127.0.0.1", 0)) as first:
            with self.assertRaises(OSError) as cm:
                sockbroker.create_server(first.getsockname())
            self.assertEqual(cm.exception.errno, errno.EADDRINUSE)

    def test_create_server_operation(self) -> None:
        """The daemon's own create_server (not the client-side fallback)."""
        consts = self.client.constants
        with sbtest.unsupported_skips(self):
            reply = self.client.call(_api.pb.Request(create_server=_api.pb.CreateServerRequest(
                address=_api._address.encode(consts.get, consts["AF_INET"], ("127.0.0.1", 0)),
                family=consts["AF_INET"])), "socket")
        with sockbroker.socket(fileno=reply.handle) as server:
            port = server.getsockname()[1]
            with sockbroker.create_connection(("127.0.0.1", port)):
                conn, _ = server.accept()
                conn.close()


class NameServiceTest(sbtest.BrokerTestCase):
    def test_getaddrinfo_tuple_shapes(self) -> None:
        with sbtest.unsupported_skips(self):
            infos = sockbroker.getaddrinfo("127.0.0.1", 80, type=sockbroker.SOCK_STREAM)
        self.assertTrue(infos)
        family, type_, proto, canonname, sockaddr = infos[0]
        self.assertIs(family, sockbroker.AF_INET)
        self.assertIsInstance(family, sockbroker.AddressFamily)
        self.assertIs(type_, sockbroker.SOCK_STREAM)
        self.assertEqual(proto, sockbroker.IPPROTO_TCP)
        self.assertEqual(canonname, "")
        self.assertEqual(sockaddr, ("127.0.0.1", 80))
        if sbtest.ipv6_available():
            infos = sockbroker.getaddrinfo("::1", "80", sockbroker.AF_INET6,
                                           sockbroker.SOCK_DGRAM)
            self.assertEqual(infos[0][4], ("::1", 80, 0, 0))
        infos = sockbroker.getaddrinfo(None, 0, sockbroker.AF_INET, sockbroker.SOCK_STREAM, 0,
                                       sockbroker.AI_PASSIVE)
        self.assertEqual(infos[0][4], ("0.0.0.0", 0))
        infos = sockbroker.getaddrinfo("localhost", "http", sockbroker.AF_INET,
                                       sockbroker.SOCK_STREAM, 0, sockbroker.AI_CANONNAME)
        self.assertEqual(infos[0][4], ("127.0.0.1", 80))
        self.assertEqual(infos, [tuple(i) for i in stdsocket.getaddrinfo(
            "localhost", "http", stdsocket.AF_INET, stdsocket.SOCK_STREAM, 0,
            stdsocket.AI_CANONNAME)])

    def test_getaddrinfo_bad_name_is_gaierror(self) -> None:
        with sbtest.unsupported_skips(self):
            with self.assertRaises(sockbroker.gaierror) as cm:
                sockbroker.getaddrinfo("no-such-host.invalid", 80)
        self.assertIsInstance(cm.exception, stdsocket.gaierror)
        self.assertIn(cm.exception.errno, (sockbroker.EAI_NONAME, sockbroker.EAI_AGAIN,
                                           sockbroker.EAI_FAIL))
        self.assertTrue(cm.exception.strerror)
        with self.assertRaises(sockbroker.gaierror) as cm:
            sockbroker.getaddrinfo("127.0.0.1", "no-such-service", type=sockbroker.SOCK_STREAM)
        self.assertEqual(cm.exception.errno, sockbroker.EAI_SERVICE)
        with self.assertRaises(OSError):
            sockbroker.getaddrinfo("127.0.0.1", 1.5)

    def test_getnameinfo(self) -> None:
        with sbtest.unsupported_skips(self):
            result = sockbroker.getnameinfo(("127.0.0.1", 80),
                                            sockbroker.NI_NUMERICHOST | sockbroker.NI_NUMERICSERV)
        self.assertEqual(result, ("127.0.0.1", "80"))
        self.assertEqual(sockbroker.getnameinfo(("127.0.0.1", 80), sockbroker.NI_NUMERICHOST),
                         ("127.0.0.1", "http"))
        with self.assertRaises(TypeError):
            sockbroker.getnameinfo("127.0.0.1", 0)

    def test_host_names(self) -> None:
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.gethostname(), stdsocket.gethostname())
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.gethostbyname("127.0.0.1"), "127.0.0.1")
            self.assertEqual(sockbroker.gethostbyname("localhost"), "127.0.0.1")
        with sbtest.unsupported_skips(self):
            name, aliases, addresses = sockbroker.gethostbyname_ex("localhost")
            self.assertIn("127.0.0.1", addresses)
            self.assertIsInstance(aliases, list)
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.gethostbyaddr("127.0.0.1"),
                             stdsocket.gethostbyaddr("127.0.0.1"))
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.getfqdn("localhost"), stdsocket.getfqdn("localhost"))

    def test_bad_host_is_herror_or_gaierror(self) -> None:
        with sbtest.unsupported_skips(self):
            with self.assertRaises((sockbroker.herror, sockbroker.gaierror)) as cm:
                sockbroker.gethostbyname_ex("no-such-host.invalid")
        self.assertEqual(len(cm.exception.args), 2)

    def test_protocols_and_services(self) -> None:
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.getprotobyname("tcp"), stdsocket.getprotobyname("tcp"))
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.getservbyname("http", "tcp"), 80)
            self.assertEqual(sockbroker.getservbyname("domain"), 53)
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.getservbyport(80, "tcp"), "http")
        with self.assertRaises(OverflowError):
            sockbroker.getservbyport(70000)
        with sbtest.unsupported_skips(self):
            with self.assertRaises(OSError):
                sockbroker.getservbyname("no-such-service", "tcp")
            with self.assertRaises(OSError):
                sockbroker.getprotobyname("no-such-protocol")


class InterfacesTest(sbtest.BrokerTestCase):
    def test_interfaces(self) -> None:
        with sbtest.unsupported_skips(self):
            interfaces = sockbroker.if_nameindex()
        self.assertEqual(interfaces, stdsocket.if_nameindex())
        index = dict((name, i) for i, name in interfaces)["lo"]
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.if_nametoindex("lo"), index)
        with sbtest.unsupported_skips(self):
            self.assertEqual(sockbroker.if_indextoname(index), "lo")
        with sbtest.unsupported_skips(self):
            with self.assertRaises(OSError) as cm:
                sockbroker.if_nametoindex("no-such-if0")
            self.assertEqual(cm.exception.errno, errno.ENODEV)
        with self.assertRaises(OverflowError):
            sockbroker.if_indextoname(-1)
        with self.assertRaises(TypeError):
            sockbroker.if_indextoname("lo")


class ConstantsAndHelpersTest(sbtest.BrokerTestCase):
    def test_constants_are_the_daemons(self) -> None:
        daemon = self.client.constants.daemon
        for name in ("AF_INET", "AF_INET6", "AF_UNIX", "SOCK_STREAM", "SOL_SOCKET",
                     "SO_REUSEADDR", "MSG_PEEK", "IPPROTO_TCP", "SHUT_WR", "EAI_NONAME"):
            self.assertEqual(getattr(sockbroker, name), daemon[name], name)
            self.assertEqual(getattr(self.client, name), daemon[name], name)
            self.assertEqual(getattr(sockbroker, name), getattr(stdsocket, name), name)
        self.assertIs(sockbroker.AF_INET, sockbroker.AddressFamily.AF_INET)
        self.assertIsInstance(sockbroker.MSG_PEEK, sockbroker.MsgFlag)
        self.assertIsInstance(sockbroker.AI_PASSIVE, sockbroker.AddressInfo)
        self.assertIsInstance(sockbroker.has_ipv6, bool)
        with self.assertRaises(AttributeError):
            self.client.NO_SUCH_CONSTANT
        self.assertIn("AF_INET", sockbroker.__all__)
        self.assertIn("create_connection", sockbroker.__all__)

    def test_every_name_of_the_standard_module(self) -> None:
        # CAPI is the C extension's capsule, meaningless here.
        missing = [name for name in stdsocket.__all__
                   if name != "CAPI" and not hasattr(sockbroker, name)]
        self.assertEqual(missing, [])
        methods = [name for name in dir(stdsocket.socket)
                   if not name.startswith("_") and not hasattr(sockbroker.socket, name)]
        self.assertEqual(methods, [])

    def test_exceptions_are_the_standard_ones(self) -> None:
        self.assertIs(sockbroker.error, OSError)
        self.assertIs(sockbroker.timeout, TimeoutError)
        self.assertIs(sockbroker.gaierror, stdsocket.gaierror)
        self.assertIs(sockbroker.herror, stdsocket.herror)
        self.assertTrue(issubclass(sockbroker.BrokerConnectionError, ConnectionError))
        self.assertTrue(issubclass(sockbroker.UnsupportedOperation, OSError))

    def test_cmsg_sizes(self) -> None:
        for length in (0, 1, 4, 12, 100):
            self.assertEqual(sockbroker.CMSG_LEN(length), stdsocket.CMSG_LEN(length))
            self.assertEqual(sockbroker.CMSG_SPACE(length), stdsocket.CMSG_SPACE(length))
        with self.assertRaises(OverflowError):
            sockbroker.CMSG_LEN(-1)

    def test_pure_functions(self) -> None:
        self.assertEqual(sockbroker.htons(1), stdsocket.htons(1))
        self.assertEqual(sockbroker.ntohl(0x01020304), stdsocket.ntohl(0x01020304))
        self.assertEqual(sockbroker.inet_aton("1.2.3.4"), b"\x01\x02\x03\x04")
        self.assertEqual(sockbroker.inet_ntoa(b"\x01\x02\x03\x04"), "1.2.3.4")
        packed = sockbroker.inet_pton(sockbroker.AF_INET6, "::1")
        self.assertEqual(sockbroker.inet_ntop(sockbroker.AF_INET6, packed), "::1")
        with self.assertRaises(OSError):
            sockbroker.inet_aton("not an address")

    def test_explicit_client_is_a_session_of_its_own(self) -> None:
        with sockbroker.connect(self.daemon.url) as other:
            self.assertNotEqual(other.server_info.session_id,
                                self.client.server_info.session_id)
            a, b = other.socketpair()
            foreign = a.fileno()
            with self.assertRaises(OSError) as cm:
                sockbroker.socket(fileno=foreign)
            self.assertEqual(cm.exception.errno, errno.EBADF)
            a.close()
            b.close()

    def test_environment_url_is_the_default(self) -> None:
        os.environ["SOCKBROKER_URL"] = self.daemon.url
        try:
            self.assertEqual(sockbroker.connect().url, self.daemon.url)
        finally:
            del os.environ["SOCKBROKER_URL"]


if __name__ == "__main__":
    unittest.main()
