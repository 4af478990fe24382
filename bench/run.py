"""``qaf-bench run``: the real server on loopback, driven by concurrent clients
for a bounded time, then the reports, a monthly issue (draw and programme work) and a deadline
sweep timed over the same data. Prints one table; ``--json`` writes it too.

The server is the product's app (``web.app.create_app``) served by uvicorn as
``qaf serve`` does, in a subprocess, with one extra route registered only in
this process: ``/__bench/floor``, a bare Litestar handler (no database), which
measures the framework's floor with the same middleware (sessions, CSRF, …).
With ``--workers N`` (PostgreSQL) it serves as ``qaf serve --workers N`` does
(``core.cli.serve_workers``: N uvicorn worker processes, each with that route),
and each page's row carries the server's CPU per request.

The load generator is ``wrk`` when it is on PATH (one thread, so the other
core is the server's; sign-in stays in httpx, and wrk's Lua script cycles
every request through the signed-in users' session cookies), else httpx in
this process, which on a 2-core machine saturates a core itself at a few
hundred req/s. ``QAF_BENCH_LOAD=httpx`` forces the fallback. Either way any
answer but a 200 is an error. The table's header names the generator.

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
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "qaf-demo-2026"
PARTNERSHIP = "partnership"  # its pages are measured when it is one of QAF_COUNCILS (run_cli adds it)
FLOOR_PATH = "/__bench/floor"

# Issue 19's targets for every staff page (one worker, 50 clients): at least
# 200 req/s with p95 at most 250 ms, at least 0.6 of its query+render floor,
# and that floor at most 2 ms a page in-process.
TARGETS = {
    "page_p95_ms": 250.0,
    "page_rps": 200.0,
    "page_floor_ms": 2.0,  # the in-process query+render floor's median, at most
    "page_floor_ratio": 0.6,  # page req/s ÷ its query+render floor req/s, at least
    "report_raw_ratio": 1.5,  # qaf report time ÷ best raw SQL time, at most
    "report_ms": 25.0,
    "allocation_s": 1.0,
    "sweep_s": 2.0,
    "rss_mb": 250.0,
}


# ------------------------------------------------------------------ the server


# How ``serve`` runs uvicorn, for the table's header. ``qaf serve`` logs every
# request unless --quiet; a log line per request costs throughput, so the
# bench server turns the access log off.
def server_note(workers: int = 1) -> str:
    import importlib.util

    fast = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m)]
    how = "1 worker" if workers <= 1 else f"{workers} workers (processes, as qaf serve --workers {workers})"
    return f"uvicorn, {how}, {' + '.join(fast) or 'asyncio + h11'}, access log off"


def _with_floor(app):
    from litestar import get

    @get(FLOOR_PATH, include_in_schema=False, sync_to_thread=False)
    def floor() -> dict:
        return {"ok": True}

    app.register(floor)
    return app


def worker_app():
    """Each worker process's app under ``--workers N``: the product's own
    (``web.asgi.worker_app``, what ``qaf serve --workers N`` runs) plus the
    floor route; then it says it is built (``start_server`` waits for all N)."""
    from web.asgi import worker_app as product_worker_app

    app = _with_floor(product_worker_app())
    ready = os.environ.get("QAF_BENCH_READY_DIR")
    if ready:
        (Path(ready) / str(os.getpid())).touch()
    return app


def serve(port: int, workers: int = 1) -> None:
    """The server process: ``qaf serve`` (``--workers N``) plus the floor route."""
    import uvicorn

    from core.cli import _migrate, _prepare, serve_workers

    settings, plugins = _prepare()
    asyncio.run(_migrate())
    options = dict(host="127.0.0.1", port=port, access_log=False, log_level="warning")
    if workers > 1:
        # The product's path for several processes (core.cli.serve_workers).
        serve_workers("bench.run:worker_app", settings, workers, log_requests=False, **options)
        return
    from web.app import create_app

    uvicorn.run(_with_floor(create_app(settings, plugins)), **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen, str]:
    """The bench server on loopback, answering ``/healthz``; with ``workers``
    > 1 every worker process has built its app first."""
    import httpx

    # QAF_BENCH_PORT: a port of one's own on a shared machine; else any free one.
    port = int(os.environ.get("QAF_BENCH_PORT") or 0) or _free_port()
    # The benchmark measures pages, not signing in: its QA users (a second
    # factor is asked of the QA team) sign in by password alone.
    env = env | {"QAF_SWEEP_SECONDS": "0", "QAF_SECOND_FACTOR": "off", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))}
    ready = Path(tempfile.mkdtemp(prefix="qaf-bench-ready-"))
    env["QAF_BENCH_READY_DIR"] = str(ready)
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--serve", str(port), str(workers)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the bench server exited: {server.stdout.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200 and (
                    workers <= 1 or len(list(ready.iterdir())) >= workers):
                shutil.rmtree(ready, ignore_errors=True)
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    shutil.rmtree(ready, ignore_errors=True)
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


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux): uvicorn's worker processes are
    children of the server process."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server's processes (the qaf processes,
    not PostgreSQL's), from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / ticks, sum(values[:8]) / ticks


class CpuProbe:
    """The server's CPU time and the machine's busy cores over the timed part
    of a page's load (sign-in excluded: argon2 is meant to be slow)."""

    def __init__(self, pid: int):
        self.pid = pid

    def start(self) -> None:
        self.cpu0, self.machine0 = server_cpu_seconds(self.pid), machine_busy_seconds()

    def stop(self, result: "PageResult") -> None:
        cpu = server_cpu_seconds(self.pid) - self.cpu0
        busy, total = (b - a for a, b in zip(self.machine0, machine_busy_seconds()))
        cores = os.cpu_count() or 1
        result.server_cpu_ms_per_request = cpu * 1000 / result.requests if result.requests else None
        result.server_cores = cpu / result.seconds if result.seconds else None
        result.machine_busy_cores = busy / total * cores if total else None


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of the process (Linux): its peak resident set; with several
    workers, the largest worker's (the supervising process only waits)."""
    tree = _process_tree(pid)
    if len(tree) > 1:
        peaks = [p for p in (_vm_hwm(c) for c in tree[1:]) if p is not None]
        return max(peaks) if peaks else None
    return _vm_hwm(pid)


def _vm_hwm(pid: int) -> float | None:
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
    floor_rps: float | None = None  # its query+render floor (bench.floor)
    floor_ratio: float | None = None  # rps ÷ floor_rps
    server_cpu_ms_per_request: float | None = None  # the server processes' CPU ÷ requests, timed part only
    server_cores: float | None = None  # the server processes' CPU ÷ wall time
    machine_busy_cores: float | None = None  # every process's, load generator and database included


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


def load_generator() -> tuple[str, str | None]:
    """Which load generator drives the pages: ``wrk`` when it is on PATH (C,
    one thread: a Python client on the same two cores as the server eats the
    CPU and measures itself, not qaf), else the httpx fallback.
    ``QAF_BENCH_LOAD=httpx`` forces the fallback, ``=wrk`` requires wrk."""
    wanted = os.environ.get("QAF_BENCH_LOAD", "").strip().lower()
    if wanted not in ("", "wrk", "httpx"):
        raise SystemExit(f"QAF_BENCH_LOAD must be wrk or httpx, not {wanted!r}")
    path = shutil.which("wrk") if wanted != "httpx" else None
    if wanted == "wrk" and path is None:
        raise SystemExit("QAF_BENCH_LOAD=wrk but wrk is not on PATH (apt-get install wrk)")
    return ("wrk", path) if path else ("httpx", None)


async def _signed_in(url: str, users: list[tuple[str, str]], clients: int):
    """``clients`` httpx clients (one connection each), each signed in as its
    user (cycling through ``users``), with the path it GETs. Not timed. The
    caller closes them."""
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    sessions = []
    try:
        for i in range(clients):
            sessions.append((httpx.AsyncClient(base_url=url, timeout=120, limits=limits), users[i % len(users)][1]))
        # A few at a time (argon2 is meant to be slow).
        signer = asyncio.Semaphore(8)

        async def signed(client, username):
            if username:
                async with signer:
                    await sign_in(client, username)

        await asyncio.gather(*(signed(c, users[i % len(users)][0]) for i, (c, _) in enumerate(sessions)))
    except BaseException:
        for client, _ in sessions:
            await client.aclose()
        raise
    return sessions


async def load(url: str, name: str, users: list[tuple[str, str]], clients: int, seconds: float,
               max_requests: int = 1_000_000, generator: tuple[str, str | None] = ("httpx", None),
               probe: CpuProbe | None = None) -> PageResult:
    """``clients`` concurrent signed-in clients, each GETting its own path for
    ``seconds``: through wrk when ``generator`` names it, else httpx (at most
    ``max_requests`` in all). Anything but a 200 is an error (a stale cookie
    answers 302 to /login, fast, and must not count as a fast page)."""
    if generator[0] == "wrk":
        return await load_wrk(url, name, users, clients, seconds, generator[1], probe=probe)
    return await load_httpx(url, name, users, clients, seconds, max_requests, probe=probe)


async def load_httpx(url: str, name: str, users: list[tuple[str, str]], clients: int, seconds: float,
                     max_requests: int = 1_000_000, probe: CpuProbe | None = None) -> PageResult:
    """The fallback: the clients are httpx, in this process, looping for ``seconds``."""
    import httpx

    result = PageResult(name, users[0][1] if users else "", clients)
    latencies: list[float] = []
    sessions = await _signed_in(url, users, clients)
    try:
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
        if probe:
            probe.start()
        await asyncio.gather(*(worker(c, p) for c, p in sessions))
        result.seconds = time.monotonic() - started
    finally:
        for client, _ in sessions:
            await client.aclose()
    result.requests = len(latencies)
    result.rps = result.requests / result.seconds if result.seconds else 0.0
    result.p50_ms = _percentile(latencies, 0.50)
    result.p95_ms = _percentile(latencies, 0.95)
    if probe:
        probe.stop(result)
    return result


def _lua_string(text: str) -> str:
    """A Lua string literal for ``text`` (cookie values and paths are ASCII;
    anything else is escaped byte by byte)."""
    safe = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.=;/:%+,@!~*()[]{}<>?&#$^|'")
    return '"' + "".join(chr(b) if b in safe else f"\\{b:03d}" for b in text.encode()) + '"'


# wrk runs request() for every request (so each carries the next user's
# session), response() for every response (status counts: wrk's own
# errors.status only counts >= 400, so a 302 to /login would look like a fast
# page), and done() once, in the main Lua state, reading each thread's counts.
_WRK_LUA = """
local pairs_ = {
%(pairs)s
}
local out_path = %(out)s
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  n = 0
end

function request()
  n = n + 1
  local p = pairs_[(n - 1) %% #pairs_ + 1]
  if p[1] == "" then
    return wrk.format("GET", p[2])
  end
  return wrk.format("GET", p[2], {["Cookie"] = p[1]})
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for code, k in pairs(t:get("statuses")) do
      counts[code] = (counts[code] or 0) + k
    end
  end
  local parts = {}
  for code, k in pairs(counts) do
    table.insert(parts, string.format('"%%d": %%d', code, k))
  end
  local e = summary.errors
  local f = assert(io.open(out_path, "w"))
  f:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, ' ..
    '"timeout": %%d, "p50_us": %%d, "p95_us": %%d, "max_us": %%d, "statuses": {%%s}}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency.max, table.concat(parts, ", ")))
  f:close()
end
"""


def wrk_script(pairs: list[tuple[str, str]], out_path: Path) -> str:
    """The Lua script for wrk: cycle through the (cookie header, path) pairs;
    in ``done()`` write the counts and latency percentiles as JSON to ``out_path``."""
    rows = ",\n".join(f"  {{{_lua_string(cookie)}, {_lua_string(path)}}}" for cookie, path in pairs)
    return _WRK_LUA % {"pairs": rows, "out": _lua_string(str(out_path))}


def wrk_result(data: dict, result: PageResult) -> PageResult:
    """Fill ``result`` from the JSON ``done()`` wrote. Requests are the
    responses received (any status); errors are the non-200 responses plus
    wrk's socket errors (connect, read, write, timeout: a request over
    ``--timeout`` is not in the latency percentiles, only here)."""
    result.requests = int(data["requests"])
    result.seconds = data["duration_us"] / 1e6
    result.statuses = {str(k): int(v) for k, v in sorted(data["statuses"].items())}
    for kind in ("connect", "read", "write", "timeout"):
        if data.get(kind):
            result.statuses[kind] = int(data[kind])
    result.errors = sum(v for k, v in result.statuses.items() if k != "200")
    result.rps = result.requests / result.seconds if result.seconds else 0.0
    result.p50_ms = data["p50_us"] / 1000
    result.p95_ms = data["p95_us"] / 1000
    return result


async def load_wrk(url: str, name: str, users: list[tuple[str, str]], clients: int, seconds: float,
                   wrk: str | None = None, probe: CpuProbe | None = None) -> PageResult:
    """Sign the clients in with httpx (as ``load_httpx``), then hand their
    session cookies to wrk: one thread (the other core is the server's),
    ``clients`` connections, ``seconds``, every request with a real user's
    session, cycling through them."""
    result = PageResult(name, users[0][1] if users else "", clients)
    sessions = await _signed_in(url, users, clients)
    try:
        pairs = [("; ".join(f"{c.name}={c.value}" for c in client.cookies.jar), path) for client, path in sessions]
    finally:
        for client, _ in sessions:
            await client.aclose()
    with tempfile.TemporaryDirectory(prefix="qaf-wrk-") as tmp:
        out_path = Path(tmp) / "result.json"
        script = Path(tmp) / "pages.lua"
        script.write_text(wrk_script(pairs, out_path))
        command = [wrk or "wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                   "-s", str(script), url]
        if probe:
            probe.start()
        done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True,
                                       timeout=seconds + 120)
        if done.returncode != 0 or not out_path.exists():
            raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stdout}{done.stderr}")
        result = wrk_result(json.loads(out_path.read_text()), result)
        if probe:
            probe.stop(result)
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


async def time_allocation(registry) -> dict:
    """The monthly issue for the month after the latest cycle, as the sweep
    makes it on that month's first working day (``work.issue_due``): the
    month's case draw (the real ``issue_cycle``), then the programme's work
    whose period has opened (``issue_due_work``: a generated database has
    none yet, so this issues every open occurrence, ≈575 at scale 1)."""
    from core.calendar import UTC, first_working_day
    from core.db.tables import Cycle, Organisation
    from core.services.context import Context
    from core.services.cycles import issue_due_cycles
    from core.services.work import issue_due_work

    org = (await Organisation.select(Organisation.id).where(Organisation.council == "haringey").first())["id"]
    latest = await Cycle.select(Cycle.year, Cycle.month).where(Cycle.organisation == org).order_by(
        Cycle.year, ascending=False).order_by(Cycle.month, ascending=False).first()
    year, month = (latest["year"] + 1, 1) if latest["month"] == 12 else (latest["year"], latest["month"] + 1)
    # The bank-holiday calendar's first use loads the ``holidays`` package's
    # data (≈0.5 s, once per process; a running server has paid it at start).
    ctx = Context(registry=registry, now=dt.datetime.combine(first_working_day(year, month), dt.time(7), tzinfo=UTC))
    t0 = time.perf_counter()
    issued = await issue_due_cycles(ctx)
    t1 = time.perf_counter()
    work = await issue_due_work(ctx)
    t2 = time.perf_counter()
    return {"name": "monthly issue", "month": f"{year}-{month:02d}", "allocations": sum(i.allocations for i in issued),
            "work": work, "draw_s": t1 - t0, "work_s": t2 - t1, "s": t2 - t0}


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
    from core.db.tables import Allocation, Dispute, Organisation, Person

    # The generated council's people (the partnership's have roles of the same names).
    org = (await Organisation.select(Organisation.id).where(Organisation.council == "haringey").first())["id"]
    ours = Person.organisation == org
    auditors = await Person.select(Person.id, Person.username).where(
        Person.role.is_in(["team_manager", "cp_chair", "iro", "lado"]) & (Person.active == True) & ours  # noqa: E712
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
        Person.role.is_in(["qa_officer", "head_of_qa"]) & ours).order_by(Person.id).limit(per_role)]
    leaders = [(p["username"], "/reports") for p in await Person.select(Person.username).where(
        Person.role.is_in(["head_of_qa", "qa_officer"]) & ours).order_by(Person.id).limit(per_role)]
    managers = [(p["username"], "/") for p in await Person.select(Person.username).where(
        Person.role.is_in(["director", "assistant_director", "head_of_service", "service_manager"])
        & (Person.active == True) & ours).order_by(Person.id).limit(per_role)]  # noqa: E712
    pages = {
        "framework floor (bare Litestar route)": [("", FLOOR_PATH)],
        "health check (/healthz, one DB query)": [("", "/healthz")],
        "my audits (/audits)": mine,
        "QA queue (/qa)": qa,
        "audit form (/audits/{id})": forms,
        "dashboard (/reports, this month)": leaders,
        # Issue 19 item 7: the pages the programme-work, partnership and
        # home-page issues added.
        "home page, an auditor (/)": [(u, "/") for u, _ in mine],
        "home page, the QA team (/)": [(u, "/") for u, _ in qa],
        "home page, a manager (/)": managers,
        "my programme (/programme/mine)": [(u, "/programme/mine") for u, _ in mine],
        "people (/people, administrators)": [(u, "/people") for u, _ in qa],
        "programme delivery report (/programme/delivery)": [(u, "/programme/delivery") for u, _ in qa],
        # Issue 19 item 1 names these staff pages too.
        "actions (/actions)": [(u, "/actions") for u, _ in mine],
        "notifications (/notifications)": [(u, "/notifications") for u, _ in mine],
    }
    # A dispute page, asked for by the QA team (they see every dispute), as
    # ``bench.pages`` picks them.
    disputes = [r["id"] for r in await Dispute.select(Dispute.id).order_by(Dispute.id, ascending=False).limit(per_role)]
    if disputes and qa:
        pages["a dispute (/disputes/{id})"] = [(qa[i % len(qa)][0], f"/disputes/{d}") for i, d in enumerate(disputes)]
    pages.update(await _partnership_users(per_role))
    return pages


async def _partnership_users(per_role: int) -> dict[str, list[tuple[str, str]]]:
    """The partnership's pages (issue 14), where the partnership is one of the
    councils served: its QA manager's agency requests, scorecard and reports
    (the demo's, which ``run_benchmark`` loads: the generated data is
    Haringey's)."""
    from core.db.tables import AgencyRequest, Organisation, Person

    org = await Organisation.select(Organisation.id).where(Organisation.council == PARTNERSHIP).first()
    if org is None:
        return {}
    qa = [(p["username"], "") for p in await Person.select(Person.username).where(
        (Person.organisation == org["id"]) & Person.role.is_in(["qa_manager"])).order_by(Person.id).limit(per_role)]
    request = await AgencyRequest.select(AgencyRequest.id).where(AgencyRequest.organisation == org["id"]).order_by(
        AgencyRequest.id).first()
    pages = {
        "agency requests (/requests)": [(u, "/requests") for u, _ in qa],
        "partnership scorecard (/partnership/scorecard)": [(u, "/partnership/scorecard") for u, _ in qa],
        "partnership reports (/partnership/requests)": [(u, "/partnership/requests") for u, _ in qa],
    }
    if request is not None:
        pages["a partnership report (/partnership/requests/{id})"] = [
            (u, f"/partnership/requests/{request['id']}") for u, _ in qa]
    return pages


async def _counts() -> dict[str, int]:
    from core.db.tables import TABLES

    return {t._meta.tablename: await t.count() for t in TABLES}


def run_benchmark(settings, plugins, seconds: float, clients: int, scale: float | None, seed: int,
                  out=sys.stdout, env: dict[str, str] | None = None, pages_wanted: str = "", workers: int = 1) -> dict:
    from core.cli import _migrate
    from core.db.tables import Organisation

    registry = plugins.registry
    started = time.monotonic()

    async def prepare():
        await _migrate()
        generated = None
        if not await Organisation.exists():
            if scale is None:
                raise SystemExit("qaf-bench run: the database is empty; pass --scale N or run qaf-bench generate first")
            from bench.generate import generate

            generated = await generate(registry, scale, seed)
        if PARTNERSHIP in registry.councils and not await Organisation.exists().where(Organisation.council == PARTNERSHIP):
            # The partnership's pages on its demo (scorecard, requests and their returns).
            from core.services.context import Context
            from core.services.demo import load_demo

            await load_demo(Context(registry=registry), PARTNERSHIP, examples=True)
        return generated, await _counts(), await _users(registry, per_role=clients)

    generated, counts, users = asyncio.run(prepare())
    generator = load_generator()
    server, url = start_server(dict(env or os.environ), workers)
    probe = CpuProbe(server.pid)
    pages: list[PageResult] = []
    try:
        wanted = [w.strip() for w in pages_wanted.split(",") if w.strip()]
        for name, who in users.items():
            if not who:
                continue
            if wanted and not name.startswith(("framework", "health")) and not any(w in name for w in wanted):
                continue
            _drain(url)  # requests left over from the last page finish before this one starts
            result = asyncio.run(load(url, name, who, clients, seconds, generator=generator, probe=probe))
            result.name = name
            pages.append(result)
        rss = peak_rss_mb(server.pid)
    finally:
        stop_server(server)

    # In-process, with the server stopped: the floors have the cores to themselves.
    from bench.floor import run_floors
    from bench.rawreports import compare_reports

    floors, floor_choices = asyncio.run(run_floors(registry, users, seconds))
    by_page = {f["name"]: f for f in floors}
    for p in pages:
        floor = by_page.get(p.name)
        p.floor_rps = floor["rps"] if floor else None
        p.floor_ratio = p.rps / floor["rps"] if floor and floor["rps"] else None

    async def timed():
        # In-process timings use the database as the server does: on
        # PostgreSQL through the same connection pool (the app's lifespan
        # starts one), not a new connection per query.
        from core.db.engine import current

        engine = current()
        pooled = engine.engine_type == "postgres" and settings.database_pool_size > 0
        if pooled:
            await engine.start_connection_pool(min_size=1, max_size=settings.database_pool_size)
        try:
            return (await compare_reports(registry), await time_allocation(registry), await time_sweep(registry))
        finally:
            if pooled:
                await engine.close_connection_pool()

    (reports_, report_choices), allocation, sweep_ = asyncio.run(timed())
    results = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "scale": generated.scale if generated else scale,
        "rows": counts,
        "clients": clients,
        "seconds_per_page": seconds,
        "load_generator": _describe_generator(generator),
        "workers": workers,
        "server": server_note(workers),
        "pages": [asdict(p) for p in pages],
        "floors": floors,
        "reports": reports_,
        "sql_choices": floor_choices + report_choices,
        "allocation": allocation,
        "sweep": sweep_,
        "server_peak_rss_mb": rss,
        "targets": TARGETS,
        "total_seconds": time.monotonic() - started,
    }
    results["missed"] = missed(results)
    print_table(results, out)
    return results


def _describe_generator(generator: tuple[str, str | None]) -> str:
    if generator[0] != "wrk":
        return "httpx (Python, in the benchmark process: shares the 2 cores, measures itself above a few hundred req/s)"
    version = subprocess.run([generator[1], "-v"], capture_output=True, text=True).stdout.split(" [")[0].strip()
    return f"{version or 'wrk'} (-t1, -c clients, --timeout 30s, requests cycle through the signed-in sessions)"


def missed(results: dict) -> list[str]:
    out = []
    for p in results["pages"]:
        if not p["name"].startswith(("framework", "health")) and p["p95_ms"] > TARGETS["page_p95_ms"]:
            out.append(f"{p['name']}: p95 {p['p95_ms']:.0f} ms > {TARGETS['page_p95_ms']:.0f} ms")
        if not p["name"].startswith(("framework", "health")) and p["rps"] < TARGETS["page_rps"]:
            out.append(f"{p['name']}: {p['rps']:.0f} req/s < {TARGETS['page_rps']:.0f}")
        if p["errors"]:
            out.append(f"{p['name']}: {p['errors']} non-200 responses {p['statuses']}")
        ratio = p.get("floor_ratio")
        if ratio is not None and ratio < TARGETS["page_floor_ratio"]:
            out.append(f"{p['name']}: {ratio:.2f} of its query+render floor < {TARGETS['page_floor_ratio']}")
    for f in results.get("floors", []):
        if f["p50_ms"] > TARGETS["page_floor_ms"]:
            out.append(f"query+render floor of {f['name']}: {f['p50_ms']:.1f} ms > {TARGETS['page_floor_ms']:g} ms")
    for r in results["reports"]:
        if r["ms"] is None:
            continue
        if r["ms"] > TARGETS["report_ms"]:
            out.append(f"{r['name']}: {r['ms']:.0f} ms > {TARGETS['report_ms']:.0f} ms")
        if r["ratio"] is not None and r["ratio"] > TARGETS["report_raw_ratio"]:
            out.append(f"{r['name']}: {r['ratio']:.1f}× the best raw SQL > {TARGETS['report_raw_ratio']}×")
    if results["allocation"]["s"] > TARGETS["allocation_s"]:
        out.append(f"monthly issue: {results['allocation']['s']:.2f} s > {TARGETS['allocation_s']:.0f} s")
    if results["sweep"]["s"] > TARGETS["sweep_s"]:
        out.append(f"deadline sweep: {results['sweep']['s']:.2f} s > {TARGETS['sweep_s']:.0f} s")
    rss = results["server_peak_rss_mb"]
    if rss is not None and rss > TARGETS["rss_mb"]:
        out.append(f"server peak RSS: {rss:.0f} MB > {TARGETS['rss_mb']:.0f} MB")
    return out


def _ms(value: float | None) -> str:
    return "" if value is None else (f"{value:.1f}ms" if value < 1000 else f"{value / 1000:.2f}s")


def print_table(r: dict, out=sys.stdout) -> None:
    """One table: pages (with their floors), reports against their raw SQL,
    allocation, sweep, RSS. ``floor`` is the floor's req/s for a page, the
    best raw SQL's time for a report; ``ratio`` is page÷floor req/s, or
    qaf÷raw time."""
    rows = r["rows"]
    t = r["targets"]
    print(f"\nqaf-bench: {r['database']}, scale {r['scale'] if r['scale'] is not None else '(existing data)'}; "
          f"{rows.get('person', 0):,} staff, {rows.get('child_case', 0):,} cases, {rows.get('allocation', 0):,} audits, "
          f"{rows.get('action', 0):,} actions, {rows.get('trail', 0):,} trail rows; "
          f"{r['clients']} clients, {r['seconds_per_page']:g} s per page; "
          f"{r.get('workers', 1)} worker{'' if r.get('workers', 1) == 1 else 's'}", file=out)
    print(f"load generator: {r.get('load_generator', 'httpx')}; server: {r.get('server', '')}", file=out)
    line = (f"{'measure':<56} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'time':>9} {'floor':>9} {'ratio':>6}"
            f" {'target':>24}  ok")
    print(line, file=out)
    print("-" * len(line), file=out)

    def emit(name, rps="", p50="", p95="", time="", floor="", ratio="", target="", ok=""):
        print(f"{name:<56} {rps:>7} {p50:>8} {p95:>8} {time:>9} {floor:>9} {ratio:>6} {target:>24}  {ok}", file=out)

    floors = {f["name"]: f for f in r.get("floors", [])}
    for p in r["pages"]:
        staff = not p["name"].startswith(("framework", "health"))
        err = f" ({p['errors']} errors)" if p["errors"] else ""
        ratio = p.get("floor_ratio")
        if not staff:
            emit(p["name"], f"{p['rps']:.0f}", f"{p['p50_ms']:.1f}", f"{p['p95_ms']:.1f}", ok=err.strip())
            continue
        good = (p["p95_ms"] <= t["page_p95_ms"] and p["rps"] >= t.get("page_rps", 0) and not p["errors"]
                and (ratio is None or ratio >= t["page_floor_ratio"]))
        emit(p["name"], f"{p['rps']:.0f}", f"{p['p50_ms']:.1f}", f"{p['p95_ms']:.1f}",
             floor=f"{p['floor_rps']:.0f}/s" if p.get("floor_rps") else "", ratio=f"{ratio:.2f}" if ratio is not None else "",
             target=f"≥{t.get('page_rps', 0):.0f}/s ≥{t['page_floor_ratio']:g} p95≤{t['page_p95_ms']:.0f}ms",
             ok=("yes" if good else "NO") + err)
    for name, f in floors.items():
        emit(f"  query+render floor: {name.split(' (')[0]} (in-process)", f"{f['rps']:.0f}", f"{f['p50_ms']:.2f}", f"{f['p95_ms']:.2f}",
             target=f"p50≤{t.get('page_floor_ms', 2.0):g}ms", ok="yes" if f["p50_ms"] <= t.get("page_floor_ms", 2.0) else "NO")
    for rep in r["reports"]:
        name = rep["name"] + (f" ({rep['audits']:,} audits)" if rep.get("audits") is not None else "") + \
            (f" ({rep['rows']:,} rows)" if rep.get("rows") is not None else "")
        if rep["ms"] is None:
            emit(name, ok=f"n/a: {rep.get('note', '')}")
            continue
        ratio = rep["ratio"]
        good = rep["ms"] <= t["report_ms"] and (ratio is None or ratio <= t["report_raw_ratio"])
        emit(name, time=_ms(rep["ms"]), floor=_ms(rep["raw_ms"]), ratio=f"{ratio:.1f}×" if ratio is not None else "",
             target=f"≤{t['report_ms']:.0f}ms ≤{t['report_raw_ratio']:g}×", ok="yes" if good else "NO")
    a = r["allocation"]
    emit(f"monthly issue ({a['allocations']:,} audits drawn, {a.get('work', 0):,} pieces of work)", time=f"{a['s']:.2f}s", target=f"≤{t['allocation_s']:g}s",
         ok="yes" if a["s"] <= t["allocation_s"] else "NO")
    sw = r["sweep"]
    emit(f"deadline sweep ({sw['acted_on']:,} of {sw['open_deadlines']:,} open)", time=f"{sw['s']:.2f}s",
         target=f"≤{t['sweep_s']:g}s", ok="yes" if sw["s"] <= t["sweep_s"] else "NO")
    rss = r["server_peak_rss_mb"]
    emit("server peak RSS (VmHWM)", time=f"{rss:.0f}MB" if rss is not None else "n/a", target=f"≤{t['rss_mb']:.0f}MB",
         ok="yes" if rss is not None and rss <= t["rss_mb"] else "NO")
    cpu = [p for p in r["pages"] if p.get("server_cpu_ms_per_request") is not None]
    if cpu:
        # Where the cores went while each page was driven: the server's
        # processes (CPU per request, cores used) and the whole machine (the
        # load generator and PostgreSQL share the cores).
        print(f"server CPU while driven ({r.get('workers', 1)} worker{'' if r.get('workers', 1) == 1 else 's'}, "
              f"{os.cpu_count()} cores):", file=out)
        for p in cpu:
            print(f"  {p['name']:<54} {p['server_cpu_ms_per_request']:6.2f} ms CPU per request; server "
                  f"{p['server_cores']:.2f} cores, machine {p['machine_busy_cores']:.2f} busy", file=out)
    disagree = [c["query"] for c in r.get("sql_choices", []) if not c["agree"]]
    if disagree:
        print(f"raw SQL candidates that disagreed (floor may be wrong): {', '.join(disagree)}", file=out)
    if r["missed"]:
        print("targets missed:", file=out)
        for m in r["missed"]:
            print(f"  - {m}", file=out)


def run_cli(args) -> int:
    from core.cli import SQLITE_ONE_WORKER, _prepare

    # The partnership's pages too, unless QAF_COUNCILS says which councils to serve.
    os.environ.setdefault("QAF_COUNCILS", f"haringey,{PARTNERSHIP}")
    settings, plugins = _prepare()
    workers = getattr(args, "workers", 1)
    if workers < 1:
        print("qaf-bench run: --workers must be 1 or more", file=sys.stderr)
        return 2
    if workers > 1 and settings.is_sqlite:
        # As qaf serve --workers N refuses: the benchmark measures what a council can run.
        print(f"qaf-bench run: {SQLITE_ONE_WORKER}, so --workers {workers} cannot be measured on it", file=sys.stderr)
        return 2
    results = run_benchmark(settings, plugins, args.seconds, args.clients, args.scale, args.seed,
                            pages_wanted=getattr(args, "pages", ""), workers=workers)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) == 4 else 1)
    else:
        raise SystemExit("usage: qaf-bench run (this module's --serve is for the benchmark's own server)")
