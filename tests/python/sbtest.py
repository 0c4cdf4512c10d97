"""Fixtures for the Python client's tests: the real daemon and real servers.

- ``Daemon`` starts sockbrokerd ($SOCKBROKERD) listening on an ipc:// path in
  a fresh temporary directory, and stops it by pid (SIGTERM, then SIGKILL
  after a bounded wait); a daemon that does not exit 0 fails the test.
- ``BrokerTestCase`` gives each test class a daemon and points the module's
  default client at it.
- ``EchoServer``, ``UdpEchoServer`` and ``http_server()`` are real servers
  of this process on 127.0.0.1 or ::1 (standard sockets, captured before any
  sockbroker.install()).
- ``unsupported_skips()`` turns an UNSUPPORTED reply into a skip that says
  which operation the daemon does not run yet.
- Every reply the client decodes in these tests is first walked at the wire
  level with a strict UTF-8 check of each ``string`` field
  (``check_reply_utf8()``): Debian's protobuf runtime only logs bad bytes
  and hands them on, where strict runtimes (upb) refuse the message.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import socket as stdsocket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from typing import Any, Iterator, List, Optional, Tuple

import sockbroker
from sockbroker import _core
from sockbroker._pb import pb

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0

def _varint(data: bytes, i: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data):
            raise AssertionError("a reply ends inside a varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def check_reply_utf8(descriptor: Any, data: bytes, path: str = "Reply") -> None:
    """Raise AssertionError unless every string field in the protobuf bytes
    ``data`` of message type ``descriptor`` (nested messages included) is
    well-formed UTF-8."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, i = _varint(data, i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 5:
            i += 4
        elif wire_type == 2:
            length, i = _varint(data, i)
            chunk = data[i:i + length]
            i += length
            field = descriptor.fields_by_number.get(number)
            if field is None:
                continue
            where = f"{path}.{field.name}"
            if field.type == field.TYPE_STRING:
                try:
                    chunk.decode("utf-8", "strict")
                except UnicodeDecodeError as e:
                    raise AssertionError(f"{where} is not UTF-8: {chunk!r} ({e})") from None
            elif field.type == field.TYPE_MESSAGE:
                check_reply_utf8(field.message_type, chunk, where)
        else:
            raise AssertionError(f"{path}: wire type {wire_type} in a reply")


class _StrictReply:
    """pb.Reply for the client under test: FromString checks first."""

    DESCRIPTOR = pb.Reply.DESCRIPTOR

    @staticmethod
    def FromString(data: Any) -> Any:  # noqa: N802 (protobuf's name)
        check_reply_utf8(pb.Reply.DESCRIPTOR, bytes(data))
        return pb.Reply.FromString(data)


class _StrictPb:
    """The generated module, with Reply decoding through _StrictReply."""

    Reply = _StrictReply

    def __getattr__(self, name: str) -> Any:
        return getattr(pb, name)


_core.pb = _StrictPb()  # type: ignore[assignment]

# Real (local) socket machinery, captured before any install().
RealSocket = stdsocket.socket
real_create_connection = stdsocket.create_connection


def daemon_binary() -> str:
    binary = os.environ.get("SOCKBROKERD")
    if not binary:
        raise unittest.SkipTest("SOCKBROKERD must name the sockbrokerd binary under test "
                                "(meson test sets it)")
    return binary


class Daemon:
    """A sockbrokerd process on ipc://TMPDIR/sockbroker.sock (plus extra
    --listen URLs and an optional JSON configuration)."""

    def __init__(self, extra_listen: Tuple[str, ...] = (), config: Optional[str] = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        self.path = os.path.join(self.dir, "sockbroker.sock")
        self.url = f"ipc://{self.path}"
        self.log_path = os.path.join(self.dir, "daemon.log")
        argv = [daemon_binary(), "--listen", self.url]
        for url in extra_listen:
            argv += ["--listen", url]
        # Tests of operations run under an allow-all policy unless they bring
        # their own; the policy has its own tests.
        settings = json.loads(config) if config is not None else {}
        settings.setdefault("policy", {"rules": [{"name": "tests-allow-all", "allow": True}]})
        config = json.dumps(settings)
        if config is not None:
            config_path = os.path.join(self.dir, "config.json")
            with open(config_path, "w") as f:
                f.write(config)
            argv += ["--config", config_path]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=self._log)
        # The daemon says "sockbrokerd: listening on URL" once a listener
        # takes connections: its socket file exists before that (bind comes
        # before listen), and a connection then is refused.
        listening = 1 + len(extra_listen)
        deadline = time.monotonic() + START_TIMEOUT
        while self.log().count("sockbrokerd: listening on ") < listening:
            if self.process.poll() is not None:
                raise RuntimeError(f"sockbrokerd exited during start-up "
                                   f"({self.process.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise RuntimeError(f"sockbrokerd did not listen within {START_TIMEOUT} s:\n"
                                   f"{self.log()}")
            time.sleep(0.01)

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """Stop it hard (a crash, as far as clients can tell)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._log.close()

    def stop(self) -> int:
        """SIGTERM, bounded wait, SIGKILL; return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class BrokerTestCase(unittest.TestCase):
    """A daemon per test class; the module's functions talk to it."""

    daemon: Daemon
    client: "sockbroker.Client"

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.daemon = Daemon()
        cls.client = sockbroker.set_default_url(cls.daemon.url)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()
        status = cls.daemon.stop()
        log = cls.daemon.log()
        cls.daemon.cleanup()
        super().tearDownClass()
        if status != 0:
            raise AssertionError(f"sockbrokerd exited {status}:\n{log}")

    def setUp(self) -> None:
        sockbroker.setdefaulttimeout(None)
        self.addCleanup(sockbroker.setdefaulttimeout, None)

    def pair(self, *args: Any) -> Tuple["sockbroker.socket", "sockbroker.socket"]:
        """A brokered socketpair closed at the end of the test."""
        a, b = sockbroker.socketpair(*args)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a, b

    def sock(self, *args: Any, **kwargs: Any) -> "sockbroker.socket":
        """A brokered socket closed at the end of the test."""
        s = sockbroker.socket(*args, **kwargs)
        self.addCleanup(s.close)
        return s


@contextlib.contextmanager
def unsupported_skips(test: unittest.TestCase) -> Iterator[None]:
    """Skip the test when the daemon answers UNSUPPORTED (an operation that
    other parts of the project have not landed yet)."""
    try:
        yield
    except sockbroker.UnsupportedOperation as e:
        test.skipTest(f"sockbrokerd does not support {e.operation or 'this operation'} yet "
                      "(it answered UNSUPPORTED)")


def ipv6_available() -> bool:
    if not stdsocket.has_ipv6:
        return False
    try:
        with RealSocket(stdsocket.AF_INET6, stdsocket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class EchoServer:
    """A real TCP echo server (one thread per connection) on host:0."""

    def __init__(self, host: str = "127.0.0.1", backlog: int = 64) -> None:
        family = stdsocket.AF_INET6 if ":" in host else stdsocket.AF_INET
        self.listener = RealSocket(family, stdsocket.SOCK_STREAM)
        self.listener.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(backlog)
        self.address = self.listener.getsockname()
        self.port = self.address[1]
        self._threads: List[threading.Thread] = []
        self._conns: List[Any] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            t = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    @staticmethod
    def _echo(conn: Any) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        try:
            self.listener.shutdown(stdsocket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(stdsocket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        for t in self._threads:
            t.join(5)


class UdpEchoServer:
    """A real UDP echo server on host:0."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = stdsocket.AF_INET6 if ":" in host else stdsocket.AF_INET
        self.sock = RealSocket(family, stdsocket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = self.sock.getsockname()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65536)
            except stdsocket.timeout:
                continue
            except OSError:
                return
            self.sock.sendto(data, peer)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.sock.close()


PAGE = b"hello from 127.0.0.1, fetched through sockbroker\n"


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard handler's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


class HttpServer:
    """A real HTTP server on 127.0.0.1:0 answering PAGE to every GET
    (optionally over TLS with ssl_context)."""

    def __init__(self, ssl_context: Any = None) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def make_certificates(directory: str) -> Optional[dict]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client
    certificate, made with the openssl tool; None when it is missing."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extfile in (("server", ext), ("client", None)):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
            f"{name}.key", "-out", f"{name}.csr")
        args = ["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.crt"]
        if extfile:
            args += ["-extfile", extfile]
        run(*args)
        with open(os.path.join(directory, f"{name}.pem"), "w") as out:
            for part in (f"{name}.crt", f"{name}.key"):
                with open(os.path.join(directory, part)) as f:
                    out.write(f.read())
    return {name: os.path.join(directory, f"{name}.pem") for name in ("ca", "server", "client")}


def free_tcp_port() -> int:
    with RealSocket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClosedPort:
    """A port on 127.0.0.1 that refuses connections: bound (so nobody else
    takes it) but never listening. close() frees it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = stdsocket.AF_INET6 if ":" in host else stdsocket.AF_INET
        self.sock = RealSocket(family, stdsocket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


PROGRAM_TIMEOUT = 60


class SandboxTestCase(BrokerTestCase):
    """A daemon, and programs run in a new network namespace (``unshare
    -n``: no network at all, not even loopback) with the test's servers on
    127.0.0.1 outside it. ``run_program()`` runs a program under ``python3 -m
    sockbroker.run`` (or, with ``broker=False``, plainly, to show it
    failing); ``start_program()`` starts one that serves, stopped by pid at the end
    of the test."""

    unshare: str

    @classmethod
    def setUpClass(cls) -> None:
        unshare = shutil.which("unshare")
        if not unshare:
            raise unittest.SkipTest("SKIP: the unshare tool (util-linux) is missing")
        probe = subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=30)
        if probe.returncode != 0:
            raise unittest.SkipTest("SKIP: cannot make a network namespace here (needs root "
                                    f"or user namespaces): {probe.stderr.decode().strip()}")
        cls.unshare = unshare
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def program(self, source: str, name: str = "program.py") -> str:
        """Write a program's source into the class's directory."""
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
        return path

    def argv(self, script: str, *args: str, broker: bool = True) -> List[str]:
        run = ["-m", "sockbroker.run"] if broker else []
        return ["timeout", "-k", "5", str(PROGRAM_TIMEOUT), self.unshare, "-n",
                sys.executable, *run, script, *args]

    def env(self, handoff: bool = False, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["SOCKBROKER_URL"] = self.daemon.url
        env["SOCKBROKER_HANDOFF"] = "1" if handoff else "0"
        env.update(extra)
        return env

    def run_program(self, script: str, *args: str, broker: bool = True, handoff: bool = False,
            **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(script, *args, broker=broker),
                              env=self.env(handoff, **extra), cwd=self.tmp,
                              capture_output=True, text=True, timeout=PROGRAM_TIMEOUT + 30)

    def start_program(self, script: str, *args: str, broker: bool = True,
              handoff: bool = False) -> subprocess.Popen:
        process = subprocess.Popen(self.argv(script, *args, broker=broker),
                                   env=self.env(handoff), cwd=self.tmp, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(_stop_process, process)
        return process

    def start_server_program(self, script: str, *args: str, broker: bool = True,
                             handoff: bool = False) -> Tuple[subprocess.Popen, int]:
        """Start a program that prints the port it serves on first; return
        it and the port."""
        process = self.start_program(script, *args, broker=broker, handoff=handoff)
        line = process.stdout.readline()
        if not line.strip().isdigit():
            _stop_process(process)
            self.fail(f"the program printed {line!r}, not its port: {process.stderr.read()}")
        return process, int(line)

    def assert_finishes(self, process: subprocess.Popen, expect: str) -> None:
        """The program exits 0 after printing expect."""
        out, err = process.communicate(timeout=PROGRAM_TIMEOUT)
        self.assertEqual((process.returncode, out), (0, expect), err)

    def assert_unreachable_from_the_host(self, script: str, *args: str) -> None:
        """Without the broker, the program serves inside the sandbox, where
        the host cannot reach it."""
        _, port = self.start_server_program(script, *args, broker=False)
        with self.assertRaises(ConnectionRefusedError):
            real_create_connection(("127.0.0.1", port), timeout=30).close()

    def assert_runs(self, script: str, *args: str, expect: str, handoff: bool = False) -> None:
        """The program prints expect through the broker."""
        result = self.run_program(script, *args, handoff=handoff)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, expect, result.stderr)

    def assert_fails_without_broker(self, script: str, *args: str,
                                    error: str = "Network is unreachable") -> None:
        """The same program run without the broker fails with error."""
        result = self.run_program(script, *args, broker=False)
        self.assertNotEqual(result.returncode, 0, result.stdout)
        self.assertIn(error, result.stderr)



class SandboxHttpTestCase(SandboxTestCase):
    """A SandboxTestCase with a page served on the host (``self.http``,
    its URL ``self.http.url``) for the class's programs to fetch."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.http = HttpServer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.http.close()
        super().tearDownClass()

def _stop_process(process: subprocess.Popen) -> None:
    """Stop a program started under timeout(1): SIGTERM, which timeout
    passes on to the program, then SIGKILL after a bounded wait."""
    if process.poll() is None:
        process.terminate()
    try:
        process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=STOP_TIMEOUT)
