"""The deadline sweep: overdue allocations and steps escalate once, on real
dates, even with two qaf processes sweeping one database (CORE-10, HAR-15)."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from core.calendar import UTC
from core.db.tables import FollowUp, Notification, Person
from core.services.context import Context
from core.services.sweep import complete_follow_up, sweep
from helpers import acting, process_env, allocation_of, finalise, person

AFTER_CYCLE = dt.datetime(2027, 2, 1, 9, tzinfo=UTC)  # any demo cycle (this month) is over


async def _kinds(username: str) -> list[str]:
    who = await person(username)
    return [n["kind"] for n in await Notification.select(Notification.kind).where(Notification.recipient == who["id"])]


@pytest.mark.req("HAR-15")
@pytest.mark.req("CORE-10")
async def test_an_allocation_not_submitted_in_time_escalates_and_a_repeat_goes_to_the_ad(registry, demo):
    report = await sweep(Context(registry=registry, now=AFTER_CYCLE))
    assert report.by_kind.get("allocation_due") == 7
    # HAR 2.15: the auditor's service manager / head of service hear; the auditor is told.
    assert "allocation_overdue" in await _kinds("haringey.cp_chair")
    for manager in ("haringey.service_manager", "haringey.head_of_service"):
        assert "escalation:allocation_missed" in await _kinds(manager)
    assert "escalation:allocation_missed_again" not in await _kinds("haringey.assistant_director")
    # Sweeping again changes nothing.
    assert (await sweep(Context(registry=registry, now=AFTER_CYCLE))).deadlines_missed == 0

    # The next month's cycle, missed again by the same people: the AD hears (a repeat).
    org = (await person("haringey.cp_chair"))["organisation"]
    from core.services.cycles import issue_cycle

    await issue_cycle(Context(registry=registry, now=AFTER_CYCLE), org, 2027, 2)
    later = await sweep(Context(registry=registry, now=dt.datetime(2027, 3, 2, 9, tzinfo=UTC)))
    assert later.by_kind.get("allocation_due") == 7
    ad = await _kinds("haringey.assistant_director")
    assert ad.count("escalation:allocation_missed_again") >= 1


@pytest.mark.req("HAR-13")
async def test_a_follow_up_not_recorded_in_time_goes_to_the_service_manager_and_recorded_one_does_not(registry, demo):
    allocation = await allocation_of("haringey.cp_chair")
    await finalise(registry, "haringey.cp_chair", allocation["id"], "requires_improvement")
    task = await FollowUp.select().where(FollowUp.rule == "haringey:requires_improvement_discussion").output(load_json=True).first()
    assert task is not None
    # Ten working days later the task is overdue: the service manager hears.
    late = Context(registry=registry, now=task["due_at"] + dt.timedelta(minutes=1))
    report = await sweep(late)
    assert report.by_kind.get("follow_up") == 1
    assert "escalation:discussion_not_recorded" in await _kinds("haringey.service_manager")


@pytest.mark.req("HAR-13")
async def test_recording_the_discussion_closes_the_task(registry, demo):
    allocation = await allocation_of("haringey.iro")
    await finalise(registry, "haringey.iro", allocation["id"], "requires_improvement")
    task = await FollowUp.select().where(FollowUp.rule == "haringey:requires_improvement_discussion").output(load_json=True).first()
    tm = await Person.select().where(Person.id.is_in(task["assignees"]) & (Person.role == "team_manager")).first()
    ctx = await acting(registry, tm["username"])
    await complete_follow_up(ctx, task["id"], "Discussed in supervision 3 Dec: chronology to be updated by 10 Dec.")
    report = await sweep(Context(registry=registry, now=task["due_at"] + dt.timedelta(days=1)))
    assert report.by_kind.get("follow_up") is None
    done = await FollowUp.select().where(FollowUp.id == task["id"]).first()
    assert done["status"] == "done" and done["note"].startswith("Discussed in supervision")


@pytest.mark.req("CORE-10")
async def test_two_sweeps_at_once_escalate_each_deadline_once(registry, demo):
    a, b = await asyncio.gather(
        sweep(Context(registry=registry, now=AFTER_CYCLE)), sweep(Context(registry=registry, now=AFTER_CYCLE))
    )
    assert a.deadlines_missed + b.deadlines_missed == 7
    assert await Notification.count().where(Notification.kind == "allocation_overdue") == 7


@pytest.mark.req("CORE-10")
def test_two_qaf_processes_sweeping_one_postgresql_send_each_escalation_once(tmp_path, postgres_server):
    url = postgres_server.create_database_sync(prefix="sweep")
    qaf = str(Path(sys.executable).with_name("qaf"))
    env = process_env(QAF_DATA_DIR=str(tmp_path), QAF_DATABASE_URL=url)
    assert subprocess.run([qaf, "demo"], env=env, capture_output=True, timeout=120).returncode == 0
    procs = [
        subprocess.Popen([qaf, "sweep", "--at", AFTER_CYCLE.isoformat()], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    counts = [int(out.split("deadlines passed: ")[1].split()[0]) for out, _ in outputs]
    assert sum(counts) == 7, outputs

    import asyncpg

    async def count() -> tuple[int, int]:
        connection = await asyncpg.connect(url)
        try:
            overdue = await connection.fetchval("SELECT count(*) FROM notification WHERE kind = 'allocation_overdue'")
            escalated = await connection.fetchval("SELECT count(DISTINCT allocation) FROM notification WHERE kind = 'escalation:allocation_missed'")
            missed = await connection.fetchval("SELECT count(*) FROM deadline WHERE status = 'missed'")
            return overdue, escalated, missed
        finally:
            await connection.close()

    assert asyncio.run(count()) == (7, 7, 7)
