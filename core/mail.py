"""Sending notification emails from the outbox (CORE-13).

``notify()`` writes each notification, with ``email_state="pending"``, in the
same transaction as the event that caused it: if the event commits, so does
its email; if it rolls back, there is nothing to send. This module drains
that outbox.

Claim, lease, send, mark:

1. **Claim.** One short write transaction picks up to ``batch`` due rows
   (``pending`` and ``email_next_at <= now``, or ``sending`` whose lease ran
   out) and moves them to ``sending`` with ``email_next_at = now + LEASE`` and
   ``email_attempts + 1`` by a conditional ``UPDATE ... WHERE id IN (...) AND
   <still claimable> RETURNING``. Only rows the UPDATE returns are ours. On
   PostgreSQL a second sender that read the same ids blocks on the row locks,
   then re-checks the WHERE on the committed rows, finds them ``sending`` with a
   future lease and gets none of them; on SQLite the transaction is BEGIN
   IMMEDIATE, so claims simply take turns. No lock is held while talking SMTP.
2. **Send** each claimed row over one SMTP connection, with a deterministic
   ``Message-ID: <qaf-notification-ID@HOST>``.
3. **Mark** it ``sent`` (or back to ``pending`` with a back-off, or ``failed``
   after ``MAX_ATTEMPTS``), but only while the row is still ours: the UPDATE
   matches the attempt number we claimed it with, so a sender whose lease ran
   out cannot overwrite the state of a row another sender has taken over.

What that guarantees: a committed notification is never lost (it stays in the
table until marked ``sent`` or ``failed``) and two live senders never send the
same row. A crash after claiming but before sending only delays the email until
the lease runs out. The one window left is a crash after the SMTP server
accepted a message but before the row was marked ``sent``: after the lease the
message is sent again, with the same Message-ID, so a receiving system can
discard the copy. Nothing can close that window from this side: the
acknowledgement and our commit are two systems.

Logs carry notification ids and error class names only: never an address, a
name, a subject or an SMTP server's reply text (which can quote the address).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlparse

if TYPE_CHECKING:
    import aiosmtplib


from core.calendar import UTC, utcnow
from core.db.engine import transaction
from core.db.tables import Notification
from core.settings import Settings, SettingsError

log = logging.getLogger("qaf.mail")

# A claimed row is ours for this long; after it, another run may take it over.
LEASE = dt.timedelta(minutes=5)
# Minutes to wait after the 1st, 2nd, 3rd, 4th failed attempt; hourly after that.
BACKOFF_MINUTES = (1, 5, 15, 60)
# After this many failed attempts the email is given up ('failed').
MAX_ATTEMPTS = 8
SMTP_TIMEOUT_SECONDS = 10
TLS_MODES = ("none", "starttls", "tls")


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0  # failed this time; back to 'pending' with a later email_next_at
    failed: int = 0  # given up for good ('failed')
    deferred: int = 0  # claimed but handed back unsent because the run neared its lease


@dataclass(frozen=True)
class Claim:
    """A row this sender owns: its id and the attempt number it was claimed with."""

    id: int
    attempts: int


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    index = min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1
    return dt.timedelta(minutes=BACKOFF_MINUTES[index])


def message_id(notification_id: int, base_url: str) -> str:
    host = urlparse(base_url).hostname or "localhost"
    return f"<qaf-notification-{notification_id}@{host}>"


def build_message(settings: Settings, row: dict) -> EmailMessage:
    """The email for one notification row (``id``, ``email``, ``subject``, ``body``, ``link``)."""
    text = row["body"].rstrip()
    link = row["link"]
    if link:
        url = link if "://" in link else settings.base_url.rstrip("/") + "/" + link.lstrip("/")
        text = f"{text}\n\n{url}"
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row["email"]
    # Header values must be one line; a subject is ours, but be safe.
    message["Subject"] = " ".join(row["subject"].split())
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id(row["id"], settings.base_url)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    message.set_content(text + "\n")
    return message


def _as_utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def _claimable(now: dt.datetime):
    due = Notification.email_next_at.is_null() | (Notification.email_next_at <= now)
    pending = (Notification.email_state == "pending") & due
    lease_expired = (Notification.email_state == "sending") & (Notification.email_next_at <= now)
    return pending | lease_expired


async def claim_due(now: dt.datetime | None = None, batch: int = 50) -> list[Claim]:
    """Atomically take up to ``batch`` due emails: they become 'sending' under a lease."""
    now = _as_utc(now)
    async with transaction():
        candidates = (
            await Notification.select(Notification.id)
            .where(_claimable(now))
            .order_by(Notification.id)
            .limit(batch)
        )
        if not candidates:
            return []
        ids = [row["id"] for row in candidates]
        # Re-check "still claimable" in the UPDATE itself: only rows it changes are ours.
        claimed = (
            await Notification.update(
                {
                    Notification.email_state: "sending",
                    Notification.email_next_at: now + LEASE,
                    Notification.email_attempts: Notification.email_attempts + 1,
                }
            )
            .where(Notification.id.is_in(ids) & _claimable(now))
            .returning(Notification.id, Notification.email_attempts)
        )
    return sorted((Claim(row["id"], row["email_attempts"]) for row in claimed), key=lambda c: c.id)


async def _settle(claim: Claim, values: dict) -> bool:
    """Update a claimed row only if it is still ours (same state and attempt)."""
    async with transaction():
        changed = (
            await Notification.update(values)
            .where(
                (Notification.id == claim.id)
                & (Notification.email_state == "sending")
                & (Notification.email_attempts == claim.attempts)
            )
            .returning(Notification.id)
        )
    if not changed:
        log.warning("notification %s: lease lost before it was settled", claim.id)
    return bool(changed)


# Issue 14 (PLAT-7): a one-time link is kept only until its email is sent:
# the sent notification forgets it, so the database holds no usable link.
# Issue 15 item 2 (PLAT-10): so are a member of staff's invitation and reset link.
ONE_TIME_LINK_KINDS = ("respondent_invitation", "sign_in_link", "staff_invitation", "password_reset")


async def _mark_sent(claim: Claim, now: dt.datetime) -> None:
    await _settle(claim, {Notification.email_state: "sent", Notification.email_sent_at: now})
    await Notification.update({Notification.link: ""}).where(
        (Notification.id == claim.id) & Notification.kind.is_in(list(ONE_TIME_LINK_KINDS)))


async def _mark_failure(claim: Claim, now: dt.datetime, error: BaseException | str, report: SendReport) -> None:
    reason = error if isinstance(error, str) else type(error).__name__
    code = getattr(error, "code", None)
    if code is not None:
        reason = f"{reason} {code}"
    if claim.attempts >= MAX_ATTEMPTS or isinstance(error, str):
        await _settle(claim, {Notification.email_state: "failed", Notification.email_next_at: None})
        log.warning("notification %s: email failed for good after attempt %s (%s)", claim.id, claim.attempts, reason)
        report.failed += 1
        return
    retry_at = now + backoff(claim.attempts)
    await _settle(claim, {Notification.email_state: "pending", Notification.email_next_at: retry_at})
    log.warning("notification %s: email attempt %s failed (%s); retrying later", claim.id, claim.attempts, reason)
    report.retried += 1


async def _release(claim: Claim, now: dt.datetime) -> None:
    """Hand an unsent row back as it was (the attempt did not happen)."""
    await _settle(
        claim,
        {
            Notification.email_state: "pending",
            Notification.email_next_at: now,
            Notification.email_attempts: claim.attempts - 1,
        },
    )


class _Smtp:
    """One SMTP connection for a run, opened on first use and re-opened if dropped."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client: aiosmtplib.SMTP | None = None

    async def connect(self) -> None:
        if self.client is not None and self.client.is_connected:
            return
        import aiosmtplib  # on first use, not at start-up (issue 19 item 6)

        s = self.settings
        self.client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        # Connects, says EHLO, upgrades to TLS if asked and logs in when a username is set.
        await self.client.connect()

    async def send(self, message: EmailMessage) -> None:
        assert self.client is not None
        await self.client.send_message(message)

    def drop(self) -> None:
        """Forget the connection after an error; the next message opens a fresh one."""
        if self.client is not None:
            self.client.close()
            self.client = None

    async def close(self) -> None:
        if self.client is None or not self.client.is_connected:
            return
        import aiosmtplib

        try:
            await self.client.quit()
        except aiosmtplib.SMTPException:
            self.client.close()


async def _details(ids: list[int]) -> dict[int, dict]:
    rows = await Notification.select(
        Notification.id,
        Notification.subject,
        Notification.body,
        Notification.link,
        Notification.recipient.email.as_alias("email"),
    ).where(Notification.id.is_in(ids))
    return {row["id"]: row for row in rows}


async def _send_claimed(settings, smtp: _Smtp, claims: list[Claim], now, fixed_now, started, report) -> bool:
    """Send one claimed batch; False when the run should stop (SMTP down, lease near)."""
    rows = await _details([claim.id for claim in claims])
    for index, claim in enumerate(claims):
        if time.monotonic() - started > LEASE.total_seconds() / 2:
            # Too slow: give the rest back before our lease on them runs out.
            for rest in claims[index:]:
                await _release(rest, now)
                report.deferred += 1
            elapsed = int(time.monotonic() - started)
            log.warning("mail run stopped after %ss; %s emails handed back", elapsed, len(claims) - index)
            return False
        row = rows.get(claim.id)
        if row is None or not row["email"]:
            await _mark_failure(claim, now, "no address", report)
            continue
        try:
            await smtp.connect()
        except Exception as error:  # server down, refused, TLS or login failure
            smtp.drop()
            for rest in claims[index:]:
                await _mark_failure(rest, now, error, report)
            return False
        try:
            await smtp.send(build_message(settings, row))
        except Exception as error:
            smtp.drop()
            await _mark_failure(claim, now, error, report)
            continue
        await _mark_sent(claim, fixed_now or utcnow())
        log.info("notification %s: email sent", claim.id)
        report.sent += 1
    return True


async def send_due(settings: Settings, now: dt.datetime | None = None, batch: int = 50) -> SendReport:
    """Send every email due at ``now`` (default: the current time), ``batch`` rows per claim."""
    report = SendReport()
    if not settings.smtp_host:
        return report
    if settings.smtp_tls not in TLS_MODES:
        raise SettingsError(f"QAF_SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {settings.smtp_tls!r}")
    fixed_now = _as_utc(now) if now is not None else None
    started = time.monotonic()
    smtp = _Smtp(settings)
    try:
        while True:
            moment = fixed_now or utcnow()
            claims = await claim_due(moment, batch)
            if not claims:
                break
            carry_on = await _send_claimed(settings, smtp, claims, moment, fixed_now, started, report)
            if not carry_on or len(claims) < batch:
                break
    finally:
        await smtp.close()
    if report.sent or report.retried or report.failed or report.deferred:
        log.info(
            "mail run: %s sent, %s to retry, %s failed, %s handed back",
            report.sent, report.retried, report.failed, report.deferred,
        )
    return report
