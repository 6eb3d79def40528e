#!/bin/sh
# Installs the Debian 12 packages vitals needs to build and test.
# Idempotent: packages already present are skipped by apt-get.
# Usage: scripts/install-deps.sh [build|test|bench]   (default: test)
#   build  compilers and libraries
#   test   + servers and tools the tests start (redis, rabbitmq, prometheus,
#          alertmanager, chromium, python3-aiohttp, clang's sanitizer
#          runtimes, curl, sqlite3, systemd-analyze)
#   bench  + gnuplot (plots), wrk and nginx (the gateway baseline), the Go
#          and Python Prometheus clients (the peers)
set -eu
what=${1:-test}

build_pkgs="build-essential cmake pkg-config
  libnng-dev libprotobuf-c-dev protobuf-c-compiler libcjson-dev
  libhiredis-dev librabbitmq-dev libcurl4-openssl-dev libssl-dev libcunit1-dev
  libsqlite3-dev golang-github-prometheus-client-model-dev
  python3"
test_pkgs="clang libclang-rt-14-dev prometheus prometheus-alertmanager
  redis-server rabbitmq-server curl sqlite3 chromium python3-aiohttp
  python3-prometheus-client systemd"
bench_pkgs="gnuplot-nox wrk nginx-light golang-go
  golang-github-prometheus-client-golang-dev"

case $what in
build) pkgs=$build_pkgs ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing:$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
