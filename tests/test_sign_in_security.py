"""Sessions and sign-in that pass a pen test (issue 15 items 4, 5 and 6; the
weaknesses its "Why" lists): a new session id at sign-in, a CSRF token bound
to its session, idle timeout and lifetime, session cookies, throttled and
recorded password attempts, API tokens that expire and can be revoked."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.calendar import utcnow
from core.db.tables import SignInAttempt, Trail
from helpers import csrf_from, person, sign_in

PASSWORD = "qaf-demo-2026"


def _cookie(response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";")[0]
    return None


async def _post_login(client, username: str, password: str):
    page = await client.get("/login")
    return await client.post(
        "/login", data={"username": username, "password": password, "_csrf_token": csrf_from(page.text), "next": "/audits"},
        follow_redirects=False,
    )


async def test_signing_in_gives_a_new_session_id_and_a_planted_or_old_one_holds_nothing(client, settings, plugins):
    # An attacker plants a session cookie of their choosing before the QA officer signs in.
    client.cookies.set("session", "f" * 64)
    signed = await sign_in(client, "haringey.qa_officer")
    issued = _cookie(signed, "session")
    assert issued and issued != "f" * 64
    header = next(h for h in signed.headers.get_list("set-cookie") if h.startswith("session="))
    # A session cookie: no expiry, so it goes when the browser closes.
    assert "max-age" not in header.lower() and "expires" not in header.lower()
    assert "httponly" in header.lower()
    assert "QA queue" in (await client.get("/audits")).text

    from web.app import create_app

    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as attacker:
        attacker.cookies.set("session", "f" * 64)  # the planted id signs no one in
        assert (await attacker.get("/audits", follow_redirects=False)).headers["location"].startswith("/login")
        attacker.cookies.set("session", issued)  # the real one does, until sign-out
        assert (await attacker.get("/audits")).status_code == 200
        page = await client.get("/audits")
        await client.post("/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
        # Replayed after sign-out: nothing.
        assert (await attacker.get("/audits", follow_redirects=False)).headers["location"].startswith("/login")

    # Signing in again gives yet another id.
    again = await sign_in(client, "haringey.qa_officer")
    assert _cookie(again, "session") not in (issued, None)


async def test_a_change_of_role_gives_the_session_a_new_id(client):
    from core.db.tables import Person

    signed = await sign_in(client, "haringey.cp_chair")
    before = _cookie(signed, "session")
    # The staff import makes the CP chair a QA officer while they are signed in.
    await Person.update({Person.role: "qa_officer"}).where(Person.username == "haringey.cp_chair")
    page = await client.get("/audits")
    after = _cookie(page, "session")
    assert after and after != before
    assert "QA queue" in page.text
    client.cookies.set("session", before)  # the id from before the change holds nothing
    assert (await client.get("/audits", follow_redirects=False)).headers["location"].startswith("/login")


async def test_a_csrf_token_from_another_session_is_refused(client, settings, plugins):
    from web.app import create_app

    await sign_in(client, "haringey.cp_chair")
    mine = csrf_from((await client.get("/audits")).text)
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as other:
        await sign_in(other, "haringey.qa_officer")
        theirs = csrf_from((await other.get("/audits")).text)
        their_cookie = other.cookies.get("csrftoken")
        assert theirs != mine
        # The other session's token, even with that session's CSRF cookie
        # planted alongside (cookie tossing), does not pass for this session.
        client.cookies.set("csrftoken", their_cookie)
        refused = await client.post("/session/keep-alive", data={"_csrf_token": theirs}, follow_redirects=False)
        assert refused.status_code == 403
        assert "This form is from another session" in refused.text
        # The other session itself is unaffected.
        assert (await other.post("/session/keep-alive", data={"_csrf_token": theirs, "next": "/audits"}, follow_redirects=False)).status_code == 303


@pytest.mark.clock("2027-03-26T16:00:00+00:00")  # the Friday before the clocks go forward
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_unused_session_ends_after_the_idle_time_and_any_session_after_its_lifetime(client, clock):
    await sign_in(client, "haringey.cp_chair")
    page = await client.get("/audits")
    # The GOV.UK timeout warning is on the page, set for 30 minutes.
    assert 'id="qaf-timeout"' in page.text and 'data-idle-seconds="1800"' in page.text
    assert "You're about to be signed out" in page.text
    clock.shift(dt.timedelta(minutes=25))
    assert (await client.get("/audits")).status_code == 200  # used within the idle time: still signed in
    clock.shift(dt.timedelta(minutes=31))
    out = await client.get("/audits", follow_redirects=False)
    assert out.headers["location"].startswith("/login")
    login = await client.get("/login")
    assert "You have been signed out because you had not used qaf for 30 minutes" in login.text

    # Used every 25 minutes, a session still ends 10 hours after signing in.
    await sign_in(client, "haringey.cp_chair")
    for _ in range(23):  # 9 h 35 min
        clock.shift(dt.timedelta(minutes=25))
        assert (await client.get("/audits", follow_redirects=False)).status_code == 200
    clock.shift(dt.timedelta(minutes=26))
    assert (await client.get("/audits", follow_redirects=False)).headers["location"].startswith("/login")
    assert "you signed in more than 10 hours ago" in (await client.get("/login")).text


async def test_over_https_the_cookies_are_host_cookies(tmp_path, database_url, plugins, demo):
    from web.app import create_app

    settings = make_settings(tmp_path, database_url, base_url="https://qaf.haringey.example")
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="https://testserver.local") as client:
        page = await client.get("/login")
        assert "__Host-csrftoken=" in page.headers.get("set-cookie", "")
        response = await client.post(
            "/login",
            data={"username": "haringey.cp_chair", "password": PASSWORD, "_csrf_token": csrf_from(page.text), "next": "/audits"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        session = next(h for h in response.headers.get_list("set-cookie") if h.startswith("__Host-session="))
        assert "Secure" in session and "Path=/" in session and "Domain" not in session
        assert "Max-Age" not in session and "expires" not in session.lower()
        assert (await client.get("/audits")).status_code == 200


@pytest.mark.req("PLAT-10")
async def test_thirty_wrong_passwords_then_the_right_one_is_refused_and_every_attempt_recorded(client, clock):
    # Issue 15's finding: 30 wrong passwords in 20 s, then the right one was accepted.
    statuses = []
    for _ in range(30):
        response = await _post_login(client, "haringey.cp_chair", "not-the-password")
        statuses.append(response.status_code)
    assert statuses[:5] == [422] * 5  # five tries are free
    assert 429 in statuses
    right = await _post_login(client, "haringey.cp_chair", PASSWORD)
    assert right.status_code == 429
    assert "There have been too many attempts to sign in. Wait" in right.text
    # Recorded: in the account's trail (no password), and as attempts that name no one.
    chair = await person("haringey.cp_chair")
    refused = await Trail.select(Trail.action, Trail.changes).where((Trail.entity == "person") & (Trail.entity_id == chair["id"]) & (Trail.action == "sign_in_refused"))
    assert len(refused) == 31
    attempts = await SignInAttempt.select().order_by(SignInAttempt.id)
    assert len(attempts) == 31
    assert not any("haringey" in str(a["account"]) or "testclient" in str(a["address"]) for a in attempts)
    assert "not-the-password" not in str(refused)
    # After a quarter of an hour without failures the account may try again.
    clock.shift(dt.timedelta(minutes=16))
    assert (await _post_login(client, "haringey.cp_chair", PASSWORD)).status_code == 303


# 31 password hashes: on SQLite alone (the throttle's queries are the same on both).
@pytest.mark.req("PLAT-10")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_thirty_first_bad_password_from_one_address_in_a_minute_is_refused(client):
    # Thirty accounts, one wrong password each, from one address in a minute.
    token = csrf_from((await client.get("/login")).text)

    async def attempt(username: str):
        return await client.post("/login", data={"username": username, "password": "guess", "_csrf_token": token}, follow_redirects=False)

    # Within one minute however slow the machine: the clock stands still meanwhile.
    with time_machine.travel(utcnow(), tick=False):
        for n in range(30):
            assert (await attempt(f"someone.{n}")).status_code == 422
        thirty_first = await attempt("haringey.cp_chair")
    assert thirty_first.status_code == 429
    assert "too many attempts" in thirty_first.text
    assert (await SignInAttempt.count().where(SignInAttempt.outcome == "throttled")) == 1


async def test_an_api_token_expires_and_its_owner_lists_and_revokes_tokens(client, clock):
    made = await client.post(
        "/api/v1/auth/token", json={"username": "haringey.cp_chair", "password": PASSWORD, "label": "case system", "expires_in_days": 7}
    )
    assert made.status_code == 201, made.text
    week = {"Authorization": f"Bearer {made.json()['token']}"}
    other = await client.post("/api/v1/auth/token", json={"username": "haringey.cp_chair", "password": PASSWORD, "label": "spreadsheet"})
    day = {"Authorization": f"Bearer {other.json()['token']}"}
    assert (await client.get("/api/v1/allocations", headers=week)).status_code == 200
    listed = (await client.get("/api/v1/auth/tokens", headers=week)).json()
    assert [(t["label"], t["state"]) for t in listed] == [("spreadsheet", "active"), ("case system", "active")]
    assert "token" not in listed[0] and listed[1]["last_used_at"] is not None
    too_long = await client.post("/api/v1/auth/token", json={"username": "haringey.cp_chair", "password": PASSWORD, "expires_in_days": 400})
    assert too_long.status_code == 422 and "between 1 and 365 days" in too_long.text

    # Revoked: 401 from then on.
    spreadsheet = listed[0]["id"]
    assert (await client.delete(f"/api/v1/auth/tokens/{spreadsheet}", headers=week)).status_code == 204
    assert (await client.get("/api/v1/allocations", headers=day)).status_code == 401
    # Another person cannot revoke it (or learn it exists).
    qa = await client.post("/api/v1/auth/token", json={"username": "haringey.qa_officer", "password": PASSWORD})
    qa_headers = {"Authorization": f"Bearer {qa.json()['token']}"}
    assert (await client.delete(f"/api/v1/auth/tokens/{listed[1]['id']}", headers=qa_headers)).status_code == 404

    # Expired after its 7 days: 401.
    clock.shift(dt.timedelta(days=7, minutes=1))
    assert (await client.get("/api/v1/allocations", headers=week)).status_code == 401


async def test_the_tokens_page_makes_lists_and_revokes_a_token(client):
    await sign_in(client, "haringey.cp_chair")
    page = await client.get("/account/tokens")
    assert "You have no API tokens." in page.text
    bad = await client.post("/account/tokens", data={"_csrf_token": csrf_from(page.text), "label": "", "days": "0"})
    assert bad.status_code == 422
    assert "Enter a name for the token" in bad.text and "Enter a whole number of days between 1 and 365" in bad.text
    made = await client.post("/account/tokens", data={"_csrf_token": csrf_from(page.text), "label": "Case system", "days": "30"})
    assert "Copy it now" in made.text
    import re

    token = re.search(r'id="new-token">([^<]+)<', made.text).group(1)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/allocations", headers=headers)).status_code == 200
    listed = await client.get("/account/tokens")
    assert "Case system" in listed.text and "Active" in listed.text and "30 January 2027" in listed.text
    token_id = re.search(r'action="/account/tokens/(\d+)/revoke"', listed.text).group(1)
    await client.post(f"/account/tokens/{token_id}/revoke", data={"_csrf_token": csrf_from(listed.text)})
    after = await client.get("/account/tokens")
    assert "Revoked" in after.text and "/revoke" not in after.text
    assert (await client.get("/api/v1/allocations", headers=headers)).status_code == 401


def test_health_checks_stay_fast_while_twenty_bad_sign_ins_are_hashed(tmp_path):
    """Issue 15: argon2 on the event loop let four bad sign-ins raise every
    other request from 0.1 s to 2.2 s. Against a real `qaf serve`, 20 bad
    sign-ins at once; /healthz meanwhile. The median is asserted (a shared
    test machine's scheduling shows in single probes); the closing note
    gives the full figures (/work/helpers/notes/oidc.md)."""
    import asyncio
    import statistics
    import time

    import httpx

    from support.live_server import server_env, serve, stop_live_server

    server = serve(tmp_path, server_env(tmp_path))  # migrates a fresh database: no one to sign in as
    try:
        async def flood() -> tuple[list[int], list[float]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=httpx.Limits(max_connections=40)) as web:
                probes: list[float] = []
                done = asyncio.Event()

                async def probe():
                    while not done.is_set():
                        started = time.perf_counter()
                        assert (await web.get("/healthz")).status_code == 200
                        probes.append((time.perf_counter() - started) * 1000)
                        await asyncio.sleep(0.02)

                prober = asyncio.create_task(probe())
                answers = await asyncio.gather(
                    *(web.post("/api/v1/auth/token", json={"username": f"flood.{n}", "password": "wrong"}) for n in range(20))
                )
                done.set()
                await prober
                return [a.status_code for a in answers], probes

        codes, probes = asyncio.run(flood())
    finally:
        stop_live_server(server)
    assert codes == [401] * 20
    assert len(probes) >= 10
    assert statistics.median(probes) < 50, sorted(probes)


async def test_administrators_see_refused_sign_ins_to_their_accounts(client):
    await _post_login(client, "haringey.cp_chair", "wrong")
    await _post_login(client, "nobody.known", "wrong")
    await sign_in(client, "haringey.head_of_qa")
    imports = await client.get("/imports")
    assert 'href="/sign-ins"' in imports.text
    page = await client.get("/sign-ins")
    assert page.status_code == 200
    # Haringey's CP chair (demo data), by name; the unknown username is not shown.
    chair = await person("haringey.cp_chair")
    assert chair["display_name"] in page.text and "Wrong password" in page.text and "nobody" not in page.text
    headers = await _token_headers(client, "haringey.head_of_qa")
    listed = (await client.get("/api/v1/sign-in-attempts", headers=headers)).json()
    assert [(r["name"], r["outcome"]) for r in listed] == [(chair["display_name"], "Wrong password")]
    # Not for an auditor.
    auditor = await _token_headers(client, "haringey.iro")
    assert (await client.get("/api/v1/sign-in-attempts", headers=auditor)).status_code == 403


async def _token_headers(client, username: str) -> dict[str, str]:
    made = await client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['token']}"}


async def test_a_password_hashed_with_older_parameters_still_signs_in_and_is_hashed_again(client):
    """An account whose hash was made before the parameters changed (the
    library's RFC 9106 default: 64 MiB, three passes, four lanes) signs in
    with its password, and the stored hash is then argon2id at OWASP's
    configuration (19 MiB, two passes, one lane), which keeps signing in."""
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY

    from core.db.tables import Person

    old = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash(PASSWORD)
    await Person.update({Person.password_hash: old}).where(Person.username == "haringey.qa_officer")
    signed = await sign_in(client, "haringey.qa_officer")
    assert signed.headers["location"] == "/audits"
    stored = (await Person.select(Person.password_hash).where(Person.username == "haringey.qa_officer").first())["password_hash"]
    assert stored != old and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    page = await client.get("/audits")
    await client.post("/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert (await sign_in(client, "haringey.qa_officer")).headers["location"] == "/audits"
