"""vitals from Python: the seed's monitoring API (HealthCheck,
MetricsCollector, start_monitoring_server, aiohttp setup_monitoring) on
vitals' C engine (libvitals.so, loaded with ctypes; no compiler needed).

    import vitals
    metrics = vitals.MetricsCollector()
    health = vitals.HealthCheck(metrics)
    health.register_check("db", lambda: True, timeout=1.0)
    result = await health.check_health()
    metrics.increment("api_requests_total")
    server = vitals.start_monitoring_server(health, metrics, "127.0.0.1", 8080)

vitals.aiohttp.setup_monitoring(app, metrics) adds request metrics to an
aiohttp application (import vitals.aiohttp; it needs aiohttp).
"""

from ._lib import ClosedError, VitalsError, LIBRARY_PATH
from .health import BUILTIN_CHECKS, HealthCheck, HealthStatus
from .metrics import Counter, Gauge, Histogram, MetricsCollector
from .server import MonitoringServer, start_monitoring_server

__version__ = "0.1.0"
__all__ = ["BUILTIN_CHECKS", "ClosedError", "Counter", "Gauge", "HealthCheck",
           "HealthStatus", "Histogram", "LIBRARY_PATH", "MetricsCollector",
           "MonitoringServer", "VitalsError", "start_monitoring_server"]
