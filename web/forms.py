"""Reading URL-encoded forms: every value as text, repeated names kept."""

from __future__ import annotations

import datetime as dt

from litestar import Request


async def form_data(request: Request) -> dict[str, str]:
    """Single-value fields as strings; a checkbox left unticked is simply absent."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def form_lists(request: Request) -> dict[str, list[str]]:
    """Every field as a list, for checkbox groups and repeated names."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def date_errors(errors: dict[str, str], messages: dict[str, str | None]) -> dict[str, str]:
    """A service's field errors with each GOV.UK date input's own message in
    place of the service's (the service saw no date where the person typed a
    part-date or an impossible one)."""
    return errors | {name: message for name, message in messages.items() if message}


def govuk_date(data: dict[str, str], name: str) -> tuple[dt.date | None, str | None]:
    """A GOV.UK date input (``name-day``, ``name-month``, ``name-year``) as a
    date, or the message the design system words for what is wrong."""
    parts = {part: data.get(f"{name}-{part}", "").strip() for part in ("day", "month", "year")}
    missing = [part for part, value in parts.items() if not value]
    if len(missing) == 3:
        return None, None
    if missing:
        return None, f"The date must include a {' and '.join(missing)}"
    try:
        day, month, year = (int(parts[p]) for p in ("day", "month", "year"))
        if year < 1000:
            return None, "The year must include 4 numbers"
        return dt.date(year, month, day), None
    except ValueError:
        return None, "The date must be a real date"
