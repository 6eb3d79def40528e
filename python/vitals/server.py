"""start_monitoring_server: vitals' HTTP gateway (and, when asked, its nng
RPC and pub sockets) serving a HealthCheck and a MetricsCollector
(vitals/server.h). The server runs on vitals' and nng's threads, not on
the event loop: /health, /metrics, /livez, /readyz keep answering while
the application's loop is busy; coroutine checks still run on that loop.

close() (or interpreter exit, or closing the HealthCheck) shuts the
server down gracefully: readiness turns unhealthy, requests in flight
are answered, the listeners close.
"""

import asyncio
import threading
import weakref

from ctypes import byref, c_void_p, create_string_buffer

from . import _lib
from ._lib import ClosedError, VitalsError, cstr, cstr_opt, lib
from .health import HealthCheck
from .metrics import MetricsCollector


class _Cell:
    __slots__ = ("ptr", "lock")

    def __init__(self, ptr):
        self.ptr, self.lock = ptr, threading.Lock()


def _free_server(cell, health, metrics):
    """Frees the server (by close(), collection or exit, whichever comes
    first); health and metrics ride along so that they outlive it."""
    with cell.lock:
        ptr, cell.ptr = cell.ptr, None
        if ptr is not None:
            lib.vt_server_free(ptr)


def _http_addr(host, port):
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("port must be an int in 1..65535, not %r" % (port,))
    host = str(host)
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    return "%s:%d" % (host, port)


class MonitoringServer:
    """A running gateway. .url is its base URL (http://host:port). Awaiting
    it returns itself, so `await start_monitoring_server(...)` works as
    in the seed."""

    def __init__(self, health, metrics, host="127.0.0.1", port=8080, *,
                 rpc_url=None, pub_url=None, token=None, degraded_http_code=0,
                 live_tag=None, ready_tag=None, process_metrics=False):
        if not isinstance(health, HealthCheck):
            raise TypeError("health must be a vitals.HealthCheck")
        if not isinstance(metrics, MetricsCollector):
            raise TypeError("metrics must be a vitals.MetricsCollector")
        addr = _http_addr(host, port)
        keep = [cstr(addr, "address"), cstr_opt(rpc_url, "rpc_url"),
                cstr_opt(pub_url, "pub_url"), cstr_opt(token, "token"),
                cstr_opt(live_tag, "live_tag"), cstr_opt(ready_tag, "ready_tag")]
        o = _lib.ServerOpts()
        o.http_addr, o.rpc_url, o.pub_url, o.token, o.live_tag, o.ready_tag = keep
        o.degraded_http_code = int(degraded_http_code)
        o.process_metrics = bool(process_metrics)
        hp = health._enter("start_monitoring_server")
        try:
            o.health = hp
            o.metrics = metrics._live("start_monitoring_server")
            errbuf = create_string_buffer(256)
            out = c_void_p()
            err = lib.vt_server_start(byref(out), byref(o), errbuf, len(errbuf))
        finally:
            health._leave()
        if err:
            detail = errbuf.value.decode("utf-8", "replace")
            raise VitalsError(err, "start_monitoring_server(%s)%s"
                              % (addr, ": " + detail if detail else ""))
        self._cell = _Cell(out.value)
        self.health, self.metrics = health, metrics
        self.url = "http://%s" % addr
        self.rpc_url, self.pub_url = rpc_url, pub_url
        self._finalizer = weakref.finalize(self, _free_server, self._cell, health, metrics)
        health._servers.add(self)
        health._note_loop()

    def __await__(self):
        if False:  # pragma: no cover - makes this a generator
            yield
        return self

    @property
    def closed(self):
        return self._cell.ptr is None

    def shutdown(self):
        """Graceful shutdown (readiness unhealthy, in-flight requests
        answered); the server stays allocated until close()."""
        with self._cell.lock:
            if self._cell.ptr is None:
                raise ClosedError("MonitoringServer.shutdown")
            lib.vt_server_shutdown(self._cell.ptr)

    def close(self):
        """Shuts down and frees. Idempotent."""
        self._finalizer()

    async def aclose(self):
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_monitoring_server(health, metrics, host="127.0.0.1", port=8080, **options):
    """Starts vitals' HTTP gateway on host:port serving health and metrics
    (GET /health, /health/NAME, /livez, /readyz, /metrics). Keywords:
    rpc_url ("tcp://127.0.0.1:5555": the nng RPC server that vitalsctl and
    libvitals-client query), pub_url (status changes), token,
    degraded_http_code, live_tag, ready_tag, process_metrics (True: the
    process' own metrics on /metrics). Returns a MonitoringServer;
    may also be awaited."""
    return MonitoringServer(health, metrics, host, port, **options)
