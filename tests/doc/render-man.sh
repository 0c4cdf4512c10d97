#!/bin/sh
# Render each man page with man -l, as a reader would, and fail on any
# warning groff gives or on a page that renders to nothing. Exits 77 (SKIP)
# when man is missing (Debian's man-db package has it).
# Usage: render-man.sh PAGE...
set -eu

if ! command -v man >/dev/null 2>&1; then
	echo "SKIP: man not found (install Debian's man-db package)"
	exit 77
fi
[ $# -gt 0 ] || { echo "FAIL: no page given"; exit 1; }

status=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for page in "$@"; do
	name=$(basename "$page")
	lines=$(MANWIDTH=80 LC_ALL=C.UTF-8 man -l --warnings=all "$page" 2>"$err" | wc -l)
	if [ -s "$err" ]; then
		cat "$err"
		echo "FAIL: $name: man -l warned"
		status=1
	elif [ "$lines" -lt 10 ]; then
		echo "FAIL: $name: rendered to $lines lines"
		status=1
	elif ! grep -q '^\.SH "\{0,1\}NAME' "$page"; then
		echo "FAIL: $name: no NAME section"
		status=1
	else
		echo "ok: $name ($lines lines)"
	fi
done
exit $status
