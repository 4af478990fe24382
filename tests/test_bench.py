"""The scale benchmark in its small mode, so it cannot rot: generate at
``--scale 0.01`` (SQLite and PostgreSQL, deterministic for a seed) and run
``qaf-bench run`` for half a second per page. The benchmark is a development tool,
the workspace member ``qaf-bench`` (bench/pyproject.toml) with its own
command; the product's ``qaf`` has none. Asserts the table's shape and sane
numbers, never the timing targets (docs/performance.md records those)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import process_env

QAF = str(Path(sys.executable).with_name("qaf"))
BENCH = str(Path(sys.executable).with_name("qaf-bench"))
AS_OF = "2026-11-20T06:00:00+00:00"

# Columns that differ between two runs for reasons other than the generator:
# argon2 salts of the demo accounts.
_SKIP = {("person", "password_hash")}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return process_env(QAF_DATA_DIR=str(tmp_path), QAF_SWEEP_SECONDS="0", **extra)


def _qaf(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([QAF, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _bench(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([BENCH, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _sqlite_digest(path: Path) -> dict[str, str]:
    import sqlite3

    out = {}
    with sqlite3.connect(path) as db:
        for table in ("person", "child_case", "cycle", "allocation", "grade", "review", "deadline", "dispute",
                      "action", "action_update", "notification", "trail", "follow_up"):
            columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")') if (table, r[1]) not in _SKIP]
            digest = hashlib.sha256()
            for row in db.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{table}" ORDER BY id'):
                digest.update(repr(row).encode())
            out[table] = digest.hexdigest()
    return out


def test_generate_is_deterministic_and_the_benchmark_prints_every_row_on_sqlite(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for where in (first, second):
        made = _bench("generate", "--scale", "0.01", "--seed", "7", "--as-of", AS_OF, env=_env(where))
        assert made.returncode == 0, made.stderr
    assert "allocation" in made.stdout and "trail" in made.stdout
    assert "123/123" in made.stderr  # the progress line reached the end
    assert _sqlite_digest(first / "qaf.sqlite3") == _sqlite_digest(second / "qaf.sqlite3")

    out = tmp_path / "bench.json"
    # The load generator is wrk where it is installed (.ci/run installs it),
    # else the httpx fallback; the PostgreSQL run below forces the fallback.
    generator = "wrk" if shutil.which("wrk") else "httpx"
    run = _bench("run", "--seconds", "0.5", "--clients", "4", "--json", str(out), env=_env(first))
    assert run.returncode == 0, run.stderr
    assert f"load generator: {generator}" in run.stdout
    assert "access log off" in run.stdout
    for label in ("framework floor", "my audits", "QA queue", "audit form", "dashboard", "report: month",
                  "report: quarter", "report: calendar year", "report: financial year", "monthly issue",
                  "deadline sweep", "server peak RSS",
                  # issue 6: the query+render floors, the ratios, and every report against its raw SQL
                  "query+render floor: my audits", "query+render floor: QA queue", "query+render floor: audit form",
                  "query+render floor: dashboard", "ratio", "report: ten years", "grades by domain: ten years, whole council",
                  "grades by domain: ten years, one team", "re-audit movement: ten years", "overdue actions",
                  # issue 19 item 7: the pages the programme-work, partnership and home-page issues added
                  "home page, an auditor (/)", "home page, the QA team (/)", "home page, a manager (/)",
                  "my programme (/programme/mine)", "people (/people, administrators)",
                  "programme delivery report (/programme/delivery)", "agency requests (/requests)",
                  "partnership scorecard", "partnership reports (/partnership/requests)", "a partnership report",
                  # issue 19 item 1's other staff pages
                  "actions (/actions)", "notifications (/notifications)", "a dispute (/disputes/{id})"):
        assert label in run.stdout, (label, run.stdout)
    results = json.loads(out.read_text())
    _assert_floors_and_raw(results)
    # Two runs compared: the same file against itself changes nothing.
    compared = _bench("compare", str(out), str(out), env=_env(first))
    assert compared.returncode == 0, compared.stderr
    assert "my audits (/audits): ratio to floor" in compared.stdout
    assert "report: month: ratio to raw" in compared.stdout
    assert "+0%" in compared.stdout and "worse" not in compared.stdout
    assert results["database"] == "sqlite"
    assert results["workers"] == 1 and "1 worker" in results["server"]
    # Several workers on SQLite: the product refuses them (qaf serve
    # --workers 2), so the benchmark says so and measures nothing.
    refused = _bench("run", "--seconds", "1", "--workers", "2", env=_env(first))
    assert refused.returncode == 2 and refused.stdout == ""
    assert ("several workers need PostgreSQL (QAF_DATABASE_URL); SQLite serves from one process, "
            "so --workers 2 cannot be measured on it") in refused.stderr
    assert results["load_generator"].startswith(generator)
    assert results["rows"]["allocation"] > 900 and results["rows"]["trail"] > 15_000
    for page in results["pages"]:
        assert page["requests"] > 0, page
        assert page["errors"] == 0, page  # every page answered 200 to its signed-in user
        assert 0 < page["p50_ms"] <= page["p95_ms"]
    assert {r["name"] for r in results["reports"]} >= {"report: month", "report: calendar year"}
    assert all(r["ms"] > 0 for r in results["reports"])
    assert results["allocation"]["allocations"] > 0 and results["allocation"]["s"] > 0
    assert results["sweep"]["acted_on"] > 0
    assert 30 < results["server_peak_rss_mb"] < 4000


def test_the_product_command_has_no_benchmark(tmp_path):
    """`qaf bench` is not a command of the qaf wheel (whose code it could not run)."""
    result = _qaf("bench", "generate", env=_env(tmp_path))
    assert result.returncode == 2
    assert "invalid choice: 'bench'" in result.stderr


def test_generate_on_postgresql(tmp_path, postgres_server):
    url = postgres_server.create_database_sync(prefix="bench")
    made = _bench("generate", "--scale", "0.01", "--seed", "7", "--as-of", AS_OF,
                env=_env(tmp_path, QAF_DATABASE_URL=url))
    assert made.returncode == 0, made.stderr
    counts = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in made.stdout.splitlines()[1:]}
    assert counts["allocation"] > 900 and counts["grade"] > 20_000 and counts["trail"] > 15_000
    # Then the benchmark end to end on it (server, floors through asyncpg, the
    # real allocation and sweep: sequences follow the bulk ids, so the
    # services insert after them).
    out = tmp_path / "bench.json"
    # One staff page driven (the SQLite run above drives every page): the
    # PostgreSQL path is the same load code, and each page costs the suite time.
    # Two server processes (issue 19 item 5), as `qaf serve --workers 2` runs them.
    run = _bench("run", "--seconds", "0.5", "--clients", "2", "--pages", "my audits", "--workers", "2",
               "--json", str(out), env=_env(tmp_path, QAF_DATABASE_URL=url, QAF_BENCH_LOAD="httpx"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "qaf-bench: postgresql" in run.stdout
    assert "2 clients, 0.5 s per page; 2 workers" in run.stdout
    assert "server: uvicorn, 2 workers (processes, as qaf serve --workers 2)" in run.stdout
    assert "server CPU while driven (2 workers" in run.stdout
    assert "load generator: httpx" in run.stdout  # the fallback, end to end, even where wrk is installed
    assert "query+render floor: audit form" in run.stdout
    results = json.loads(out.read_text())
    assert results["database"] == "postgresql"
    assert results["workers"] == 2
    for page in results["pages"]:
        assert page["requests"] > 0 and page["errors"] == 0 and page["statuses"] == {"200": page["requests"]}, page
        assert page["server_cpu_ms_per_request"] > 0 and page["server_cores"] > 0, page
    _assert_floors_and_raw(results)
    assert results["allocation"]["allocations"] > 0
    assert results["sweep"]["acted_on"] > 0


def test_every_request_carries_a_signed_in_session_and_a_redirect_to_login_counts_as_errors(tmp_path, monkeypatch):
    """Both load generators (wrk where installed, and the httpx fallback)
    against one real server on the demo data: signed-in auditors GET their
    work list (every answer a 200, each request with one of their own
    sessions); without a session the page answers 303 to /login, fast, and
    every one of those is an error, not throughput. One server for both
    (issue 19: the suite's time)."""
    from bench.run import load, load_generator, start_server, stop_server

    env = _env(tmp_path)
    made = _qaf("demo", env=env)
    assert made.returncode == 0, made.stderr
    generators = ["wrk", "httpx"] if shutil.which("wrk") else ["httpx"]
    server, url = start_server(env)
    try:
        for generator in generators:
            monkeypatch.setenv("QAF_BENCH_LOAD", generator)
            chosen = load_generator()
            assert chosen[0] == generator
            auditors = [("haringey.team_manager.1", "/audits"), ("haringey.team_manager.2", "/audits")]
            signed = asyncio.run(load(url, "my audits", auditors, 3, 1, generator=chosen))
            anonymous = asyncio.run(load(url, "my audits, no session", [("", "/audits")], 3, 1, generator=chosen))
            assert signed.requests > 0 and signed.errors == 0 and signed.statuses == {"200": signed.requests}, (generator, signed)
            assert 0 < signed.p50_ms <= signed.p95_ms and signed.rps > 0 and signed.seconds >= 0.9
            assert anonymous.requests > 0 and anonymous.statuses == {"303": anonymous.requests}, (generator, anonymous)
            assert anonymous.errors == anonymous.requests
    finally:
        stop_server(server)


def _assert_floors_and_raw(results: dict) -> None:
    """The floors and raw-SQL rows are in the JSON with sane values."""
    floors = {f["name"]: f for f in results["floors"]}
    assert set(floors) == {"my audits (/audits)", "QA queue (/qa)", "audit form (/audits/{id})", "dashboard (/reports, this month)"}
    for f in floors.values():
        assert f["calls"] > 0 and f["rps"] > 0 and 0 < f["p50_ms"] <= f["p95_ms"], f
        assert f["html_bytes"] > 2_000, f  # a whole page was rendered
    for page in results["pages"]:
        if page["name"] in floors:
            assert page["floor_ratio"] == pytest.approx(page["rps"] / floors[page["name"]]["rps"])
    reports = {r["name"]: r for r in results["reports"]}
    for name in ("report: month", "report: calendar year", "report: ten years (no trend)", "re-audit movement: ten years",
                 "overdue actions (everyone below the top manager)"):
        r = reports[name]
        assert r["ms"] > 0 and r["raw_ms"] > 0 and r["ratio"] == pytest.approx(r["ms"] / r["raw_ms"]), r
    assert reports["report: ten years (no trend)"]["audits"] > 900
    # The floor answers qaf's question: its rows equal qaf's (bench.rawreports.report_differences).
    for name in ("report: month", "report: calendar year", "report: ten years (no trend)", "re-audit movement: ten years"):
        assert reports[name]["same_rows"], reports[name]
    assert all(r.get("same_rows", True) for r in results["reports"]), results["reports"]
    assert results["sql_choices"] and all(c["agree"] for c in results["sql_choices"]), results["sql_choices"]
