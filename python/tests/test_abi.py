"""The ctypes mirror of vitals' public structures (vitals/_lib.py) has
the compiler's field offsets, and no field of the C structure is missing
from it; the mirror's size is at least the C size (the mirror ends in
reserved room, so options appended to a C structure read as 0). Also:
libvitals.so exports the public API only."""

import json
import os
import subprocess
import unittest

from vitals import _lib

MIRRORS = {
    "vt_label": _lib.Label, "vt_metrics_filter": _lib.MetricsFilter,
    "vt_check_opts": _lib.CheckOpts, "vt_health_opts": _lib.HealthOpts,
    "vt_health_filter": _lib.HealthFilter, "vt_redis_opts": _lib.RedisOpts,
    "vt_rabbitmq_opts": _lib.RabbitmqOpts, "vt_http_opts": _lib.HttpOpts,
    "vt_dmarket_opts": _lib.DmarketOpts, "vt_tcp_opts": _lib.TcpOpts,
    "vt_disk_opts": _lib.DiskOpts, "vt_exec_opts": _lib.ExecOpts,
    "vt_server_opts": _lib.ServerOpts,
}


class Abi(unittest.TestCase):
    def test_offsets(self):
        exe = os.environ.get("VITALS_TEST_ABI")
        if not exe:
            self.skipTest("VITALS_TEST_ABI not set (run through CTest)")
        c = json.loads(subprocess.run([exe], capture_output=True, text=True, check=True).stdout)
        self.assertEqual(set(c), set(MIRRORS))
        for name, mirror in MIRRORS.items():
            layout = dict(c[name])
            size = layout.pop("size")
            py = {f[0]: getattr(mirror, f[0]).offset for f in mirror._fields_}
            for field, off in layout.items():
                self.assertIn(field, py, "%s.%s missing from the mirror" % (name, field))
                self.assertEqual(py[field], off, "%s.%s offset" % (name, field))
            self.assertGreaterEqual(ctypes_sizeof(mirror), size, name)

    def test_exports_public_api_only(self):
        r = subprocess.run(["nm", "-D", "--defined-only", _lib.LIBRARY_PATH],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("nm failed: " + r.stderr)
        names = [line.split()[-1] for line in r.stdout.splitlines() if line.strip()]
        self.assertIn("vt_metrics_increment", names)
        self.assertEqual([n for n in names if not (n.startswith("vt_") and n[3:4].islower())], [])


def ctypes_sizeof(t):
    import ctypes
    return ctypes.sizeof(t)


if __name__ == "__main__":
    unittest.main()
