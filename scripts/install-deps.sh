#!/usr/bin/env bash
# Install what building, testing and benchmarking sockbroker needs on Debian 12
# (run as root). Safe to run again.
set -euo pipefail

packages=(
	# build
	gcc meson ninja-build pkg-config
	# build: the compiler of the clang configuration (scripts/test.sh)
	clang
	libnng-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler libcjson-dev libcap-dev
	# tests
	check valgrind iproute2 util-linux python3
	# man pages (scdoc), rendering them (man-db), checking the units (systemd-analyze)
	scdoc man-db systemd
	# tests: examples and audit lines against the JSON Schemas (tests/schema)
	python3-jsonschema
	# Debian packages (scripts/build-packages.sh)
	debhelper dh-python python3-all dpkg-dev lintian
	# Python client
	python3-protobuf protobuf-compiler python3-setuptools python3-pip openssl
	# Python client tests: a real program (redis-py) against a local redis-server
	python3-redis redis-server
	# benchmarks: the SOCKS5 relays compared against
	microsocks dante-server
	# benchmarks: RPyC, compared against by bench/python_latency.py
	python3-rpyc
)
# Python client: the libraries its real-program tests run (tests/python/
# test_libraries.py; skipped, saying which, where one is missing).
packages+=(python3-aiohttp python3-httpx python3-websockets)
# Node client (clients/node): Debian's Node.js and npm, unless the machine
# already has a node of its own.
if ! command -v node >/dev/null 2>&1; then
	packages+=(nodejs npm)
fi
# sbrun tests (tests/sbrun): unmodified programs run under sbrun against
# servers on the host.
packages+=(curl wget git dnsutils netcat-openbsd openssh-client openssh-server)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Node client's build and test packages, exactly as its lock file says
# (offline once they are in npm's cache).
node_dir="$(dirname "$0")/../clients/node"
if [[ ! -d "$node_dir/node_modules" || "$node_dir/package-lock.json" -nt "$node_dir/node_modules" ]]; then
	echo "npm ci in clients/node"
	(cd "$node_dir" && npm ci --no-audit --no-fund --prefer-offline >/dev/null)
	touch "$node_dir/node_modules"
fi
