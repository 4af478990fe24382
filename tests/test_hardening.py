"""Issue 16 hardening. Every response carries the security headers, errors included; nothing a
signed-in person is shown may be kept by a browser or proxy; redirects named
by a request stay on this site (issue 16)."""

from __future__ import annotations

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from helpers import csrf_from


def _secured(response) -> None:
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_response_is_secured_errors_included_and_nothing_personal_is_cached(client):
    page = await client.get("/login")
    _secured(page)
    assert page.headers["cache-control"] == "no-store"
    # Errors are answered outside every route and middleware: still secured.
    for response in (
        await client.get("/no-such-page"),
        await client.get("/api/v1/audits/99999999"),
        await client.delete("/login"),
        await client.get("/api/v1/allocations"),  # not signed in
    ):
        assert response.status_code in (401, 403, 404, 405), response.status_code
        _secured(response)
        assert response.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in page.headers  # plain http here
    # A 405 says which methods the address takes.
    for method, path in (("DELETE", "/login"), ("PUT", "/api/v1/actions")):
        refused = await client.request(method, path)
        assert refused.status_code == 405
        assert set(refused.headers["allow"].split(", ")) >= {"GET", "POST"}
    # Static files name no one: browsers may keep them.
    static = await client.get("/static/app.css")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"
    _secured(static)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sign_in_goes_on_only_to_a_page_of_this_site(client):
    # Browsers read "/\\host" as "//host", and drop tabs from URLs.
    for target, expected in (
        ("/\\evil.example", "/"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\t/evil.example", "/"),
        ("/programme", "/programme"),
    ):
        client.cookies.clear()
        form = await client.get("/login")
        signed = await client.post(
            "/login",
            data={"username": "haringey.cp_chair", "password": "qaf-demo-2026", "next": target, "_csrf_token": csrf_from(form.text)},
            follow_redirects=False,
        )
        assert signed.status_code == 303, target
        assert signed.headers["location"] == expected, target


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_https_site_tells_browsers_to_keep_to_https(settings, plugins, demo):
    from web.app import create_app

    https = msgspec.structs.replace(settings, base_url="https://qa.haringey.example")
    async with AsyncTestClient(app=create_app(https, plugins), base_url="https://testserver.local") as client:
        response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_values_no_database_holds_are_refused_with_a_reason_not_a_server_error(client):
    """Issue 16: ids beyond 2^63 or 2^31, NUL characters and far years gave 500s."""
    from helpers import api_token

    token = await api_token(client, "haringey.cp_chair")
    huge = 2**63
    for method, path, body in (
        ("GET", f"/api/v1/audits/{huge}", None),
        ("GET", f"/api/v1/audits/{2**31}", None),
        ("GET", f"/api/v1/disputes/{huge}", None),
        ("POST", f"/api/v1/actions/{huge}/updates", {"text": "x"}),
        ("POST", "/api/v1/actions", {"what": "Call\x00back", "owner_id": huge, "due_on": "2027-01-15"}),
        ("POST", "/api/v1/actions", {"what": "Call\x00back", "owner_id": 1, "due_on": "9999-12-31"}),
    ):
        response = await client.request(method, path, json=body, headers=token)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        assert response.json()["detail"]
    # Before sign-in, and on a page: a page that says why.
    client.cookies.clear()
    for path in ("/login?next=/audits%00", "/api/v1/auth/token"):
        response = await (client.get(path) if path.startswith("/login") else client.post(path, json={"username": "a\x00", "password": "b"}))
        assert response.status_code == 400, (path, response.status_code)
        assert "cannot be stored" in response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_older_notification_beyond_the_inbox_page_is_marked_read(client, registry):
    """Issue 16: marking a notification older than the inbox's newest 50 read gave a 500."""
    from core.services import notifications
    from helpers import acting, person, sign_in

    ctx = await acting(registry, "haringey.head_of_qa")
    me = await person("haringey.cp_chair")
    for n in range(52):
        await notifications.notify(
            ctx, organisation_id=me["organisation"], recipients=[me["id"]], kind="action",
            subject=f"Reminder {n + 1}", body="A reminder", link="/audits",
        )
    await sign_in(client, "haringey.cp_chair")
    inbox = await client.get("/notifications")
    assert "Reminder 52" in inbox.text and "Reminder 1<" not in inbox.text
    from core.db.tables import Notification

    oldest = await Notification.select(Notification.id).where(Notification.subject == "Reminder 1").first()
    form = csrf_from(inbox.text)
    read = await client.post(f"/notifications/{oldest['id']}/read", data={"_csrf_token": form}, headers={"HX-Request": "true"})
    assert read.status_code == 200, read.text
    assert "Reminder 1" in read.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_free_text_is_capped_with_the_cap_shown_on_the_form(client):
    """Issue 16: actions, updates and concerns took 1 MiB each, copied into
    notifications, the trail and email."""
    from helpers import api_token, person, sign_in

    token = await api_token(client, "haringey.cp_chair")
    me = await person("haringey.cp_chair")
    long_what = await client.post("/api/v1/actions", json={"what": "x" * 501, "owner_id": me["id"], "due_on": "2027-01-15"}, headers=token)
    assert long_what.status_code == 422
    assert long_what.json()["errors"]["what"] == "What is to be done must be 500 characters or less"
    made = await client.post("/api/v1/actions", json={"what": "x" * 500, "owner_id": me["id"], "due_on": "2027-01-15"}, headers=token)
    assert made.status_code == 201
    update = await client.post(f"/api/v1/actions/{made.json()['id']}/updates", json={"text": "y" * 5001}, headers=token)
    assert update.status_code == 422
    assert update.json()["errors"]["text"] == "The progress update must be 5000 characters or less"
    await sign_in(client, "haringey.cp_chair")
    page = await client.get(f"/actions/{made.json()['id']}")
    assert "You can enter up to 5000 characters" in page.text
    # ... and a person sets at most 30 actions an hour (notification and email flooding).
    for n in range(29):
        more = await client.post("/api/v1/actions", json={"what": f"Action {n}", "owner_id": me["id"], "due_on": "2027-01-15"}, headers=token)
        assert more.status_code == 201, (n, more.text)
    flood = await client.post("/api/v1/actions", json={"what": "One more", "owner_id": me["id"], "due_on": "2027-01-15"}, headers=token)
    assert flood.status_code == 429
    assert flood.json()["detail"] == "You have set 30 actions in the last hour, the most anyone may; try again later"
