#!/bin/sh
# The README's run command on a machine that has only the build package
# set: every program installed by the test and bench sets of
# scripts/install-deps.sh (promtool, redis-server, clang, chromium, ...)
# is hidden in a private mount namespace (overlays that white them out;
# needs root, unshare and overlayfs), then a fresh tree is configured and
# built, the default config is checked, and vitalsd is started on free
# ports and asked for /health by vitalsctl; the installed tree must link
# an outside program by find_package(vitals) and by pkg-config.
# Usage: scripts/fresh-build.sh [BUILD_DIR]   (default: a temporary one)
set -eu
cd "$(dirname "$0")/.."
if [ "${VT_FRESH_INSIDE:-}" != 1 ]; then
    # Programs of the test and bench sets that no build package also ships.
    sets=$(sed -n '/^test_pkgs=/,/^bench_pkgs=/p;/^bench_pkgs=/,/"$/p' \
        scripts/install-deps.sh | tr -d '"' | sed 's/^[a-z_]*=//')
    build=$(sed -n '/^build_pkgs=/,/"$/p' scripts/install-deps.sh |
        tr -d '"' | sed 's/^[a-z_]*=//')
    hide=""
    for p in $sets; do
        dpkg -L "$p" 2>/dev/null | grep -E '^/usr/s?bin/[^/]+$' || true
    done | sort -u >/tmp/vt-fresh-hide.$$
    for p in $build; do
        dpkg -L "$p" 2>/dev/null | grep -E '^/usr/s?bin/[^/]+$' || true
    done | sort -u >/tmp/vt-fresh-keep.$$
    hide=$(comm -23 /tmp/vt-fresh-hide.$$ /tmp/vt-fresh-keep.$$)
    rm -f /tmp/vt-fresh-hide.$$ /tmp/vt-fresh-keep.$$
    o=$(mktemp -d)
    trap 'rm -rf "$o"' EXIT
    script=""
    for dir in /usr/bin /usr/sbin; do
        n=$(echo "$dir" | tr / _)
        mkdir -p "$o/$n/u" "$o/$n/w"
        any=""
        for f in $hide; do
            [ "$(dirname "$f")" = "$dir" ] || continue
            [ -e "$f" ] || [ -L "$f" ] || continue
            script="$script mknod $o/$n/u/$(basename "$f") c 0 0;"
            any=1
        done
        [ -n "$any" ] && script="$script mount -t overlay overlay -o lowerdir=$dir,upperdir=$o/$n/u,workdir=$o/$n/w $dir;"
    done
    echo "fresh-build: $(echo "$hide" | wc -w) programs of the test and bench sets hidden"
    VT_FRESH_INSIDE=1 unshare -m sh -c "$script exec \"\$0\" \"\$@\"" "$0" "$@"
    exit $?
fi

for t in promtool redis-server clang chromium wrk; do
    if command -v "$t" >/dev/null 2>&1; then
        echo "fresh-build: $t is still visible" >&2
        exit 1
    fi
done
b=${1:-$(mktemp -d)}
cmake -S . -B "$b" >/dev/null
cmake --build "$b" -j "$(nproc)" >/dev/null
"$b/vitalsd" --check-config config/vitalsd.json
# The installed tree links an outside program (find_package and pkg-config).
sh tests/install_test.sh "$b" "$PWD"

# Start it on ports of its own (the default config's, moved) and ask it.
port=$((20000 + $$ % 20000))
cfg=$(mktemp)
sed -e "s/8080/$port/g" -e "s/5555/$((port + 1))/g" \
    -e "s/5556/$((port + 2))/g" config/vitalsd.json >"$cfg"
"$b/vitalsd" --config "$cfg" &
pid=$!
ok=""
for _ in $(seq 50); do
    if "$b/client/vitalsctl" --url "tcp://127.0.0.1:$((port + 1))" \
        --timeout 2000 health >/dev/null 2>&1; then
        ok=1
        break
    fi
    sleep 0.2
done
"$b/client/vitalsctl" --url "tcp://127.0.0.1:$((port + 1))" health || true
kill -TERM "$pid"
wait "$pid" || true
rm -f "$cfg"
[ -z "${1:-}" ] && rm -rf "$b"
[ -n "$ok" ] || { echo "fresh-build: vitalsd did not answer" >&2; exit 1; }
echo "fresh-build: built, installed and ran vitalsd with the build package set only"
