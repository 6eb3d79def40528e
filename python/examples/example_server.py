"""Serving health and metrics: a registry with two checks and a metric,
vitals' HTTP gateway and RPC server started with start_monitoring_server,
and a graceful shutdown after a while. The server runs on vitals'
threads: it keeps answering while the program does other work.

Usage: python3 example_server.py [HOST:PORT [RPC_URL [SECONDS]]]
       defaults: 127.0.0.1:8080 tcp://127.0.0.1:5555 10
While it serves, try
  curl http://127.0.0.1:8080/health
  curl 'http://127.0.0.1:8080/metrics?format=prometheus'
  vitalsctl --url tcp://127.0.0.1:5555 health
Prints "serving ..." when the listeners are up and "stopped" at the end.
"""
import asyncio
import os
import sys

import vitals

addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080"
rpc = sys.argv[2] if len(sys.argv) > 2 else "tcp://127.0.0.1:5555"
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
host, port = addr.rsplit(":", 1)

metrics = vitals.MetricsCollector()
health = vitals.HealthCheck(metrics)
health.register_check("tmp", lambda: os.access("/tmp", os.W_OK))
health.register_builtin("disk", "root_disk", path="/", unhealthy_free_pct=1)


async def main():
    server = await vitals.start_monitoring_server(health, metrics, host, int(port), rpc_url=rpc)
    print("serving http://%s rpc %s" % (addr, rpc), flush=True)
    elapsed = 0.0
    while elapsed < seconds:  # the application's own work
        metrics.increment("example_ticks_total")
        await asyncio.sleep(0.1)
        elapsed += 0.1
    await server.aclose()
    print("stopped", flush=True)


asyncio.run(main())
health.close()
