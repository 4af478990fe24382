"""Sessions are written when they change, never for a visitor with nothing to
keep, and forgotten at sign-out. They live in the database (web_session,
PLAT-14), so every app process shares them; nothing is kept on disk."""

from __future__ import annotations

from helpers import csrf_from, sign_in


async def _sessions() -> list[dict]:
    from piccolo.querystring import QueryString

    from core.db.engine import current

    return await current().run_querystring(QueryString("SELECT key, value, expires_at FROM web_session ORDER BY key"))


async def test_a_health_probe_or_a_first_visit_stores_no_session(client, settings):
    for _ in range(5):
        assert (await client.get("/healthz")).status_code == 200
    page = await client.get("/login")
    assert page.status_code == 200
    assert await _sessions() == []
    assert not (settings.data_dir / "sessions").exists()
    assert "session=" not in page.headers.get("set-cookie", "")


async def test_a_signed_in_page_view_does_not_rewrite_the_session_and_sign_out_forgets_it(client, settings):
    await sign_in(client, "haringey.cp_chair")
    stored = await _sessions()
    assert len(stored) == 1 and stored[0]["expires_at"] is not None
    for _ in range(3):
        page = await client.get("/audits")
        assert page.status_code == 200 and "My audits" in page.text
    assert await _sessions() == stored  # read, not rewritten
    out = await client.post("/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert out.status_code in (302, 303)
    assert await _sessions() == []
    assert (await client.get("/audits", follow_redirects=False)).status_code in (302, 303, 401)
