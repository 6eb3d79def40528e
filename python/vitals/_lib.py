"""libvitals.so loaded with ctypes: the one place that knows the C ABI.

Where the library comes from, first match wins:
  1. $VITALS_LIBRARY (a path);
  2. _location.py beside this file, written by CMake: the build tree's
     library, or the installed one relative to the installed package;
  3. the dynamic loader's search ("libvitals.so.0": LD_LIBRARY_PATH,
     ld.so.cache).

Two handles on the one library, chosen per function:
  - lib (ctypes.CDLL) for everything that may block, wait for another
    thread or call back into Python: CDLL releases the GIL around the
    call, so a health run, a snapshot or a server shutdown never stops
    other Python threads, and vitals' threads can enter Python (CFUNCTYPE
    callbacks take the GIL) while a Python thread waits in C. With PyDLL
    the first check callback during vt_health_run would deadlock.
  - hot (ctypes.PyDLL) for the recording calls only (counter, gauge and
    histogram updates, by handle or by name): they never wait for
    anything that needs the GIL and never call back, and they take a few
    nanoseconds, far less than handing the GIL to another thread and
    taking it back (measured: a quarter microsecond per call, about half
    of a CDLL call's cost here). They still run on the calling OS thread,
    so each Python thread records into its own shard.

The ctypes structures mirror include/vitals/*.h field by field; each
options structure ends in zeroed reserved room, so a field appended to the
C structure later reads as 0 (every option's "default") rather than past
the end of our copy. tests/test_abi.py checks the offsets against the
compiler's.
"""

import ctypes
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_double,
                    c_int, c_long, c_size_t, c_uint, c_uint64,
                    c_void_p)

SONAME = "libvitals.so.0"


def _find_library():
    path = os.environ.get("VITALS_LIBRARY")
    if path:
        return path
    try:
        from . import _location
        if os.path.exists(_location.LIBRARY):
            return _location.LIBRARY
    except ImportError:
        pass
    return SONAME


def _load():
    path = _find_library()
    try:
        return ctypes.CDLL(path), path
    except OSError as e:
        raise ImportError(
            "vitals: cannot load %s (%s); set VITALS_LIBRARY to the path of "
            "libvitals.so or install vitals with cmake --install" % (path, e)) from None


lib, LIBRARY_PATH = _load()
hot = ctypes.PyDLL(LIBRARY_PATH)
_libc = ctypes.CDLL(None)
libc_free = _libc.free
libc_free.argtypes = [c_void_p]
libc_free.restype = None

# --- errors (vitals/err.h) ---------------------------------------------

ERR_NAMES = ["OK", "EINVAL", "ENOMEM", "ETIMEDOUT", "EFULL", "EEXIST",
             "ENOENT", "EKIND", "ECLOSED", "ETOOBIG", "EPROTO", "EIO",
             "EUNAVAIL", "EAUTH", "EINTERNAL"]
VT_EINVAL = 1
VT_ECLOSED = 8

lib.vt_strerror.argtypes = [c_int]
lib.vt_strerror.restype = c_char_p


class VitalsError(Exception):
    """A vitals call failed. .code is the vt_err number, .errname its
    name ("EINVAL", ...); the message is vt_strerror's text, prefixed by
    what was being done."""

    def __init__(self, code, what=None):
        self.code = code
        self.errname = ERR_NAMES[code] if 0 <= code < len(ERR_NAMES) else str(code)
        text = lib.vt_strerror(code).decode()
        super().__init__("%s: %s" % (what, text) if what else text)


class ClosedError(VitalsError):
    """The object was closed (or the interpreter is shutting down)."""

    def __init__(self, what=None):
        super().__init__(VT_ECLOSED, what)


def check(err, what=None):
    if err:
        raise VitalsError(err, what)


def cstr(s, what="name"):
    """s (str) as NUL-free UTF-8 bytes; TypeError/ValueError otherwise."""
    if not isinstance(s, str):
        raise TypeError("%s must be a str, not %s" % (what, type(s).__name__))
    b = s.encode("utf-8", "surrogatepass")
    if b"\0" in b:
        raise ValueError("%s must not contain NUL characters: %r" % (what, s))
    return b


def cstr_opt(s, what):
    return None if s is None else cstr(s, what)


def take_string(ptr, n):
    """The malloc'd C string at ptr (n bytes) as str; frees it."""
    try:
        return ctypes.string_at(ptr, n).decode("utf-8", "replace")
    finally:
        libc_free(ptr)


def cstr_array(strings, what):
    """A (const char *const[n]) of strings, or (None, 0) for none; the
    returned array keeps its bytes alive."""
    if isinstance(strings, (str, bytes)):
        raise TypeError("%s must be a sequence of str, not a single string" % what)
    items = [cstr(s, what) for s in strings]
    if not items:
        return None, 0
    arr = (c_char_p * (len(items) + 1))(*items, None)
    return arr, len(items)


def fn(name, restype, *argtypes, dll=None):
    f = getattr(dll or lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# --- metrics (vitals/metrics.h) ----------------------------------------

class Label(Structure):
    _fields_ = [("name", c_char_p), ("value", c_char_p)]


class MetricsFilter(Structure):
    _fields_ = [("name", c_char_p), ("name_prefix", c_char_p),
                ("labels", POINTER(Label)), ("nlabels", c_size_t),
                ("_reserved", c_uint64 * 8)]


VT_COUNTER, VT_GAUGE, VT_HISTOGRAM = 0, 1, 2
P = c_void_p
PP = POINTER(c_void_p)
E = c_int

fn("vt_metrics_alloc", E, PP)
fn("vt_metrics_free", None, P)
fn("vt_metrics_counter_family", E, P, c_char_p, c_char_p, POINTER(c_char_p), c_size_t, PP)
fn("vt_metrics_gauge_family", E, P, c_char_p, c_char_p, POINTER(c_char_p), c_size_t, PP)
fn("vt_metrics_histogram_family", E, P, c_char_p, c_char_p, POINTER(c_char_p), c_size_t,
   POINTER(c_double), c_size_t, PP)
fn("vt_family_series", E, P, POINTER(c_char_p), c_size_t, PP)
fn("vt_metrics_counter", E, P, c_char_p, c_char_p, PP)
fn("vt_metrics_gauge", E, P, c_char_p, c_char_p, PP)
fn("vt_metrics_histogram", E, P, c_char_p, c_char_p, PP)
fn("vt_counter_inc", E, P)
fn("vt_counter_add", E, P, c_double)
fn("vt_gauge_set", E, P, c_double)
fn("vt_gauge_add", E, P, c_double)
fn("vt_gauge_sub", E, P, c_double)
fn("vt_histogram_observe", E, P, c_double)
fn("vt_metrics_increment", E, P, c_char_p)
fn("vt_metrics_counter_add", E, P, c_char_p, c_double, POINTER(Label), c_size_t)
fn("vt_metrics_set_gauge", E, P, c_char_p, c_double)
fn("vt_metrics_gauge_add", E, P, c_char_p, c_double, POINTER(Label), c_size_t)
fn("vt_metrics_gauge_set", E, P, c_char_p, c_double, POINTER(Label), c_size_t)
fn("vt_metrics_observe", E, P, c_char_p, c_double)
fn("vt_metrics_histogram_observe", E, P, c_char_p, c_double, POINTER(Label), c_size_t)

# The recording calls again, on the PyDLL handle (see the top).
fn("vt_counter_inc", E, P, dll=hot)
fn("vt_counter_add", E, P, c_double, dll=hot)
fn("vt_gauge_set", E, P, c_double, dll=hot)
fn("vt_gauge_add", E, P, c_double, dll=hot)
fn("vt_gauge_sub", E, P, c_double, dll=hot)
fn("vt_histogram_observe", E, P, c_double, dll=hot)
fn("vt_metrics_increment", E, P, c_char_p, dll=hot)
fn("vt_metrics_counter_add", E, P, c_char_p, c_double, POINTER(Label), c_size_t, dll=hot)
fn("vt_metrics_set_gauge", E, P, c_char_p, c_double, dll=hot)
fn("vt_metrics_gauge_add", E, P, c_char_p, c_double, POINTER(Label), c_size_t, dll=hot)
fn("vt_metrics_gauge_set", E, P, c_char_p, c_double, POINTER(Label), c_size_t, dll=hot)
fn("vt_metrics_observe", E, P, c_char_p, c_double, dll=hot)
fn("vt_metrics_histogram_observe", E, P, c_char_p, c_double, POINTER(Label), c_size_t, dll=hot)
fn("vt_metrics_snapshot_take", E, P, POINTER(MetricsFilter), PP)
fn("vt_metrics_snapshot_free", None, P)
fn("vt_json_metrics", E, P, PP, POINTER(c_size_t))
fn("vt_prom_metrics", E, P, PP, POINTER(c_size_t))

# --- health (vitals/health.h) ------------------------------------------

CHECK_FN = CFUNCTYPE(None, c_void_p, c_void_p)
FREE_FN = CFUNCTYPE(None, c_void_p)


class CheckOpts(Structure):
    _fields_ = [("timeout_ms", c_int), ("interval_ms", c_int),
                ("degraded_ms", c_int), ("critical", c_bool),
                ("tags", POINTER(c_char_p)), ("ntags", c_size_t),
                ("failures_before_unhealthy", c_int),
                ("successes_before_healthy", c_int),
                ("free_arg", FREE_FN),
                ("_reserved", c_uint64 * 8)]


class HealthOpts(Structure):
    _fields_ = [("workers", c_uint), ("queue_cap", c_size_t),
                ("metrics", c_void_p), ("_reserved", c_uint64 * 8)]


class HealthFilter(Structure):
    _fields_ = [("name", c_char_p), ("tag", c_char_p),
                ("exclude", POINTER(c_char_p)), ("nexclude", c_size_t),
                ("_reserved", c_uint64 * 8)]


VT_HEALTHY, VT_DEGRADED, VT_UNHEALTHY = 0, 1, 2
VT_RUN_FRESH, VT_RUN_CACHED = 0, 1

fn("vt_health_alloc", E, PP, POINTER(HealthOpts))
fn("vt_health_free", None, P)
fn("vt_health_add", E, P, c_char_p, CHECK_FN, c_void_p, POINTER(CheckOpts))
fn("vt_health_remove", E, P, c_char_p)
fn("vt_health_start", E, P)
fn("vt_health_stop", None, P)
fn("vt_health_set_shutdown", None, P)
fn("vt_health_run", E, P, POINTER(HealthFilter), c_int, PP)
fn("vt_health_snapshot_free", None, P)
fn("vt_json_health", E, P, PP, POINTER(c_size_t))
fn("vt_result_status", None, P, c_int)
fn("vt_result_ok", None, P, c_bool)
fn("vt_result_detail_str", E, P, c_char_p, c_char_p)
fn("vt_result_detail_num", E, P, c_char_p, c_double)
fn("vt_result_detail_bool", E, P, c_char_p, c_bool)
fn("vt_result_remaining_ms", c_int, P)
# Variadic (printf-style): only the fixed part is declared; callers pass
# b"%s" and the text.
lib.vt_result_error.restype = E
fn("vt_status_parse", E, c_char_p, POINTER(c_int))


# --- built-in checks (vitals/checks.h) ---------------------------------

class RedisOpts(Structure):
    _fields_ = [("url", c_char_p), ("connect_timeout_ms", c_int),
                ("command_timeout_ms", c_int), ("_reserved", c_uint64 * 8)]


class RabbitmqOpts(Structure):
    _fields_ = [("url", c_char_p), ("queue", c_char_p),
                ("degraded_above", c_long), ("connect_timeout_ms", c_int),
                ("_reserved", c_uint64 * 8)]


class HttpOpts(Structure):
    _fields_ = [("url", c_char_p), ("method", c_char_p),
                # int or bool in C: one byte of 0/1 in zeroed room reads
                # the same either way.
                ("expect_status", c_long), ("insecure", c_bool),
                ("_reserved", c_uint64 * 8)]


class DmarketOpts(Structure):
    _fields_ = [("base_url", c_char_p), ("public_key", c_char_p),
                ("secret_key", c_char_p), ("_reserved", c_uint64 * 8)]


class TcpOpts(Structure):
    _fields_ = [("address", c_char_p), ("_reserved", c_uint64 * 8)]


class DiskOpts(Structure):
    _fields_ = [("path", c_char_p), ("degraded_free_pct", c_double),
                ("unhealthy_free_pct", c_double), ("_reserved", c_uint64 * 8)]


class ExecOpts(Structure):
    _fields_ = [("argv", POINTER(c_char_p)), ("_reserved", c_uint64 * 8)]


for _kind, _opts in (("redis", RedisOpts), ("rabbitmq", RabbitmqOpts),
                     ("http", HttpOpts), ("dmarket", DmarketOpts),
                     ("tcp", TcpOpts), ("disk", DiskOpts), ("exec", ExecOpts)):
    fn("vt_check_%s_add" % _kind, E, P, c_char_p, POINTER(_opts), POINTER(CheckOpts))

# --- server (vitals/server.h) ------------------------------------------


class ServerOpts(Structure):
    _fields_ = [("health", c_void_p), ("metrics", c_void_p),
                ("http_addr", c_char_p), ("rpc_url", c_char_p),
                ("pub_url", c_char_p), ("degraded_http_code", c_int),
                ("live_tag", c_char_p), ("ready_tag", c_char_p),
                ("rpc_contexts", c_uint), ("max_request_bytes", c_size_t),
                ("token", c_char_p), ("max_connections", c_uint),
                ("http_max_per_address", c_uint),
                ("http_header_timeout_ms", c_uint),
                ("http_idle_timeout_ms", c_uint),
                ("history", c_void_p), ("process_metrics", c_bool),
                ("tls_cert", c_char_p), ("tls_key", c_char_p),
                ("tls_ca", c_char_p),
                ("reload", c_void_p), ("reload_arg", c_void_p),
                ("_reserved", c_uint64 * 16)]


fn("vt_server_start", E, PP, POINTER(ServerOpts), POINTER(ctypes.c_char), c_size_t)
fn("vt_server_shutdown", None, P)
fn("vt_server_free", None, P)

__all__ = ["lib", "hot", "VitalsError", "ClosedError", "LIBRARY_PATH"]
