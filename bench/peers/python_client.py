#!/usr/bin/python3
"""python_client.py - Python's prometheus_client (Debian's
python3-prometheus-client) as a peer of vitals in the benchmarks: what a
user who picks it instead pays to record and to serve.

The metric sets are those of go_client.go (see there): peers50 (20
counters, 20 gauges, 10 histograms with the default buckets) and mix1000
(100 families of 10 labelled series: 60% counters, 30% gauges, 10%
histograms), each in its own CollectorRegistry (no process or platform
collectors), so every server answers the same series.

Modes:
  record  Counter.inc() and Histogram.observe(v) on the peers50 set, one
          thread (the interpreter lock serialises Python threads anyway):
          each repeat runs chunks of 4096 calls until --duration-ms passed,
          ns per call = window / calls (the loop included, as in
          bench_metrics); --reps repeats after one warm-up; median, min,
          max. Histogram inputs: 16384 log-normal latencies (median 1 ms,
          sigma 2, clamped to 1 us..100 s) made before timing. Rows on
          stdout:
            rec,python,<counter_inc|hist_observe>,one,1,<ns med>,<min>,<max>,
                <best: the fastest chunk's ns per call>
          and the registry's totals are checked against the calls made.
  serve   the set of --set by prometheus_client.start_http_server on a
          free 127.0.0.1 port, /metrics; prints port=PORT, bytes=<body
          size> and ready, serves until SIGTERM/SIGINT.
  --smoke short runs; serve answers one request itself and exits.

Run it with Debian's interpreter (/usr/bin/python3), which has the module.
"""
import argparse
import math
import random
import signal
import socket
import sys
import time
import urllib.request

try:
    import prometheus_client as pc
except ImportError:
    sys.exit("python_client.py: prometheus_client is missing "
             "(python3-prometheus-client; run with /usr/bin/python3)")

CHUNK = 4096
NVALS = 16384


def peers50(fill):
    """The peers50 set: (registry, counters, gauges, histograms)."""
    reg = pc.CollectorRegistry(auto_describe=True)
    cs, gs, hs = [], [], []
    for i in range(20):
        c = pc.Counter("peer_requests_%02d" % i, "Requests", registry=reg)
        g = pc.Gauge("peer_inflight_%02d" % i, "In flight", registry=reg)
        if fill:
            c.inc((i + 1) * 1000)
            g.set(i * 1.5)
        cs.append(c)
        gs.append(g)
    for i in range(10):
        h = pc.Histogram("peer_latency_%02d_seconds" % i, "Latency",
                         registry=reg)
        if fill:
            for k in range(100):
                h.observe(1e-4 * 1.1 ** k)
        hs.append(h)
    return reg, cs, gs, hs


def mix1000():
    """The mix1000 set, filled."""
    reg = pc.CollectorRegistry(auto_describe=True)
    for f in range(100):
        k = f % 10
        if k < 6:
            v = pc.Counter("bench_requests_%06d" % f, "help", ["k"],
                           registry=reg)
            for j in range(10):
                v.labels(str(j)).inc()
        elif k < 9:
            v = pc.Gauge("bench_inflight_%06d" % f, "help", ["k"],
                         registry=reg)
            for j in range(10):
                v.labels(str(j)).set(f * 10 + j)
        else:
            v = pc.Histogram("bench_latency_seconds_%06d" % f, "help", ["k"],
                             registry=reg)
            for j in range(10):
                o = v.labels(str(j))
                for n in range(8):
                    i = (f * 10 + j) * 8 + n
                    o.observe(1e-4 * 1.1 ** (i % 100))
    return reg


def stats(v):
    v = sorted(v)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return med, v[0], v[-1]


def timed(body, dur_ns):
    """Runs body(CHUNK) until dur_ns passed; ns per call, the fastest
    chunk's ns per call and the calls."""
    calls = 0
    t0 = c0 = time.perf_counter_ns()
    deadline = t0 + dur_ns
    best = None
    while True:
        body(CHUNK)
        calls += CHUNK
        t1 = time.perf_counter_ns()
        best = t1 - c0 if best is None else min(best, t1 - c0)
        c0 = t1
        if t1 >= deadline:
            return (t1 - t0) / calls, best / CHUNK, calls


def sample_value(reg, name):
    v = reg.get_sample_value(name)
    return 0.0 if v is None else v


def record(reps, dur_ms):
    rng = random.Random(42)
    vals = [min(max(1e-3 * math.exp(2 * rng.gauss(0, 1)), 1e-6), 100)
            for _ in range(NVALS)]
    for op in ("counter_inc", "hist_observe"):
        ns = []
        best = float("inf")
        for r in range(-1, reps):
            reg, cs, _, hs = peers50(False)
            if op == "counter_inc":
                inc = cs[0].inc

                def body(n, inc=inc):
                    for _ in range(n):
                        inc()
            else:
                observe = hs[0].observe

                def body(n, observe=observe):
                    for i in range(n):
                        observe(vals[i])
            x, b, calls = timed(body, dur_ms * 1000000)
            got = sample_value(reg, "peer_requests_00_total"
                               if op == "counter_inc"
                               else "peer_latency_00_seconds_count")
            if got != calls:
                sys.exit("python_client.py: %s: registry holds %g, %d calls "
                         "made" % (op, got, calls))
            if r >= 0:
                ns.append(x)
                best = min(best, b)
        med, lo, hi = stats(ns)
        print("rec,python,%s,one,1,%.4f,%.4f,%.4f,%.4f"
              % (op, med, lo, hi, best), flush=True)
        print("python_client.py: %s: %.1f ns per call" % (op, med),
              file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_series(body):
    """Samples, a histogram's _bucket/_sum/_created lines not counted."""
    n = 0
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{")[0].split(" ")[0]
        if name.endswith(("_bucket", "_sum", "_created")):
            continue
        n += 1
    return n


def serve(which, smoke):
    reg = peers50(True)[0] if which == "peers50" else mix1000()
    want = {"peers50": 50, "mix1000": 1000}[which]
    # The port is only known once bound: a free one, retried when taken.
    for attempt in range(10):
        port = free_port()
        try:
            pc.start_http_server(port, addr="127.0.0.1", registry=reg)
            break
        except OSError:
            if attempt == 9:
                raise
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as res:
        body = res.read()
        if res.status != 200:
            sys.exit("python_client.py: GET /metrics: status %d" % res.status)
    got = count_series(body.decode())
    if got != want:
        sys.exit("python_client.py: GET /metrics: %d series, want %d"
                 % (got, want))
    print("port=%d\nbytes=%d\nready" % (port, len(body)), flush=True)
    if smoke:
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=("record", "serve"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--duration-ms", type=int, default=300)
    ap.add_argument("--set", default="peers50", choices=("peers50", "mix1000"))
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.mode == "record":
        if a.smoke:
            a.reps, a.duration_ms = 1, 20
        record(a.reps, a.duration_ms)
    else:
        serve(a.set, a.smoke)


if __name__ == "__main__":
    main()
