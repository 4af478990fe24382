"""In-app notifications, each with its email queued in the same transaction
(CORE-13): the outbox is the notification row's ``email_state``."""

from __future__ import annotations

from core.db.tables import Notification, Person
from core.services.context import Context
from core.services.errors import NotFound


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
    await Notification.insert(*rows)
    return len(rows)


async def inbox(ctx: Context, limit: int = 50) -> list[dict]:
    assert ctx.actor
    return (
        await Notification.select(
            Notification.id,
            Notification.kind,
            Notification.subject,
            Notification.body,
            Notification.link,
            Notification.created_at,
            Notification.read_at,
        )
        .where(Notification.recipient == ctx.actor.person_id)
        .order_by(Notification.created_at, ascending=False)
        .order_by(Notification.id, ascending=False)
        .limit(limit)
    )


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
