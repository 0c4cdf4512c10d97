"""The daemon's policy as a Python program meets it: a denied operation
raises PermissionError with errno EACCES (the exception the standard
library's socket module raises for the kernel's refusal), the message names
the deciding rule, and the socket and the session go on working.

The daemon runs with a policy of the test's own (the fixture gives a daemon
without one an allow-all policy): copies of two rules of the built-in
default, then everything else allowed."""

from __future__ import annotations

import errno
import json
import socket as stdsocket
import unittest

import sbtest
import sockbroker

POLICY = {
    "rules": [
        {"name": "deny-cloud-metadata", "allow": False, "ops": ["connect", "send-to"],
         "addresses": ["169.254.169.254/32", "fd00:ec2::254/128"]},
        {"name": "deny-privileged-bind", "allow": False, "ops": ["bind"],
         "families": ["AF_INET", "AF_INET6"], "ports": ["1-1023"]},
        {"name": "tests-allow-all", "allow": True},
    ],
}


class PolicyTest(sbtest.BrokerTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        unittest.TestCase.setUpClass()
        cls.daemon = sbtest.Daemon(config=json.dumps({"policy": POLICY}))
        cls.client = sockbroker.set_default_url(cls.daemon.url)
        cls.echo = sbtest.EchoServer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.echo.close()
        super().tearDownClass()

    def assertDenied(self, cm: "unittest.case._AssertRaisesContext[PermissionError]",
                     rule: str) -> None:
        e = cm.exception
        self.assertEqual(e.errno, errno.EACCES)
        self.assertIn(rule, str(e))
        self.assertEqual(getattr(e, "rule", None), rule)
        self.assertEqual(getattr(e, "broker_kind", None), "denied")

    def assertServes(self, s: "sockbroker.socket") -> None:
        s.connect(self.echo.address)
        s.sendall(b"still served")
        self.assertEqual(s.recv(64), b"still served")

    def test_connect_to_the_metadata_address_raises_permission_error(self) -> None:
        s = self.sock(stdsocket.AF_INET, stdsocket.SOCK_STREAM)
        with self.assertRaises(PermissionError) as cm:
            s.connect(("169.254.169.254", 80))
        self.assertDenied(cm, "deny-cloud-metadata")
        self.assertServes(s)

    def test_the_ipv4_mapped_form_is_the_same_destination(self) -> None:
        if not sbtest.ipv6_available():
            self.skipTest("SKIP: no IPv6 on this host")
        s = self.sock(stdsocket.AF_INET6, stdsocket.SOCK_STREAM)
        with self.assertRaises(PermissionError) as cm:
            s.connect(("::ffff:169.254.169.254", 80))
        self.assertDenied(cm, "deny-cloud-metadata")

    def test_connect_ex_raises_the_denial(self) -> None:
        # connect_ex() returns the connect's own errno; a denial comes before
        # any connect, so it is raised, as a failed name lookup is.
        s = self.sock(stdsocket.AF_INET, stdsocket.SOCK_STREAM)
        with self.assertRaises(PermissionError) as cm:
            s.connect_ex(("169.254.169.254", 80))
        self.assertDenied(cm, "deny-cloud-metadata")

    def test_sendto_the_metadata_address_raises_permission_error(self) -> None:
        s = self.sock(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
        with self.assertRaises(PermissionError) as cm:
            s.sendto(b"query", ("169.254.169.254", 53))
        self.assertDenied(cm, "deny-cloud-metadata")

    def test_create_connection_raises_permission_error(self) -> None:
        with self.assertRaises(PermissionError) as cm:
            sockbroker.create_connection(("169.254.169.254", 80), timeout=5)
        self.assertEqual(cm.exception.errno, errno.EACCES)
        self.assertIn("deny-cloud-metadata", str(cm.exception))

    def test_bind_to_port_80_raises_permission_error_and_port_0_works(self) -> None:
        s = self.sock(stdsocket.AF_INET, stdsocket.SOCK_STREAM)
        with self.assertRaises(PermissionError) as cm:
            s.bind(("127.0.0.1", 80))
        self.assertDenied(cm, "deny-privileged-bind")
        s.bind(("127.0.0.1", 0))
        self.assertGreaterEqual(s.getsockname()[1], 1024)


if __name__ == "__main__":
    unittest.main()
