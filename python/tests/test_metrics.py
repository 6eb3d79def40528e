"""vitals.MetricsCollector: the seed's verbs and JSON shape, labels,
handles, Prometheus text, errors as exceptions, closed collectors, and
exact totals from many Python threads (each one an OS thread with its own
shard)."""

import math
import os
import subprocess
import tempfile
import threading
import unittest

import support  # noqa: F401  (sets nothing; keeps the helpers importable)
import vitals


class SeedVerbs(unittest.TestCase):
    def setUp(self):
        self.m = vitals.MetricsCollector()

    def test_seed_shape(self):
        m = self.m
        for _ in range(3):
            m.increment("api_requests_total")
        m.set_gauge("active_connections", 42)
        m.observe("request_duration_seconds", 0.4)
        m.observe("request_duration_seconds", 0.5)
        got = m.get_metrics()
        self.assertEqual(got["api_requests_total"], {"type": "counter", "value": 3})
        self.assertEqual(got["active_connections"], {"type": "gauge", "value": 42})
        h = got["request_duration_seconds"]
        self.assertEqual(h["type"], "histogram")
        self.assertEqual((h["count"], h["sum"], h["avg"], h["min"], h["max"]),
                         (2, 0.9, 0.45, 0.4, 0.5))
        for p in ("p50", "p90", "p95", "p99", "p999"):
            self.assertIn(p, h)
        self.assertEqual(list(got), sorted(got))

    def test_increment_by_value_and_gauge_add(self):
        self.m.increment("c_total", 2.5)
        self.m.increment("c_total")
        self.m.set_gauge("g", 10)
        self.m.gauge_add("g", -3)
        got = self.m.get_metrics()
        self.assertEqual(got["c_total"]["value"], 3.5)
        self.assertEqual(got["g"]["value"], 7)

    def test_labels(self):
        m = self.m
        m.increment("http_total", labels={"method": "GET", "status": "200"})
        m.increment("http_total", labels={"status": "200", "method": "GET"})
        m.increment("http_total", labels={"method": "GET", "status": 500})
        m.set_gauge("temp", 21.5, labels={"room": 'a "quoted"\nname'})
        m.observe("lat", 0.25, labels={"route": "/x"})
        got = m.get_metrics()
        key = 'http_total{method="GET",status="200"}'
        self.assertEqual(got[key], {"type": "counter", "labels": {"method": "GET", "status": "200"},
                                    "value": 2})
        self.assertEqual(got['http_total{method="GET",status="500"}']["value"], 1)
        self.assertEqual(got['lat{route="/x"}']["count"], 1)
        text = m.prometheus_text()
        self.assertIn('http_total{method="GET",status="200"} 2\n', text)
        self.assertIn('temp{room="a \\"quoted\\"\\nname"} 21.5\n', text)
        self.assertIn('lat_bucket{route="/x",le="0.25"} 1\n', text)
        # Selections.
        self.assertEqual(list(m.get_metrics(name="temp")), ['temp{room="a \\"quoted\\"\\nname"}'])
        self.assertEqual(len(m.get_metrics(prefix="http_")), 2)
        self.assertEqual(len(m.get_metrics(labels={"status": "500"})), 1)

    def test_handles(self):
        m = self.m
        c = m.counter("jobs_total", "Jobs done", labels={"queue": "a"})
        g = m.gauge("depth", "Queue depth")
        h = m.histogram("job_seconds", "Job time", buckets=[0.1, 1, 10])
        for _ in range(5):
            c.inc()
        c.inc(0.5)
        g.set(7)
        g.add(2)
        g.sub(4)
        h.observe(0.05)
        h.observe(5)
        got = m.get_metrics()
        self.assertEqual(got['jobs_total{queue="a"}']["value"], 5.5)
        self.assertEqual(got["depth"]["value"], 5)
        self.assertEqual(got["job_seconds"]["count"], 2)
        text = m.prometheus_text()
        self.assertIn("# HELP jobs_total Jobs done\n", text)
        self.assertIn('job_seconds_bucket{le="1"} 1\n', text)
        self.assertIn('job_seconds_bucket{le="10"} 2\n', text)
        # The same handle again is the same series.
        m.counter("jobs_total", labels={"queue": "a"}).inc()
        self.assertEqual(m.get_metrics()['jobs_total{queue="a"}']["value"], 6.5)

    def test_promtool_accepts_text(self):
        promtool = support.need_program("promtool")
        m = self.m
        m.increment("a_total", labels={"x": "1"})
        m.set_gauge("b", 1)
        m.observe("c_seconds", 0.3)
        with tempfile.NamedTemporaryFile("w", suffix=".prom", delete=False) as f:
            f.write(m.prometheus_text())
        try:
            with open(f.name) as inp:
                r = subprocess.run([promtool, "check", "metrics"], stdin=inp,
                                   capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Errors(unittest.TestCase):
    def setUp(self):
        self.m = vitals.MetricsCollector()

    def assertVitals(self, code, fn, *args, **kw):
        with self.assertRaises(vitals.VitalsError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.errname, code)
        return str(cm.exception)

    def test_bad_names_and_kinds(self):
        msg = self.assertVitals("EINVAL", self.m.increment, "bad name")
        self.assertTrue(msg.endswith(vitals._lib.lib.vt_strerror(1).decode()), msg)
        self.assertIn("bad name", msg)
        self.assertVitals("EINVAL", self.m.observe, "9lives", 1)
        self.assertVitals("EINVAL", self.m.increment, "x_total", labels={"__bad": "1"})
        self.m.increment("dual")
        self.assertVitals("EKIND", self.m.set_gauge, "dual", 1)
        self.assertVitals("EKIND", self.m.observe, "dual", 1)
        self.assertVitals("EINVAL", self.m.increment, "dual", -1)
        self.assertVitals("EINVAL", self.m.observe, "h", math.nan)
        self.assertVitals("EINVAL", self.m.counter("hc").inc, -2)
        self.assertEqual(self.m.get_metrics(), {"dual": {"type": "counter", "value": 1},
                                                "hc": {"type": "counter", "value": 0}})

    def test_wrong_types(self):
        m = self.m
        for call in (lambda: m.increment(5), lambda: m.increment(None),
                     lambda: m.increment(b"bytes"), lambda: m.increment("x", "1"),
                     lambda: m.set_gauge("g", "high"), lambda: m.observe("h", None),
                     lambda: m.increment("x", labels=["a"]),
                     lambda: m.increment("x", labels={1: "a"}),
                     lambda: m.counter("c").inc("1"), lambda: m.gauge("gg").set([]),
                     lambda: m.histogram("hh", buckets=["a"]),
                     lambda: m.increment(["unhashable"])):
            with self.assertRaises(TypeError):
                call()
        with self.assertRaises(ValueError):
            m.increment("nul\0name")
        with self.assertRaises(ValueError):
            m.increment("x", labels={"a": "nul\0value"})
        # Only the two handles made above exist, with nothing recorded.
        self.assertEqual(m.get_metrics(), {"c": {"type": "counter", "value": 0},
                                           "gg": {"type": "gauge", "value": 0}})

    def test_closed(self):
        m = self.m
        c = m.counter("c_total")
        g = m.gauge("g")
        h = m.histogram("h")
        m.close()
        m.close()
        self.assertTrue(m.closed)
        for call in (lambda: m.increment("c_total"), lambda: m.set_gauge("g", 1),
                     lambda: m.observe("h", 1), lambda: m.get_metrics(),
                     lambda: m.prometheus_text(), c.inc, lambda: g.set(1),
                     lambda: h.observe(1), lambda: m.counter("x"),
                     lambda: vitals.HealthCheck(m)):
            with self.assertRaises(vitals.ClosedError) as cm:
                call()
            self.assertIn("shutting down", str(cm.exception))


class Threads(unittest.TestCase):
    def test_many_threads_exact(self):
        m = vitals.MetricsCollector()
        threads, n = 8, 20000
        handle = m.counter("handle_total")
        hist = m.histogram("obs")
        start = threading.Barrier(threads)

        def work(i):
            start.wait()
            for _ in range(n):
                m.increment("byname_total")
                handle.inc()
                hist.observe(0.001 * (i + 1))
            m.increment("labelled_total", labels={"thread": str(i % 2)})

        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        # Reading while writers run: each histogram snapshot is
        # self-consistent (its le buckets end at its count).
        while any(t.is_alive() for t in ts):
            text = m.prometheus_text(name="obs")
            count = int(text.split("obs_count ")[1].split()[0]) if "obs_count" in text else 0
            inf = int(text.split('obs_bucket{le="+Inf"} ')[1].split()[0]) if count else 0
            self.assertEqual(count, inf)
        for t in ts:
            t.join()
        got = m.get_metrics()
        self.assertEqual(got["byname_total"]["value"], threads * n)
        self.assertEqual(got["handle_total"]["value"], threads * n)
        self.assertEqual(got["obs"]["count"], threads * n)
        self.assertAlmostEqual(got["obs"]["sum"], n * 0.001 * sum(range(1, threads + 1)), places=6)
        self.assertEqual(got['labelled_total{thread="0"}']["value"] +
                         got['labelled_total{thread="1"}']["value"], threads)


if __name__ == "__main__":
    unittest.main()
