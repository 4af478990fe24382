"""A second factor for local accounts (issue 15 item 3, PLAT-10): the QA team
and administrators set up an authenticator app (TOTP) at their first
password sign-in, get recovery codes, and give a code at every sign-in after;
others are not asked, and nobody is asked after signing in through the
council's identity provider."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pyotp
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from conftest import make_settings
from core.db.tables import Trail
from helpers import csrf_from, person, process_env
from support.live_server import qaf_executable

PASSWORD = "qaf-demo-2026"


@pytest_asyncio.fixture(loop_scope="session")
async def strict_client(tmp_path, database_url, plugins, demo, oidc_provider):
    from web.app import create_app

    settings = make_settings(
        tmp_path, database_url, second_factor=True, oidc_issuer=oidc_provider.url, oidc_client_id="qaf",
        oidc_client_secret="secret", oidc_roles=(("QA.Officer", "qa_officer"),),
    )
    async with AsyncTestClient(app=create_app(settings, plugins), base_url="http://testserver.local") as client:
        yield client


async def _password(client, username: str):
    page = await client.get("/login")
    return await client.post(
        "/login", data={"username": username, "password": PASSWORD, "_csrf_token": csrf_from(page.text), "next": "/qa"},
        follow_redirects=False,
    )


async def _code(client, code: str):
    page = await client.get("/login/second-factor")
    return await client.post("/login/second-factor", data={"code": code, "_csrf_token": csrf_from(page.text)}, follow_redirects=False)


async def _sign_out(client):
    page = await client.get("/audits")
    await client.post("/logout", data={"_csrf_token": csrf_from(page.text)})


@pytest.mark.req("PLAT-10")
async def test_the_qa_team_sets_up_an_authenticator_app_and_gives_a_code_at_every_sign_in(strict_client, clock, database_url, tmp_path):
    client = strict_client
    first = await _password(client, "haringey.qa_officer")
    assert first.headers["location"] == "/login/second-factor"
    # The right password alone opens nothing.
    assert (await client.get("/qa", follow_redirects=False)).headers["location"].startswith("/login")
    setup = await client.get("/login/second-factor")
    assert "Set up your authenticator app" in setup.text
    key = re.search(r'id="totp-key">([^<]+)<', setup.text).group(1).replace(" ", "")
    app = pyotp.TOTP(key)
    wrong = await _code(client, "000000" if app.now() != "000000" else "111111")
    assert wrong.status_code == 422 and "The code is not right" in wrong.text
    done = await _code(client, app.now())
    assert done.status_code == 200 and "Keep your recovery codes" in done.text
    codes = re.findall(r'<strong class="qaf-code">([0-9a-f-]{14})</strong>', done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "QA queue" in (await client.get("/qa")).text
    officer = await person("haringey.qa_officer")
    assert await Trail.count().where((Trail.entity_id == officer["id"]) & (Trail.action == "second_factor_set_up")) == 1

    # Next sign-in: the code is asked for, and the one just used does not work twice.
    await _sign_out(client)
    used = app.now()
    assert (await _password(client, "haringey.qa_officer")).headers["location"] == "/login/second-factor"
    assert "Enter the security code from your authenticator app" in (await client.get("/login/second-factor")).text
    assert (await _code(client, used)).status_code == 422
    clock.shift(dt.timedelta(seconds=30))
    assert (await _code(client, app.now())).headers["location"] == "/qa"

    # Without the phone: a recovery code, once.
    await _sign_out(client)
    await _password(client, "haringey.qa_officer")
    assert (await _code(client, codes[3])).headers["location"] == "/qa"
    await _sign_out(client)
    await _password(client, "haringey.qa_officer")
    assert (await _code(client, codes[3])).status_code == 422
    assert await Trail.count().where((Trail.entity_id == officer["id"]) & (Trail.action == "recovery_code_used")) == 1

    # The API asks for the code too.
    clock.shift(dt.timedelta(seconds=30))
    no_code = await client.post("/api/v1/auth/token", json={"username": "haringey.qa_officer", "password": PASSWORD})
    assert no_code.status_code == 401 and "authenticator app" in no_code.json()["detail"]
    token = await client.post("/api/v1/auth/token", json={"username": "haringey.qa_officer", "password": PASSWORD, "code": app.now()})
    assert token.status_code == 201

    # Phone and recovery codes lost: an administrator resets the app; the
    # officer sets up a new one at their next sign-in.
    reset = subprocess.run(
        [str(qaf_executable()), "second-factor", "reset", "haringey.qa_officer"],
        env=process_env(QAF_DATABASE_URL=database_url, QAF_DATA_DIR=str(tmp_path / "cli")),
        capture_output=True, text=True, timeout=120,
    )
    assert reset.returncode == 0, reset.stderr
    assert "haringey.qa_officer will set up a new authenticator app at their next sign-in." in reset.stdout
    await _sign_out(client)
    await _password(client, "haringey.qa_officer")
    assert "Set up your authenticator app" in (await client.get("/login/second-factor")).text
    assert (await _code(client, codes[4])).status_code == 422  # the old recovery codes are gone


@pytest.mark.req("PLAT-10")
async def test_an_auditor_or_anyone_signing_in_through_the_provider_is_not_asked(strict_client, oidc_provider):
    client = strict_client
    assert (await _password(client, "haringey.cp_chair")).headers["location"] == "/qa"
    await _sign_out(client)
    # The QA officer through the identity provider, which does its own MFA.
    oidc_provider.set_user("entra-qa-mfa", {"email": "haringey.qa_officer@example.org", "roles": ["QA.Officer"]})
    start = await client.get("/login/oidc?next=/qa", follow_redirects=False)
    back = await client.get(oidc_provider.approve(start.headers["location"], "entra-qa-mfa"), follow_redirects=False)
    assert back.headers["location"] == "/qa"
    assert "QA queue" in (await client.get("/qa")).text
