"""The sbrun rows of bench/run.sh: a program's view of its sockets, run once
directly on the host and once under `unshare -n sbrun`.

    sbrun_probe.py server                 an echo server on 127.0.0.1; prints "port N"
    sbrun_probe.py echo PORT COUNT        64-byte round trips on one connection
    sbrun_probe.py connect PORT COUNT     connect + 1 byte + close, COUNT times

The clients print one line: "<kind> n=COUNT median_us=X p99_us=Y".
Everything is bounded: the server ends with its parent's pipe (stdin), the
clients after COUNT iterations or 60 s.
"""
import socket
import statistics
import sys
import threading
import time

MESSAGE = b"x" * 64
TIME_LIMIT_S = 60


def serve_one(conn):
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


def server():
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    print("port", listener.getsockname()[1], flush=True)

    def accept_loop():
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    sys.stdin.read()  # until run.sh closes the pipe


def report(kind, samples):
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{kind} n={len(samples)} median_us={statistics.median(samples):.1f} p99_us={p99:.1f}")


def echo(port, count):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    deadline = time.monotonic() + TIME_LIMIT_S
    for _ in range(count):
        start = time.perf_counter_ns()
        s.sendall(MESSAGE)
        got = 0
        while got < len(MESSAGE):
            got += len(s.recv(len(MESSAGE) - got))
        samples.append((time.perf_counter_ns() - start) / 1000)
        if time.monotonic() > deadline:
            break
    s.close()
    report("echo", samples)


def connect(port, count):
    samples = []
    deadline = time.monotonic() + TIME_LIMIT_S
    for _ in range(count):
        start = time.perf_counter_ns()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"x")
        s.recv(1)
        s.close()
        samples.append((time.perf_counter_ns() - start) / 1000)
        if time.monotonic() > deadline:
            break
    report("connect", samples)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    elif sys.argv[1] == "echo":
        echo(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "connect":
        connect(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
