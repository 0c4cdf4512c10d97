"""The sandbox case: a program in a new network namespace (unshare -n, no
network at all) fetches a page served on 127.0.0.1 outside it, through the
broker; the same program without the broker cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import sbtest

SCRIPT = """\
import sys
import urllib.request

opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
print(opener.open(sys.argv[1], timeout=10).read().decode(), end="")
"""


class SandboxTest(sbtest.BrokerTestCase):
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
        cls.http = sbtest.HttpServer()
        cls.tmp = tempfile.mkdtemp(prefix="sockbroker-pytest-")
        cls.script = os.path.join(cls.tmp, "fetch.py")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.http.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def run_sandboxed(self, *argv: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["SOCKBROKER_URL"] = self.daemon.url
        return subprocess.run([self.unshare, "-n", sys.executable, *argv], env=env,
                              capture_output=True, text=True, timeout=60)

    def test_fetch_through_the_broker(self) -> None:
        result = self.run_sandboxed("-m", "sockbroker.run", self.script, self.http.url)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, sbtest.PAGE.decode())

    def test_without_the_broker_the_network_is_unreachable(self) -> None:
        result = self.run_sandboxed(self.script, self.http.url)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Network is unreachable", result.stderr)


if __name__ == "__main__":
    unittest.main()
