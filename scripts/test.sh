#!/bin/sh
# Installs what is missing, then builds and runs every test: first the
# README's run command with only the build package set visible
# (scripts/fresh-build.sh), then the three builds: plain, ASan+UBSan, TSan
# (build trees in build-test-<variant>/), then each libFuzzer target for
# FUZZ_SECONDS (default 60) with ASan+UBSan (scripts/fuzz.sh).
# Usage: scripts/test.sh [fresh|plain|address|thread|fuzz ...]  (default: all)
# Environment: CTEST_ARGS adds ctest arguments (e.g. "-L unit");
#   FUZZ_SECONDS sets the time per fuzz target;
#   VT_LOAD_SECONDS the length of the load test (default 30).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh test

variants=${*:-fresh plain address thread fuzz}
jobs=$(nproc 2>/dev/null || echo 2)
failed=""
for v in $variants; do
    case $v in
    fresh)
        echo "=== fresh machine (build package set only)"
        scripts/fresh-build.sh || failed="$failed fresh"
        continue
        ;;
    fuzz)
        echo "=== fuzzing (build-fuzz)"
        scripts/fuzz.sh || failed="$failed fuzz"
        continue
        ;;
    plain) san="" ;;
    address | thread) san=$v ;;
    *) echo "unknown variant: $v" >&2; exit 2 ;;
    esac
    dir=build-test-$v
    echo "=== $v build ($dir)"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DVITALS_SANITIZE="$san" >/dev/null
    cmake --build "$dir" -j "$jobs"
    # halt_on_error: a sanitizer report fails the test that caused it.
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --test-dir "$dir" --output-on-failure ${CTEST_ARGS:-}; then
        failed="$failed $v"
    fi
done
if [ -n "$failed" ]; then
    echo "FAILED in:$failed" >&2
    exit 1
fi
echo "all tests passed in: $variants"
