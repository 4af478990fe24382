"""/api/v1/delivery: the programme delivery report (PLAT-5), through the
same service as its page: the QA team sees everyone's figures, a manager
their line's, anyone else their own."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery

from core.services import delivery
from web.auth.guards import signed_in
from web.context import request_context


class ReasonOut(msgspec.Struct, kw_only=True):
    reason: str
    count: int


class DeliveryRowOut(msgspec.Struct, kw_only=True):
    label: str  # the person, team, role, activity or lens
    due: int
    issued: int
    done: int
    done_on_time: int
    overdue: int
    not_issued: int
    not_issued_reasons: list[ReasonOut]


class PeriodOut(msgspec.Struct, kw_only=True):
    kind: str  # month | quarter | year | financial_year
    label: str
    first_day: dt.date
    last_day: dt.date


class DeliveryOut(msgspec.Struct, kw_only=True):
    period: PeriodOut
    by: str  # person | team | role | activity | lens
    covering: str  # everyone | line | own
    covering_label: str
    as_on: dt.date  # overdue is counted against this London date
    programme_started: dt.date | None
    rows: list[DeliveryRowOut]
    total: DeliveryRowOut


def _row(r: delivery.DeliveryRow) -> DeliveryRowOut:
    return DeliveryRowOut(
        label=r.label, due=r.due, issued=r.issued, done=r.done, done_on_time=r.on_time, overdue=r.overdue,
        not_issued=r.not_issued, not_issued_reasons=[ReasonOut(reason=k, count=n) for k, n in r.reasons],
    )


class DeliveryController(Controller):
    path = "/delivery"
    guards = [signed_in]

    @get(
        "",
        summary="Programme delivery: due, issued, done, done on time, overdue and not issued (with why), grouped",
        description=(
            "`period`: month, quarter, year or financial_year (default month); `date`: a month in the period, "
            "like 2027-03 (default this month); `by`: person, team, role, activity or lens (default person). "
            "The QA team sees everyone's figures, a manager their line's, anyone else their own."
        ),
    )
    async def report(
        self, request: Request, period: FromQuery[str] = "month", date: FromQuery[str] = "", by: FromQuery[str] = "person"
    ) -> DeliveryOut:
        ctx = request_context(request)
        p = delivery.choose_period(ctx, period, date)
        found = await delivery.delivery(ctx, p, delivery.parse_grouping(ctx, by))
        return DeliveryOut(
            period=PeriodOut(kind=p.kind, label=p.label, first_day=p.start, last_day=p.end - dt.timedelta(days=1)),
            by=found.by, covering=found.covering, covering_label=found.covering_label, as_on=found.today,
            programme_started=found.programme_started, rows=[_row(r) for r in found.rows], total=_row(found.total),
        )
