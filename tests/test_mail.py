"""Notification emails leave from an outbox (CORE-13): written with the event,
sent by a claim/lease/mark sender, so a crash neither loses nor duplicates one.

Every test runs on a real SQLite file and a real PostgreSQL database, against
a real SMTP server on loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from email import policy
from email.parser import BytesParser
from pathlib import Path

import aiosmtplib
import msgspec
import pytest
from aiosmtpd.controller import Controller

from core import mail
from core.calendar import utcnow
from helpers import process_env
from core.db.tables import Notification
from core.mail import (
    LEASE,
    MAX_ATTEMPTS,
    SendReport,
    backoff,
    build_message,
    claim_due,
    send_due,
)

pytestmark = pytest.mark.req("CORE-13")

QAF = str(Path(sys.executable).with_name("qaf"))
BASE_URL = "https://qaf.example.org"
MAIL_FROM = "qaf@qaf.example.org"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mail_settings(settings, smtp):
    return msgspec.structs.replace(
        settings, smtp_host=smtp.host, smtp_port=smtp.port, base_url=BASE_URL, mail_from=MAIL_FROM
    )


@pytest.fixture
def smtp_down(mail_settings):
    """The same settings pointed at a port nothing listens on."""
    return msgspec.structs.replace(mail_settings, smtp_port=_free_port())


async def _outbox(state: str | None = None) -> list[dict]:
    query = Notification.select(
        Notification.id,
        Notification.kind,
        Notification.subject,
        Notification.body,
        Notification.link,
        Notification.email_state,
        Notification.email_attempts,
        Notification.email_next_at,
        Notification.email_sent_at,
        Notification.recipient.email.as_alias("email"),
    ).order_by(Notification.id)
    if state:
        query = query.where(Notification.email_state == state)
    return await query


def _message_id(notification_id: int) -> str:
    return f"<qaf-notification-{notification_id}@qaf.example.org>"


def _ids(messages) -> Counter:
    """How many times each notification's email arrived, by its Message-ID."""
    counts: Counter = Counter()
    for message in messages:
        match = re.fullmatch(r"<qaf-notification-(\d+)@qaf\.example\.org>", str(message.message["Message-ID"]))
        assert match, message.message["Message-ID"]
        counts[int(match.group(1))] += 1
    return counts


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return process_env(**{
        "QAF_DATA_DIR": str(tmp_path),
        "QAF_DATABASE_URL": database_url,
        "QAF_COUNCILS": "haringey",
        "QAF_SWEEP_SECONDS": "0",
        "QAF_BASE_URL": BASE_URL,
        "QAF_MAIL_FROM": MAIL_FROM,
    } | extra)


def _smtp_env(server) -> dict[str, str]:
    # The loopback test server speaks plain SMTP; a mail host is TLS by default.
    return {"QAF_SMTP_HOST": server.host, "QAF_SMTP_PORT": str(server.port), "QAF_SMTP_TLS": "none"}


def _qaf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run([QAF, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


# --------------------------------------------------------------- delivery


async def test_each_pending_notification_is_emailed_once(demo, mail_settings, smtp):
    pending = await _outbox("pending")
    allocated = [row for row in pending if row["kind"] == "allocated"]
    assert allocated and any(row["kind"] == "case_allocated_for_audit" for row in pending)
    # Everyone in the demo has an address, so every notification is queued.
    assert len(pending) == len(await _outbox())

    report = await send_due(mail_settings)

    assert report == SendReport(sent=len(pending))
    messages = smtp.messages
    assert _ids(messages) == Counter({row["id"]: 1 for row in pending})
    by_id = {str(message.message["Message-ID"]): message for message in messages}
    for row in pending:
        message = by_id[_message_id(row["id"])]
        assert message.to == [row["email"]] and message.envelope_to == [row["email"]]
        assert message.from_ == MAIL_FROM
        assert message.subject == row["subject"]
        assert message.body.startswith(row["body"])
        assert message.message["Auto-Submitted"] == "auto-generated"
        if row["link"]:
            assert message.body.rstrip().endswith(f"\n\n{BASE_URL}{row['link']}")
    chair = next(row for row in allocated if row["email"] == "haringey.cp_chair@example.org")
    message = by_id[_message_id(chair["id"])]
    assert re.fullmatch(r"New audit: case HAR-\S+, due .+", message.subject), message.subject
    assert re.search(rf"{re.escape(BASE_URL)}/audits/\d+$", message.body.rstrip())

    after = await _outbox()
    assert {row["email_state"] for row in after} == {"sent"}
    assert all(row["email_sent_at"] is not None and row["email_attempts"] == 1 for row in after)

    assert await send_due(mail_settings) == SendReport()
    assert await send_due(mail_settings, now=utcnow() + dt.timedelta(days=30)) == SendReport()
    assert len(smtp.messages) == len(pending)


async def test_nothing_is_sent_without_an_smtp_host(demo, settings, smtp):
    before = await _outbox("pending")
    assert await send_due(settings) == SendReport()  # settings.smtp_host is ""
    assert await _outbox("pending") == before
    assert smtp.messages == []


# ------------------------------------------------------------------ crashes


async def test_committed_then_crashed_before_sending(database_url, tmp_path, smtp):
    """`qaf demo` commits the cycle's notifications and exits with no SMTP set:
    the process that caused them is gone before any email went. A separate
    `qaf send-mail` then sends each exactly once, and again sends none."""
    _qaf("demo", env=_env(tmp_path, database_url))
    pending = await _outbox("pending")
    assert pending

    env = _env(tmp_path, database_url, **_smtp_env(smtp))
    first = _qaf("send-mail", env=env)
    assert first.stdout.strip() == f"{len(pending)} sent, 0 to retry, 0 failed"
    assert _ids(smtp.messages) == Counter({row["id"]: 1 for row in pending})

    second = _qaf("send-mail", env=env)
    assert second.stdout.strip() == "0 sent, 0 to retry, 0 failed"
    assert len(smtp.messages) == len(pending)
    assert {row["email_state"] for row in await _outbox()} == {"sent"}


class _StallingServer:
    """An SMTP server that accepts ``accept`` messages, then never answers DATA."""

    def __init__(self, accept: int):
        self.accept = accept
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.received: list = []
        self.stalled = threading.Event()
        self.controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=10)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        if len(self.received) >= self.accept:
            self.stalled.set()
            await asyncio.sleep(30)
            return "451 Try again later"
        self.received.append(BytesParser(policy=policy.default).parsebytes(envelope.content.replace(b"\r\n", b"\n")))
        return "250 Message accepted for delivery"


async def test_sender_killed_while_sending(database_url, tmp_path, mail_settings, smtp):
    """`qaf send-mail` is SIGKILLed while the SMTP server holds its 4th message
    unanswered: the 3 accepted stay sent, the claimed-but-undelivered wait out
    their lease, and every email arrives exactly once in all."""
    _qaf("demo", env=_env(tmp_path, database_url))
    pending = await _outbox("pending")
    assert len(pending) > 5

    stalling = _StallingServer(accept=3)
    stalling.controller.start()
    try:
        env = _env(tmp_path, database_url, **_smtp_env(stalling))
        sender = subprocess.Popen(
            [QAF, "send-mail", "--batch", "5"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            assert await asyncio.to_thread(stalling.stalled.wait, 30), "the sender never reached the 4th message"
        finally:
            os.kill(sender.pid, signal.SIGKILL)
            sender.wait(timeout=10)
        assert sender.returncode == -signal.SIGKILL
    finally:
        stalling.controller.stop()

    first_ids = [row["id"] for row in pending]
    states = {row["id"]: row["email_state"] for row in await _outbox()}
    assert [states[i] for i in first_ids[:5]] == ["sent"] * 3 + ["sending"] * 2
    assert {states[i] for i in first_ids[5:]} == {"pending"}
    assert [str(m["Message-ID"]) for m in stalling.received] == [_message_id(i) for i in first_ids[:3]]

    now = utcnow()
    # The unclaimed go now; the two claimed by the dead process are leased.
    assert await send_due(mail_settings, now=now) == SendReport(sent=len(pending) - 5)
    assert await send_due(mail_settings, now=now + LEASE + dt.timedelta(seconds=1)) == SendReport(sent=2)
    assert await send_due(mail_settings, now=now + dt.timedelta(days=1)) == SendReport()

    delivered = Counter(first_ids[:3]) + _ids(smtp.messages)
    assert delivered == Counter({i: 1 for i in first_ids})
    assert {row["email_state"] for row in await _outbox()} == {"sent"}


async def test_claimed_then_crashed_before_sending(demo, mail_settings, smtp):
    """Rows claimed by a sender that died before sending are sent once its lease ends."""
    pending = await _outbox("pending")
    now = utcnow()
    claims = await claim_due(now, batch=len(pending))  # ... and the process dies here
    assert [claim.id for claim in claims] == [row["id"] for row in pending]
    assert {row["email_state"] for row in await _outbox()} == {"sending"}

    assert await send_due(mail_settings, now=now) == SendReport()
    assert await send_due(mail_settings, now=now + LEASE - dt.timedelta(seconds=1)) == SendReport()
    assert smtp.messages == []

    assert await send_due(mail_settings, now=now + LEASE) == SendReport(sent=len(pending))
    assert _ids(smtp.messages) == Counter({row["id"]: 1 for row in pending})
    assert {(row["email_state"], row["email_attempts"]) for row in await _outbox()} == {("sent", 2)}


async def test_crash_after_the_server_accepted_resends_with_the_same_message_id(demo, mail_settings, smtp):
    """The honest limit: a crash between the server's 250 and the commit of
    'sent' means one resend after the lease, under the same Message-ID."""
    pending = await _outbox("pending")
    now = utcnow()
    claims = await claim_due(now, batch=1)
    [row] = [r for r in pending if r["id"] == claims[0].id]
    await aiosmtplib.send(build_message(mail_settings, row), hostname=smtp.host, port=smtp.port, start_tls=False)
    # ... and the process dies before marking it sent.

    assert await send_due(mail_settings, now=now + LEASE) == SendReport(sent=len(pending))
    counts = _ids(smtp.messages)
    assert counts == Counter({r["id"]: 1 for r in pending}) + Counter({row["id"]: 1})
    copies = [m for m in smtp.messages if str(m.message["Message-ID"]) == _message_id(row["id"])]
    assert len(copies) == 2 and copies[0].body == copies[1].body and copies[0].subject == copies[1].subject


# -------------------------------------------------------------- concurrency


async def test_concurrent_senders_send_each_email_once(demo, mail_settings, smtp):
    pending = await _outbox("pending")
    now = utcnow()
    first, second = await asyncio.gather(claim_due(now, batch=1000), claim_due(now, batch=1000))
    assert not {c.id for c in first} & {c.id for c in second}
    assert sorted(c.id for c in first + second) == [row["id"] for row in pending]

    # Those claims are abandoned; after their lease two senders race for them.
    later = now + LEASE
    reports = await asyncio.gather(*(send_due(mail_settings, now=later, batch=4) for _ in range(2)))
    assert sum(report.sent for report in reports) == len(pending)
    assert _ids(smtp.messages) == Counter({row["id"]: 1 for row in pending})
    assert {row["email_state"] for row in await _outbox()} == {"sent"}


async def test_two_sender_processes_send_each_email_once(demo, database_url, tmp_path, smtp):
    """Two `qaf send-mail` processes on one database (as two servers' sweeps would be)."""
    pending = await _outbox("pending")
    env = _env(tmp_path, database_url, **_smtp_env(smtp))
    senders = [
        subprocess.Popen(
            [QAF, "send-mail", "--batch", "3"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [sender.communicate(timeout=120) for sender in senders]
    assert [sender.returncode for sender in senders] == [0, 0], outputs
    sent = [int(out.split()[0]) for out, _ in outputs]
    assert sum(sent) == len(pending), outputs
    assert _ids(smtp.messages) == Counter({row["id"]: 1 for row in pending})
    assert {row["email_state"] for row in await _outbox()} == {"sent"}


# ------------------------------------------------------------ SMTP failures


async def test_smtp_down_backs_off_then_delivers(demo, mail_settings, smtp_down, smtp):
    pending = await _outbox("pending")
    now = utcnow()

    report = await send_due(smtp_down, now=now, batch=len(pending))
    assert report == SendReport(retried=len(pending))
    rows = await _outbox()
    assert {(row["email_state"], row["email_attempts"]) for row in rows} == {("pending", 1)}
    assert {row["email_next_at"] for row in rows} == {now + backoff(1)}
    assert backoff(1) == dt.timedelta(minutes=1)

    # The server is back, but the emails are not due again yet.
    assert await send_due(mail_settings, now=now + dt.timedelta(seconds=30)) == SendReport()
    assert smtp.messages == []

    assert await send_due(mail_settings, now=now + backoff(1)) == SendReport(sent=len(pending))
    assert _ids(smtp.messages) == Counter({row["id"]: 1 for row in pending})
    assert {(row["email_state"], row["email_attempts"]) for row in await _outbox()} == {("sent", 2)}


async def test_smtp_down_gives_up_after_max_attempts(demo, mail_settings, smtp_down, smtp):
    pending = await _outbox("pending")
    moment = utcnow()
    for attempt in range(1, MAX_ATTEMPTS):
        assert await send_due(smtp_down, now=moment, batch=len(pending)) == SendReport(retried=len(pending))
        rows = await _outbox()
        assert {(row["email_state"], row["email_attempts"]) for row in rows} == {("pending", attempt)}
        assert {row["email_next_at"] for row in rows} == {moment + backoff(attempt)}
        moment += backoff(attempt)
    assert [backoff(n).total_seconds() / 60 for n in range(1, 8)] == [1, 5, 15, 60, 60, 60, 60]

    assert await send_due(smtp_down, now=moment, batch=len(pending)) == SendReport(failed=len(pending))
    assert {(row["email_state"], row["email_attempts"]) for row in await _outbox()} == {("failed", MAX_ATTEMPTS)}

    assert await send_due(mail_settings, now=moment + dt.timedelta(days=7)) == SendReport()
    assert smtp.messages == []


async def test_a_slow_run_hands_back_what_it_cannot_send_within_its_lease(demo, mail_settings, smtp, monkeypatch):
    pending = await _outbox("pending")
    now = utcnow()
    monkeypatch.setattr(mail, "LEASE", dt.timedelta(0))  # any run is "too slow"
    assert await send_due(mail_settings, now=now) == SendReport(deferred=len(pending))
    rows = await _outbox()
    assert {(row["email_state"], row["email_attempts"]) for row in rows} == {("pending", 0)}
    monkeypatch.undo()

    assert await send_due(mail_settings, now=now) == SendReport(sent=len(pending))
    assert _ids(smtp.messages) == Counter({row["id"]: 1 for row in pending})


async def test_logs_name_no_person(demo, mail_settings, smtp_down, smtp, caplog):
    pending = await _outbox("pending")
    now = utcnow()
    with caplog.at_level("INFO", logger="qaf.mail"):
        await send_due(smtp_down, now=now, batch=len(pending))
        await send_due(mail_settings, now=now + backoff(1))
    # Our sender and its SMTP client only: the test SMTP server runs in this
    # process too and logs the envelope it receives.
    text = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith(("qaf", "aiosmtplib"))
    )
    assert "ConnectionRefusedError" in text or "SMTPConnectError" in text
    assert f"notification {pending[0]['id']}" in text
    for row in pending:
        assert row["email"] not in text and row["subject"] not in text
    assert "@" not in text and "HAR-" not in text
