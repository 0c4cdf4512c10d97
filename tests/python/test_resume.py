"""A tcp:// session resumed over a new connection by the Python client.

The client talks to the daemon through wan-relay, which resets the link
(SIGUSR1) while a recv and an accept wait in the daemon and a sendall is
under way: the client connects again by itself, and the calls complete with
the same sockets and every byte once.
"""

from __future__ import annotations

import json
import os
import signal
import socket as _stdsocket
import subprocess
import threading
import time
import unittest

import sockbroker
from sbtest import Daemon, free_tcp_port

BULK = 6 * 1024 * 1024
WAIT = 15.0


def bulk_bytes() -> bytes:
    return bytes((i * 2654435761 >> 13) & 0xFF for i in range(256)) * (BULK // 256)


class ResumeTest(unittest.TestCase):
    def setUp(self) -> None:
        relay = os.environ.get("WAN_RELAY")
        self.ctl = os.environ.get("SOCKBROKERCTL", "")
        if not relay or not self.ctl:
            raise unittest.SkipTest("WAN_RELAY and SOCKBROKERCTL must name wan-relay and "
                                    "sockbrokerctl (meson sets them)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("sockbrokerctl needs an admin: run as root")
        port = free_tcp_port()
        self.daemon = Daemon(extra_listen=(f"tcp://127.0.0.1:{port}",),
                             config='{"log_level": "debug"}')
        self.addCleanup(self.daemon.cleanup)
        self.addCleanup(self.daemon.stop)
        self.relay = subprocess.Popen([relay, "127.0.0.1", str(port), "1"],
                                      stdout=subprocess.PIPE)
        self.addCleanup(self.relay.wait)
        self.addCleanup(self.relay.terminate)
        assert self.relay.stdout is not None
        self.relay_port = int(self.relay.stdout.readline())
        self.client = sockbroker.Client(f"tcp://127.0.0.1:{self.relay_port}")
        self.addCleanup(self.client.close)

    def parked(self) -> int:
        """How many operations of this process's session wait in the daemon
        (sockbrokerctl, over the daemon's ipc:// socket: root is an admin)."""
        out = subprocess.run([self.ctl, "--broker", self.daemon.url, "--json", "sessions"],
                             capture_output=True, text=True, timeout=WAIT, check=True).stdout
        return sum(s["parked"] for s in json.loads(out)["sessions"]
                   if f"(pid {os.getpid()})" in (s.get("client") or ""))

    def wait_log(self, text: str) -> None:
        deadline = time.monotonic() + WAIT
        while text not in self.daemon.log():
            self.assertLess(time.monotonic(), deadline, f"no {text!r} in the daemon's log")
            time.sleep(0.01)

    def test_a_reset_link_resumes_with_the_same_sockets_and_every_byte_once(self) -> None:
        client = self.client
        listener = client.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        peer_listener = _stdsocket.create_server(("127.0.0.1", 0))
        self.addCleanup(peer_listener.close)
        stream = client.socket()
        self.addCleanup(stream.close)
        stream.connect(peer_listener.getsockname())
        peer, _ = peer_listener.accept()
        self.addCleanup(peer.close)

        results: dict = {}
        data = bulk_bytes()

        def run(name, fn):
            try:
                results[name] = fn()
            except BaseException as e:  # noqa: BLE001 (reported by the test)
                results[name] = e

        threads = [
            threading.Thread(target=run, args=("accept", listener.accept)),
            threading.Thread(target=run, args=("recv", lambda: stream.recv(64))),
            threading.Thread(target=run, args=("sendall", lambda: stream.sendall(data))),
        ]
        for t in threads:
            t.start()
        # The three wait in the daemon: the peer reads nothing yet.
        deadline = time.monotonic() + WAIT
        while self.parked() < 3:
            self.assertLess(time.monotonic(), deadline, "the three calls did not wait")
            time.sleep(0.01)

        os.kill(self.relay.pid, signal.SIGUSR1)
        self.wait_log("detached with 2 sockets")

        incoming = _stdsocket.create_connection(("127.0.0.1", port))
        self.addCleanup(incoming.close)
        peer.sendall(b"after the reset")
        got = bytearray()
        while len(got) < BULK:
            chunk = peer.recv(1 << 16)
            self.assertTrue(chunk, f"the stream ended after {len(got)} of {BULK} bytes")
            got += chunk
        self.assertEqual(bytes(got), data, "bytes of the sendall lost or repeated")
        for t in threads:
            t.join(WAIT)
            self.assertFalse(t.is_alive())
        self.assertIsNone(results["sendall"])
        self.assertEqual(results["recv"], b"after the reset")
        accepted, _ = results["accept"]
        self.addCleanup(accepted.close)
        self.wait_log("resumed on a new connection")

        # The same sockets go on.
        self.assertEqual(listener.getsockname()[1], port)
        accepted.sendall(b"ok")
        self.assertEqual(incoming.recv(2), b"ok")
        stream.close()
        self.assertEqual(peer.recv(1), b"")


if __name__ == "__main__":
    unittest.main()
