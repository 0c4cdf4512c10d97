#!/bin/sh
# meson install into a temporary DESTDIR, then what a user of the installed
# tree does: find the programs, the units, the man pages and the
# configuration where they belong, and build and run a small C program
# against the installed sockbroker.h through the installed sockbroker.pc.
# Usage: install-check.sh BUILD_DIR PREFIX LIBDIR CC SANITIZE
# (SANITIZE: the build's b_sanitize, so that a program links against a
# library built with the sanitizers.)
set -eu

build=$(realpath "$1") prefix=$2 libdir=$3 cc=$4 sanitize=${5:-none}
sanitize_flags=
[ "$sanitize" = none ] || sanitize_flags="-fsanitize=$sanitize"
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

if ! meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$dest.log" 2>&1; then
	cat "$dest.log"
	rm -f "$dest.log"
	echo "FAIL: meson install"
	exit 1
fi
rm -f "$dest.log"

status=0
want() {
	if [ -e "$dest$1" ]; then
		echo "ok: installed $1"
	else
		echo "FAIL: $1 was not installed"
		status=1
	fi
}
want "$prefix/sbin/sockbrokerd"
want "$prefix/bin/sbcat"
want "$prefix/bin/sockbrokerctl"
want "$prefix/bin/sbrun"
want "$prefix/include/sockbroker.h"
want "$libdir/pkgconfig/sockbroker.pc"
for page in man8/sockbrokerd.8 man5/sockbrokerd.json.5 man1/sbcat.1 man8/sockbrokerctl.8 \
	man3/libsockbroker.3; do
	if command -v scdoc >/dev/null 2>&1; then
		want "$prefix/share/man/$page"
	fi
done
units=$(find "$dest" -name sockbrokerd.service -o -name sockbrokerd.socket | wc -l)
if [ "$units" -eq 2 ]; then
	echo "ok: installed sockbrokerd.service and sockbrokerd.socket"
else
	echo "FAIL: $units of the 2 systemd units installed"
	status=1
fi
if [ -n "$(find "$dest" -path '*/sysusers.d/sockbroker.conf')" ]; then
	echo "ok: installed sysusers.d/sockbroker.conf"
else
	echo "FAIL: sysusers.d/sockbroker.conf was not installed"
	status=1
fi
if [ -n "$(find "$dest" -path '*/sockbroker/sockbrokerd.json')" ]; then
	echo "ok: installed sockbroker/sockbrokerd.json"
else
	echo "FAIL: the configuration sockbroker/sockbrokerd.json was not installed"
	status=1
fi
# Only the public header: the internals stay in the source tree.
extra=$(find "$dest" -name '*.h' ! -name sockbroker.h)
if [ -n "$extra" ]; then
	echo "FAIL: headers besides sockbroker.h were installed: $extra"
	status=1
fi

# A program built as its users build it: the flags from the installed .pc.
cat >"$dest/hello.c" <<'PROGRAM'
#include <stdio.h>
#include <string.h>
#include <sockbroker.h>

int
main(void)
{
	struct sb_client *client;
	struct sb_error err;
	struct sb_addr addr;
	char text[128];

	if (sb_addr_inet(&addr, "127.0.0.1", 8080) < 0)
		return 1;
	sb_addr_format(&addr, text, sizeof(text));
	printf("address %s\n", text);
	/* No daemon there: the library says so, as a transport error. */
	if (sb_client_new(&client, "ipc:///nonexistent/sockbroker.sock", "install-check",
			  &err) == 0) {
		sb_client_free(client);
		return 1;
	}
	printf("%s\n", sb_error_kind_name(err.kind));
	return strcmp(sb_error_kind_name(err.kind), "transport") != 0;
}
PROGRAM
export PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_LIBDIR="$dest$libdir/pkgconfig"
if ! flags=$(pkg-config --cflags --libs sockbroker); then
	echo "FAIL: pkg-config does not know the installed sockbroker.pc"
	exit 1
fi
echo "pkg-config --cflags --libs sockbroker: $flags"
if ! $cc -std=c11 -Wall -Werror $sanitize_flags -o "$dest/hello" "$dest/hello.c" $flags; then
	echo "FAIL: a program does not build against the installed header and library"
	exit 1
fi
if out=$(LD_LIBRARY_PATH="$dest$libdir" "$dest/hello"); then
	echo "ok: built and ran a program against the installed library: $(echo $out)"
else
	echo "$out"
	echo "FAIL: the program built against the installed library failed"
	status=1
fi
exit $status
