"""In-app notifications, each with its email queued in the same transaction
(CORE-13): the outbox is the notification row's ``email_state``."""

from __future__ import annotations

from dataclasses import dataclass, field

from piccolo.columns.combination import WhereRaw

from core.db import bulk
from core.db.tables import Notification, Person
from core.services import month_counts
from core.services.context import Context
from core.services.errors import NotFound, Unreadable

# People per email lookup: well under both engines' bound-parameter limits.
CHUNK = 500
COLUMNS = ("organisation", "recipient", "kind", "subject", "body", "link", "allocation", "created_at", "read_at",
           "email_state", "email_attempts", "email_next_at", "email_sent_at")


async def notify(
    ctx: Context,
    *,
    organisation_id: int,
    recipients: list[int],
    kind: str,
    subject: str,
    body: str,
    link: str = "",
    allocation_id: int | None = None,
) -> int:
    """Write one notification per distinct recipient; call inside the event's transaction."""
    ids = sorted(set(recipients))
    if not ids:
        return 0
    people = await Person.select(Person.id, Person.email).where(Person.id.is_in(ids))
    rows = [
        Notification(
            organisation=organisation_id,
            recipient=person["id"],
            kind=kind,
            subject=subject[:200],
            body=body,
            link=link,
            allocation=allocation_id,
            created_at=ctx.now,
            email_state="pending" if person["email"] else "none",
            email_next_at=ctx.now if person["email"] else None,
        )
        for person in people
    ]
    if rows:
        await Notification.insert(*rows)
        await month_counts.notifications_written([(organisation_id, kind, allocation_id, ctx.now)])
    return len(rows)


@dataclass(slots=True)
class Outbox:
    """Notifications queued by a batch job (a cycle, a sweep) and written with
    ``flush`` by one prepared statement inside the same transaction as their events,
    exactly as ``notify`` would write them one call at a time (CORE-13)."""

    ctx: Context
    _queued: list[tuple] = field(default_factory=list)

    def add(
        self,
        *,
        organisation_id: int,
        recipients: list[int],
        kind: str,
        subject: str,
        body: str,
        link: str = "",
        allocation_id: int | None = None,
    ) -> None:
        ids = sorted(set(r for r in recipients if r is not None))
        if ids:
            self._queued.append((organisation_id, ids, kind, subject, body, link, allocation_id))

    async def flush(self) -> int:
        """Write what is queued, in queue order; one email lookup for all recipients."""
        queued, self._queued = self._queued, []
        wanted = sorted({r for q in queued for r in q[1]})
        emails: dict[int, str] = {}
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start : start + CHUNK]
            emails.update(await bulk.fetch(f"SELECT id, email FROM person WHERE id IN ({', '.join('{}' for _ in part)})", *part))
        now = self.ctx.now
        rows = [
            (organisation_id, recipient, kind, subject[:200], body, link, allocation_id, now, None,
             "pending" if emails[recipient] else "none", 0, now if emails[recipient] else None, None)
            for organisation_id, ids, kind, subject, body, link, allocation_id in queued
            for recipient in ids
            # As notify: someone who is not a person gets nothing.
            if recipient in emails
        ]
        await bulk.insert("notification", COLUMNS, rows)
        await month_counts.notifications_written((r[0], r[2], r[6], r[7]) for r in rows)
        return len(rows)


async def inbox(ctx: Context, limit: int = 50, before: int | None = None) -> list[dict]:
    """The actor's notifications, newest first: the newest ``limit``, or
    those after the notification ``before`` (keyset by (created_at, id),
    issue 19: the API's pages), which must be the actor's own."""
    assert ctx.actor
    query = Notification.select(
        Notification.id,
        Notification.kind,
        Notification.subject,
        Notification.body,
        Notification.link,
        Notification.created_at,
        Notification.read_at,
    ).where(Notification.recipient == ctx.actor.person_id)
    if before is not None:
        if not await bulk.fetch("SELECT 1 FROM notification WHERE id = {} AND recipient = {}", before, ctx.actor.person_id):
            raise Unreadable("The page to continue from is not one of your notifications: "
                             "follow the Link header of the page before, or start again without it")
        query = query.where(WhereRaw(
            "(notification.created_at < (SELECT n.created_at FROM notification n WHERE n.id = {})"
            " OR (notification.created_at = (SELECT n.created_at FROM notification n WHERE n.id = {})"
            " AND notification.id < {}))", before, before, before))
    return await (
        query.order_by(Notification.created_at, ascending=False)
        .order_by(Notification.id, ascending=False)
        .limit(limit)
    )


async def one(ctx: Context, notification_id: int) -> dict:
    """One of the actor's notifications, however old (the inbox lists the newest 50)."""
    assert ctx.actor
    row = (
        await Notification.select(
            Notification.id, Notification.kind, Notification.subject, Notification.body, Notification.link,
            Notification.created_at, Notification.read_at,
        )
        .where((Notification.id == notification_id) & (Notification.recipient == ctx.actor.person_id))
        .first()
    )
    if row is None:
        raise NotFound("No such notification")
    return row


async def unread_count(ctx: Context) -> int:
    assert ctx.actor
    return await Notification.count().where(
        (Notification.recipient == ctx.actor.person_id) & Notification.read_at.is_null()
    )


async def mark_read(ctx: Context, notification_id: int) -> None:
    assert ctx.actor
    updated = (
        await Notification.update({Notification.read_at: ctx.now})
        .where(
            (Notification.id == notification_id)
            & (Notification.recipient == ctx.actor.person_id)
            & Notification.read_at.is_null()
        )
        .returning(Notification.id)
    )
    if not updated:
        exists = await Notification.exists().where(
            (Notification.id == notification_id) & (Notification.recipient == ctx.actor.person_id)
        )
        if not exists:
            raise NotFound("No such notification")
