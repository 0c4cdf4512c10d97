"""Unmodified standard-library code through the broker: install(),
http.client, urllib (http and https), socketserver, and sockbroker.run."""

from __future__ import annotations

import http.client
import os
import select
import selectors
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.request

import sbtest
import sockbroker


def child_env(url: str) -> dict:
    """The environment of a child Python: the broker's URL, no proxies."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["SOCKBROKER_URL"] = url
    return env


class InstallTest(sbtest.BrokerTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.http = sbtest.HttpServer()
        cls.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        try:
            cls.certs = sbtest.make_certificates(cls.tmp)
        except Exception:
            cls.certs = None
        cls.https = None
        if cls.certs:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cls.certs["server"])
            cls.https = sbtest.HttpServer(context)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.http.close()
        if cls.https:
            cls.https.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def install(self) -> None:
        sockbroker.install(self.daemon.url)
        self.addCleanup(sockbroker.uninstall)

    def test_install_patches_and_uninstall_restores(self) -> None:
        original = socket.socket
        self.install()
        self.assertTrue(sockbroker.installed())
        # A subclass whose AF_UNIX sockets stay local (test_local_unix).
        self.assertTrue(issubclass(socket.socket, sockbroker.socket))
        # The daemon's create_connection unless socket.socket is replaced
        # (test_arguments).
        self.assertIs(socket.create_connection, sockbroker._install._create_connection)
        self.assertIs(selectors.DefaultSelector, sockbroker.selectors.BrokerSelector)
        self.assertIs(select.select, sockbroker.select.select)
        with socket.socket() as s:
            self.assertIsInstance(s, sockbroker.socket)
        sockbroker.uninstall()
        self.assertFalse(sockbroker.installed())
        self.assertIs(socket.socket, original)

    def test_http_client(self) -> None:
        self.install()
        conn = http.client.HTTPConnection("127.0.0.1", self.http.port, timeout=10)
        conn.connect()
        self.assertIsInstance(conn.sock, sockbroker.socket)
        conn.request("GET", "/")
        response = conn.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.read(), sbtest.PAGE)
        conn.close()

    def test_urllib(self) -> None:
        self.install()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.http.url, timeout=10) as response:
            self.assertEqual(response.read(), sbtest.PAGE)

    def test_urllib_https_over_a_brokered_socket(self) -> None:
        if not self.https:
            self.skipTest("the openssl tool is missing: cannot make test certificates")
        self.install()
        context = ssl.create_default_context(cafile=self.certs["ca"])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=context))
        with opener.open(self.https.url, timeout=10) as response:
            self.assertEqual(response.read(), sbtest.PAGE)
        with socket.create_connection(("127.0.0.1", self.https.port)) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertIsInstance(tls, sockbroker._tls.SSLSocket)
                self.assertEqual(tls.getpeercert()["subject"], ((("commonName", "server"),),))
                self.assertTrue(tls.version().startswith("TLS"))

    def test_tls_with_a_bad_certificate_fails(self) -> None:
        if not self.https:
            self.skipTest("the openssl tool is missing: cannot make test certificates")
        self.install()
        context = ssl.create_default_context()  # does not trust the test CA
        with socket.create_connection(("127.0.0.1", self.https.port)) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_socketserver_through_the_broker(self) -> None:
        self.install()

        class Echo(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(self.rfile.readline().upper())

        with sbtest.unsupported_skips(self):
            server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
        self.addCleanup(server.server_close)
        self.assertIsInstance(server.socket, sockbroker.socket)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            for i in range(3):
                with sbtest.real_create_connection(server.server_address, timeout=10) as c:
                    c.sendall(b"line %d\n" % i)
                    self.assertEqual(c.makefile("rb").readline(), b"LINE %d\n" % i)
        finally:
            server.shutdown()
            thread.join(10)


class RunTest(sbtest.BrokerTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.http = sbtest.HttpServer()
        cls.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        cls.script = os.path.join(cls.tmp, "fetch.py")
        with open(cls.script, "w") as f:
            f.write("import socket, sys, urllib.request\n"
                    "print(type(socket.socket()).__module__)\n"
                    "print(sys.argv[1:])\n"
                    "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())\n")
        with open(os.path.join(cls.tmp, "fetchmod.py"), "w") as f:
            f.write("import runpy, sys\n"
                    "if __name__ == '__main__':\n"
                    "    runpy.run_path(%r, run_name='__main__')\n" % cls.script)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.http.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def run_child(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sockbroker.run", *args],
                              env=child_env(self.daemon.url), cwd=self.tmp,
                              capture_output=True, text=True, timeout=60)

    def test_run_script(self) -> None:
        result = self.run_child(self.script, self.http.url)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], "sockbroker")
        self.assertEqual(lines[1], repr([self.http.url]))
        self.assertIn(sbtest.PAGE.decode().strip(), result.stdout)

    def test_run_module(self) -> None:
        result = self.run_child("-m", "fetchmod", self.http.url)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(sbtest.PAGE.decode().strip(), result.stdout)

    def test_run_code(self) -> None:
        result = self.run_child("-c", "import socket, sys; print(socket.socket, sys.argv)", "x")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("sockbroker", result.stdout)
        self.assertIn("['-c', 'x']", result.stdout)

    def test_run_without_daemon_says_so(self) -> None:
        env = child_env(f"ipc://{self.tmp}/no-daemon.sock")
        result = subprocess.run([sys.executable, "-m", "sockbroker.run", self.script],
                                env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot connect to the broker", result.stderr)

    def test_run_usage(self) -> None:
        result = self.run_child()
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage:", result.stderr)


if __name__ == "__main__":
    unittest.main()
