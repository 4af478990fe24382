"""Bedford's audits through the real services and pages: an inadequate case,
senior managers' quality assurance and the independent audit they can
commission (BED-2, BED-5; BED-3's 48 hours: test_bedford_remedial_actions.py)."""

from __future__ import annotations

import datetime as dt

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Allocation, Notification, Person
from core.plugins import load_plugins
from core.services.context import Context
from helpers import audit_day, allocation_of, api_token, finalise
from support.snapshots import snapshot_demo


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    return load_plugins(make_settings(tmp_path_factory.mktemp("bedford"), "sqlite:///unused", councils=("bedford",))).registry


@pytest_asyncio.fixture(loop_scope="session")
async def bedford_client(bedford, database_url, tmp_path):
    from web.app import create_app

    await snapshot_demo(bedford, "bedford")
    app = create_app(make_settings(tmp_path, database_url, councils=("bedford",)), load_plugins(make_settings(tmp_path, database_url, councils=("bedford",))))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


async def _kinds_of(person_id: int) -> list[str]:
    return [n["kind"] for n in await Notification.select(Notification.kind).where(Notification.recipient == person_id)]


@pytest.mark.req("BED-2")
async def test_an_inadequate_case_tells_manager_and_worker(bedford, bedford_client):
    allocation = await allocation_of("bedford.team_manager.1")
    await finalise(bedford, "bedford.team_manager.1", allocation["id"], "inadequate", qa="bedford.head_of_service")
    row = await Allocation.select(
        Allocation.child_case.allocated_worker.as_alias("worker"), Allocation.finalised_at
    ).where(Allocation.id == allocation["id"]).first()
    worker = await Person.select().where(Person.id == row["worker"]).first()
    # BED-2: the manager and social worker are told, for immediate action.
    assert "escalation:inadequate_case" in await _kinds_of(worker["id"])
    assert "escalation:inadequate_case" in await _kinds_of(worker["line_manager"])
    # BED-3 (the auditor's 48 hours for remedial actions): test_bedford_remedial_actions.py.


@pytest.mark.req("BED-5")
async def test_a_senior_manager_can_commission_an_independent_audit_instead_of_accepting(bedford, bedford_client):
    from core.services import audits
    from helpers import acting

    allocation = await allocation_of("bedford.team_manager.2")
    view = await audits.audit_view(await acting(bedford, "bedford.team_manager.2"), allocation["id"])
    headers = await api_token(bedford_client, "bedford.team_manager.2")
    answers = {}
    for field in view.fields.fields:
        if field.from_record:
            continue  # issue 17: the case record's, not the auditor's
        if field.kind == "grade":
            answers[field.name] = "good"
        elif field.kind == "date":
            answers[field.name] = audit_day()
        elif field.options:
            answers[field.name] = field.options[0][0]
        elif field.required:
            answers[field.name] = "Evidence."
    detail = (await bedford_client.get(f"/api/v1/allocations/{allocation['id']}", headers=headers)).json()
    saved = await bedford_client.put(f"/api/v1/allocations/{allocation['id']}/answers", json={"revision": detail["revision"], "answers": answers}, headers=headers)
    assert saved.status_code == 200, saved.text
    # The auditor may offer the worker a shared reflective discussion (a council step).
    started = (await bedford_client.get(f"/api/v1/allocations/{allocation['id']}", headers=headers)).json()
    assert "discuss" in [t["key"] for t in started["transitions"]]
    discussed = await bedford_client.post(f"/api/v1/allocations/{allocation['id']}/steps/discuss", json={}, headers=headers)
    assert discussed.status_code == 200, discussed.text
    assert discussed.json()["state"] == "worker_discussion"
    assert (await bedford_client.post(f"/api/v1/allocations/{allocation['id']}/submit", json={}, headers=headers)).status_code == 200
    hos = await api_token(bedford_client, "bedford.head_of_service")
    refused = await bedford_client.post(f"/api/v1/allocations/{allocation['id']}/steps/accept", json={}, headers=hos)
    assert refused.status_code == 422  # accept has its own form and rules
    commissioned = await bedford_client.post(
        f"/api/v1/allocations/{allocation['id']}/steps/commission_independent_audit",
        json={"reason": "Practice concerns need an independent view from S&QA"},
        headers=hos,
    )
    assert commissioned.status_code == 200, commissioned.text
    assert commissioned.json()["state"] == "independent_audit_commissioned"
    history = (await bedford_client.get(f"/api/v1/allocations/{allocation['id']}/history", headers=hos)).json()
    assert history[-1]["action"] == "transition:commission_independent_audit"
    assert history[-1]["changes"]["reason"] == "Practice concerns need an independent view from S&QA"


@pytest.mark.req("BED-10")
@pytest.mark.req("CORE-9")
async def test_the_monthly_cycles_reach_a_random_ten_percent_of_cases_a_year(bedford, bedford_client):
    from core.calendar import UTC
    from core.db.tables import ChildCase, Cycle
    from core.services.cycles import issue_cycle

    org = (await Person.select(Person.organisation).where(Person.username == "bedford.team_manager.1").first())["organisation"]
    workers = await Person.select(Person.id, Person.team).where((Person.organisation == org) & (Person.role == "social_worker"))
    assert workers, "the Bedford demo has social workers"
    existing = await ChildCase.count().where(ChildCase.organisation == org)
    # Bedford's c.1,400 open cases (BED-10: c.140 a year is roughly 10%).
    await ChildCase.insert(
        *[
            ChildCase(
                organisation=org,
                external_id=f"BED-{9000 + n}",
                category="cin",
                team=workers[n % len(workers)]["team"],
                allocated_worker=workers[n % len(workers)]["id"],
                created_at=dt.datetime(2026, 1, 1, tzinfo=UTC),
            )
            for n in range(1400 - existing)
        ]
    )
    issued = await issue_cycle(Context(registry=bedford, now=dt.datetime(2027, 1, 4, 9, tzinfo=UTC)), org, 2027, 1)
    # 10% of 1,400 is 140 a year: at least 12 a month, spread over the auditors.
    assert issued.allocations >= 12
    rows = await Allocation.select(Allocation.reason, Allocation.auditor).where(Allocation.cycle == issued.cycle_id)
    auditors = {r["auditor"] for r in rows}
    assert len(rows) == len(auditors) * -(-12 // len(auditors))
    assert "Part of the yearly sample of 10% of 1400 open cases (140 a year, 12 this month)." in rows[0]["reason"]
    assert (await Cycle.select(Cycle.seed).where(Cycle.id == issued.cycle_id).first())["seed"]
