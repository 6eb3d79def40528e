"""Health checks in one page, the seed's way: a plain check (True/False),
a status + details check, an async check run on the application's event
loop, two of vitals' built-in checks, one check_health(), and what GET
/health would serve for it.

The answer is known: "tmp" is healthy, "queue" reports 42 waiting
messages (above its threshold of 10: degraded), "api" (async) is
healthy, "root_disk" looks at / and "closed_port" connects to a port
nobody listens on (unhealthy, but not critical). The whole is degraded.

Usage: python3 example_health.py
Prints one line per check, "overall: <status>", then the /health JSON.
"""
import asyncio
import json
import os

import vitals

health = vitals.HealthCheck()


def tmp_writable():  # the plain form: True = healthy
    return os.access("/tmp", os.W_OK)


def queue_check():  # the status + details form
    depth = 42
    if depth > 10:
        return {"status": "degraded", "details": {"messages": depth},
                "error": "queue depth %d above 10" % depth}
    return {"status": "healthy", "details": {"messages": depth}}


async def api_check():  # runs on the event loop, within its timeout
    await asyncio.sleep(0.01)
    return True


health.register_check("tmp", tmp_writable, timeout=0.5)
health.register_check("queue", queue_check, timeout=0.5, critical=False)
health.register_check("api", api_check, timeout=0.5)
health.register_builtin("disk", "root_disk", path="/", unhealthy_free_pct=1, timeout=0.5)
health.register_builtin("tcp", "closed_port", address="127.0.0.1:1", timeout=0.5,
                        critical=False)


async def main():
    result = await health.check_health()  # every check now, in parallel
    for c in result["components"]:
        print("%s: %s%s" % (c["name"], c["status"], " - " + c["error"] if c["error"] else ""))
    print("overall: %s" % result["status"])
    print(json.dumps(result))


asyncio.run(main())
health.close()
