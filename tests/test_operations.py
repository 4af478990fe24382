"""What an operator watches (PLAT-14, issue 18 item 4): /readyz, /metrics
(Prometheus, for configured addresses or a token), one JSON log line per
request with nothing personal in it, and `qaf backup` while serving."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from core.calendar import utcnow

TOKEN = "metrics-token-for-the-test"


@pytest.fixture(scope="module")
def served() -> Iterator:
    """`qaf demo` then `qaf serve` as a deployment runs it: not --quiet (a
    line per request), the sweep on (it runs at start), stderr not a
    terminal (JSON lines), /metrics for 127.0.0.2 or the token."""
    from support.live_server import qaf_executable, serve, server_env, stop_live_server

    with tempfile.TemporaryDirectory(prefix="qaf-ops-") as tmp:
        data_dir = Path(tmp)
        env = server_env(data_dir, QAF_SWEEP_SECONDS="3600", QAF_METRICS_ALLOW="127.0.0.2/32", QAF_METRICS_TOKEN=TOKEN)
        demo = subprocess.run([str(qaf_executable()), "demo"], env=env, capture_output=True, text=True, timeout=180)
        assert demo.returncode == 0, demo.stderr
        server = serve(data_dir, env, quiet=False)
        server.env = env
        try:
            yield server
        finally:
            stop_live_server(server)


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", text, re.MULTILINE)
    assert found, f"{name}{{{wanted}}} not in /metrics:\n{text[:3000]}"
    return float(found.group(1))


def _from(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (all of 127/8 is loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


@pytest.mark.req("PLAT-14")
def test_metrics_are_served_to_the_configured_address_or_with_the_token_only(served):
    with _from("127.0.0.1") as other, _from("127.0.0.2") as monitor:
        refused = other.get(f"{served.url}/metrics")
        assert refused.status_code == 403
        assert "only to the monitoring addresses" in refused.text and "qaf_" not in refused.text
        assert other.get(f"{served.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert other.get(f"{served.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        for _ in range(3):
            assert other.get(f"{served.url}/login").status_code == 200
        assert other.get(f"{served.url}/audits/999999").status_code in (302, 303, 401, 404)
        deadline = time.monotonic() + 20
        while True:  # the sweep at start may still be running
            text = monitor.get(f"{served.url}/metrics").text
            if "qaf_sweep_last_success_timestamp_seconds " in text and _metric(text, "qaf_sweep_last_success_timestamp_seconds") > 0:
                break
            assert time.monotonic() < deadline, text[:3000]
            time.sleep(0.3)
    assert _metric(text, "qaf_http_requests_total", method="GET", route="/login", status="200") >= 3
    assert _metric(text, "qaf_http_request_duration_seconds_count", method="GET", route="/login") >= 3
    assert _metric(text, "qaf_http_request_duration_seconds_bucket", le="+Inf", method="GET", route="/login") >= 3
    # By route template, never by path: no record's number becomes a label.
    assert "999999" not in text and "/audits/{allocation_id}" in text
    assert _metric(text, "qaf_sweep_duration_seconds_count") >= 1
    # At the server's clock (QAF_CLOCK: the suite's instant, ticking from the
    # server's start), as the test's is: within the hour the module may take
    # on a loaded machine, where today's date would be weeks away.
    assert abs(_metric(text, "qaf_sweep_last_success_timestamp_seconds") - utcnow().timestamp()) < 3600
    db = sqlite3.connect(served.database)
    try:
        due = [dt.datetime.fromisoformat(row[0]) for row in db.execute("SELECT due_at FROM deadline WHERE status = 'open'")]
        open_, overdue = len(due), sum(1 for at in due if at < utcnow())
        pending = db.execute("SELECT count(*) FROM notification WHERE email_state = 'pending'").fetchone()[0]
    finally:
        db.close()
    assert open_ > 0  # the demo's allocations have deadlines
    assert _metric(text, "qaf_deadlines_open") == open_
    assert _metric(text, "qaf_deadlines_overdue") == overdue
    assert _metric(text, "qaf_outbox_pending") == pending
    assert "qaf_outbox_oldest_pending_age_seconds" in text


@pytest.mark.req("PLAT-14")
def test_each_request_is_one_json_log_line_with_no_personal_data(served):
    token = httpx.post(f"{served.url}/api/v1/auth/token", json={"username": "haringey.cp_chair", "password": "qaf-demo-2026"})
    assert token.status_code == 201, token.text
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    mine = httpx.get(f"{served.url}/api/v1/allocations", headers=headers).json()
    one = httpx.get(f"{served.url}/api/v1/allocations/{mine[0]['id']}", headers=headers)
    assert one.status_code == 200
    words = json.dumps(one.json())
    time.sleep(0.3)
    lines = [line for line in served.log().splitlines() if line.strip() and not line.startswith("qaf serving ")]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    ours = [r for r in records if r.get("request_id") == one.headers["x-request-id"]]
    assert len(ours) == 1
    assert ours[0]["route"] == "/api/v1/allocations/{allocation_id}"
    assert ours[0]["status"] == 200 and ours[0]["method"] == "GET" and ours[0]["duration_ms"] >= 0
    assert {"time", "level", "logger", "event"} <= set(ours[0])
    log = served.log()
    # Nothing personal: no usernames, emails, names, case references or record numbers in paths.
    assert "haringey.cp_chair" not in log and "@example.org" not in log
    assert f"/api/v1/allocations/{mine[0]['id']}" not in log
    for value in re.findall(r'"(?:display_name|case_reference|reference|name|subject)": "([^"]+)"', words):
        assert value not in log


@pytest.mark.req("PLAT-14")
def test_a_backup_taken_while_serving_restores_every_table(served, tmp_path):
    from helpers import process_env
    from support.live_server import qaf_executable

    saved = tmp_path / "qaf.backup"
    backup = subprocess.Popen([str(qaf_executable()), "backup", str(saved)], env=served.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(5):  # the server keeps answering during the copy
        assert httpx.get(f"{served.url}/login").status_code == 200
    out, err = backup.communicate(timeout=120)
    assert backup.returncode == 0, err
    assert out.startswith("Backed up the database (SQLite at ")
    restored = subprocess.run([str(qaf_executable()), "restore", str(saved)], capture_output=True, text=True, timeout=120,
                              env=process_env(QAF_DATA_DIR=str(tmp_path / "b"), QAF_SWEEP_SECONDS="0"))
    assert restored.returncode == 0, restored.stderr
    from test_backup import _sqlite_tables

    before, after = _sqlite_tables(saved), _sqlite_tables(tmp_path / "b" / "qaf.sqlite3")
    assert len(before) > 30 and before == after
    assert len(after["allocation"]) == 7 and len(after["evidence_file"]) == len(before["evidence_file"])


@pytest.mark.req("PLAT-14")
async def test_readyz_says_ready_then_names_migrations_that_have_not_run(database_url, tmp_path, plugins):
    from piccolo.apps.migrations.tables import Migration

    from conftest import make_settings
    from web.app import create_app

    settings = msgspec.structs.replace(make_settings(tmp_path, database_url), metrics_allow=())
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        # No address allowed, no token set: nobody reads the metrics.
        assert (await client.get("/metrics")).status_code == 403
        newest = await Migration.select(Migration.name).order_by(Migration.name, ascending=False).first()
        await Migration.delete().where(Migration.name == newest["name"])
        waiting = await client.get("/readyz")
        assert waiting.status_code == 503
        assert waiting.json() == {"status": "unavailable", "reason": "1 database migrations have not run: run qaf migrate"}
        assert (await client.get("/healthz")).status_code == 200  # liveness stays


def test_logs_are_readable_text_at_a_terminal_and_json_otherwise():
    import logging
    import os

    from core.logs import configure

    root = logging.getLogger()
    kept = (list(root.handlers), root.level)
    leader, follower = os.openpty()
    read, write = os.pipe()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal, os.fdopen(write, "w", closefd=False) as pipe:
            assert configure("auto", terminal) == "text"
            logging.getLogger("qaf.access").info("request", extra={"request_id": "ab" * 16, "method": "GET",
                                                                   "route": "/login", "status": 200, "duration_ms": 3.2})
            assert configure("auto", pipe) == "json"
            assert configure("text", pipe) == "text"
        assert b"GET /login 200 3.2 ms" in os.read(leader, 4096)
    finally:
        root.handlers[:] = kept[0]
        root.setLevel(kept[1])
        logging.getLogger("qaf.access").disabled = False
        logging.getLogger("uvicorn.access").disabled = False
        for fd in (leader, follower, read, write):
            os.close(fd)


def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path, monkeypatch, capsys):
    from core.cli import main
    from core.settings import get_settings

    monkeypatch.setenv("QAF_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("QAF_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["serve", "--workers", "2"]) == 1
    finally:
        get_settings.cache_clear()
    assert "several workers need PostgreSQL (QAF_DATABASE_URL); SQLite serves from one process" in capsys.readouterr().err


def test_the_server_answers_other_requests_while_a_pdf_renders(served):
    """Issue 19 item 6: a PDF is laid out on a thread of its own (core/pdf.py),
    so while it renders the server still answers everyone else. Health checks
    sent one after another during a year's report PDF each come back in a
    small part of the PDF's time; were the layout on the event loop, the one
    sent as it began would wait for all of it."""
    import threading

    from tests.helpers import csrf_from

    with httpx.Client(base_url=served.url, timeout=60) as client:
        page = client.get("/login")
        signed = client.post("/login", data={"username": "haringey.head_of_qa", "password": "qaf-demo-2026",
                                              "_csrf_token": csrf_from(page.text)})
        assert signed.status_code in (200, 303)
        path = f"/reports/report.pdf?period=year&date={utcnow():%Y}-01-01&scope=org"
        assert client.get(path).content.startswith(b"%PDF-")  # the renderer is loaded: what follows is layout
        answer: dict = {}

        def fetch() -> None:
            began = time.perf_counter()
            answer["response"] = client.get(path)
            answer["seconds"] = time.perf_counter() - began

        pdf = threading.Thread(target=fetch)
        waits = []
        with httpx.Client(base_url=served.url, timeout=60) as other:
            pdf.start()
            while pdf.is_alive():
                began = time.perf_counter()
                assert other.get("/healthz").status_code == 200
                waits.append(time.perf_counter() - began)
            pdf.join()
    assert answer["response"].status_code == 200 and answer["response"].content.startswith(b"%PDF-")
    assert len(waits) >= 3, (waits, answer["seconds"])
    assert max(waits) < answer["seconds"] / 2, (waits, answer["seconds"])


@pytest.mark.req("PLAT-14")
def test_qaf_upkeep_rebuilds_the_report_summaries_saying_how_far_it_has_got(served):
    """`qaf upkeep --rebuild-summaries` (docs/operations.md "Upgrade"): the
    report summaries rebuilt from the records a batch at a time, each batch's
    progress in plain words on stderr; then nothing waits."""
    from support.live_server import qaf_executable

    rebuilt = subprocess.run([str(qaf_executable()), "upkeep", "--rebuild-summaries"], env=served.env,
                             capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert re.fullmatch(r"Report summaries rebuilt from the records in \d+\.\d s\.\n", rebuilt.stdout)
    lines = rebuilt.stderr.splitlines()
    assert re.fullmatch(r"Rebuilding report summaries: \d+ parts; the old ones cleared \(\d+\.\d s\)", lines[0])
    assert re.fullmatch(r"Rebuilding report summaries: (\d+) of \1 done \(Haringey Children's Services, monthly counts, .+, \d+\.\d s\)", lines[-1])
    assert "Rebuilding report summaries: 1 of " in rebuilt.stderr and "(indexes of the standing grades made, " in rebuilt.stderr
    again = subprocess.run([str(qaf_executable()), "upkeep"], env=served.env, capture_output=True, text=True, timeout=120)
    assert (again.returncode, again.stdout, again.stderr) == (0, "Nothing to do: every migration has run and nothing is waiting.\n", "")
