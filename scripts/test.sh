#!/usr/bin/env bash
# Install the dependencies, then build and test sockbroker in each
# configuration of the matrix, and print every configuration's result and
# time. Run as root on Debian 12 (the sandbox and privilege tests need it).
#
#   scripts/test.sh               the whole matrix: what CI runs
#   scripts/test.sh --quick       the default build and its tests only
#   scripts/test.sh NAME...       those configurations, in the order given
#   scripts/test.sh --list        the configurations
#
# Every configuration builds the whole tree with werror and runs the tests;
# a failed one does not stop the others, and the script fails if any did.
set -euo pipefail
cd "$(dirname "$0")/.."

# name, build directory, compiler, what it is. Each is run by run_config.
matrix=(
	"gcc          build          gcc    GCC, debugoptimized (the default build); every suite"
	"gcc-release  build-release  gcc    GCC, --buildtype=release (-O3, as packagers build); every suite"
	"clang        build-clang    clang  Clang, debugoptimized; every suite"
	"asan         build-asan     gcc    GCC with AddressSanitizer + UndefinedBehaviorSanitizer; every suite"
	"valgrind     build          gcc    the gcc build's tests under valgrind, the daemon included (no script suites)"
	"fuzz         build-fuzz     clang  libFuzzer on decode + dispatch, 60 s under ASan + UBSan (when clang is present)"
	"packages     build-deb      gcc    the Debian packages: dpkg-buildpackage, lintian, their contents"
)

usage() {
	echo "usage: scripts/test.sh [--quick | --list | NAME...]" >&2
	echo "configurations:" >&2
	printf '  %s\n' "${matrix[@]}" >&2
	exit 2
}

field() { # field ROW N
	local -a words
	read -r -a words <<<"$1"
	echo "${words[$2]}"
}

row_of() {
	local row
	for row in "${matrix[@]}"; do
		if [[ "$(field "$row" 0)" == "$1" ]]; then
			echo "$row"
			return 0
		fi
	done
	echo "scripts/test.sh: no configuration named '$1'" >&2
	usage
}

# The C compiler a set-up build directory uses, clang or gcc, by the command
# its targets are compiled with (meson 1.0 has no introspect --compilers).
compiler_of() {
	python3 - "$1/meson-info/intro-targets.json" <<'EOF'
import json, os, sys
for target in json.load(open(sys.argv[1])):
    for source in target["target_sources"]:
        if source.get("language") == "c":
            print("clang" if "clang" in os.path.basename(source["compiler"][0]) else "gcc")
            sys.exit()
EOF
}

# Set up (or reconfigure) build directory $1 for compiler $2 with the meson
# options that follow, and build everything in it.
build() {
	local dir=$1 compiler=$2
	shift 2
	if [[ -d "$dir/meson-private" ]]; then
		local used
		used=$(compiler_of "$dir")
		if [[ "$used" != "$compiler" ]]; then
			echo "$dir was set up with $used, this configuration needs $compiler:" \
				"remove $dir, or run: CC=$compiler meson setup --wipe $dir" >&2
			return 1
		fi
		meson configure "$dir" "$@" >/dev/null
	else
		CC=$compiler meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

run_tests() {
	local dir=$1
	shift
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
}

# Build and test one configuration (its matrix row's fields as arguments).
run_config() {
	local name=$1 dir=$2 compiler=$3
	local common=(-Dtests=true -Dwerror=true)
	case "$name" in
	gcc | clang)
		build "$dir" "$compiler" "${common[@]}" -Dbuildtype=debugoptimized \
			-Db_sanitize=none -Dbench=true
		run_tests "$dir"
		;;
	gcc-release)
		build "$dir" "$compiler" "${common[@]}" -Dbuildtype=release \
			-Db_sanitize=none -Dbench=true
		run_tests "$dir"
		;;
	asan)
		# No benchmarks: they would measure the sanitizers.
		build "$dir" "$compiler" "${common[@]}" -Dbuildtype=debugoptimized \
			-Db_sanitize=address,undefined -Db_lundef=false -Dbench=false
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
			run_tests "$dir"
		;;
	valgrind)
		build "$dir" "$compiler" "${common[@]}" -Dbuildtype=debugoptimized \
			-Db_sanitize=none -Dbench=true
		run_tests "$dir" --setup valgrind
		;;
	packages)
		# CI's machine is throwaway: there the packages are installed and tried too.
		if [[ "${CI:-}" == true ]]; then
			scripts/build-packages.sh --install
		else
			scripts/build-packages.sh
		fi
		;;
	fuzz)
		# Requests fuzzed through decode and dispatch on a daemon in the
		# fuzzer's process (tests/fuzz/fuzz-dispatch.c), starting from the
		# corpus in the tree; findings are written to the build directory.
		if ! command -v clang >/dev/null; then
			echo "no clang: the fuzzing run is skipped"
			return 0
		fi
		build "$dir" "$compiler" "${common[@]}" -Dfuzz=true -Dbuildtype=debugoptimized \
			-Db_sanitize=address,undefined -Db_lundef=false -Dbench=false
		rm -rf "$dir/corpus-dispatch"
		cp -r tests/fuzz/corpus-dispatch "$dir/corpus-dispatch"
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
			"$dir/tests/fuzz/fuzz-dispatch" -max_total_time=60 -detect_leaks=0 \
			-artifact_prefix="$dir/" "$dir/corpus-dispatch"
		;;
	esac
}

names=()
case "${1:-}" in
--quick) names=(gcc) ;;
--list)
	printf '%s\n' "${matrix[@]}"
	exit 0
	;;
-*) usage ;;
"")
	for row in "${matrix[@]}"; do
		names+=("$(field "$row" 0)")
	done
	;;
*) names=("$@") ;;
esac
rows=()
for name in "${names[@]}"; do
	rows+=("$(row_of "$name")")
done

scripts/install-deps.sh

summary=()
failed=0
for row in "${rows[@]}"; do
	read -r name dir compiler what <<<"$row"
	echo "== $name: $what"
	start=$SECONDS
	# A subshell of its own, outside any condition, so that `set -e` holds
	# inside it and its failure does not end the script.
	set +e
	(
		set -e
		run_config "$name" "$dir" "$compiler"
	)
	status=$?
	set -e
	took=$((SECONDS - start))
	result=pass
	if ((status != 0)); then
		result="FAIL (exit $status)"
		failed=1
	fi
	summary+=("$(printf '%-12s %-16s %3dm%02ds  %s' "$name" "$result" $((took / 60)) \
		$((took % 60)) "$what")")
	echo "== $name: $result in $((took / 60))m$((took % 60))s"
done

echo
echo "== summary (build directory per configuration: scripts/test.sh --list)"
printf '%s\n' "${summary[@]}"
exit "$failed"
