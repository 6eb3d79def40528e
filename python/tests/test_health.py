"""vitals.HealthCheck: plain and coroutine checks, both result forms,
deadlines (a hanging coroutine or plain check is answered at its
timeout), shared runs, filters, the built-in checks on real servers,
errors as exceptions, closing, and callbacks entering Python from vitals'
threads while Python threads record."""

import asyncio
import socket
import threading
import time
import unittest

import support
import vitals


def by_name(result):
    return {c["name"]: c for c in result["components"]}


class Checks(unittest.TestCase):
    def setUp(self):
        self.metrics = vitals.MetricsCollector()
        self.h = vitals.HealthCheck(self.metrics)
        self.addCleanup(self.h.close)

    def test_plain_forms(self):
        h = self.h
        h.register_check("up", lambda: True)
        h.register_check("down", lambda: False, critical=False)
        h.register_check("queue", lambda: {"status": "degraded",
                                           "details": {"messages": 42, "name": "jobs",
                                                       "ok": True, "nested": {"a": [1]}}},
                         tags=("ready",))
        h.register_check("explained", lambda: {"status": "healthy", "error": "but noisy"})

        def broken():
            raise ConnectionError("refused")
        h.register_check("broken", broken, critical=False)
        h.register_check("weird", lambda: 17, critical=False)
        h.register_check("badstatus", lambda: {"status": "fine"}, critical=False)
        res = h.check_health_sync()
        self.assertEqual(set(res), {"status", "timestamp", "components"})
        self.assertEqual(res["status"], "degraded")
        c = by_name(res)
        self.assertEqual(c["up"]["status"], "healthy")
        self.assertIsNone(c["up"]["details"])
        self.assertIsNone(c["up"]["error"])
        self.assertEqual(c["down"]["status"], "unhealthy")
        self.assertEqual(c["queue"]["status"], "degraded")
        self.assertEqual(c["queue"]["details"], {"messages": 42, "name": "jobs", "ok": True,
                                                 "nested": '{"a": [1]}'})
        self.assertEqual(c["queue"]["tags"], ["ready"])
        self.assertEqual(c["explained"]["error"], "but noisy")
        self.assertEqual(c["broken"]["status"], "unhealthy")
        self.assertEqual(c["broken"]["error"], "ConnectionError: refused")
        self.assertIn("expected a bool", c["weird"]["error"])
        self.assertIn("'fine'", c["badstatus"]["error"])
        for comp in res["components"]:
            for key in ("last_check_time", "duration_ms", "critical", "consecutive_failures",
                        "last_status_change", "stale"):
                self.assertIn(key, comp)
        # Health is also metrics.
        m = self.metrics.get_metrics(prefix="vitals_check_status")
        self.assertEqual(m['vitals_check_status{check="down"}']["value"], 2)

    def test_coroutine_checks_and_last_result(self):
        h = self.h
        self.assertIsNone(h.get_last_result())

        async def db():
            await asyncio.sleep(0.01)
            return {"status": "healthy", "details": {"latency_ms": 10}}

        async def hang():
            await asyncio.sleep(3600)
            return True
        cancelled = []

        async def hang_and_notice():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        async def main():
            h.register_check("db", db)
            h.register_check("hang", hang, timeout=0.3, critical=False)
            h.register_check("hang2", hang_and_notice, timeout=0.3, critical=False)
            t0 = time.monotonic()
            res = await h.check_health()
            elapsed = time.monotonic() - t0
            await asyncio.sleep(0.05)
            return res, elapsed

        res, elapsed = asyncio.run(main())
        c = by_name(res)
        self.assertEqual(c["db"]["status"], "healthy")
        self.assertEqual(c["db"]["details"], {"latency_ms": 10})
        self.assertEqual(c["hang"]["status"], "unhealthy")
        self.assertEqual(c["hang"]["error"], "timeout after 300 ms")
        self.assertEqual(res["status"], "degraded")
        # Answered at the deadline, not after the hour the check hangs.
        self.assertLess(elapsed, 2.0)
        self.assertEqual(cancelled, [True])
        self.assertEqual(h.get_last_result(), res)

    def test_coroutine_without_loop(self):
        async def fine():
            return True
        self.h.register_check("co", fine)
        c = by_name(self.h.check_health_sync())["co"]
        self.assertEqual(c["status"], "unhealthy")
        self.assertIn("no asyncio event loop", c["error"])

    def test_plain_hang_answered_at_deadline(self):
        release = threading.Event()
        self.h.register_check("stuck", lambda: release.wait(30), timeout=0.2)
        self.h.register_check("fine", lambda: True)
        t0 = time.monotonic()
        res = self.h.check_health_sync()
        self.assertLess(time.monotonic() - t0, 2.0)
        c = by_name(res)
        self.assertEqual(c["stuck"]["error"], "timeout after 200 ms")
        self.assertEqual(c["fine"]["status"], "healthy")
        release.set()

    def test_concurrent_runs_share(self):
        calls = []

        def slow():
            calls.append(1)
            time.sleep(0.5)
            return True
        self.h.register_check("slow", slow, timeout=2)
        start = threading.Barrier(5)
        results = []

        def caller():
            start.wait()
            results.append(self.h.check_health_sync())
        ts = [threading.Thread(target=caller) for _ in range(5)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual([r["status"] for r in results], ["healthy"] * 5)
        self.assertLess(len(calls), 5)

    def test_filters_and_unregister(self):
        h = self.h
        h.register_check("a", lambda: True, tags=["live"])
        h.register_check("b", lambda: False, tags=["ready"])
        h.register_check("c", lambda: True, tags=["ready"])
        self.assertEqual([x["name"] for x in h.check_health_sync(tag="ready")["components"]],
                         ["b", "c"])
        self.assertEqual([x["name"] for x in h.check_health_sync(exclude=["b"])["components"]],
                         ["a", "c"])
        self.assertEqual(h.check_health_sync(name="a")["status"], "healthy")
        with self.assertRaises(vitals.VitalsError) as cm:
            h.check_health_sync(name="nope")
        self.assertEqual(cm.exception.errname, "ENOENT")
        h.unregister_check("b")
        self.assertEqual(h.check_health_sync()["status"], "healthy")
        with self.assertRaises(vitals.VitalsError):
            h.unregister_check("b")

    def test_background_cached(self):
        self.h.register_check("tick", lambda: True, interval=0.1)
        self.h.start_background()
        ok = support.wait_for(lambda: self.h.check_health_sync(cached=True)["status"] == "healthy", 5)
        self.assertTrue(ok)

    def test_registration_errors(self):
        h = self.h
        h.register_check("x", lambda: True)
        with self.assertRaises(vitals.VitalsError) as cm:
            h.register_check("x", lambda: True)
        self.assertEqual(cm.exception.errname, "EEXIST")
        with self.assertRaises(vitals.VitalsError) as cm:
            h.register_check("bad name!", lambda: True)
        self.assertEqual(cm.exception.errname, "EINVAL")
        for bad in (lambda: h.register_check("y", "not callable"),
                    lambda: h.register_check(3, lambda: True),
                    lambda: h.register_check("y", lambda: True, timeout="2"),
                    lambda: h.register_check("y", lambda: True, critical="yes"),
                    lambda: h.register_check("y", lambda: True, tags="live"),
                    lambda: h.register_builtin("tcp", "t", port=1),
                    lambda: vitals.HealthCheck(metrics="m")):
            with self.assertRaises(TypeError):
                bad()
        for bad in (lambda: h.register_check("y", lambda: True, timeout=0),
                    lambda: h.register_check("y", lambda: True, timeout=float("nan")),
                    lambda: h.register_check("y", lambda: True, timeout=-1),
                    lambda: h.register_check("y\0z", lambda: True),
                    lambda: h.register_builtin("ftp", "f"),
                    lambda: vitals.HealthCheck(workers=0)):
            with self.assertRaises(ValueError):
                bad()
        with self.assertRaises(vitals.VitalsError) as cm:
            h.register_builtin("redis", "r", url="http://not-redis")
        self.assertEqual(cm.exception.errname, "EINVAL")
        with self.assertRaises(vitals.VitalsError):
            h.register_builtin("disk", "d")  # no path
        self.assertEqual([c["name"] for c in h.check_health_sync()["components"]], ["x"])

    def test_closed(self):
        h = vitals.HealthCheck()
        h.register_check("x", lambda: True)
        closes = []

        def closer():
            try:
                h.close()
            except vitals.VitalsError as e:
                closes.append(str(e))
            return True
        h.register_check("closer", closer)
        self.assertEqual(h.check_health_sync()["status"], "healthy")
        self.assertEqual(len(closes), 1)
        self.assertIn("from inside a check", closes[0])
        h.close()
        h.close()
        self.assertTrue(h.closed)
        for call in (lambda: h.register_check("y", lambda: True), h.check_health_sync,
                     lambda: asyncio.run(h.check_health()), lambda: h.unregister_check("x"),
                     lambda: h.register_builtin("disk", "d", path="/"), h.start_background):
            with self.assertRaises(vitals.ClosedError):
                call()

    def test_close_joins_threads(self):
        before = support.thread_count()
        h = vitals.HealthCheck(workers=6)
        for i in range(6):
            h.register_check("c%d" % i, lambda: time.sleep(0.01) or True, interval=0.05)
        h.start_background()
        h.check_health_sync()
        self.assertGreater(support.thread_count(), before)
        h.close()
        # Other tests' threads may still be ending: none of ours remains.
        self.assertLessEqual(support.thread_count(), before)

    def test_callbacks_while_python_threads_record(self):
        m = vitals.MetricsCollector()
        h = vitals.HealthCheck(m, workers=4)
        self.addCleanup(h.close)
        seen = []

        def check():
            seen.append(threading.get_ident())
            m.increment("from_checks_total")
            return True
        for i in range(8):
            h.register_check("k%d" % i, check)
        stop = threading.Event()

        def recorder():
            while not stop.is_set():
                m.increment("from_threads_total")
        rs = [threading.Thread(target=recorder) for _ in range(3)]
        for t in rs:
            t.start()
        runners = [threading.Thread(target=lambda: [h.check_health_sync() for _ in range(20)])
                   for _ in range(3)]
        for t in runners:
            t.start()
        for t in runners:
            t.join()
        stop.set()
        for t in rs:
            t.join()
        got = m.get_metrics()
        self.assertEqual(got["from_checks_total"]["value"], len(seen))
        self.assertGreater(len(seen), 8)
        self.assertNotIn(threading.get_ident(), seen)  # ran on vitals' workers
        self.assertGreater(got["from_threads_total"]["value"], 0)


class Builtins(unittest.TestCase):
    def setUp(self):
        self.h = vitals.HealthCheck()
        self.addCleanup(self.h.close)

    def test_tcp_disk_exec(self):
        h = self.h
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        self.addCleanup(listener.close)
        h.register_builtin("tcp", "open", address="127.0.0.1:%d" % listener.getsockname()[1])
        h.register_builtin("tcp", "closed", address="127.0.0.1:%d" % support.free_port(),
                           critical=False)
        h.register_builtin("disk", "root", path="/", degraded_free_pct=0.001)
        h.register_builtin("exec", "plugin", argv=["/bin/sh", "-c", "echo WARN queue long; exit 1"])
        c = by_name(h.check_health_sync())
        self.assertEqual(c["open"]["status"], "healthy")
        self.assertEqual(c["closed"]["status"], "unhealthy")
        self.assertTrue(c["closed"]["error"])
        self.assertEqual(c["root"]["status"], "healthy")
        self.assertIn("free_pct", c["root"]["details"])
        self.assertEqual(c["plugin"]["status"], "degraded")
        self.assertEqual(c["plugin"]["details"]["output"], "WARN queue long")

    def test_http_and_dmarket(self):
        base = support.start_http(self)
        h = self.h
        h.register_builtin("http", "ok", url=base + "/ping")
        h.register_builtin("http", "err", url=base + "/status/500", critical=False)
        h.register_builtin("http", "want404", url=base + "/status/404", expect_status=404)
        h.register_builtin("dmarket", "market", base_url=base)
        c = by_name(h.check_health_sync())
        self.assertEqual(c["ok"]["status"], "healthy")
        self.assertEqual(c["ok"]["details"]["status_code"], 200)
        self.assertEqual(c["err"]["status"], "unhealthy")
        self.assertEqual(c["want404"]["status"], "healthy")
        self.assertEqual(c["market"]["status"], "healthy", c["market"])

    def test_redis_real_server(self):
        port = support.start_redis(self)
        self.h.register_builtin("redis", "cache", url="redis://:secret@127.0.0.1:%d/0" % port,
                                connect_timeout=0.5, command_timeout=0.5)
        self.h.register_builtin("redis", "nocache",
                                url="redis://127.0.0.1:%d" % support.free_port(), critical=False)
        c = by_name(self.h.check_health_sync())
        # redis-server without requirepass refuses AUTH: the check says so.
        self.assertEqual(c["cache"]["status"], "unhealthy")
        self.assertNotIn("secret", str(c["cache"]))
        self.assertEqual(c["nocache"]["status"], "unhealthy")
        self.h.unregister_check("cache")
        self.h.register_builtin("redis", "cache2", url="redis://127.0.0.1:%d" % port)
        c = by_name(self.h.check_health_sync())
        self.assertEqual(c["cache2"]["status"], "healthy", c["cache2"])
        self.assertEqual(c["cache2"]["details"]["role"], "master")

    def test_rabbitmq_unreachable(self):
        # A dead broker is reported, within the check's own connect timeout.
        self.h.register_builtin("rabbitmq", "mq", url="amqp://guest:pw@127.0.0.1:%d/"
                                % support.free_port(), queue="jobs", connect_timeout=0.5)
        c = by_name(self.h.check_health_sync())["mq"]
        self.assertEqual(c["status"], "unhealthy")
        self.assertNotIn(":pw@", str(c))


if __name__ == "__main__":
    unittest.main()
