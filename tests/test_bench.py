"""The scale benchmark in its small mode, so it cannot rot: generate at
``--scale 0.01`` (SQLite and PostgreSQL, deterministic for a seed) and run
``qaf bench run`` for a second per page. Asserts the table's shape and sane
numbers, never the timing targets (docs/performance.md records those)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

QAF = str(Path(sys.executable).with_name("qaf"))
AS_OF = "2026-11-20T06:00:00+00:00"

# Columns that differ between two runs for reasons other than the generator:
# argon2 salts of the demo accounts.
_SKIP = {("person", "password_hash")}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QAF_")}
    return env | {"QAF_DATA_DIR": str(tmp_path), "QAF_SWEEP_SECONDS": "0"} | extra


def _qaf(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([QAF, *args], env=env, capture_output=True, text=True, timeout=timeout)


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
        made = _qaf("bench", "generate", "--scale", "0.01", "--seed", "7", "--as-of", AS_OF, env=_env(where))
        assert made.returncode == 0, made.stderr
    assert "allocation" in made.stdout and "trail" in made.stdout
    assert "123/123" in made.stderr  # the progress line reached the end
    assert _sqlite_digest(first / "qaf.sqlite3") == _sqlite_digest(second / "qaf.sqlite3")

    out = tmp_path / "bench.json"
    run = _qaf("bench", "run", "--seconds", "1", "--clients", "4", "--json", str(out), env=_env(first))
    assert run.returncode == 0, run.stderr
    for label in ("framework floor", "my audits", "QA queue", "audit form", "dashboard", "report: month",
                  "report: quarter", "report: calendar year", "report: financial year", "monthly allocation",
                  "deadline sweep", "server peak RSS"):
        assert label in run.stdout, (label, run.stdout)
    results = json.loads(out.read_text())
    assert results["database"] == "sqlite"
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


def test_generate_on_postgresql(tmp_path, postgres_server):
    url = postgres_server.create_database_sync(prefix="bench")
    made = _qaf("bench", "generate", "--scale", "0.01", "--seed", "7", "--as-of", AS_OF,
                env=_env(tmp_path, QAF_DATABASE_URL=url))
    assert made.returncode == 0, made.stderr
    counts = {line.split()[0]: int(line.split()[1].replace(",", "")) for line in made.stdout.splitlines()[1:]}
    assert counts["allocation"] > 900 and counts["grade"] > 20_000 and counts["trail"] > 15_000
    # The same rows as on SQLite for the same seed (counts per table).
    sqlite = _qaf("bench", "generate", "--scale", "0.01", "--seed", "7", "--as-of", AS_OF, env=_env(tmp_path / "s"))
    assert sqlite.stdout.splitlines()[1:] == made.stdout.splitlines()[1:]
    # Sequences follow the bulk ids: the real services can insert after it.
    from core.db.engine import bind, engine_for

    import asyncio

    async def allocate():
        from bench.run import time_allocation, time_sweep
        from core.plugins import load_plugins
        from core.settings import get_settings

        bind(engine_for(url))
        registry = load_plugins(get_settings()).registry
        return await time_allocation(registry), await time_sweep(registry)

    allocation, sweep = asyncio.run(allocate())
    assert allocation["allocations"] > 0
    assert sweep["acted_on"] > 0
