#!/usr/bin/env python3
"""The remote-harness rows: a client far from the daemon, over the WAN rig.

    /usr/bin/python3 bench/wan.py --build build [--delay-ms 20] [--runs 3]

wan-relay (tests/support/wan-relay.c) puts --delay-ms each way (40 ms round
trip by default) between the client and the far side. "direct" is the
program talking to the far side's server itself across the relay; "broker"
is the program on this side with its sockets in a sockbrokerd on the far
side (tcp://, through the relay), which talks to the same server locally.
Rows, each the median of --runs runs (one run of a row is all of it):

  echo       100 exchanges of 64 bytes on one TCP connection
  urllib     one 1 MB GET with urllib, the broker row through
             python3 -m sockbroker.run (the program unmodified), the
             broker session's set-up included
  urllib*    the same with the broker session open before the clock starts
  session    a new session: TCP, SP handshake, Hello and a first call
             (socket()), in round trips of the link

Every process started here is stopped by its pid; the numbers are only as
good as the machine is quiet. Nothing is a timing assertion.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ECHO_ROUNDS = 100
ECHO_SIZE = 64
PAGE = 1 << 20


def echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=pump, args=(conn,), daemon=True).start()

    def pump(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return server


class Page(http.server.BaseHTTPRequestHandler):
    body = bytes(range(256)) * (PAGE // 256)

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def relay(path: str, port: int, delay_ms: int) -> subprocess.Popen:
    process = subprocess.Popen([path, "127.0.0.1", str(port), str(delay_ms)],
                               stdout=subprocess.PIPE)
    assert process.stdout is not None
    process.port = int(process.stdout.readline())  # type: ignore[attr-defined]
    return process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo(sock_module, address) -> float:
    payload = b"x" * ECHO_SIZE
    s = sock_module.create_connection(address)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.perf_counter()
    for _ in range(ECHO_ROUNDS):
        s.sendall(payload)
        got = 0
        while got < ECHO_SIZE:
            got += len(s.recv(ECHO_SIZE - got))
    elapsed = time.perf_counter() - start
    s.close()
    return elapsed


URLLIB = ("import socket, sys, time, urllib.request\n"
          "if sys.argv[2] == 'warm':\n"
          "    socket.socket().close()  # the broker session opened before the clock\n"
          "t = time.perf_counter()\n"
          "n = len(urllib.request.urlopen(sys.argv[1]).read())\n"
          "assert n == %d, n\n"
          "print(time.perf_counter() - t)\n" % PAGE)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--delay-ms", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(build, "tests", "python"),
                                         os.path.join(root, "clients", "python")])
    env["SOCKBROKER_HANDOFF"] = "0"
    sys.path[:0] = env["PYTHONPATH"].split(os.pathsep)
    import sockbroker  # noqa: E402 (after the path is set)

    rtt = 2 * args.delay_ms / 1000.0
    started = []
    tmp = tempfile.mkdtemp(prefix="sockbroker-wan-")
    try:
        echo_srv = echo_server()
        http_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=http_srv.serve_forever, daemon=True).start()
        daemon_port = free_port()
        config = os.path.join(tmp, "config.json")
        with open(config, "w") as f:
            json.dump({"policy": {"rules": [{"name": "bench", "allow": True}]}}, f)
        daemon = subprocess.Popen([os.path.join(build, "server", "sockbrokerd"), "--config",
                                   config, "--listen", f"tcp://127.0.0.1:{daemon_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(daemon)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", daemon_port)).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        rig = os.path.join(build, "tests", "support", "wan-relay")
        to_daemon = relay(rig, daemon_port, args.delay_ms)
        to_echo = relay(rig, echo_srv.getsockname()[1], args.delay_ms)
        to_http = relay(rig, http_srv.server_address[1], args.delay_ms)
        started += [to_daemon, to_echo, to_http]
        url = f"tcp://127.0.0.1:{to_daemon.port}"  # type: ignore[attr-defined]

        rows = {}
        client = sockbroker.Client(url)
        rows["echo"] = (
            [echo(socket, ("127.0.0.1", to_echo.port)) for _ in range(args.runs)],  # type: ignore[attr-defined]
            [echo(client, echo_srv.getsockname()) for _ in range(args.runs)])
        client.close()

        def urllib_run(broker: bool, warm: str = "cold") -> float:
            if broker:
                argv = [sys.executable, "-m", "sockbroker.run", "--url", url, "-c", URLLIB,
                        f"http://127.0.0.1:{http_srv.server_address[1]}/", warm]
            else:
                argv = [sys.executable, "-c", URLLIB,
                        f"http://127.0.0.1:{to_http.port}/", warm]  # type: ignore[attr-defined]
            out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                                 check=True).stdout
            return float(out.split()[-1])

        rows["urllib"] = ([urllib_run(False) for _ in range(args.runs)],
                          [urllib_run(True) for _ in range(args.runs)])
        rows["urllib*"] = (rows["urllib"][0],
                           [urllib_run(True, "warm") for _ in range(args.runs)])

        def session_run() -> float:
            start = time.perf_counter()
            c = sockbroker.Client(url)
            c.socket().close()
            elapsed = time.perf_counter() - start
            c.close()
            return elapsed / rtt

        sessions = [session_run() for _ in range(args.runs)]

        print(f"WAN rig: {2 * args.delay_ms} ms round trip (wan-relay), median of {args.runs}")
        print(f"{'row':<10} {'direct':>10} {'broker':>10} {'ratio':>7}")
        for name, (direct, broker) in rows.items():
            d, b = statistics.median(direct), statistics.median(broker)
            print(f"{name:<10} {d * 1000:>8.0f}ms {b * 1000:>8.0f}ms {b / d:>6.2f}x")
        print(f"{'session':<10} {'':>10} {statistics.median(sessions):>7.1f} RT")
    finally:
        for p in started:
            p.terminate()
            p.wait()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
