"""The generated protobuf module matches proto/sockbroker.proto.

The client imports sockbroker_pb2, generated at build time. A stale copy
(an old pip install, a build directory from before a .proto change) would
make the client speak an older contract: regenerate the descriptor with
protoc and compare it with the one the client imported.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from google.protobuf import descriptor_pb2

from sockbroker._pb import pb


def without_json_names(file: descriptor_pb2.FileDescriptorProto) -> bytes:
    """The descriptor without the json_name protoc adds to descriptor sets
    (generated Python code leaves it out)."""
    def clear(messages: object) -> None:
        for message in messages:  # type: ignore[attr-defined]
            for field in list(message.field) + list(message.extension):
                field.ClearField("json_name")
            clear(message.nested_type)

    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    clear(copy.message_type)
    for field in copy.extension:
        field.ClearField("json_name")
    return copy.SerializeToString(deterministic=True)


def source_root() -> str:
    root = os.environ.get("SOCKBROKER_SOURCE_ROOT")
    if root:
        return root
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class ProtoSyncTest(unittest.TestCase):
    def test_generated_module_matches_the_proto(self) -> None:
        protoc = os.environ.get("PROTOC") or shutil.which("protoc")
        if not protoc:
            self.fail("protoc is needed to check the generated module (install "
                      "protobuf-compiler, as scripts/install-deps.sh does)")
        proto_dir = os.path.join(source_root(), "proto")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "sockbroker.desc")
            subprocess.run([protoc, f"--proto_path={proto_dir}", f"--descriptor_set_out={out}",
                            os.path.join(proto_dir, "sockbroker.proto")], check=True, timeout=60)
            with open(out, "rb") as f:
                fresh = descriptor_pb2.FileDescriptorSet.FromString(f.read()).file[0]
        imported = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
        self.assertEqual(
            without_json_names(fresh), without_json_names(imported),
            f"{pb.__file__} was not generated from the current proto/sockbroker.proto: "
            "rebuild (ninja, or pip install again) so that it is regenerated")

    def test_the_contract_has_what_the_client_uses(self) -> None:
        request_ops = {f.name for f in pb.Request.DESCRIPTOR.oneofs_by_name["op"].fields}
        for op in ("hello", "socket", "recv", "sendall", "sendmsg", "recvmsg", "poll",
                   "cancel", "create_connection", "getaddrinfo", "if_nameindex"):
            self.assertIn(op, request_ops)

    def test_pip_install_generates_the_module(self) -> None:
        """The setuptools build step runs protoc (no network: no build
        isolation, no index)."""
        if not all(importlib.util.find_spec(name) for name in ("pip", "setuptools")):
            self.skipTest("SKIP: pip or setuptools is missing (python3-pip, python3-setuptools)")
        root = source_root()
        with tempfile.TemporaryDirectory() as tmp:
            # A copy, so that the build leaves nothing in the source tree.
            source = shutil.copytree(os.path.join(root, "clients", "python"),
                                     os.path.join(tmp, "src"),
                                     ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                   "*.egg-info"))
            target = os.path.join(tmp, "target")
            env = dict(os.environ, SOCKBROKER_PROTO=os.path.join(root, "proto",
                                                                 "sockbroker.proto"))
            env.pop("PYTHONPATH", None)
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                            "--no-build-isolation", "--no-deps", "--target", target, source],
                           env=env, check=True, timeout=300, capture_output=True)
            self.assertTrue(os.path.isfile(os.path.join(target, "sockbroker",
                                                        "sockbroker_pb2.py")))
            env["PYTHONPATH"] = target
            probe = subprocess.run(
                [sys.executable, "-c", "import sockbroker._pb as p; print(p.pb.__name__)"],
                env=env, capture_output=True, text=True, timeout=60, cwd=tmp)
            self.assertEqual(probe.stdout.strip(), "sockbroker.sockbroker_pb2", probe.stderr)

    def test_no_generated_code_in_the_source_tree(self) -> None:
        root = source_root()
        git = shutil.which("git")
        if not git or not os.path.isdir(os.path.join(root, ".git")):
            self.skipTest("not a git checkout: cannot list the tracked files")
        tracked = subprocess.run([git, "-C", root, "ls-files", "*_pb2.py", "*.pb-c.*"],
                                 capture_output=True, text=True, check=True, timeout=60)
        self.assertEqual(tracked.stdout.split(), [],
                         "generated protobuf code is tracked; it belongs in the build directory")


if __name__ == "__main__":
    unittest.main()
