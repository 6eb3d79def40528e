"""Helpers of the Python tests: free loopback ports, real servers started
as child processes (redis-server, prometheus, a loopback HTTP server),
bounded waits. Every server listens on 127.0.0.1 only and is killed when
its test ends (also when the test fails).
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import unittest

SOURCE_DIR = os.environ.get("VITALS_TEST_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PYTHON = sys.executable


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.05):
    """pred() until truthy (returned) or timeout (None)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            return None
        time.sleep(step)


def http_get(url, headers=None, timeout=10.0):
    """(status, headers, body bytes) of a GET, HTTP errors included."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def need_program(name):
    path = shutil.which(name) or (os.path.exists("/usr/bin/" + name) and "/usr/bin/" + name)
    if not path:
        raise unittest.SkipTest("%s is not installed: run scripts/install-deps.sh test" % name)
    return path


class Child:
    """A child process in its own session, killed (whole group) on stop."""

    def __init__(self, argv, cwd=None, env=None):
        self.log = tempfile.NamedTemporaryFile(prefix="vitals-py-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.log.close()
        os.unlink(self.log.name)


def start_redis(testcase):
    exe = need_program("redis-server")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="vitals-py-redis-")
    child = Child([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", tmp])
    testcase.addCleanup(shutil.rmtree, tmp, True)
    testcase.addCleanup(child.stop)

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False
    if not wait_for(up, 15):
        raise AssertionError("redis-server did not start:\n" + child.output())
    return port


def start_prometheus(testcase, target):
    """A real Prometheus scraping http://TARGET/metrics every second;
    returns its base URL."""
    exe = need_program("prometheus")
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="vitals-py-prom-")
    testcase.addCleanup(shutil.rmtree, tmp, True)
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: python\n"
                "    static_configs:\n      - targets: ['%s']\n" % target)
    child = Child([exe, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                   "--web.listen-address=127.0.0.1:%d" % port])
    testcase.addCleanup(child.stop)
    base = "http://127.0.0.1:%d" % port

    def ready():
        try:
            return http_get(base + "/-/ready", timeout=1)[0] == 200
        except OSError:
            return False
    if not wait_for(ready, 30):
        raise AssertionError("prometheus did not start:\n" + child.output())
    return base


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        body = json.dumps({"path": self.path}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_http(testcase):
    """A loopback HTTP server: GET /status/N answers N, any other path 200.
    Returns its base URL."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()

    def stop():
        srv.shutdown()
        srv.server_close()
        t.join(5)
    testcase.addCleanup(stop)
    return "http://127.0.0.1:%d" % srv.server_address[1]


def thread_count():
    return len(os.listdir("/proc/self/task"))


def run_python(code_or_path, timeout=60, args=(), is_file=False):
    """Runs a Python program in a child interpreter with this one's
    environment; returns CompletedProcess (text)."""
    argv = [PYTHON, code_or_path] if is_file else [PYTHON, "-c", code_or_path]
    return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout)
