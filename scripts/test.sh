#!/usr/bin/env bash
# Install the dependencies, build, and run every test: the plain build, then
# the same tests under AddressSanitizer/UndefinedBehaviorSanitizer, then under
# valgrind (the daemon included); the Debian packages are built once between
# the first two. Run as root on Debian 12 (the sandbox tests
# need unshare). Usage: scripts/test.sh [--quick]   (--quick: plain build only)
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

scripts/install-deps.sh

run_suite() {
	local dir=$1
	shift
	if [[ ! -d "$dir" ]]; then
		meson setup "$dir" "$@" >/dev/null
	else
		meson configure "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 ${TEST_SETUP:+--setup "$TEST_SETUP"}
}

echo "== build and test"
run_suite build -Dtests=true
if ((quick)); then
	exit 0
fi

echo "== Debian packages"
scripts/build-packages.sh

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false

echo "== valgrind"
TEST_SETUP=valgrind run_suite build
