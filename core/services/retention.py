"""Retention (PLAT-13): records kept past the council's retention period are
anonymised, not deleted: their free text and the case's reference are
removed, and everything counted stays, so every report and every summary
table (grade_month, allocation_month, ...) adds up the same afterwards.

Each kind of record has its period in whole years after it closed
(``Settings.retain_years``; ``QAF_RETAIN_<KIND>_YEARS``; docs/retention.md):

=============  ==========================  =====================================
kind           closed when                 what is removed
=============  ==========================  =====================================
audits         final (``finalised_at``)    written answers, grade evidence, QA's
                                           reasons, concerns, evidence files;
                                           the case's reference once every audit
                                           of the case is anonymised (``cases``)
disputes       resolved                    rationales, the outcome's reason
actions        done or cancelled           what it said, its updates
follow_ups     done                        the note closing it
work           done                        the completion record's summary and
                                           outcome, its evidence files
notifications  written                     subject and message
=============  ==========================  =====================================

Each anonymised record gets an ``erasure`` row (so it is done once) and a
trail entry (``anonymised``, naming what was removed, holding no free text).
The trail's entries are append-only and chained (PLAT-12) and are never
rewritten: the words people wrote are sealed out of each entry when it is
written (``core.services.trail.seal``), and retention removes those words
from ``trail_text``; the entries, their fingerprints and the chain stay, and
``qaf trail verify`` still passes (docs/retention.md).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field

from core.calendar import london_date
from core.db import bulk
from core.db.engine import transaction
from core.db.tables import (
    Action,
    ActionUpdate,
    Allocation,
    ChildCase,
    Concern,
    Dispute,
    EvidenceFile,
    FollowUp,
    Grade,
    Notification,
    Organisation,
    Review,
    Work,
)
from core.forms import fields_of
from core.services import trail
from core.services.context import Context

# What a removed text says where a page shows it (a non-empty text stays
# non-empty: "recorded or not" counts, BED-7, still count it as recorded).
REMOVED = "Removed under the retention policy"

KINDS = ("audits", "disputes", "actions", "follow_ups", "work", "notifications")

# Field kinds a person writes in words (core/forms.py); every other kind
# (yes/no, choices, dates, numbers, grades) is counted by reports and kept.
_WORDS = {"text", "long_text", "evidence"}
# An answer of no known field is kept only if it looks like a choice, a date or a number.
_COUNTABLE = re.compile(r"^(?:[a-z0-9_\-]{1,64}|\d{4}-\d{2}-\d{2}|-?\d+(?:\.\d+)?)$")

# In plain words: the records, when they closed, and what goes.
WORDS = {
    "audits": ("audit", "finalised", "written answers, grade evidence, QA's reasons, concerns and evidence files"),
    "disputes": ("dispute", "resolved", "rationales and the outcome's reason"),
    "actions": ("action", "closed", "what each said and its updates"),
    "follow_ups": ("follow-up", "done", "the note closing each"),
    "work": ("completion record", "done", "summaries, outcomes and evidence files"),
    "notifications": ("notification", "written", "subject and message"),
    "cases": ("case reference", "", "the case's reference, once every audit of the case is anonymised"),
}


@dataclass
class KindDue:
    kind: str
    years: int | None
    before: dt.date | None  # closed before this London date
    ids: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.ids)

    def sentence(self) -> str:
        noun, closed, removed = WORDS[self.kind]
        n = self.count
        noun = noun if n == 1 else noun + "s"
        if self.kind == "cases":
            return f"{n:,} {noun} of cases whose every audit is anonymised"
        if self.years is None:
            return f"{WORDS[self.kind][0].capitalize()}s: kept for ever (QAF_RETAIN_{self.kind.upper()}_YEARS=never)"
        when = f"{self.before:%-d %B %Y}"
        years = "year" if self.years == 1 else "years"
        return f"{n:,} {noun} {closed} before {when} (kept {self.years} {years}): {removed}"


@dataclass
class OrganisationDue:
    organisation_id: int
    name: str
    kinds: list[KindDue]
    # Trail entries whose sealed words --apply removed.
    trail_words: int = 0

    @property
    def total(self) -> int:
        return sum(k.count for k in self.kinds)


def _before(now: dt.datetime, years: int) -> dt.datetime:
    """The instant ``years`` whole years before ``now`` (29 February: the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


_DUE_SQL = {
    "audits": "SELECT id FROM allocation WHERE organisation = {} AND finalised_at IS NOT NULL AND finalised_at < {}",
    "disputes": "SELECT id FROM dispute WHERE organisation = {} AND resolved_at IS NOT NULL AND resolved_at < {}",
    "actions": "SELECT id FROM action WHERE organisation = {} AND status IN ('done', 'cancelled') AND closed_at IS NOT NULL AND closed_at < {}",
    "follow_ups": "SELECT id FROM follow_up WHERE organisation = {} AND status = 'done' AND done_at IS NOT NULL AND done_at < {}",
    "work": "SELECT id FROM work WHERE organisation = {} AND done_at IS NOT NULL AND done_at < {}",
    "notifications": "SELECT id FROM notification WHERE organisation = {} AND created_at < {}",
}
_NOT_DONE = " AND id NOT IN (SELECT record FROM erasure WHERE kind = '{kind}') ORDER BY id"


async def due(ctx: Context, retain_years: dict[str, int | None]) -> list[OrganisationDue]:
    """What each organisation holds past its retention period, not yet anonymised."""
    out = []
    for org in await Organisation.select(Organisation.id, Organisation.name).order_by(Organisation.id):
        kinds = []
        for kind in KINDS:
            years = retain_years.get(kind)
            if years is None:
                kinds.append(KindDue(kind, None, None))
                continue
            cutoff = _before(ctx.now, years)
            rows = await bulk.fetch(_DUE_SQL[kind] + _NOT_DONE.format(kind=kind), org["id"], cutoff)
            kinds.append(KindDue(kind, years, london_date(cutoff), [r[0] for r in rows]))
        audits = next(k for k in kinds if k.kind == "audits")
        kinds.append(KindDue("cases", None, None, await _cases_due(org["id"], audits.ids)))
        out.append(OrganisationDue(org["id"], org["name"], kinds))
    return out


async def _cases_due(organisation_id: int, audits_due: list[int]) -> list[int]:
    """Cases not yet anonymised whose every audit is anonymised or due now."""
    rows = await bulk.fetch(
        "SELECT a.child_case, a.id, CASE WHEN e.id IS NULL THEN 0 ELSE 1 END FROM allocation a"
        " LEFT JOIN erasure e ON e.kind = 'audits' AND e.record = a.id"
        " WHERE a.organisation = {} AND a.child_case IS NOT NULL"
        " AND a.child_case NOT IN (SELECT record FROM erasure WHERE kind = 'cases')",
        organisation_id,
    )
    due_now = set(audits_due)
    every: dict[int, bool] = {}
    for case, allocation, erased in rows:
        every[case] = every.get(case, True) and (bool(erased) or allocation in due_now)
    return sorted(case for case, all_gone in every.items() if all_gone)


async def apply(ctx: Context, retain_years: dict[str, int | None]) -> list[OrganisationDue]:
    """Anonymise everything :func:`due` finds, organisation by organisation,
    each in one transaction with its erasure rows and trail entries."""
    done = []
    for org in await due(ctx, retain_years):
        if not org.total:
            done.append(org)
            continue
        async with transaction():
            rows = []
            for kind in org.kinds:
                for record_id in kind.ids:
                    entity, removed = await _ANONYMISE[kind.kind](ctx, record_id)
                    rows.append(trail.row(
                        ctx, organisation_id=org.organisation_id, entity=entity, entity_id=record_id, action="anonymised",
                        changes={"retention": kind.kind, "removed": removed},
                    ))
                await bulk.insert(
                    "erasure", ("organisation", "kind", "record", "erased_at"),
                    [(org.organisation_id, kind.kind, record_id, ctx.now) for record_id in kind.ids],
                )
                # The words the trail's entries about these records sealed
                # away: removed; the entries, and their chain, stay.
                org.trail_words += await trail.remove_words(org.organisation_id, ENTITY[kind.kind], kind.ids, ctx.now)
            await trail.record_many(rows)
        done.append(org)
    return done


def _removed(text: str | None) -> str:
    return REMOVED if (text or "").strip() else (text or "")


async def _audit(ctx: Context, allocation_id: int) -> tuple[str, list[str]]:
    row = await (
        Allocation.select(
            Allocation.answers, Allocation.form_key, Allocation.form_version, Allocation.kind,
            Allocation.organisation.council.as_alias("council"),
        )
        .where(Allocation.id == allocation_id)
        .output(load_json=True)
        .first()
    )
    answers = dict(row["answers"] or {})
    try:
        form = ctx.registry.form(row["form_key"], row["form_version"])
        kinds = {f.name: f.kind for f in fields_of(ctx.registry, row["council"], form, row["kind"]).fields}
    except Exception:  # a definition no longer loaded: judge each answer by its look
        kinds = {}
    kept = {}
    for name, value in answers.items():
        if not isinstance(value, str) or name.startswith("grade."):
            kept[name] = value
        elif kinds.get(name) in _WORDS or (name not in kinds and not _COUNTABLE.match(value.strip())):
            kept[name] = _removed(value)
        else:
            kept[name] = value
    await Allocation.update({Allocation.answers: kept}).where(Allocation.id == allocation_id)
    await Grade.update({Grade.evidence: ""}).where(Grade.allocation == allocation_id)
    await Review.update({Review.reason: ""}).where(Review.allocation == allocation_id)
    await Concern.update({Concern.description: REMOVED}).where(Concern.allocation == allocation_id)
    await _files(EvidenceFile.allocation == allocation_id)
    return "allocation", ["written answers", "grade evidence", "QA's reasons", "concerns", "evidence files"]


async def _files(where) -> None:
    await EvidenceFile.update({
        EvidenceFile.content: b"", EvidenceFile.filename: "removed", EvidenceFile.sha256: "",
        EvidenceFile.media_type: "application/octet-stream",
    }).where(where)


async def _dispute(ctx: Context, dispute_id: int) -> tuple[str, list[str]]:
    row = await Dispute.select(Dispute.domains, Dispute.outcome_reason).where(Dispute.id == dispute_id).output(load_json=True).first()
    domains = {
        key: {k: (_removed(v) if k == "rationale" else v) for k, v in (value or {}).items()} if isinstance(value, dict) else value
        for key, value in dict(row["domains"] or {}).items()
    }
    await Dispute.update({Dispute.domains: domains, Dispute.outcome_reason: _removed(row["outcome_reason"])}).where(
        Dispute.id == dispute_id
    )
    return "dispute", ["rationales", "the outcome's reason"]


async def _action(ctx: Context, action_id: int) -> tuple[str, list[str]]:
    await Action.update({Action.what: REMOVED}).where(Action.id == action_id)
    await ActionUpdate.update({ActionUpdate.text: REMOVED}).where(ActionUpdate.action == action_id)
    return "action", ["what it said", "its updates"]


async def _follow_up(ctx: Context, follow_up_id: int) -> tuple[str, list[str]]:
    row = await FollowUp.select(FollowUp.note).where(FollowUp.id == follow_up_id).first()
    await FollowUp.update({FollowUp.note: _removed(row["note"])}).where(FollowUp.id == follow_up_id)
    return "follow_up", ["the note closing it"]


async def _work(ctx: Context, work_id: int) -> tuple[str, list[str]]:
    row = await Work.select(Work.summary, Work.outcome).where(Work.id == work_id).first()
    await Work.update({Work.summary: _removed(row["summary"]), Work.outcome: _removed(row["outcome"])}).where(Work.id == work_id)
    await _files(EvidenceFile.work == work_id)
    return "work", ["summary", "outcome", "evidence files"]


async def _notification(ctx: Context, notification_id: int) -> tuple[str, list[str]]:
    await Notification.update({Notification.subject: REMOVED, Notification.body: ""}).where(Notification.id == notification_id)
    # An email years old and still unsent (no mail host) is not sent now.
    await Notification.update({Notification.email_state: "none"}).where(
        (Notification.id == notification_id) & (Notification.email_state == "pending")
    )
    return "notification", ["subject", "message"]


async def _case(ctx: Context, case_id: int) -> tuple[str, list[str]]:
    # The case's category, team and attributes stay: reports count by them.
    # A reference is unique in its organisation: each removed one is a token
    # of its own that means nothing.
    await ChildCase.update({ChildCase.external_id: f"removed {secrets.token_hex(4)}"}).where(ChildCase.id == case_id)
    return "child_case", ["the case's reference"]


# The trail's entity of each kind's records.
ENTITY = {
    "audits": "allocation", "disputes": "dispute", "actions": "action", "follow_ups": "follow_up",
    "work": "work", "notifications": "notification", "cases": "child_case",
}

_ANONYMISE = {
    "audits": _audit,
    "disputes": _dispute,
    "actions": _action,
    "follow_ups": _follow_up,
    "work": _work,
    "notifications": _notification,
    "cases": _case,
}
