#!/usr/bin/env bash
# bench/bench_gateway.sh - the gateway benchmark: requests/s of vitals'
# HTTP gateway against nginx serving a static file of the same size and
# against a bare nng HTTP handler returning a constant body of that size
# (SERVERS.md's two reference points), all driven by wrk on this machine
# in one run.
#
# How: starts bench_gateway (vitals' gateway over four instant checks
# with a warm cache, plus the bare nng handler; it writes the bytes
# vitals serves as files), then nginx (nginx-light, `nginx -c CONF` with
# its own config in a temporary directory: 1 worker, pid, error_log and
# temp paths there, access_log off, tuned for small files (sendfile off,
# open_file_cache, no ETag), keepalive_requests high
# so it never closes wrk's connections, on a free 127.0.0.1 port)
# serving those files. Each URL is fetched once with curl and checked
# (200, same size on all three). Then ROUNDS rounds; in each, for each
# route (cached /health, /metrics JSON, /metrics Prometheus text, fresh
# /health: the four checks run for every request), wrk
# -t1 -cCONNS -dSECONDS against the three servers one after another, the
# order rotated every round. Figures: median (min-max) of the rounds'
# requests/s; ratios are medians of the per-round ratios (paired, so a
# noisy moment hits both); and each server's CPU time per request
# (utime + stime from /proc of its processes around each wrk run over
# the requests wrk counted), which other load on the machine skews much
# less than requests/s. With --pin, the servers run on the last CPU
# and wrk on CPU 0 (taskset), the same for all three. Every process it
# starts is stopped by pid on exit (trap), the temporary directory
# removed.
#
# Output as the other benches: Markdown on stdout (a section of
# bench/RESULTS.md), progress on stderr, CSV rows with --csv FILE:
#   gateway,<route>,<server>,<body bytes>,<req/s med>,<min>,<max>,<p50 us med>,
#           <server CPU us per request med>
#   target,<id>,<text>,<measured>,<limit>,<ratio>,<status>,<note>
# Exit 1 if a server fails, answers wrongly or wrk sees non-2xx answers
# or socket errors.
#
# Usage: bench/bench_gateway.sh [--exe PATH] [--quick] [--pin]
#          [--csv FILE] [--rounds N] [--seconds S] [--connections C]
#          [--kinds "health metrics prom fresh"]
#   --exe      the bench_gateway program (default:
#              build-bench-run/bench/bench_gateway)
#   --quick    3 rounds of 3 s (default 5 rounds of 5 s)
#   --set S    the metric set /metrics serves (bench_gateway --set):
#              peers50 (default: DESIGN.md's 50 series, 20 counters, 20
#              gauges, 10 histograms), mix1000, or "served" (the few
#              families of bench_served_registry with the checks' series)
#   --kinds    the routes to measure, a subset of the default
#              "health metrics prom fresh" (health: cached /health)
#   Targets (DESIGN.md): cached /health >= 60% of nginx's requests/s;
#   /metrics, JSON and Prometheus text, >= 80% of nginx's for a file of
#   the same size; fresh /health >= 50% (nginx serves the cached body's
#   file for both /health routes).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# wrk_measure, stats, cell, med, AWK_FMT: shared with bench/peers/.
# shellcheck source=bench/bench_lib.sh
. "$ROOT/bench/bench_lib.sh"
EXE=$ROOT/build-bench-run/bench/bench_gateway
QUICK=0
PIN=0
CSV=""
ROUNDS=""
SECONDS_EACH=""
CONNS=32
SET=peers50
KINDS="health metrics prom fresh"

while [ $# -gt 0 ]; do
	case $1 in
	--exe)
		EXE=$2
		shift
		;;
	--quick) QUICK=1 ;;
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
	--set)
		SET=$2
		shift
		;;
	--kinds)
		KINDS=$2
		shift
		;;
	--connections)
		CONNS=$2
		shift
		;;
	-h | --help)
		awk 'NR > 1 && !/^#/ {exit} NR > 1 {print}' "$0"
		exit 0
		;;
	*)
		echo "bench_gateway.sh: unknown option: $1" >&2
		exit 2
		;;
	esac
	shift
done
if [ -z "$ROUNDS" ]; then
	ROUNDS=5
	[ "$QUICK" = 1 ] && ROUNDS=3
fi
if [ -z "$SECONDS_EACH" ]; then
	SECONDS_EACH=5
	[ "$QUICK" = 1 ] && SECONDS_EACH=3
fi

log() { echo "bench_gateway.sh: $*" >&2; }
fail() {
	log "$*"
	exit 1
}

for tool in wrk nginx; do
	command -v "$tool" >/dev/null 2>&1 ||
		fail "$tool is not installed (scripts/install-deps.sh bench)"
done
[ -x "$EXE" ] || fail "no program $EXE (build the bench_gateway target)"
[ -n "$CSV" ] && : >"$CSV"

# Pinning: servers on the last CPU, wrk on CPU 0.
NCPU=$(nproc)
SRV_PIN=()
WRK_PIN=()
if [ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
	SRV_PIN=(taskset -c "$((NCPU - 1))")
	WRK_PIN=(taskset -c 0)
fi

# --- processes, stopped by pid on any exit ------------------------------------
bench_workdir vitals-bench-gw

# nginx workers run as nobody: they must read the files.
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/nginx-temp"
chmod 755 "$TMP/www"

# --- bench_gateway: vitals and the bare nng handler -----------------------------
log "starting $EXE"
SET_ARGS=()
[ "$SET" != served ] && SET_ARGS=(--set "$SET")
"${SRV_PIN[@]}" "$EXE" --bodies "$TMP/www" "${SET_ARGS[@]}" >"$TMP/gw.out" 2>"$TMP/gw.log" &
GW_PID=$!
PIDS+=("$GW_PID")
for _ in $(seq 150); do
	grep -qx ready "$TMP/gw.out" && break
	kill -0 "$GW_PID" 2>/dev/null || {
		cat "$TMP/gw.log" >&2
		fail "bench_gateway exited"
	}
	sleep 0.1
done
grep -qx ready "$TMP/gw.out" || fail "bench_gateway not ready within 15 s"
val() { sed -n "s/^$1=//p" "$TMP/gw.out"; }
VPORT=$(val vitals_port)
BPORT=$(val bare_port)
SPARE=$(val spare_port)
declare -A BYTES=([health]=$(val health_bytes) [metrics]=$(val metrics_json_bytes)
	[prom]=$(val metrics_prom_bytes) [fresh]=$(val health_bytes))
chmod 644 "$TMP"/www/*

# --- nginx on a free port ---------------------------------------------------------
NGINX_PORT=""
NGINX_PID=""
start_nginx() {
	local port=$1
	cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	types { application/json json; text/plain prom; }
	default_type application/octet-stream;
	# Tuned for small static files: sendfile and TCP_CORK cost more
	# than one read per request here, and open_file_cache saves the
	# open/fstat/close of each (measured: 30k -> 60k req/s pinned).
	sendfile off;
	open_file_cache max=64;
	etag off;
	server_tokens off;
	keepalive_requests 1000000;
	keepalive_timeout 65;
	client_body_temp_path $TMP/nginx-temp/body;
	proxy_temp_path $TMP/nginx-temp/proxy;
	fastcgi_temp_path $TMP/nginx-temp/fastcgi;
	uwsgi_temp_path $TMP/nginx-temp/uwsgi;
	scgi_temp_path $TMP/nginx-temp/scgi;
	server {
		listen 127.0.0.1:$port;
		root $TMP/www;
	}
}
EOF
	"${SRV_PIN[@]}" nginx -e "$TMP/nginx-stderr.log" -p "$TMP" \
		-c "$TMP/nginx.conf" 2>>"$TMP/nginx-stdio.log" &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	for _ in $(seq 50); do
		if ! kill -0 "$NGINX_PID" 2>/dev/null; then
			wait "$NGINX_PID" 2>/dev/null || true
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			NGINX_PORT=$port
			return 0
		fi
		sleep 0.1
	done
	return 1
}
for try in 1 2 3 4 5; do
	port=$SPARE
	[ "$try" -gt 1 ] && port=$((20000 + RANDOM % 30000))
	start_nginx "$port" && break
	log "nginx did not start on port $port: $(cat "$TMP"/nginx-*.log 2>/dev/null | tail -3 | tr '\n' ' ')"
done
[ -n "$NGINX_PORT" ] || fail "nginx did not start"
log "vitals on $VPORT, bare nng on $BPORT, nginx on $NGINX_PORT (pids $GW_PID $NGINX_PID)"

# --- the URLs, checked once ---------------------------------------------------------
for k in $KINDS; do
	case $k in
	health | metrics | prom | fresh) ;;
	*) fail "unknown kind $k (--kinds takes health metrics prom fresh)" ;;
	esac
done
SERVERS="nginx bare vitals"
declare -A ROUTE=([health]="cached /health" [metrics]="/metrics (JSON)"
	[prom]="/metrics (Prometheus text)" [fresh]="fresh /health")
url() { # SERVER KIND
	case $1/$2 in
	nginx/health) echo "http://127.0.0.1:$NGINX_PORT/health.json" ;;
	nginx/metrics) echo "http://127.0.0.1:$NGINX_PORT/metrics.json" ;;
	nginx/prom) echo "http://127.0.0.1:$NGINX_PORT/metrics.prom" ;;
	nginx/fresh) echo "http://127.0.0.1:$NGINX_PORT/health.json" ;;
	bare/fresh) echo "http://127.0.0.1:$BPORT/health" ;;
	vitals/fresh) echo "http://127.0.0.1:$VPORT/health" ;;
	bare/health) echo "http://127.0.0.1:$BPORT/health" ;;
	bare/metrics) echo "http://127.0.0.1:$BPORT/metrics" ;;
	bare/prom) echo "http://127.0.0.1:$BPORT/metrics.prom" ;;
	vitals/health) echo "http://127.0.0.1:$VPORT/health?cache=true" ;;
	vitals/metrics) echo "http://127.0.0.1:$VPORT/metrics" ;;
	vitals/prom) echo "http://127.0.0.1:$VPORT/metrics?format=prometheus" ;;
	esac
}
CHECKED=0
if command -v curl >/dev/null 2>&1; then
	for k in $KINDS; do
		for s in $SERVERS; do
			got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$(url "$s" "$k")") ||
				fail "curl $(url "$s" "$k") failed"
			code=${got% *}
			size=${got#* }
			want=${BYTES[$k]}
			# /health carries a timestamp: its size may move by a digit.
			# Fresh, the durations and check times too.
			slack=0
			[ "$k" = health ] && slack=4
			[ "$k" = fresh ] && slack=24
			if [ "$code" != 200 ] || [ "$size" -lt $((want - slack)) ] ||
				[ "$size" -gt $((want + slack)) ]; then
				fail "$(url "$s" "$k"): status $code, $size bytes (want 200, $want)"
			fi
		done
	done
	CHECKED=1
else
	log "curl not installed: URLs not checked before the runs"
fi

# --- wrk rounds -----------------------------------------------------------------------
# rows: kind server round rps p50_us cpu_us_per_request
: >"$TMP/rows"
server_pid() {
	case $1 in
	nginx) echo "$NGINX_PID" ;;
	*) echo "$GW_PID" ;;
	esac
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
WRK_CMD="wrk -t1 -c$CONNS -d${SECONDS_EACH}s --latency URL"
order=(nginx bare vitals)
for r in $(seq "$ROUNDS"); do
	ki=0
	for k in $KINDS; do
		for j in 0 1 2; do
			s=${order[$(((r + ki + j) % 3))]}
			u=$(url "$s" "$k")
			m=$(wrk_measure "$u" "$(server_pid "$s")" "$CONNS" \
				"$SECONDS_EACH" "${WRK_PIN[@]}") || fail "$WRK_ERROR"
			read -r rps p50us cpu _ <<<"$m"
			echo "$k $s $r $rps $p50us $cpu" >>"$TMP/rows"
			log "round $r/$ROUNDS $k $s: $rps req/s, p50 $p50us us, server CPU $cpu us/request"
		done
		ki=$((ki + 1))
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- figures ----------------------------------------------------------------------------
col() { # KIND SERVER FIELD(4 rps, 5 p50, 6 CPU) -> values in round order
	awk -v k="$1" -v s="$2" -v f="$3" '$1 == k && $2 == s {print $3, $f}' "$TMP/rows" |
		sort -n | awk '{print $2}'
}
ratios() { # KIND A B [FIELD] -> per-round A/B of requests/s (or FIELD)
	paste <(col "$1" "$2" "${4:-4}") <(col "$1" "$3" "${4:-4}") | awk '{print $1 / $2}'
}
model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
nginx_v=$(nginx -v 2>&1 | sed 's/^nginx version: //')
wrk_v=$({ wrk -v 2>&1 || true; } | head -1 | awk '{print $1, $2}')
mode=full
[ "$QUICK" = 1 ] && mode=quick
pinned="not pinned"
[ ${#SRV_PIN[@]} -gt 0 ] && pinned="servers on CPU $((NCPU - 1)), wrk on CPU 0"

echo "## Gateway: HTTP requests/s against nginx and a bare nng handler (bench_gateway)"
echo
echo "Machine: ${model:-unknown CPU}, $NCPU CPUs online, Linux $(uname -r); $nginx_v; $wrk_v."
echo "Mode: $mode; $ROUNDS rounds of \`$WRK_CMD\` (${SECONDS_EACH} s) per server and route, the"
echo "order of the servers rotated every round; $pinned. Load average $LOAD0 before, $LOAD1 after:"
echo "the machine is shared, so figures move by several per cent between runs."
echo
echo "Servers: **vitals** (vt_server, HTTP gateway only; four instant checks, cache warm; /metrics"
echo "serves the metric set \`$SET\` of bench_gateway --set),"
echo "**bare nng** (nng 1.5.2 HTTP server, one callback handler per path returning the bytes"
echo "vitals served at start-up as a constant body), **nginx** (1 worker, static files of those"
echo "bytes, access_log off, sendfile off and open_file_cache (faster than sendfile for bodies this small: 2x here), no ETag, keepalive_requests 1000000). Bodies:"
echo "cached /health ${BYTES[health]} bytes (its timestamp may move it by a digit),"
echo "/metrics JSON ${BYTES[metrics]} bytes, Prometheus text ${BYTES[prom]} bytes."
[ "$CHECKED" = 1 ] && echo "Every URL was checked with curl first (200, same size on all three)."
echo
echo "| route | body bytes | nginx req/s | bare nng req/s | vitals req/s | vitals / nginx | vitals / bare nng | bare nng / nginx |"
echo "|---|---|---|---|---|---|---|---|"
declare -A RPS CPU
for k in $KINDS; do
	line="| ${ROUTE[$k]} | ${BYTES[$k]}"
	for s in $SERVERS; do
		# shellcheck disable=SC2046
		st=$(stats $(col "$k" "$s" 4))
		RPS[$k/$s]=$st
		line="$line | $(cell "$st")"
		# shellcheck disable=SC2046
		p50=$(stats $(col "$k" "$s" 5))
		# shellcheck disable=SC2046
		cpu=$(stats $(col "$k" "$s" 6))
		[ -n "$CSV" ] && echo "gateway,$k,$s,${BYTES[$k]},${st// /,},$(med "$p50"),$(med "$cpu")" >>"$CSV"
	done
	for pair in "vitals nginx" "vitals bare" "bare nginx"; do
		# shellcheck disable=SC2086,SC2046
		rs=$(stats $(ratios "$k" $pair))
		line="$line | $(awk -v s="$rs" "$AWK_FMT"' BEGIN { split(s, a, " "); print fmt(a[1]) }')"
	done
	echo "$line |"
done
echo
echo "Requests/s: median (min–max) of the rounds. Ratios: median of the per-round ratios."
echo
# A busy machine shows in nginx's figure first: one worker process gets
# one share of a contended CPU, nng's several threads get several.
nk=${KINDS%% *}
awk -v n="$(med "${RPS[$nk/nginx]}")" 'BEGIN { if (n < 0.5 * 77000)
	printf "**Noisy run:** nginx served %.0f req/s here, against about 77k on a quiet VM of this kind (SERVERS.md): other programs took most of the CPU. Under such contention nginx'"'"'s single worker gets one share of a CPU while nng'"'"'s several threads get several, which flatters both nng servers in requests/s; the CPU time per request below is the fairer comparison.\n\n", n }'

echo "Server CPU time per request, µs (utime + stime of the server's processes during the"
echo "wrk run over the requests it answered; median of the rounds), and wrk's p50 latency, µs."
echo "Requests/s depend on how much CPU the rest of the machine leaves; CPU per request much"
echo "less so (other load still costs it some cache): it is what a server costs, and what"
echo "bounds its requests/s on a quiet machine."
echo
echo "| route | nginx CPU/req | bare nng CPU/req | vitals CPU/req | vitals / bare nng CPU | nginx p50 | bare nng p50 | vitals p50 |"
echo "|---|---|---|---|---|---|---|---|"
for k in $KINDS; do
	line="| ${ROUTE[$k]}"
	for s in $SERVERS; do
		# shellcheck disable=SC2046
		c=$(stats $(col "$k" "$s" 6))
		CPU[$k/$s]=$c
		line="$line | $(awk -v s="$c" "$AWK_FMT"' BEGIN { split(s, a, " "); print fmt(a[1]) }')"
	done
	# shellcheck disable=SC2046
	rs=$(stats $(ratios "$k" vitals bare 6))
	line="$line | $(awk -v s="$rs" "$AWK_FMT"' BEGIN { split(s, a, " "); print fmt(a[1]) }')"
	for s in $SERVERS; do
		# shellcheck disable=SC2046
		p50=$(stats $(col "$k" "$s" 5))
		line="$line | $(awk -v s="$p50" "$AWK_FMT"' BEGIN { split(s, a, " "); print fmt(a[1]) }')"
	done
	echo "$line |"
done
echo

# --- targets ------------------------------------------------------------------------------
# target_row ID KIND LIMIT TEXT: one row "id|text|measured|limit|ratio|status|note"
# for route KIND's vitals / nginx requests/s ratio against LIMIT.
target_row() {
	local id=$1 k=$2 limit=$3 text=$4 g gb bn
	# shellcheck disable=SC2046
	g=$(stats $(ratios "$k" vitals nginx))
	# shellcheck disable=SC2046
	gb=$(stats $(ratios "$k" vitals bare))
	# shellcheck disable=SC2046
	bn=$(stats $(ratios "$k" bare nginx))
	awk -v g="$g" -v gb="$gb" -v bn="$bn" -v vr="${RPS[$k/vitals]}" \
		-v nr="${RPS[$k/nginx]}" -v c="$CONNS" -v vc="${CPU[$k/vitals]}" \
		-v bc="${CPU[$k/bare]}" -v nc="${CPU[$k/nginx]}" -v id="$id" \
		-v limit="$limit" -v text="$text" "$AWK_FMT"' BEGIN {
	split(g, a, " "); split(gb, b, " "); split(bn, n, " "); split(vr, v, " "); split(nr, x, " ")
	split(vc, cv, " "); split(bc, cb, " "); split(nc, cn, " ")
	st = a[1] >= limit ? "MET" : "MISSED"
	note = sprintf("%s req/s vs nginx %s req/s; ratio range %s-%s; vs bare nng %s x (bare nng vs nginx %s x; SERVERS.md: about 0.74); server CPU per request: vitals %s us; bare nng %s us; nginx %s us (nginx / vitals %s x: the ratio if both were CPU-bound)",
		fmt(v[1]), fmt(x[1]), fmt(a[2]), fmt(a[3]), fmt(b[1]), fmt(n[1]), fmt(cv[1]), fmt(cb[1]), fmt(cn[1]), fmt(cn[1] / cv[1]))
	printf "%s|%s vs nginx static file of the same size (wrk -t1 -c%d)|%s x|>= %s x|%s|%s|%s\n",
		id, text, c, fmt(a[1]), fmt(limit), fmt(a[1] / limit), st, note }'
}
echo "### Targets (DESIGN.md)"
echo
echo "Ratio: headroom factor, > 1 means the target is met by that factor."
echo
echo "| id | target | measured (median) | limit | ratio | status | note |"
echo "|---|---|---|---|---|---|---|"
for k in $KINDS; do
	case $k in
	health) target_row G1 health 0.6 "cached /health req/s" ;;
	metrics) target_row G2 metrics 0.8 "/metrics JSON req/s ($SET)" ;;
	prom) target_row G3 prom 0.8 "/metrics Prometheus text req/s ($SET)" ;;
	fresh) target_row G4 fresh 0.5 "fresh /health (4 instant checks) req/s" ;;
	esac
done >"$TMP/targets"
while IFS='|' read -r tid ttext tmeas tlim tratio tstat tnote; do
	echo "| $tid | $ttext | $tmeas | $tlim | $tratio | **$tstat** | $tnote |"
	if [ -n "$CSV" ]; then
		echo "target,$tid,${ttext//,/;},$tmeas,$tlim,$tratio,$tstat,${tnote//,/;}" >>"$CSV"
	fi
done <"$TMP/targets"
echo
log "done"
