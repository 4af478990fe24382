"""Small helpers the tests share: finding demo people, signing in."""

from __future__ import annotations

import datetime as dt
import os
import re

from core.calendar import london_date
from core.db.tables import Allocation, Person
from core.services.accounts import actor
from core.services.context import Context
from core.services.demo import DEMO_PASSWORD


# The clock is an input (issue 12): every test runs at a named instant, never
# at today's date. Unless a test names its own with @pytest.mark.clock(...),
# it runs at 09:30 on Thursday 31 December 2026 in London: the last working
# day of the month, the quarter and the calendar year, with Monday 28 December
# (Boxing Day's substitute) just behind it and New Year's Day just ahead.
SUITE_INSTANT = dt.datetime(2026, 12, 31, 9, 30, tzinfo=dt.timezone.utc)
SUITE_TODAY = london_date(SUITE_INSTANT)


def process_env(**settings: str) -> dict[str, str]:
    """The environment for a `qaf` subprocess: this one's without its QAF_
    settings, at this process's clock (QAF_CLOCK), plus ``settings``."""
    from core.calendar import utcnow

    env = {k: v for k, v in os.environ.items() if not k.startswith("QAF_")}
    return env | {"QAF_CLOCK": utcnow().isoformat()} | settings


async def person(username: str) -> dict:
    return await Person.select().where(Person.username == username).first()


async def acting(registry, username: str) -> Context:
    """A service Context acting as the demo person ``username``."""
    found = await person(username)
    ctx = Context(registry=registry)
    ctx.actor = await actor(ctx, found["id"])
    return ctx


async def allocation_of(username: str) -> dict:
    """The (first) allocation of the auditor ``username``."""
    found = await person(username)
    return await Allocation.select().where(Allocation.auditor == found["id"]).order_by(Allocation.id).first()


def csrf_from(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def sign_in(client, username: str, password: str = DEMO_PASSWORD):
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "_csrf_token": csrf_from(page.text), "next": "/audits"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


async def api_token(client, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    # The longest a token may last (365 days): tests move the clock across
    # months with one token, as an integration would hold one for a year.
    response = await client.post("/api/v1/auth/token", json={"username": username, "password": password, "expires_in_days": 365})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def complete_answers(fields: list[dict], grade: str = "good", evidence: str = "Seen alone; wishes recorded.") -> dict[str, str]:
    """A full set of answers for every field of a form (from the API's field list)."""
    answers = {}
    for field in fields:
        if field["kind"] == "grade":
            answers[field["name"]] = grade
        elif field["kind"] == "date":
            answers[field["name"]] = "2026-11-10"
        elif field["kind"] in ("evidence", "long_text", "text"):
            answers[field["name"]] = evidence
        elif field["options"]:
            answers[field["name"]] = field["options"][0][0]
    return answers


async def finalise(registry, auditor: str, allocation_id: int, grade: str, qa: str = "haringey.head_of_qa") -> None:
    """Fill in every field of an allocation with ``grade``, submit it, and have QA accept it."""
    from core.services import audits

    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation_id)
    revision = await audits.save_answers(ctx, allocation_id, view.revision, filled_answers(view, grade))
    await audits.submit(ctx, allocation_id, revision)
    await audits.review(await acting(registry, qa), allocation_id, "accept")


def filled_answers(view, grade: str | None, evidence: str = "Evidence from the file.") -> dict[str, str]:
    """An answer for every field of an audit's form (``audits.audit_view``):
    ``grade`` for each grade (the scale's first level if it has no such level),
    the first option of a choice, and ``evidence`` for required text."""
    answers = {}
    for field in view.fields.fields:
        if field.kind == "grade":
            answers[field.name] = grade if grade in dict(field.options) else field.options[0][0]
        elif field.kind == "date":
            answers[field.name] = "2026-11-10"
        elif field.options:
            answers[field.name] = field.options[0][0]
        elif field.kind == "number":
            answers[field.name] = "1"
        elif field.required:
            answers[field.name] = evidence
    return answers
