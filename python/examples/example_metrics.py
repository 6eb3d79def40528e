"""Metrics in one page, the seed's way: increment / set_gauge / observe by
name from two threads, a labelled counter, a handle for a hot loop; then
what GET /metrics serves (get_metrics, the seed's JSON) and the
Prometheus text of the same registry.

The numbers are known: 2 threads x 1000 requests give api_requests_total
2000 and 2000 latency observations of 1..1000 ms (p50 about 0.5 s);
active_connections is 42.

Usage: python3 example_metrics.py
Prints "requests: 2000", "p50: ...", the JSON and the Prometheus text.
"""
import json
import threading

import vitals

metrics = vitals.MetricsCollector()
REQUESTS = 1000


def serve():  # each thread records into its own shard, no lock
    errors = metrics.counter("api_errors_total", "Requests that failed")
    for i in range(REQUESTS):
        metrics.increment("api_requests_total")
        metrics.observe("request_duration_seconds", (i + 1) / 1000.0)
        status = "500" if i % 100 == 0 else "200"
        metrics.increment("api_responses_total", labels={"status": status})
        if status == "500":
            errors.inc()


threads = [threading.Thread(target=serve) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
metrics.set_gauge("active_connections", 42)

m = metrics.get_metrics()
print("requests: %d" % m["api_requests_total"]["value"])
print("p50: %.3f" % m["request_duration_seconds"]["p50"])
print(json.dumps(m))
print(metrics.prometheus_text(), end="")
