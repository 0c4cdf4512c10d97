#!/usr/bin/env bash
# Install, build, and show sockbroker at work (Debian 12, as root):
#   1. sockbrokerd starts on its built-in default configuration
#      (ipc:///run/sockbroker/sockbroker.sock);
#   2. a small web server listens on 127.0.0.1;
#   3. a process in a new, empty network namespace (unshare -n) fails to
#      reach it directly ("Network is unreachable"), then fetches the page
#      through the broker with sbcat, and with an unmodified curl under
#      sbrun (its connect() served by the daemon).
# Everything started here is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
	echo "demo: run as root (it installs packages and uses unshare -n)" >&2
	exit 1
fi

scripts/install-deps.sh
[[ -d build ]] || meson setup build >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

echo "== starting sockbrokerd with its default configuration"
build/server/sockbrokerd 2>"$work/daemon.log" &
pids+=($!)
url=ipc:///run/sockbroker/sockbroker.sock
for _ in $(seq 100); do [[ -S /run/sockbroker/sockbroker.sock ]] && break; sleep 0.05; done
head -n 1 "$work/daemon.log"

echo "== a web server on 127.0.0.1"
mkdir "$work/www"
echo "hello from 127.0.0.1, fetched through sockbroker" >"$work/www/index.html"
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" 0 >"$work/http.log" 2>&1 &
pids+=($!)
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/http.log" | head -n 1)
	[[ -n "$port" ]] && break
	sleep 0.05
done
echo "listening on 127.0.0.1:$port"

echo "== inside 'unshare -n' (no network at all)"
unshare -n bash -c "
	echo -n 'direct connect: '
	python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $port), timeout=2)' 2>&1 |
		tail -n 1
	echo 'through the broker:'
	printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' |
		SOCKBROKER_URL=$url build/clients/c/sbcat -t 5 tcp:127.0.0.1:$port | sed 's/^/  /'
	echo 'curl, unmodified, under sbrun:'
	SOCKBROKER_URL=$url build/clients/c/sbrun -- curl -sS --max-time 5 http://127.0.0.1:$port/ |
		sed 's/^/  /'
"
echo "== the daemon's log"
sed 's/^/  /' "$work/daemon.log"
