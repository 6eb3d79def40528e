#!/usr/bin/env bash
# bench/peers/bench_peers.sh - vitals against the libraries users would
# pick instead, same run, same machine, same metric sets: Prometheus' Go
# client (client_golang, go_client.go) and Python's prometheus_client
# (python_client.py). DESIGN.md's peer targets: against the Go client,
# counter inc >= 5x and histogram observe >= 20x faster per thread at 2
# threads and /metrics >= 3x its promhttp requests/s; against Python's,
# >= 50x on record and on /metrics.
#
# How:
# 1. Builds go_client offline in GOPATH mode from Debian's packaged
#    sources (GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off, GOCACHE
#    in the temporary directory unless --go-cache DIR keeps one).
# 2. Record: vitals' figures from bench_metrics (handle API, no labels,
#    counter inc and histogram observe, one series and disjoint, --threads
#    1,2: --only picks those four configurations), then go_client record
#    (same thread counts, goroutines locked to their threads, GOMAXPROCS
#    = threads) and python_client.py record (one thread), with the same
#    repeats and window length; ns per call per thread, median of the
#    repeats (each program checks its registry holds every call).
# 3. /metrics: for each set (peers50: 20 counters, 20 gauges, 10
#    histograms; mix1000: the 1,000-series registry of bench_read's "mix"),
#    bench_gateway --set SET (vitals' gateway, as in bench_gateway.sh),
#    go_client serve (promhttp) and python_client.py serve
#    (start_http_server), each checked to answer the set's series count;
#    then ROUNDS rounds of wrk -t1 -cCONNS -dSECONDS on vitals' Prometheus
#    text and JSON, Go's and Python's /metrics, the order rotated every
#    round (bench_lib.sh's wrk_measure: requests/s, p50, server CPU per
#    request). Ratios: median of the per-round ratios. With --pin the
#    servers run on the last CPU and wrk on CPU 0; record threads on CPU
#    i % ncpu. Python's server answers HTTP/1.0 and closes every
#    connection; wrk's socket errors against it are counted, not fatal.
# Every process started is stopped by pid on exit, the temporary
# directory removed.
#
# Output as the other benches: Markdown on stdout, progress on stderr,
# CSV rows with --csv FILE:
#   peer_rec,<op>,<mode>,<threads>,<impl>,<ns med>,<min>,<max>,<best>
#   peer_http,<set>,<server>,<bytes>,<rps med>,<min>,<max>,<p50 us>,<cpu us/req>
#   peer_speedup,<id>,<label>,<speedup>,<limit>
#   target,<id>,<text>,<measured>,<limit>,<ratio>,<status>,<note>
# Exit 1 if a program fails or answers wrongly; with --smoke, exit 77
# (skipped) when go, wrk or prometheus_client is missing.
#
# Usage: bench/peers/bench_peers.sh [--bin-dir DIR] [--quick] [--smoke]
#          [--pin] [--csv FILE] [--rounds N] [--seconds S]
#          [--connections C] [--go-cache DIR]
#   --bin-dir  where bench_metrics and bench_gateway are (default:
#              build-bench-run/bench)
#   --quick    3 repeats of 50 ms, 3 rounds of 3 s (default 5 of 200 ms,
#              5 rounds of 5 s); --smoke: 1 repeat, 1 round of 1 s
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=bench/bench_lib.sh
. "$ROOT/bench/bench_lib.sh"
BIN=$ROOT/build-bench-run/bench
QUICK=0
SMOKE=0
PIN=0
CSV=""
ROUNDS=""
SECONDS_EACH=""
CONNS=32
GOCACHE_DIR=""
PY=/usr/bin/python3

while [ $# -gt 0 ]; do
	case $1 in
	--bin-dir)
		BIN=$(realpath -m "$2")
		shift
		;;
	--quick) QUICK=1 ;;
	--smoke) SMOKE=1 ;;
	--pin) PIN=1 ;;
	--no-pin) PIN=0 ;;
	--csv)
		CSV=$2
		shift
		;;
	--rounds)
		ROUNDS=$2
		shift
		;;
	--seconds)
		SECONDS_EACH=$2
		shift
		;;
	--connections)
		CONNS=$2
		shift
		;;
	--go-cache)
		GOCACHE_DIR=$(realpath -m "$2")
		shift
		;;
	-h | --help)
		awk 'NR > 1 && !/^#/ {exit} NR > 1 {print}' "$0"
		exit 0
		;;
	*)
		echo "bench_peers.sh: unknown option: $1" >&2
		exit 2
		;;
	esac
	shift
done
REPS=5 DUR=200 R=5 S=5
[ "$QUICK" = 1 ] && REPS=3 DUR=50 R=3 S=3
[ "$SMOKE" = 1 ] && REPS=1 DUR=20 R=1 S=1
ROUNDS=${ROUNDS:-$R}
SECONDS_EACH=${SECONDS_EACH:-$S}

log() { echo "bench_peers.sh: [${SECONDS}s] $*" >&2; }
fail() {
	log "$*"
	exit 1
}
missing() {
	if [ "$SMOKE" = 1 ]; then
		log "$* (scripts/install-deps.sh bench): skipped"
		exit 77
	fi
	fail "$* (scripts/install-deps.sh bench)"
}
command -v go >/dev/null 2>&1 || missing "go is not installed"
command -v wrk >/dev/null 2>&1 || missing "wrk is not installed"
[ -d /usr/share/gocode/src/github.com/prometheus/client_golang ] ||
	missing "client_golang's sources are not installed"
"$PY" -c 'import prometheus_client' 2>/dev/null ||
	missing "Python's prometheus_client is not installed"
for p in bench_metrics bench_gateway; do
	[ -x "$BIN/$p" ] || {
		[ "$SMOKE" = 1 ] && {
			log "$BIN/$p: not built, skipped"
			exit 77
		}
		fail "no program $BIN/$p (build the $p target)"
	}
done
[ -n "$CSV" ] && : >"$CSV"
csv() { [ -z "$CSV" ] || echo "$*" >>"$CSV"; }

NCPU=$(nproc)
SRV_PIN=()
WRK_PIN=()
if [ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
	SRV_PIN=(taskset -c "$((NCPU - 1))")
	WRK_PIN=(taskset -c 0)
fi

# --- processes, stopped by pid on any exit ----------------------------------
bench_workdir vitals-bench-peers

# --- 1. the Go peer, built offline ---------------------------------------------
GO_EXE=$TMP/go_client
log "building go_client (GOPATH mode, Debian's client_golang)"
t0=$(date +%s)
GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS="" \
	GOCACHE=${GOCACHE_DIR:-$TMP/gocache} \
	go build -o "$GO_EXE" "$ROOT/bench/peers/go_client.go" ||
	fail "go build of go_client.go failed"
log "built in $(($(date +%s) - t0)) s"

# --- 2. record ------------------------------------------------------------------
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
pinopt=()
[ "$PIN" = 1 ] && pinopt=(--pin)
ONLY="counter_inc/handle/0/one counter_inc/handle/0/disjoint"
ONLY="$ONLY hist_observe/handle/0/one hist_observe/handle/0/disjoint"
log "record: bench_metrics --only \"$ONLY\""
"$BIN/bench_metrics" --threads 1,2 --reps "$REPS" --duration-ms "$DUR" \
	--only "$ONLY" "${pinopt[@]}" --csv "$TMP/vitals.csv" \
	>"$TMP/vitals.md" 2>"$TMP/vitals.log" ||
	fail "bench_metrics failed: $(tail -3 "$TMP/vitals.log")"
# tput,bench,op,api,labels,mode,threads,ns_op,mops_med,min,max,balance,
# best: the slowest and fastest repeats as ns per call per thread
# (threads / Mops); best, the fastest chunk's ns per call.
awk -F, '$1 == "tput" && $4 == "handle" && $5 == 0 {
	printf "rec,vitals,%s,%s,%d,%.4f,%.4f,%.4f,%.4f\n", $3, $6, $7, $8,
		$7 * 1000 / $11, $7 * 1000 / $10, $13 }' "$TMP/vitals.csv" >"$TMP/rec"
log "record: go_client"
"$GO_EXE" record --threads 1,2 --reps "$REPS" --duration-ms "$DUR" \
	"${pinopt[@]}" >>"$TMP/rec" 2>"$TMP/go.log" ||
	fail "go_client record failed: $(tail -3 "$TMP/go.log")"
log "record: python_client.py"
"${SRV_PIN[@]}" "$PY" "$ROOT/bench/peers/python_client.py" record \
	--reps "$REPS" --duration-ms "$DUR" >>"$TMP/rec" 2>"$TMP/py.log" ||
	fail "python_client.py record failed: $(tail -3 "$TMP/py.log")"

# --- 3. /metrics ----------------------------------------------------------------
# start NAME CMD...: starts a server writing key=value lines and "ready"
# to TMP/NAME.out; waits up to 30 s.
start() {
	local name=$1
	shift
	"${SRV_PIN[@]}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	local pid=$!
	PIDS+=("$pid")
	eval "PID_$name=$pid"
	for _ in $(seq 300); do
		grep -qx ready "$TMP/$name.out" && return 0
		kill -0 "$pid" 2>/dev/null || fail "$name exited: $(tail -3 "$TMP/$name.err")"
		sleep 0.1
	done
	fail "$name not ready within 30 s"
}
val() { sed -n "s/^$2=//p" "$TMP/$1.out"; }
SETS="peers50 mix1000"
SERVERS="vitals vitals_json go python"
declare -A URL BYTES SPID
for set in $SETS; do
	start "v_$set" "$BIN/bench_gateway" --set "$set"
	start "g_$set" "$GO_EXE" serve --set "$set"
	start "p_$set" "$PY" "$ROOT/bench/peers/python_client.py" serve --set "$set"
	vp=$(val "v_$set" vitals_port)
	URL[$set/vitals]="http://127.0.0.1:$vp/metrics?format=prometheus"
	URL[$set/vitals_json]="http://127.0.0.1:$vp/metrics"
	URL[$set/go]="http://127.0.0.1:$(val "g_$set" port)/metrics"
	URL[$set/python]="http://127.0.0.1:$(val "p_$set" port)/metrics"
	BYTES[$set/vitals]=$(val "v_$set" metrics_prom_bytes)
	BYTES[$set/vitals_json]=$(val "v_$set" metrics_json_bytes)
	BYTES[$set/go]=$(val "g_$set" bytes)
	BYTES[$set/python]=$(val "p_$set" bytes)
	eval "SPID[\$set/vitals]=\$PID_v_$set SPID[\$set/vitals_json]=\$PID_v_$set"
	eval "SPID[\$set/go]=\$PID_g_$set SPID[\$set/python]=\$PID_p_$set"
done
log "servers ready: $(for k in "${!URL[@]}"; do printf '%s ' "${URL[$k]}"; done)"

# rows: set server round rps p50_us cpu_us socket_errors
: >"$TMP/rows"
read -ra order <<<"$SERVERS"
for r in $(seq "$ROUNDS"); do
	si=0
	for set in $SETS; do
		for j in 0 1 2 3; do
			s=${order[$(((r + si + j) % 4))]}
			ok=0
			[ "$s" = python ] && ok=1
			m=$(WRK_SOCKET_ERRORS_OK=$ok wrk_measure "${URL[$set/$s]}" \
				"${SPID[$set/$s]}" "$CONNS" "$SECONDS_EACH" "${WRK_PIN[@]}") ||
				fail "$WRK_ERROR"
			echo "$set $s $r $m" >>"$TMP/rows"
			log "round $r/$ROUNDS $set $s: $m (req/s, p50 us, CPU us/request, socket errors)"
		done
		si=$((si + 1))
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- figures ----------------------------------------------------------------------
col() { # SET SERVER FIELD(4 rps, 5 p50, 6 CPU, 7 errors) -> by round
	awk -v k="$1" -v s="$2" -v f="$3" '$1 == k && $2 == s {print $3, $f}' "$TMP/rows" |
		sort -n | awk '{print $2}'
}
ratios() { # SET A B -> per-round A/B of requests/s
	paste <(col "$1" "$2" 4) <(col "$1" "$3" 4) | awk '{print $1 / $2}'
}
rec() { # OP MODE THREADS IMPL -> "med min max" ns or empty
	awk -F, -v o="$1" -v m="$2" -v t="$3" -v i="$4" \
		'$1 == "rec" && $2 == i && $3 == o && $4 == m && $5 == t {print $6, $7, $8}' "$TMP/rec"
}
best() { # OP MODE THREADS IMPL -> the fastest chunk's ns per call
	awk -F, -v o="$1" -v m="$2" -v t="$3" -v i="$4" \
		'$1 == "rec" && $2 == i && $3 == o && $4 == m && $5 == t {print $9}' "$TMP/rec"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
	print (y[1] > 0 ? x[1] / y[1] : "nan") }'; }

go_v=$(dpkg-query -W -f='${Version}' golang-github-prometheus-client-golang-dev 2>/dev/null || echo '?')
py_v=$(dpkg-query -W -f='${Version}' python3-prometheus-client 2>/dev/null || echo '?')
mode=full
[ "$QUICK" = 1 ] && mode=quick
[ "$SMOKE" = 1 ] && mode=smoke
pinned="not pinned"
[ ${#SRV_PIN[@]} -gt 0 ] && pinned="servers and Python's record loop on CPU $((NCPU - 1)), wrk on CPU 0, record threads on CPU i % $NCPU"

echo "## Peers: vitals against Prometheus' Go client and Python's prometheus_client (bench_peers)"
echo
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $NCPU CPUs online, Linux $(uname -r);"
echo "$(go version | cut -d' ' -f3), client_golang $go_v (Debian, built offline in GOPATH mode);"
echo "$("$PY" --version), prometheus_client $py_v (Debian). Mode: $mode; $pinned."
echo "Load average $LOAD0 before, $LOAD1 after."
echo
echo "Same metric sets everywhere (bench/peers/go_client.go describes them): **peers50**, 20"
echo "counters, 20 gauges and 10 histograms (default buckets); **mix1000**, the 1,000-series"
echo "registry (100 families of 10 labelled series: 60% counters, 30% gauges, 10% histograms)."
echo
echo "### Record: ns per call per thread"
echo
echo "vitals: bench_metrics (handle API, no labels); Go: go_client record (Counter.Inc,"
echo "Histogram.Observe; goroutines locked to their threads, GOMAXPROCS = threads); Python:"
echo "python_client.py record (Counter.inc, Histogram.observe; one thread: the interpreter lock"
echo "serialises more). $REPS repeats of $DUR ms each, median (min–max); \"one\": every thread on"
echo "one series, \"disjoint\": one series per thread. Loops included everywhere."
echo
echo "| operation | series | threads | vitals | Go client | Python client | Go / vitals | Python / vitals |"
echo "|---|---|---|---|---|---|---|---|"
for op in counter_inc hist_observe; do
	for md in one disjoint; do
		for t in 1 2; do
			v=$(rec $op $md $t vitals)
			g=$(rec $op $md $t go)
			p=$(rec $op $md $t python)
			[ -n "$v$g$p" ] || continue
			line="| $op | $md | $t"
			for x in "$v" "$g" "$p"; do
				if [ -n "$x" ]; then line="$line | $(cell "$x")"; else line="$line | -"; fi
			done
			for x in "$g" "$p"; do
				if [ -n "$x" ] && [ -n "$v" ]; then
					line="$line | $(fmt3 "$(div "$x" "$v")")"
				else
					line="$line | -"
				fi
			done
			echo "$line |"
			for i in vitals go python; do
				x=$(rec $op $md $t $i)
				[ -n "$x" ] && csv "peer_rec,$op,$md,$t,$i,${x// /,},$(best $op $md $t $i)"
			done
		done
	done
done
echo
echo "### /metrics: requests/s under wrk"
echo
echo "$ROUNDS rounds of \`wrk -t1 -c$CONNS -d${SECONDS_EACH}s --latency\` per server and set, the order"
echo "rotated every round. vitals: its gateway (bench_gateway --set, as in the gateway bench);"
echo "Go: promhttp.HandlerFor on its own registry; Python: prometheus_client.start_http_server"
echo "(HTTP/1.0, a connection per request). Median (min–max) of the rounds; ratios: median of"
echo "the per-round ratios; CPU: the server's CPU time per request, µs (median)."
echo
echo "| set | vitals text | vitals JSON | Go promhttp | Python | vitals text / Go | vitals text / Python | bytes (vitals text / JSON / Go / Python) | CPU µs/req (vitals / Go / Python) |"
echo "|---|---|---|---|---|---|---|---|---|"
declare -A HR
for set in $SETS; do
	line="| $set"
	for s in $SERVERS; do
		# shellcheck disable=SC2046
		st=$(stats $(col "$set" "$s" 4))
		# shellcheck disable=SC2046
		cpu=$(stats $(col "$set" "$s" 6))
		# shellcheck disable=SC2046
		p50=$(stats $(col "$set" "$s" 5))
		line="$line | $(cell "$st")"
		csv "peer_http,$set,$s,${BYTES[$set/$s]},${st// /,},$(med "$p50"),$(med "$cpu")"
		HR[$set/$s/cpu]=$(fmt3 "$(med "$cpu")")
	done
	for b in go python; do
		# shellcheck disable=SC2046
		rs=$(stats $(ratios "$set" vitals $b))
		HR[$set/$b]=$rs
		line="$line | $(fmt3 "$(med "$rs")")"
	done
	line="$line | ${BYTES[$set/vitals]} / ${BYTES[$set/vitals_json]} / ${BYTES[$set/go]} / ${BYTES[$set/python]}"
	line="$line | ${HR[$set/vitals/cpu]} / ${HR[$set/go/cpu]} / ${HR[$set/python/cpu]} |"
	echo "$line"
done
errs=$(awk '$2 == "python" {t += $7} END {print t + 0}' "$TMP/rows")
echo
[ "$errs" -gt 0 ] && echo "wrk counted $errs socket errors against Python's server (connections past its listen backlog of 5); its requests/s are those it answered."
echo "Python's server adds a \`_created\` sample per counter and histogram series (its default), hence its larger bodies."
echo

# --- targets ------------------------------------------------------------------------
echo "### Targets (DESIGN.md, peers)"
echo
echo "Measured: how many times faster vitals is (peer ns / vitals ns per call per thread;"
echo "vitals req/s / peer req/s for the Prometheus text of peers50). Ratio: measured / limit."
echo
echo "| id | target | measured (median) | limit | ratio | status | note |"
echo "|---|---|---|---|---|---|---|"
# target ID TEXT SPEEDUP LIMIT NOTE
target() {
	local row
	row=$(awk -v x="$3" -v l="$4" "$AWK_FMT"' BEGIN {
		if (x == "" || x == "nan") { print "- x|-|NOT MEASURED"; exit }
		printf "%s x|%s|%s\n", fmt(x), fmt(x / l), (x >= l ? "MET" : "MISSED") }')
	local meas=${row%%|*} rest=${row#*|}
	local ratio=${rest%%|*} st=${rest#*|}
	echo "| $1 | $2 | $meas | >= $4 x | $ratio | **$st** | $5 |"
	csv "target,$1,${2//,/;},$meas,>= $4 x,$ratio,$st,${5//,/;}"
	csv "peer_speedup,$1,${2//,/;},$3,$4"
}
ns_note() { # OP MODE THREADS PEER
	local bv bp
	bv=$(best "$1" "$2" "$3" vitals)
	bp=$(best "$1" "$2" "$3" "$4")
	echo "vitals $(fmt3 "$(med "$(rec "$1" "$2" "$3" vitals)")") ns; $4 $(fmt3 "$(med "$(rec "$1" "$2" "$3" "$4")")") ns per call per thread; fastest 4096-call chunks (noise floor; possibly uncontended): vitals $(fmt3 "$bv") ns; $4 $(fmt3 "$bp") ns: $(fmt3 "$(div "$bp" "$bv")") x"
}
target P1 "Counter inc vs Go client, per thread at 2 threads, one series" \
	"$(div "$(rec counter_inc one 2 go)" "$(rec counter_inc one 2 vitals)")" 5 \
	"$(ns_note counter_inc one 2 go); disjoint series: $(fmt3 "$(div "$(rec counter_inc disjoint 2 go)" "$(rec counter_inc disjoint 2 vitals)")") x"
target P2 "Histogram observe vs Go client, per thread at 2 threads, one series" \
	"$(div "$(rec hist_observe one 2 go)" "$(rec hist_observe one 2 vitals)")" 20 \
	"$(ns_note hist_observe one 2 go); disjoint series: $(fmt3 "$(div "$(rec hist_observe disjoint 2 go)" "$(rec hist_observe disjoint 2 vitals)")") x"
target P3 "/metrics req/s vs Go promhttp (peers50; Prometheus text)" \
	"$(med "${HR[peers50/go]}")" 3 \
	"range $(fmt3 "$(awk -v s="${HR[peers50/go]}" 'BEGIN {split(s, a, " "); print a[2]}')")-$(fmt3 "$(awk -v s="${HR[peers50/go]}" 'BEGIN {split(s, a, " "); print a[3]}')"); mix1000: $(fmt3 "$(med "${HR[mix1000/go]}")") x"
target P4 "Counter inc vs Python prometheus_client (1 thread)" \
	"$(div "$(rec counter_inc one 1 python)" "$(rec counter_inc one 1 vitals)")" 50 \
	"$(ns_note counter_inc one 1 python)"
target P5 "Histogram observe vs Python prometheus_client (1 thread)" \
	"$(div "$(rec hist_observe one 1 python)" "$(rec hist_observe one 1 vitals)")" 50 \
	"$(ns_note hist_observe one 1 python)"
target P6 "/metrics req/s vs Python start_http_server (peers50; Prometheus text)" \
	"$(med "${HR[peers50/python]}")" 50 \
	"mix1000: $(fmt3 "$(med "${HR[mix1000/python]}")") x"
echo
log "done"
