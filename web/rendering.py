"""Pages composed of partials: an htmx request gets the fragment, a plain
request the whole page (Hypermedia Systems' contact.app pattern)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request
from litestar.response import Template
from litestar.utils.scope.state import ScopeState

from core.calendar import to_london
from core.services import notifications, report_access
from web.context import request_context
from web.state import qaf_state

TEMPLATES = Path(__file__).with_name("templates")


def london(value, fmt: str = "%-d %B %Y %H:%M") -> str:
    """Show a stored UTC instant in Europe/London."""
    if value is None:
        return ""
    return to_london(value).strftime(fmt)


def london_day(value) -> str:
    return london(value, "%A %-d %B %Y")


def long_month(value) -> str:
    """A cycle's month ("2026-11") as people write it: November 2026."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(f"{value}-01").strftime("%B %Y")
    except ValueError:
        return str(value)


def long_date(value) -> str:
    """A stored ISO date ("2026-11-22") as people write it: 22 November 2026."""
    import datetime as dt

    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return day.strftime("%-d %B %Y")


def date_parts(values: dict, name: str) -> dict[str, str]:
    """A date answer's day, month and year for its GOV.UK date input: as
    typed where the form came back with an error (``name-day`` ...), else
    the stored ISO date split ("2026-02-12": 12, 2, 2026)."""
    typed = {part: values.get(f"{name}-{part}") for part in ("day", "month", "year")}
    if any(v is not None for v in typed.values()):
        return {part: v or "" for part, v in typed.items()}
    stored = str(values.get(name) or "")
    year, _, rest = stored.partition("-")
    month, _, day = rest.partition("-")
    if year.isdigit() and month.isdigit() and day.isdigit():
        return {"day": str(int(day)), "month": str(int(month)), "year": year}
    return {"day": "", "month": "", "year": ""}


def anchor(name: str) -> str:
    """The element id of a form field: dots would need escaping in selectors."""
    return name.replace(".", "-")


def summary_items(errors: dict[str, str], dates: tuple[str, ...] | list[str] = ()) -> list[dict[str, str]]:
    """A field-error mapping as GOV.UK error-summary items linking to each field.
    A GOV.UK date input named in ``dates`` is linked at its day field, as the
    design system says: its own id is on a <div>, which cannot take focus."""
    return [{"href": f"#{anchor(name)}{'-day' if name in dates else ''}", "text": text} for name, text in errors.items()]


def select_options(items, value=None):
    """A GOV.UK select's ``<option>`` elements, as the ``select`` macro's loop
    wrote them (components/forms.html): one Python pass instead of a Jinja
    loop per option (a list of a council's staff is hundreds long). The
    item whose value equals ``value`` (as strings) is selected, unless it
    says ``selected`` itself."""
    from markupsafe import Markup, escape

    wanted = None if value is None else str(value)
    out = []
    for item in items:
        if not item:
            continue
        get = item.get if isinstance(item, dict) else (lambda key, item=item: getattr(item, key, None))
        text = get("text")
        item_value = get("value")
        if item_value is None:
            item_value = text
        selected = get("selected")
        if selected is None:
            selected = wanted is not None and str(item_value) == wanted
        out.append(f'    <option value="{escape(item_value)}"{" selected" if selected else ""}'
                   f'{" disabled" if get("disabled") else ""}>{escape(text)}</option>')
    return Markup("".join(out))


def radio_items(options) -> list[dict[str, str]]:
    return [{"value": value, "text": text} for value, text in options]


_ACTIONS = {
    "allocated": "Allocated",
    "answers_saved": "Answers saved",
    "logged_in": "Signed in",
}


def describe_action(action: str) -> str:
    if action.startswith("transition:"):
        return "Step: " + action.split(":", 1)[1].replace("_", " ")
    return _ACTIONS.get(action, action.replace("_", " ").capitalize())


def describe_changes(changes, labels: dict[str, str] | None = None) -> str:
    """A line a person can read; the full change stays in the trail row.
    ``labels`` names stored keys (states, answer fields) for people; the
    revision counter is bookkeeping and is left out."""
    if isinstance(changes, str):
        import json

        changes = json.loads(changes or "{}")
    labels = labels or {}

    def name(value):
        return labels.get(value, value) if isinstance(value, str) else value

    parts = []
    for key, value in (changes or {}).items():
        if key == "revision":
            continue
        if key == "answers" and isinstance(value, dict):
            count = len(value)
            if not count:
                parts.append("no answers changed")
            elif count > 5:  # e.g. a whole form filled in at once: the list would swamp the page
                parts.append(f"{count} answers changed")
            else:
                parts.append(f"{count} answer{'s' if count > 1 else ''} changed: " + "; ".join(name(k) for k in sorted(value)))
        elif isinstance(value, list) and len(value) == 2:
            parts.append(f"{name(key)}: {name(value[0])} → {name(value[1])}")
        else:
            parts.append(f"{name(key)}: {value}")
    return "; ".join(parts)


def environment(reload: bool = False) -> Environment:
    # A hand-built Environment has autoescape off by default: switch it on.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # Checking every template file (and each one it extends or imports)
        # for changes on every render is for development only (QAF_DEBUG).
        auto_reload=reload,
    )
    env.filters["london"] = london
    env.filters["anchor"] = anchor
    env.filters["date_parts"] = date_parts
    env.filters["summary_items"] = summary_items
    env.filters["radio_items"] = radio_items
    env.filters["select_options"] = select_options
    env.filters["level_items"] = lambda levels: [{"value": lvl.key, "text": lvl.label, "hint": lvl.descriptor} for lvl in levels]
    env.filters["describe_action"] = describe_action
    env.filters["describe_changes"] = describe_changes
    env.filters["london_day"] = london_day
    env.filters["long_date"] = long_date
    env.filters["long_month"] = long_month
    from core import limits

    env.globals["limits"] = limits
    return env


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    label: str
    current: bool = False
    count: int | None = None


@dataclass(frozen=True, slots=True)
class UserView:
    display_name: str
    role_label: str


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"


async def page(
    request: Request,
    template: str,
    *,
    title: str,
    fragment: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render ``template`` as a whole page, or ``fragment`` for an htmx request."""
    if fragment is not None and is_htmx(request):
        return Template(template_name=fragment, context=context | {"csrf_token": _csrf(request)}, status_code=status_code)
    return Template(
        template_name=template,
        context=await base_context(request, title) | context,
        status_code=status_code,
    )


def _csrf(request: Request) -> str:
    token = ScopeState.from_scope(request.scope).csrf_token
    # Unset (an Empty sentinel) when no route matched, e.g. on a 404.
    return token if isinstance(token, str) else ""


def shell_context(request: Request, title: str, unread: int | None = None, reads_reports: bool | None = None) -> dict[str, Any]:
    """What base.html needs: who is signed in, the navigation, CSRF token, flash."""
    actor = request.scope.get("user")
    user = None
    nav: list[NavItem] = []
    categories: dict[str, str] = {}
    if actor is not None:
        registry = qaf_state(request.app.state).registry
        role = registry.role(f"{actor.council}:{actor.role}")
        user = UserView(actor.display_name, role.label)
        # Case categories by the council's own names ("care_leaver" -> "Care leaver").
        categories = {c.key: c.label for c in registry.council(actor.council).case_categories}
        path = request.url.path
        nav = [NavItem("/audits", "My audits", path.startswith("/audits"))]
        # Issue 14 (PLAT-7): an agency's people answer the partnership's requests.
        if actor.role in ("agency_lead", "agency_respondent"):
            nav.append(NavItem("/requests", "Requests", path.startswith("/requests")))
        if actor.role == "agency_respondent":
            nav = nav[1:] + [NavItem("/notifications", "Notifications", path.startswith("/notifications"), unread)]
        elif actor.can("qa_review"):
            nav.append(NavItem("/qa", "QA queue", path.startswith("/qa")))
        if actor.can("administer"):
            nav.append(NavItem("/cycles", "Cycles", path.startswith("/cycles")))
            # People (invitations, deactivation) is reached from Imports, where
            # staff arrive: the menu stays on one row at 1280 px (issue 17).
            nav.append(NavItem("/imports", "Imports", path.startswith(("/imports", "/people", "/sign-ins"))))
        if actor.role == "agency_respondent":
            pass
        elif actor.can("administer") or actor.can("view_all_audits"):
            nav.append(NavItem("/programme", "Programme", path.startswith("/programme")))
        else:
            nav.append(NavItem("/programme/mine", "My programme", path.startswith("/programme")))
        # Who reads reports, and of what: core.services.report_access (HAR 1.9).
        if report_access.reads_whole_council(actor) if reads_reports is None else reads_reports:
            nav.append(NavItem("/reports", "Reports", path.startswith("/reports")))
        if actor.role != "agency_respondent":
            nav.append(NavItem("/actions", "Actions", path.startswith("/actions")))
        council = registry.council(actor.council)
        # CSCP-8, BED-6: those who sit on a monitoring body (or administer) see its plans.
        if council.bodies and (actor.can("administer") or any(
            actor.role in {r.split(":")[-1] for r in body.roles} for body in council.bodies
        )):
            nav.append(NavItem("/plans", "Action plans", path.startswith("/plans")))
        if actor.role != "agency_respondent":
            nav.append(NavItem("/notifications", "Notifications", path.startswith("/notifications"), unread))
    messages = []
    session = request.scope.get("session")
    if isinstance(session, dict) and session.get("flash"):
        messages = session.get("flash", [])
        request.set_session({k: v for k, v in session.items() if k != "flash"})
    # The GOV.UK timeout warning: how long a page may sit unused before the
    # session ends (web/auth/middleware.py), for base.html's dialog.
    idle_seconds = qaf_state(request.app.state).settings.session_idle_minutes * 60 if user else 0
    return {
        "page_title": title,
        "user": user,
        "nav": nav,
        "csrf_token": _csrf(request),
        "flash": messages,
        "category_labels": categories,
        "idle_seconds": idle_seconds,
        "here": request.url.path,
    }


async def base_context(request: Request, title: str) -> dict[str, Any]:
    unread = None
    reads_reports = None
    actor = request.scope.get("user")
    if actor is not None:
        ctx = request_context(request)
        # Counted as the session was read, on a page GET (web.auth.middleware).
        unread = request.scope.get("state", {}).get("qaf_unread") if ctx.reads_only else None
        if unread is None:
            unread = await notifications.unread_count(ctx)
        if report_access.may_read_some(actor):
            reads_reports = (await report_access.reach(ctx)).any
    return shell_context(request, title, unread, reads_reports)


def local_path(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default``: the one check
    for every redirect a request names (sign-in's next, a form's back link).
    Browsers read ``/\\host`` and ``//host`` as another site, and drop tabs and
    newlines from URLs, so none of those pass."""
    from urllib.parse import urlsplit

    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def see_other(request: Request, url: str):
    """Send the browser on to ``url`` after a successful form post."""
    from litestar.response import Redirect, Response

    if is_htmx(request):
        # Not a 3xx: the browser's XHR follows those itself, so htmx would never
        # see the HX-Redirect header (it would swap the next page in as a fragment).
        return Response(content=b"", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def flash(request: Request, title: str, text: str = "", kind: str = "success") -> None:
    messages = list(request.session.get("flash", []))
    messages.append({"kind": kind, "title": title, "text": text})
    request.set_session({**request.session, "flash": messages})
