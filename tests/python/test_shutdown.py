"""No brokered call waits for ever (issue 20): real programs through
``python3 -m sockbroker.run`` under ``timeout`` exit by themselves, whatever
state the machinery that would answer their calls is in: interpreter
shutdown (finalizers, atexit handlers), a daemon thread blocked in recv when
the main thread returns, redis-py, a signal handler, fork, and a daemon that
stops mid-run. The in-process tests cover the threads that cannot wait for a
reply: one in the middle of handing replies over, and one interrupted
mid-send."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from typing import List, Optional

import sbtest
import sockbroker
from sockbroker import _pb

# Seconds a program may take before `timeout` stops it (exit status 124):
# each needs well under one; a hang is what this catches.
PROGRAM_TIMEOUT = 30
REDIS_START_TIMEOUT = 10.0


def child_env(url: str) -> dict:
    """The environment of a child Python: the broker's URL, no proxies."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["SOCKBROKER_URL"] = url
    return env


class ProgramCase(unittest.TestCase):
    """Runs programs written to a temporary directory through sockbroker.run."""

    daemon: sbtest.Daemon

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name: str, source: str) -> str:
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(source))
        return path

    def argv(self, script: str, *args: str) -> List[str]:
        return ["timeout", "-k", "5", str(PROGRAM_TIMEOUT), sys.executable, "-m",
                "sockbroker.run", script, *args]

    def run_program(self, source: str, *args: str) -> subprocess.CompletedProcess:
        script = self.write("program.py", source)
        return subprocess.run(self.argv(script, *args), env=child_env(self.daemon.url),
                              cwd=self.tmp, capture_output=True, text=True,
                              timeout=PROGRAM_TIMEOUT + 30)

    def assert_exits_by_itself(self, result: subprocess.CompletedProcess) -> None:
        self.assertNotEqual(result.returncode, 124,
                            f"the program hung and was stopped by timeout:\n{result.stderr}")
        self.assertEqual(result.returncode, 0, result.stderr)


class ShutdownTest(ProgramCase):
    """Programs that end while their brokered sockets are open."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.daemon = sbtest.Daemon()
        cls.echo = sbtest.EchoServer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.echo.close()
        status = cls.daemon.stop()
        log = cls.daemon.log()
        cls.daemon.cleanup()
        super().tearDownClass()
        if status != 0:
            raise AssertionError(f"sockbrokerd exited {status}:\n{log}")

    def test_the_issues_finalizer_snippet_exits(self) -> None:
        result = self.run_program("""\
            import socket, sys
            PORT = int(sys.argv[1])
            class Conn:
                def __init__(self):
                    self.sock = socket.create_connection(("127.0.0.1", PORT))
                def __del__(self):
                    try:
                        self.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    self.sock.close()
            c = Conn()
            print("done")
            """, str(self.echo.port))
        self.assert_exits_by_itself(result)
        self.assertEqual(result.stdout, "done\n")

    def test_a_finalizer_call_at_shutdown_fails_at_once_with_a_clear_error(self) -> None:
        result = self.run_program("""\
            import socket, sys
            class Conn:
                def __init__(self):
                    self.sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                def __del__(self):
                    try:
                        self.sock.getpeername()
                    except OSError as e:
                        print(type(e).__name__, e.errno, e.strerror, flush=True)
                    self.sock.close()
            c = Conn()
            """, str(self.echo.port))
        self.assert_exits_by_itself(result)
        self.assertIn("BrokerConnectionError", result.stdout)
        self.assertIn("during interpreter shutdown", result.stdout)
        self.assertIn(f"{__import__('errno').EDEADLK} ", result.stdout)

    def test_a_send_in_a_finalizer_at_shutdown_is_written_behind(self) -> None:
        listener = sbtest.RealSocket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        result = self.run_program("""\
            import socket, sys
            class Conn:
                def __init__(self):
                    self.sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
                    self.sock.getpeername()  # a reply with the send credit
                def __del__(self):
                    self.sock.sendall(b"QUIT\\r\\n")
                    self.sock.close()
            c = Conn()
            """, str(listener.getsockname()[1]))
        self.assert_exits_by_itself(result)
        listener.settimeout(10)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            received = b""
            for _ in range(10):
                data = conn.recv(100)
                if not data:
                    break
                received += data
        self.assertEqual(received, b"QUIT\r\n")

    def test_an_atexit_handler_that_closes_a_socket_exits(self) -> None:
        result = self.run_program("""\
            import atexit, socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"ping")
            assert s.recv(4) == b"ping"
            def bye():
                s.sendall(b"bye!")
                print(s.recv(4).decode(), flush=True)
                s.shutdown(socket.SHUT_RDWR)
                s.close()
                print("closed", flush=True)
            atexit.register(bye)
            print("done", flush=True)
            """, str(self.echo.port))
        self.assert_exits_by_itself(result)
        self.assertEqual(result.stdout, "done\nbye!\nclosed\n")

    def test_a_daemon_thread_blocked_in_recv_when_main_returns_exits(self) -> None:
        result = self.run_program("""\
            import socket, sys, threading, time
            port = int(sys.argv[1])
            quiet = socket.create_connection(("127.0.0.1", port))
            busy = socket.create_connection(("127.0.0.1", port))
            started = threading.Event()
            def blocked():
                started.set()
                quiet.recv(10)  # the echo server never sends unasked
            def chatty():
                # Calls until the interpreter stops this thread, maybe mid-send.
                while True:
                    busy.sendall(b"x" * 1000)
                    busy.recv(1000)
            threading.Thread(target=blocked, daemon=True).start()
            threading.Thread(target=chatty, daemon=True).start()
            started.wait(10)
            time.sleep(0.1)
            print("done", flush=True)
            """, str(self.echo.port))
        self.assert_exits_by_itself(result)
        self.assertEqual(result.stdout, "done\n")

    def test_a_signal_handler_calls_while_main_waits_in_recv(self) -> None:
        result = self.run_program("""\
            import signal, socket, sys
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            def on_alarm(signum, frame):
                s.sendall(b"wake")  # the echo server answers the recv below
                print("handler", s.getpeername()[0], flush=True)
            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            print(s.recv(4).decode(), flush=True)
            s.close()
            """, str(self.echo.port))
        self.assert_exits_by_itself(result)
        self.assertEqual(result.stdout, "handler 127.0.0.1\nwake\n")

    def test_after_fork_the_child_fails_fast_on_inherited_sockets_and_gets_a_session(
            self) -> None:
        result = self.run_program("""\
            import os, socket, sys
            port = int(sys.argv[1])
            s = socket.create_connection(("127.0.0.1", port))
            pid = os.fork()
            if pid == 0:
                try:
                    s.getpeername()
                    status = 3
                except ConnectionError as e:
                    print("child:", e, flush=True)
                    status = 0
                with socket.create_connection(("127.0.0.1", port)) as t:
                    t.sendall(b"kid")
                    if t.recv(3) != b"kid":
                        status = 4
                s.close()
                os._exit(status)
            _, status = os.waitpid(pid, 0)
            s.sendall(b"parent")
            print(s.recv(6).decode(), os.waitstatus_to_exitcode(status), flush=True)
            """, str(self.echo.port))
        self.assert_exits_by_itself(result)
        self.assertIn("child: ", result.stdout)
        self.assertIn("forked", result.stdout)
        self.assertTrue(result.stdout.endswith("parent 0\n"), result.stdout)


def redis_server_binary() -> Optional[str]:
    return shutil.which("redis-server")


class RedisTest(ProgramCase):
    """redis-py, whose connections shut their sockets down in __del__."""

    def setUp(self) -> None:
        super().setUp()
        binary = redis_server_binary()
        if binary is None:
            self.skipTest("redis-server is not installed (scripts/install-deps.sh installs it)")
        if importlib.util.find_spec("redis") is None:
            self.skipTest("python3-redis is not installed (scripts/install-deps.sh "
                          "installs it)")
        self.daemon = sbtest.Daemon()
        self.addCleanup(self.stop_daemon)
        self.port = sbtest.free_tcp_port()
        self.redis = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.tmp, "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_redis)
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while True:
            try:
                probe = sbtest.real_create_connection(("127.0.0.1", self.port), timeout=1)
                probe.sendall(b"PING\r\n")
                answer = probe.recv(7)
                probe.close()
                if answer == b"+PONG\r\n":
                    break
            except OSError:
                pass
            if self.redis.poll() is not None or time.monotonic() > deadline:
                self.fail(f"redis-server did not answer on 127.0.0.1:{self.port}")
            time.sleep(0.05)

    def stop_daemon(self) -> None:
        status = self.daemon.stop()
        log = self.daemon.log()
        self.daemon.cleanup()
        self.assertEqual(status, 0, f"sockbrokerd exited {status}:\n{log}")

    def stop_redis(self) -> None:
        if self.redis.poll() is None:
            self.redis.send_signal(signal.SIGTERM)
            try:
                self.redis.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()

    def test_redis_py_through_the_broker_exits(self) -> None:
        result = self.run_program("""\
            import sys
            import redis
            r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
            r.set("sockbroker", "through the broker")
            print(r.get("sockbroker").decode())
            pipe = r.pipeline()
            for i in range(100):
                pipe.incr("counter")
            print(pipe.execute()[-1])
            r.delete("sockbroker", "counter")
            """, str(self.port))
        self.assert_exits_by_itself(result)
        self.assertEqual(result.stdout, "through the broker\n100\n")


class DaemonStopsTest(ProgramCase):
    """A program whose daemon goes away while it waits."""

    def setUp(self) -> None:
        super().setUp()
        self.daemon = sbtest.Daemon()
        self.addCleanup(self.daemon.cleanup)
        self.addCleanup(self.daemon.kill)
        self.echo = sbtest.EchoServer()
        self.addCleanup(self.echo.close)

    def test_a_program_whose_daemon_stops_mid_run_gets_the_clients_error(self) -> None:
        script = self.write("program.py", """\
            import socket, sys
            import sockbroker
            port = int(sys.argv[1])
            s = socket.create_connection(("127.0.0.1", port))
            unclosed = socket.create_connection(("127.0.0.1", port))
            print("waiting", flush=True)
            try:
                s.recv(10)  # the echo server never sends unasked
            except ConnectionError as e:
                print("recv:", e, flush=True)
            try:
                s.getpeername()
            except ConnectionError as e:
                print("getpeername:", e, flush=True)
            try:
                socket.create_connection(("127.0.0.1", port))
            except ConnectionError as e:
                print("new socket:", e, flush=True)
            """)
        program = subprocess.Popen(self.argv(script, str(self.echo.port)),
                                   env=child_env(self.daemon.url), cwd=self.tmp,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert program.stdout is not None
            self.assertEqual(program.stdout.readline(), "waiting\n")
            time.sleep(0.1)  # let the recv reach the daemon (it fails either way)
            self.assertEqual(self.daemon.stop(), 0, self.daemon.log())
            stdout, stderr = program.communicate(timeout=PROGRAM_TIMEOUT + 30)
        finally:
            if program.poll() is None:
                program.kill()
                program.wait()
        self.assertNotEqual(program.returncode, 124, "the program hung")
        self.assertEqual(program.returncode, 0, stderr)
        lines = stdout.splitlines()
        self.assertEqual(len(lines), 3, stdout)
        self.assertTrue(lines[0].startswith("recv: "), stdout)
        self.assertTrue(lines[1].startswith("getpeername: "), stdout)
        self.assertIn("broker", lines[1])
        self.assertTrue(lines[2].startswith("new socket: "), stdout)
        self.assertIn("cannot connect to the broker", lines[2])


class CannotWaitTest(sbtest.BrokerTestCase):
    """Threads that cannot wait for a reply fail at once; a close from them
    is still sent."""

    def setUp(self) -> None:
        super().setUp()
        self.echo = sbtest.EchoServer()
        self.addCleanup(self.echo.close)

    def test_a_call_while_this_thread_hands_replies_over_fails_at_once(self) -> None:
        s = self.sock()
        s.connect(("127.0.0.1", self.echo.port))
        core = self.client
        session = s._session
        outcome: List[BaseException] = []

        def while_handing_over() -> None:
            # A finalizer the garbage collector runs while this thread hands
            # a reply over.
            try:
                s.getsockname()
            except BaseException as e:
                outcome.append(e)

        call = core.start(_pb.pb.Request(recv=_pb.pb.RecvRequest(handle=s._handle,
                                                                  bufsize=10)), session)
        call.waker = while_handing_over
        s.sendall(b"wake")  # echoed: the parked recv completes
        started = time.monotonic()
        self.assertEqual(core.finish(session, call, "recv").data, b"wake")
        self.assertLess(time.monotonic() - started, 10.0)
        self.assertEqual(len(outcome), 1)
        self.assertIsInstance(outcome[0], sockbroker.BrokerConnectionError)
        self.assertIn("taking in the broker's replies", str(outcome[0]))
        self.assertEqual(s.getpeername()[1], self.echo.port)  # the session lives on

    def test_a_call_interrupting_a_send_fails_and_a_close_is_deferred(self) -> None:
        core = self.client
        s = self.sock()
        t = self.sock()
        t.connect(("127.0.0.1", self.echo.port))
        session = s._session
        handle = t.fileno()
        # As a signal handler or finalizer that interrupted this thread in
        # the middle of sending a request sees the connection:
        core._send_lock.acquire()
        core._send_owner = threading.get_ident()
        try:
            started = time.monotonic()
            with self.assertRaises(sockbroker.BrokerConnectionError) as caught:
                s.getsockname()
            self.assertLess(time.monotonic() - started, 1.0)
            t.close()  # needs no answer: queued behind the interrupted send
            self.assertEqual(len(session.deferred), 1)
        finally:
            core._send_owner = None
            core._send_lock.release()
        self.assertIn("while this thread is sending another request", str(caught.exception))
        s.getsockname()  # the next request takes the queued close along
        self.assertEqual(session.deferred, [])
        with self.assertRaises(OSError):
            sockbroker.socket(fileno=handle).getpeername()

    def test_a_nowait_request_on_a_lost_session_is_dropped(self) -> None:
        client = sockbroker.connect(self.daemon.url)
        s = client.socket()
        session = s._session
        client.close()
        s.close()  # no error, no wait
        self.assertTrue(session.lost)
        self.assertEqual(s.fileno(), -1)


if __name__ == "__main__":
    unittest.main()
