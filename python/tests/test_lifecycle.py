"""Lifetimes, each in a fresh interpreter: close() leaves no thread of
vitals behind; interpreter exit with everything still open (a server,
background checks, a coroutine check in flight, daemon threads still
recording) exits 0 with no crash; calls after close raise."""

import textwrap
import unittest

import support

PRELUDE = textwrap.dedent("""
    import asyncio, os, sys, threading, time
    import vitals
    def threads():
        return len(os.listdir("/proc/self/task"))
    def free_port():
        import socket
        s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
        return p
""")


def run(body, timeout=60):
    return support.run_python(PRELUDE + textwrap.dedent(body), timeout=timeout)


class Lifecycle(unittest.TestCase):
    def assertClean(self, r, expect_out=None):
        self.assertEqual(r.returncode, 0, "exit %d\nstdout:\n%s\nstderr:\n%s"
                         % (r.returncode, r.stdout, r.stderr))
        self.assertNotIn("Traceback", r.stderr)
        self.assertNotIn("ERROR", r.stderr)
        if expect_out is not None:
            self.assertEqual(r.stdout.strip(), expect_out)

    def test_close_leaves_no_vitals_thread(self):
        # The gateway's nng library keeps its own process-wide worker
        # threads once started (nng offers no way to stop them); vitals'
        # threads (check workers, scheduler, server pools) are all joined.
        r = run("""
            m = vitals.MetricsCollector()
            base = threads()
            h = vitals.HealthCheck(m, workers=5)
            for i in range(5):
                h.register_check("c%d" % i, lambda: True, interval=0.05)
            h.start_background()
            h.check_health_sync()
            during = threads()
            h.close()
            after = threads()
            print(during > base, after == base)
            # A server: a first one starts nng's own threads; after it,
            # each further server's threads end with it.
            h = vitals.HealthCheck(m)
            s = vitals.start_monitoring_server(h, m, "127.0.0.1", free_port(),
                                               rpc_url="tcp://127.0.0.1:%d" % free_port())
            s.close()
            base = threads()
            s = vitals.start_monitoring_server(h, m, "127.0.0.1", free_port(),
                                               rpc_url="tcp://127.0.0.1:%d" % free_port())
            during = threads()
            s.close()
            print(during > base, threads() == base)
            h.close()
        """)
        self.assertClean(r, "True True\nTrue True")

    def test_exit_with_everything_open(self):
        r = run("""
            m = vitals.MetricsCollector()
            h = vitals.HealthCheck(m)
            h.register_check("plain", lambda: time.sleep(0.05) or True, interval=0.05)
            async def slow():
                await asyncio.sleep(0.2)
                return True
            h.register_check("co", slow, timeout=1)
            h.start_background()
            def record():
                c = m.counter("spin_total")
                while True:
                    c.inc(); m.observe("o", 1)
            for _ in range(3):
                threading.Thread(target=record, daemon=True).start()
            async def main():
                s = await vitals.start_monitoring_server(h, m, "127.0.0.1", free_port())
                asyncio.get_running_loop().run_in_executor(None, h.check_health_sync)
                await asyncio.sleep(0.1)
            asyncio.run(main())
            print("bye")
        """)
        self.assertClean(r, "bye")

    def test_exit_while_check_runs_in_worker(self):
        # A plain check still running at exit is waited for (it returns),
        # and its callback finds the interpreter alive.
        r = run("""
            h = vitals.HealthCheck()
            started = threading.Event()
            def check():
                started.set(); time.sleep(0.3); return True
            h.register_check("slow", check, timeout=0.1)
            threading.Thread(target=h.check_health_sync, daemon=True).start()
            started.wait(5)
            print("bye")
        """)
        self.assertClean(r, "bye")

    def test_objects_dropped_without_close(self):
        r = run("""
            import gc
            base = threads()
            for i in range(20):
                m = vitals.MetricsCollector()
                h = vitals.HealthCheck(m, workers=2)
                h.register_check("x", lambda: True)
                h.check_health_sync()
                m.increment("a_total")
                del h, m
                gc.collect()
            print(threads() == base)
        """)
        self.assertClean(r, "True")

    def test_calls_after_close_and_at_exit(self):
        r = run("""
            import atexit
            def late():
                # Registered before vitals' first finalizer, so it runs
                # after them: the registry is closed by then and refuses
                # cleanly; metrics stay usable until the process ends.
                for f in (lambda: h.check_health_sync(), lambda: h.register_check("y", bool)):
                    try:
                        f()
                    except vitals.ClosedError:
                        print("closed", flush=True)
                c.inc()
                m.increment("x_total")
                print(m.get_metrics()["x_total"]["value"], flush=True)
            atexit.register(late)
            m = vitals.MetricsCollector()
            h = vitals.HealthCheck(m)
            c = m.counter("x_total")
            h.register_check("x", lambda: True)
        """)
        self.assertClean(r, "closed\nclosed\n2")


if __name__ == "__main__":
    unittest.main()
