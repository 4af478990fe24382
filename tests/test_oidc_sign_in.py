"""Signing in through the council's identity provider (issue 15 item 1,
PLAT-9), end to end against a real OpenID provider on loopback
(tests/support/oidc_provider.py): the authorization code flow with PKCE,
state and nonce; app roles mapped to qaf roles; unknown people, people with
no role and overflowing groups refused with who to ask; sign-out offering
the provider's; a tampered or expired ID token refused."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Person, Trail
from helpers import csrf_from

CONTACT = "the Quality Assurance team (qa@haringey.example)"
PROVIDER = "your Haringey Microsoft account"
# The tenant's app roles for qaf, as an Entra app registration defines them.
ROLES = (("QA.Officer", "qa_officer"), ("QA.Head", "head_of_qa"), ("Auditor", "cp_chair"))


def _settings(tmp_path, database_url, issuer: str, **extra):
    return make_settings(
        tmp_path, database_url, oidc_issuer=issuer, oidc_client_id="qaf-haringey", oidc_client_secret="client-secret",
        oidc_roles=ROLES, oidc_provider_name=PROVIDER, sign_in_contact=CONTACT, **extra,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def oidc_client(tmp_path, database_url, plugins, demo, oidc_provider):
    from web.app import create_app

    settings = _settings(tmp_path, database_url, oidc_provider.url)
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        yield client


async def _through_provider(client, provider, sub: str, claims: dict, next_path: str = "/audits"):
    """Start at qaf's button, sign in at the provider as ``sub``, come back."""
    provider.set_user(sub, claims)
    start = await client.get(f"/login/oidc?next={next_path}", follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(provider.url)
    return authorize, await client.get(provider.approve(authorize, sub), follow_redirects=False)


@pytest.mark.req("PLAT-9")
async def test_a_member_of_staff_signs_in_through_the_provider_with_the_role_their_app_role_gives(oidc_client, oidc_provider):
    login = await oidc_client.get("/login")
    assert f"Sign in with {PROVIDER}" in login.text
    authorize, back = await _through_provider(
        oidc_client, oidc_provider, "entra-oid-qa-1",
        {"email": "haringey.qa_officer@example.org", "name": "QA Officer", "roles": ["QA.Officer"]},
    )
    # Authorization code with PKCE (S256), state and nonce.
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["response_type"] == ["code"] and asked["code_challenge_method"] == ["S256"]
    assert len(asked["code_challenge"][0]) >= 43 and asked["state"][0] and asked["nonce"][0]
    assert asked["redirect_uri"] == ["http://127.0.0.1:8000/login/oidc/callback"]
    assert back.status_code == 303 and back.headers["location"] == "/audits"
    page = await oidc_client.get("/audits")
    assert "QA queue" in page.text and "Sign out" in page.text
    # A new session id and CSRF token at sign-in, as for a password.
    assert "session=" in back.headers.get("set-cookie", "")
    officer = await Person.select(Person.id, Person.oidc_subject).where(Person.username == "haringey.qa_officer").first()
    assert officer["oidc_subject"] == "entra-oid-qa-1"
    signed = await Trail.select(Trail.changes).where((Trail.entity_id == officer["id"]) & (Trail.action == "logged_in")).first()
    assert "oidc" in str(signed["changes"])

    # The tenant gives a CP chair the QA.Head app role: qaf's role follows,
    # matched here by the UPN (no email claim), and the change is in the trail.
    await oidc_client.post("/logout", data={"_csrf_token": csrf_from(page.text)})
    _, back = await _through_provider(
        oidc_client, oidc_provider, "entra-oid-chair",
        {"preferred_username": "HARINGEY.cp_chair@example.org", "roles": ["Staff", "QA.Head"]},
    )
    assert back.status_code == 303
    page = await oidc_client.get("/audits")
    assert "Imports" in page.text  # the Head of QA administers
    chair = await Person.select(Person.id, Person.role).where(Person.username == "haringey.cp_chair").first()
    assert chair["role"] == "head_of_qa"
    changed = await Trail.select(Trail.changes).where((Trail.entity_id == chair["id"]) & (Trail.action == "role_changed")).first()
    assert "cp_chair" in str(changed["changes"]) and "head_of_qa" in str(changed["changes"])


@pytest.mark.req("PLAT-9")
async def test_people_qaf_cannot_place_are_refused_with_who_to_ask(oidc_client, oidc_provider):
    _, unknown = await _through_provider(oidc_client, oidc_provider, "entra-stranger", {"email": "stranger@haringey.example", "roles": ["QA.Officer"]})
    assert unknown.status_code == 403
    assert f"qaf has no member of staff with the email stranger@haringey.example. Ask {CONTACT} to add you" in unknown.text.replace("&#39;", "'").replace("&amp;", "&")
    assert (await oidc_client.get("/audits", follow_redirects=False)).status_code == 303

    _, roleless = await _through_provider(oidc_client, oidc_provider, "entra-auditor", {"email": "haringey.iro@example.org", "roles": ["Staff"]})
    assert roleless.status_code == 403 and f"has no qaf role. Ask {CONTACT}" in roleless.text.replace("&#39;", "'")

    # Entra ID leaves out the groups of someone in more than 200: the
    # administrator is told to use app roles.
    overage = {"email": "haringey.iro@example.org", "_claim_names": {"groups": "src1"},
               "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}}
    _, overflowed = await _through_provider(oidc_client, oidc_provider, "entra-many-groups", overage)
    assert overflowed.status_code == 403
    text = overflowed.text.replace("&#39;", "'")
    assert "belongs to too many groups" in text and "give qaf's roles as app roles rather than groups" in text
    assert (await oidc_client.get("/audits", follow_redirects=False)).status_code == 303


@pytest.mark.req("PLAT-9")
async def test_sign_out_ends_the_qaf_session_and_offers_the_providers(oidc_client, oidc_provider):
    _, back = await _through_provider(oidc_client, oidc_provider, "entra-oid-qa-2", {"email": "haringey.qa_officer@example.org", "roles": ["QA.Officer"]})
    page = await oidc_client.get("/audits")
    out = await oidc_client.post("/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert out.status_code == 200 and "You have signed out of qaf" in out.text
    link = re.search(r'href="([^"]+)"[^>]*id="provider-sign-out"', out.text).group(1).replace("&amp;", "&")
    assert link.startswith(f"{oidc_provider.url}/oauth2/end_session?")
    asked = parse_qs(urlsplit(link).query)
    assert asked["post_logout_redirect_uri"] == ["http://127.0.0.1:8000/login"] and asked["id_token_hint"][0].count(".") == 2
    assert httpx.get(link).status_code == 200  # the provider's own sign-out page
    assert (await oidc_client.get("/audits", follow_redirects=False)).headers["location"].startswith("/login")
    # The session's id is gone: the callback cannot be replayed into a session.
    replay = await oidc_client.get(back.request.url.raw_path.decode(), follow_redirects=False)
    assert replay.status_code == 400 and "already been used or has run out" in replay.text


@pytest.mark.req("PLAT-9")
async def test_a_tampered_or_expired_id_token_is_refused(oidc_client, oidc_provider, oidc_provider_expired, tmp_path, database_url, plugins):
    # A man in the middle rewrites the ID token to name the Head of QA.
    oidc_provider.tamper_email = "haringey.head_of_qa@example.org"
    try:
        _, back = await _through_provider(oidc_client, oidc_provider, "entra-attacker", {"email": "stranger@haringey.example"})
    finally:
        oidc_provider.tamper_email = None
    assert back.status_code == 400 and "qaf could not confirm your sign-in" in back.text
    assert (await oidc_client.get("/audits", follow_redirects=False)).status_code == 303

    from web.app import create_app

    settings = _settings(tmp_path / "expired", database_url, oidc_provider_expired.url)
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        _, back = await _through_provider(client, oidc_provider_expired, "entra-late", {"email": "haringey.qa_officer@example.org", "roles": ["QA.Officer"]})
        assert back.status_code == 400 and "qaf could not confirm your sign-in" in back.text
        assert (await client.get("/audits", follow_redirects=False)).status_code == 303


async def test_with_local_passwords_switched_off_only_the_provider_signs_people_in(tmp_path, database_url, plugins, demo, oidc_provider):
    from web.app import create_app

    settings = _settings(tmp_path, database_url, oidc_provider.url, local_passwords=False)
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        login = await client.get("/login")
        assert f"Sign in with {PROVIDER}" in login.text and 'name="password"' not in login.text
        refused = await client.post("/login", data={"username": "haringey.cp_chair", "password": "qaf-demo-2026", "_csrf_token": client.cookies.get("csrftoken")})
        assert refused.status_code == 403 and "qaf passwords are switched off" in refused.text
        token = await client.post("/api/v1/auth/token", json={"username": "haringey.cp_chair", "password": "qaf-demo-2026"})
        assert token.status_code == 401 and "passwords are switched off" in token.json()["detail"]
