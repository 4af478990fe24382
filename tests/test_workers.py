"""Several app processes on one PostgreSQL (PLAT-14, issue 18 item 4): a
`qaf serve --workers 2` and a second `qaf serve` share one database, both
running the background sweep every second. A session signed in on one is
signed in on the other, a CSRF token from one is good on the other, each
deadline is acted on once, each email is sent once, and the report counts
kept as things happen equal a rebuild from the rows."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from helpers import csrf_from

# Two months after the suite's instant (31 Dec 2026): January's and
# February's cycles are due and December's audits are past their deadlines.
LATER = "2027-02-15T10:00:00+00:00"
SUMMARIES = ("allocation_month", "escalation_month", "follow_up_month", "work_month", "grade_month",
             "agreement_month", "agreement_year", "movement_month", "standing_grade")


async def _rows(url: str, sql: str) -> list:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r.values()) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def _fetch(url: str, sql: str) -> list:
    return asyncio.run(_rows(url, sql))


def _summaries(url: str) -> dict[str, list]:
    async def read():
        conn = await asyncpg.connect(url)
        try:
            out = {}
            for name in SUMMARIES:
                columns = [r["column_name"] for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND column_name <> 'id'", name)]
                out[name] = sorted(repr(tuple(r.values())) for r in await conn.fetch(
                    f"SELECT {', '.join(columns)} FROM {name}"))
            return out
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.mark.req("PLAT-14")
def test_two_app_processes_share_sessions_csrf_the_sweep_the_outbox_and_the_counts(postgres_server, smtp, monkeypatch):
    from support import live_server
    from support.live_server import qaf_executable, serve, server_env, stop_live_server

    monkeypatch.setattr(live_server, "START_TIMEOUT", 90.0)  # three processes starting at once on a busy machine

    url = postgres_server.create_database_sync(prefix="workers")
    with tempfile.TemporaryDirectory(prefix="qaf-workers-") as tmp:
        data_dir = Path(tmp)
        env = server_env(data_dir, QAF_DATABASE_URL=url, QAF_SECRET_KEY="shared-secret-" + "k" * 40)
        demo = subprocess.run([str(qaf_executable()), "demo"], env=env, capture_output=True, text=True, timeout=180)
        assert demo.returncode == 0, demo.stderr
        later = env | {"QAF_CLOCK": LATER, "QAF_SWEEP_SECONDS": "1", "QAF_SMTP_HOST": smtp.host,
                       "QAF_SMTP_PORT": str(smtp.port), "QAF_SMTP_TLS": "none"}
        servers = []
        try:
            # Started side by side: `qaf serve --workers 2` (two app processes) and a plain `qaf serve`.
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                started = [pool.submit(serve, data_dir, later, args=("--workers", "2")), pool.submit(serve, data_dir, later)]
                servers.extend(future.result() for future in started)
            a, b = (server.url for server in servers)
            with httpx.Client(timeout=20) as browser:
                # Signed in through one process, signed in on the other.
                login = browser.get(f"{a}/login")
                signed = browser.post(f"{a}/login", data={"username": "haringey.cp_chair", "password": "qaf-demo-2026",
                                                          "_csrf_token": csrf_from(login.text), "next": "/audits"})
                assert signed.status_code in (302, 303), signed.text[:500]
                for base in (b, a, b):
                    page = browser.get(f"{base}/audits")
                    assert page.status_code == 200 and "My audits" in page.text
                # A form from one process posted to the other: its CSRF token holds there.
                out = browser.post(f"{a}/logout", data={"_csrf_token": csrf_from(page.text)})
                assert out.status_code in (302, 303)
                assert browser.get(f"{b}/audits").status_code in (302, 303, 401)  # signed out everywhere

            # Three processes sweep every second; let them race until the work is done.
            deadline = time.monotonic() + 40
            while True:
                open_passed, = _fetch(url, f"SELECT count(*) FROM deadline WHERE status = 'open' AND due_at <= '{LATER}'")[0]
                pending, = _fetch(url, "SELECT count(*) FROM notification WHERE email_state = 'pending'")[0]
                if open_passed == 0 and pending == 0 and smtp.messages:
                    break
                assert time.monotonic() < deadline, f"{open_passed} deadlines, {pending} emails still waiting"
                time.sleep(0.5)
            time.sleep(2)  # a few more sweeps by every process, which must now find nothing to do
            # The workers' figures summed in one exposition (PROMETHEUS_MULTIPROC_DIR).
            metrics = httpx.get(f"{a}/metrics", timeout=20)
            assert metrics.status_code == 200
            assert 'qaf_http_requests_total{method="GET",route="/audits",status="200"}' in metrics.text
            assert "qaf_sweep_duration_seconds_count" in metrics.text and "qaf_outbox_pending 0.0" in metrics.text
        finally:
            for server in servers:
                stop_live_server(server)

        # Each cycle issued once; each deadline acted on once.
        cycles = _fetch(url, "SELECT organisation, year, month, count(*) FROM cycle GROUP BY organisation, year, month")
        assert (2027, 2) in {(year, month) for _, year, month, _ in cycles}  # the month it is, issued by a sweep
        assert all(n == 1 for *_, n in cycles)
        missed = _fetch(url, "SELECT changes::jsonb ->> 'deadline', count(*) FROM trail"
                             " WHERE action = 'deadline_missed' GROUP BY 1")
        passed, = _fetch(url, f"SELECT count(*) FROM deadline WHERE status = 'missed' AND due_at <= '{LATER}'")[0]
        assert len(missed) > 0 and all(n == 1 for _, n in missed)
        assert len(missed) <= passed
        # Each email sent once: 0 duplicated notifications.
        ids = collections.Counter(message.message["Message-ID"] for message in smtp.messages)
        sent, = _fetch(url, "SELECT count(*) FROM notification WHERE email_state = 'sent'")[0]
        assert sent > 0 and len(ids) == sent and max(ids.values()) == 1

        # 0 lost counts: the summaries kept as the processes went equal a rebuild from the rows.
        kept = _summaries(url)
        from core.db.engine import bind, engine_for
        from core.services.month_counts import rebuild_all

        bind(engine_for(url))
        asyncio.run(rebuild_all())
        assert sum(len(rows) for rows in kept.values()) > 0
        assert _summaries(url) == kept


def _settings_key(data_dir: str) -> str:
    from core.settings import settings_from_env

    return settings_from_env({"QAF_DATA_DIR": data_dir}).secret_key


def test_processes_starting_at_once_on_a_new_data_directory_share_one_secret_key(tmp_path):
    """Several app processes started together on a new data directory (`qaf
    serve --workers N`'s first start) each make the signing key if it is not
    there: they must all end with the same one, none with a key read half
    written, or one worker's sessions and CSRF tokens fail on the others."""
    import multiprocessing
    import os

    with concurrent.futures.ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("fork")) as pool:
        for attempt in range(10):
            data_dir = tmp_path / f"data{attempt}"
            keys = list(pool.map(_settings_key, [str(data_dir)] * 6))
            assert len(set(keys)) == 1 and len(keys[0]) == 64, keys
            assert sorted(os.listdir(data_dir)) == ["secret_key"]
            assert oct(os.stat(data_dir / "secret_key").st_mode & 0o777) == "0o600"
