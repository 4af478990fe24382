"""Records: what happened, as Piccolo tables.

Foreign keys RESTRICT deletes: a record that others refer to is never
removed by a cascade, so no audit, grade or trail row disappears silently.

Definitions (forms, workflows, scales) are not stored here; a record refers
to one by qualified key and version (CORE-3). Timestamps are UTC.
"""

from __future__ import annotations

import core.db  # noqa: F401  (sets PICCOLO_CONF before Piccolo looks for it)

from piccolo.columns import (
    JSON,
    Boolean,
    Bytea,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.reference import LazyTableReference
from piccolo.table import Table


class Organisation(Table, tablename="organisation"):
    """A council or partnership running qaf; ``council`` is its plugin key."""

    name = Varchar(length=200)
    council = Varchar(length=64, index=True)
    created_at = Timestamptz()


class Agency(Table, tablename="agency"):
    """A partner agency (police, health, schools …); councils have one, their own."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    key = Varchar(length=64)
    name = Varchar(length=200)


class Service(Table, tablename="service"):
    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    agency = ForeignKey(Agency, null=True, on_delete=OnDelete.restrict)
    name = Varchar(length=200)


class Team(Table, tablename="team"):
    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    service = ForeignKey(Service, null=True, on_delete=OnDelete.restrict)
    name = Varchar(length=200)


class Person(Table, tablename="person"):
    """A member of staff: a local account with one role of the council."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    team = ForeignKey(Team, null=True, index=True, on_delete=OnDelete.restrict)
    agency = ForeignKey(Agency, null=True, on_delete=OnDelete.restrict)
    role = Varchar(length=64, index=True)
    # A named post within the role, where a framework names one (CORE-7).
    post = Varchar(length=100, default="")
    display_name = Varchar(length=200)
    email = Varchar(length=254, default="")
    username = Varchar(length=150, unique=True)
    password_hash = Varchar(length=255, default="")
    line_manager = ForeignKey("self", null=True, index=True, on_delete=OnDelete.restrict)
    active = Boolean(default=True)
    created_at = Timestamptz()
    # A second factor for a local account (issue 15 item 3): the TOTP secret,
    # when it was confirmed, and the last time step used (no code twice).
    totp_secret = Varchar(length=64, default="")
    totp_confirmed_at = Timestamptz(null=True, default=None)
    totp_last_step = Integer(default=0)
    # The identity provider's subject the person last signed in as (OIDC).
    oidc_subject = Varchar(length=255, default="")
    # Local accounts (issue 15 item 2): when the person last signed in (any
    # way), and the instant before which every session of theirs has ended
    # (a password chosen through a reset link ends the others).
    last_signed_in_at = Timestamptz(null=True, default=None)
    sessions_from = Timestamptz(null=True, default=None)


class ApiToken(Table, tablename="api_token"):
    """A bearer token for the JSON API; only its SHA-256 is kept."""

    person = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    token_hash = Varchar(length=64, unique=True)
    label = Varchar(length=100, default="")
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    # Every token expires; a revoked one is kept (the trail names it) but refused.
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class SignInAttempt(Table, tablename="sign_in_attempt"):
    """One attempt to sign in with a password, for throttling (issue 15). The
    username and address are kept only as keyed digests; never the password."""

    at = Timestamptz()
    account = Varchar(length=64, index=True)
    address = Varchar(length=64, index=True)
    person = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    outcome = Varchar(length=32)  # signed_in | wrong_password | throttled | second_factor_wrong


class RecoveryCode(Table, tablename="recovery_code"):
    """A single-use code that stands in for the second factor; only its digest is kept."""

    person = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    code_hash = Varchar(length=64)
    created_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


class ChildCase(Table, tablename="child_case"):
    """A child's case as the case-record system knows it: by its id, not a name."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    external_id = Varchar(length=64, index=True)
    category = Varchar(length=64, index=True)
    team = ForeignKey(Team, null=True, index=True, on_delete=OnDelete.restrict)
    allocated_worker = ForeignKey(Person, null=True, index=True, on_delete=OnDelete.restrict)
    # The child's CP chair or IRO, told of a final audit "where relevant" (HAR 2.6).
    chair = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    # HAR 2.3: the audit covers six months, or less when involvement began later.
    involvement_started_on = Date(null=True, default=None)
    created_at = Timestamptz()
    # PLAT-3: the council's case attributes (``Council.case_attributes``), by key.
    attributes = JSON(default="{}")


class Cycle(Table, tablename="cycle"):
    """One month's audit cycle (HAR 2: first to last working day)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    year = SmallInt()
    month = SmallInt()
    kind = Varchar(length=32, default="monthly")
    starts_on = Date()
    ends_on = Date()
    seed = Integer()
    issued_at = Timestamptz()


class PracticeWeek(Table, tablename="practice_week"):
    """A month whose practice week, agreed by the DCS, replaces its audit cycle (HAR 2)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    year = SmallInt()
    month = SmallInt()
    agreed_by = Varchar(length=200, default="")
    created_at = Timestamptz()


class Allocation(Table, tablename="allocation"):
    """One audit of one case by one auditor: the record the workflow moves."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    cycle = ForeignKey(Cycle, null=True, index=True, on_delete=OnDelete.restrict)
    # The case audited; none for an audit on a person or a meeting (issue 13),
    # where it is the case the meeting was about, if the auditor named one.
    child_case = ForeignKey(ChildCase, null=True, index=True, on_delete=OnDelete.restrict)
    auditor = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    kind = Varchar(length=32, default="audit")  # audit | re_audit
    # Issue 13: an audit on a person (BED s.4 a supervisee's supervision
    # records, s.5 a practitioner observed) or on a meeting (s.6: its type,
    # one of the council's meeting_types, and the London date it was held).
    subject_person = ForeignKey(Person, null=True, index=True, on_delete=OnDelete.restrict)
    meeting_type = Varchar(length=64, default="")
    meeting_on = Date(null=True, default=None)
    previous = ForeignKey("self", null=True, on_delete=OnDelete.restrict)
    # The programme's work this audit counts towards (issue 13), if any.
    work = ForeignKey(
        LazyTableReference("Work", module_path="core.db.tables"), null=True, index=True, on_delete=OnDelete.restrict
    )
    # Issue 14: an agency's return to a partnership request (CSCP-1, 9): the
    # agency answering and the request it answers. A report drafted from a
    # request's returns names the request and no agency.
    agency = ForeignKey(Agency, null=True, index=True, on_delete=OnDelete.restrict)
    agency_request = ForeignKey(
        LazyTableReference("AgencyRequest", module_path="core.db.tables"),
        null=True,
        index=True,
        on_delete=OnDelete.restrict,
    )
    # PLAT-8: the same agency's earlier return its answers were carried
    # forward from, and the carried answers (field names) the agency has
    # confirmed are still right; the others show "Unchanged since <date>".
    carried_from = ForeignKey("self", null=True, on_delete=OnDelete.restrict)
    confirmed = JSON(default="[]")
    # Why this case was chosen for this auditor (CORE-9).
    reason = Text()
    form_key = Varchar(length=130)
    form_version = SmallInt()
    workflow_key = Varchar(length=130)
    workflow_version = SmallInt()
    state = Varchar(length=64, index=True)
    due_at = Timestamptz()
    # The deadline of the current state, if it has one (e.g. QA within a day).
    state_due_at = Timestamptz(null=True, default=None)
    # Optimistic concurrency: a save names the revision it started from.
    revision = Integer(default=0)
    answers = JSON(default="{}")
    submitted_at = Timestamptz(null=True, default=None)
    finalised_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Work(Table, tablename="work"):
    """One occurrence of a council's schedule owed by one person (PLAT-1): the
    programme's work. Issued once, on the first working day of its period
    (``occurrence`` is unique per organisation); done by an audit on the
    schedule's form (``Allocation.work``) or, without a form, by a completion
    record (``done_on``, ``summary``, ``outcome``)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    # "<schedule key>|<owner>|<supervisee or ''>|<due date>": the occurrence.
    occurrence = Varchar(length=300)
    schedule_key = Varchar(length=130)  # qualified, e.g. coventry:hp_tm_case_file
    schedule_version = SmallInt()
    activity = Varchar(length=300)
    owner = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    supervisee = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    starts_on = Date()
    due_on = Date()
    # How many the occurrence asks for (not `count`: that would hide Table.count()).
    needed = SmallInt(default=1)
    form_key = Varchar(length=130, default="")  # qualified; "" for work without a form
    done_on = Date(null=True, default=None)
    summary = Text(default="")
    outcome = Text(default="")
    done_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    done_at = Timestamptz(null=True, default=None)
    # When the owner was reminded that it falls due, and when its due date
    # passed undone and it was chased: each once, whichever process claims it.
    reminded_at = Timestamptz(null=True, default=None)
    missed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    # C17-3: the council theme a themed activity started by hand is on ("" if none).
    theme = Varchar(length=64, default="")
    # PLAT-2: the workflow a completion record goes through where its schedule
    # names one (``Schedule.workflow``): done only once ``final_at`` is set.
    workflow_key = Varchar(length=130, default="")
    workflow_version = SmallInt(null=True, default=None)
    state = Varchar(length=64, default="")
    final_at = Timestamptz(null=True, default=None)
    # The completion record's date; ``done_on`` is set from it only when the
    # workflow is final, so what counts work done never sees it before.
    recorded_on = Date(null=True, default=None)


class AgencyRequest(Table, tablename="agency_request"):
    """A partnership's request to chosen agencies (issue 14; CSCP-4, 5, 7, 9):
    a Section 11 or Section 175/157 self-assessment, a quarter's scorecard
    figures, a multi-agency thematic audit on chosen cases, or an impromptu
    audit. Each agency's answer is an ``Allocation`` naming this request and
    the agency (one per case of a thematic audit's sample)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    kind = Varchar(length=32)  # section_11 | section_175 | scorecard | thematic | impromptu
    title = Varchar(length=300)
    # The period it covers in the partnership's words ("2026 to 2027",
    # "October to December 2026"); "" for an impromptu audit.
    period = Varchar(length=100, default="")
    form_key = Varchar(length=130)  # qualified, e.g. partnership:section_11
    workflow_key = Varchar(length=130)
    # The schedule and the QA manager's work it was issued from, if the
    # programme issued it (PLAT-1); none for one issued by hand.
    schedule_key = Varchar(length=130, default="")
    work = ForeignKey(Work, null=True, index=True, on_delete=OnDelete.restrict)
    # The agencies' deadline, a London date (CSCP-9).
    due_on = Date()
    issued_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    issued_at = Timestamptz()
    state = Varchar(length=32, default="open")  # open | closed | withdrawn
    # CSCP 5.3: what the QA manager said of an impromptu audit's overlap with
    # other requests to the same agencies, when warned of one.
    overlap_note = Text(default="")
    created_at = Timestamptz()


class ScorecardIndicator(Table, tablename="scorecard_indicator"):
    """One Performance Scorecard indicator (CSCP-2, CSCP 5.1), kept as data so
    that it can change: seeded from the council's definitions, then changed
    only through an approved ``IndicatorChange``."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    key = Varchar(length=64)
    label = Varchar(length=300)
    priority = Varchar(length=64, default="")  # the council's indicator group (priority) key
    owner_agency = Varchar(length=64)  # the council's agency key
    definition = Text(default="")
    direction = Varchar(length=16)  # higher_is_better | lower_is_better
    unit = Varchar(length=32, default="")
    green = DoublePrecision()  # on or beyond this: green
    amber = DoublePrecision()  # on or beyond this (short of green): amber; else red
    active = Boolean(default=True)
    version = Integer(default=1)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class IndicatorChange(Table, tablename="indicator_change"):
    """A proposed change to the scorecard's indicators, moved by the
    ``indicator_change`` workflow; applied only when a quorate A&P subgroup
    approves it (CSCP 5.1)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    indicator = ForeignKey(ScorecardIndicator, null=True, on_delete=OnDelete.restrict)  # none: a new indicator
    proposal = JSON(default="{}")
    why = Text(default="")
    workflow_key = Varchar(length=130)
    state = Varchar(length=64)
    proposed_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    proposed_at = Timestamptz()
    quorate = Boolean(null=True, default=None)
    members_present = Integer(null=True, default=None)
    minute_reference = Varchar(length=200, default="")
    decided_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    decided_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class ScorecardQuarter(Table, tablename="scorecard_quarter"):
    """A quarter's Performance Scorecard, moved by the ``scorecard`` workflow
    from the QA manager to the A&P subgroup to the Partnership Board (CSCP 5.1)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    year = Integer()  # the partnership year's first calendar year (April 2027 to March 2028: 2027)
    quarter = Integer()  # 1..4
    workflow_key = Varchar(length=130)
    state = Varchar(length=64)
    created_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AuditProgramme(Table, tablename="audit_programme"):
    """The year's thematic audits, agreed by the A&P subgroup before any
    starts; at most four, one a quarter (CSCP-3, CSCP 5.2)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    year = Integer()
    workflow_key = Varchar(length=130)
    state = Varchar(length=64)
    created_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AuditProgrammeTheme(Table, tablename="audit_programme_theme"):
    programme = ForeignKey(AuditProgramme, null=False, index=True, on_delete=OnDelete.restrict)
    quarter = Integer()  # 1..4; at most one theme a quarter
    theme = Varchar(length=300)


class RequestFinding(Table, tablename="request_finding"):
    """The QA manager's finding on one key line of enquiry of a multi-agency
    audit, read across the agencies' answers (CSCP-5, CSCP 5.2.1)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    agency_request = ForeignKey(AgencyRequest, null=False, index=True, on_delete=OnDelete.restrict)
    line = Varchar(length=64)
    worked_well = Text(default="")
    development = Text(default="")
    recorded_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()


class RequestRecommendation(Table, tablename="request_recommendation"):
    """A recommendation raised from a request's returns; with the report it
    becomes the SMART action plan (CSCP 5.5)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    agency_request = ForeignKey(AgencyRequest, null=False, index=True, on_delete=OnDelete.restrict)
    recommendation = Text()
    agency = Varchar(length=64, default="")
    action = Text()
    by_whom = Varchar(length=200, default="")
    by_when = Date()
    raised_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    raised_at = Timestamptz()


class WorkMember(Table, tablename="work_member"):
    """Who else a piece of work names (PLAT-4): a joint activity's
    co-auditors (``part`` "co_auditor"), or the peer whose cases its owner
    audits (``part`` "peer"). Written when the work is issued."""

    work = ForeignKey(Work, null=False, index=True, on_delete=OnDelete.restrict)
    person = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    part = Varchar(length=16)  # co_auditor | peer


class AllocationAuditor(Table, tablename="allocation_co_auditor"):
    """A joint audit's co-auditors (PLAT-4): they see and edit it as its
    auditor does; the auditor (the lead) alone submits it."""

    allocation = ForeignKey(Allocation, null=False, index=True, on_delete=OnDelete.restrict)
    person = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    part = Varchar(length=16, default="co_auditor")
    added_at = Timestamptz()


class Grade(Table, tablename="grade"):
    """One grade of one domain (or ``overall``) in one phase: the grade chain.

    Phases: ``initial`` and ``post_conversation`` by the auditor (HAR 2.3-2.4),
    then ``final`` when QA accepts. Kept in their own table for reports.
    """

    allocation = ForeignKey(Allocation, null=False, index=True, on_delete=OnDelete.restrict)
    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    phase = Varchar(length=32)
    domain = Varchar(length=64)
    scale_key = Varchar(length=130)
    level = Varchar(length=64)
    # 0 = best on the scale, so grades compare without the definition.
    rank = SmallInt()
    evidence = Text(default="")
    set_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    set_at = Timestamptz()


class StandingGrade(Table, tablename="standing_grade"):
    """Where one domain of one audit stands now: the latest auditor, moderated
    and final grade, kept beside the grade chain in the same transaction as
    every grade written (``core.services.standing_grades``).

    The chain keeps every grade; reports and the QA queue want only the
    latest of each phase, and finding it row by row over ten years of grades
    was the slowest part of every report.
    """

    allocation = ForeignKey(Allocation, null=False, on_delete=OnDelete.restrict)
    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    domain = Varchar(length=64)
    # The allocation's due instant: reports choose audits by it.
    due_at = Timestamptz()
    # A re-audit's predecessor (re-audit movement compares their finals).
    previous = Integer(null=True, default=None)
    # Who audited it and the case's team (0: none) when it was graded: the
    # moderation figures count against them even after a reassignment.
    auditor = Integer(null=True, default=None)
    team = Integer(default=0)
    auditor_level = Varchar(length=64, null=True, default=None)
    moderated_level = Varchar(length=64, null=True, default=None)
    final_level = Varchar(length=64, null=True, default=None)
    final_rank = SmallInt(null=True, default=None)
    # The grade row of the final level (its evidence feeds the themes).
    final_grade = Integer(null=True, default=None)


class GradeMonth(Table, tablename="grade_month"):
    """Final domain grades counted by London month of the audits' due date:
    what a council-wide report of any run of whole months adds up, however
    many years of audits there are. Kept by ``core.services.standing_grades``
    in the same transaction as the standing grades it counts."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM, Europe/London
    domain = Varchar(length=64)
    final_level = Varchar(length=64)
    final_rank = SmallInt()
    n = Integer(default=0)
    # Of those, how many QA's moderation changed, and how many a dispute changed.
    by_moderation = Integer(default=0)
    by_dispute = Integer(default=0)


class AgreementMonth(Table, tablename="agreement_month"):
    """Domain grades QA moderated, and how many it left as the auditor gave
    them, by London month of the audits' due date, auditor and team (0: none):
    the moderation tables by auditor and by team (HAR 2.6, BED-5) add these up.
    Kept by ``core.services.standing_grades`` with the standing grades."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM, Europe/London
    auditor = Integer()
    team = Integer(default=0)
    moderated = Integer(default=0)
    agreed = Integer(default=0)


class AgreementYear(Table, tablename="agreement_year"):
    """``agreement_month`` added up by calendar year, per auditor and,
    separately, per team (``dimension``): a council-wide moderation table over
    years adds a row per auditor (or team) a year. By month an auditor's rows
    are as many as the teams whose cases they audited. Kept with it by
    ``core.services.standing_grades``."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    year = Varchar(length=4)  # YYYY, Europe/London
    dimension = Varchar(length=8)  # auditor | team
    who = Integer()  # the auditor's person id, or the team's id (0: no team)
    moderated = Integer(default=0)
    agreed = Integer(default=0)


class MovementMonth(Table, tablename="movement_month"):
    """Re-audit movement per domain (the re-audit's final grade against its
    predecessor's: improved, same, downgraded) by London month of the
    re-audit's due date. Kept by ``core.services.standing_grades`` with the
    standing grades of both audits."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM, Europe/London
    domain = Varchar(length=64)
    improved = Integer(default=0)
    same = Integer(default=0)
    downgraded = Integer(default=0)


class AllocationMonth(Table, tablename="allocation_month"):
    """Audits allocated, completed (final) and completed on time (submitted by
    the due date) by London month of their due date: a council-wide report's
    completion figures and trend add these up. Kept by
    ``core.services.month_counts`` when an audit is allocated and when it
    becomes final."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM, Europe/London
    allocated = Integer(default=0)
    completed = Integer(default=0)
    on_time = Integer(default=0)


class FollowUpMonth(Table, tablename="follow_up_month"):
    """Escalation follow-ups opened and closed, by London month: a
    council-wide report's "actions opened, closed" add these up. Kept by
    ``core.services.month_counts`` as follow-ups are created and done."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM, Europe/London
    opened = Integer(default=0)
    closed = Integer(default=0)


class WorkMonth(Table, tablename="work_month"):
    """The programme's work by the month it falls due (PLAT-5): per owner and
    schedule, how many pieces were issued, done, and done by their due date.
    The delivery report adds these up instead of reading every piece of work
    and its audits. Kept by ``core.services.work_counts`` in the transactions
    that issue work, record it done, and make its last audit final."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM of the work's due date
    owner = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    schedule_key = Varchar(length=130)  # qualified, as Work.schedule_key
    issued = Integer(default=0)
    done = Integer(default=0)
    on_time = Integer(default=0)


class EscalationMonth(Table, tablename="escalation_month"):
    """Escalations raised about audits, by rule and London month: one per
    rule, audit and instant, however many people it told. Kept by
    ``core.services.month_counts`` as the notifications are written."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    month = Varchar(length=7)  # YYYY-MM, Europe/London
    kind = Varchar(length=64)  # escalation:<rule>
    raised = Integer(default=0)


class Review(Table, tablename="review"):
    """A QA decision on a submitted audit: the moderation log (HAR 2.6)."""

    allocation = ForeignKey(Allocation, null=False, index=True, on_delete=OnDelete.restrict)
    reviewer = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    decision = Varchar(length=32)  # accepted | returned
    reason = Text(default="")
    created_at = Timestamptz()


class FollowUp(Table, tablename="follow_up"):
    """What an escalation requires of people, by when: a tracked task (CORE-11,
    HAR 2.13: SMART actions within 5 working days, discussion within 10)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    allocation = ForeignKey(Allocation, null=True, index=True, on_delete=OnDelete.restrict)
    rule = Varchar(length=130)
    action = Text()
    assignees = JSON(default="[]")
    due_at = Timestamptz(null=True, default=None)
    status = Varchar(length=16, default="open", index=True)  # open | done
    note = Text(default="")
    done_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    done_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class FollowUpAssignee(Table, tablename="follow_up_assignee"):
    """Who a follow-up asks (one row per person in ``FollowUp.assignees``), so
    "follow-ups awaiting me" reads one person's rows from an index instead of
    every open follow-up's JSON list (issue 19). Written only through
    ``core.services.follow_ups``, with the list; the list is the record."""

    follow_up = ForeignKey(FollowUp, null=False, index=True, on_delete=OnDelete.cascade)
    person = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)


class Dispute(Table, tablename="dispute"):
    """A practitioner's or team manager's dispute of a final audit's grades
    (HAR 2.11), moved through the council's dispute workflow stage by stage."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    allocation = ForeignKey(Allocation, null=False, index=True, on_delete=OnDelete.restrict)
    raised_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    workflow_key = Varchar(length=130)
    workflow_version = SmallInt()
    state = Varchar(length=64, index=True)
    state_due_at = Timestamptz(null=True, default=None)
    # The council's grading criteria document cited (HAR-9), by key.
    criteria = Varchar(length=130)
    # {domain: {"current": level, "proposed": level, "rationale": text}}
    domains = JSON(default="{}")
    # upheld | amended, once resolved; "" while open.
    outcome = Varchar(length=16, default="")
    outcome_reason = Text(default="")
    revision = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    resolved_at = Timestamptz(null=True, default=None)


class ActionPlan(Table, tablename="action_plan"):
    """A SMART action plan for partnership or thematic work, monitored by a
    body the council defines (CSCP 5.5: the A&P subgroup; Bedford s.7: DMT)
    until every action is closed (CSCP-8, BED-6)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    body = Varchar(length=64, index=True)  # the council definition's body key
    title = Varchar(length=200)
    source_kind = Varchar(length=32)  # audit | themed_audit_day | multi_agency_audit | dispute_outcome
    source_detail = Text(default="")
    allocation = ForeignKey(Allocation, null=True, on_delete=OnDelete.restrict)
    dispute = ForeignKey(Dispute, null=True, on_delete=OnDelete.restrict)
    status = Varchar(length=16, default="open", index=True)  # open | complete
    created_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    completed_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    completed_at = Timestamptz(null=True, default=None)


class Action(Table, tablename="action"):
    """A SMART action: what, who, by when; from an audit's recommendations, a
    dispute's outcome, or a plan (CORE-12, HAR 2.13)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    allocation = ForeignKey(Allocation, null=True, index=True, on_delete=OnDelete.restrict)
    dispute = ForeignKey(Dispute, null=True, index=True, on_delete=OnDelete.restrict)
    plan = Varchar(length=200, default="")  # free-text label, kept from before action plans
    action_plan = ForeignKey(ActionPlan, null=True, index=True, on_delete=OnDelete.restrict)
    # "" or "management_direction" (Bedford s.3: compliance-audit remedial
    # actions, reviewed in supervision on review_on).
    kind = Varchar(length=32, default="")
    review_on = Date(null=True, default=None)
    what = Text()
    owner = ForeignKey(Person, null=False, index=True, on_delete=OnDelete.restrict)
    due_on = Date()
    due_at = Timestamptz()
    status = Varchar(length=16, default="open", index=True)  # open | done | cancelled
    created_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class ActionUpdate(Table, tablename="action_update"):
    """A progress update on an action."""

    action = ForeignKey(Action, null=False, index=True, on_delete=OnDelete.restrict)
    by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    text = Text()
    status = Varchar(length=16, default="")  # the status it set, if any
    at = Timestamptz()


class LearningRecord(Table, tablename="learning_record"):
    """What a plan's work taught and how it was shared (CSCP 5.5)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    action_plan = ForeignKey(ActionPlan, null=False, index=True, on_delete=OnDelete.restrict)
    learned = Text()
    channel = Varchar(length=64)
    audience = Varchar(length=200)
    shared_on = Date()
    recorded_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    recorded_at = Timestamptz()


class Deadline(Table, tablename="deadline"):
    """A due instant computed on the working-day calendar; the sweep acts on open ones."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    allocation = ForeignKey(Allocation, null=True, index=True, on_delete=OnDelete.restrict)
    follow_up = ForeignKey(FollowUp, null=True, on_delete=OnDelete.restrict)
    dispute = ForeignKey(Dispute, null=True, on_delete=OnDelete.restrict)
    action = ForeignKey(Action, null=True, on_delete=OnDelete.restrict)
    kind = Varchar(length=64)
    due_at = Timestamptz(index=True)
    status = Varchar(length=16, default="open", index=True)  # open | met | missed
    escalate_to = JSON(default="[]")
    created_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class Concern(Table, tablename="concern"):
    """An immediate concern for a child's safety found during an audit (HAR 2.10, BED-2)."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    allocation = ForeignKey(Allocation, null=False, index=True, on_delete=OnDelete.restrict)
    raised_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    description = Text()
    created_at = Timestamptz()


class Notification(Table, tablename="notification"):
    """An in-app message, and its email in the outbox (CORE-13)."""

    # No single-column indexes: notification_report, notification_inbox and
    # notification_outbox start with these columns (migration 2026-12-08T09:00).
    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    recipient = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    kind = Varchar(length=64)
    subject = Varchar(length=200)
    body = Text()
    link = Varchar(length=300, default="")
    allocation = ForeignKey(Allocation, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)
    email_state = Varchar(length=16, default="none")  # none | pending | sent | failed
    email_attempts = SmallInt(default=0)
    email_next_at = Timestamptz(null=True, default=None)
    email_sent_at = Timestamptz(null=True, default=None)


class EvidenceFile(Table, tablename="evidence_file"):
    """A file of evidence on a completion record or an audit (PLAT-6). The
    bytes live here, so a database backup holds them; the type is the one its
    content was checked to be (``core.services.evidence``)."""

    organisation = ForeignKey(Organisation, null=False, on_delete=OnDelete.restrict)
    work = ForeignKey(Work, null=True, index=True, on_delete=OnDelete.restrict)
    allocation = ForeignKey(Allocation, null=True, index=True, on_delete=OnDelete.restrict)
    # Issue 14: the answer (a form field's name) the file is evidence for; "" for the whole record.
    field = Varchar(length=200, default="")
    filename = Varchar(length=255)
    media_type = Varchar(length=100)
    size = Integer()
    sha256 = Varchar(length=64)
    content = Bytea()
    uploaded_by = ForeignKey(Person, null=False, on_delete=OnDelete.restrict)
    uploaded_at = Timestamptz()


class Erasure(Table, tablename="erasure"):
    """A record ``qaf retention --apply`` anonymised (PLAT-13): its free text
    and names removed, its counts kept. ``kind`` is the retention setting's
    (audits, disputes, actions, follow_ups, work, notifications, cases) and
    ``record`` the id of the row of that kind's table."""

    organisation = ForeignKey(Organisation, null=False, index=True, on_delete=OnDelete.restrict)
    kind = Varchar(length=32)
    record = Integer()
    erased_at = Timestamptz()


class TrailText(Table, tablename="trail_text"):
    """The words sealed out of one trail entry's changes (PLAT-13;
    ``core.services.trail``): by the entry's chain (its organisation, 0 for
    none) and number, with the salt of their fingerprints. Retention removes
    them (``removed_at``); the entry and its chain stay as written."""

    chain = Integer()
    seq = Integer()
    salt = Varchar(length=32, default="")
    words = Text(default="")
    removed_at = Timestamptz(null=True, default=None)
class OneTimeLink(Table, tablename="one_time_link"):
    """An emailed link that works once, until it expires or is revoked
    (PLAT-7, PLAT-10): an invitation, a sign-in link, a password reset.
    Only the sha256 of its token is kept (``core.services.one_time_links``)."""

    organisation = ForeignKey(Organisation, null=True, on_delete=OnDelete.restrict)
    purpose = Varchar(length=32)
    token_hash = Varchar(length=64, unique=True)
    person = ForeignKey(Person, null=True, index=True, on_delete=OnDelete.restrict)
    email = Varchar(length=254, default="")
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    created_by = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz()


class Trail(Table, tablename="trail"):
    """Append-only record of every change (CORE-14). Never updated, deleted,
    replaced or truncated: database triggers refuse each (PLAT-12)."""

    organisation = ForeignKey(Organisation, null=True, index=True, on_delete=OnDelete.restrict)
    at = Timestamptz()
    actor = ForeignKey(Person, null=True, on_delete=OnDelete.restrict)
    request_id = Varchar(length=64, default="")
    entity = Varchar(length=64)
    entity_id = Integer()
    action = Varchar(length=64)
    changes = JSON(default="{}")
    # PLAT-12: the entry's number in its organisation's chain (1, 2, ...) and
    # its sha256 over its fields and the previous entry's hash
    # (core/services/trail.py; `qaf trail verify` checks them).
    seq = Integer(default=0)
    hash = Varchar(length=64, default="")


TABLES: tuple[type[Table], ...] = (
    Organisation,
    Agency,
    Service,
    Team,
    Person,
    ApiToken,
    SignInAttempt,
    RecoveryCode,
    ChildCase,
    Cycle,
    PracticeWeek,
    Allocation,
    Work,
    AgencyRequest,
    ScorecardIndicator,
    IndicatorChange,
    ScorecardQuarter,
    AuditProgramme,
    AuditProgrammeTheme,
    RequestFinding,
    RequestRecommendation,
    WorkMember,
    AllocationAuditor,
    Grade,
    StandingGrade,
    GradeMonth,
    AgreementMonth,
    AgreementYear,
    MovementMonth,
    AllocationMonth,
    EscalationMonth,
    FollowUpMonth,
    WorkMonth,
    Review,
    FollowUp,
    FollowUpAssignee,
    Dispute,
    ActionPlan,
    Action,
    ActionUpdate,
    LearningRecord,
    Deadline,
    Concern,
    Notification,
    EvidenceFile,
    Erasure,
    TrailText,
    OneTimeLink,
    Trail,
)
