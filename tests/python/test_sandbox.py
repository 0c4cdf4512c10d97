"""The sandbox case: a program in a new network namespace (unshare -n, no
network at all) fetches a page served on 127.0.0.1 outside it, through the
broker; the same program without the broker cannot."""

from __future__ import annotations

import unittest

import sbtest

SCRIPT = """\
    import sys
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    print(opener.open(sys.argv[1], timeout=10).read().decode(), end="")
    """


class SandboxTest(sbtest.SandboxHttpTestCase):
    def test_fetch_through_the_broker(self) -> None:
        self.assert_runs(self.program(SCRIPT, "fetch.py"), self.http.url,
                         expect=sbtest.PAGE.decode())

    def test_without_the_broker_the_network_is_unreachable(self) -> None:
        self.assert_fails_without_broker(self.program(SCRIPT, "fetch.py"), self.http.url)


if __name__ == "__main__":
    unittest.main()
