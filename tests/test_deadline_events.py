"""Passed deadlines reach only the rules written for them (issue 12, defect 4),
and Haringey's ladder for a report QA returned and the auditor did not amend
(HAR 2.15, HAR-6; defect 5). Everything runs through the real services and
the sweep, on a real database, with the sweep's instant moved day by day.

The suite's instant is Thursday 31 December 2026, 09:30: the next working
days are Monday 4, Tuesday 5, Wednesday 6 January 2027 (New Year's Day and
the weekend skipped); every working-day deadline falls at the end of its
London day.
"""

from __future__ import annotations

import datetime as dt

import pytest

import councils.haringey
from conftest import make_settings
from core.calendar import UTC, to_london
from core.db.tables import Allocation, Deadline, FollowUp, Notification, Person
from core.escalation import EscalationEvent
from core.hookspecs import hookimpl
from core.plugins import load_plugins
from core.services import actions, audits, disputes
from core.services.context import Context
from core.services.sweep import sweep
from helpers import acting, allocation_of, filled_answers, finalise, person
from support.snapshots import snapshot_demo


def _at(day: int, hour: int = 9, month: int = 1, year: int = 2027) -> dt.datetime:
    # January and December: London is on GMT, so UTC is London time.
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


async def _submit(registry, auditor: str, allocation_id: int, now: dt.datetime | None = None) -> None:
    ctx = await acting(registry, auditor)
    if now is not None:
        ctx.now = now
    view = await audits.audit_view(ctx, allocation_id)
    revision = await audits.save_answers(ctx, allocation_id, view.revision, filled_answers(view, "good"))
    await audits.submit(ctx, allocation_id, revision)


async def _return(registry, allocation_id: int) -> None:
    qa = await acting(registry, "haringey.qa_officer")
    await audits.review(qa, allocation_id, "return", "The planning domain needs evidence from the file")


async def _escalations_since(last_id: int) -> dict[str, set[int]]:
    """Escalation rule -> the audits it was raised about, in notifications written after ``last_id``."""
    out: dict[str, set[int]] = {}
    for n in await Notification.select(Notification.kind, Notification.allocation).where(
        (Notification.id > last_id) & Notification.kind.like("escalation:%")
    ):
        out.setdefault(n["kind"].split(":", 1)[1], set()).add(n["allocation"])
    return out


async def _last_notification() -> int:
    row = await Notification.select(Notification.id).order_by(Notification.id, ascending=False).first()
    return row["id"] if row else 0


async def _inbox(username: str, allocation_id: int) -> list[dict]:
    who = await person(username)
    return await Notification.select().where(
        (Notification.recipient == who["id"]) & (Notification.allocation == allocation_id)
    ).order_by(Notification.id)


@pytest.mark.req("CORE-11")
@pytest.mark.req("HAR-13")
async def test_each_kind_of_passed_deadline_reaches_only_the_rule_written_for_it(monkeypatch, tmp_path, database_url):
    """A QA review, an action, a returned audit, a dispute stage and two
    follow-up tasks pass one at a time; the event says what passed and only
    the rule written for it fires. (Before: Haringey's "discussion not
    recorded" told service managers to chase a discussion on every one.)"""
    seen: list[EscalationEvent] = []

    @hookimpl
    def qaf_escalations(registry, event):
        if event.kind == "deadline_passed":
            seen.append(event)
        return []

    # A second plugin answer that only listens: the built-in rules still answer.
    monkeypatch.setattr(councils.haringey, "qaf_escalations", qaf_escalations, raising=False)
    registry = load_plugins(make_settings(tmp_path, database_url)).registry
    await snapshot_demo(registry, "haringey")

    # With QA (due Monday 4th), returned (due Wednesday 6th), and final with
    # "requires improvement" (its discussion due in 10 working days, Friday 15th).
    with_qa = (await allocation_of("haringey.lado"))["id"]
    await _submit(registry, "haringey.lado", with_qa)
    returned = (await allocation_of("haringey.iro"))["id"]
    await _submit(registry, "haringey.iro", returned)
    await _return(registry, returned)
    final = (await allocation_of("haringey.cp_chair"))["id"]
    await finalise(registry, "haringey.cp_chair", final, "requires_improvement")
    people = await audits.relations_of(Context(registry=registry), await audits.load_row(final))
    practitioner = await Person.select().where(Person.id == people["practitioner"]).first()
    # A SMART action due Tuesday 5th, and a dispute whose informal stage is due Friday 8th.
    qa = await acting(registry, "haringey.qa_officer")
    await actions.create(qa, what="Update the chronology", owner_id=practitioner["id"], due_on="2027-01-05", allocation_id=final)
    await disputes.raise_dispute(
        await acting(registry, practitioner["username"]), final, "safeguarding_corporate_parenting_dct",
        {"overall": {"proposed": "good", "rationale": "The plan is SMART and reviewed monthly."}},
    )

    # New Year's Day: the four audits nobody submitted by the end of December
    # are missed allocations, which have rules of their own (HAR 2.15).
    before = await _last_notification()
    report = await sweep(Context(registry=registry, now=_at(1, 9)))
    assert report.by_kind == {"allocation_due": 4} and seen == []
    missed = await _escalations_since(before)
    assert set(missed) == {"allocation_missed"} and len(missed["allocation_missed"]) == 4
    assert not missed["allocation_missed"] & {with_qa, returned, final}

    # The sweep's instant moves past one deadline at a time (just after the
    # end of its London day). Expected: (deadline kind, what the event says, rules fired).
    steps = [
        (_at(5, 0), "state:qa_review", ("state", "haringey:case_audit", "qa_review", None, None), {}),
        (_at(6, 0), "action_due", ("action", None, None, None, None), {}),
        (_at(7, 0), "state:returned", ("state", "haringey:case_audit", "returned", None, None), {"report_not_amended": {returned}}),
        (_at(9, 0), "dispute:informal", ("dispute", "haringey:dispute", None, None, "informal"), {}),
        # report_not_amended's task, set on the 7th: 3 working days, due Tuesday 12th; the audit is still returned.
        (_at(13, 0), "follow_up", ("follow_up", "haringey:case_audit", "returned", "report_not_amended", None), {"report_still_not_amended": {returned}}),
        # The requires-improvement discussion, due Friday 15th: the audit is final.
        (_at(16, 0), "follow_up", ("follow_up", "haringey:case_audit", "final", "requires_improvement_discussion", None), {"discussion_not_recorded": {final}}),
    ]
    for now, kind, what, rules in steps:
        seen.clear()
        before = await _last_notification()
        report = await sweep(Context(registry=registry, now=now))
        # Only the deadline this step is about passed.
        assert report.by_kind == {kind: 1}, (now, report.by_kind)
        assert await _escalations_since(before) == rules, (now, kind)
        assert [(e.deadline, e.workflow, e.state, e.follow_up, e.stage) for e in seen] == [what], now
    # Nothing is left open that the steps did not expect.
    assert not await Deadline.exists().where((Deadline.status == "open") & (Deadline.due_at < _at(16, 0)))


@pytest.mark.req("HAR-6")
@pytest.mark.req("HAR-15")
async def test_a_returned_report_not_amended_climbs_to_the_service_manager_then_the_assistant_director(registry, demo):
    """HAR 2.15: amended within 2-3 days (3-4 when QA offered a discussion),
    read as 3 (4) working days; then the service manager and head of service;
    if still not amended, the assistant director. The auditor is told at each step."""
    # Returned on Thursday 31 December: due by the end of Wednesday 6 January.
    plain = (await allocation_of("haringey.iro"))["id"]
    await _submit(registry, "haringey.iro", plain)
    await _return(registry, plain)
    # Returned, and QA offers a discussion: 4 working days, the end of Thursday 7th.
    offered = (await allocation_of("haringey.lado"))["id"]
    await _submit(registry, "haringey.lado", offered)
    await _return(registry, offered)
    await audits.take_step(await acting(registry, "haringey.qa_officer"), offered, "offer_discussion")
    state = await Allocation.select(Allocation.state, Allocation.state_due_at).where(Allocation.id == offered).first()
    assert state["state"] == "returned_discussion"
    assert to_london(state["state_due_at"]).date() == dt.date(2027, 1, 7)
    # The auditor sees the step and its date on the audit page's data.
    view = await audits.audit_view(await acting(registry, "haringey.lado"), offered)
    assert view.editable and view.state_label == "Returned for revision: discussion offered"

    async def told(username: str, allocation_id: int) -> list[str]:
        return [n["kind"] for n in await _inbox(username, allocation_id)]

    managers = ("haringey.service_manager", "haringey.head_of_service")

    # Wednesday 6th, in the afternoon: still inside the 3 working days.
    await sweep(Context(registry=registry, now=_at(6, 15)))
    for who in (*managers, "haringey.assistant_director"):
        assert "escalation:report_not_amended" not in await told(who, plain)
    assert "deadline_passed" not in await told("haringey.iro", plain)

    # Thursday 7th: the plain return is overdue. The service manager and head
    # of service are asked to speak to the auditor (a task: 3 working days);
    # the auditor is told; the assistant director is not, yet.
    await sweep(Context(registry=registry, now=_at(7, 9)))
    for who in managers:
        assert "escalation:report_not_amended" in await told(who, plain), who
    assert await told("haringey.assistant_director", plain) == []
    overdue = [n for n in await _inbox("haringey.iro", plain) if n["kind"] == "deadline_passed"]
    assert [n["subject"] for n in overdue] == [
        f"Overdue: the audit of case {(await audits.load_row(plain))['case_external_id']} is still returned for revision"
    ]
    assert overdue[0]["body"] == "The step was due by 6 January 2027 23:59 and has not been done."
    task = await FollowUp.select().where((FollowUp.allocation == plain) & (FollowUp.rule == "haringey:report_not_amended")).output(load_json=True).first()
    sm, hos = await person(managers[0]), await person(managers[1])
    assert set(task["assignees"]) == {sm["id"], hos["id"]}
    assert to_london(task["due_at"]).date() == dt.date(2027, 1, 12)  # Friday 8th, Monday 11th, Tuesday 12th
    # The discussion offered gives the other auditor a fourth day.
    assert "escalation:report_not_amended" not in await told(managers[0], offered)

    # Friday 8th: the offered discussion's 4 working days are over too.
    await sweep(Context(registry=registry, now=_at(8, 9)))
    assert "escalation:report_not_amended" in await told(managers[0], offered)
    assert "deadline_passed" in await told("haringey.lado", offered)
    # Monday 11th: that auditor amends and resubmits.
    await _submit(registry, "haringey.lado", offered, now=_at(11, 10))

    # Tuesday 12th, midday: the managers' task is not yet due.
    await sweep(Context(registry=registry, now=_at(12, 12)))
    assert await told("haringey.assistant_director", plain) == []

    # Wednesday 13th: still not amended after the managers' 3 working days:
    # the assistant director hears, and so does the auditor.
    await sweep(Context(registry=registry, now=_at(13, 9)))
    assert await told("haringey.assistant_director", plain) == ["escalation:report_still_not_amended"]
    assert "escalation:report_still_not_amended" in await told("haringey.iro", plain)
    ad = (await _inbox("haringey.assistant_director", plain))[0]
    assert "it is now with the assistant director" in ad["body"]
    # Thursday 14th: the amended one never reaches the assistant director.
    await sweep(Context(registry=registry, now=_at(14, 9)))
    assert await told("haringey.assistant_director", offered) == []
    assert "escalation:report_still_not_amended" not in await told("haringey.lado", offered)
    # Sweeping again sends nothing twice.
    await sweep(Context(registry=registry, now=_at(15, 9)))
    assert await told("haringey.assistant_director", plain) == ["escalation:report_still_not_amended"]


def _rules_for(registry, event: EscalationEvent) -> set[str]:
    return {e.rule for e in registry.hooks.escalations(registry, event)}


def test_every_councils_deadline_rules_select_the_deadline_they_are_for(tmp_path):
    """The built-in plugin's answer to each kind of passed deadline, for every
    council that has deadline rules (the partnership's are not driven by a
    page elsewhere: an agency's overdue response, then the chasing task)."""
    from core.settings import Settings

    registry = load_plugins(
        Settings(data_dir=tmp_path, database_url="sqlite:///x", councils=("haringey", "bedford", "partnership"), secret_key="k" * 40)
    ).registry

    def passed(council, deadline, **what):
        return EscalationEvent(kind="deadline_passed", council=council, allocation_id=1, deadline=deadline, **what)

    cases = [
        (passed("partnership", "state", workflow="partnership:agency_response", state="requested"), {"agency_response_overdue"}),
        (passed("partnership", "follow_up", workflow="partnership:agency_response", state="requested", follow_up="agency_response_overdue"),
         {"agency_response_still_overdue"}),
        # Submitted before the chasing task fell due: nobody is challenged.
        (passed("partnership", "follow_up", workflow="partnership:agency_response", state="submitted", follow_up="agency_response_overdue"), set()),
        (passed("partnership", "state", workflow="partnership:report_sign_off", state="requested"), set()),
        (passed("partnership", "action"), set()),
        (passed("haringey", "state", workflow="haringey:case_audit", state="qa_review"), set()),
        (passed("haringey", "state", workflow="haringey:case_audit", state="returned_discussion"), {"report_not_amended"}),
        (passed("haringey", "follow_up", workflow="haringey:case_audit", state="final", follow_up="inadequate_smart_actions"),
         {"discussion_not_recorded"}),
        (passed("haringey", "follow_up", workflow="haringey:case_audit", state="final", follow_up="report_not_amended"), set()),
        (passed("haringey", "dispute", workflow="haringey:dispute", stage="formal_response"), set()),
        (passed("bedford", "follow_up", workflow="bedford:case_file_audit", state="final", follow_up="remedial_actions"), set()),
    ]
    for event, rules in cases:
        assert _rules_for(registry, event) == rules, event


@pytest.mark.req("CORE-2")
@pytest.mark.parametrize(
    ("old", "new", "definition", "field", "message"),
    [
        # A deadline rule must say which deadline it is for.
        ("    deadline: follow_up\n    follow_ups: [inadequate_smart_actions", "    follow_ups: [inadequate_smart_actions",
         "escalations.discussion_not_recorded", "deadline", "say which deadline passed: state, follow_up, action or dispute"),
        ("    deadline: follow_up\n    follow_ups: [inadequate_smart_actions", "    deadline: overdue\n    follow_ups: [inadequate_smart_actions",
         "escalations.discussion_not_recorded", "deadline", "Invalid enum value 'overdue'"),
        # Selectors name what exists, and what can pass.
        ("    states: [returned, returned_discussion]\n    notify: [service_manager", "    states: [retruned]\n    notify: [service_manager",
         "escalations.report_not_amended", "states[0]", "unknown state 'retruned': no workflow of the council has it"),
        ("    states: [returned, returned_discussion]\n    notify: [service_manager", "    states: [returned, in_progress]\n    notify: [service_manager",
         "escalations.report_not_amended", "states[1]", "state 'in_progress' has no deadline, so its deadline never passes"),
        ("follow_ups: [report_not_amended]", "follow_ups: [report_not_amendid]",
         "escalations.report_still_not_amended", "follow_ups[0]", "unknown escalation rule 'report_not_amendid'"),
        ("follow_ups: [report_not_amended]", "follow_ups: [final_alert]",
         "escalations.report_still_not_amended", "follow_ups[0]", "rule 'final_alert' sets no follow-up deadline"),
        ("    deadline: state\n    states: [returned", "    deadline: state\n    workflows: [case_audti]\n    states: [returned",
         "escalations.report_not_amended", "workflows[0]", "unknown workflow 'case_audti'"),
        # A selector that does not go with the deadline, or the event.
        ("    deadline: state\n    states: [returned", "    deadline: state\n    stages: [informal]\n    states: [returned",
         "escalations.report_not_amended", "stages", "stages only go with deadline: dispute"),
        ("    deadline: follow_up\n    follow_ups: [inadequate_smart_actions", "    deadline: follow_up\n    repeat: true\n    follow_ups: [inadequate_smart_actions",
         "escalations.discussion_not_recorded", "repeat", "a deadline_passed event carries no repeat"),
        ("    event: grade_final\n    notify: [practitioner, team_manager, case_chair]",
         "    event: grade_final\n    deadline: state\n    notify: [practitioner, team_manager, case_chair]",
         "escalations.final_alert", "deadline", "a grade_final event carries no deadline"),
        ("    event: grade_final\n    notify: [practitioner, team_manager, case_chair]",
         "    event: grade_final\n    answered: [actions.smart]\n    notify: [practitioner, team_manager, case_chair]",
         "escalations.final_alert", "answered[0]", "unknown question 'actions.smart'"),
    ],
    ids=["no-deadline", "bad-deadline", "unknown-state", "state-without-deadline", "unknown-rule", "rule-without-task",
         "unknown-workflow", "stages-on-a-state", "repeat-on-a-deadline", "deadline-on-grade-final", "unknown-question"],
)
def test_a_bad_deadline_selector_stops_start_up_naming_plugin_file_definition_and_field(monkeypatch, tmp_path, old, new, definition, field, message):
    from core.definitions.errors import DefinitionError
    from test_definitions import _broken_copy, _load_with

    broken = _broken_copy(tmp_path, "escalations.yaml", old, new)
    with pytest.raises(DefinitionError) as error:
        _load_with(monkeypatch, tmp_path, broken)
    exc = error.value
    assert (exc.plugin, exc.definition, exc.field) == ("haringey", definition, field)
    assert exc.file.endswith("definitions/escalations.yaml")
    assert message in exc.message
    assert f"plugin 'haringey', file {exc.file}, definition {definition!r}, field {field!r}" in str(exc)
