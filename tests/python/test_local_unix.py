"""Local stays local (part of issue 13): after install(), AF_UNIX sockets and
socketpair() are the standard module's own unless SOCKBROKER_UNIX=broker or
install(unix="broker") sends them to the daemon; asyncio starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import unittest

import sbtest
import sockbroker
from sockbroker import _install

PROGRAM_TIMEOUT = 30


class LocalUnixTest(sbtest.BrokerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        saved = os.environ.pop(_install.UNIX_ENV, None)
        if saved is not None:
            self.addCleanup(os.environ.__setitem__, _install.UNIX_ENV, saved)

    def install(self, **kwargs: str) -> None:
        sockbroker.install(self.daemon.url, **kwargs)
        self.addCleanup(sockbroker.uninstall)

    def test_socketpair_is_local_by_default(self) -> None:
        self.install()
        a, b = socket.socketpair()
        with a, b:
            self.assertIsInstance(a, sbtest.RealSocket)
            self.assertIsInstance(a, socket.socket)
            os.fstat(a.fileno())  # a descriptor of this process
            a.sendall(b"local")
            self.assertEqual(b.recv(5), b"local")

    def test_an_af_unix_server_and_client_by_path_are_local(self) -> None:
        self.install()
        path = os.path.join(self.tmp, "server.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            self.assertIsInstance(server, sbtest.RealSocket)
            server.bind(path)
            server.listen(1)
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(path)
                conn, _ = server.accept()
                with conn:
                    self.assertIsInstance(conn, sbtest.RealSocket)
                    client.sendall(b"hi")
                    self.assertEqual(conn.recv(2), b"hi")
        # Other families still go to the broker, and are the module's class.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            self.assertIsInstance(udp, sockbroker.socket)
            self.assertIsInstance(udp, socket.socket)

    def test_a_local_unix_error_is_the_kernels(self) -> None:
        self.install()
        with socket.socket(socket.AF_UNIX) as client:
            with self.assertRaises(FileNotFoundError):
                client.connect(os.path.join(self.tmp, "nobody-listens.sock"))

    def test_install_unix_broker_sends_them_to_the_daemon(self) -> None:
        self.install(unix="broker")
        a, b = socket.socketpair()
        with a, b:
            self.assertIsInstance(a, sockbroker.socket)
            a.sendall(b"brokered")
            self.assertEqual(b.recv(8), b"brokered")
        with socket.socket(socket.AF_UNIX) as s:
            self.assertIsInstance(s, sockbroker.socket)

    def test_the_environment_setting_sends_them_to_the_daemon(self) -> None:
        os.environ[_install.UNIX_ENV] = "broker"
        self.addCleanup(os.environ.pop, _install.UNIX_ENV, None)
        self.install()
        a, b = socket.socketpair()
        with a, b:
            self.assertIsInstance(a, sockbroker.socket)

    def test_a_bad_setting_is_refused_with_the_choices(self) -> None:
        with self.assertRaises(ValueError) as caught:
            sockbroker.install(self.daemon.url, unix="nowhere")
        self.assertIn("'local'", str(caught.exception))
        self.assertFalse(sockbroker.installed())
        os.environ[_install.UNIX_ENV] = "sideways"
        self.addCleanup(os.environ.pop, _install.UNIX_ENV, None)
        with self.assertRaises(ValueError) as caught:
            sockbroker.install(self.daemon.url)
        self.assertIn("$SOCKBROKER_UNIX", str(caught.exception))
        self.assertFalse(sockbroker.installed())

    def run_program(self, source: str) -> subprocess.CompletedProcess:
        script = os.path.join(self.tmp, "program.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(source))
        child_env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        child_env["SOCKBROKER_URL"] = self.daemon.url
        return subprocess.run(["timeout", "-k", "5", str(PROGRAM_TIMEOUT), sys.executable,
                               "-m", "sockbroker.run", script],
                              env=child_env, cwd=self.tmp, capture_output=True, text=True,
                              timeout=PROGRAM_TIMEOUT + 30)

    def test_asyncio_starts_under_sockbroker_run(self) -> None:
        result = self.run_program("""\
            import asyncio, os
            async def main():
                await asyncio.sleep(0)
                self_pipe = asyncio.get_running_loop()._ssock
                os.fstat(self_pipe.fileno())  # a descriptor of this process
                return type(self_pipe).__module__
            print(asyncio.run(main()))
            """)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "socket\n")


if __name__ == "__main__":
    unittest.main()
