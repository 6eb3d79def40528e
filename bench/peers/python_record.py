"""Recording from Python: vitals (through ctypes) against Python's
prometheus_client, same process, same interpreter, one thread.

Per operation: a counter increment and a histogram observation, each
  - vitals by name   metrics.increment(name) / metrics.observe(name, v)
  - vitals handle    counter.inc() / histogram.observe(v)
  - prometheus_client  Counter.inc() / Histogram.observe(v) (its usual
    handle form; it has no by-name API)
and two floors that show where the time goes: a bare ctypes call of
vt_counter_inc / vt_histogram_observe on the handle (what any ctypes
binding pays; vitals makes the recording calls through ctypes.PyDLL,
which keeps the GIL), and an empty Python method call.

Prints ns/op per row and the ratio prometheus_client / vitals; DESIGN.md's
target for this peer is ">= 50x on record".

Usage: PYTHONPATH=build/python python3 bench/peers/python_record.py [N [ROUNDS]]
       N operations per row and round (default 200,000), ROUNDS rounds
       (default 7) with the rows interleaved; each row's best round is
       reported, which is what survives a shared, noisy machine.
"""
import sys
import time

import prometheus_client

import vitals
from vitals import _lib

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7


def timed(fn):
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / N


def main():
    m = vitals.MetricsCollector()
    vc = m.counter("bench_vitals_handle_total")
    vh = m.histogram("bench_vitals_handle_seconds")
    reg = prometheus_client.CollectorRegistry()
    pc = prometheus_client.Counter("bench_pc", "pc", registry=reg)
    ph = prometheus_client.Histogram("bench_pc_seconds", "pc", registry=reg)
    raw_inc, raw_obs = _lib.hot.vt_counter_inc, _lib.hot.vt_histogram_observe
    hc, hh = vc._h, vh._h
    inc, obs = m.increment, m.observe
    rng = range(N)

    class Empty:
        def inc(self):
            pass
    empty = Empty()

    def vitals_name_inc():
        for _ in rng:
            inc("bench_vitals_name_total")

    def vitals_name_obs():
        for _ in rng:
            obs("bench_vitals_name_seconds", 0.25)

    def vitals_handle_inc():
        f = vc.inc
        for _ in rng:
            f()

    def vitals_handle_obs():
        f = vh.observe
        for _ in rng:
            f(0.25)

    def pc_inc():
        f = pc.inc
        for _ in rng:
            f()

    def pc_obs():
        f = ph.observe
        for _ in rng:
            f(0.25)

    def ctypes_inc():
        for _ in rng:
            raw_inc(hc)

    def ctypes_obs():
        for _ in rng:
            raw_obs(hh, 0.25)

    def empty_call():
        f = empty.inc
        for _ in rng:
            f()

    rows = [("counter inc", "vitals by name", vitals_name_inc),
            ("counter inc", "vitals handle", vitals_handle_inc),
            ("counter inc", "prometheus_client", pc_inc),
            ("counter inc", "floor: bare ctypes call", ctypes_inc),
            ("histogram observe", "vitals by name", vitals_name_obs),
            ("histogram observe", "vitals handle", vitals_handle_obs),
            ("histogram observe", "prometheus_client", pc_obs),
            ("histogram observe", "floor: bare ctypes call", ctypes_obs),
            ("-", "floor: empty Python method call", empty_call)]
    res = {}
    for _ in range(ROUNDS):
        for op, who, fn in rows:
            ns = timed(fn)
            res[(op, who)] = min(ns, res.get((op, who), ns))
    try:
        from importlib.metadata import version
        pcver = version("prometheus_client")
    except Exception:  # noqa: BLE001 - only for the header line
        pcver = "?"
    print("python %s, prometheus_client %s, N=%d per row and round, best of %d rounds"
          % (sys.version.split()[0], pcver, N, ROUNDS))
    print("%-18s %-32s %10s" % ("operation", "library", "ns/op"))
    for op, who, _fn in rows:
        print("%-18s %-32s %10.1f" % (op, who, res[(op, who)]))
    got = m.get_metrics()
    # Every call was recorded (handle and bare ctypes rows share a series).
    assert got["bench_vitals_handle_total"]["value"] == ROUNDS * N * 2
    assert got["bench_vitals_name_total"]["value"] == ROUNDS * N
    for op in ("counter inc", "histogram observe"):
        pcv = res[(op, "prometheus_client")]
        print("%s: prometheus_client / vitals = %.2fx (handle), %.2fx (by name); "
              "target >= 50x" % (op, pcv / res[(op, "vitals handle")],
                                 pcv / res[(op, "vitals by name")]))


if __name__ == "__main__":
    main()
