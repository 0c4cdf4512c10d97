#!/usr/bin/python3
"""Per-operation latency of the Python client, side by side.

The same socket work three ways, in one run on one machine:
- direct: the standard socket module (the kernel, no broker);
- sockbroker: the Python client (clients/python) through sockbrokerd, on
  the RPC path (every call a request to the daemon);
- handoff: the same client with handoff on: the daemon hands connected
  sockets over, so calls on them are the kernel's (connect and close are
  still the daemon's);
- rpyc: RPyC remote socket objects (a classic RPyC server on loopback
  holds the sockets; the client calls their methods over RPyC).

Operations: a 64-byte echo round trip, getsockname, setsockopt,
socket+connect+close, and a 1 MiB echo; then asyncio (a program of its own
for each column, run directly or under ``python3 -m sockbroker.run``): a
64-byte echo over a stream, and 200 connections opened at once in one loop,
each echoing 64 bytes, then closed (one sample is all 200). RPyC has no
asyncio rows. The echo server is a separate process. The table gives medians in microseconds and the ratios
sockbroker/direct, handoff/direct and rpyc/sockbroker (below 1: RPyC is
faster).

usage: bench/python_latency.py [--build DIR] [--url URL] [--count N] [--quick]
  --build DIR  build tree with server/sockbrokerd and the generated
               tests/python/sockbroker_pb2.py (default: ./build)
  --url URL    use a running daemon instead of starting one
  --count N    iterations per operation (default 2000; bulk: N/20)
  --quick      a few iterations, to check that everything runs

Needs python3-protobuf and python3-rpyc (scripts/install-deps.sh). Every
process started here is stopped by its pid before the script exits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ECHO_SERVER = """\
import socket, sys, threading
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1024)  # 200 asyncio connections at once
print(listener.getsockname()[1], flush=True)
def echo(conn):
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = conn.recv(1 << 20)
            if not data:
                return
            conn.sendall(data)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=echo, args=(conn,), daemon=True).start()
"""

ASYNCIO_SUITE = """\
import asyncio, json, statistics, sys, time

async def main(port, count, connections, rounds):
    clock = time.perf_counter_ns
    small = b"x" * 64
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    samples = []
    for i in range(count + max(10, count // 10)):
        start = clock()
        writer.write(small)
        await writer.drain()
        await reader.readexactly(64)
        if i >= max(10, count // 10):
            samples.append(clock() - start)
    writer.close()
    await writer.wait_closed()
    results = {"asyncio echo 64 B": statistics.median(samples) / 1000.0}

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(small)
        await reader.readexactly(64)
        return writer

    samples = []
    for _ in range(rounds):
        start = clock()
        writers = await asyncio.gather(*[one() for _ in range(connections)])
        for writer in writers:
            writer.close()
        await asyncio.gather(*[writer.wait_closed() for writer in writers])
        samples.append(clock() - start)
    results[f"asyncio {connections} conns"] = statistics.median(samples) / 1000.0
    print(json.dumps(results), flush=True)

asyncio.run(main(*map(int, sys.argv[1:5])))
"""

ASYNCIO_CONNECTIONS = 200

RPYC_SERVER = """\
import sys
from rpyc.core.service import ClassicService
from rpyc.utils.server import ThreadedServer
server = ThreadedServer(ClassicService, hostname="127.0.0.1", port=0,
                        protocol_config={"allow_all_attrs": True, "allow_public_attrs": True})
print(server.port, flush=True)
server.start()
"""


class Processes:
    """Children started here, stopped by pid."""

    def __init__(self) -> None:
        self.children: List[subprocess.Popen] = []

    def start(self, argv: List[str], **kwargs: Any) -> subprocess.Popen:
        child = subprocess.Popen(argv, **kwargs)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


def read_port(child: subprocess.Popen, what: str) -> int:
    line = child.stdout.readline() if child.stdout else b""
    if not line.strip():
        raise SystemExit(f"python_latency: the {what} did not start")
    return int(line)


def recv_exactly(sock: Any, n: int) -> None:
    got = 0
    while got < n:
        data = sock.recv(n - got)
        if not data:
            raise SystemExit("python_latency: the echo server closed the connection")
        got += len(data)


def measure(op: Callable[[], None], count: int, warmup: int) -> float:
    """Median microseconds of op over count runs."""
    for _ in range(warmup):
        op()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        op()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000.0


def run_suite(module: Any, echo_port: int, count: int) -> Dict[str, float]:
    """The operations over `module`, something with the socket module's API."""
    results = {}
    small = b"x" * 64
    bulk = os.urandom(1 << 20)
    conn = module.create_connection(("127.0.0.1", echo_port))
    conn.setsockopt(module.IPPROTO_TCP, module.TCP_NODELAY, 1)

    def echo_64() -> None:
        conn.sendall(small)
        recv_exactly(conn, 64)

    def echo_1mib() -> None:
        conn.sendall(bulk)
        recv_exactly(conn, len(bulk))

    def connect_close() -> None:
        s = module.socket(module.AF_INET, module.SOCK_STREAM)
        s.connect(("127.0.0.1", echo_port))
        s.close()

    warmup = max(10, count // 10)
    results["echo 64 B"] = measure(echo_64, count, warmup)
    results["getsockname"] = measure(conn.getsockname, count, warmup)
    results["setsockopt"] = measure(
        lambda: conn.setsockopt(module.IPPROTO_TCP, module.TCP_NODELAY, 1), count, warmup)
    results["socket+connect+close"] = measure(connect_close, max(10, count // 4), warmup // 4)
    results["echo 1 MiB"] = measure(echo_1mib, max(5, count // 20), 3)
    conn.close()
    return results


def run_asyncio_suite(processes: "Processes", echo_port: int, count: int,
                      env: Dict[str, str], brokered: bool) -> Dict[str, float]:
    """The asyncio operations, in a program of their own (under
    sockbroker.run when brokered)."""
    rounds = 3 if count < 500 else 10
    argv = [sys.executable] + (["-m", "sockbroker.run"] if brokered else []) + [
        "-c", ASYNCIO_SUITE, str(echo_port), str(max(10, count // 4)),
        str(ASYNCIO_CONNECTIONS), str(rounds)]
    child = processes.start(argv, stdout=subprocess.PIPE, env=env)
    out, _ = child.communicate(timeout=300)
    if child.returncode != 0:
        raise SystemExit(f"python_latency: the asyncio suite failed ({child.returncode})")
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--url")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 50 if args.quick else args.count

    sys.path[:0] = [os.path.join(args.build, "tests", "python"),
                    os.path.join(ROOT, "clients", "python")]
    try:
        import sockbroker
    except ImportError as e:
        raise SystemExit(f"python_latency: cannot import the client ({e}); build "
                         f"{args.build} first (ninja -C {args.build})")
    try:
        import rpyc
    except ImportError:
        rpyc = None
        print("python_latency: python3-rpyc is missing: the rpyc column is left out",
              file=sys.stderr)

    processes = Processes()
    tmp = tempfile.mkdtemp(prefix="sockbroker-bench-")
    try:
        url = args.url
        if not url:
            daemon = os.path.join(args.build, "server", "sockbrokerd")
            if not os.access(daemon, os.X_OK):
                raise SystemExit(f"python_latency: {daemon} is missing: build first or "
                                 "give --url")
            path = os.path.join(tmp, "sockbroker.sock")
            url = f"ipc://{path}"
            processes.start([daemon, "--listen", url, "--log-level", "warn"],
                            stderr=open(os.path.join(tmp, "daemon.log"), "wb"))
            deadline = time.monotonic() + 20
            while not os.path.exists(path):
                if time.monotonic() > deadline:
                    raise SystemExit("python_latency: sockbrokerd did not start")
                time.sleep(0.01)

        echo = processes.start([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE)
        echo_port = read_port(echo, "echo server")

        columns: Dict[str, Dict[str, float]] = {}
        columns["direct"] = run_suite(socket, echo_port, count)
        client = sockbroker.connect(url, handoff=False)
        columns["sockbroker"] = run_suite(client, echo_port, count)
        client.close()
        client = sockbroker.connect(url, handoff=True)
        if client.server_info.handoff:
            columns["handoff"] = run_suite(client, echo_port, count)
        else:
            print("python_latency: the daemon does not hand sockets over on "
                  f"{url}: the handoff column is left out", file=sys.stderr)
        client.close()

        env = dict(os.environ, SOCKBROKER_URL=url, PYTHONPATH=os.pathsep.join(sys.path[:2]))
        columns["direct"].update(run_asyncio_suite(processes, echo_port, count, env, False))
        for column, handoff in (("sockbroker", "0"), ("handoff", "1")):
            if column in columns:
                columns[column].update(run_asyncio_suite(
                    processes, echo_port, count, dict(env, SOCKBROKER_HANDOFF=handoff), True))
        if rpyc is not None:
            server = processes.start([sys.executable, "-c", RPYC_SERVER],
                                     stdout=subprocess.PIPE)
            rpyc_port = read_port(server, "RPyC server")
            deadline = time.monotonic() + 20
            while True:  # it listens only once start() runs
                try:
                    conn = rpyc.classic.connect("127.0.0.1", rpyc_port)
                    break
                except ConnectionRefusedError:
                    if time.monotonic() > deadline:
                        raise SystemExit("python_latency: the RPyC server did not listen")
                    time.sleep(0.05)
            columns["rpyc"] = run_suite(conn.modules.socket, echo_port, count)
            conn.close()
    finally:
        processes.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    names = list(columns["direct"])
    handoff = "handoff" in columns
    header = f"{'operation':<22}{'direct us':>11}{'sockbroker us':>15}"
    if handoff:
        header += f"{'handoff us':>12}"
    if "rpyc" in columns:
        header += f"{'rpyc us':>11}"
    header += f"{'broker/direct':>15}"
    if handoff:
        header += f"{'handoff/direct':>16}"
    if "rpyc" in columns:
        header += f"{'rpyc/broker':>13}"
    print(f"python client latency, medians of {count} runs (bulk: {max(5, count // 20)})")
    print(header)
    for name in names:
        direct, broker = columns["direct"][name], columns["sockbroker"][name]
        line = f"{name:<22}{direct:>11.1f}{broker:>15.1f}"
        if handoff:
            line += f"{columns['handoff'][name]:>12.1f}"
        rpyc_value = columns.get("rpyc", {}).get(name)
        if "rpyc" in columns:
            line += f"{rpyc_value:>11.1f}" if rpyc_value is not None else f"{'-':>11}"
        line += f"{broker / direct:>15.1f}"
        if handoff:
            line += f"{columns['handoff'][name] / direct:>16.1f}"
        if "rpyc" in columns:
            line += f"{rpyc_value / broker:>13.2f}" if rpyc_value is not None else f"{'-':>13}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
