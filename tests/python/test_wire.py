"""The SP transport and the call machinery: URLs, handshake, Hello,
pipelining, many calls in flight, cancellation, lost connections, fork."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import tempfile
import threading
import time
import unittest
from unittest import mock

import sbtest
import sockbroker
from sockbroker import _core, _transport
from sockbroker._pb import pb


class UrlTest(unittest.TestCase):
    def test_default_url_follows_the_daemon(self) -> None:
        with mock.patch.dict(os.environ, {"SOCKBROKER_URL": "tcp://127.0.0.1:7070"}):
            self.assertEqual(_transport.default_url(), "tcp://127.0.0.1:7070")
        env = {k: v for k, v in os.environ.items() if k != "SOCKBROKER_URL"}
        with mock.patch.dict(os.environ, env, clear=True):
            with mock.patch("os.geteuid", return_value=0):
                self.assertEqual(_transport.default_url(),
                                 "ipc:///run/sockbroker/sockbroker.sock")
            with mock.patch("os.geteuid", return_value=1000):
                os.environ["XDG_RUNTIME_DIR"] = "/run/user/1000/"
                self.assertEqual(_transport.default_url(),
                                 "ipc:///run/user/1000/sockbroker/sockbroker.sock")
                del os.environ["XDG_RUNTIME_DIR"]
                self.assertEqual(_transport.default_url(),
                                 "ipc:///tmp/sockbroker-1000/sockbroker.sock")

    def test_parse_url(self) -> None:
        self.assertEqual(_transport.parse_url("ipc:///run/x.sock"), ("ipc", b"/run/x.sock"))
        self.assertEqual(_transport.parse_url("abstract://name%00x"),
                         ("abstract", b"\0name\0x"))
        self.assertEqual(_transport.parse_url("tcp://[::1]:7070"), ("tcp", ("::1", 7070)))
        self.assertEqual(_transport.parse_url("tls+tcp://localhost:9443"),
                         ("tls+tcp", ("localhost", 9443)))
        for bad in ("/run/x.sock", "udp://1.2.3.4:5", "tcp://host", "tcp://h:70000", "ipc://"):
            with self.assertRaises(ValueError, msg=bad) as cm:
                _transport.parse_url(bad)
            self.assertIn(bad, str(cm.exception))

    def test_seq_goes_in_front_of_the_request(self) -> None:
        body = pb.Request(recv=pb.RecvRequest(handle=7, bufsize=10)).SerializeToString()
        for seq in (1, 127, 128, 300, 2**40):
            request = pb.Request.FromString(_core._seq_prefix(seq) + body)
            self.assertEqual(request.seq, seq)
            self.assertEqual(request.recv.handle, 7)


class StrictUtf8Test(unittest.TestCase):
    """The check every reply of these tests passes (sbtest.check_reply_utf8)."""

    def test_a_reply_with_a_string_that_is_not_utf8_is_refused(self) -> None:
        good = pb.Reply(seq=1, error=pb.Error(message="fine \u00e9")).SerializeToString()
        sbtest.check_reply_utf8(pb.Reply.DESCRIPTOR, good)
        bad = good.replace("\u00e9".encode(), b"\xc3(")
        with self.assertRaisesRegex(AssertionError, "Reply.error.message is not UTF-8"):
            sbtest.check_reply_utf8(pb.Reply.DESCRIPTOR, bad)

    def test_the_client_decodes_through_the_check(self) -> None:
        self.assertIs(_core.pb.Reply, sbtest._StrictReply)


class NoDaemonTest(unittest.TestCase):
    def test_missing_daemon_is_a_clear_connection_error(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"ipc://{tmp}/none.sock"
            client = sockbroker.connect(url)
            with self.assertRaises(sockbroker.BrokerConnectionError) as cm:
                client.socket()
            self.assertIn(url, str(cm.exception))
            self.assertIn("sockbrokerd running", str(cm.exception))
            self.assertEqual(cm.exception.errno, errno.ENOENT)

    def test_a_peer_that_is_not_sp_is_refused(self) -> None:
        listener = sbtest.RealSocket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        self.addCleanup(listener.close)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                conn.recv(100)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        client = sockbroker.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        with self.assertRaises(sockbroker.BrokerProtocolError) as cm:
            client.socket()
        self.assertIn("SP protocol", str(cm.exception))
        t.join(5)


class TransportTest(unittest.TestCase):
    """ipc://, abstract://, tcp:// and tls+tcp:// against one daemon."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-tls-")
        cls.tcp_port = sbtest.free_tcp_port()
        cls.abstract = f"sockbroker-pytest-{os.getpid()}"
        listen = [f"tcp://127.0.0.1:{cls.tcp_port}", f"abstract://{cls.abstract}"]
        config = None
        cls.certs = None
        try:
            cls.certs = sbtest.make_certificates(cls.tmp)
        except Exception:
            cls.certs = None
        if cls.certs:
            cls.tls_port = sbtest.free_tcp_port()
            listen.append(f"tls+tcp://127.0.0.1:{cls.tls_port}")
            config = ('{"tls": {"cert_key_file": "%s", "ca_file": "%s"}}'
                      % (cls.certs["server"], cls.certs["ca"]))
        cls.daemon = sbtest.Daemon(tuple(listen), config)

    @classmethod
    def tearDownClass(cls) -> None:
        status = cls.daemon.stop()
        log = cls.daemon.log()
        cls.daemon.cleanup()
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if status != 0:
            raise AssertionError(f"sockbrokerd exited {status}:\n{log}")

    def roundtrip(self, url: str) -> None:
        with sockbroker.connect(url) as client:
            info = client.server_info
            self.assertTrue(info.server_version.startswith("sockbrokerd"))
            self.assertGreater(info.max_data_size, 0)
            self.assertEqual(client.AF_INET, client.constants.daemon["AF_INET"])
            a, b = client.socketpair()
            with a, b:
                a.sendall(b"ping over " + url.encode())
                self.assertEqual(b.recv(100), b"ping over " + url.encode())

    def test_ipc(self) -> None:
        self.roundtrip(self.daemon.url)

    def test_abstract(self) -> None:
        self.roundtrip(f"abstract://{self.abstract}")

    def test_tcp(self) -> None:
        self.roundtrip(f"tcp://127.0.0.1:{self.tcp_port}")

    def test_tls(self) -> None:
        if not self.certs:
            self.skipTest("the openssl tool is missing: cannot make test certificates")
        env = {"SOCKBROKER_TLS_CA_FILE": self.certs["ca"],
               "SOCKBROKER_TLS_CERT_KEY_FILE": self.certs["client"]}
        with mock.patch.dict(os.environ, env):
            self.roundtrip(f"tls+tcp://127.0.0.1:{self.tls_port}")

    def test_tls_carries_concurrent_calls_and_large_messages(self) -> None:
        if not self.certs:
            self.skipTest("the openssl tool is missing: cannot make test certificates")
        env = {"SOCKBROKER_TLS_CA_FILE": self.certs["ca"],
               "SOCKBROKER_TLS_CERT_KEY_FILE": self.certs["client"]}
        with mock.patch.dict(os.environ, env):
            with sockbroker.connect(f"tls+tcp://127.0.0.1:{self.tls_port}") as client:
                pairs = [client.socketpair() for _ in range(8)]
                data = os.urandom(3 << 20)
                errors = []

                def worker(a: sockbroker.socket, b: sockbroker.socket) -> None:
                    try:
                        for i in range(20):
                            a.sendall(b"%d" % i)
                            if b.recv(10) != b"%d" % i:
                                errors.append("mismatch")
                    except Exception as e:  # noqa: B902
                        errors.append(repr(e))

                threads = [threading.Thread(target=worker, args=pair) for pair in pairs[1:]]
                for t in threads:
                    t.start()
                got = bytearray()

                def read_all() -> None:
                    while len(got) < len(data):
                        got.extend(pairs[0][1].recv(1 << 20))

                reader = threading.Thread(target=read_all)
                reader.start()
                pairs[0][0].sendall(data)
                reader.join(60)
                for t in threads:
                    t.join(60)
                self.assertEqual(errors, [])
                self.assertEqual(bytes(got), data)
                for a, b in pairs:
                    a.close()
                    b.close()

    def test_tls_with_an_untrusted_daemon_fails_clearly(self) -> None:
        if not self.certs:
            self.skipTest("the openssl tool is missing: cannot make test certificates")
        env = {"SOCKBROKER_TLS_CA_FILE": self.certs["client"],  # not the daemon's CA
               "SOCKBROKER_TLS_CERT_KEY_FILE": self.certs["client"]}
        with mock.patch.dict(os.environ, env):
            client = sockbroker.connect(f"tls+tcp://127.0.0.1:{self.tls_port}")
            with self.assertRaises(sockbroker.BrokerConnectionError) as cm:
                client.socket()
            self.assertIn("TLS with the broker", str(cm.exception))

    def test_tls_without_client_files_says_what_is_missing(self) -> None:
        if not self.certs:
            self.skipTest("the openssl tool is missing: cannot make test certificates")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCKBROKER_TLS")}
        with mock.patch.dict(os.environ, env, clear=True):
            client = sockbroker.connect(f"tls+tcp://127.0.0.1:{self.tls_port}")
            with self.assertRaises(sockbroker.BrokerConnectionError) as cm:
                client.socket()
            self.assertIn("SOCKBROKER_TLS_CA_FILE", str(cm.exception))


class CallsTest(sbtest.BrokerTestCase):
    def test_hello_gives_limits_identity_and_constants(self) -> None:
        info = self.client.server_info
        self.assertEqual(info.protocol_version, 1)
        self.assertEqual(info.identity.uid, os.geteuid())
        self.assertEqual(info.identity.pid, os.getpid())
        self.assertEqual(self.client.constants.errnos["ECONNREFUSED"], errno.ECONNREFUSED)

    def test_many_blocking_calls_in_flight_on_one_connection(self) -> None:
        pairs = [self.pair() for _ in range(20)]
        results = {}

        def reader(i: int) -> None:
            results[i] = pairs[i][1].recv(100)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(len(pairs))]
        for t in threads:
            t.start()
        time.sleep(0.2)  # every recv is now parked in the daemon
        # Other calls still get through while twenty recvs wait.
        self.assertEqual(sockbroker.getdefaulttimeout(), None)
        self.assertTrue(self.client.has_dualstack_ipv6() in (True, False))
        for i in reversed(range(len(pairs))):
            pairs[i][0].sendall(b"to %d" % i)
        for t in threads:
            t.join(10)
        self.assertEqual(results, {i: b"to %d" % i for i in range(len(pairs))})

    def test_pipelined_sendall_keeps_order(self) -> None:
        a, b = self.pair()
        size = 3 * self.client.session().max_data_size + 12345
        data = os.urandom(1 << 20) * (size // (1 << 20)) + os.urandom(size % (1 << 20))
        received = bytearray()

        def reader() -> None:
            while len(received) < len(data):
                chunk = b.recv(1 << 20)
                if not chunk:
                    return
                received.extend(chunk)

        t = threading.Thread(target=reader)
        t.start()
        a.sendall(data)
        t.join(60)
        self.assertEqual(hashlib.sha256(received).hexdigest(), hashlib.sha256(data).hexdigest())

    def test_abandoned_call_is_cancelled_and_loses_no_data(self) -> None:
        a, b = self.pair()
        session = self.client.session()
        call = self.client.start(pb.Request(recv=pb.RecvRequest(handle=b._handle, bufsize=10)),
                                 session)
        time.sleep(0.1)
        self.client._abandon(session, call)
        time.sleep(0.1)
        a.sendall(b"kept")
        b.settimeout(5)
        self.assertEqual(b.recv(10), b"kept")

    def test_signal_interrupts_a_blocking_recv_without_losing_data(self) -> None:
        a, b = self.pair()

        class Interrupted(Exception):
            pass

        def handler(signum: int, frame: object) -> None:
            raise Interrupted()

        previous = signal.signal(signal.SIGALRM, handler)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with self.assertRaises(Interrupted):
            b.recv(10)
        # The interrupted recv was cancelled in the daemon: it does not
        # take the next data.
        time.sleep(0.1)
        a.sendall(b"not lost")
        b.settimeout(5)
        self.assertEqual(b.recv(10), b"not lost")

    def test_bad_request_names_the_field_and_the_session_goes_on(self) -> None:
        request = pb.Request(socket=pb.SocketRequest(timeout=-1.0))
        with self.assertRaises(OSError) as cm:
            self.client.call(request, "socket")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertEqual(cm.exception.broker_kind, "bad_request")
        self.assertIn("timeout", str(cm.exception))
        a, b = self.pair()
        a.sendall(b"still here")
        self.assertEqual(b.recv(100), b"still here")

    def test_unknown_handle_is_ebadf(self) -> None:
        with self.assertRaises(OSError) as cm:
            self.client.call(pb.Request(getsockname=pb.HandleRequest(handle=2**60)), "address")
        self.assertEqual(cm.exception.errno, errno.EBADF)

    def test_fork_child_gets_a_session_of_its_own(self) -> None:
        a, b = self.pair()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            status = 1
            try:
                try:
                    a.sendall(b"from the child")
                except sockbroker.BrokerConnectionError:
                    c, d = sockbroker.socketpair()
                    c.sendall(b"child session")
                    if d.recv(100) == b"child session":
                        status = 0
            finally:
                os.write(write_fd, bytes([status]))
                os._exit(status)
        os.close(write_fd)
        _, status = os.waitpid(pid, 0)
        result = os.read(read_fd, 1)
        os.close(read_fd)
        self.assertEqual(result, b"\0")
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        a.sendall(b"parent still works")
        self.assertEqual(b.recv(100), b"parent still works")


class LostConnectionTest(unittest.TestCase):
    def test_waiting_calls_fail_and_the_next_call_reconnects(self) -> None:
        daemon = sbtest.Daemon()
        self.addCleanup(daemon.cleanup)
        client = sockbroker.connect(daemon.url)
        a, b = client.socketpair()
        errors = []

        def reader() -> None:
            try:
                b.recv(10)
            except BaseException as e:  # noqa: B902
                errors.append(e)

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(0.2)
        daemon.kill()
        t.join(10)
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], sockbroker.BrokerConnectionError)
        self.assertIsInstance(errors[0], ConnectionError)
        self.assertIn("was lost", str(errors[0]))
        self.assertIn("sockets are gone", str(errors[0]))
        with self.assertRaises(sockbroker.BrokerConnectionError):
            a.sendall(b"x")
        a.close()  # closing a socket of a lost session is not an error

        # A daemon back at work: the next call opens a new session, and the
        # old socket stays dead.
        restarted = sbtest.Daemon()
        self.addCleanup(restarted.cleanup)
        self.addCleanup(restarted.stop)
        client.url = restarted.url
        c, d = client.socketpair()
        c.sendall(b"new session")
        self.assertEqual(d.recv(100), b"new session")
        with self.assertRaises(sockbroker.BrokerConnectionError) as cm:
            b.recv(10)
        self.assertIn("session", str(cm.exception))
        for s in (b, c, d):
            s.close()
        client.close()


if __name__ == "__main__":
    unittest.main()
