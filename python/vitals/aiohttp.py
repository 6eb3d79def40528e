"""vitals.aiohttp.setup_monitoring: request metrics for an existing aiohttp
application, recorded by vitals (the seed's setup_monitoring(app,
metrics)).

Per request, as vitals' nng middleware does (vitals/middleware.h):
  http_requests_total{method,route,status}      counter
  http_request_duration_seconds{method,route}   histogram
route is the matched resource's canonical path ("/items/{id}", not the
request's URL, so label values stay few), "unmatched" when no route
matched; method is one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS,
CONNECT, TRACE, else OTHER; status is the response's code (an
HTTPException's code when the handler raised one, 500 for any other
exception, "none" when the client went away before an answer).

With routes=True (the default) the application also serves GET /metrics
(JSON, or Prometheus text for format=prometheus or an Accept naming
text/plain or openmetrics) and, when health is given, GET /health (the
seed's shape, 503 when unhealthy), answered by vitals' encoders.

aiohttp is imported here only: `import vitals` does not need it.
"""

import asyncio
import time

from aiohttp import web

from . import _lib
from .metrics import MetricsCollector

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                      "OPTIONS", "CONNECT", "TRACE"))
_perf = time.perf_counter
_counter_inc = _lib.hot.vt_counter_inc
_hist_observe = _lib.hot.vt_histogram_observe
_UNMATCHED = "unmatched"
_SERIES_MAX = 10000


def _route_of(request):
    try:
        resource = request.match_info.route.resource
    except AttributeError:
        return _UNMATCHED
    if resource is None:
        return _UNMATCHED
    return resource.canonical


def wants_prometheus(request):
    if request.query.get("format") == "prometheus":
        return True
    if request.query.get("format") == "json":
        return False
    accept = request.headers.get("Accept", "")
    return "text/plain" in accept or "openmetrics" in accept


def setup_monitoring(app, metrics, health=None, *, routes=True,
                     metrics_path="/metrics", health_path="/health", buckets=None):
    """Adds vitals' request-metrics middleware to app (before it starts)
    and, with routes, the /metrics (and /health) routes."""
    if not isinstance(metrics, MetricsCollector):
        raise TypeError("metrics must be a vitals.MetricsCollector")
    req_family = metrics._family("counter", "http_requests_total",
                                 "HTTP requests answered, by method, route and status",
                                 ["method", "route", "status"])
    dur_family = metrics._family("histogram", "http_request_duration_seconds",
                                 "HTTP request duration in seconds, by method and route",
                                 ["method", "route"], buckets)
    counters, histograms = {}, {}

    def record(method, route, status, elapsed):
        if metrics.closed:
            return
        key = (method, route, status)
        c = counters.get(key)
        if c is None:
            c = metrics._series(req_family, key, "http_requests_total")
            if len(counters) < _SERIES_MAX:
                counters[key] = c
        h = histograms.get(key[:2])
        if h is None:
            h = metrics._series(dur_family, key[:2], "http_request_duration_seconds")
            if len(histograms) < _SERIES_MAX:
                histograms[key[:2]] = h
        _counter_inc(c)
        _hist_observe(h, elapsed)

    @web.middleware
    async def vitals_middleware(request, handler):
        start = _perf()
        status = "500"
        try:
            resp = await handler(request)
            status = str(resp.status)
            return resp
        except web.HTTPException as exc:
            status = str(exc.status)
            raise
        except asyncio.CancelledError:
            status = "none"
            raise
        finally:
            method = request.method if request.method in _METHODS else "OTHER"
            record(method, _route_of(request), status, _perf() - start)

    app.middlewares.append(vitals_middleware)
    if routes:
        async def metrics_handler(request):
            if wants_prometheus(request):
                text = metrics.prometheus_text()
                return web.Response(body=text.encode(), headers={
                    "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
            return web.Response(text=metrics.get_metrics_json(),
                                content_type="application/json")

        app.router.add_get(metrics_path, metrics_handler)
        if health is not None:
            async def health_handler(request):
                res = await health.check_health()
                return web.json_response(res, status=503 if res["status"] == "unhealthy" else 200)

            app.router.add_get(health_path, health_handler)
    return vitals_middleware
