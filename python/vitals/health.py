"""vitals.HealthCheck: the seed's HealthCheck on vitals' health registry
(vitals/health.h): checks run in parallel on vitals' worker pool, each
with its deadline, single flight, shared fresh runs.

Two kinds of check function, both returning True/False or
{"status": "healthy"|"degraded"|"unhealthy", "details": {...}} (an
"error" key is reported as the check's error; an exception makes the
check unhealthy with the exception's text as error):
  - a plain function runs on a vitals worker thread, entered through a
    ctypes callback (which takes the GIL for the call);
  - a coroutine function runs on the application's event loop (the loop
    that last called check_health() or start_monitoring_server(), or on
    which register_check() was called): the worker schedules it there
    with asyncio.run_coroutine_threadsafe and waits, without the GIL, at
    most until the check's deadline; then the task is cancelled and the
    check reported "timeout after N ms".
check_health() runs the C registry on an executor thread, so the loop
stays free to run the coroutine checks it waits for.

Lifetime: close() closes the servers that serve this registry, waits for
check_health() calls under way, then frees the registry (its scheduler
and workers are joined; a plain check still running is waited for: plain
checks must return). Interpreter exit does the same for every registry
still open (weakref.finalize runs at exit, newest object first, so a
server goes before the registry it serves, and a registry before the
metrics it exports to).
"""

import asyncio
import concurrent.futures
import enum
import inspect
import itertools
import json
import math
import threading
import weakref

from ctypes import byref, c_char_p, c_size_t, c_void_p

from . import _lib
from ._lib import ClosedError, VitalsError, cstr, cstr_opt, lib


class HealthStatus(str, enum.Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_STATUS = {"healthy": 0, "degraded": 1, "unhealthy": 2}

# Registered check functions by id (the C callback's arg). An entry never
# refers to its HealthCheck (only to a small shared _Loop), so the module
# table never keeps a registry alive.
_entries = {}
_ids = itertools.count(1)
_tls = threading.local()  # .in_check: this thread is inside a check call


class _Loop:
    __slots__ = ("loop",)

    def __init__(self):
        self.loop = None


class _Entry:
    __slots__ = ("name", "fn", "is_coro", "timeout_ms", "loop")

    def __init__(self, name, fn, is_coro, timeout_ms, loop):
        self.name, self.fn, self.is_coro = name, fn, is_coro
        self.timeout_ms, self.loop = timeout_ms, loop


def _error(r, text):
    lib.vt_result_status(r, _lib.VT_UNHEALTHY)
    _set_error(r, text)


def _set_error(r, text):
    # vt_result_error is printf-style: every argument is passed typed,
    # since ctypes would pass an untyped Python int as a 32-bit int.
    lib.vt_result_error(c_void_p(r), c_char_p(b"%s"),
                        c_char_p(str(text).encode("utf-8", "replace").replace(b"\0", b"")))


def _exc_text(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def _status_code(st):
    if isinstance(st, bool):
        return 0 if st else 2
    if isinstance(st, str):
        return _STATUS.get(st.lower())
    if isinstance(st, int) and 0 <= st <= 2:
        return st
    return None


def _detail(r, key, value):
    k = str(key).encode("utf-8", "replace").replace(b"\0", b"")
    if isinstance(value, bool):
        return lib.vt_result_detail_bool(r, k, value)
    if isinstance(value, (int, float)):
        return lib.vt_result_detail_num(r, k, float(value))
    if not isinstance(value, str):
        value = json.dumps(value, default=str)
    return lib.vt_result_detail_str(r, k, value.encode("utf-8", "replace").replace(b"\0", b""))


def _apply(r, res):
    """Reports the check function's return value res on r."""
    if isinstance(res, bool):
        lib.vt_result_ok(r, res)
        return
    if not isinstance(res, dict):
        _error(r, "check returned %s; expected a bool or a dict with "
               "'status' and 'details'" % type(res).__name__)
        return
    code = _status_code(res.get("status", "healthy"))
    if code is None:
        _error(r, "check returned status %r; expected healthy, degraded or "
               "unhealthy" % (res.get("status"),))
        return
    lib.vt_result_status(r, code)
    details = res.get("details") or {}
    if not isinstance(details, dict):
        details = {"details": details}
    for k, v in details.items():
        _detail(r, k, v)
    if res.get("error") is not None:
        _set_error(r, res["error"])


def _run_coroutine(r, e):
    loop = e.loop.loop
    if loop is None or loop.is_closed():
        _error(r, "no asyncio event loop to run this coroutine check on: call "
               "check_health() or start_monitoring_server() from the "
               "application's loop first")
        return
    remaining = lib.vt_result_remaining_ms(r)
    coro = e.fn()
    try:
        fut = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError as exc:  # loop closed meanwhile
        coro.close()
        _error(r, _exc_text(exc))
        return
    try:
        res = fut.result(timeout=max(remaining, 0) / 1000.0)
    except concurrent.futures.TimeoutError:
        fut.cancel()
        _error(r, "timeout after %d ms" % e.timeout_ms)
        return
    except concurrent.futures.CancelledError:
        _error(r, "cancelled")
        return
    _apply(r, res)


def _call(r, arg):
    e = _entries.get(arg)
    if e is None:
        _error(r, "check was removed")
        return
    try:
        if e.is_coro:
            _run_coroutine(r, e)
            return
        res = e.fn()
        if inspect.isawaitable(res):
            if inspect.iscoroutine(res):
                res.close()
            _error(r, "check returned an awaitable: register it as an async def")
            return
        _apply(r, res)
    except Exception as exc:
        _error(r, _exc_text(exc))


@_lib.CHECK_FN
def _trampoline(r, arg):
    # Called by a vitals worker thread, with the GIL (ctypes takes it).
    # Nothing may propagate into C.
    _tls.in_check = True
    try:
        _call(r, arg)
    except BaseException as exc:  # KeyboardInterrupt, SystemExit, ...
        try:
            _error(r, _exc_text(exc))
        except BaseException:
            pass
    finally:
        _tls.in_check = False


@_lib.FREE_FN
def _release(arg):
    _entries.pop(arg, None)


def _seconds_to_ms(value, what, allow_none=False):
    if value is None and allow_none:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number of seconds, not %s" % (what, type(value).__name__))
    if not math.isfinite(value) or value <= 0 or value * 1000 > 2**31 - 1:
        raise ValueError("%s must be a positive number of seconds, not %r" % (what, value))
    return max(1, int(round(value * 1000)))


def _check_opts(timeout, critical, tags, interval, degraded, failures, successes):
    o = _lib.CheckOpts()
    o.timeout_ms = _seconds_to_ms(timeout, "timeout")
    o.interval_ms = _seconds_to_ms(interval, "interval")
    o.degraded_ms = _seconds_to_ms(degraded, "degraded", allow_none=True)
    if not isinstance(critical, bool):
        raise TypeError("critical must be a bool")
    o.critical = critical
    arr, n = _lib.cstr_array(tags, "tag")
    o.tags, o.ntags = arr, n
    for what, v in (("failures_before_unhealthy", failures),
                    ("successes_before_healthy", successes)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError("%s must be an int" % what)
    o.failures_before_unhealthy = failures
    o.successes_before_healthy = successes
    return o, arr


def _opt_ms(v, what):
    return 0 if v is None else _seconds_to_ms(v, what)


# Built-in checks: kind -> (options structure, {keyword: (field, convert)}).
_S = lambda what: (lambda v: cstr(v, what))  # noqa: E731
_BUILTINS = {
    "redis": (_lib.RedisOpts, {
        "url": ("url", _S("url")),
        "connect_timeout": ("connect_timeout_ms", lambda v: _opt_ms(v, "connect_timeout")),
        "command_timeout": ("command_timeout_ms", lambda v: _opt_ms(v, "command_timeout"))}),
    "rabbitmq": (_lib.RabbitmqOpts, {
        "url": ("url", _S("url")),
        "queue": ("queue", _S("queue")),
        "degraded_above": ("degraded_above", int),
        "connect_timeout": ("connect_timeout_ms", lambda v: _opt_ms(v, "connect_timeout"))}),
    "http": (_lib.HttpOpts, {
        "url": ("url", _S("url")),
        "method": ("method", _S("method")),
        "expect_status": ("expect_status", int),
        "insecure": ("insecure", bool)}),
    "dmarket": (_lib.DmarketOpts, {
        "base_url": ("base_url", _S("base_url")),
        "public_key": ("public_key", _S("public_key")),
        "secret_key": ("secret_key", _S("secret_key"))}),
    "tcp": (_lib.TcpOpts, {"address": ("address", _S("address"))}),
    "disk": (_lib.DiskOpts, {
        "path": ("path", _S("path")),
        "degraded_free_pct": ("degraded_free_pct", float),
        "unhealthy_free_pct": ("unhealthy_free_pct", float)}),
    "exec": (_lib.ExecOpts, {"argv": ("argv", None)}),
}
BUILTIN_CHECKS = tuple(_BUILTINS)


class _Cell:
    """The C registry pointer with the count of calls inside it, shared by
    a HealthCheck and its finalizer: whichever frees first (close() or the
    finalizer at collection or exit) marks it gone for the other."""
    __slots__ = ("ptr", "cv", "inflight")

    def __init__(self, ptr):
        self.ptr, self.cv, self.inflight = ptr, threading.Condition(), 0


def _free_registry(cell, keep):
    """Frees the C registry once no call is inside it (keep: the metrics
    collector it exports to, alive until now). Never on a vitals worker,
    which vt_health_free would wait for: handed to a thread then."""
    with cell.cv:
        ptr, cell.ptr = cell.ptr, None
        while cell.inflight:
            cell.cv.wait()
    if ptr is None:
        return
    if getattr(_tls, "in_check", False):
        threading.Thread(target=lib.vt_health_free, args=(ptr,)).start()
    else:
        lib.vt_health_free(ptr)


class HealthCheck:
    """A health registry. metrics (a MetricsCollector, optional) receives
    vitals_check_status, vitals_check_duration_seconds and
    vitals_check_runs_total. workers: size of the pool checks run on."""

    def __init__(self, metrics=None, *, workers=4, queue_cap=1024):
        from .metrics import MetricsCollector
        if metrics is not None and not isinstance(metrics, MetricsCollector):
            raise TypeError("metrics must be a vitals.MetricsCollector or None")
        for what, v in (("workers", workers), ("queue_cap", queue_cap)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > 1 << 20:
                raise ValueError("%s must be an int in 1..%d" % (what, 1 << 20))
        opts = _lib.HealthOpts()
        opts.workers, opts.queue_cap = workers, queue_cap
        opts.metrics = metrics._live("HealthCheck()") if metrics is not None else None
        out = c_void_p()
        _lib.check(lib.vt_health_alloc(byref(out), byref(opts)), "HealthCheck()")
        self._cell = _Cell(out.value)
        self._metrics = metrics
        self._loop = _Loop()
        self._servers = weakref.WeakSet()
        self._last = None
        self._finalizer = weakref.finalize(self, _free_registry, self._cell, metrics)
        self._note_loop()

    # -- lifecycle --------------------------------------------------------
    def _note_loop(self):
        try:
            self._loop.loop = asyncio.get_running_loop()
        except RuntimeError:
            pass

    def _enter(self, what):
        cell = self._cell
        with cell.cv:
            if cell.ptr is None:
                raise ClosedError("HealthCheck.%s" % what)
            cell.inflight += 1
            return cell.ptr

    def _leave(self):
        cell = self._cell
        with cell.cv:
            cell.inflight -= 1
            if cell.inflight == 0:
                cell.cv.notify_all()

    @property
    def closed(self):
        return self._cell.ptr is None

    def close(self):
        """Closes the servers serving this registry, waits for calls under
        way, stops the scheduler and workers and frees the registry.
        Idempotent. Not from inside a check."""
        if getattr(_tls, "in_check", False):
            raise VitalsError(_lib.VT_EINVAL, "HealthCheck.close() from inside a check")
        for srv in list(self._servers):
            srv.close()
        self._finalizer()

    async def aclose(self):
        """close() on an executor thread, so coroutine checks still
        running on this loop can finish instead of running to their
        deadline."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- registration -----------------------------------------------------
    def register_check(self, name, fn, *, timeout=2.0, critical=True, tags=(),
                       interval=10.0, degraded=None, failures_before_unhealthy=1,
                       successes_before_healthy=1):
        """Registers check name. fn() (plain or async def) returns a bool or
        {"status", "details"}; timeout, interval and degraded are seconds
        (degraded: a run slower than this turns healthy into degraded)."""
        if not callable(fn):
            raise TypeError("check function must be callable, not %s" % type(fn).__name__)
        b = cstr(name, "check name")
        opts, keep = _check_opts(timeout, critical, tags, interval, degraded,
                                 failures_before_unhealthy, successes_before_healthy)
        is_coro = inspect.iscoroutinefunction(fn) or \
            inspect.iscoroutinefunction(getattr(fn, "__call__", None))
        self._note_loop()
        ident = next(_ids)
        _entries[ident] = _Entry(name, fn, is_coro, opts.timeout_ms, self._loop)
        opts.free_arg = _release
        p = self._enter("register_check")
        try:
            err = lib.vt_health_add(p, b, _trampoline, ident, byref(opts))
        finally:
            self._leave()
        if err:
            _entries.pop(ident, None)
            raise VitalsError(err, "register_check(%r)" % name)

    def register_builtin(self, kind, name, *, timeout=2.0, critical=True, tags=(),
                         interval=10.0, degraded=None, failures_before_unhealthy=1,
                         successes_before_healthy=1, **options):
        """Registers one of vitals' built-in checks (BUILTIN_CHECKS: redis,
        rabbitmq, http, dmarket, tcp, disk, exec) as check name, with that
        check's options as keywords, e.g.
        register_builtin("redis", "cache", url="redis://127.0.0.1:6379")."""
        if kind not in _BUILTINS:
            raise ValueError("unknown built-in check %r; one of %s" % (kind, ", ".join(_BUILTINS)))
        struct, fields = _BUILTINS[kind]
        o = struct()
        keep = []
        for key, value in options.items():
            if key not in fields:
                raise TypeError("%s check has no option %r; options: %s"
                                % (kind, key, ", ".join(fields)))
            if value is None:
                continue
            field, conv = fields[key]
            if kind == "exec":
                arr, _n = _lib.cstr_array(value, "argv")
                keep.append(arr)
                value = arr
            else:
                value = conv(value)
            setattr(o, field, value)
        b = cstr(name, "check name")
        co, tagkeep = _check_opts(timeout, critical, tags, interval, degraded,
                                  failures_before_unhealthy, successes_before_healthy)
        p = self._enter("register_builtin")
        try:
            err = getattr(lib, "vt_check_%s_add" % kind)(p, b, byref(o), byref(co))
        finally:
            self._leave()
        if err:
            raise VitalsError(err, "register_builtin(%r, %r)" % (kind, name))

    def unregister_check(self, name):
        p = self._enter("unregister_check")
        try:
            err = lib.vt_health_remove(p, cstr(name, "check name"))
        finally:
            self._leave()
        if err:
            raise VitalsError(err, "unregister_check(%r)" % name)

    def start_background(self):
        """Runs every check on its interval, feeding check_health(cached=True)."""
        p = self._enter("start_background")
        try:
            _lib.check(lib.vt_health_start(p), "start_background")
        finally:
            self._leave()

    # -- running ----------------------------------------------------------
    def _run(self, name, tag, exclude, cached):
        keep = [cstr_opt(name, "name"), cstr_opt(tag, "tag")]
        flt = _lib.HealthFilter()
        flt.name, flt.tag = keep[0], keep[1]
        arr, n = _lib.cstr_array(exclude or (), "exclude")
        flt.exclude, flt.nexclude = arr, n
        p = self._enter("check_health")
        snap = c_void_p()
        try:
            mode = _lib.VT_RUN_CACHED if cached else _lib.VT_RUN_FRESH
            _lib.check(lib.vt_health_run(p, byref(flt), mode, byref(snap)), "check_health")
            try:
                out, ln = c_void_p(), c_size_t()
                _lib.check(lib.vt_json_health(snap, byref(out), byref(ln)), "check_health")
                res = json.loads(_lib.take_string(out.value, ln.value))
            finally:
                lib.vt_health_snapshot_free(snap)
        finally:
            self._leave()
        if not cached:
            self._last = res
        return res

    async def check_health(self, *, name=None, tag=None, exclude=(), cached=False):
        """Runs the checks (all, or check name, or those tagged tag, less
        exclude) in parallel and returns the seed's /health shape:
        {"status", "timestamp", "components": [...]}. cached=True reads the
        background scheduler's last results instead."""
        loop = asyncio.get_running_loop()
        self._loop.loop = loop
        return await loop.run_in_executor(None, self._run, name, tag, exclude, cached)

    def check_health_sync(self, *, name=None, tag=None, exclude=(), cached=False):
        """check_health for code without an event loop. Coroutine checks
        then need an application loop running in another thread."""
        return self._run(name, tag, exclude, cached)

    def get_last_result(self):
        """The result of the last fresh check_health(), or None."""
        return self._last
