"""/healthz latency while 20 bad sign-ins are hashed at once (issue 15).

Against a running ``qaf serve``::

    uv run python -m bench.sign_in_flood http://127.0.0.1:8000

It sends 20 wrong passwords for 20 different (unknown) usernames to
``POST /api/v1/auth/token`` at once, so each is really hashed (none is
throttled: one address may fail 30 times a minute), and probes ``/healthz``
every 10 ms until they are all answered. Run it at most once a minute
against one server, or the address limit answers the flood with 429s.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import httpx


async def flood(url: str, count: int = 20) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=count + 10)) as web:
        quiet = []
        for _ in range(20):
            started = time.perf_counter()
            await web.get("/healthz")
            quiet.append((time.perf_counter() - started) * 1000)
        done, probes = asyncio.Event(), []

        async def probe():
            while not done.is_set():
                started = time.perf_counter()
                response = await web.get("/healthz")
                probes.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
                await asyncio.sleep(0.01)

        prober = asyncio.create_task(probe())
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(web.post("/api/v1/auth/token", json={"username": f"flood.{n}", "password": "wrong"}) for n in range(count))
        )
        took = time.perf_counter() - started
        done.set()
        await prober
        probes.sort()
        print(f"{count} bad sign-ins answered {sorted({a.status_code for a in answers})} in {took:.1f} s")
        print(f"/healthz before: median {statistics.median(quiet):.1f} ms, max {max(quiet):.1f} ms")
        print(
            f"/healthz during: {len(probes)} probes, median {statistics.median(probes):.1f} ms, "
            f"95th percentile {probes[int(len(probes) * 0.95) - 1]:.1f} ms, max {probes[-1]:.1f} ms"
        )


if __name__ == "__main__":
    asyncio.run(flood(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
