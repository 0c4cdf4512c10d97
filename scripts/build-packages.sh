#!/usr/bin/env bash
# Build the Debian packages once (dpkg-buildpackage -us -uc -b, in a copy of
# the tree, so that the checkout stays clean), check them with lintian (no
# errors) and check what each one ships with dpkg-deb -c. The packages are
# left in build-deb/. Run on Debian 12 after scripts/install-deps.sh.
# With --install (CI does this: it installs into the machine it runs on), the
# packages are then installed with apt-get, the installed daemon, clients and
# man pages are tried, and the packages are purged again.
# Usage: scripts/build-packages.sh [--install]
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
install=0
[[ "${1:-}" == "--install" ]] && install=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/sockbroker"
tar --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./obj-\* -cf - . |
	tar -xf - -C "$work/sockbroker"

echo "== dpkg-buildpackage -us -uc -b"
if ! (cd "$work/sockbroker" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log"
	echo "build-packages: dpkg-buildpackage failed; the end of its log is above" >&2
	exit 1
fi

rm -rf build-deb
mkdir build-deb
mv "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo build-deb/

echo "== lintian"
lintian_status=0
findings=$(lintian --fail-on error build-deb/*.changes 2>&1) || lintian_status=$?
# As root lintian says it would rather not be; that line is not a finding.
grep -v 'running with root privileges' <<<"$findings" || true
if ((lintian_status)); then
	echo "build-packages: lintian found errors (above)" >&2
	exit 1
fi

echo "== contents"
status=0
# want PACKAGE PATH...: each PATH is in the package.
want() {
	local package=$1 deb list
	shift
	deb=$(ls build-deb/"${package}"_*.deb)
	list=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
	for path in "$@"; do
		if grep -qx -- "$path" <<<"$list"; then
			echo "ok: $package has $path"
		else
			echo "FAIL: $package lacks $path"
			status=1
		fi
	done
}
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
want sockbrokerd /usr/sbin/sockbrokerd /usr/bin/sockbrokerctl \
	/lib/systemd/system/sockbrokerd.service /lib/systemd/system/sockbrokerd.socket \
	/usr/lib/sysusers.d/sockbroker.conf /etc/sockbroker/sockbrokerd.json \
	/usr/share/man/man8/sockbrokerd.8.gz /usr/share/man/man5/sockbrokerd.json.5.gz \
	/usr/share/man/man8/sockbrokerctl.8.gz
want libsockbroker0 "/usr/lib/$multiarch/libsockbroker.so.0"
want libsockbroker-dev /usr/include/sockbroker.h "/usr/lib/$multiarch/libsockbroker.so" \
	"/usr/lib/$multiarch/pkgconfig/sockbroker.pc" /usr/share/man/man3/libsockbroker.3.gz
want sbcat /usr/bin/sbcat /usr/share/man/man1/sbcat.1.gz
want sbcat /usr/bin/sbrun /usr/share/man/man1/sbrun.1.gz
want python3-sockbroker /usr/lib/python3/dist-packages/sockbroker/__init__.py \
	/usr/lib/python3/dist-packages/sockbroker/sockbroker_pb2.py
want python3-sockbroker /usr/lib/python3/dist-packages/sockbroker/_children/sitecustomize.py

# The configuration is a conffile, and the system user is made before the
# units start.
control=$(mktemp -d -p "$work")
dpkg-deb -e build-deb/sockbrokerd_*.deb "$control"
if grep -qx /etc/sockbroker/sockbrokerd.json "$control/conffiles"; then
	echo "ok: sockbrokerd marks /etc/sockbroker/sockbrokerd.json as a conffile"
else
	echo "FAIL: /etc/sockbroker/sockbrokerd.json is not a conffile of sockbrokerd"
	status=1
fi
if grep -q 'systemd-sysusers.*sockbroker.conf' "$control/postinst"; then
	echo "ok: sockbrokerd's postinst creates the user sockbroker"
else
	echo "FAIL: sockbrokerd's postinst does not run systemd-sysusers"
	status=1
fi
if ((status)); then
	echo "build-packages: the packages lack files (above)" >&2
	exit 1
fi
echo "packages in $top/build-deb/:"
ls build-deb

if ((install)); then
	echo "== install"
	packages=(sockbrokerd libsockbroker0 libsockbroker-dev sbcat python3-sockbroker)
	debs=()
	for package in "${packages[@]}"; do
		debs+=("$(ls "$top"/build-deb/"${package}"_*.deb)")
	done
	export DEBIAN_FRONTEND=noninteractive
	# The package's system user outlives a purge, as Debian's users do; one this
	# run made is removed again, so that the machine is left as it was (with
	# the user, a daemon started as root takes it, tests included).
	user_existed=0
	getent passwd sockbroker >/dev/null && user_existed=1
	apt-get install -y -qq --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 ||
		{ tail -n 30 "$work/install.log"; echo "build-packages: install failed" >&2; exit 1; }
	daemon_pid=
	# shellcheck disable=SC2317 # run by the trap
	purge() {
		[[ -n "$daemon_pid" ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" || true
		apt-get purge -y -qq "${packages[@]}" >/dev/null 2>&1 || true
		if ((!user_existed)) && getent passwd sockbroker >/dev/null; then
			userdel sockbroker || true
			getent group sockbroker >/dev/null && groupdel sockbroker || true
		fi
		rm -rf "$work"
	}
	trap purge EXIT
	/usr/sbin/sockbrokerd --version
	getent passwd sockbroker >/dev/null ||
		{ echo "build-packages: the package made no user sockbroker" >&2; exit 1; }
	/usr/sbin/sockbrokerd --check-config --config /etc/sockbroker/sockbrokerd.json >/dev/null
	man -w sockbrokerd sockbrokerd.json sbcat sockbrokerctl libsockbroker >/dev/null
	# The installed daemon serves the installed clients.
	/usr/sbin/sockbrokerd --listen "ipc://$work/installed.sock" 2>"$work/daemon.log" &
	daemon_pid=$!
	for ((i = 0; i < 50; i++)); do
		grep -q "listening on" "$work/daemon.log" && break
		sleep 0.1
	done
	env -u PYTHONPATH /usr/bin/python3 -c "
import sockbroker
client = sockbroker.connect('ipc://$work/installed.sock')
s = client.socket()
s.close()
print('ok: the installed Python client and daemon talk')"
	# A port nothing listens on: the daemon's connect is refused, and sbcat says so.
	said=$(/usr/bin/sbcat --broker "ipc://$work/installed.sock" -w 5 tcp:127.0.0.1:1 \
		</dev/null 2>&1) || true
	grep -q ECONNREFUSED <<<"$said" ||
		{ echo "build-packages: the installed sbcat said: $said" >&2; exit 1; }
	echo "ok: the installed sbcat and daemon talk"
	dpkg -s "${packages[@]}" | grep -c "^Status: install ok installed" |
		grep -qx "${#packages[@]}"
	echo "ok: ${packages[*]} installed, and purged again"
fi
