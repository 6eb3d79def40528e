"""The examples of python/examples (the seed's four usages, written with
`import vitals`) run and print what they promise; the serving ones answer
real requests while they serve."""

import json
import os
import subprocess
import sys
import unittest

import support

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")


def example(name):
    return os.path.join(EXAMPLES, name)


class Examples(unittest.TestCase):
    def test_health(self):
        r = support.run_python(example("example_health.py"), is_file=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:6], [
            "api: healthy",
            "closed_port: unhealthy - cannot connect to 127.0.0.1:1: connection refused",
            "queue: degraded - queue depth 42 above 10",
            "root_disk: healthy",
            "tmp: healthy",
            "overall: degraded"])
        body = json.loads(lines[6])
        self.assertEqual(body["status"], "degraded")
        self.assertEqual(len(body["components"]), 5)

    def test_metrics(self):
        r = support.run_python(example("example_metrics.py"), is_file=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "requests: 2000")
        self.assertAlmostEqual(float(lines[1].split()[1]), 0.5, delta=0.5 * 0.011 + 0.001)
        m = json.loads(lines[2])
        self.assertEqual(m["active_connections"], {"type": "gauge", "value": 42})
        self.assertEqual(m["request_duration_seconds"]["count"], 2000)
        self.assertEqual(m['api_responses_total{status="500"}']["value"], 20)
        self.assertIn('api_responses_total{status="200"} 1980\n', r.stdout)

    def serve(self, argv, url, marker):
        proc = subprocess.Popen([sys.executable] + argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        first = proc.stdout.readline()
        if not first.startswith("serving"):
            self.fail(first + proc.stderr.read())
        return proc

    def test_server(self):
        port, rpc = support.free_port(), "tcp://127.0.0.1:%d" % support.free_port()
        proc = self.serve([example("example_server.py"), "127.0.0.1:%d" % port, rpc, "3"],
                          None, "serving")
        base = "http://127.0.0.1:%d" % port
        code, _, body = support.http_get(base + "/health")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["status"], "healthy")
        code, _, body = support.http_get(base + "/metrics?format=prometheus")
        self.assertIn("# TYPE example_ticks_total counter", body.decode())
        ctl = os.environ.get("VITALS_TEST_VITALSCTL")
        if ctl:
            r = subprocess.run([ctl, "--url", rpc, "health"], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.strip(), "stopped")

    def test_aiohttp(self):
        port = support.free_port()
        proc = self.serve([example("example_aiohttp.py"), str(port), "3"], None, "serving")
        base = "http://127.0.0.1:%d" % port
        for _ in range(5):
            code, _, body = support.http_get(base + "/hello")
            self.assertEqual((code, body), (200, b"hello\n"))
        code, _, body = support.http_get(base + "/health")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["components"][0]["details"], {"pool_free": 8})
        code, _, body = support.http_get(base + "/metrics", {"Accept": "text/plain"})
        self.assertIn('http_requests_total{method="GET",route="/hello",status="200"} 5\n',
                      body.decode())
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.strip(), "GET /hello: 5 requests")


if __name__ == "__main__":
    unittest.main()
