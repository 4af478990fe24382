"""The test infrastructure itself works for real: PostgreSQL, SMTP, Chromium + axe."""

from __future__ import annotations

import asyncio
import http.server
import re
import smtplib
import threading
from email.message import EmailMessage

import asyncpg
import pytest

from support.browser import A11yError, A11yTracker, assert_accessible
from support.postgres import PostgresError, PostgresServer

# ------------------------------------------------------------------ PostgreSQL


async def test_postgres_runs_queries(postgres_server, postgres_database_url):
    if not postgres_server.external:
        assert re.fullmatch(
            rf"postgresql://qaf@127\.0\.0\.1:{postgres_server.port}/test_[0-9a-f]{{12}}", postgres_database_url
        )
    conn = await asyncpg.connect(postgres_database_url)
    try:
        version = await conn.fetchval("select version()")
        assert version.startswith("PostgreSQL ")
        await conn.execute("create table t (id serial primary key, name text not null)")
        await conn.execute("insert into t (name) values ($1)", "Zoë")
        assert await conn.fetchval("select name from t") == "Zoë"
        assert await conn.fetchval("show server_encoding") == "UTF8"
    finally:
        await conn.close()


async def test_postgres_databases_are_isolated(make_postgres_database):
    first, second = await make_postgres_database("iso"), await make_postgres_database("iso")
    assert first != second
    conn = await asyncpg.connect(first)
    try:
        await conn.execute("create table only_in_first (x int)")
    finally:
        await conn.close()
    conn = await asyncpg.connect(second)
    try:
        assert await conn.fetchval("select to_regclass('only_in_first')") is None
    finally:
        await conn.close()


def test_postgres_missing_binaries_error_is_actionable(tmp_path, monkeypatch):
    monkeypatch.delenv("QAF_TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("QAF_TEST_PG_BIN", str(tmp_path))
    with pytest.raises(PostgresError, match=r"apt-get install postgresql-15"):
        PostgresServer().start()


def test_postgres_external_url_is_used_without_starting(monkeypatch):
    monkeypatch.setenv("QAF_TEST_DATABASE_URL", "postgresql://u:pw@db.example:6543/postgres?sslmode=disable")
    server = PostgresServer().start()
    assert server.external and server.tmpdir is None
    assert server.url("abc") == "postgresql://u:pw@db.example:6543/abc?sslmode=disable"
    server.stop()  # nothing was created, so nothing to drop


# ------------------------------------------------------------------------ SMTP


def _send(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


async def test_smtp_receives_and_parses_mail(smtp):
    assert smtp.messages == []
    message = EmailMessage()
    message["From"] = "QAF <noreply@qaf.test>"
    message["To"] = "auditor@council.test, lead@council.test"
    message["Subject"] = "Audit due: case 42 — review"
    message.set_content("Hello,\n\nAn audit is due.\n")
    message.add_alternative("<p>Hello, an audit is due.</p>", subtype="html")

    await asyncio.to_thread(_send, smtp.port, message)
    [received] = await smtp.wait_for(1, timeout=5)

    assert received.from_ == "QAF <noreply@qaf.test>"
    assert received.envelope_from == "noreply@qaf.test"
    assert received.to == ["auditor@council.test", "lead@council.test"]
    assert sorted(received.envelope_to) == ["auditor@council.test", "lead@council.test"]
    assert received.subject == "Audit due: case 42 — review"
    assert received.body == "Hello,\n\nAn audit is due.\n"
    assert "<p>Hello, an audit is due.</p>" in received.html


async def test_smtp_is_cleared_per_test_and_wait_for_times_out(smtp):
    assert smtp.messages == []
    with pytest.raises(AssertionError, match=r"expected at least 1 email\(s\) within 0.1s, got 0"):
        await smtp.wait_for(1, timeout=0.1)


# --------------------------------------------------------------------- browser

_PAGES = {
    "/good": (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Good page</title></head>'
        '<body><main><h1>Good page</h1><p>Fine.</p><img src="/pixel.png" alt="A red pixel">'
        '<p><a href="/other">Another page</a></p></main></body></html>'
    ),
    "/other": (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Other page</title></head>'
        "<body><main><h1>Other page</h1><p>Also fine.</p></main></body></html>"
    ),
    "/bad": (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bad page</title></head>'
        '<body><main><h1>Bad page</h1><img src="/pixel.png"></main></body></html>'
    ),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = _PAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        # Strict CSP: axe injection must not depend on inline scripts being allowed.
        self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'self'")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


async def test_axe_passes_an_accessible_page(page, site):
    await page.goto(f"{site}/good")
    await assert_accessible(page)


async def test_axe_fails_an_inaccessible_page_readably(page, site):
    await page.goto(f"{site}/bad")
    with pytest.raises(A11yError) as caught:
        await assert_accessible(page)
    message = str(caught.value)
    assert "image-alt" in message
    assert "Images must have alternative text" in message
    assert '<img src="/pixel.png">' in message
    assert "target: img" in message
    assert [v["id"] for v in caught.value.violations] == ["image-alt"]


async def test_axe_works_on_data_urls(page):
    await page.goto("data:text/html,<html lang=en><title>x</title><main><img src=x.png></main></html>")
    with pytest.raises(A11yError, match="image-alt"):
        await assert_accessible(page)


async def test_tracker_records_every_page_visited(a11y, page, site):
    assert isinstance(a11y, A11yTracker)
    await a11y.goto(f"{site}/good")
    await page.click("text=Another page")
    await page.wait_for_url(f"{site}/other")
    assert a11y.visited == [f"{site}/good", f"{site}/other"]
    with pytest.raises(AssertionError, match=r"never ran on 1 visited page\(s\):\n  - .*/other"):
        a11y.assert_all_checked()
    await assert_accessible(page)  # direct calls count too
    a11y.assert_all_checked()


# ------------------------------------------------------------ database copies
async def _contents() -> dict[str, list]:
    """Every qaf table's rows, without what differs by design between two
    builds: when (a copy is of a demo built a moment earlier), the trail's
    hash chain over it, its request ids and its sealed words' random salt
    (and with it their fingerprints)."""
    from core.db.tables import TABLES

    def same_by_design(value):
        # A sealed word's fingerprint is salted at random (core/services/trail.py).
        return re.sub(r"[0-9a-f]{64}", "(sealed)", value) if isinstance(value, str) else value

    contents = {}
    for table in TABLES:
        rows = await table.select().order_by(table._meta.primary_key)
        contents[table._meta.tablename] = [
            {
                key: same_by_design(value)
                for key, value in row.items()
                if not key.endswith(("_at", "_on", "hash")) and key not in ("at", "request_id", "salt")
            }
            for row in rows
        ]
    return contents


async def test_a_copied_demo_is_the_demo_the_services_build(registry, database_url, snapshots):
    """The suite's copies (tests/support/snapshots.py) hold what the real
    ``load_demo`` writes: one database gets a copy of this process's
    snapshot, another the demo built by the services, and every table of the
    two is compared."""
    from core.services.context import Context
    from core.services.demo import load_demo
    from support.snapshots import snapshot_demo

    kind = "sqlite" if database_url.startswith("sqlite") else "postgres"

    async def fresh(name: str) -> None:
        await snapshots.migrated(kind, snapshots.folder / f"{name}-{id(snapshots)}.sqlite3")

    await fresh("first")
    await snapshot_demo(registry, "haringey")  # built here unless an earlier test did
    await fresh("copied")
    copied = await snapshot_demo(registry, "haringey")  # from the snapshot
    from_snapshot = await _contents()
    await fresh("built")
    built = await load_demo(Context(registry=registry), "haringey")
    from_services = await _contents()

    assert copied.logins == built.logins and len(built.logins) > 5
    assert {name: len(rows) for name, rows in from_snapshot.items()} == {
        name: len(rows) for name, rows in from_services.items()
    }
    assert from_snapshot == from_services
