#!/bin/sh
# install() works: the library, headers, CMake package and vitals.pc
# installed into a temporary prefix are found by an outside project.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
PKG_CONFIG_PATH=$(find "$tmp/prefix" -name vitals.pc -printf '%h\n' | head -n 1)
export PKG_CONFIG_PATH
cmake -S "$src/tests/install_consumer" -B "$tmp/build" \
    -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/build" >/dev/null
"$tmp/build/consumer_cmake"
"$tmp/build/consumer_pc"
