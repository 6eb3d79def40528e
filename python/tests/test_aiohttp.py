"""vitals.aiohttp.setup_monitoring on a real aiohttp application serving
real requests on a free loopback port: the request metrics by method,
route and status (exceptions and unmatched paths included), /metrics in
both formats, and /health with a hanging coroutine check answered within
that check's timeout."""

import asyncio
import time
import unittest

import aiohttp
from aiohttp import web

import support
import vitals
import vitals.aiohttp


async def item(request):
    return web.json_response({"id": request.match_info["id"]})


async def create(request):
    body = await request.json()
    return web.json_response(body, status=201)


async def forbidden(request):
    raise web.HTTPForbidden()


async def crash(request):
    raise RuntimeError("handler bug")


class App(unittest.TestCase):
    def run_app(self, health, metrics, client):
        """Serves an application with the middleware on a free port and
        runs client(session, base) against it."""
        async def main():
            app = web.Application()
            vitals.aiohttp.setup_monitoring(app, metrics, health)
            app.router.add_get("/items/{id}", item)
            app.router.add_post("/items", create)
            app.router.add_get("/forbidden", forbidden)
            app.router.add_get("/crash", crash)
            runner = web.AppRunner(app)
            await runner.setup()
            port = support.free_port()
            site = web.TCPSite(runner, "127.0.0.1", port)
            await site.start()
            try:
                async with aiohttp.ClientSession() as s:
                    return await client(s, "http://127.0.0.1:%d" % port)
            finally:
                await runner.cleanup()
        return asyncio.run(main())

    def test_request_metrics(self):
        m = vitals.MetricsCollector()

        async def client(s, base):
            for i in range(3):
                async with s.get(base + "/items/%d" % i) as r:
                    self.assertEqual((await r.json())["id"], str(i))
            async with s.post(base + "/items", json={"a": 1}) as r:
                self.assertEqual(r.status, 201)
            async with s.get(base + "/forbidden") as r:
                self.assertEqual(r.status, 403)
            async with s.get(base + "/crash") as r:
                self.assertEqual(r.status, 500)
            async with s.get(base + "/no/such/path") as r:
                self.assertEqual(r.status, 404)
            async with s.request("PURGE", base + "/items/1") as r:
                self.assertEqual(r.status, 405)
            async with s.get(base + "/metrics?format=prometheus") as r:
                prom = await r.text()
                self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            async with s.get(base + "/metrics") as r:
                js = await r.json()
            return prom, js

        prom, js = self.run_app(None, m, client)
        got = m.get_metrics(prefix="http_requests_total")

        def count(method, route, status):
            key = 'http_requests_total{method="%s",route="%s",status="%s"}' % (method, route, status)
            return got.get(key, {}).get("value")
        self.assertEqual(count("GET", "/items/{id}", "200"), 3)
        self.assertEqual(count("POST", "/items", "201"), 1)
        self.assertEqual(count("GET", "/forbidden", "403"), 1)
        self.assertEqual(count("GET", "/crash", "500"), 1)
        self.assertEqual(count("GET", "unmatched", "404"), 1)
        self.assertEqual(count("OTHER", "unmatched", "405"), 1, got)
        h = m.get_metrics(name="http_request_duration_seconds")
        key = 'http_request_duration_seconds{method="GET",route="/items/{id}"}'
        self.assertEqual(h[key]["count"], 3)
        self.assertEqual(h[key]["labels"], {"method": "GET", "route": "/items/{id}"})
        self.assertGreater(h[key]["sum"], 0)
        # What /metrics served (recorded before its own request ended).
        self.assertIn('http_requests_total{method="GET",route="/items/{id}",status="200"} 3\n', prom)
        self.assertIn("# TYPE http_request_duration_seconds histogram\n", prom)
        self.assertEqual(js['http_requests_total{method="POST",route="/items",status="201"}']["value"], 1)

    def test_health_route_with_hanging_check(self):
        m = vitals.MetricsCollector()
        h = vitals.HealthCheck(m)
        self.addCleanup(h.close)

        async def hangs():
            await asyncio.sleep(3600)

        async def quick():
            return {"status": "healthy", "details": {"pool": 5}}
        h.register_check("quick", quick)
        h.register_check("stuck_api", hangs, timeout=0.5)

        async def client(s, base):
            t0 = time.monotonic()
            async with s.get(base + "/health") as r:
                return r.status, await r.json(), time.monotonic() - t0

        code, res, elapsed = self.run_app(h, m, client)
        self.assertEqual(code, 503)
        comps = {c["name"]: c for c in res["components"]}
        self.assertEqual(comps["stuck_api"]["error"], "timeout after 500 ms")
        self.assertEqual(comps["quick"]["details"], {"pool": 5})
        self.assertLess(elapsed, 3.0)  # the check hangs for an hour
        self.assertEqual(m.get_metrics(name="http_requests_total"),
                         {'http_requests_total{method="GET",route="/health",status="503"}':
                          {"type": "counter", "labels": {"method": "GET", "route": "/health",
                                                         "status": "503"}, "value": 1}})

    def test_setup_errors(self):
        app = web.Application()
        with self.assertRaises(TypeError):
            vitals.aiohttp.setup_monitoring(app, "metrics")
        m = vitals.MetricsCollector()
        m.set_gauge("http_requests_total", 1)  # taken by another kind
        with self.assertRaises(vitals.VitalsError) as cm:
            vitals.aiohttp.setup_monitoring(app, m)
        self.assertEqual(cm.exception.errname, "EKIND")
        m.close()
        with self.assertRaises(vitals.ClosedError):
            vitals.aiohttp.setup_monitoring(web.Application(), m)


if __name__ == "__main__":
    unittest.main()
