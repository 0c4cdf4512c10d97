"""Build step: generate sockbroker/sockbroker_pb2.py from sockbroker.proto.

The metadata is in pyproject.toml. The .proto is found through
$SOCKBROKER_PROTO, else in the repository this package sits in
(proto/sockbroker.proto), else next to this file (an sdist carries a copy).
protoc comes from $PROTOC or PATH (Debian: protobuf-compiler).
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))


def find_proto():
    candidates = [
        os.environ.get("SOCKBROKER_PROTO"),
        os.path.join(HERE, "..", "..", "proto", "sockbroker.proto"),
        os.path.join(HERE, "sockbroker.proto"),
    ]
    for path in candidates:
        if path and os.path.isfile(path):
            return os.path.abspath(path)
    sys.exit("sockbroker: cannot find sockbroker.proto; build from a sockbroker checkout "
             "(it is proto/sockbroker.proto there) or set SOCKBROKER_PROTO to its path")


def find_protoc():
    protoc = os.environ.get("PROTOC") or shutil.which("protoc")
    if not protoc:
        sys.exit("sockbroker: protoc is needed to generate the protobuf module; install it "
                 "(Debian: apt-get install protobuf-compiler) or set PROTOC")
    return protoc


class BuildWithProtoc(build_py):
    """build_py, plus sockbroker_pb2.py generated into the build tree."""

    def run(self):
        super().run()
        proto = find_proto()
        out_dir = os.path.join(self.build_lib, "sockbroker")
        os.makedirs(out_dir, exist_ok=True)
        command = [find_protoc(), f"--python_out={out_dir}",
                   f"--proto_path={os.path.dirname(proto)}", proto]
        self.announce(" ".join(command), level=2)
        subprocess.run(command, check=True)


class SdistWithProto(sdist):
    """sdist, carrying a copy of the .proto for builds outside a checkout."""

    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        shutil.copy(find_proto(), os.path.join(base_dir, "sockbroker.proto"))


setup(cmdclass={"build_py": BuildWithProtoc, "sdist": SdistWithProto})
