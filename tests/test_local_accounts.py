"""Local accounts (issue 15 item 2, PLAT-10): an administrator invites staff
the import created, who choose a password through an emailed one-time link;
"Forgot your password?"; deactivation that ends sessions and API tokens.

Real SQLite file and real PostgreSQL, the app through AsyncTestClient, the
emails through the outbox to a real SMTP server on loopback.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from conftest import make_settings
from core.db.tables import Organisation, Person
from core.mail import send_due
from helpers import api_token, csrf_from, sign_in

BASE_URL = "http://qaf.example.org"  # not https: the test client sends no secure cookies
ADMIN = "haringey.head_of_qa"  # HAR head of QA: administer (docs/access.md)
# A strong password used throughout (three random words, more than 12 characters).
GOOD = "velvet harbour lantern 42"


@pytest.fixture
def settings(tmp_path, database_url, smtp):
    return make_settings(tmp_path, database_url, smtp_host=smtp.host, smtp_port=smtp.port, base_url=BASE_URL,
                         mail_from="qaf@qaf.example.org")


async def _imported(username: str, name: str, email: str, role: str = "practitioner") -> int:
    """A member of staff as the staff import creates them: no password ("!")."""
    org = await Organisation.select(Organisation.id).where(Organisation.council == "haringey").first()
    rows = await Person.insert(Person(organisation=org["id"], role=role, display_name=name, email=email, username=username,
                                      password_hash="!", active=True, created_at=dt.datetime.now(dt.timezone.utc))).returning(Person.id)
    return rows[0]["id"]


@pytest.fixture
async def demo_mail_left_unsent(client):
    """The demo's own notifications (its cycle) are not this test's mail."""
    from core.db.tables import Notification

    await Notification.update({Notification.email_state: "none"}).where(Notification.email_state == "pending")


async def _emailed_link(settings, smtp, path: str) -> str:
    await send_due(settings)
    [message] = await smtp.wait_for(1)
    smtp.clear()
    found = re.search(re.escape(BASE_URL) + r"(" + re.escape(path) + r"[A-Za-z0-9_\-]+)", message.body)
    assert found, message.body
    return found.group(1), message


async def _post(client, url: str, data: dict, page_url: str | None = None, **kwargs):
    page = await client.get(page_url or url)
    return await client.post(url, data={**data, "_csrf_token": csrf_from(page.text)}, follow_redirects=False, **kwargs)


@pytest.mark.req("PLAT-10")
@pytest.mark.clock("2026-06-30T23:30:00+00:00")  # 00:30 on 1 July in London (BST): the People page says London's day
async def test_an_imported_person_is_invited_chooses_a_password_and_signs_in(client, settings, smtp, clock, demo_mail_left_unsent):
    person_id = await _imported("haringey.ava.okafor", "Ava Okafor", "ava.okafor@example.org")
    await sign_in(client, ADMIN)
    listing = await client.get("/people?q=okafor")
    assert "Ava Okafor" in listing.text and "Not invited yet" in listing.text and "Never" in listing.text
    invited = await _post(client, f"/people/{person_id}/invite", {}, page_url="/people?q=okafor")
    assert invited.status_code == 303
    assert "has been emailed a link to choose a password, at ava.okafor@example.org" in (await client.get("/people?q=okafor")).text
    link, message = await _emailed_link(settings, smtp, "/invitation/")
    assert message.to == ["ava.okafor@example.org"] and message.subject == "You are invited to sign in to qaf"
    assert "Your username is haringey.ava.okafor" in message.body
    # Once emailed, the database holds no usable link (only its sha256).
    from core.db.tables import Notification, OneTimeLink

    kept = await Notification.select(Notification.link).where(Notification.kind == "staff_invitation")
    assert kept == [{"link": ""}]
    stored = await OneTimeLink.select(OneTimeLink.token_hash).where(OneTimeLink.person == person_id)
    assert stored[0]["token_hash"] != link.rsplit("/", 1)[1] and len(stored[0]["token_hash"]) == 64
    # 7 days (QAF_INVITATION_DAYS) from 00:30 on 1 July, London time.
    assert "It works once, until 8 July 2026 at 00:30" in message.body
    await client.post("/logout", data={"_csrf_token": csrf_from((await client.get("/people")).text)})

    page = await client.get(link)
    assert "Choose your password" in page.text and "haringey.ava.okafor" in page.text
    # Too short and not repeated: both fields' errors in the summary; the link still works.
    weak = await client.post(link, data={"password": "sunshine", "confirm": "", "_csrf_token": csrf_from(page.text)})
    assert weak.status_code == 422
    assert "There is a problem" in weak.text
    assert "Your password must be at least 12 characters long" in weak.text and "Enter your password again" in weak.text
    common = await client.post(link, data={"password": "Sunshine2026!!", "confirm": "Sunshine2026!!", "_csrf_token": csrf_from(page.text)})
    assert "This password is too common and easy to guess" in common.text
    named = await client.post(link, data={"password": "okafor is my name", "confirm": "okafor is my name", "_csrf_token": csrf_from(page.text)})
    assert "must not contain your name, your username" in named.text
    differ = await client.post(link, data={"password": GOOD, "confirm": GOOD + "x", "_csrf_token": csrf_from(page.text)})
    assert "The passwords do not match" in differ.text
    chosen = await client.post(link, data={"password": GOOD, "confirm": GOOD, "_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert chosen.status_code == 303
    home = await client.get("/")
    assert "Your password is saved" in home.text and "Ava Okafor" in home.text

    # The link works once.
    again = await client.post(link, data={"password": GOOD, "confirm": GOOD, "_csrf_token": csrf_from(home.text)})
    assert again.status_code == 410 and "This link does not work" in again.text
    assert "This link does not work" in (await client.get(link)).text

    # The chosen password signs in; the administrator sees when, in London's words.
    out = await client.post("/logout", data={"_csrf_token": csrf_from(home.text)}, follow_redirects=False)
    assert out.status_code == 303, out.text[-3000:]
    await sign_in(client, "haringey.ava.okafor", GOOD)
    await sign_in(client, ADMIN)
    listing = (await client.get("/people?q=okafor")).text
    assert "Can sign in" in listing and "1 July 2026 at 00:30" in listing
    assert "Invite" not in re.sub(r"Invite everyone not yet invited \(\d+\)", "", listing.split("Ava Okafor", 1)[1])
    from core.db.tables import Trail

    actions = {r["action"] for r in await Trail.select(Trail.action).where((Trail.entity == "person") & (Trail.entity_id == person_id))}
    assert {"invitation_sent", "password_chosen", "logged_in"} <= actions


@pytest.mark.req("PLAT-10")
@pytest.mark.clock("2026-03-29T00:30:00+00:00")  # the clocks go forward at 01:00 UTC: an hour's link ends at 02:30 BST
async def test_forgot_password_answers_the_same_and_a_reset_ends_other_sessions_and_tokens(client, settings, smtp, clock, demo_mail_left_unsent):
    user = "haringey.cp_chair"
    # Invitations expire: 8 days on, an invitation no longer works.
    person_id = await _imported("haringey.ben.adeyemi", "Ben Adeyemi", "ben.adeyemi@example.org")
    admin = await api_token(client, ADMIN)
    assert (await client.post(f"/api/v1/people/{person_id}/invite", headers=admin)).status_code == 200
    invitation, _ = await _emailed_link(settings, smtp, "/invitation/")

    # A live session and a token of the account whose password is reset.
    await sign_in(client, user)
    old_session = dict(client.cookies)
    token = await api_token(client, user)
    assert (await client.get("/api/v1/allocations", headers=token)).status_code == 200

    unknown = await _post(client, "/login/forgot", {"who": "nobody.here@example.org"})
    known = await _post(client, "/login/forgot", {"who": "HARINGEY.CP_CHAIR@example.org"})
    said = re.compile(r"If the username or email address belongs to an account that can sign in.*?minutes\.")
    assert said.search(unknown.text).group(0) == said.search(known.text).group(0)
    assert "The link works once, for 60 minutes" in known.text
    link, message = await _emailed_link(settings, smtp, "/password-reset/")
    assert message.to == ["haringey.cp_chair@example.org"]
    assert smtp.messages == []  # nothing went to the unknown address
    api = await client.post("/api/v1/auth/password-reset", json={"username_or_email": "nobody"})
    assert api.status_code == 202 and api.json()["message"].startswith("If the username or email address belongs")

    page = await client.get(link)
    assert "Choose a new password" in page.text and "signs you out everywhere else" in page.text
    chosen = await client.post(link, data={"password": GOOD, "confirm": GOOD, "_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert chosen.status_code == 303
    assert (await client.get("/audits")).status_code == 200  # the session that chose it carries on
    await send_due(settings)
    [told] = await smtp.wait_for(1)
    smtp.clear()
    assert told.subject == "Your qaf password has been changed" and told.to == ["haringey.cp_chair@example.org"]
    assert "was changed on 29 March 2026 at" in told.body
    # The other session and the token end at once.
    client.cookies.clear()
    client.cookies.update(old_session)
    ended = await client.get("/audits", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    refused = await client.get("/api/v1/allocations", headers=token)
    assert refused.status_code == 401
    await sign_in(client, user, GOOD)

    # A reset link lasts 60 minutes (QAF_PASSWORD_RESET_MINUTES), across the clock change.
    await _post(client, "/login/forgot", {"who": user})
    late, _ = await _emailed_link(settings, smtp, "/password-reset/")
    clock.shift(dt.timedelta(minutes=61))
    assert "This link does not work" in (await client.get(late)).text
    clock.shift(dt.timedelta(days=8))
    gone = await client.get(invitation)
    assert "This link does not work" in gone.text and "invite you again" in gone.text


@pytest.mark.req("PLAT-10")
async def test_deactivation_ends_a_live_session_and_token_at_once(client):
    admin = await api_token(client, ADMIN)
    victim = "haringey.team_manager.1"
    await sign_in(client, victim)
    token = await api_token(client, victim)
    assert (await client.get("/audits")).status_code == 200

    found = (await client.get("/api/v1/people", params={"q": victim}, headers=admin)).json()
    assert found["total"] == 1 and found["people"][0]["status"] == "Can sign in"
    person_id = found["people"][0]["id"]
    done = await client.post(f"/api/v1/people/{person_id}/deactivate", headers=admin)
    assert done.status_code == 200 and done.json()["status"] == "Deactivated" and done.json()["may_reactivate"]

    ended = await client.get("/audits", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    assert (await client.get("/api/v1/allocations", headers=token)).status_code == 401
    page = await client.get("/login")
    refused = await client.post("/login", data={"username": victim, "password": "qaf-demo-2026", "_csrf_token": csrf_from(page.text)})
    assert "The username or password is not right" in refused.text

    # 4xx with reasons, never a 500.
    me = (await client.get("/api/v1/people", params={"q": ADMIN}, headers=admin)).json()["people"][0]
    assert not me["may_deactivate"]
    self_ = await client.post(f"/api/v1/people/{me['id']}/deactivate", headers=admin)
    assert self_.status_code == 403 and self_.json()["detail"] == "You cannot deactivate your own account. Ask another administrator to do it"
    can_already = await client.post(f"/api/v1/people/{me['id']}/invite", headers=admin)
    assert can_already.status_code == 422
    assert "has already chosen a password and can sign in" in str(can_already.json())
    assert (await client.post("/api/v1/people/999999/deactivate", headers=admin)).status_code == 404
    not_admin = await api_token(client, "haringey.cp_chair")
    assert (await client.get("/api/v1/people", headers=not_admin)).status_code == 403

    # Reactivated: the password works again; the revoked token stays revoked.
    back = await client.post(f"/api/v1/people/{person_id}/reactivate", headers=admin)
    assert back.json()["status"] == "Can sign in"
    await sign_in(client, victim)
    assert (await client.get("/api/v1/allocations", headers=token)).status_code == 401

    # 60 more staff from an import (5 without an email address): the page
    # shows them 50 at a time, and one button invites every one it can.
    org = await Organisation.select(Organisation.id).where(Organisation.council == "haringey").first()
    now = dt.datetime.now(dt.timezone.utc)
    await Person.insert(*[
        Person(organisation=org["id"], role="practitioner", display_name=f"Imported Worker {n:02d}", username=f"haringey.imported.{n:02d}",
               email="" if n < 5 else f"imported.{n:02d}@example.org", password_hash="!", active=True, created_at=now)
        for n in range(60)
    ])
    await sign_in(client, ADMIN)
    listing = await client.get("/people")
    total, pages = map(int, re.search(r"(\d+) people, page 1 of (\d+)", listing.text).groups())
    assert total > 60 and pages == -(-total // 50) and "Next" in listing.text
    assert "Invite everyone not yet invited (55)" in listing.text
    assert "5 people have no email address and cannot be invited" in listing.text
    second = await client.get("/people", params={"q": "imported worker", "page": 2})
    assert "60 people matching" in second.text and "Imported Worker 55" in second.text and "Imported Worker 05" not in second.text
    sent = await _post(client, "/people/invite-all", {}, page_url="/people")
    assert sent.status_code == 303
    after = await client.get("/people", params={"q": "imported worker 07"})
    assert "55 people have been emailed a link to choose a password. 5 could not be invited" in after.text
    assert "Invited (the link works until 7 January 2027 at 09:30)" in after.text
    assert "Invite everyone not yet invited" not in after.text
    assert "This is you" in (await client.get("/people", params={"q": "head_of_qa"})).text


async def test_with_qaf_passwords_switched_off_nobody_is_offered_a_password(database_url, tmp_path, plugins):
    """QAF_LOCAL_PASSWORDS=off (everyone signs in through the identity
    provider): no "Forgot your password?", and its pages and API say why."""
    from litestar.testing import AsyncTestClient

    from web.app import create_app

    settings = make_settings(tmp_path, database_url, local_passwords=False)
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        assert "Forgot your password?" not in (await client.get("/login")).text
        forgot = await client.get("/login/forgot")
        assert forgot.status_code == 409 and "qaf passwords are switched off here" in forgot.text
        api = await client.post("/api/v1/auth/password-reset", json={"username_or_email": "someone"})
        assert api.status_code == 409 and api.json()["detail"].startswith("qaf passwords are switched off here")
        assert (await client.get("/invitation/any-token")).status_code == 409
