"""A new session in one round trip (issue 19): the client sends its SP
header, Hello and its next request without waiting for the daemon's SP
header, and a new process presents the digest of the constants table it
cached, so that the daemon leaves the table out of HelloReply."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import unittest

import sbtest
import sockbroker
from sockbroker import _core

WAIT = 10.0


class SetupTest(unittest.TestCase):
    def setUp(self) -> None:
        cache = tempfile.TemporaryDirectory()
        self.addCleanup(cache.cleanup)
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = cache.name
        if old is None:
            self.addCleanup(os.environ.pop, "XDG_CACHE_HOME", None)
        else:
            self.addCleanup(os.environ.__setitem__, "XDG_CACHE_HOME", old)

    def test_hello_goes_out_before_the_daemons_sp_header(self) -> None:
        listener = sbtest.RealSocket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(WAIT)
        received = []

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(WAIT)
                data = b""
                try:
                    # Silent until the client sent more than its SP header.
                    while len(data) <= 8:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                received.append(data)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        client = sockbroker.connect(f"tcp://127.0.0.1:{listener.getsockname()[1]}")
        self.addCleanup(client.close)
        with self.assertRaises(sockbroker.BrokerConnectionError):
            client.socket()
        t.join(WAIT)
        self.assertEqual(len(received), 1)
        self.assertTrue(received[0].startswith(b"\x00SP\x00"), received[0][:8])
        self.assertGreater(len(received[0]), 8, "the client waited for the daemon's SP "
                           "header before sending Hello")

    def test_a_new_client_presents_the_cached_digest_and_gets_no_table(self) -> None:
        daemon = sbtest.Daemon()
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        first = sockbroker.connect(daemon.url)
        self.addCleanup(first.close)
        self.assertGreater(len(first.server_info.constants), 100)
        path = _core._constants_cache_path(daemon.url)
        self.assertTrue(path and os.path.exists(path), "the table was not cached")
        second = sockbroker.connect(daemon.url)
        self.addCleanup(second.close)
        self.assertEqual(len(second.server_info.constants), 0,
                         "the daemon sent the table although the digest was its own")
        for name in ("AF_INET", "SOCK_STREAM", "SOL_SOCKET", "SO_REUSEADDR", "EAGAIN"):
            self.assertEqual(second.constants.get(name), first.constants.get(name), name)
        with second.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.assertEqual(s.getsockname()[0], "127.0.0.1")

    def test_a_damaged_cache_costs_the_table_nothing_else(self) -> None:
        daemon = sbtest.Daemon()
        self.addCleanup(daemon.cleanup)
        self.addCleanup(daemon.stop)
        path = _core._constants_cache_path(daemon.url)
        assert path is not None
        os.makedirs(os.path.dirname(path), exist_ok=True)
        for damage in ("not json", '{"digest": "00", "constants": {}}',
                       '{"digest": "' + "ab" * 32 + '", "constants": {"AF_INET": 2}}'):
            with open(path, "w") as f:
                f.write(damage)
            client = sockbroker.connect(daemon.url)
            try:
                self.assertGreater(len(client.server_info.constants), 100, damage)
                with client.socket() as s:
                    s.bind(("127.0.0.1", 0))
            finally:
                client.close()


class RoundTripTest(unittest.TestCase):
    """Round trips counted by wan-relay (SIGHUP prints its count)."""

    def setUp(self) -> None:
        relay = os.environ.get("WAN_RELAY")
        if not relay:
            raise unittest.SkipTest("WAN_RELAY must name wan-relay (meson sets it)")
        cache = tempfile.TemporaryDirectory()
        self.addCleanup(cache.cleanup)
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = cache.name
        if old is None:
            self.addCleanup(os.environ.pop, "XDG_CACHE_HOME", None)
        else:
            self.addCleanup(os.environ.__setitem__, "XDG_CACHE_HOME", old)
        port = sbtest.free_tcp_port()
        self.daemon = sbtest.Daemon(extra_listen=(f"tcp://127.0.0.1:{port}",))
        self.addCleanup(self.daemon.cleanup)
        self.addCleanup(self.daemon.stop)
        # 25 ms each way: far longer than the client takes between the
        # requests it sends together, so that each turn counts once.
        self.relay = subprocess.Popen([relay, "127.0.0.1", str(port), "25"],
                                      stdout=subprocess.PIPE)
        self.addCleanup(self.relay.wait)
        self.addCleanup(self.relay.terminate)
        assert self.relay.stdout is not None
        self.url = f"tcp://127.0.0.1:{int(self.relay.stdout.readline())}"

    def round_trips(self) -> int:
        assert self.relay.stdout is not None
        self.relay.send_signal(signal.SIGHUP)
        return int(self.relay.stdout.readline())

    def test_a_new_session_and_its_first_call_take_two_round_trips(self) -> None:
        for attempt in ("table sent", "table cached"):
            start = self.round_trips()
            client = sockbroker.connect(self.url)
            try:
                s = client.socket()
                used = self.round_trips() - start
                s.close()
            finally:
                client.close()
            # SP header + Hello (+ has_ipv6) in one, socket() in the other.
            self.assertLessEqual(used, 2, attempt)
            self.assertGreaterEqual(used, 1, attempt)


if __name__ == "__main__":
    unittest.main()
