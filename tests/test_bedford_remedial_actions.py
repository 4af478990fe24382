"""BED-3's 48 hours (issue 12, defect 7), through the real services, sweep and page.

Bedford s.3, "All Auditors will: ... Ensure that Remedial Actions are notified
to the Worker and Manager within 48 hours, and copied to IRO/CP Chair as
required; (Auditors should send an email with all actions required to the
Worker, Manager and where appropriate IRO/CP Chair and then copy this into
Azeus)". So the task is the auditor's, only where there are remedial actions
(the case file audit's SECTION 5 Recommendations), and 48 clock hours from
when the audit is final (when the task is set).

The instant: Friday 26 March 2027, 10:00 in London (GMT). British Summer
Time starts at 01:00 on Sunday 28 March, so 48 hours later is 11:00 on the
Sunday, London time: clock hours, across a weekend and a clock change.
"""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import UTC
from core.db.tables import Allocation, Deadline, FollowUp, Notification, Person
from core.plugins import load_plugins
from core.services import audits
from core.services.context import Context
from core.services.sweep import sweep
from helpers import acting, allocation_of, filled_answers, person, sign_in
from support.snapshots import snapshot_demo

FRIDAY = "2027-03-26T10:00:00+00:00"
DUE = dt.datetime(2027, 3, 28, 10, 0, tzinfo=UTC)  # 11:00 BST
RECOMMENDATIONS = {
    "answer.section_5.recommendations.1.recommendation": "Update the chronology and share it with the family",
    "answer.section_5.recommendations.1.date": "2027-04-09",
    "answer.section_5.recommendations.1.who": "Social worker",
}


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(bedford, "bedford")
    settings = make_settings(tmp_path, database_url, councils=("bedford",))
    async with AsyncTestClient(app=create_app(settings, load_plugins(settings)), base_url="http://testserver.local") as client:
        yield client


async def _final(registry, auditor: str, extra: dict[str, str]) -> int:
    allocation = (await allocation_of(auditor))["id"]
    ctx = await acting(registry, auditor)
    view = await audits.audit_view(ctx, allocation)
    revision = await audits.save_answers(ctx, allocation, view.revision, filled_answers(view, "requires_improvement") | extra)
    await audits.submit(ctx, allocation, revision)
    await audits.review(await acting(registry, "bedford.head_of_service"), allocation, "accept")
    return allocation


@pytest.mark.req("BED-3")
@pytest.mark.clock(FRIDAY)
async def test_the_auditor_sends_the_remedial_actions_within_48_clock_hours(bedford, bedford_client):
    with_actions = await _final(bedford, "bedford.team_manager.1", RECOMMENDATIONS)
    without = await _final(bedford, "bedford.team_manager.2", {})
    auditor = await person("bedford.team_manager.1")

    # The task is the auditor's, due 48 clock hours after the audit became final.
    tasks = await FollowUp.select().where(FollowUp.rule == "bedford:remedial_actions").output(load_json=True)
    assert [(t["allocation"], t["assignees"]) for t in tasks] == [(with_actions, [auditor["id"]])]
    finalised = (await Allocation.select(Allocation.finalised_at).where(Allocation.id == with_actions).first())["finalised_at"]
    # The clock ticks on from the test's instant (slowly or not, as the machine allows).
    assert dt.datetime(2027, 3, 26, 10, 0, tzinfo=UTC) <= finalised < dt.datetime(2027, 3, 26, 10, 10, tzinfo=UTC)
    assert tasks[0]["due_at"] - finalised == dt.timedelta(hours=48)

    # The auditor is told what and by when, in London time.
    case = (await audits.load_row(with_actions))["case_external_id"]
    mine = await Notification.select().where((Notification.recipient == auditor["id"]) & (Notification.kind == "escalation:remedial_actions"))
    assert [n["subject"] for n in mine] == [
        "Action within 48 hours, by Sunday 28 March 2027 at 11:00: Email the remedial actions to the worker and manager "
        f"(and where appropriate the IRO/CP chair), then copy the email into Azeus (case {case})"
    ]
    # The worker and manager receive the auditor's email, not a task of their own.
    row = await Allocation.select(Allocation.child_case.allocated_worker.as_alias("worker")).where(Allocation.id == with_actions).first()
    worker = await Person.select().where(Person.id == row["worker"]).first()
    for someone in (worker["id"], worker["line_manager"]):
        assert not await Notification.exists().where((Notification.recipient == someone) & (Notification.kind == "escalation:remedial_actions"))

    # The audit page says it the same way.
    await sign_in(bedford_client, "bedford.team_manager.1")
    page = await bedford_client.get(f"/audits/{with_actions}")
    assert page.status_code == 200
    assert "within 48 hours, by Sunday 28 March 2027 at 11:00" in page.text

    # An audit with no remedial actions sets no task.
    assert not await FollowUp.exists().where((FollowUp.allocation == without) & (FollowUp.rule == "bedford:remedial_actions"))

    # The sweep counts clock hours: still open a minute before, passed a minute after.
    def open_task():
        return Deadline.exists().where((Deadline.follow_up == tasks[0]["id"]) & (Deadline.status == "open"))

    await sweep(Context(registry=bedford, now=DUE - dt.timedelta(minutes=1)))
    assert await open_task()
    await sweep(Context(registry=bedford, now=DUE + dt.timedelta(minutes=1)))
    assert not await open_task()
