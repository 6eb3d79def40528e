# shellcheck shell=bash
# bench/bench_lib.sh - shell helpers of the drivers that measure servers
# with wrk (bench_gateway.sh, peers/bench_peers.sh): sourced, defines
# functions only. Needs bash, awk, wrk.
#
#   bench_workdir PREFIX
#       sets TMP to a new directory /tmp/PREFIX.XXXXXX and PIDS to an
#       empty list; on any exit every pid in PIDS gets SIGTERM and is
#       waited for, then TMP is removed (INT/TERM exit with 130).
#   wrk_measure URL PID CONNS SECONDS [PIN...]
#       runs `wrk -t1 -cCONNS -dSECONDSs --latency URL` (prefixed by PIN,
#       e.g. taskset -c 0) and prints "rps p50_us cpu_us_per_request
#       socket_errors":
#       the server's CPU time (utime + stime of PID and its children,
#       from /proc, around the run) over the requests wrk counted.
#       and the socket errors wrk counted. Returns 1, with the reason in
#       WRK_ERROR, if wrk fails, reports no rate or non-2xx answers, or
#       socket errors unless WRK_SOCKET_ERRORS_OK=1 (a server that makes
#       wrk queue connections past its listen backlog: they are counted).
#   stats V...      "med min max" (median of an even count: the mean of
#                   the two middle values)
#   cell "med min max"  -> "med (min–max)", 3 significant digits
#   med "med min max"   -> med
#   fmt3 X          X with 3 significant digits (as bench_common's
#                   bench_fmt; "-" for empty or NaN)
#   AWK_FMT         the awk function fmt() behind them, for callers' awk
#   cpu_ticks PID   utime + stime of PID and its child processes, in ticks
#   to_us T         wrk's "380.12us" / "1.20ms" / "1.00s" in microseconds

# fmt: 3 significant digits, as bench_common's bench_fmt.
# shellcheck disable=SC2034
AWK_FMT='function fmt(x,    ax) {
	if (x == "" || x == "nan" || x != x) return "-"
	ax = x < 0 ? -x : x
	if (ax != 0 && (ax >= 1e6 || ax < 1e-3)) return sprintf("%.3g", x)
	if (ax >= 100) return sprintf("%.0f", x)
	if (ax >= 10) return sprintf("%.1f", x)
	if (ax >= 1) return sprintf("%.2f", x)
	return sprintf("%.3g", x)
}'

stats() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "nan nan nan"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[1], v[NR] }'
}

cell() {
	awk -v s="$1" "$AWK_FMT"' BEGIN { split(s, a, " ");
		if (a[2] == a[3]) print fmt(a[1]); else printf "%s (%s–%s)\n", fmt(a[1]), fmt(a[2]), fmt(a[3]) }'
}

med() { awk -v s="$1" 'BEGIN { split(s, a, " "); print a[1] }'; }

fmt3() { awk -v x="$1" "$AWK_FMT"' BEGIN { print fmt(x) }'; }

cpu_ticks() {
	local pids=$1 p t=0 f
	if [ -r "/proc/$1/task/$1/children" ]; then
		pids="$pids $(cat "/proc/$1/task/$1/children")"
	fi
	for p in $pids; do
		# Fields after the ")" of the command name: utime is the 12th.
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		# shellcheck disable=SC2086
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}

to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
		else if (v ~ /s$/) print n * 1000000; else print n }'
}

WRK_ERROR=""
wrk_measure() {
	local url=$1 pid=$2 conns=$3 secs=$4
	shift 4
	local c0 c1 out rps nreq p50 non2xx serr
	c0=$(cpu_ticks "$pid")
	if ! out=$("$@" wrk -t1 -c"$conns" -d"${secs}s" --latency "$url" 2>&1); then
		WRK_ERROR="wrk $url failed: $out"
		return 1
	fi
	c1=$(cpu_ticks "$pid")
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	nreq=$(awk '/ requests in / {print $1}' <<<"$out")
	p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
	serr=$(awk '/Socket errors:/ {print}' <<<"$out")
	if [ -z "$rps" ]; then
		WRK_ERROR="wrk $url: no Requests/sec in: $out"
		return 1
	fi
	if [ -n "$non2xx" ]; then
		WRK_ERROR="wrk $url: $non2xx non-2xx answers"
		return 1
	fi
	if [ -n "$serr" ] && [ "${WRK_SOCKET_ERRORS_OK:-0}" != 1 ]; then
		WRK_ERROR="wrk $url: $serr"
		return 1
	fi
	local cpu errs
	cpu=$(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="${nreq:-0}" \
		'BEGIN { print (n > 0 ? d / hz * 1e6 / n : "nan") }')
	errs=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) t += $i }
		END { print t + 0 }' <<<"${serr#*:}")
	echo "$rps $(to_us "${p50:-0}") $cpu $errs"
}

bench_workdir() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
