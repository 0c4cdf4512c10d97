#!/bin/sh
# systemd-analyze verify on the units meson generated, with ExecStart= pointing
# at the daemon just built (verify checks that the program exists). Exits 77
# (SKIP) when systemd-analyze is missing: Debian's systemd package has it.
# Then the daemon's --check-config on the configuration the service reads.
# Usage: verify-units.sh SERVICE SOCKET SOCKBROKERD CONFIG
set -eu

service=$1 socket=$2 config=$4
daemon=$(realpath "$3")

if ! "$daemon" --check-config --config "$config" >/dev/null 2>&1; then
	"$daemon" --check-config --config "$config" 2>&1 | tail -n 5
	echo "FAIL: sockbrokerd --check-config refuses $config"
	exit 1
fi
echo "ok: sockbrokerd --check-config accepts $(basename "$config")"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not found (install Debian's systemd package)"
	exit 77
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

sed "s|^ExecStart=[^ ]*sockbrokerd |ExecStart=$daemon |" "$service" >"$dir/sockbrokerd.service"
cp "$socket" "$dir/sockbrokerd.socket"
if ! grep -q "^ExecStart=$daemon " "$dir/sockbrokerd.service"; then
	echo "FAIL: $service has no ExecStart= line running sockbrokerd"
	exit 1
fi

# Type=notify and socket activation are the daemon's side of the contract:
# keep them, and the socket's name, in the units.
for want in "Type=notify" "Requires=sockbrokerd.socket" "CapabilityBoundingSet=" \
	"SystemCallFilter=@system-service" "ProtectSystem=strict" "User=sockbroker"; do
	grep -qx "$want" "$dir/sockbrokerd.service" || {
		echo "FAIL: sockbrokerd.service lacks the line $want"
		exit 1
	}
done
for want in "ListenStream=/run/sockbroker/sockbroker.sock" "FileDescriptorName=sockbroker" \
	"SocketMode=0660"; do
	grep -qx "$want" "$dir/sockbrokerd.socket" || {
		echo "FAIL: sockbrokerd.socket lacks the line $want"
		exit 1
	}
done

# Any message from verify is a finding: it prints nothing for clean units.
out=$(cd "$dir" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no \
	"$dir/sockbrokerd.socket" "$dir/sockbrokerd.service" 2>&1) || {
	echo "$out"
	echo "FAIL: systemd-analyze verify failed"
	exit 1
}
if [ -n "$out" ]; then
	echo "$out"
	echo "FAIL: systemd-analyze verify had something to say"
	exit 1
fi
echo "ok: systemd-analyze verify sockbrokerd.socket sockbrokerd.service"
