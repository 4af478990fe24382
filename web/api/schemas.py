"""JSON shapes of /api/v1, as msgspec Structs (Litestar decodes them strictly)."""

from __future__ import annotations

import datetime as dt

import msgspec

from core.services.audits import Summary


class TokenRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: str
    password: str
    label: str = ""
    # How long the token lasts: 30 days unless given, at most 365.
    expires_in_days: int | None = None
    # The 6-digit code from the authenticator app (or a recovery code), for
    # administrators and the QA team, who sign in with a second factor.
    code: str = ""


class TokenResponse(msgspec.Struct, kw_only=True):
    token: str
    expires_at: dt.datetime | None = None


class TokenOut(msgspec.Struct, kw_only=True):
    id: int
    label: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    state: str  # active | expired | revoked


# The list shape is the service's own Summary: one definition for pages and API.
AllocationSummary = Summary


class FieldOut(msgspec.Struct, kw_only=True):
    name: str
    label: str
    kind: str
    required: bool
    section: str
    phase: str | None
    options: list[list[str]]
    # Issue 17: the case-record fact qaf fills it from (not to be sent), and
    # what a date means for the audit's window (past, during, target).
    from_record: str | None = None
    date_is: str | None = None


class TransitionOut(msgspec.Struct, kw_only=True):
    key: str
    label: str
    reason_required: bool


class GradeOut(msgspec.Struct, kw_only=True):
    phase: str
    domain: str
    level: str
    evidence: str
    set_at: dt.datetime
    set_by_name: str | None


class CoAuditorOut(msgspec.Struct, kw_only=True):
    id: int
    name: str


class CoAuditorIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Add a co-auditor to a joint audit: a person's id (from /api/v1/allocations/{id}/co-auditors/candidates)."""

    person_id: int


class ChangedAnswerOut(msgspec.Struct, kw_only=True):
    field: str
    label: str
    before: str
    after: str


class AllocationDetail(msgspec.Struct, kw_only=True):
    id: int
    case_external_id: str  # "" for an audit on a person or a meeting without a case
    state: str
    state_label: str
    revision: int
    due_at: dt.datetime
    state_due_at: dt.datetime | None
    form: str
    form_version: int
    reason: str
    answers: dict[str, str]
    fields: list[FieldOut]
    transitions: list[TransitionOut]
    editable: bool
    grade_chain: list[GradeOut]
    # PLAT-4: "Ann Lead", or "Ann Lead with Bob Co" for a joint audit, and its co-auditors.
    audited_by: str = ""
    co_auditors: list[CoAuditorOut] = []
    # What it is on (issue 13): "Case 123", the person's name, or "Observation of a … on 3 March 2027".
    subject: str = ""
    # Issue 14, PLAT-8: an agency's return's carried-forward answers still
    # unconfirmed ({field: "Unchanged since 3 March 2025"}; confirm one by
    # saving "confirm.<field>": "yes"), and what changed since that return.
    unchanged: dict[str, str] = {}
    changed: list[ChangedAnswerOut] = []


class SaveAnswers(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    revision: int
    answers: dict[str, str | int | float | None]


class Saved(msgspec.Struct, kw_only=True):
    revision: int


class Submit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    revision: int | None = None


class Step(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: str = ""


class ReviewDecision(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    decision: str
    reason: str = ""
    # QA's moderated grade per domain (or "overall"); omitted domains keep the auditor's.
    grades: dict[str, str] = {}


class TrailEntry(msgspec.Struct, kw_only=True):
    at: dt.datetime
    action: str
    actor_name: str | None
    request_id: str
    changes: dict


class NotificationOut(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    subject: str
    body: str
    link: str
    created_at: dt.datetime
    read_at: dt.datetime | None


class ErrorOut(msgspec.Struct, kw_only=True):
    """Every refusal of the API: the status, the reason in plain words, and
    for bad input each field's problem (``errors``: by field, or a list)."""

    status_code: int
    detail: str
    errors: dict[str, str] | list[dict] | None = None
