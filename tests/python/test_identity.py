"""Access tokens from the Python client: $SOCKBROKER_TOKEN and connect(token=...),
and a refusal raised as PermissionError."""

from __future__ import annotations

import errno
import os
import unittest
from unittest import mock

import sbtest
import sockbroker

# Tokens and their SHA-256, as `printf %s TOKEN | sha256sum` prints them.
CI_TOKEN = "ci-token-1f8a04c2"
CI_HASH = "91b39df0b0457b3fd948384f9ef9ec161d624ca44c606458b2a88e4d447fccdd"
OPS_TOKEN = "ops-token-77b2e9d1"
OPS_HASH = "4d3ce9b645d5406581251eda948784d65dd0880a4895d70f9a4aac1907a46eeb"
WRONG_TOKEN = "wrong-token-5d0c3a"


def without_token_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "SOCKBROKER_TOKEN"}


class TokenTest(unittest.TestCase):
    """A daemon that requires a token on ipc://."""

    @classmethod
    def setUpClass(cls) -> None:
        config = ('{"auth": {"tokens": [{"name": "ci", "sha256": "%s"}, '
                  '{"name": "ops", "sha256": "%s"}], "require_token": ["ipc"]}}'
                  % (CI_HASH, OPS_HASH))
        cls.daemon = sbtest.Daemon(config=config)

    @classmethod
    def tearDownClass(cls) -> None:
        status = cls.daemon.stop()
        log = cls.daemon.log()
        cls.daemon.cleanup()
        if status != 0:
            raise AssertionError(f"sockbrokerd exited {status}:\n{log}")
        for token in (CI_TOKEN, OPS_TOKEN, WRONG_TOKEN):
            if token in log:
                raise AssertionError(f"a token is in the daemon's log:\n{log}")

    def roundtrip(self, client: sockbroker.Client) -> None:
        a, b = client.socketpair()
        with a, b:
            a.sendall(b"ping")
            self.assertEqual(b.recv(10), b"ping")

    def test_the_token_comes_from_sockbroker_token(self) -> None:
        env = without_token_env()
        env["SOCKBROKER_TOKEN"] = CI_TOKEN
        with mock.patch.dict(os.environ, env, clear=True):
            with sockbroker.connect(self.daemon.url) as client:
                self.assertEqual(client.server_info.identity.token_name, "ci")
                self.roundtrip(client)

    def test_a_token_argument_wins_over_the_environment(self) -> None:
        env = without_token_env()
        env["SOCKBROKER_TOKEN"] = WRONG_TOKEN
        with mock.patch.dict(os.environ, env, clear=True):
            with sockbroker.connect(self.daemon.url, token=OPS_TOKEN) as client:
                self.assertEqual(client.server_info.identity.token_name, "ops")
                self.roundtrip(client)

    def test_a_wrong_token_is_a_permission_error(self) -> None:
        with mock.patch.dict(os.environ, without_token_env(), clear=True):
            with sockbroker.connect(self.daemon.url, token=WRONG_TOKEN) as client:
                with self.assertRaises(PermissionError) as cm:
                    client.socket()
        self.assertEqual(cm.exception.errno, errno.EACCES)
        self.assertEqual(cm.exception.broker_kind, "denied")  # type: ignore[attr-defined]
        self.assertIn("not valid for this daemon", str(cm.exception))
        self.assertNotIn(WRONG_TOKEN, str(cm.exception))

    def test_no_token_where_one_is_required_is_a_permission_error(self) -> None:
        with mock.patch.dict(os.environ, without_token_env(), clear=True):
            with sockbroker.connect(self.daemon.url) as client:
                with self.assertRaises(PermissionError) as cm:
                    client.socket()
        self.assertEqual(cm.exception.errno, errno.EACCES)
        self.assertIn("requires a token on ipc connections", str(cm.exception))
        self.assertIn("SOCKBROKER_TOKEN", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
