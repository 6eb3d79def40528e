#!/bin/sh
# deploy/ and packaging, checked with the tools that read them:
#   the rules: promtool check rules + promtool test rules (unit tests)
#   the Prometheus configs: promtool check config
#   the Alertmanager example: amtool check-config
#   the Grafana dashboard: valid JSON, every panel has queries
#   the unit: systemd-analyze verify, without a single warning
#   sd_notify: vitalsd, given a NOTIFY_SOCKET, sends READY=1, pings the
#     watchdog at half WATCHDOG_USEC and says STOPPING=1 on SIGTERM
#   the Debian package (cpack -G DEB): its contents (dpkg-deb -c), the
#     conffile, and its dependencies (libcurl; no libsystemd: vitalsd
#     speaks sd_notify itself)
# Usage: deploy_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
PATH=$PATH:/usr/sbin:/sbin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

d=$src/deploy
promtool check rules "$d/prometheus/vitals.rules.yml" || fail "rules"
(cd "$d/prometheus" && promtool test rules vitals.rules.test.yml) || fail "rule tests"
promtool check config --syntax-only "$d/prometheus/prometheus.yml" || fail "prometheus.yml"
promtool check config --syntax-only "$d/prometheus/agent.yml" || fail "agent.yml"
amtool check-config "$d/alertmanager/alertmanager.yml" || fail "alertmanager.yml"
/usr/bin/python3 - "$d/grafana/vitals-dashboard.json" <<'PY' || fail "dashboard"
import json, sys
d = json.load(open(sys.argv[1]))
titles = [p["title"] for p in d["panels"]]
exprs = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
assert all(p["targets"] for p in d["panels"]), titles
for m in ("vitals_check_status", "vitals_check_duration_seconds",
          "vitals_check_uptime_ratio", "http_requests_total",
          "http_request_duration_seconds_bucket", "up{"):
    assert m in exprs, m
PY

# The unit, with ExecStart pointing at the built daemon.
sed "s#/usr/bin/vitalsd#$build/vitalsd#g" "$d/vitalsd.service" > "$tmp/vitalsd.service"
out=$(systemd-analyze verify "$tmp/vitalsd.service" 2>&1) || fail "systemd-analyze: $out"
[ -z "$out" ] || fail "systemd-analyze warns: $out"
grep -q '^Type=notify$' "$d/vitalsd.service" || fail "not Type=notify"
grep -q '^WatchdogSec=' "$d/vitalsd.service" || fail "no watchdog"
for k in DynamicUser=yes ProtectSystem=strict StateDirectory=vitals; do
    grep -q "^$k\$" "$d/vitalsd.service" || fail "unit lacks $k"
done

# sd_notify, for real: a datagram socket stands in for systemd.
/usr/bin/python3 - "$build/vitalsd" "$src/config/vitalsd.json" "$tmp" <<'PY' || fail "sd_notify"
import os, signal, socket, subprocess, sys, time
exe, conf, tmp = sys.argv[1:4]
path = os.path.join(tmp, "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(10)
def port():
    with socket.socket() as t:
        t.bind(("127.0.0.1", 0))
        return t.getsockname()[1]
env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
p = subprocess.Popen([exe, "--config", conf, "--http", "127.0.0.1:%d" % port(),
                      "--rpc", "tcp://127.0.0.1:%d" % port(),
                      "--pub", "tcp://127.0.0.1:%d" % port()],
                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    msgs = []
    deadline = time.time() + 10
    while time.time() < deadline and sum("WATCHDOG=1" in m for m in msgs) < 3:
        msgs.append(s.recv(4096).decode())
    assert any("READY=1" in m for m in msgs), msgs
    assert sum("WATCHDOG=1" in m for m in msgs) >= 3, msgs
    p.send_signal(signal.SIGTERM)
    while True:
        m = s.recv(4096).decode()
        if "STOPPING=1" in m:
            break
    assert p.wait(timeout=15) == 0
finally:
    if p.poll() is None:
        p.kill()
PY

# The Debian package.
(cd "$build" && cpack -G DEB -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1) ||
    { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/pkg/vitals_*.deb) || fail "no .deb"
dpkg-deb -c "$deb" | awk '{print $6}' > "$tmp/contents"
for f in ./usr/bin/vitalsd ./usr/bin/vitalsctl ./usr/lib/systemd/system/vitalsd.service \
         ./etc/vitals/vitalsd.json ./usr/include/vitals/metrics.h \
         ./usr/include/vitals/client.h ./usr/share/doc/vitals/README.md \
         ./usr/share/doc/vitals/examples/prometheus/vitals.rules.yml \
         ./usr/share/doc/vitals/examples/grafana/vitals-dashboard.json; do
    grep -qx "$f" "$tmp/contents" || fail "package lacks $f"
done
grep -q '^\./usr/lib/.*libvitals\.a$' "$tmp/contents" || fail "package lacks libvitals.a"
grep -q '^\./usr/lib/.*libvitals-client\.a$' "$tmp/contents" || fail "package lacks libvitals-client.a"
grep -q 'pkgconfig/vitals\.pc$' "$tmp/contents" || fail "package lacks vitals.pc"
deps=$(dpkg-deb -f "$deb" Depends)
echo "$deps" | grep -q libcurl4 || fail "no libcurl4 dependency: $deps"
! echo "$deps" | grep -q libsystemd || fail "depends on libsystemd: $deps"
dpkg-deb -e "$deb" "$tmp/ctl"
grep -qx /etc/vitals/vitalsd.json "$tmp/ctl/conffiles" || fail "config is not a conffile"
# The packaged unit is the one that verified above.
dpkg-deb -x "$deb" "$tmp/root"
cmp "$tmp/root/usr/lib/systemd/system/vitalsd.service" "$d/vitalsd.service" || fail "unit differs"
echo "deploy: rules, configs, dashboard, unit, sd_notify and package OK"
