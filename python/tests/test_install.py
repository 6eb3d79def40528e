"""A newcomer's path: `cmake --install` into a fresh prefix, PYTHONPATH
set to the installed package, and the README's aiohttp example run as
it is written (only its port changed to a free one) serving real
requests with the installed library."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import support


class Install(unittest.TestCase):
    def test_readme_aiohttp_example_from_install(self):
        build = os.environ.get("VITALS_TEST_BUILD_DIR")
        if not build or os.environ.get("LD_PRELOAD"):
            self.skipTest("plain build through CTest only (VITALS_TEST_BUILD_DIR)")
        prefix = tempfile.mkdtemp(prefix="vitals-py-install-")
        self.addCleanup(shutil.rmtree, prefix, True)
        subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True,
                       capture_output=True)
        with open(os.path.join(support.SOURCE_DIR, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## From Python"):]
        code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
        port = support.free_port()
        self.assertIn("port=8081", code)
        code = code.replace("port=8081", "port=%d" % port)
        env = dict(os.environ, PYTHONPATH=os.path.join(prefix, "lib", "python3", "dist-packages"))
        env.pop("VITALS_LIBRARY", None)
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=prefix,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        base = "http://127.0.0.1:%d" % port

        def up():
            try:
                return support.http_get(base + "/hello", timeout=1)
            except OSError:
                return None
        first = support.wait_for(up, 20)
        if first is None:
            proc.kill()
            self.fail("example did not serve:\n" + proc.communicate()[0])
        self.assertEqual(first[0], 200)
        code_, _, body = support.http_get(base + "/health")
        self.assertEqual(code_, 200)  # redis is down but not critical: degraded
        self.assertIn(b'"degraded"', body)
        _, _, body = support.http_get(base + "/metrics?format=prometheus")
        text = body.decode()
        self.assertIn('http_requests_total{method="GET",route="/hello",status="200"} 1\n', text)
        self.assertIn("hello_total 1\n", text)
        # It loaded the installed library, not the build tree's.
        out = subprocess.run([sys.executable, "-c", "import vitals; print(vitals.LIBRARY_PATH)"],
                             env=env, cwd=prefix, capture_output=True, text=True, check=True)
        self.assertTrue(out.stdout.strip().startswith(prefix), out.stdout)
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    unittest.main()
