#!/bin/sh
# Installs the Debian 12 packages vitals needs to build and test.
# Idempotent: packages already present are skipped by apt-get.
# Usage: scripts/install-deps.sh [build|test]   (default: test)
set -eu
what=${1:-test}

build_pkgs="build-essential cmake pkg-config
  libnng-dev libprotobuf-c-dev protobuf-c-compiler libcjson-dev
  libhiredis-dev librabbitmq-dev libcurl4-openssl-dev libssl-dev libcunit1-dev"
test_pkgs="clang libclang-rt-14-dev prometheus redis-server rabbitmq-server curl"

pkgs=$build_pkgs
[ "$what" = test ] && pkgs="$pkgs $test_pkgs"

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
