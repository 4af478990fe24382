"""Reading URL-encoded forms: every value as text, repeated names kept."""

from __future__ import annotations

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
