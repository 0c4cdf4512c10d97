"""Child processes of a brokered program (issue 13): Python children
(subprocess running sys.executable, multiprocessing spawn and forkserver)
install the broker through the environment and a start-up hook; forked
children open sessions of their own; handed-off sockets inherited across
fork are the kernel's. Each program runs in unshare -n and is shown failing
without the broker."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest

import sbtest
import sockbroker
from sockbroker import _install

SUBPROCESS = """\
    import subprocess, sys

    FETCH = "import sys, urllib.request; " \\
            "print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode(), end='')"
    child = subprocess.run([sys.executable, "-c", FETCH, sys.argv[1]],
                           capture_output=True, text=True, timeout=60)
    sys.stdout.write(child.stdout)
    sys.stderr.write(child.stderr)
    sys.exit(child.returncode)
    """

MULTIPROCESSING = """\
    import multiprocessing, sys, urllib.request

    def fetch(url):
        return urllib.request.urlopen(url, timeout=30).read().decode()

    if __name__ == "__main__":
        context = multiprocessing.get_context(sys.argv[2])
        with context.Pool(1) as pool:
            print(pool.apply(fetch, (sys.argv[1],)), end="")
    """

MANAGER = """\
    import multiprocessing, sys, urllib.request

    def fetch(url, results):
        results[url] = urllib.request.urlopen(url, timeout=30).read().decode()

    if __name__ == "__main__":
        context = multiprocessing.get_context("forkserver")
        with context.Manager() as manager:
            results = manager.dict()
            child = context.Process(target=fetch, args=(sys.argv[1], results))
            child.start()
            child.join(60)
            print(results.get(sys.argv[1], f"nothing (exit code {child.exitcode})"), end="")
    """

FORKING_SERVER = """\
    import os, socketserver

    PARENT = os.getpid()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            where = b"a child" if os.getpid() != PARENT else b"the parent"
            self.wfile.write(where + b" answers " + self.rfile.readline().upper())

    with socketserver.ForkingTCPServer(("127.0.0.1", 0), Handler) as server:
        print(server.server_address[1], flush=True)
        server.handle_request()
        server.collect_children(blocking=True)
    print("served", flush=True)
    """


class ChildrenTest(sbtest.SandboxHttpTestCase):
    def test_a_subprocess_running_python_fetches_a_page(self) -> None:
        script = self.program(SUBPROCESS, "subprocess_fetch.py")
        for handoff in (False, True):
            with self.subTest(handoff=handoff):
                self.assert_runs(script, self.http.url, expect=sbtest.PAGE.decode(),
                                 handoff=handoff)
        self.assert_fails_without_broker(script, self.http.url)

    def test_multiprocessing_children_fetch_a_page(self) -> None:
        script = self.program(MULTIPROCESSING, "multiprocessing_fetch.py")
        for method in ("spawn", "forkserver", "fork"):
            with self.subTest(method=method):
                self.assert_runs(script, self.http.url, method, expect=sbtest.PAGE.decode())
                self.assert_fails_without_broker(script, self.http.url, method)

    def test_a_manager_and_a_process_that_fetches_a_page(self) -> None:
        script = self.program(MANAGER, "manager_fetch.py")
        self.assert_runs(script, self.http.url, expect=sbtest.PAGE.decode())
        result = self.run_program(script, self.http.url, broker=False)
        self.assertIn("nothing (exit code 1)", result.stdout)
        self.assertIn("Network is unreachable", result.stderr)

    def test_a_forking_tcp_server_serves_the_host(self) -> None:
        script = self.program(FORKING_SERVER, "forking_server.py")
        process, port = self.start_server_program(script, handoff=True)
        with sbtest.real_create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"hello\n")
            self.assertEqual(conn.makefile("rb").readline(), b"a child answers HELLO\n")
        self.assert_finishes(process, "served\n")
        self.assert_unreachable_from_the_host(script)

    def test_a_forked_child_cannot_use_a_socket_on_the_rpc_path(self) -> None:
        script = self.program(FORKING_SERVER, "forking_server.py")
        process, port = self.start_server_program(script, handoff=False)
        with sbtest.real_create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"hello\n")
            try:
                reply = conn.makefile("rb").readline()
            except ConnectionResetError:  # closed with the request unread
                reply = b""
            self.assertEqual(reply, b"")
        out, err = process.communicate(timeout=sbtest.PROGRAM_TIMEOUT)
        self.assertEqual(out, "served\n", err)
        self.assertIn("the process forked; a child cannot use its parent's session", err)


class EnvironmentTest(sbtest.BrokerTestCase):
    """What install() leaves in the environment for children, and what
    uninstall() takes back."""

    NAMES = ("PYTHONPATH", _install.INSTALL_ENV, "SOCKBROKER_URL", _install.UNIX_ENV,
             "SOCKBROKER_HANDOFF")

    def setUp(self) -> None:
        super().setUp()
        self.before = {name: os.environ.get(name) for name in self.NAMES}

    def environment(self) -> dict:
        return {name: os.environ.get(name) for name in self.NAMES}

    def test_install_arranges_children_and_uninstall_restores(self) -> None:
        sockbroker.install(self.daemon.url, connect=False, handoff=False)
        try:
            self.assertEqual(os.environ[_install.INSTALL_ENV], "1")
            self.assertEqual(os.environ["SOCKBROKER_URL"], self.daemon.url)
            self.assertEqual(os.environ["SOCKBROKER_HANDOFF"], "0")
            self.assertEqual(os.environ["PYTHONPATH"].split(os.pathsep)[0],
                             _install.CHILDREN_DIR)
            child = subprocess.run(
                [sys.executable, "-c", "import socket, sockbroker, sitecustomize, sys; "
                 "print(sockbroker.installed(), socket.socket is not sockbroker._install."
                 "_RealSocket, sitecustomize.__file__, sys.path.count(sys.argv[1]))",
                 _install.CHILDREN_DIR],
                capture_output=True, text=True, timeout=60)
        finally:
            sockbroker.uninstall()
        self.assertEqual(child.returncode, 0, child.stderr)
        installed, patched, hook, on_path = child.stdout.split()
        # The child installed the broker, ran the sitecustomize the hook hid
        # (Debian's, where there is one) and took the hook off its path.
        self.assertEqual((installed, patched, on_path), ("True", "True", "0"))
        self.assertNotEqual(os.path.dirname(hook), _install.CHILDREN_DIR)
        self.assertEqual(self.environment(), self.before)

    def test_a_child_that_cannot_install_says_so_and_runs(self) -> None:
        env = dict(os.environ, SOCKBROKER_URL=self.daemon.url, SOCKBROKER_UNIX="sideways",
                   PYTHONPATH=os.pathsep.join([_install.CHILDREN_DIR,
                                               os.environ.get("PYTHONPATH", "")]))
        env[_install.INSTALL_ENV] = "1"
        child = subprocess.run([sys.executable, "-c", "import sockbroker; "
                                "print(sockbroker.installed())"],
                               env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual((child.returncode, child.stdout), (0, "False\n"), child.stderr)
        self.assertIn("could not install the broker, so its sockets are its own: "
                      "$SOCKBROKER_UNIX is 'sideways'", child.stderr)

    def test_install_without_children_leaves_the_environment(self) -> None:
        sockbroker.install(self.daemon.url, connect=False, children=False)
        try:
            self.assertEqual(self.environment(), self.before)
        finally:
            sockbroker.uninstall()


if __name__ == "__main__":
    unittest.main()
