"""``qaf bench run``: the real server on loopback, driven by concurrent clients
for a bounded time, then the reports, a monthly allocation and a deadline
sweep timed over the same data. Prints one table; ``--json`` writes it too.

The server is the product's app (``web.app.create_app``) served by uvicorn as
``qaf serve`` does, in a subprocess, with one extra route registered only in
this process: ``/__bench/floor``, a bare Litestar handler (no database), which
measures the framework's floor with the same middleware (sessions, CSRF, …).

The allocation and the sweep write to the database (a new cycle; deadlines
marked missed with their escalations): run the benchmark on a generated
database, not a live one, and regenerate for a like-for-like second run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "qaf-demo-2026"
FLOOR_PATH = "/__bench/floor"

TARGETS = {
    "page_p95_ms": 50.0,
    "report_ms": 25.0,
    "allocation_s": 1.0,
    "sweep_s": 2.0,
    "rss_mb": 250.0,
}


# ------------------------------------------------------------------ the server


def serve(port: int) -> None:
    """The server process: ``qaf serve`` plus the floor route."""
    import uvicorn
    from litestar import get

    from core.cli import _migrate, _prepare
    from web.app import create_app

    settings, plugins = _prepare()
    asyncio.run(_migrate())
    app = create_app(settings, plugins)

    @get(FLOOR_PATH, include_in_schema=False, sync_to_thread=False)
    def floor() -> dict:
        return {"ok": True}

    app.register(floor)
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    env = env | {"QAF_SWEEP_SECONDS": "0", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))}
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--serve", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the bench server exited: {server.stdout.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the bench server did not answer within 60 s")


def _drain(url: str, limit: float = 600) -> None:
    import httpx

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            httpx.get(f"{url}/healthz", timeout=limit)
        except httpx.HTTPError:
            pass
        if time.monotonic() - t0 < 0.5:
            return


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of the process (Linux): its peak resident set."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# ------------------------------------------------------------------ load


@dataclass
class PageResult:
    name: str
    path: str
    clients: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[index]


async def sign_in(client, username: str) -> None:
    page = await client.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    response = await client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "_csrf_token": token.group(1) if token else ""},
        follow_redirects=False,
        timeout=300,
    )
    if response.status_code != 303:
        raise RuntimeError(f"could not sign in as {username}: HTTP {response.status_code}")


async def load(url: str, name: str, users: list[tuple[str, str]], clients: int, seconds: float,
               max_requests: int = 1_000_000) -> PageResult:
    """``clients`` concurrent signed-in clients, each GETting its own path in a
    loop for ``seconds`` (and at most ``max_requests`` in all)."""
    import httpx

    result = PageResult(name, users[0][1] if users else "", clients)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    sessions = []
    try:
        for i in range(clients):
            username, path = users[i % len(users)]
            client = httpx.AsyncClient(base_url=url, timeout=120, limits=limits)
            sessions.append((client, path))
        # Sign in first, a few at a time (argon2 is meant to be slow); not timed.
        signer = asyncio.Semaphore(8)

        async def signed(client, username):
            if username:
                async with signer:
                    await sign_in(client, username)

        await asyncio.gather(*(signed(c, users[i % len(users)][0]) for i, (c, _) in enumerate(sessions)))
        stop_at = time.monotonic() + seconds
        budget = [max_requests]

        async def worker(client, path):
            while time.monotonic() < stop_at and budget[0] > 0:
                budget[0] -= 1
                t0 = time.perf_counter()
                try:
                    response = await client.get(path)
                    status = str(response.status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                latencies.append((time.perf_counter() - t0) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status != "200":
                    result.errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(c, p) for c, p in sessions))
        result.seconds = time.monotonic() - started
    finally:
        for client, _ in sessions:
            await client.aclose()
    result.requests = len(latencies)
    result.rps = result.requests / result.seconds if result.seconds else 0.0
    result.p50_ms = _percentile(latencies, 0.50)
    result.p95_ms = _percentile(latencies, 0.95)
    return result


# ------------------------------------------------------------------ in-process timings


async def _actor_ctx(registry, username: str, now: dt.datetime | None = None):
    from core.db.tables import Person
    from core.services.context import Context, actor_for

    person = await Person.select().where(Person.username == username).first()
    ctx = Context(registry=registry, actor=actor_for(registry, person, "haringey"))
    if now is not None:
        ctx.now = now
    return ctx


async def time_reports(registry, repeat: int = 3) -> list[dict]:
    """Each report (period kind) over the whole council, for the latest period: median of ``repeat``."""
    from core.calendar import london_date
    from core.services import reports

    ctx = await _actor_ctx(registry, "haringey.head_of_qa")
    today = london_date(ctx.now)
    out = []
    for kind, label in reports.PERIOD_KINDS.items():
        p = reports.period(kind, today)
        scope = reports.Scope("org")
        times = []
        allocated = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = await reports.report(ctx, p, scope)
            await reports.moderation_agreement(ctx, p, scope, "auditor")
            await reports.moderation_agreement(ctx, p, scope, "team")
            times.append((time.perf_counter() - t0) * 1000)
            allocated = report.counts.allocated
        out.append({"name": f"report: {label.lower()}", "period": p.key, "audits": allocated,
                    "ms": statistics.median(times), "first_ms": times[0]})
    return out


async def time_allocation(registry) -> dict:
    """Issue the month after the latest cycle through the real ``issue_cycle``."""
    from core.db.tables import Cycle, Organisation
    from core.services.context import Context
    from core.services.cycles import issue_cycle

    org = (await Organisation.select(Organisation.id).where(Organisation.council == "haringey").first())["id"]
    latest = await Cycle.select(Cycle.year, Cycle.month).where(Cycle.organisation == org).order_by(
        Cycle.year, ascending=False).order_by(Cycle.month, ascending=False).first()
    year, month = (latest["year"] + 1, 1) if latest["month"] == 12 else (latest["year"], latest["month"] + 1)
    t0 = time.perf_counter()
    issued = await issue_cycle(Context(registry=registry), org, year, month)
    seconds = time.perf_counter() - t0
    return {"name": "monthly allocation", "month": f"{year}-{month:02d}", "allocations": issued.allocations, "s": seconds}


async def time_sweep(registry) -> dict:
    """One sweep with the clock at the end of the latest cycle's month: every
    open deadline due by then is acted on (escalations, notifications, trail)."""
    from core.calendar import end_of_london_day, last_working_day
    from core.db.tables import Cycle, Deadline
    from core.services.context import Context
    from core.services.sweep import sweep

    latest = await Cycle.select(Cycle.year, Cycle.month).order_by(Cycle.year, ascending=False).order_by(
        Cycle.month, ascending=False).first()
    # Just before the last cycle's own due instant: its fresh allocations stay open.
    now = end_of_london_day(last_working_day(latest["year"], latest["month"])) - dt.timedelta(hours=1)
    open_due = await Deadline.count().where((Deadline.status == "open") & (Deadline.due_at <= now))
    open_all = await Deadline.count().where(Deadline.status == "open")
    t0 = time.perf_counter()
    report = await sweep(Context(registry=registry, now=now))
    seconds = time.perf_counter() - t0
    return {"name": "deadline sweep", "open_deadlines": open_all, "due": open_due,
            "acted_on": report.deadlines_missed, "cycles_issued": report.cycles_issued, "s": seconds}


# ------------------------------------------------------------------ the benchmark


async def _users(registry, per_role: int = 50) -> dict[str, list[tuple[str, str]]]:
    """Who signs in for each page, and the path each one GETs."""
    from core.db.tables import Allocation, Person

    auditors = await Person.select(Person.id, Person.username).where(
        Person.role.is_in(["team_manager", "cp_chair", "iro", "lado"]) & (Person.active == True)  # noqa: E712
    ).order_by(Person.id).limit(per_role * 4)
    mine: list[tuple[str, str]] = []
    forms: list[tuple[str, str]] = []
    for a in auditors:
        row = await Allocation.select(Allocation.id).where(Allocation.auditor == a["id"]).order_by(
            Allocation.id, ascending=False).first()
        if row is None:
            continue
        mine.append((a["username"], "/audits"))
        forms.append((a["username"], f"/audits/{row['id']}"))
        if len(mine) >= per_role:
            break
    qa = [(p["username"], "/qa") for p in await Person.select(Person.username).where(
        Person.role.is_in(["qa_officer", "head_of_qa"])).order_by(Person.id).limit(per_role)]
    leaders = [(p["username"], "/reports") for p in await Person.select(Person.username).where(
        Person.role.is_in(["head_of_qa", "qa_officer"])).order_by(Person.id).limit(per_role)]
    return {
        "framework floor (bare Litestar route)": [("", FLOOR_PATH)],
        "health check (/healthz, one DB query)": [("", "/healthz")],
        "my audits (/audits)": mine,
        "QA queue (/qa)": qa,
        "audit form (/audits/{id})": forms,
        "dashboard (/reports, this month)": leaders,
    }


async def _counts() -> dict[str, int]:
    from core.db.tables import TABLES

    return {t._meta.tablename: await t.count() for t in TABLES}


def run_benchmark(settings, plugins, seconds: float, clients: int, scale: float | None, seed: int,
                  out=sys.stdout, env: dict[str, str] | None = None) -> dict:
    from core.cli import _migrate
    from core.db.tables import Organisation

    registry = plugins.registry
    started = time.monotonic()

    async def prepare():
        await _migrate()
        generated = None
        if not await Organisation.exists():
            if scale is None:
                raise SystemExit("qaf bench run: the database is empty; pass --scale N or run qaf bench generate first")
            from bench.generate import generate

            generated = await generate(registry, scale, seed)
        return generated, await _counts(), await _users(registry, per_role=clients)

    generated, counts, users = asyncio.run(prepare())
    server, url = start_server(dict(env or os.environ))
    pages: list[PageResult] = []
    try:
        for name, who in users.items():
            if not who:
                continue
            _drain(url)  # requests left over from the last page finish before this one starts
            result = asyncio.run(load(url, name, who, clients, seconds))
            result.name = name
            pages.append(result)
        rss = peak_rss_mb(server.pid)
    finally:
        stop_server(server)

    async def timed():
        return (await time_reports(registry), await time_allocation(registry), await time_sweep(registry))

    reports_, allocation, sweep_ = asyncio.run(timed())
    results = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "scale": generated.scale if generated else scale,
        "rows": counts,
        "clients": clients,
        "seconds_per_page": seconds,
        "pages": [asdict(p) for p in pages],
        "reports": reports_,
        "allocation": allocation,
        "sweep": sweep_,
        "server_peak_rss_mb": rss,
        "targets": TARGETS,
        "total_seconds": time.monotonic() - started,
    }
    results["missed"] = missed(results)
    print_table(results, out)
    return results


def missed(results: dict) -> list[str]:
    out = []
    for p in results["pages"]:
        if not p["name"].startswith(("framework", "health")) and p["p95_ms"] > TARGETS["page_p95_ms"]:
            out.append(f"{p['name']}: p95 {p['p95_ms']:.0f} ms > {TARGETS['page_p95_ms']:.0f} ms")
        if p["errors"]:
            out.append(f"{p['name']}: {p['errors']} non-200 responses {p['statuses']}")
    for r in results["reports"]:
        if r["ms"] > TARGETS["report_ms"]:
            out.append(f"{r['name']}: {r['ms']:.0f} ms > {TARGETS['report_ms']:.0f} ms")
    if results["allocation"]["s"] > TARGETS["allocation_s"]:
        out.append(f"monthly allocation: {results['allocation']['s']:.2f} s > {TARGETS['allocation_s']:.0f} s")
    if results["sweep"]["s"] > TARGETS["sweep_s"]:
        out.append(f"deadline sweep: {results['sweep']['s']:.2f} s > {TARGETS['sweep_s']:.0f} s")
    rss = results["server_peak_rss_mb"]
    if rss is not None and rss > TARGETS["rss_mb"]:
        out.append(f"server peak RSS: {rss:.0f} MB > {TARGETS['rss_mb']:.0f} MB")
    return out


def print_table(r: dict, out=sys.stdout) -> None:
    rows = r["rows"]
    print(f"\nqaf bench: {r['database']}, scale {r['scale'] if r['scale'] is not None else '(existing data)'}; "
          f"{rows.get('person', 0):,} staff, {rows.get('child_case', 0):,} cases, {rows.get('allocation', 0):,} audits, "
          f"{rows.get('action', 0):,} actions, {rows.get('trail', 0):,} trail rows; "
          f"{r['clients']} clients, {r['seconds_per_page']:g} s per page", file=out)
    line = f"{'measure':<52} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'time':>10} {'target':>9}  ok"
    print(line, file=out)
    print("-" * len(line), file=out)
    for p in r["pages"]:
        staff = not p["name"].startswith(("framework", "health"))
        ok = "" if not staff else ("yes" if p["p95_ms"] <= TARGETS["page_p95_ms"] and not p["errors"] else "NO")
        target = f"p95≤{TARGETS['page_p95_ms']:.0f}ms" if staff else ""
        err = f" ({p['errors']} errors)" if p["errors"] else ""
        print(f"{p['name']:<52} {p['rps']:>8.0f} {p['p50_ms']:>8.1f} {p['p95_ms']:>8.1f} {'':>10} {target:>9}  {ok}{err}", file=out)
    for rep in r["reports"]:
        ok = "yes" if rep["ms"] <= TARGETS["report_ms"] else "NO"
        name = f"{rep['name']} ({rep['audits']:,} audits)"
        print(f"{name:<52} {'':>8} {'':>8} {'':>8} {rep['ms']:>8.1f}ms {'≤25ms':>9}  {ok}", file=out)
    a = r["allocation"]
    name = f"monthly allocation ({a['allocations']:,} audits)"
    print(f"{name:<52} {'':>8} {'':>8} {'':>8} {a['s']:>9.2f}s {'≤1s':>9}  {'yes' if a['s'] <= TARGETS['allocation_s'] else 'NO'}", file=out)
    s = r["sweep"]
    name = f"deadline sweep ({s['acted_on']:,} of {s['open_deadlines']:,} open)"
    print(f"{name:<52} {'':>8} {'':>8} {'':>8} {s['s']:>9.2f}s {'≤2s':>9}  {'yes' if s['s'] <= TARGETS['sweep_s'] else 'NO'}", file=out)
    rss = r["server_peak_rss_mb"]
    rss_text = f"{rss:.0f}MB" if rss is not None else "n/a"
    print(f"{'server peak RSS (VmHWM)':<52} {'':>8} {'':>8} {'':>8} {rss_text:>10} {'≤250MB':>9}  "
          f"{'yes' if rss is not None and rss <= TARGETS['rss_mb'] else 'NO'}", file=out)
    if r["missed"]:
        print("targets missed:", file=out)
        for m in r["missed"]:
            print(f"  - {m}", file=out)


def run_cli(args) -> int:
    from core.cli import _prepare

    settings, plugins = _prepare()
    results = run_benchmark(settings, plugins, args.seconds, args.clients, args.scale, args.seed)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        raise SystemExit("usage: qaf bench run (this module's --serve is for the benchmark's own server)")
