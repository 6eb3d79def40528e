#!/bin/sh
# Builds the libFuzzer targets (tests/fuzz/) with clang, ASan and UBSan,
# and runs each for a bounded time on a copy of its seed corpus, so that
# nothing is written into the repository. Fails on any crash, sanitizer
# report, leak, timeout or out-of-memory, printing the reproducer.
# Usage: scripts/fuzz.sh [TARGET ...]          (default: every target)
# Environment:
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_BUILD    build tree (default build-fuzz)
# Reproducers are kept in $FUZZ_BUILD/fuzz-artifacts/<target>/; replay
# one with "$FUZZ_BUILD/tests/fuzz/<target> <file>". A reproducer that
# shows a real bug goes to tests/fuzz/regressions/<target>/ with the fix
# (tests/test_fuzz_regressions.c replays those in every build).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-build-fuzz}
targets=${*:-fuzz_rpc fuzz_gateway fuzz_config fuzz_names fuzz_url}
jobs=$(nproc 2>/dev/null || echo 2)

# Largest input per target: past the RPC size limit (4096) and the
# longest URL (4096), a config file with a few checks, 64 metric
# operations, an HTTP request head.
max_len() {
    case $1 in
    fuzz_rpc) echo 8192 ;;
    fuzz_gateway) echo 4096 ;;
    fuzz_config) echo 16384 ;;
    fuzz_names) echo 2048 ;;
    fuzz_url) echo 4400 ;;
    *) echo 4096 ;;
    esac
}

for t in $targets; do
    if [ ! -f "tests/fuzz/$t.c" ]; then
        echo "unknown fuzz target: $t" >&2
        exit 2
    fi
done

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVITALS_SANITIZE=address -DVITALS_FUZZ=ON -DVITALS_TESTS=OFF \
    -DVITALS_BENCH=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $targets

work=$(mktemp -d "${TMPDIR:-/tmp}/vitals-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

failed=""
for t in $targets; do
    corpus="$work/$t"
    artifacts="$build/fuzz-artifacts/$t"
    log="$work/$t.log"
    mkdir -p "$corpus" "$artifacts"
    cp tests/fuzz/corpus/"$t"/* "$corpus"/
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    echo "=== $t: ${seconds} s"
    rc=0
    # shellcheck disable=SC2086
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/tests/fuzz/$t" -max_total_time="$seconds" \
        -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" $dict \
        "$corpus" >"$log" 2>&1 || rc=$?
    # Executions and coverage, from libFuzzer's last status line.
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 |
        sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+).*/\1/')
    echo "$t: ${runs:-?} executions, ${status:-no status}"
    repro=$(grep -o "Test unit written to .*" "$log" |
        sed 's/Test unit written to //' || true)
    if [ "$rc" -ne 0 ] || [ -n "$repro" ]; then
        # The report: from the first sanitizer or libFuzzer error line.
        sed -n '/ERROR: \|invariant failed\|runtime error\|==ERROR\|ALARM\|out-of-memory/,$p' \
            "$log" | head -n 60 >&2
        echo "$t FAILED (exit $rc); reproducer: ${repro:-none written}" >&2
        [ -n "$repro" ] && echo "  replay: $build/tests/fuzz/$t $repro" >&2
        failed="$failed $t"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzzing FAILED in:$failed" >&2
    exit 1
fi
echo "fuzzing passed: $targets (${seconds} s each)"
