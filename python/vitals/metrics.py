"""vitals.MetricsCollector: the seed's MetricsCollector on vitals' sharded
registry (vitals/metrics.h).

Recording goes straight to C: each Python thread is an OS thread, so its
records land in that thread's shard, with no lock. The recording calls
keep the GIL (they take nanoseconds and never wait; see _lib.py); reads
(snapshots, encoders) release it. The seed's verbs take a name; handles
(counter(), gauge(), histogram()) skip the name lookup for hot loops.

Lifetime: close() refuses every later call (ClosedError). The C registry
itself is freed when the collector is unreachable (no handle, health
registry or server refers to it any more), never while a call may still
be inside it, and not at interpreter exit, where a daemon thread could
still be recording: the process's end reclaims it. A registry owns no
thread, so nothing is left running either way.
"""

import ctypes
import json
import weakref

from ctypes import byref, c_double, c_size_t, c_void_p

from . import _lib
from ._lib import ClosedError, VitalsError, cstr, cstr_opt, lib

_counter_add_n = _lib.hot.vt_metrics_counter_add
_gauge_set_n = _lib.hot.vt_metrics_gauge_set
_gauge_add_n = _lib.hot.vt_metrics_gauge_add
_hist_observe_n = _lib.hot.vt_metrics_histogram_observe
_counter_inc = _lib.hot.vt_counter_inc
_counter_add = _lib.hot.vt_counter_add
_gauge_set = _lib.hot.vt_gauge_set
_gauge_add = _lib.hot.vt_gauge_add
_hist_observe = _lib.hot.vt_histogram_observe
_ArgumentError = ctypes.ArgumentError

_NAME_CACHE_MAX = 4096


def _number(what, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s: value must be a number, not %s" % (what, type(value).__name__))
    return value


def _label_array(labels, what):
    """labels (a mapping name -> value) as (vt_label[n], n); values are
    converted with str(). The array keeps its bytes alive."""
    if labels is None:
        return None, 0
    if not hasattr(labels, "items"):
        raise TypeError("%s: labels must be a dict of str -> str, not %s"
                        % (what, type(labels).__name__))
    items = list(labels.items())
    if not items:
        return None, 0
    arr = (_lib.Label * len(items))()
    for i, (k, v) in enumerate(items):
        arr[i].name = cstr(k, "label name")
        arr[i].value = cstr(v if isinstance(v, str) else str(v), "label value")
    return arr, len(items)


class MetricsCollector:
    """Counters, gauges and histograms, by name (the seed's verbs) or by
    handle, with optional labels; read back as the seed's JSON shape
    (get_metrics) or Prometheus text (prometheus_text)."""

    def __init__(self):
        out = c_void_p()
        _lib.check(lib.vt_metrics_alloc(byref(out)), "MetricsCollector()")
        self._ptr = out.value
        self._names = {}
        self._counters, self._gauges, self._histograms = {}, {}, {}
        self._finalizer = weakref.finalize(self, lib.vt_metrics_free, out.value)
        self._finalizer.atexit = False

    # -- lifecycle ------------------------------------------------------
    def close(self):
        """Refuses every later call. Idempotent."""
        self._ptr = None

    @property
    def closed(self):
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _live(self, what):
        p = self._ptr
        if p is None:
            raise ClosedError("MetricsCollector.%s" % what)
        return p

    def _name(self, name):
        b = self._names.get(name) if isinstance(name, str) else None
        if b is None:
            b = cstr(name, "metric name")
            if len(self._names) < _NAME_CACHE_MAX:
                self._names[name] = b
        return b

    def _fail(self, err, verb, name):
        raise VitalsError(err, "%s(%r)" % (verb, name))

    # -- the seed's verbs -------------------------------------------------
    # An unlabelled by-name call resolves its series once (as the C by-name
    # calls do, with the same errors) and then records through the handle
    # kept in a per-kind dict: one dict lookup instead of a C string
    # conversion and hash per call.
    # The first call goes through the C by-name call itself, so that a bad
    # name or value leaves nothing behind, exactly as in C.
    def _first(self, cache, register, name, verb, record):
        p = self._live(verb)
        b = self._name(name)
        err = record(p, b)
        if err:
            self._fail(err, verb, name)
        out = c_void_p()
        if register(p, b, None, byref(out)) == 0 and len(cache) < _NAME_CACHE_MAX:
            cache[name] = out.value

    def increment(self, name, value=1, labels=None):
        """Adds value (>= 0, default 1) to counter name."""
        if self._ptr is None:
            raise ClosedError("MetricsCollector.increment")
        try:
            if labels is None:
                h = self._counters.get(name)
                if h is None:
                    v = _number("increment", value)
                    return self._first(self._counters, lib.vt_metrics_counter, name, "increment",
                                       lambda p, b: _counter_add_n(p, b, v, None, 0))
                err = _counter_inc(h) if value == 1 and value.__class__ is int \
                    else _counter_add(h, _number("increment", value))
            else:
                arr, n = _label_array(labels, "increment")
                err = _counter_add_n(self._ptr, self._name(name), _number("increment", value),
                                     arr, n)
        except _ArgumentError as e:
            raise TypeError("increment(%r): %s" % (name, e)) from None
        if err:
            self._fail(err, "increment", name)

    def set_gauge(self, name, value, labels=None):
        """Sets gauge name to value."""
        if self._ptr is None:
            raise ClosedError("MetricsCollector.set_gauge")
        try:
            if labels is None:
                h = self._gauges.get(name)
                if h is None:
                    v = _number("set_gauge", value)
                    return self._first(self._gauges, lib.vt_metrics_gauge, name, "set_gauge",
                                       lambda p, b: _gauge_set_n(p, b, v, None, 0))
                err = _gauge_set(h, value)
            else:
                arr, n = _label_array(labels, "set_gauge")
                err = _gauge_set_n(self._ptr, self._name(name), _number("set_gauge", value),
                                   arr, n)
        except _ArgumentError as e:
            raise TypeError("set_gauge(%r): value must be a number (%s)" % (name, e)) from None
        if err:
            self._fail(err, "set_gauge", name)

    def gauge_add(self, name, delta, labels=None):
        """Adds delta (may be negative) to gauge name."""
        p = self._live("gauge_add")
        arr, n = _label_array(labels, "gauge_add")
        err = _gauge_add_n(p, self._name(name), _number("gauge_add", delta), arr, n)
        if err:
            self._fail(err, "gauge_add", name)

    def observe(self, name, value, labels=None):
        """Records value in histogram name (Prometheus' default buckets)."""
        if self._ptr is None:
            raise ClosedError("MetricsCollector.observe")
        try:
            if labels is None:
                h = self._histograms.get(name)
                if h is None:
                    v = _number("observe", value)
                    return self._first(self._histograms, lib.vt_metrics_histogram, name,
                                       "observe", lambda p, b: _hist_observe_n(p, b, v, None, 0))
                err = _hist_observe(h, value)
            else:
                arr, n = _label_array(labels, "observe")
                err = _hist_observe_n(self._ptr, self._name(name), _number("observe", value),
                                      arr, n)
        except _ArgumentError as e:
            raise TypeError("observe(%r): value must be a number (%s)" % (name, e)) from None
        if err:
            self._fail(err, "observe", name)

    # -- handles ----------------------------------------------------------
    def _family(self, kind, name, help, labelnames, buckets=None):
        p = self._live(kind)
        names, n = _lib.cstr_array(labelnames, "label name")
        out = c_void_p()
        b, h = self._name(name), cstr_opt(help, "help")
        if kind == "counter":
            err = lib.vt_metrics_counter_family(p, b, h, names, n, byref(out))
        elif kind == "gauge":
            err = lib.vt_metrics_gauge_family(p, b, h, names, n, byref(out))
        else:
            bounds, nb = None, 0
            if buckets is not None:
                vals = [float(_number("buckets", x)) for x in buckets]
                bounds, nb = (c_double * len(vals))(*vals), len(vals)
            err = lib.vt_metrics_histogram_family(p, b, h, names, n, bounds, nb, byref(out))
        if err:
            self._fail(err, kind, name)
        return out.value

    def _series(self, family, values, what):
        vals, n = _lib.cstr_array([v if isinstance(v, str) else str(v) for v in values],
                                  "label value")
        out = c_void_p()
        err = lib.vt_family_series(family, vals, n, byref(out))
        if err:
            raise VitalsError(err, what)
        return out.value

    def _handle(self, cls, kind, name, help, labels, buckets=None):
        if labels is not None and not hasattr(labels, "items"):
            raise TypeError("labels must be a dict of str -> str")
        labels = dict(labels or {})
        fam = self._family(kind, name, help, list(labels), buckets)
        return cls(self, self._series(fam, list(labels.values()), "%s(%r)" % (kind, name)),
                   name, labels)

    def counter(self, name, help=None, labels=None):
        """A Counter handle for the series of name with labels (a dict;
        the family's label names are its keys, in order)."""
        return self._handle(Counter, "counter", name, help, labels)

    def gauge(self, name, help=None, labels=None):
        return self._handle(Gauge, "gauge", name, help, labels)

    def histogram(self, name, help=None, labels=None, buckets=None):
        """buckets: Prometheus "le" bounds (increasing); None = defaults."""
        return self._handle(Histogram, "histogram", name, help, labels, buckets)

    # -- reading ----------------------------------------------------------
    def _encode(self, encoder, name, prefix, labels, what):
        p = self._live(what)
        flt = _lib.MetricsFilter()
        flt.name = cstr_opt(name, "name")
        flt.name_prefix = cstr_opt(prefix, "prefix")
        arr, n = _label_array(labels, what)
        if arr is not None:
            flt.labels = ctypes.cast(arr, ctypes.POINTER(_lib.Label))
            flt.nlabels = n
        snap = c_void_p()
        _lib.check(lib.vt_metrics_snapshot_take(p, byref(flt), byref(snap)), what)
        try:
            out, ln = c_void_p(), c_size_t()
            _lib.check(encoder(snap, byref(out), byref(ln)), what)
            return _lib.take_string(out.value, ln.value)
        finally:
            lib.vt_metrics_snapshot_free(snap)

    def get_metrics(self, name=None, prefix=None, labels=None):
        """Every metric (or those of family name, names starting with
        prefix, series carrying labels) in the seed's /metrics JSON shape:
        {"requests_total": {"type": "counter", "value": 3}, ...}."""
        return json.loads(self._encode(lib.vt_json_metrics, name, prefix, labels,
                                       "get_metrics"))

    def get_metrics_json(self, name=None, prefix=None, labels=None):
        """get_metrics as the JSON text vitals' gateway serves."""
        return self._encode(lib.vt_json_metrics, name, prefix, labels, "get_metrics_json")

    def prometheus_text(self, name=None, prefix=None, labels=None):
        """The Prometheus text format 0.0.4 of the same selection."""
        return self._encode(lib.vt_prom_metrics, name, prefix, labels, "prometheus_text")


class _Handle:
    __slots__ = ("_owner", "_h", "name", "labels")

    def __init__(self, owner, h, name, labels):
        self._owner, self._h, self.name, self.labels = owner, h, name, labels

    def __repr__(self):
        return "<vitals.%s %s%s>" % (type(self).__name__, self.name, self.labels or "")


class Counter(_Handle):
    __slots__ = ()

    def inc(self, value=1):
        """Adds value (>= 0, default 1)."""
        if self._owner._ptr is None:
            raise ClosedError("Counter.inc")
        try:
            err = _counter_inc(self._h) if value == 1 and value.__class__ is int \
                else _counter_add(self._h, _number("inc", value))
        except _ArgumentError as e:
            raise TypeError("inc: %s" % e) from None
        if err:
            raise VitalsError(err, "Counter(%r).inc" % self.name)


class Gauge(_Handle):
    __slots__ = ()

    def set(self, value):
        if self._owner._ptr is None:
            raise ClosedError("Gauge.set")
        try:
            err = _gauge_set(self._h, value)
        except _ArgumentError:
            raise TypeError("set: value must be a number") from None
        if err:
            raise VitalsError(err, "Gauge(%r).set" % self.name)

    def add(self, delta):
        if self._owner._ptr is None:
            raise ClosedError("Gauge.add")
        err = _gauge_add(self._h, _number("add", delta))
        if err:
            raise VitalsError(err, "Gauge(%r).add" % self.name)

    def sub(self, delta):
        self.add(-_number("sub", delta))


class Histogram(_Handle):
    __slots__ = ()

    def observe(self, value):
        if self._owner._ptr is None:
            raise ClosedError("Histogram.observe")
        try:
            err = _hist_observe(self._h, value)
        except _ArgumentError:
            raise TypeError("observe: value must be a number") from None
        if err:
            raise VitalsError(err, "Histogram(%r).observe" % self.name)
