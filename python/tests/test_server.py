"""start_monitoring_server: vitals' gateway and RPC serving a Python
HealthCheck and MetricsCollector on free loopback ports: the routes and
their codes, coroutine checks answered through the gateway while the
application's loop runs, vitalsctl over the RPC, a real Prometheus
scraping the gateway, errors and closing."""

import asyncio
import json
import os
import subprocess
import time
import unittest
import urllib.parse

import support
import vitals


class Gateway(unittest.TestCase):
    def setUp(self):
        self.m = vitals.MetricsCollector()
        self.h = vitals.HealthCheck(self.m)
        self.addCleanup(self.h.close)

    def start(self, **kw):
        port = support.free_port()
        srv = vitals.start_monitoring_server(self.h, self.m, "127.0.0.1", port, **kw)
        self.addCleanup(srv.close)
        return srv

    def test_routes(self):
        self.h.register_check("ok", lambda: True, tags=["live"])
        self.h.register_check("flaky", lambda: {"status": "unhealthy", "details": {"why": "x"}},
                              tags=["ready"])
        self.m.increment("api_requests_total", labels={"route": "/a"})
        rpc = "tcp://127.0.0.1:%d" % support.free_port()
        srv = self.start(rpc_url=rpc, process_metrics=True)
        code, _, body = support.http_get(srv.url + "/health")
        self.assertEqual(code, 503)
        res = json.loads(body)
        self.assertEqual(res["status"], "unhealthy")
        self.assertEqual([c["name"] for c in res["components"]], ["flaky", "ok"])
        self.assertEqual(support.http_get(srv.url + "/health/ok")[0], 200)
        self.assertEqual(support.http_get(srv.url + "/health/nope")[0], 404)
        self.assertEqual(support.http_get(srv.url + "/livez")[0], 200)
        self.assertEqual(support.http_get(srv.url + "/readyz")[0], 503)
        code, _, body = support.http_get(srv.url + "/metrics")
        self.assertEqual(code, 200)
        got = json.loads(body)
        self.assertEqual(got['api_requests_total{route="/a"}']["value"], 1)
        code, headers, body = support.http_get(srv.url + "/metrics",
                                               {"Accept": "text/plain;version=0.0.4"})
        self.assertIn('api_requests_total{route="/a"} 1\n', body.decode())
        self.assertIn("process_resident_memory_bytes", body.decode())
        # The RPC, through the project's own client.
        ctl = os.environ.get("VITALS_TEST_VITALSCTL")
        if not ctl:
            self.skipTest("VITALS_TEST_VITALSCTL not set (run through CTest)")
        r = subprocess.run([ctl, "--url", rpc, "--json", "health"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)  # unhealthy
        self.assertEqual(json.loads(r.stdout)["status"], "unhealthy")

    def test_coroutine_checks_through_gateway(self):
        async def dep():
            await asyncio.sleep(0.01)
            return {"status": "healthy", "details": {"served_by": "loop"}}

        async def hang():
            await asyncio.sleep(3600)

        async def main():
            self.h.register_check("dep", dep)
            self.h.register_check("hang", hang, timeout=0.4, critical=False)
            srv = await vitals.start_monitoring_server(self.h, self.m, "127.0.0.1",
                                                       support.free_port())
            self.addCleanup(srv.close)
            loop = asyncio.get_running_loop()
            t0 = time.monotonic()
            code, _, body = await loop.run_in_executor(None, support.http_get, srv.url + "/health")
            return code, json.loads(body), time.monotonic() - t0
        code, res, elapsed = asyncio.run(main())
        self.assertEqual(code, 200)
        self.assertEqual(res["status"], "degraded")
        comps = {c["name"]: c for c in res["components"]}
        self.assertEqual(comps["dep"]["details"], {"served_by": "loop"})
        self.assertEqual(comps["hang"]["error"], "timeout after 400 ms")
        self.assertLess(elapsed, 3.0)

    def test_errors_and_close(self):
        srv = self.start()
        with self.assertRaises(vitals.VitalsError) as cm:
            vitals.start_monitoring_server(self.h, self.m, "127.0.0.1",
                                           int(srv.url.rsplit(":", 1)[1]))
        self.assertIn("127.0.0.1", str(cm.exception))
        for bad in (lambda: vitals.start_monitoring_server(self.h, self.m, "127.0.0.1", 0),
                    lambda: vitals.start_monitoring_server(self.h, self.m, "127.0.0.1", "80")):
            with self.assertRaises(ValueError):
                bad()
        with self.assertRaises(TypeError):
            vitals.start_monitoring_server(self.m, self.h, "127.0.0.1", 1234)
        with self.assertRaises(vitals.VitalsError):
            vitals.start_monitoring_server(self.h, self.m, "127.0.0.1", support.free_port(),
                                           rpc_url="nonsense://x")
        self.assertEqual(support.http_get(srv.url + "/health")[0], 200)
        srv.close()
        srv.close()
        with self.assertRaises(OSError):
            support.http_get(srv.url + "/health", timeout=2)
        # Closing the registry closes the servers that serve it.
        srv2 = self.start()
        self.h.close()
        self.assertTrue(srv2.closed)
        with self.assertRaises(vitals.ClosedError):
            vitals.start_monitoring_server(self.h, self.m, "127.0.0.1", support.free_port())


class PrometheusScrape(unittest.TestCase):
    def test_real_prometheus_scrapes_python_gateway(self):
        m = vitals.MetricsCollector()
        h = vitals.HealthCheck(m)
        self.addCleanup(h.close)
        h.register_check("py_check", lambda: True)
        m.increment("py_orders_total", 7, labels={"side": "buy"})
        m.observe("py_latency_seconds", 0.2)
        port = support.free_port()
        srv = vitals.start_monitoring_server(h, m, "127.0.0.1", port)
        self.addCleanup(srv.close)
        h.check_health_sync()
        prom = support.start_prometheus(self, "127.0.0.1:%d" % port)

        def query(q):
            url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                code, _, body = support.http_get(url, timeout=2)
            except OSError:
                return None
            res = json.loads(body)["data"]["result"] if code == 200 else []
            return res or None
        res = support.wait_for(lambda: query('py_orders_total{side="buy"}'), 30, 0.5)
        self.assertIsNotNone(res, "Prometheus never saw py_orders_total")
        self.assertEqual(float(res[0]["value"][1]), 7.0)
        self.assertEqual(float(query('up{job="python"}')[0]["value"][1]), 1.0)
        res = support.wait_for(lambda: query('vitals_check_status{check="py_check"}'), 10, 0.5)
        self.assertEqual(float(res[0]["value"][1]), 0.0)
        res = query("py_latency_seconds_count")
        self.assertEqual(float(res[0]["value"][1]), 1.0)


if __name__ == "__main__":
    unittest.main()
