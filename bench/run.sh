#!/usr/bin/env bash
# bench/run.sh - builds the benchmarks and writes bench/RESULTS.md.
#
# Installs what is missing (scripts/install-deps.sh bench: the test
# packages plus gnuplot, wrk, nginx and the Go client's packages),
# builds the bench programs in
# their own build directory (RelWithDebInfo: -O2 -g, the project's
# default build type; no sanitizers), runs every section with repeats,
# and writes bench/RESULTS.md (machine, date, commit, exact commands,
# the DESIGN.md targets as MET/MISSED with their ratio, the analysis of
# the misses from bench/ANALYSIS.md, every table) and
# PNG plots in bench/plots/. Raw CSV rows and logs stay in BUILD/bench-out/.
# Re-runnable: every output is rewritten; a failing section is reported
# in RESULTS.md and makes the script exit 1 after the others ran.
#
# Usage: bench/run.sh [--quick] [--no-install] [--build-dir DIR]
#                     [--sections "metrics read checks ..."] [--no-pin]
#                     [--replot]
#   --quick       fewer repeats and sizes (minutes instead of ~45 min)
#   --no-install  do not call apt-get (plots are skipped without gnuplot)
#   --sections    run only these sections (default: all, in order:
#                 metrics read encode checks rpc gateway peers scale
#                 history footprint); RESULTS.md
#                 then holds only those, plots of the others are left as
#                 they are
#   --no-pin      let the scheduler place bench threads (default: thread
#                 i on CPU i % ncpu; unpinned, two threads often share one
#                 CPU on a 2-CPU machine and contended baselines such as
#                 the shared atomic then look uncontended; rpc ignores it,
#                 gateway and peers pin the servers to the last CPU and
#                 wrk to 0)
#   --replot      run nothing: redo the plots and RESULTS.md from the
#                 last run's BUILD/bench-out/
# Run it on a quiet machine: other load skews every figure.
#
# Sections: one function section_NAME per bench, listed in SECTIONS. To
# add one: write its program, add it to bench/CMakeLists.txt and to
# BENCH_TARGETS, and write section_NAME below with run_bench (see
# section_metrics; a driver script works too, see section_gateway); a
# section's Markdown and CSV target rows land in RESULTS.md by
# themselves.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$ROOT/build-bench-run
QUICK=""
INSTALL=1
PIN=--pin
DEFAULT_SECTIONS="metrics read encode checks rpc gateway peers scale history footprint"
SECTIONS=$DEFAULT_SECTIONS
REPLOT=0

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=--quick ;;
	--no-install) INSTALL=0 ;;
	--pin) PIN=--pin ;;
	--no-pin) PIN="" ;;
	--replot) REPLOT=1 ;;
	--build-dir)
		BUILD=$(realpath -m "$2")
		shift
		;;
	--sections)
		SECTIONS=$2
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

OUT=$BUILD/bench-out
PLOTS=$ROOT/bench/plots
RESULTS=$ROOT/bench/RESULTS.md

log() { echo "run.sh: $*" >&2; }

# run_bench NAME PROGRAM ARGS...: runs BUILD/bench/PROGRAM (or PROGRAM
# itself when it is a path, e.g. a driver script in bench/) with the
# common options, Markdown to OUT/NAME.md, CSV to OUT/NAME.csv, stderr to
# OUT/NAME.log; records the command, the load average and the status.
run_bench() {
	local name=$1 prog=$2
	shift 2
	local exe=$BUILD/bench/$prog
	case $prog in */*) exe=$prog ;; esac
	local args=("$@")
	[ -n "$QUICK" ] && args+=("$QUICK")
	[ -n "$PIN" ] && args+=("$PIN")
	args+=(--csv "${OUT#"$ROOT"/}/$name.csv")
	local shown="${exe#"$ROOT"/} ${args[*]}"
	echo "$shown" >>"$OUT/commands.txt"
	local load0 load1 t0 t1 rc=0
	load0=$(cut -d' ' -f1-3 /proc/loadavg)
	t0=$(date +%s)
	log "[$name] $shown"
	"$exe" "${args[@]}" >"$OUT/$name.md" 2>"$OUT/$name.log" || rc=$?
	t1=$(date +%s)
	load1=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "$name|$rc|$((t1 - t0))|$load0|$load1" >>"$OUT/status.txt"
	if [ "$rc" -ne 0 ]; then
		FAILED="$FAILED $name"
		log "[$name] FAILED (exit $rc), see $OUT/$name.log"
		tail -5 "$OUT/$name.log" >&2 || true
	fi
}

# A section that has no program yet: says so in RESULTS.md.
pending() {
	local name=$1 what=$2
	{
		echo "## $what"
		echo
		echo "Not measured yet: this section's bench program does not exist."
		echo
	} >"$OUT/$name.md"
	echo "$name|pending|0|-|-" >>"$OUT/status.txt"
}

# --- sections: one function each, run in the order of SECTIONS -------------------
section_metrics() { run_bench metrics bench_metrics; }
section_read() { run_bench read bench_read; }
# The exposition encoders (text, OpenMetrics, protobuf, JSON) on one
# snapshot of the 1,000-series registry.
section_encode() { run_bench encode bench_encode; }
section_checks() { run_bench checks bench_checks; }
# The benches with servers. rpc: nng Health/Check and Metrics/Get round
# trips against a bare nng req/rep server of the same reply size, all in
# one process (bench_rpc). gateway: bench/bench_gateway.sh starts
# bench_gateway (vitals' gateway and a bare nng HTTP handler) and nginx
# with a static file of the same size, drives the three with wrk and
# stops them by pid.
section_rpc() { run_bench rpc bench_rpc; }
section_gateway() {
	run_bench gateway "$ROOT/bench/bench_gateway.sh" \
		--exe "${BUILD#"$ROOT"/}/bench/bench_gateway"
}
# peers: bench/peers/bench_peers.sh builds the Go peer (offline, GOPATH
# mode, Debian's client_golang; Go cache in a temporary directory) and
# measures vitals (bench_metrics for record, bench_gateway --set for
# /metrics), Prometheus' Go client and Python's prometheus_client on the
# same metric sets in this run; its targets are DESIGN.md's peer targets.
# scale: bench_scale, the library directly: scrape cost and memory
# against series and writer threads, fresh /health against checks.
section_peers() {
	run_bench peers "$ROOT/bench/peers/bench_peers.sh" \
		--bin-dir "${BUILD#"$ROOT"/}/bench"
}
section_scale() { run_bench scale bench_scale; }
# history: bench_history, the library directly: the status page for 50
# checks with 30 days of generated history, and C1 / cached /health with
# and without a state database in the same run.
section_history() { run_bench history bench_history; }
# footprint: bench/bench_footprint.sh runs vitalsd with 50 checks every
# 5 s, history, the status page and a webhook notifier against local
# targets for 10 minutes (2 with --quick) and samples its RSS and CPU
# time from /proc.
section_footprint() {
	run_bench footprint "$ROOT/bench/bench_footprint.sh" \
		--exe "${BUILD#"$ROOT"/}/vitalsd"
}
BENCH_TARGETS="bench_metrics bench_read bench_encode bench_checks bench_rpc bench_gateway bench_scale bench_history vitalsd"

for s in $SECTIONS; do
	if ! declare -F "section_$s" >/dev/null; then
		log "unknown section: $s"
		exit 2
	fi
done

FAILED=""
if [ "$REPLOT" = 1 ]; then
	[ -f "$OUT/status.txt" ] || {
		echo "no earlier run in $OUT" >&2
		exit 2
	}
	SECTIONS=$(cut -d'|' -f1 "$OUT/status.txt" | paste -sd' ' -)
	QUICK=$(sed -n 's/^quick=//p' "$OUT/options.txt")
	PIN=$(sed -n 's/^pin=//p' "$OUT/options.txt")
	FAILED=$(awk -F'|' '$2 != 0 && $2 != "pending" {printf " %s", $1}' "$OUT/status.txt")
else
	# --- dependencies ---------------------------------------------------------
	if [ "$INSTALL" = 1 ]; then
		scripts/install-deps.sh bench
	fi

	# --- build ----------------------------------------------------------------
	log "building $BENCH_TARGETS in $BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DVITALS_SANITIZE= -DVITALS_TESTS=OFF -DVITALS_BENCH=ON >/dev/null
	# shellcheck disable=SC2086
	cmake --build "$BUILD" -j "$(nproc)" --target $BENCH_TARGETS

	# --- run ------------------------------------------------------------------
	rm -rf "$OUT"
	mkdir -p "$OUT"
	: >"$OUT/commands.txt"
	: >"$OUT/status.txt"
	# Whether the code measured differs from the commit: recorded now,
	# so that --replot reports the run, not the tree it replots in.
	dirty=0
	if git status --porcelain -- src include bench CMakeLists.txt 2>/dev/null |
		grep -v ' bench/RESULTS.md$\| bench/plots/\| bench/ANALYSIS.md$' |
		grep -q .; then
		dirty=1
	fi
	printf 'quick=%s\npin=%s\ndate=%s\ncommit=%s\ndirty=%s\n' "$QUICK" \
		"$PIN" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
		"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
		"$dirty" >"$OUT/options.txt"
	for s in $SECTIONS; do
		"section_$s"
	done
fi
mkdir -p "$PLOTS"

# --- plots ----------------------------------------------------------------------
# tput rows: tput,bench,op,api,labels,mode,threads,ns_op,mops_med,min,max,balance
series_dat() { # CSV OP API LABELS MODE -> "threads med min max" lines
	awk -F, -v op="$2" -v api="$3" -v lab="$4" -v mode="$5" \
		'$1=="tput" && $3==op && $4==api && $5==lab && $6==mode {print $7, $9, $10, $11}' "$1"
}

PLOT_NOTE=""
PLOTS_MADE=""
make_plots() {
	if ! command -v gnuplot >/dev/null 2>&1; then
		PLOT_NOTE="No plots: gnuplot is not installed (run without --no-install)."
		return
	fi
	local term="png size 1000,560"
	gnuplot -e 'set terminal' 2>&1 | grep -q pngcairo &&
		term="pngcairo size 1000,560 font 'sans,10'"
	local csv=$OUT/metrics.csv d=$OUT/plot
	mkdir -p "$d"
	# Only the plots of the sections that ran are redone (and listed in
	# RESULTS.md): a run of some sections leaves the others' as they are.
	if [ -s "$csv" ]; then
		rm -f "$PLOTS"/{counter,histogram,gauge}_threads.png
		PLOTS_MADE="$PLOTS_MADE counter_threads histogram_threads gauge_threads"
		local xmax
		xmax=$(awk -F, '$1=="tput" && $7>m {m=$7} END {print (m ? m : 1) * 1.25}' "$csv")
		series_dat "$csv" counter_inc handle 0 one >"$d/c_h1"
		series_dat "$csv" counter_inc handle 0 disjoint >"$d/c_hd"
		series_dat "$csv" counter_inc by-name 0 one >"$d/c_bn"
		series_dat "$csv" plain_inc baseline 0 one >"$d/c_plain"
		series_dat "$csv" atomic_inc baseline 0 one >"$d/c_atomic"
		series_dat "$csv" mutex_inc baseline 0 one >"$d/c_mutex"
		series_dat "$csv" hist_observe handle 0 one >"$d/h_h1"
		series_dat "$csv" hist_observe handle 0 disjoint >"$d/h_hd"
		series_dat "$csv" hist_observe by-name 0 one >"$d/h_bn"
		series_dat "$csv" seed_hist baseline 0 one >"$d/h_seed1"
		series_dat "$csv" seed_hist baseline 0 disjoint >"$d/h_seedd"
		series_dat "$csv" gauge_set handle 0 one >"$d/g_s1"
		series_dat "$csv" gauge_set handle 0 disjoint >"$d/g_sd"
		series_dat "$csv" gauge_add handle 0 one >"$d/g_a1"
		series_dat "$csv" gauge_add handle 0 disjoint >"$d/g_ad"
		gnuplot <<EOF
set terminal $term
set termoption noenhanced
set datafile missing '-'
set logscale y
set xlabel 'threads'
set ylabel 'total Mops/s (median; bars: min-max)'
set key outside right top
set grid
set logscale x 2
set xtics 2
set format x '%g'
set xrange [0.8:$xmax]
set output '$PLOTS/counter_threads.png'
set title 'Counter inc: total throughput against threads'
plot '$d/c_h1' u 1:2:3:4 w yerrorlines t 'vitals handle, one series', \
     '$d/c_hd' u 1:2:3:4 w yerrorlines t 'vitals handle, disjoint', \
     '$d/c_bn' u 1:2:3:4 w yerrorlines t 'vitals by-name, one series', \
     '$d/c_plain' u 1:2:3:4 w yerrorlines t 'plain ++ per thread (call)', \
     '$d/c_atomic' u 1:2:3:4 w yerrorlines t 'shared atomic', \
     '$d/c_mutex' u 1:2:3:4 w yerrorlines t 'mutex counter'
set output '$PLOTS/histogram_threads.png'
set title 'Histogram observe: total throughput against threads'
plot '$d/h_h1' u 1:2:3:4 w yerrorlines t 'vitals handle, one series', \
     '$d/h_hd' u 1:2:3:4 w yerrorlines t 'vitals handle, disjoint', \
     '$d/h_bn' u 1:2:3:4 w yerrorlines t 'vitals by-name, one series', \
     '$d/h_seed1' u 1:2:3:4 w yerrorlines t 'seed: array + mutex, one', \
     '$d/h_seedd' u 1:2:3:4 w yerrorlines t 'seed: array + mutex, per thread'
set output '$PLOTS/gauge_threads.png'
set title 'Gauges (one shared atomic per series): throughput against threads'
plot '$d/g_s1' u 1:2:3:4 w yerrorlines t 'set, one series', \
     '$d/g_sd' u 1:2:3:4 w yerrorlines t 'set, disjoint', \
     '$d/g_a1' u 1:2:3:4 w yerrorlines t 'add (CAS), one series', \
     '$d/g_ad' u 1:2:3:4 w yerrorlines t 'add (CAS), disjoint', \
     '$d/c_atomic' u 1:2:3:4 w yerrorlines t 'shared atomic (atomic_fetch_add)'
EOF
	fi
	csv=$OUT/read.csv
	if [ -s "$csv" ]; then
		rm -f "$PLOTS/read_1000_series.png"
		PLOTS_MADE="$PLOTS_MADE read_1000_series"
		# read,mix,series,writers,state,merge,json,prom,bytes
		local wmax
		wmax=$(awk -F, '$1=="read" && $4>m {m=$4} END {print (m ? m : 1) * 1.25}' "$csv")
		for mix in counters mix histograms; do
			for st in live exited; do
				awk -F, -v m="$mix" -v s="$st" \
					'$1=="read" && $2==m && $3==1000 && $5==s {print $4, $7, $6}' \
					"$csv" >"$d/r_${mix}_$st"
			done
		done
		gnuplot <<EOF
set terminal $term
set termoption noenhanced
set logscale y
set logscale x 2
set xtics 2
set format x '%g'
set xrange [0.8:$wmax]
set grid
set key outside right top
set xlabel 'writer threads'
set ylabel 'ms (median)'
set output '$PLOTS/read_1000_series.png'
set title 'Merge + JSON of 1,000 series against writer threads (target: 2 ms)'
plot 2 t 'target 2 ms' lw 2 dt 2, \
     '$d/r_counters_live' u 1:2 w linespoints t 'counters, live', \
     '$d/r_mix_live' u 1:2 w linespoints t 'mix, live', \
     '$d/r_histograms_live' u 1:2 w linespoints t 'histograms, live', \
     '$d/r_histograms_live' u 1:3 w linespoints dt 3 t 'histograms, live: merge only', \
     '$d/r_counters_exited' u 1:2 w linespoints dt 4 t 'counters, exited', \
     '$d/r_mix_exited' u 1:2 w linespoints dt 4 t 'mix, exited', \
     '$d/r_histograms_exited' u 1:2 w linespoints dt 4 t 'histograms, exited'
EOF
	fi
	csv=$OUT/rpc.csv
	if [ -s "$csv" ]; then
		rm -f "$PLOTS"/rpc_{latency,throughput}.png
		PLOTS_MADE="$PLOTS_MADE rpc_latency rpc_throughput"
		# rpc,transport,server,clients,bytes,p50_med,p50_min,p50_max,
		# p99_med,rps_med,rps_min,rps_max
		local t srv cmax
		cmax=$(awk -F, '$1=="rpc" && $4>m {m=$4} END {print (m ? m : 1) * 1.25}' "$csv")
		for t in tcp ipc; do
			for srv in vitals_health echo_health vitals_metrics echo_metrics; do
				awk -F, -v t="$t" -v s="$srv" \
					'$1=="rpc" && $2==t && $3==s {print $4, $6, $7, $8, $10, $11, $12}' \
					"$csv" >"$d/rpc_${t}_$srv"
			done
		done
		gnuplot <<EOF
set terminal $term
set termoption noenhanced
set logscale x 2
set xtics 2
set format x '%g'
set xrange [0.8:$cmax]
set grid
set key outside right top
set xlabel 'concurrent clients'
set output '$PLOTS/rpc_latency.png'
set title 'nng RPC round trip p50 against clients (bars: min-max over repeats)'
set ylabel 'p50 round trip, us'
plot '$d/rpc_tcp_vitals_health' u 1:2:3:4 w yerrorlines t 'tcp: Health/Check (cached)', \
     '$d/rpc_tcp_echo_health' u 1:2:3:4 w yerrorlines dt 2 t 'tcp: echo, same size', \
     '$d/rpc_ipc_vitals_health' u 1:2:3:4 w yerrorlines t 'ipc: Health/Check (cached)', \
     '$d/rpc_ipc_echo_health' u 1:2:3:4 w yerrorlines dt 2 t 'ipc: echo, same size', \
     '$d/rpc_tcp_vitals_metrics' u 1:2:3:4 w yerrorlines t 'tcp: Metrics/Get', \
     '$d/rpc_tcp_echo_metrics' u 1:2:3:4 w yerrorlines dt 2 t 'tcp: echo, Metrics/Get size'
set output '$PLOTS/rpc_throughput.png'
set title 'nng RPC throughput against clients (bars: min-max over repeats)'
set ylabel 'requests/s'
plot '$d/rpc_tcp_vitals_health' u 1:5:6:7 w yerrorlines t 'tcp: Health/Check (cached)', \
     '$d/rpc_tcp_echo_health' u 1:5:6:7 w yerrorlines dt 2 t 'tcp: echo, same size', \
     '$d/rpc_ipc_vitals_health' u 1:5:6:7 w yerrorlines t 'ipc: Health/Check (cached)', \
     '$d/rpc_ipc_echo_health' u 1:5:6:7 w yerrorlines dt 2 t 'ipc: echo, same size', \
     '$d/rpc_tcp_vitals_metrics' u 1:5:6:7 w yerrorlines t 'tcp: Metrics/Get', \
     '$d/rpc_tcp_echo_metrics' u 1:5:6:7 w yerrorlines dt 2 t 'tcp: echo, Metrics/Get size'
EOF
	fi
	# The peers and scale plots: gnuplot scripts in bench/plots/, fed
	# from the sections' CSV rows.
	csv=$OUT/peers.csv
	if [ -s "$csv" ]; then
		rm -f "$PLOTS"/peers_{speedup,metrics_rps}.png
		PLOTS_MADE="$PLOTS_MADE peers_speedup peers_metrics_rps"
		awk -F, '$1=="peer_speedup" {print $2, $4, $5}' "$csv" >"$d/peer_speedup"
		# peer_http,set,server,bytes,rps_med,...: one line per set.
		awk -F, '$1=="peer_http" {r[$2 "/" $3] = $5; if (!($2 in seen)) {seen[$2] = 1; o[++n] = $2}}
			END {for (i = 1; i <= n; i++) print o[i], r[o[i] "/vitals"], r[o[i] "/vitals_json"],
				r[o[i] "/go"], r[o[i] "/python"]}' "$csv" >"$d/peer_http"
		gnuplot -e "term=\"$term\"; d='$d'; out='$PLOTS'" "$ROOT/bench/plots/peers.gp"
	fi
	csv=$OUT/scale.csv
	if [ -s "$csv" ]; then
		rm -f "$PLOTS"/scale_{series,threads,checks}.png
		PLOTS_MADE="$PLOTS_MADE scale_series scale_threads scale_checks"
		# scale_series|threads,series,writers,merge,prom,json,heap,bytes
		awk -F, '$1=="scale_series" {print $2, $4, $5, $6, $7 / 1048576}' "$csv" >"$d/scale_series"
		awk -F, '$1=="scale_threads" {print $3, $4, $5, $6, $7 / 1048576}' "$csv" >"$d/scale_threads"
		awk -F, '$1=="scale_checks" {print $2, $4, $5, $6}' "$csv" >"$d/scale_checks"
		# scale_fit,curve,slope unit,y unit,a,b,r2,k: the slope back to
		# the plot's y unit (ms or MiB) per x.
		awk -F, '$1=="scale_fit" {
			f = $3 ~ /^ns/ ? 1e-6 : $3 ~ /^us/ ? 1e-3 : $3 ~ /^bytes/ ? 1 / 1048576 : $3 ~ /^KiB/ ? 1 / 1024 : 1
			printf "fit_%s_a = %.9g; fit_%s_b = %.9g\n", $2, $5, $2, $6 * f }' "$csv" >"$d/fits"
		gnuplot -e "term=\"$term\"; d='$d'; out='$PLOTS'" "$ROOT/bench/plots/scale.gp"
	fi
}
make_plots || PLOT_NOTE="Plotting failed: see the gnuplot messages in the run's output."

# --- RESULTS.md -------------------------------------------------------------------
model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cpus=$(nproc)
tpc=$(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -1)
caches=$(lscpu | sed -n 's/^\(L[123][di]* cache\): *\(.*\)/\1 \2/p' | paste -sd ';' - | sed 's/;/; /g')
virt=$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1)
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
commit=$(sed -n 's/^commit=//p' "$OUT/options.txt")
dirty=""
if [ "$(sed -n 's/^dirty=//p' "$OUT/options.txt")" != 0 ]; then
	dirty=" plus uncommitted changes in src/, include/, bench/ or CMakeLists.txt"
fi
cmdline="bench/run.sh${QUICK:+ $QUICK}"
[ -z "$PIN" ] && cmdline="$cmdline --no-pin"
[ "$SECTIONS" != "$DEFAULT_SECTIONS" ] &&
	cmdline="$cmdline --sections \"$SECTIONS\""

tmp=$RESULTS.tmp
{
	echo "# vitals benchmark results"
	echo
	echo "Written by \`$cmdline\` on $(sed -n 's/^date=//p' "$OUT/options.txt"), commit $commit$dirty."
	echo "Every figure is a median over repeated runs in that one invocation; baselines ran in the same"
	echo "run, by the same harness. Re-run the command to refresh this file."
	echo
	echo "## Machine"
	echo
	echo "- CPU: ${model:-unknown}, $cpus CPUs online, $tpc thread(s) per core${virt:+, virtualised ($virt)}"
	echo "- Caches: ${caches:-unknown}"
	echo "- Memory: $mem; kernel $(uname -sr); $(gcc --version | head -1)"
	echo "- Build: CMake RelWithDebInfo (-O2 -g), no sanitizers, in ${BUILD#"$ROOT"/}/"
	echo "- Threads pinned: $([ -n "$PIN" ] && echo yes || echo no)"
	echo
	echo "| section | status | seconds | load average before | load average after |"
	echo "|---|---|---|---|---|"
	while IFS='|' read -r name rc secs l0 l1; do
		case $rc in
		0) st=ok ;;
		pending) st="not yet written" ;;
		*) st="**FAILED (exit $rc)**" ;;
		esac
		echo "| $name | $st | $secs | $l0 | $l1 |"
	done <"$OUT/status.txt"
	echo
	echo "A load average above 0.1 before a section means something else was running: treat its"
	echo "figures as noisy."
	echo
	echo "## Commands"
	echo
	echo '```'
	echo "$cmdline"
	echo "# which ran:"
	cat "$OUT/commands.txt"
	echo '```'
	echo
	echo "## Targets (DESIGN.md)"
	echo
	echo "Ratio: headroom factor (limit / measured for upper limits, measured / limit for lower"
	echo "ones); above 1 the target is met by that factor."
	echo
	echo "| section | id | target | measured (median) | limit | ratio | status | note |"
	echo "|---|---|---|---|---|---|---|---|"
	for s in $SECTIONS; do
		[ -s "$OUT/$s.csv" ] || continue
		# target,id,text,measured,limit,ratio,status,note
		awk -F, -v sec="$s" '$1=="target" {printf "| %s | %s | %s | %s | %s | %s | **%s** | %s |\n", sec, $2, $3, $4, $5, $6, $7, $8}' "$OUT/$s.csv"
	done
	echo
	# The reading of the misses, kept by hand next to this script: what
	# limits each missed target, with the profiles that show it.
	if [ -f "$ROOT/bench/ANALYSIS.md" ]; then
		cat "$ROOT/bench/ANALYSIS.md"
		echo
	fi
	echo "## Plots"
	echo
	if [ -n "$PLOT_NOTE" ]; then
		echo "$PLOT_NOTE"
	elif [ -z "$PLOTS_MADE" ]; then
		echo "None: the sections that ran have no plots."
	else
		for p in $PLOTS_MADE; do
			[ -f "$PLOTS/$p.png" ] && echo "![$p](plots/$p.png)"
		done
	fi
	echo
	for s in $SECTIONS; do
		[ -f "$OUT/$s.md" ] || continue
		# Program headings (##) become level-2 sections of this file.
		cat "$OUT/$s.md"
		echo
	done
	echo "Raw rows: ${OUT#"$ROOT"/}/*.csv; logs: ${OUT#"$ROOT"/}/*.log."
} >"$tmp"
mv "$tmp" "$RESULTS"
log "wrote $RESULTS"

if [ -n "$FAILED" ]; then
	log "failed sections:$FAILED"
	exit 1
fi
