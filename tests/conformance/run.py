"""Run one conformance runner against a fresh daemon.

usage: run.py RUNNER [ARGS...]

Starts sockbrokerd ($SOCKBROKERD) on an ipc:// path in a temporary
directory with tests/conformance/daemon.json (the fixture of the Python
client's tests, tests/python/sbtest.py), runs the runner with
SOCKBROKER_URL pointing at it, stops the daemon by its pid, and exits with
the runner's status (or 1 when the daemon did not exit cleanly).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import sbtest  # noqa: E402

RUNNER_TIMEOUT = 600


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(os.path.join(HERE, "daemon.json")) as f:
        config = f.read()
    daemon = sbtest.Daemon(config=config)
    try:
        env = dict(os.environ, SOCKBROKER_URL=daemon.url)
        try:
            status = subprocess.run(sys.argv[1:], env=env, timeout=RUNNER_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            print(f"run.py: {sys.argv[1]} did not finish within {RUNNER_TIMEOUT} s", file=sys.stderr)
            status = 1
        code = daemon.stop()
        if code != 0:
            print(f"run.py: sockbrokerd exited {code}:\n{daemon.log()}", file=sys.stderr)
            return 1
        return status
    finally:
        daemon.kill()
        daemon.cleanup()


if __name__ == "__main__":
    sys.exit(main())
