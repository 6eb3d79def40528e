#!/usr/bin/env bash
# bench/bench_footprint.sh - vitalsd's footprint: resident memory and CPU
# of the daemon running 50 checks every 5 s with history, the status
# page and alerts on, sampled from /proc over a long window (DESIGN.md:
# RSS <= 16 MiB and <= 1% of one core, measured over 10 minutes).
#
# How: starts a local target server (Python's http.server on a free
# 127.0.0.1 port: GET /ok answers 200, GET /flap alternates 200 and 503
# every FLAP seconds so that alerts fire and resolve, POST /hook takes
# webhook deliveries and counts them), then vitalsd with a config in a
# temporary directory:
#   20 tcp checks     connect to the target server's port
#   19 http checks    GET /ok (expect 200)
#    1 http check     GET /flap (failures_before_unhealthy 1)
#    5 disk checks    the temporary directory's file system
#    5 exec checks    /bin/true
# every one at interval_ms 5000, timeout_ms 1000; state (history and
# pending alerts) in a SQLite file in the temporary directory; one
# webhook notifier on every check (unhealthy and resolved) to POST
# /hook; HTTP, RPC and pub listeners on free 127.0.0.1 ports. While it
# runs, a client asks what a deployment asks: GET /metrics and
# GET /health?cache=true every 15 s (a Prometheus scrape and a probe)
# and the status page (GET /) every 60 s. The window starts once
# vitalsd answers /health with all 50 checks; every SAMPLE seconds it
# reads VmRSS, VmHWM, RssAnon and Threads from /proc/PID/status, Pss
# from /proc/PID/smaps_rollup, and utime +
# stime (and the reaped children's cutime + cstime: the exec checks)
# from /proc/PID/stat. CPU % is of one core: CPU seconds over wall
# seconds. Every process it starts is stopped by pid on exit (trap),
# the temporary directory removed.
#
# Output as the other benches: Markdown on stdout (a section of
# bench/RESULTS.md), progress on stderr, CSV rows with --csv FILE:
#   footprint,<t s>,<VmRSS KiB>,<VmHWM KiB>,<threads>,<CPU % since last>,
#             <RssAnon KiB>,<Pss KiB>
#   target,<id>,<text>,<measured>,<limit>,<ratio>,<status>,<note>
# Exit 1 if vitalsd fails to start, dies during the window or does not
# run the 50 checks. --smoke (the CTest test): 10 s, samples every
# second, the same checks of the run; the figures are printed, never
# judged.
#
# Usage: bench/bench_footprint.sh [--exe PATH] [--seconds N] [--sample S]
#          [--quick] [--smoke] [--pin] [--csv FILE]
#   --exe      vitalsd (default: build-bench-run/vitalsd)
#   --seconds  the window (default 600, or $VT_FOOTPRINT_SECONDS)
#   --sample   seconds between samples (default 5; 1 with --smoke)
#   --quick    a 120 s window
#   --pin      accepted for bench/run.sh; vitalsd is not pinned (the
#              figures are its own CPU time, not a rate)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# stats, fmt3, AWK_FMT: shared with the other drivers.
# shellcheck source=bench/bench_lib.sh
. "$ROOT/bench/bench_lib.sh"
EXE=$ROOT/build-bench-run/vitalsd
SECS=${VT_FOOTPRINT_SECONDS:-600}
SAMPLE=""
SMOKE=0
QUICK=0
CSV=""
FLAP=60

while [ $# -gt 0 ]; do
	case $1 in
	--exe)
		EXE=$2
		shift
		;;
	--seconds)
		SECS=$2
		shift
		;;
	--sample)
		SAMPLE=$2
		shift
		;;
	--quick) QUICK=1 ;;
	--smoke) SMOKE=1 ;;
	--pin | --no-pin) ;;
	--csv)
		CSV=$2
		shift
		;;
	-h | --help)
		awk 'NR > 1 && !/^#/ {exit} NR > 1 {print}' "$0"
		exit 0
		;;
	*)
		echo "unknown option: $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
[ "$QUICK" = 1 ] && SECS=120
if [ "$SMOKE" = 1 ]; then
	SECS=10
	FLAP=4
	SAMPLE=${SAMPLE:-1}
fi
SAMPLE=${SAMPLE:-5}
case $SECS$SAMPLE in *[!0-9]*)
	echo "--seconds and --sample take whole seconds" >&2
	exit 2
	;;
esac
if [ "$SAMPLE" -lt 1 ] || [ "$SECS" -lt "$SAMPLE" ]; then
	echo "need 1 <= --sample <= --seconds" >&2
	exit 2
fi

log() { echo "bench_footprint: $*" >&2; }
fail() {
	log "$*"
	exit 1
}
# 77: skipped, as CTest's SKIP_RETURN_CODE.
for tool in python3 curl; do
	command -v "$tool" >/dev/null 2>&1 || {
		log "$tool not installed: skipped"
		exit 77
	}
done
[ -x "$EXE" ] || {
	log "$EXE: not built, skipped"
	exit 77
}
[ -n "$CSV" ] && : >"$CSV"

bench_workdir vitals-bench-footprint

# --- the target server and webhook receiver ----------------------------------------
cat >"$TMP/targets.py" <<'EOF'
import http.server, os, sys, time

FLAP = float(sys.argv[1])
HOOKS = sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code):
        body = b"ok\n" if code == 200 else b"down\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/flap":
            self.reply(503 if int(time.time() / FLAP) % 2 else 200)
        else:
            self.reply(200 if self.path == "/ok" else 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        with open(HOOKS, "a") as f:
            f.write("%d\n" % n)
        self.reply(200)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer.request_queue_size = 128
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
: >"$TMP/hooks"
python3 -u "$TMP/targets.py" "$FLAP" "$TMP/hooks" >"$TMP/targets.out" 2>"$TMP/targets.log" &
PIDS+=($!)
for _ in $(seq 100); do
	[ -s "$TMP/targets.out" ] && break
	sleep 0.1
done
TPORT=$(head -1 "$TMP/targets.out")
[ -n "$TPORT" ] || fail "target server did not start: $(cat "$TMP/targets.log")"

# Three free loopback ports for vitalsd (bound and released: a race with
# other programs is possible, and then vitalsd fails and says so).
read -r HPORT RPORT PPORT < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

# --- the config --------------------------------------------------------------------
{
	printf '{\n "http": "127.0.0.1:%s",\n' "$HPORT"
	printf ' "rpc": "tcp://127.0.0.1:%s",\n' "$RPORT"
	printf ' "pub": "tcp://127.0.0.1:%s",\n' "$PPORT"
	printf ' "state": "%s/state.db",\n "checks": [\n' "$TMP"
	common='"interval_ms": 5000, "timeout_ms": 1000'
	for i in $(seq -w 1 20); do
		printf '  {"name": "tcp_%s", "type": "tcp", "address": "127.0.0.1:%s", %s},\n' \
			"$i" "$TPORT" "$common"
	done
	for i in $(seq -w 1 19); do
		printf '  {"name": "http_%s", "type": "http", "url": "http://127.0.0.1:%s/ok", "expect_status": 200, %s},\n' \
			"$i" "$TPORT" "$common"
	done
	printf '  {"name": "http_flap", "type": "http", "url": "http://127.0.0.1:%s/flap", "expect_status": 200, "failures_before_unhealthy": 1, %s},\n' \
		"$TPORT" "$common"
	for i in $(seq -w 1 5); do
		printf '  {"name": "disk_%s", "type": "disk", "path": "%s", "degraded_free_pct": 1, "unhealthy_free_pct": 0.5, %s},\n' \
			"$i" "$TMP" "$common"
	done
	for i in $(seq -w 1 5); do
		sep=","
		[ "$i" = 5 ] && sep=""
		printf '  {"name": "exec_%s", "type": "exec", "command": ["/bin/true"], %s}%s\n' \
			"$i" "$common" "$sep"
	done
	printf ' ],\n "notify": [\n'
	printf '  {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:%s/hook",\n' "$TPORT"
	printf '   "on": ["unhealthy", "resolved"], "failure_threshold": 1, "success_threshold": 1}\n'
	printf ' ]\n}\n'
} >"$TMP/vitalsd.json"
"$EXE" --check-config "$TMP/vitalsd.json" >"$TMP/check.log" 2>&1 ||
	fail "config refused: $(cat "$TMP/check.log")"

# --- vitalsd -----------------------------------------------------------------------
log "starting $EXE (targets on $TPORT, gateway on $HPORT)"
"$EXE" --config "$TMP/vitalsd.json" >"$TMP/vitalsd.out" 2>"$TMP/vitalsd.log" &
VPID=$!
PIDS+=("$VPID")
BASE=http://127.0.0.1:$HPORT
ncomp() { # components in /health?cache=true (0 when it does not answer)
	{ curl -s --max-time 5 "$BASE/health?cache=true" || true; } |
		{ grep -o '"name":' || true; } | wc -l
}
ok=0
for _ in $(seq 150); do
	kill -0 "$VPID" 2>/dev/null || fail "vitalsd exited: $(tail -5 "$TMP/vitalsd.log")"
	if [ "$(ncomp)" -ge 50 ]; then
		ok=1
		break
	fi
	sleep 0.1
done
[ "$ok" = 1 ] || fail "vitalsd did not serve 50 checks within 15 s"

# --- the client: scrapes, probes and the status page --------------------------------
(
	n=0
	while :; do
		curl -s -o /dev/null --max-time 5 "$BASE/metrics" || true
		curl -s -o /dev/null --max-time 5 "$BASE/health?cache=true" || true
		[ $((n % 4)) = 0 ] && { curl -s -o /dev/null --max-time 5 "$BASE/" || true; }
		n=$((n + 1))
		sleep 15
	done
) &
PIDS+=($!)

# --- sampling ------------------------------------------------------------------------
HZ=$(getconf CLK_TCK)
status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$VPID/status"; }
ticks() { # own utime + stime, and reaped children's cutime + cstime
	sed 's/.*) //' "/proc/$VPID/stat" | awk '{print $12 + $13, $14 + $15}'
}
: >"$TMP/samples"
read -r own0 kids0 < <(ticks)
t0=$(date +%s.%N)
prev_own=$own0
prev_t=$t0
log "window of ${SECS} s, a sample every ${SAMPLE} s"
elapsed=0
while [ "$elapsed" -lt "$SECS" ]; do
	sleep "$SAMPLE"
	kill -0 "$VPID" 2>/dev/null || fail "vitalsd died during the window: $(tail -5 "$TMP/vitalsd.log")"
	read -r own _ < <(ticks)
	t=$(date +%s.%N)
	rss=$(status_kib VmRSS)
	hwm=$(status_kib VmHWM)
	thr=$(awk '$1 == "Threads:" {print $2}' "/proc/$VPID/status")
	anon=$(status_kib RssAnon)
	# Pss: the shared libraries' pages divided among the processes
	# mapping them (0 where smaps_rollup is not readable).
	pss=$(awk '$1 == "Pss:" {print $2}' "/proc/$VPID/smaps_rollup" 2>/dev/null || true)
	read -r el pct < <(awk -v t="$t" -v t0="$t0" -v pt="$prev_t" -v o="$own" \
		-v po="$prev_own" -v hz="$HZ" 'BEGIN {
		printf "%.1f %.3f\n", t - t0, 100 * (o - po) / hz / (t - pt) }')
	echo "$el $rss $hwm $thr $pct $anon ${pss:-0}" >>"$TMP/samples"
	[ -n "$CSV" ] && echo "footprint,$el,$rss,$hwm,$thr,$pct,$anon,${pss:-0}" >>"$CSV"
	prev_own=$own
	prev_t=$t
	elapsed=${el%.*}
done
read -r own1 kids1 < <(ticks)
t1=$(date +%s.%N)
N=$(ncomp)
[ "$N" -ge 50 ] || fail "vitalsd served $N checks at the end, not 50"
HOOKS=$(wc -l <"$TMP/hooks")
UNHEALTHY=$({ curl -s --max-time 5 "$BASE/health?cache=true" || true; } |
	{ grep -o '"status":"unhealthy"' || true; } | wc -l)

# --- figures -------------------------------------------------------------------------------
read -r WALL CPU_PCT KIDS_PCT < <(awk -v t0="$t0" -v t1="$t1" -v a="$own0" -v b="$own1" \
	-v c="$kids0" -v d="$kids1" -v hz="$HZ" 'BEGIN {
	w = t1 - t0; printf "%.1f %.4f %.4f\n", w, 100 * (b - a) / hz / w, 100 * (d - c) / hz / w }')
# shellcheck disable=SC2046
RSS=$(stats $(awk '{print $2}' "$TMP/samples"))
HWM=$(tail -1 "$TMP/samples" | awk '{print $3}')
# shellcheck disable=SC2046
THR=$(stats $(awk '{print $4}' "$TMP/samples"))
# shellcheck disable=SC2046
PCTS=$(stats $(awk '{print $5}' "$TMP/samples"))
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
RSS_MAX_KIB=$(awk '{print $2}' "$TMP/samples" | sort -n | tail -1)
RSS_MED_KIB=$(med "$RSS")

version=$("$EXE" --version 2>&1 | head -1 || true)
mode=full
[ "$QUICK" = 1 ] && mode=quick
[ "$SMOKE" = 1 ] && mode=smoke
echo "## Footprint: vitalsd with 50 checks every 5 s, history, status page and alerts (bench_footprint.sh)"
echo
echo "Mode: $mode; ${version:-vitalsd}; a ${SECS} s window (measured ${WALL} s), a sample every ${SAMPLE} s."
echo "Config: 20 tcp checks and 20 http checks (one of them flapping every ${FLAP} s) against a local"
echo "Python server, 5 disk and 5 exec (/bin/true) checks, all at interval 5 s, timeout 1 s; history and"
echo "pending alerts in a SQLite state file; a webhook notifier on every check (unhealthy, resolved);"
echo "HTTP, RPC and pub listeners on 127.0.0.1. A client fetched /metrics and /health?cache=true"
echo "every 15 s and the status page every 60 s. Webhook deliveries received: $HOOKS;"
echo "checks at the end: $N ($UNHEALTHY unhealthy)."
echo
echo "| figure | value |"
echo "|---|---|"
echo "| VmRSS, median of the samples (min–max) | $(kib_mib "$RSS_MED_KIB") MiB ($(kib_mib "$(echo "$RSS" | awk '{print $2}')")–$(kib_mib "$RSS_MAX_KIB") MiB) |"
echo "| VmHWM (peak RSS) at the end | $(kib_mib "$HWM") MiB |"
echo "| CPU of vitalsd over the window, % of one core | $(fmt3 "$CPU_PCT") % |"
echo "| CPU per sample interval, % of one core: median (min–max) | $(cell "$PCTS") % |"
echo "| CPU of its reaped children (exec checks), % of one core | $(fmt3 "$KIDS_PCT") % |"
echo "| threads: median (min–max) | $(cell "$THR") |"
last=$(tail -1 "$TMP/samples")
echo "| at the end: RssAnon (heap, stacks) / file-backed (code and data of the binary and its libraries) | $(echo "$last" | awk '{printf "%.2f MiB / %.2f MiB", $6 / 1024, ($2 - $6) / 1024}') |"
echo "| at the end: Pss (shared pages divided among the processes mapping them) | $(echo "$last" | awk '{printf "%.2f MiB", $7 / 1024}') |"
echo
echo "Samples (every minute, or every sample for windows under 2 minutes):"
echo
echo "| t (s) | VmRSS (MiB) | VmHWM (MiB) | RssAnon (MiB) | Pss (MiB) | threads | CPU % since the last sample |"
echo "|---|---|---|---|---|---|---|"
step=$((60 / SAMPLE))
[ "$SECS" -lt 120 ] && step=1
[ "$step" -lt 1 ] && step=1
awk -v s="$step" 'NR % s == 0 {printf "| %s | %.2f | %.2f | %.2f | %.2f | %s | %s |\n", $1, $2 / 1024, $3 / 1024, $6 / 1024, $7 / 1024, $4, $5}' "$TMP/samples"
echo

# --- targets ---------------------------------------------------------------------------------
rows=$(awk -v hwm="$HWM" -v rmax="$RSS_MAX_KIB" -v cpu="$CPU_PCT" -v kids="$KIDS_PCT" \
	-v w="$WALL" -v smoke="$SMOKE" "$AWK_FMT"' BEGIN {
	r = 16 * 1024 / hwm
	s1 = r >= 1 ? "MET" : "MISSED"
	c = cpu > 0 ? 1 / cpu : 1e9
	s2 = c >= 1 ? "MET" : "MISSED"
	if (smoke) { s1 = s1 " (smoke)"; s2 = s2 " (smoke)" }
	printf "F1|vitalsd RSS; 50 checks every 5 s; history; status page; alerts (peak over %.0f s)|%s MiB|<= 16 MiB|%s|%s|VmHWM %s MiB; largest sampled VmRSS %s MiB\n",
		w, fmt(hwm / 1024), fmt(r), s1, fmt(hwm / 1024), fmt(rmax / 1024)
	printf "F2|vitalsd CPU; same run (utime + stime over %.0f s)|%s %% of one core|<= 1 %%|%s|%s|its reaped exec-check children add %s %%\n",
		w, fmt(cpu), fmt(c), s2, fmt(kids) }')
echo "### Targets (DESIGN.md)"
echo
echo "Ratio: headroom factor, > 1 means the target is met by that factor."
echo
echo "| id | target | measured | limit | ratio | status | note |"
echo "|---|---|---|---|---|---|---|"
while IFS='|' read -r tid ttext tmeas tlim tratio tstat tnote; do
	echo "| $tid | $ttext | $tmeas | $tlim | $tratio | **$tstat** | $tnote |"
	[ -n "$CSV" ] && echo "target,$tid,${ttext//,/;},$tmeas,$tlim,$tratio,$tstat,${tnote//,/;}" >>"$CSV"
done <<<"$rows"
echo
log "done"
