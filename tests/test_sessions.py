"""Sessions are written when they change, never for a visitor with nothing to
keep, and forgotten at sign-out."""

from __future__ import annotations

from helpers import csrf_from, sign_in


def _session_files(settings) -> list:
    folder = settings.data_dir / "sessions"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


async def test_a_health_probe_or_a_first_visit_stores_no_session(client, settings):
    for _ in range(5):
        assert (await client.get("/healthz")).status_code == 200
    page = await client.get("/login")
    assert page.status_code == 200
    assert _session_files(settings) == []
    assert "session=" not in page.headers.get("set-cookie", "")


async def test_a_signed_in_page_view_does_not_rewrite_the_session_and_sign_out_forgets_it(client, settings):
    await sign_in(client, "haringey.cp_chair")
    files = _session_files(settings)
    assert len(files) == 1
    written = files[0].stat().st_mtime_ns
    for _ in range(3):
        page = await client.get("/audits")
        assert page.status_code == 200 and "My audits" in page.text
    assert files[0].stat().st_mtime_ns == written  # read, not rewritten
    out = await client.post("/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert out.status_code in (302, 303)
    assert _session_files(settings) == []
    assert (await client.get("/audits", follow_redirects=False)).status_code in (302, 303, 401)
