"""Monitoring an existing aiohttp application: setup_monitoring(app,
metrics) records http_requests_total{method,route,status} and
http_request_duration_seconds{method,route} for every request, and
serves GET /metrics and GET /health (with the application's own checks)
from the same application.

Usage: python3 example_aiohttp.py [PORT [SECONDS]]   defaults: 8081 10
While it serves, try
  curl http://127.0.0.1:8081/hello
  curl 'http://127.0.0.1:8081/metrics?format=prometheus'
  curl http://127.0.0.1:8081/health
Prints "serving ..." when up, and at the end "GET /hello: N requests"
from its own metrics.
"""
import asyncio
import sys

from aiohttp import web

import vitals
import vitals.aiohttp

port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0

metrics = vitals.MetricsCollector()
health = vitals.HealthCheck(metrics)


async def hello(request):
    return web.Response(text="hello\n")


async def database():  # an async check, run on this application's loop
    await asyncio.sleep(0.005)
    return {"status": "healthy", "details": {"pool_free": 8}}


async def main():
    app = web.Application()
    vitals.aiohttp.setup_monitoring(app, metrics, health)
    app.router.add_get("/hello", hello)
    health.register_check("database", database, timeout=1.0)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("serving http://127.0.0.1:%d" % port, flush=True)
    await asyncio.sleep(seconds)
    await runner.cleanup()
    key = 'http_requests_total{method="GET",route="/hello",status="200"}'
    hits = metrics.get_metrics(name="http_requests_total").get(key, {}).get("value", 0)
    print("GET /hello: %d requests" % hits)


asyncio.run(main())
health.close()
