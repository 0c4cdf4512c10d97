"""The module functions: connection helpers, the name service, interfaces,
ancillary sizes, constants, exceptions and the local pure functions.

Operations the daemon does not run yet are skipped with the operation's
name (it answers UNSUPPORTED); they start passing when it does."""

from __future__ import annotations

import errno
import os
import socket as stdsocket
import subprocess
import sys
import tempfile
import unittest
from typing import Sequence

import sbtest
import sockbroker
from sockbroker import _api, _socket
from sockbroker._constants import Constants


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
        number = _socket.reserve_number(self.client, self.client.session(), reply.handle)
        with sockbroker.socket(fileno=number) as server:
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


# Names the daemon announces that an older Python's socket module lacks.
DAEMON_ONLY_CANDIDATES = ("TCP_INQ", "IP_RECVERR", "SO_BINDTOIFINDEX", "TCP_FASTOPEN_CONNECT",
                          "IP_RECVTTL", "TCP_TX_DELAY")

ETHERTYPES = {"ETHERTYPE_ARP": 0x0806, "ETHERTYPE_IP": 0x0800, "ETHERTYPE_IPV6": 0x86DD,
              "ETHERTYPE_VLAN": 0x8100}


def run_fresh(url: str, code: str, *args: str) -> subprocess.CompletedProcess:
    """Run code in a new interpreter whose default client is for url."""
    env = dict(os.environ, SOCKBROKER_URL=url)
    env.pop("SOCKBROKER_TOKEN", None)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=60)


class ModuleConstantsTest(sbtest.BrokerTestCase):
    """Constants the daemon has and this platform lacks, before and after
    the first call; and the names every module lists."""

    def daemon_only_names(self) -> Sequence[str]:
        daemon = self.client.constants.daemon or {}
        names = [name for name in DAEMON_ONLY_CANDIDATES
                 if name in daemon and not hasattr(stdsocket, name)]
        if not names:
            self.skipTest("this Python's socket module has every candidate name already")
        return names

    def test_a_daemon_only_constant_is_there_before_the_first_call(self) -> None:
        name = self.daemon_only_names()[0]
        code = """if True:
            import sys
            import sockbroker
            name = sys.argv[1]
            client = sockbroker.default_client()
            assert client._session is None, "connected at import"
            assert name not in dir(sockbroker) and name not in sockbroker.__all__
            assert hasattr(sockbroker, name), "hasattr() before Hello"
            assert client._session is not None, "the look-up did not connect"
            assert name in dir(sockbroker) and name in sockbroker.__all__, "not published"
            missing = [n for n in sockbroker.__all__ if not hasattr(sockbroker, n)]
            assert not missing, missing
            print(int(getattr(sockbroker, name)))
            """
        result = run_fresh(self.daemon.url, code, name)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), str(self.client.constants.daemon[name]))

    def test_from_import_of_a_daemon_only_constant(self) -> None:
        name = self.daemon_only_names()[-1]
        result = run_fresh(self.daemon.url, f"from sockbroker import {name}; print(int({name}))")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), str(self.client.constants.daemon[name]))

    def test_a_constant_nobody_has_is_an_attribute_error(self) -> None:
        with self.assertRaises(AttributeError) as cm:
            sockbroker.TCP_NO_SUCH_OPTION
        self.assertIn("TCP_NO_SUCH_OPTION", str(cm.exception))
        self.assertIn(self.daemon.url, str(cm.exception))
        self.assertFalse(hasattr(sockbroker, "TCP_NO_SUCH_OPTION"))
        self.assertEqual(getattr(sockbroker, "TCP_NO_SUCH_OPTION", 7), 7)
        # Names that do not read as constants are not looked up at all.
        self.assertFalse(hasattr(sockbroker, "no_such_function"))
        self.assertFalse(hasattr(sockbroker, "NoSuchClass"))

    def test_an_unreachable_daemon_is_an_attribute_error(self) -> None:
        code = """if True:
            import sockbroker
            from sockbroker import *  # every name of __all__, without a daemon
            assert sockbroker.AF_INET > 0 and sockbroker.ETHERTYPE_IPV6 == 0x86DD
            assert not hasattr(sockbroker, "TCP_NO_SUCH_OPTION")
            try:
                sockbroker.TCP_NO_SUCH_OPTION
            except AttributeError as e:
                print(e)
            """
        with tempfile.TemporaryDirectory() as tmp:
            for url in (f"ipc://{tmp}/no-daemon.sock", "not-a-broker-url"):
                result = run_fresh(url, code)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("could not be asked", result.stdout)
                self.assertIn(url, result.stdout)

    def test_dir_and_all_list_only_names_that_are_there(self) -> None:
        for name in sockbroker.__all__:
            self.assertTrue(hasattr(sockbroker, name), name)
        self.assertEqual([n for n in sockbroker.__all__ if n.startswith("_")], [])
        self.assertLessEqual(set(sockbroker.__all__), set(dir(sockbroker)))
        for name in self.client.constants.values:
            self.assertIn(name, sockbroker.__all__)

    def test_the_names_left_out_are_absent(self) -> None:
        # clients/python/README.md lists them; a name that appears here
        # belongs out of that list.
        left_out = ["CAPI", "AF_HYPERV", "HV_PROTOCOL_RAW", "HV_GUID_ZERO", "HV_GUID_WILDCARD",
                    "HV_GUID_BROADCAST", "HV_GUID_CHILDREN", "HV_GUID_LOOPBACK",
                    "HV_GUID_PARENT", "HVSOCKET_CONNECT_TIMEOUT", "HVSOCKET_CONNECT_TIMEOUT_MAX",
                    "HVSOCKET_CONNECTED_SUSPEND", "HVSOCKET_ADDRESS_FLAG_PASSTHRU", "SIO_RCVALL",
                    "SIO_KEEPALIVE_VALS", "SIO_LOOPBACK_FAST_PATH", "RCVALL_ON", "RCVALL_OFF",
                    "AF_LINK", "AF_DIVERT", "PF_DIVERT", "LOCAL_CREDS", "LOCAL_CREDS_PERSISTENT",
                    "SCM_CREDS2", "SO_RTABLE", "SO_USER_COOKIE", "TCP_CONNECTION_INFO",
                    "TCP_KEEPALIVE", "PF_SYSTEM", "SYSPROTO_CONTROL", "fromshare"]
        self.client.session()
        self.assertEqual([name for name in left_out if hasattr(sockbroker, name)], [])
        self.assertEqual([name for name in ("ioctl", "share")
                          if hasattr(sockbroker.socket, name)], [])

    def test_ethertypes_are_the_ieee_numbers(self) -> None:
        daemon = self.client.constants.daemon or {}
        for name, value in ETHERTYPES.items():
            self.assertEqual(daemon.get(name), value, f"Hello does not announce {name}")
            self.assertEqual(getattr(sockbroker, name), value)
            self.assertEqual(getattr(self.client, name), value)
            self.assertIn(name, sockbroker.__all__)
            if hasattr(stdsocket, name):
                self.assertEqual(getattr(stdsocket, name), value)

    def test_ethertypes_follow_the_daemon(self) -> None:
        # Before Hello and with a daemon that lacks them: the standard numbers.
        for table in (None, {"AF_INET": stdsocket.AF_INET}):
            consts = Constants(table)
            for name, value in ETHERTYPES.items():
                self.assertEqual(consts.get(name), value, name)
        # A daemon that numbers them otherwise is the one that counts.
        consts = Constants({"ETHERTYPE_IP": 1})
        self.assertEqual(consts.get("ETHERTYPE_IP"), 1)
        self.assertIsNone(consts.get("ETHERTYPE_ARP"))


class ClientMirrorsModuleTest(sbtest.BrokerTestCase):
    """An explicit client has the module's functions, helpers, exceptions
    and a default timeout of its own."""

    def test_every_module_function_is_a_client_method(self) -> None:
        module_only = {"connect", "default_client", "default_url", "set_default_url", "install",
                       "installed", "uninstall"}
        missing = [name for name in sockbroker.__all__
                   if name[:1].islower() and name not in module_only
                   and not hasattr(sockbroker.Client, name)]
        self.assertEqual(missing, [])
        # sockbroker.close(fd) is close_handle(fd): close() ends the session.
        self.assertTrue(callable(sockbroker.Client.close_handle))

    def test_close_handle_closes_one_handle_and_close_the_session(self) -> None:
        other = sockbroker.connect(self.daemon.url)
        a, b = other.socketpair()
        handle = a.detach()
        other.close_handle(handle)
        with self.assertRaises(OSError) as cm:
            other.close_handle(handle)
        self.assertEqual(cm.exception.errno, errno.EBADF)
        self.assertEqual(b.recv(10), b"")  # the peer's end is closed
        other.close()
        with self.assertRaises(sockbroker.BrokerConnectionError):
            b.sendall(b"gone with the session")
        b.close()

    def test_a_clients_default_timeout_is_its_own(self) -> None:
        with sockbroker.connect(self.daemon.url) as other:
            self.assertIsNone(other.getdefaulttimeout())
            sockbroker.setdefaulttimeout(4.0)
            self.assertEqual(other.getdefaulttimeout(), 4.0)  # the module's, until set
            other.setdefaulttimeout(2.5)
            self.assertEqual(other.getdefaulttimeout(), 2.5)
            self.assertEqual(sockbroker.getdefaulttimeout(), 4.0)
            with other.socket() as s:
                self.assertEqual(s.gettimeout(), 2.5)
            a, b = other.socketpair()
            self.assertEqual((a.gettimeout(), b.gettimeout()), (2.5, 2.5))
            a.close()
            b.close()
            with other.create_server(("127.0.0.1", 0)) as listener:
                with other.create_connection(listener.getsockname()) as c:
                    self.assertEqual(c.gettimeout(), 2.5)
                    conn, _ = listener.accept()
                    with conn:
                        self.assertEqual(conn.gettimeout(), 2.5)
            with sockbroker.socket() as s:
                self.assertEqual(s.gettimeout(), 4.0)
            other.setdefaulttimeout(None)
            self.assertIsNone(other.getdefaulttimeout())
            with other.socket() as s:
                self.assertIsNone(s.gettimeout())

    def test_a_bad_default_timeout_is_refused(self) -> None:
        with sockbroker.connect(self.daemon.url) as other:
            other.setdefaulttimeout(1.0)
            with self.assertRaises(ValueError):
                other.setdefaulttimeout(-1)
            with self.assertRaises(ValueError):
                other.setdefaulttimeout(float("nan"))
            with self.assertRaises(TypeError):
                other.setdefaulttimeout("soon")
            self.assertEqual(other.getdefaulttimeout(), 1.0)

    def test_the_default_clients_timeout_is_the_modules(self) -> None:
        client = sockbroker.default_client()
        client.setdefaulttimeout(1.5)
        self.assertEqual(sockbroker.getdefaulttimeout(), 1.5)
        self.assertEqual(client.getdefaulttimeout(), 1.5)
        with sockbroker.socket() as s:
            self.assertEqual(s.gettimeout(), 1.5)

    def test_local_helpers_need_no_daemon(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            with sockbroker.connect(f"ipc://{tmp}/no-daemon.sock") as other:
                self.assertEqual(other.htons(1), stdsocket.htons(1))
                self.assertEqual(other.htonl(1), stdsocket.htonl(1))
                self.assertEqual(other.ntohs(0x0102), stdsocket.ntohs(0x0102))
                self.assertEqual(other.ntohl(0x01020304), stdsocket.ntohl(0x01020304))
                self.assertEqual(other.inet_aton("1.2.3.4"), b"\x01\x02\x03\x04")
                self.assertEqual(other.inet_ntoa(b"\x01\x02\x03\x04"), "1.2.3.4")
                packed = other.inet_pton(stdsocket.AF_INET6, "::1")
                self.assertEqual(other.inet_ntop(stdsocket.AF_INET6, packed), "::1")
                with self.assertRaises(other.error):
                    other.inet_aton("not an address")
                with self.assertRaises(OSError):
                    other.inet_pton(stdsocket.AF_INET, "::1")
                with self.assertRaises(OverflowError):
                    other.htons(-1)
                self.assertIsNone(other._session)

    def test_local_helpers_take_the_daemons_families(self) -> None:
        with sockbroker.connect(self.daemon.url) as other:
            packed = other.inet_pton(other.AF_INET6, "2001:db8::1")
            self.assertEqual(other.inet_ntop(other.AF_INET6, packed), "2001:db8::1")
            self.assertEqual(other.inet_pton(other.AF_INET, "10.0.0.1"), b"\n\0\0\x01")

    def test_exception_classes_are_the_modules(self) -> None:
        with sockbroker.connect(self.daemon.url) as other:
            self.assertIs(other.error, sockbroker.error)
            self.assertIs(other.timeout, sockbroker.timeout)
            self.assertIs(other.gaierror, sockbroker.gaierror)
            self.assertIs(other.herror, sockbroker.herror)
            with sbtest.unsupported_skips(self):
                with self.assertRaises(other.gaierror):
                    other.getaddrinfo("no-such-host.invalid", 80)
            with other.socket(other.AF_INET, other.SOCK_DGRAM) as s:
                s.settimeout(0.05)
                with self.assertRaises(other.timeout):
                    s.recv(1)

    def test_an_unreachable_clients_constant_is_an_attribute_error(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"ipc://{tmp}/no-daemon.sock"
            with sockbroker.connect(url) as other:
                self.assertFalse(hasattr(other, "AF_INET"))
                with self.assertRaises(AttributeError) as cm:
                    other.TCP_INQ
                self.assertIn("could not be asked", str(cm.exception))
                self.assertIn(url, str(cm.exception))
                self.assertIsInstance(cm.exception.__cause__, OSError)


if __name__ == "__main__":
    unittest.main()
