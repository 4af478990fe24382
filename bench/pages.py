"""``qaf-bench pages``: what each staff page costs in-process, through qaf's
own app (issue 19 items 1 to 3).

The real app (``web.app.create_app``) is driven in this process through
Litestar's ``AsyncTestClient`` (ASGI, no sockets, no load generator), one
request after another, for a few users of each page in turn. For every
request it records the whole time, the statements the page ran (count, their
time including the hop to SQLite's worker thread or PostgreSQL's pool) and
the time of the page's template render. It prints, per page, the median of
each over many calls; ``--plans`` also prints the distinct statements of
each page with their query plan (``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN`` on PostgreSQL), marking a plan that scans a whole table.

Unlike ``qaf-bench run`` it measures no throughput: on a machine shared with
other work a median of in-process calls is the figure that stays put.

    QAF_DATA_DIR=/tmp/b/s1 uv run qaf-bench pages --calls 60 [--plans] [--json out.json]

It only reads (a GET of each page), but signing in writes sessions and the
trail: run it on a copy of generated data.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.run import PASSWORD


@dataclass
class Probe:
    """The statements and template renders of the request in progress."""

    on: bool = False
    statements: list[tuple[str, list, float]] = field(default_factory=list)
    render_ms: float = 0.0

    def reset(self) -> None:
        self.statements = []
        self.render_ms = 0.0


PROBE = Probe()


def install_probe() -> None:
    """Time every statement Piccolo's engines run, and every top-level
    template render (jinja2 ``Template.render``)."""
    import jinja2
    from piccolo.engine.postgres import PostgresEngine
    from piccolo.engine.sqlite import SQLiteEngine

    for cls in (SQLiteEngine, PostgresEngine):
        original = cls.run_querystring

        async def run_querystring(self, querystring, in_pool: bool = False, _original=original):
            if not PROBE.on:
                return await _original(self, querystring, in_pool=in_pool)
            sql, args = querystring.compile_string(engine_type=self.engine_type)
            t0 = time.perf_counter()
            try:
                return await _original(self, querystring, in_pool=in_pool)
            finally:
                PROBE.statements.append((sql, list(args), (time.perf_counter() - t0) * 1000))

        cls.run_querystring = run_querystring

    render = jinja2.Template.render

    def timed_render(self, *args, **kwargs):
        if not PROBE.on:
            return render(self, *args, **kwargs)
        t0 = time.perf_counter()
        try:
            return render(self, *args, **kwargs)
        finally:
            PROBE.render_ms += (time.perf_counter() - t0) * 1000

    jinja2.Template.render = timed_render


# ------------------------------------------------------------------ who asks for what


async def _column(sql: str, *args) -> list:
    from core.db.tables import Person

    return [next(iter(r.values())) for r in await Person.raw(sql, *args)]


async def page_users(per_page: int) -> dict[str, list[tuple[str, str]]]:
    """(username, path) of each page, as ``bench.run._users`` picks them where
    the same page is measured there."""
    auditors = await _column(
        "SELECT p.username FROM person p WHERE p.role IN ('team_manager', 'cp_chair', 'iro', 'lado') AND p.active = {}"
        " AND EXISTS (SELECT 1 FROM allocation a WHERE a.auditor = p.id) ORDER BY p.id LIMIT {}", True, per_page)
    forms = []
    for username in auditors:
        latest = await _column(
            "SELECT a.id FROM allocation a JOIN person p ON p.id = a.auditor WHERE p.username = {} ORDER BY a.id DESC LIMIT 1",
            username)
        forms.append((username, f"/audits/{latest[0]}"))
    qa = await _column("SELECT username FROM person WHERE role IN ('qa_officer', 'head_of_qa') AND active = {}"
                       " ORDER BY id LIMIT {}", True, per_page)
    practitioners = await _column(
        "SELECT username FROM person WHERE role = 'practitioner' AND active = {} ORDER BY id LIMIT {}", True, per_page)
    # The managers' home, as ``bench.run`` picks them (the line below them is
    # most of the council for a director).
    managers = await _column(
        "SELECT username FROM person WHERE role IN ('director', 'assistant_director', 'head_of_service',"
        " 'service_manager') AND active = {} ORDER BY id LIMIT {}", True, per_page)
    # A dispute page, asked for by the QA team (they see every dispute).
    disputes = await _column("SELECT id FROM dispute ORDER BY id DESC LIMIT {}", per_page)
    return {
        "home, auditor (/)": [(u, "/") for u in auditors],
        "home, QA (/)": [(u, "/") for u in qa],
        "home, practitioner (/)": [(u, "/") for u in practitioners],
        "home, manager (/)": [(u, "/") for u in managers],
        "my audits (/audits)": [(u, "/audits") for u in auditors],
        "QA queue (/qa)": [(u, "/qa") for u in qa],
        "audit form (/audits/{id})": forms,
        "leaders' overview (/reports)": [(u, "/reports") for u in qa],
        "actions (/actions)": [(u, "/actions") for u in auditors],
        "notifications (/notifications)": [(u, "/notifications") for u in auditors],
        "my programme (/programme/mine)": [(u, "/programme/mine") for u in auditors],
        "dispute (/disputes/{id})": [(qa[i % len(qa)], f"/disputes/{d}") for i, d in enumerate(disputes)] if qa else [],
    }


# ------------------------------------------------------------------ plans


async def plan(engine, sql: str, args: list) -> list[str]:
    """The statement's query plan, one line per step."""
    if engine.engine_type == "sqlite":
        import sqlite3

        from core.db.engine import sqlite_path
        from core.settings import get_settings

        with sqlite3.connect(sqlite_path(get_settings().database_url)) as c:
            rows = c.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
        return [r[3] for r in rows]
    import asyncpg

    from core.settings import get_settings

    connection = await asyncpg.connect(get_settings().database_url)
    try:
        rows = await connection.fetch(f"EXPLAIN {sql}", *args)
    finally:
        await connection.close()
    return [r[0] for r in rows]


# A step that reads a whole table (not through an index): SQLite's "SCAN t"
# without "USING ... INDEX", PostgreSQL's "Seq Scan".
_FULL_SCAN = re.compile(r"^SCAN (\w+)(?! USING)(?!.*INDEX)|Seq Scan on (\w+)")
# Tables of fixed size (definitions, people, teams): scanning them is bounded.
SMALL = {"organisation", "service", "team", "agency", "piccolo_migration", "body", "council_setting"}


def whole_table_scans(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        m = _FULL_SCAN.search(line.strip())
        if m and (m.group(1) or m.group(2)) not in SMALL:
            out.append(m.group(1) or m.group(2))
    return out


# ------------------------------------------------------------------ the run


async def _sign_in(client, username: str) -> None:
    page = await client.get("/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    response = await client.post("/login", data={"username": username, "password": PASSWORD,
                                                   "_csrf_token": token.group(1) if token else ""})
    if response.status_code not in (200, 303):
        raise RuntimeError(f"could not sign in as {username}: HTTP {response.status_code}")


async def measure(calls: int, per_page: int, only: list[str] | None, plans: bool, out=sys.stdout) -> dict:
    from litestar.testing import AsyncTestClient

    from core.cli import _migrate, _prepare
    from core.db.engine import current
    from web.app import create_app

    settings, plugins = _prepare()
    await _migrate()
    install_probe()
    app = create_app(settings, plugins)
    users = await page_users(per_page)
    results: dict[str, dict] = {}
    # One client (one app lifespan); each user's session is their cookies,
    # put on the client before each of their requests.
    async with AsyncTestClient(app, base_url="http://testserver.local") as client:
        engine = current()
        jars: dict[str, dict] = {}

        async def get(username: str, path: str):
            client.cookies.clear()
            client.cookies.update(jars[username])
            return await client.get(path)

        for name, who in users.items():
            if only and not any(o.lower() in name.lower() for o in only):
                continue
            if not who:
                print(f"{name}: nobody to ask", file=out)
                continue
            for username, _ in who:
                if username not in jars:
                    client.cookies.clear()
                    await _sign_in(client, username)
                    jars[username] = dict(client.cookies)
            sessions = who
            for username, path in sessions[:3]:  # warm: templates compiled, caches filled
                r = await get(username, path)
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: GET {path} answered {r.status_code}")
            totals, cpu, sql_ms, counts, render, sizes = [], [], [], [], [], []
            statements: dict[str, tuple[list, list[float]]] = {}
            for i in range(calls):
                username, path = sessions[i % len(sessions)]
                PROBE.reset()
                PROBE.on = True
                t0, c0 = time.perf_counter(), time.process_time()
                r = await get(username, path)
                totals.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                PROBE.on = False
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: GET {path} answered {r.status_code}")
                sizes.append(len(r.content))
                counts.append(len(PROBE.statements))
                sql_ms.append(sum(s[2] for s in PROBE.statements))
                render.append(PROBE.render_ms)
                for sql, args, ms in PROBE.statements:
                    statements.setdefault(sql, (args, []))[1].append(ms)
            row = {
                "median_ms": statistics.median(totals), "cpu_ms": statistics.median(cpu), "p90_ms": sorted(totals)[int(0.9 * (len(totals) - 1))],
                "statements": statistics.median(counts), "sql_ms": statistics.median(sql_ms),
                "render_ms": statistics.median(render), "html_kb": statistics.median(sizes) / 1024,
                "calls": calls, "users": len({u for u, _ in sessions}),
            }
            if plans:
                row["plans"] = []
                for sql, (args, times) in sorted(statements.items(), key=lambda kv: -sum(kv[1][1])):
                    try:
                        lines = await plan(engine, sql, args)
                    except Exception as error:  # a statement EXPLAIN cannot take: say so, go on
                        lines = [f"(no plan: {type(error).__name__})"]
                    row["plans"].append({"sql": sql, "args": args, "calls": len(times), "median_ms": statistics.median(times),
                                         "plan": lines, "scans": whole_table_scans(lines)})
            results[name] = row
            print(f"{name:32} {row['median_ms']:7.2f} ms  cpu {row['cpu_ms']:6.2f}  p90 {row['p90_ms']:7.2f}  statements {row['statements']:4.0f}"
                  f"  sql {row['sql_ms']:6.2f} ms  render {row['render_ms']:6.2f} ms  {row['html_kb']:5.1f} KB", file=out)
            if plans:
                for p in row["plans"]:
                    flag = " SCANS " + ",".join(p["scans"]) if p["scans"] else ""
                    print(f"    {p['median_ms']:7.2f} ms ×{p['calls'] / calls:4.1f}{flag}  {p['sql'][:160]}", file=out)
                    for line in p["plan"]:
                        print(f"        {line}", file=out)
            out.flush()
    return results


def run_cli(args) -> int:
    results = asyncio.run(measure(args.calls, args.users, args.only, args.plans))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0
