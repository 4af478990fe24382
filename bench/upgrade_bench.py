"""Measure the heaviest upgrade (issue 18 item 5): a bench database made a
database of the release before the monthly summary tables (2026-11-22T10:00),
then `qaf migrate`, which runs that migration and the later ones and rebuilds
every report summary from the records (core/db/upkeep.py), batch by batch.

    .venv/bin/python bench/upgrade_bench.py pg 1        # PostgreSQL, scale 1
    .venv/bin/python bench/upgrade_bench.py sqlite 1    # SQLite, scale 1
    ... --code /work/main     # the qaf of another checkout (its .venv) for the upgrade
    ... --backup              # also time qaf backup and qaf restore of the upgraded database

Run from a checkout with `uv sync --frozen` done (docs/operations.md,
"Upgrade"; a copy is kept as /work/helpers/notes/upgrade-bench.py). The first run of a kind and
scale generates the bench data (`qaf-bench generate --scale S`: 3-6 minutes
at scale 1 on a 2-core machine) and keeps it: PostgreSQL as the database
`upgbench_<scale>` (a template each run copies), SQLite as
/tmp/upgrade-bench/sqlite-<scale>/bench.sqlite3 (each run copies the file).
PostgreSQL: a throw-away server (tests/support/postgres.py: fsync off, as
the suite's) on $UPGRADE_BENCH_PGPORT (default 5451), kept in
/tmp/upgrade-bench/pg until `--stop`; or $UPGRADE_BENCH_PG_URL, an existing
server's maintenance database URL.

After the upgrade the script compares every summary table, row by row, with
the generated database's (which `qaf-bench generate` filled with
`month_counts.rebuild_all`): they must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path.cwd()
WORK = Path("/tmp/upgrade-bench")
SUMMARIES = ("allocation_month", "escalation_month", "movement_month", "grade_month", "agreement_month",
             "agreement_year", "follow_up_month", "work_month", "standing_grade")
# A database of the release before 2026-11-22T10:00 (the monthly summary
# tables) and before 2026-12-05T16:00 (sessions in the database).
PREPARE = (
    "DROP TABLE allocation_month", "DROP TABLE escalation_month", "DROP TABLE movement_month",
    "DROP INDEX agreement_month_covering", "DROP INDEX standing_grade_previous", "DROP TABLE web_session",
    "DELETE FROM migration WHERE name IN ('2026-11-22T10:00:00:000000', '2026-12-05T16:00:00:000000')",
)


def env_for(url: str, data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return {k: v for k, v in os.environ.items() if not k.startswith("QAF_")} | {
        "QAF_DATABASE_URL": url, "QAF_DATA_DIR": str(data_dir), "QAF_SWEEP_SECONDS": "0"}


def timed(label: str, command: list[str], env: dict[str, str], *, live: bool = False) -> float:
    began = time.monotonic()
    result = subprocess.run(command, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=None if live else subprocess.PIPE)
    seconds = time.monotonic() - began
    print(f"{label}: exit {result.returncode}, {seconds:.1f} s", flush=True)
    if result.stdout.strip():
        print("  " + result.stdout.strip().replace("\n", "\n  "), flush=True)
    if result.returncode:
        print(result.stderr or "", file=sys.stderr)
        raise SystemExit(f"{label} failed")
    return seconds


def pg_cpu(server: str) -> float:
    """CPU seconds PostgreSQL's ended backends have used (the postmaster's
    children, from /proc): the server's share of the work, whatever the load."""
    directory = asyncio.run(pg(server, fetch="SHOW data_directory"))[0][0]
    pid = (Path(directory) / "postmaster.pid").read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


# -- PostgreSQL ---------------------------------------------------------------

def pg_server_url(stop: bool) -> str | None:
    if os.environ.get("UPGRADE_BENCH_PG_URL"):
        return os.environ["UPGRADE_BENCH_PG_URL"]
    sys.path.insert(0, str(HERE / "tests"))
    import support.postgres as pgmod

    state = WORK / "pg"
    if stop:
        if state.exists():
            subprocess.run(["runuser", "-u", pgmod.PG_OS_USER, "--", str(pgmod.find_pg_bin() / "pg_ctl"), "-D",
                            (state / "data_dir").read_text(), "stop", "-m", "fast"], check=False)
            shutil.rmtree(state)
        return None
    if (state / "url").exists():
        return (state / "url").read_text()
    port = int(os.environ.get("UPGRADE_BENCH_PGPORT", "5451"))
    pgmod.free_port = lambda host="127.0.0.1": port
    server = pgmod.PostgresServer().start()
    import atexit

    atexit.unregister(server.stop)  # kept for the next run; --stop ends it
    state.mkdir(parents=True, exist_ok=True)
    (state / "url").write_text(server.url())
    (state / "data_dir").write_text(str(server.data_dir))
    return server.url()


async def pg(sql_url: str, *statements: str, fetch: str | None = None):
    import asyncpg

    connection = await asyncpg.connect(sql_url)
    try:
        for statement in statements:
            await connection.execute(statement)
        return await connection.fetch(fetch) if fetch else None
    finally:
        await connection.close()


def pg_url(server: str, name: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + name


def pg_rows(url: str, table: str) -> list[tuple]:
    rows = asyncio.run(pg(url, fetch=f"SELECT * FROM {table}"))
    return sorted(tuple(v for k, v in r.items() if k != "id") for r in rows)


# -- SQLite -------------------------------------------------------------------

def sqlite_rows(path: Path, table: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        cursor = db.execute(f"SELECT * FROM {table}")
        names = [c[0] for c in cursor.description]
        return sorted(tuple(v for k, v in zip(names, row) if k != "id") for row in cursor)
    finally:
        db.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["pg", "sqlite"])
    p.add_argument("scale", nargs="?", default="0.05")
    p.add_argument("--code", type=Path, default=HERE, help="the checkout whose .venv/bin/qaf upgrades")
    p.add_argument("--backup", action="store_true", help="also time qaf backup and qaf restore")
    p.add_argument("--stop", action="store_true", help="stop the kept PostgreSQL server and remove it")
    args = p.parse_args()
    if args.stop:
        pg_server_url(stop=True)
        return
    qaf, bench = str(args.code / ".venv/bin/qaf"), str(HERE / ".venv/bin/qaf-bench")
    tag = args.scale.replace(".", "_")
    data = WORK / f"data-{args.kind}-{tag}"
    print(f"{args.kind}, scale {args.scale}, upgraded by {qaf}; {os.cpu_count()} cores, {load()}", flush=True)

    if args.kind == "pg":
        server = pg_server_url(stop=False)
        template = f"upgbench_{tag}"
        exists = asyncio.run(pg(server, fetch=f"SELECT 1 FROM pg_database WHERE datname = '{template}'"))
        if not exists:
            asyncio.run(pg(server, f"CREATE DATABASE {template}"))
            timed("generate", [bench, "generate", "--scale", args.scale, "--quiet"], env_for(pg_url(server, template), data))
        asyncio.run(pg(server, "DROP DATABASE IF EXISTS upgbench_run", "DROP DATABASE IF EXISTS upgbench_restored",
                       f"CREATE DATABASE upgbench_run TEMPLATE {template}"))
        url = pg_url(server, "upgbench_run")
        counts = asyncio.run(pg(url, fetch="SELECT (SELECT COUNT(*) FROM allocation) AS audits, (SELECT COUNT(*) FROM grade) AS grades,"
                                " (SELECT COUNT(*) FROM standing_grade) AS standing_grades, (SELECT COUNT(*) FROM trail) AS trail,"
                                " (SELECT COUNT(*) FROM notification) AS notifications"))
        print("records:", dict(counts[0]), flush=True)
        asyncio.run(pg(url, *PREPARE))
        rows = lambda table, which: pg_rows(pg_url(server, which), table)  # noqa: E731
        which = (template, "upgbench_run")
        restored_url = pg_url(server, "upgbench_restored")
    else:
        source = WORK / f"sqlite-{tag}" / "bench.sqlite3"
        if not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            timed("generate", [bench, "generate", "--scale", args.scale, "--quiet"], env_for(f"sqlite:///{source}", data))
        run = WORK / f"sqlite-{tag}" / "run.sqlite3"
        shutil.copyfile(source, run)
        db = sqlite3.connect(run)
        print("records:", dict(zip(("audits", "grades", "standing_grades", "trail", "notifications"), db.execute(
            "SELECT (SELECT COUNT(*) FROM allocation), (SELECT COUNT(*) FROM grade), (SELECT COUNT(*) FROM standing_grade),"
            " (SELECT COUNT(*) FROM trail), (SELECT COUNT(*) FROM notification)").fetchone())), flush=True)
        for statement in PREPARE:
            db.execute(statement)
        db.commit()
        db.close()
        url = f"sqlite:///{run}"
        paths = {"template": source, "run": run}
        rows = lambda table, which: sqlite_rows(paths[which], table)  # noqa: E731
        which = ("template", "run")
        restored = WORK / f"sqlite-{tag}" / "restored" / "qaf.sqlite3"
        shutil.rmtree(restored.parent, ignore_errors=True)
        restored_url = f"sqlite:///{restored}"

    env = env_for(url, data)
    print(f"before the upgrade: {load()}", flush=True)
    cpu = (own_cpu(), pg_cpu(server) if args.kind == "pg" else 0.0)
    seconds = timed("qaf migrate (the upgrade)", [qaf, "migrate"], env, live=True)
    time.sleep(0.5)  # the backend's exit reaped
    cpu = (own_cpu() - cpu[0], (pg_cpu(server) - cpu[1]) if args.kind == "pg" else 0.0)
    print(f"after the upgrade: {load()}; CPU used: qaf {cpu[0]:.1f} s"
          + (f", PostgreSQL {cpu[1]:.1f} s" if args.kind == "pg" else ""), flush=True)
    different = [table for table in SUMMARIES if rows(table, which[0]) != rows(table, which[1])]
    print("summaries as generated:", "every table equal" if not different else f"DIFFERENT: {different}", flush=True)
    if args.backup:
        backup = WORK / f"{args.kind}-{tag}.backup"
        backup.unlink(missing_ok=True)
        timed("qaf backup", [qaf, "backup", str(backup)], env)
        print(f"  {backup.stat().st_size / 1e6:.1f} MB", flush=True)
        if args.kind == "pg":
            asyncio.run(pg(server, "CREATE DATABASE upgbench_restored"))
        timed("qaf restore", [qaf, "restore", str(backup)], env_for(restored_url, data))
    print(f"upgrade {seconds:.1f} s (CPU {sum(cpu):.1f} s); {load()}", flush=True)
    if different:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
