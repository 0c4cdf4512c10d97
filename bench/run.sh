#!/usr/bin/env bash
# Run the benchmarks side by side and print the comparison table behind
# DESIGN.md's performance targets: each benchmark over a direct kernel socket,
# through sockbrokerd, and through two SOCKS5 relays (microsocks and dante),
# all on loopback.
#
# usage: bench/run.sh [BUILD_DIR] [--quick] [--keep]
#   BUILD_DIR  a built tree configured with -Dbench=true (default: ./build);
#              nothing is built here
#   --quick    small counts and sizes, to check that everything runs (a few
#              seconds); the numbers are rough
#   --keep     keep the temporary directory (logs, configs) and say where
#
# What runs: a sockbrokerd on an ipc:// socket in a temporary directory,
# with a config that raises the session limits for the parked probe;
# microsocks and danted (Debian packages microsocks and dante-server) on free
# loopback ports. A relay that is missing or does not pass a short echo is
# reported and left out. Then bench-echo, bench-connect and bench-bulk, each
# in every mode in turn, and bench-parked against a fresh daemon (so that
# its memory baseline is not inflated by the other runs), once with
# wake-ups paced and once all at once. Each program's result line and
# stderr go to the directory; the table goes to stdout. Every process
# started here is stopped by its pid when the script exits. The numbers are
# only as good as the machine is quiet: the table says when other work kept
# the CPUs busy before the run.
#
# The full run takes one to two minutes on two cores. Last, as root with sbrun
# built: python3 and curl on the host against the same under `unshare -n sbrun`
# (bench/sbrun_probe.py).
set -euo pipefail

usage() {
	sed -n '/^# usage:/,/^#$/p' "$0" | sed 's/^# \{0,1\}//'
}

build_dir=./build
quick=0
keep=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	--keep) keep=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $arg" >&2
		usage >&2
		exit 2
		;;
	*) build_dir=$arg ;;
	esac
done

daemon_bin=$build_dir/server/sockbrokerd
bench_dir=$build_dir/bench
for program in "$daemon_bin" "$bench_dir"/bench-{echo,connect,bulk,parked,floor}; do
	if [[ ! -x "$program" ]]; then
		echo "run.sh: $program is missing: build $build_dir with -Dbench=true first" >&2
		exit 1
	fi
done

if ((quick)); then
	echo_args=(--count 2000 --warmup 200)
	floor_args=(--count 2000)
	connect_args=(--count 300 --warmup 20)
	bulk_bytes=$((64 * 1024 * 1024))
	bulk_args=(--bytes "$bulk_bytes" --repeat 1)
	parked_handles=1000
	parked_args=(--settle-ms 300)
else
	echo_args=(--count 20000 --warmup 1000)
	floor_args=(--count 20000)
	connect_args=(--count 5000 --warmup 100)
	bulk_bytes=$((1024 * 1024 * 1024))
	bulk_args=(--bytes "$bulk_bytes" --repeat 3)
	parked_handles=10000
	parked_args=(--settle-ms 1000)
fi
# The paced wake-up gap of the parked probe, in microseconds.
wake_interval_us=100
# A safety net only: every program bounds its own run.
program_timeout_s=300

work=$(mktemp -d "${TMPDIR:-/tmp}/sockbroker-bench.XXXXXX")
pids=()
notes=()

# alive PID: the process runs (an exited child not yet waited for does not).
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ "${stat:0:1}" != Z ]]
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s; reap it and forget it.
stop_pid() {
	local pid=$1 i kept=()
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			echo "run.sh: process $pid ignored SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	for i in "${pids[@]}"; do
		[[ "$i" == "$pid" ]] || kept+=("$i")
	done
	pids=("${kept[@]}")
}

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		stop_pid "$pid"
	done
	if ((keep)); then
		echo "logs and configs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback TCP port nobody listens on, below the ephemeral range so that
# no outgoing connection holds it (a relay that still fails to bind is
# caught by its smoke test).
free_port() {
	local port i low
	low=$(cut -f 1 /proc/sys/net/ipv4/ip_local_port_range)
	((low > 12000)) || low=61000
	for ((i = 0; i < 100; i++)); do
		port=$((10000 + RANDOM % (low - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	echo "run.sh: no free loopback port found" >&2
	return 1
}

# Wait up to 5 s for a path to appear, while process $2 lives.
wait_for_path() {
	local path=$1 pid=$2 i
	for ((i = 0; i < 50; i++)); do
		[[ -e "$path" ]] && return 0
		alive "$pid" || return 1
		sleep 0.1
	done
	return 1
}

# The number of open files must cover the parked probe's handles in the
# daemon; raise the soft limit as far as the hard one allows.
needed_files=$((parked_handles + 1000))
if (($(ulimit -Sn) < needed_files)); then
	hard=$(ulimit -Hn)
	if [[ "$hard" == unlimited ]] || ((hard >= needed_files)); then
		ulimit -Sn "$needed_files"
	else
		ulimit -Sn "$hard"
		parked_handles=$((hard > 2000 ? hard - 1000 : hard / 2))
		notes+=("the open-file limit ($hard) allows only $parked_handles parked handles")
	fi
fi

# start_daemon NAME: a sockbrokerd on $work/NAME.sock; sets daemon_pid and daemon_url.
start_daemon() {
	local name=$1
	cat >"$work/sockbrokerd.json" <<-EOF
		{"limits": {"max_handles_per_session": 20000, "max_parked_per_session": 20000}}
	EOF
	daemon_url="ipc://$work/$name.sock"
	"$daemon_bin" --listen "$daemon_url" --config "$work/sockbrokerd.json" \
		2>"$work/$name.log" &
	daemon_pid=$!
	pids+=("$daemon_pid")
	if ! wait_for_path "$work/$name.sock" "$daemon_pid"; then
		echo "run.sh: sockbrokerd did not start; its log:" >&2
		tail -n 20 "$work/$name.log" >&2
		exit 1
	fi
}

# smoke_test PORT PID: a short echo through the relay on PORT, whose process
# is PID (it may need a moment to start listening).
smoke_test() {
	local i
	for ((i = 0; i < 5; i++)); do
		sleep 0.2
		alive "$2" || return 1
		timeout 20 "$bench_dir/bench-echo" socks5 "127.0.0.1:$1" --count 20 --warmup 0 \
			>/dev/null 2>>"$work/smoke.log" && return 0
	done
	return 1
}

# Other work on the machine skews every number: measure how busy the CPUs are
# for a second before anything starts, and say so when they are.
cpu_sample() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' \
		/proc/stat
}
read -r busy_before total_before < <(cpu_sample)
sleep 1
read -r busy_after total_after < <(cpu_sample)
busy_percent=$(((busy_after - busy_before) * 100 / (total_after - total_before + 1)))
if ((busy_percent > 10)); then
	note="the CPUs were ${busy_percent}% busy with other work before the run"
	notes+=("$note: the numbers are noisy")
fi

start_daemon sockbrokerd

# write_dante_conf PORT: a minimal danted.conf for CONNECT on loopback.
write_dante_conf() {
	{
		echo "logoutput: stderr"
		echo "internal: 127.0.0.1 port = $1"
		echo "external: 127.0.0.1"
		echo "clientmethod: none"
		echo "socksmethod: none"
		# As root, dante insists on dropping privileges to named users.
		if ((EUID == 0)); then
			echo "user.privileged: root"
			echo "user.unprivileged: nobody"
		fi
		# Rules take one keyword per line.
		cat <<-EOF
			client pass {
				from: 127.0.0.0/8 to: 0.0.0.0/0
				log: error
			}
			socks pass {
				from: 127.0.0.0/8 to: 127.0.0.0/8
				command: connect
				log: error
			}
		EOF
	} >"$work/danted.conf"
}

# start_relay NAME: start relay NAME on a free port and check it with a short
# echo, three times at most (a port can be taken between the check and the
# bind); sets NAME_port and adds NAME to relays, or adds a note.
start_relay() {
	local name=$1 attempt port pid log=$work/$1.log
	for ((attempt = 0; attempt < 3; attempt++)); do
		port=$(free_port)
		case "$name" in
		microsocks)
			microsocks -i 127.0.0.1 -p "$port" >"$log" 2>&1 &
			;;
		dante)
			write_dante_conf "$port"
			"$danted_bin" -f "$work/danted.conf" -p "$work/danted.pid" >"$log" 2>&1 &
			;;
		esac
		pid=$!
		pids+=("$pid")
		if smoke_test "$port" "$pid"; then
			printf -v "${name}_port" '%s' "$port"
			relays+=("$name")
			return 0
		fi
		stop_pid "$pid"
	done
	note=$(grep -m 1 -i -E 'error|alert|fail|in use' "$log" || tail -n 1 "$work/smoke.log")
	notes+=("$name did not relay a short echo; left out. Last error: $note")
}

relays=()
if command -v microsocks >/dev/null; then
	start_relay microsocks
else
	notes+=("microsocks is not installed (Debian package microsocks); left out")
fi
danted_bin=$(command -v danted || true)
[[ -z "$danted_bin" && -x /usr/sbin/danted ]] && danted_bin=/usr/sbin/danted
if [[ -n "$danted_bin" ]]; then
	start_relay dante
else
	notes+=("danted is not installed (Debian package dante-server); left out")
fi

# handoff: the daemon's socket handed over once connected, then used as a
# kernel socket (a local client whose policy allows it).
modes=(direct broker handoff "${relays[@]}")

# mode_args MODE: the program arguments that select MODE, in margs.
mode_args() {
	case "$1" in
	direct) margs=(direct) ;;
	broker) margs=(broker "$daemon_url") ;;
	handoff) margs=(handoff "$daemon_url") ;;
	microsocks) margs=(socks5 "127.0.0.1:$microsocks_port") ;;
	dante) margs=(socks5 "127.0.0.1:$dante_port") ;;
	esac
}

# run_bench BENCH MODE ARGS...: the result line goes to $work/BENCH-MODE.out.
run_bench() {
	local bench=$1 mode=$2
	shift 2
	local out=$work/$bench-$mode.out
	mode_args "$mode"
	if ! timeout "$program_timeout_s" "$bench_dir/bench-$bench" "${margs[@]}" "$@" \
		>"$out" 2>"$work/$bench-$mode.err"; then
		echo "run.sh: bench-$bench $mode failed:" >&2
		tail -n 5 "$work/$bench-$mode.err" >&2
		: >"$out"
	fi
}

start_time=$SECONDS
# One benchmark in every mode before the next, so that the numbers compared
# with each other are measured close together.
for bench in echo connect bulk; do
	echo "running $bench: ${modes[*]}" >&2
	for mode in "${modes[@]}"; do
		case "$bench" in
		echo) run_bench echo "$mode" "${echo_args[@]}" ;;
		connect) run_bench connect "$mode" "${connect_args[@]}" ;;
		bulk) run_bench bulk "$mode" "${bulk_args[@]}" ;;
		esac
	done
done

# The floor: a round trip between two processes over a socketpair, and one
# brokered call that does nothing (gettimeout), on the same daemon.
echo "running the floor" >&2
timeout "$program_timeout_s" "$bench_dir/bench-floor" "$daemon_url" "${floor_args[@]}" \
	>"$work/floor.out" 2>"$work/floor.err" ||
	{ echo "run.sh: bench-floor failed:" >&2; tail -n 5 "$work/floor.err" >&2; }

# The parked probe gets a daemon of its own, started fresh.
echo "running the parked probe" >&2
stop_pid "$daemon_pid"
start_daemon parked
timeout "$program_timeout_s" "$bench_dir/bench-parked" "$daemon_url" --pid "$daemon_pid" \
	--handles "$parked_handles" --wake-interval-us "$wake_interval_us" "${parked_args[@]}" \
	>"$work/parked.out" 2>"$work/parked.err" ||
	{ echo "run.sh: bench-parked failed:" >&2; tail -n 5 "$work/parked.err" >&2; }
timeout "$program_timeout_s" "$bench_dir/bench-parked" "$daemon_url" --pid "$daemon_pid" \
	--handles "$parked_handles" --wake-interval-us 0 "${parked_args[@]}" \
	>"$work/parked-burst.out" 2>"$work/parked-burst.err" ||
	{ echo "run.sh: bench-parked (burst) failed:" >&2; tail -n 5 "$work/parked-burst.err" >&2; }
elapsed=$((SECONDS - start_time))

# value FILE KEY: the value of KEY=... in the result line of FILE, or "".
value() {
	[[ -s "$1" ]] || return 0
	tr ' ' '\n' <"$1" | sed -n "s/^$2=//p" | head -n 1
}

# ratio A B: A/B with two decimals, or "-" when either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

# row LABEL BENCH KEY UNIT: one line of the table.
row() {
	local label=$1 bench=$2 key=$3 unit=$4 mode line broker other v
	line=$(printf '%-26s' "$label:")
	for mode in "${modes[@]}"; do
		v=$(value "$work/$bench-$mode.out" "$key")
		line+=" $mode ${v:-failed}$unit |"
	done
	broker=$(value "$work/$bench-broker.out" "$key")
	for mode in direct "${relays[@]}"; do
		other=$(value "$work/$bench-$mode.out" "$key")
		line+=" broker/$mode $(ratio "$broker" "$other") |"
	done
	line+=" handoff/direct $(ratio "$(value "$work/$bench-handoff.out" "$key")" \
		"$(value "$work/$bench-direct.out" "$key")") |"
	echo "${line% |}"
}

# verdict TEXT OK: one line of the targets list.
verdict() {
	printf '  %-4s %s\n' "$([[ "$2" == 1 ]] && echo ok || echo MISS)" "$1"
}

# compare A OP B: awk's numeric comparison; false when either is missing.
compare() {
	awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
		if (a == "" || b == "") exit 1
		if (op == "<=") exit !(a + 0 <= b + 0)
		if (op == ">=") exit !(a + 0 >= b + 0)
		if (op == "<") exit !(a + 0 < b + 0)
		exit 1 }'
}

bulk_label="bulk $((bulk_bytes / 1024 / 1024)) MiB MB/s"
echo
run_kind=full
((quick)) && run_kind=quick
echo "sockbroker benchmarks ($run_kind run, $(nproc) CPUs, loopback;" \
	"ratios are broker's value over the other's)"
row "echo 64B RTT median" echo median_us us
row "echo 64B RTT p99" echo p99_us us
row "echo round trips/s" echo rate /s
row "connect+1B+close median" connect median_us us
row "connect+1B+close rate" connect rate /s
row "$bulk_label (median)" bulk median_mbps ""
f=$work/floor.out
if [[ -s "$f" ]]; then
	printf '%-26s socketpair ping-pong %sus | brokered no-op (gettimeout) %sus | %s\n' \
		"floor, median round trip:" "$(value "$f" socketpair_us)" "$(value "$f" noop_us)" \
		"no-op/socketpair $(ratio "$(value "$f" noop_us)" "$(value "$f" socketpair_us)")"
else
	echo "floor: failed"
fi

p=$work/parked.out
b=$work/parked-burst.out
if [[ -s "$p" ]]; then
	printf '%-26s threads %s (%s before) | %s B/handle | wake p50 %sus p99 %sus max %sus' \
		"parked $(value "$p" handles) recvs:" "$(value "$p" threads)" \
		"$(value "$p" threads_before)" "$(value "$p" rss_per_handle_bytes)" \
		"$(value "$p" wake_p50_us)" "$(value "$p" wake_p99_us)" "$(value "$p" wake_max_us)"
	echo " (datagrams ${wake_interval_us}us apart)"
else
	echo "parked: failed"
fi
if [[ -s "$b" ]]; then
	printf '%-26s wake p50 %sus p99 %sus max %sus (all datagrams back to back)\n' \
		"parked, woken at once:" "$(value "$b" wake_p50_us)" "$(value "$b" wake_p99_us)" \
		"$(value "$b" wake_max_us)"
fi

echo
echo "targets (DESIGN.md):"
ok=1
for relay in "${relays[@]}"; do
	compare "$(value "$work/echo-broker.out" median_us)" "<=" \
		"$(value "$work/echo-$relay.out" median_us)" || ok=0
done
((${#relays[@]})) || ok=0
verdict "echo round trip no slower than through a SOCKS5 relay" $ok
ok=1
for relay in "${relays[@]}"; do
	compare "$(value "$work/bulk-broker.out" median_mbps)" ">=" \
		"$(value "$work/bulk-$relay.out" median_mbps)" || ok=0
done
((${#relays[@]})) || ok=0
verdict "bulk throughput at least the SOCKS5 relays'" $ok
half=$(awk -v d="$(value "$work/bulk-direct.out" median_mbps)" 'BEGIN { if (d != "") print d / 2 }')
ok=1
compare "$(value "$work/bulk-broker.out" median_mbps)" ">=" "$half" || ok=0
verdict "bulk throughput at least half of a direct socket's" $ok
ok=1
for relay in "${relays[@]}"; do
	compare "$(value "$work/connect-broker.out" rate)" ">=" \
		"$(value "$work/connect-$relay.out" rate)" || ok=0
done
((${#relays[@]})) || ok=0
verdict "connect + 1 byte + close at least the relays' rate" $ok
ok=1
limit=$(awk -v d="$(value "$work/echo-direct.out" median_us)" 'BEGIN { if (d != "") print d * 1.2 }')
compare "$(value "$work/echo-handoff.out" median_us)" "<=" "$limit" || ok=0
verdict "handoff: echo round trip at most 1.2x a direct socket's" $ok
ok=1
limit=$(awk -v d="$(value "$work/bulk-direct.out" median_mbps)" 'BEGIN { if (d != "") print d * 0.9 }')
compare "$(value "$work/bulk-handoff.out" median_mbps)" ">=" "$limit" || ok=0
verdict "handoff: bulk throughput at least 0.9x a direct socket's" $ok
ok=1
compare "$(value "$p" threads)" "<=" "$(value "$p" threads_before)" || ok=0
verdict "parked recvs: no thread per recv (thread count unchanged)" $ok
ok=1
compare "$(value "$p" rss_per_handle_bytes)" "<" 2048 || ok=0
verdict "parked recvs: under 2 KiB of daemon memory per handle" $ok
ok=1
compare "$(value "$p" wake_p99_us)" "<" 1000 || ok=0
verdict "parked recvs: wake-up p99 under 1 ms" $ok

# sbrun: an unmodified program (python3, curl) on the host and the same in a
# network namespace of its own under sbrun, against servers on the host; the
# parked probe's daemon serves it. Root only (unshare -n).
sbrun_bin=$build_dir/clients/c/sbrun
if [[ -x "$sbrun_bin" ]] && command -v curl >/dev/null && ((EUID == 0)); then
	echo "running sbrun" >&2
	probe=$(dirname "$0")/sbrun_probe.py
	exec 4> >(exec python3 "$probe" server >"$work/sbrun-server.out" 2>"$work/sbrun-server.err")
	sbrun_server_pid=$!
	pids+=("$sbrun_server_pid")
	for ((i = 0; i < 50; i++)); do
		[[ -s "$work/sbrun-server.out" ]] && break
		sleep 0.1
	done
	sbrun_port=$(awk '{ print $2 }' "$work/sbrun-server.out")
	sbrun_count=$((quick ? 1000 : 10000))
	sbrun_connects=$((quick ? 100 : 1000))
	mkdir -p "$work/files"
	truncate -s $((quick ? 16 : 256))M "$work/files/download"
	python3 -m http.server --bind 127.0.0.1 --directory "$work/files" "$(free_port)" \
		>"$work/files.out" 2>&1 &
	files_pid=$!
	pids+=("$files_pid")
	for ((i = 0; i < 50; i++)); do
		files_port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$work/files.out" 2>/dev/null || true)
		[[ -n "$files_port" ]] && break
		sleep 0.1
	done
	for mode in direct sbrun; do
		run=()
		[[ $mode == sbrun ]] && run=(unshare -n "$sbrun_bin" --broker "$daemon_url" --)
		timeout "$program_timeout_s" "${run[@]}" python3 "$probe" echo "$sbrun_port" \
			"$sbrun_count" >"$work/sbrun-echo-$mode.out" 2>>"$work/sbrun.err" || true
		timeout "$program_timeout_s" "${run[@]}" python3 "$probe" connect "$sbrun_port" \
			"$sbrun_connects" >"$work/sbrun-connect-$mode.out" 2>>"$work/sbrun.err" || true
		timeout "$program_timeout_s" "${run[@]}" curl -sS -o /dev/null \
			-w 'download mbps=%{speed_download}\n' \
			"http://127.0.0.1:$files_port/download" \
			>"$work/sbrun-curl-$mode.out" 2>>"$work/sbrun.err" || true
	done
	exec 4>&-
	stop_pid "$files_pid"
	stop_pid "$sbrun_server_pid"
	echo
	echo "sbrun (python3 and curl on the host, and in unshare -n under sbrun):"
	for kind in echo connect; do
		d=$(value "$work/sbrun-$kind-direct.out" median_us)
		b=$(value "$work/sbrun-$kind-sbrun.out" median_us)
		printf '%-26s direct %sus | sbrun %sus | sbrun/direct %s\n' \
			"$([[ $kind == echo ]] && echo "echo 64B RTT median" ||
				echo "connect+1B+close median"):" "${d:-failed}" "${b:-failed}" "$(ratio "$b" "$d")"
	done
	d=$(value "$work/sbrun-curl-direct.out" mbps)
	b=$(value "$work/sbrun-curl-sbrun.out" mbps)
	d=$(awk -v v="$d" 'BEGIN { if (v != "") printf "%.0f", v / 1e6 }')
	b=$(awk -v v="$b" 'BEGIN { if (v != "") printf "%.0f", v / 1e6 }')
	printf '%-26s direct %s MB/s | sbrun %s MB/s | sbrun/direct %s\n' \
		"curl download $((quick ? 16 : 256)) MiB:" "${d:-failed}" "${b:-failed}" "$(ratio "$b" "$d")"
else
	notes+=("sbrun rows left out: they need root (unshare -n), curl and a build with sbrun")
fi

for note in "${notes[@]}"; do
	echo "note: $note"
done
echo "benchmarks took ${elapsed}s"
