#!/bin/sh
# The include rules the headers' opening comments state, checked on the source:
# handlers (server/ops/) see the daemon only through struct op_context
# (ops/ops.h), so no file of ops/ includes daemon.h, dispatch.h or transport.h.
# Usage: check-includes.sh SOURCE_ROOT
set -eu
root=${1:?usage: check-includes.sh SOURCE_ROOT}
ops="$root/server/ops"
[ -d "$ops" ] || { echo "no $ops" >&2; exit 2; }

status=0
for header in daemon.h dispatch.h transport.h; do
	found=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"(\.\./)?$header\"" \
		"$ops"/*.c "$ops"/*.h || true)
	if [ -n "$found" ]; then
		echo "server/ops/ must not include $header (handlers use struct op_context):" >&2
		echo "$found" >&2
		status=1
	fi
done
# Handlers never reach past the context into the daemon.
found=$(grep -n 'op->daemon\b' "$ops"/*.c || true)
if [ -n "$found" ]; then
	echo "server/ops/ must not use op->daemon (use op->ctx):" >&2
	echo "$found" >&2
	status=1
fi
[ $status -eq 0 ] && echo "server/ops/: no daemon.h, dispatch.h or transport.h, no op->daemon"
exit $status
