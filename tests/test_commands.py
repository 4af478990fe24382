"""The `qaf` command as an operator runs it: the README's commands and the
Docker image's entrypoint, with the same QAF_ settings, outside Docker."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from helpers import process_env

QAF = str(Path(sys.executable).with_name("qaf"))
ROOT = Path(__file__).parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return process_env(QAF_DATA_DIR=str(tmp_path), QAF_SWEEP_SECONDS="0", **extra)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([QAF, *args], env=env, capture_output=True, text=True, timeout=120)


def _serve(env: dict[str, str]):
    port = _free_port()
    server = subprocess.Popen(
        [QAF, "serve", "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"qaf serve exited: {server.stdout.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError(f"qaf serve did not answer: {server.stdout.read()}")


def _stop(server: subprocess.Popen) -> str:
    server.terminate()
    try:
        out, _ = server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        out, _ = server.communicate()
    return out


def _journey(url: str) -> None:
    """Sign in through the API, see the allocation, read the OpenAPI schema."""
    token = httpx.post(f"{url}/api/v1/auth/token", json={"username": "haringey.cp_chair", "password": "qaf-demo-2026"})
    assert token.status_code == 201, token.text
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    mine = httpx.get(f"{url}/api/v1/allocations", headers=headers).json()
    assert len(mine) == 1 and mine[0]["state"] == "allocated"
    schema = httpx.get(f"{url}/api/schema/openapi.json").json()
    assert "/api/v1/allocations/{allocation_id}/answers" in schema["paths"]
    assert not any(path.startswith("/audits") for path in schema["paths"])
    page = httpx.get(f"{url}/login")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]


def _modes(data_dir: Path) -> dict[str, str]:
    """The permissions of the data directory and everything in it, e.g. {".": "700"}."""
    paths = [data_dir, *sorted(data_dir.rglob("*"))]
    return {str(p.relative_to(data_dir)): f"{p.stat().st_mode & 0o777:o}" for p in paths}


def test_demo_then_serve_on_the_embedded_sqlite_default(tmp_path):
    env = _env(tmp_path)
    demo = _run("demo", env=env)
    assert demo.returncode == 0, demo.stderr
    assert "Demo organisation for haringey: created; 7 audits allocated this month." in demo.stdout
    assert "haringey.qa_officer" in demo.stdout and "qaf-demo-2026" in demo.stdout
    assert (tmp_path / "qaf.sqlite3").exists()
    # Children's records: what qaf made is the service user's alone (issue 16 item 6).
    assert _modes(tmp_path) == {".": "700", "qaf.sqlite3": "600", "secret_key": "600"}
    # Running it again changes nothing and still prints the log-ins.
    assert "already loaded" in _run("demo", env=env).stdout
    # `qaf invite` goes through the People page's rules: a demo login already has a password.
    invite = _run("invite", "haringey.cp_chair", "--by", "haringey.head_of_qa", env=env)
    assert invite.returncode == 1 and "has already chosen a password and can sign in" in invite.stderr, invite.stderr
    # With an organisation loaded, the programme is its staff's.
    programme = _run("programme", "--council", "haringey", "--year", "2027", env=env)
    assert programme.returncode == 0, programme.stderr
    assert "programme for the year starting 2027-01, for the organisation's staff" in programme.stdout
    server, url = _serve(env)
    try:
        health = httpx.get(f"{url}/healthz")
        assert health.json() == {"status": "ok"}
        assert "server" not in health.headers  # nothing names the server software
        _journey(url)
        # Serving: SQLite's -wal and -shm are private too; sessions are in
        # the database (PLAT-14), not files here.
        assert _modes(tmp_path) == {
            ".": "700", "qaf.sqlite3": "600", "qaf.sqlite3-shm": "600", "qaf.sqlite3-wal": "600", "secret_key": "600",
            "programme-haringey-2027.csv": "600",
        }
    finally:
        log = _stop(server)
    # Nothing personal in the server's log: no names, no case numbers.
    assert "HAR-" not in log and "Gill" not in log


def _compose_roles(postgres_server, suffix: str) -> tuple[str, str]:
    """docker/initdb/qaf-roles.sh as the postgres image runs it on its first
    start (names of this test's own); the app's URL and the owner's."""
    admin = urlsplit(postgres_server.admin_url)
    names = {"QAF_OWNER_ROLE": f"qaf_owner_{suffix}", "QAF_APP_ROLE": f"qaf_app_{suffix}", "QAF_DATABASE_NAME": f"qaf_{suffix}"}
    init = subprocess.run(
        ["sh", str(ROOT / "docker" / "initdb" / "qaf-roles.sh")],
        env=process_env(
            PGHOST=admin.hostname, PGPORT=str(admin.port), PGPASSWORD=admin.password or "", POSTGRES_USER=admin.username,
            QAF_OWNER_PASSWORD="qaf-owner", QAF_APP_PASSWORD="qaf-app", **names,
        ),
        capture_output=True, text=True, timeout=60,
    )
    assert init.returncode == 0, init.stderr
    at = f"{admin.hostname}:{admin.port}/{names['QAF_DATABASE_NAME']}"
    return f"postgresql://{names['QAF_APP_ROLE']}:qaf-app@{at}", f"postgresql://{names['QAF_OWNER_ROLE']}:qaf-owner@{at}"


def _drop_compose_roles(postgres_server, suffix: str) -> None:
    async def drop():
        admin = await asyncpg.connect(postgres_server.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "qaf_{suffix}" WITH (FORCE)')
            for role in (f"qaf_app_{suffix}", f"qaf_owner_{suffix}"):
                await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()

    asyncio.run(drop())


def test_the_docker_entrypoint_runs_against_postgresql_with_the_same_settings(tmp_path, postgres_server):
    # docker/compose.yaml: the app as a role that owns nothing, migrations as the owner.
    suffix = uuid.uuid4().hex[:8]
    app_url, owner_url = _compose_roles(postgres_server, suffix)
    try:
        env = _env(tmp_path, QAF_DATABASE_URL=app_url, QAF_MIGRATE_DATABASE_URL=owner_url)
        migrate = _run("migrate", env=env)
        assert migrate.returncode == 0, migrate.stderr
        assert f"The app's role qaf_app_{suffix} may read and write the records, and only add to and read the trail." in migrate.stdout
        assert _run("migrate", env=env).returncode == 0  # idempotent
        demo = _run("demo", env=env)
        assert demo.returncode == 0, demo.stderr
        assert not (tmp_path / "qaf.sqlite3").exists()
        server, base = _serve(env)
        try:
            _journey(base)
        finally:
            _stop(server)
    finally:
        _drop_compose_roles(postgres_server, suffix)


def test_a_council_that_is_not_installed_stops_the_server_with_a_clear_message(tmp_path):
    result = _run("serve", "--port", str(_free_port()), env=_env(tmp_path, QAF_COUNCILS="hackney"))
    assert result.returncode == 1
    assert "QAF_COUNCILS names 'hackney', which is not installed" in result.stderr


@pytest.mark.parametrize("bad", ["mysql://x/y"])
def test_an_unsupported_database_url_is_refused(tmp_path, bad):
    result = _run("migrate", env=_env(tmp_path, QAF_DATABASE_URL=bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "qaf: QAF_DATABASE_URL must start with sqlite:/// or postgresql://" in result.stderr


# ---------------------------------------------------------------- qaf programme


def _programme(env: dict[str, str], council: str = "haringey", **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [QAF, "programme", "--council", council, "--year", "2027"], env=env, text=True, timeout=120, **kwargs
    )


def test_qaf_programme_into_a_pipe_closed_by_its_reader_stops_quietly(tmp_path):
    """`qaf programme … | head`: head exits after its lines and the pipe
    closes. Here the reader has gone before qaf writes anything, so every
    run meets the closed pipe (head's timing would make it a race)."""
    read, write = os.pipe()
    os.close(read)
    try:
        result = _programme(_env(tmp_path), stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.stderr == ""
    # 128 + SIGPIPE, as a tool the signal stopped: a script with pipefail sees the cut.
    assert result.returncode == 141
    # The CSV is written first, so it is there however little was read.
    assert (tmp_path / "programme-haringey-2027.csv").read_text().startswith("person,role,post,activity,due")


def test_qaf_programme_in_an_empty_data_directory_creates_no_database(tmp_path):
    result = _programme(_env(tmp_path), capture_output=True)
    assert result.returncode == 0, result.stderr
    assert "for a sample of one person per role (no database yet)" in result.stdout
    assert "Case audit" in result.stdout
    assert not list(tmp_path.glob("qaf.sqlite3*"))


def test_qaf_programme_leaves_an_empty_postgresql_database_unmigrated(tmp_path, postgres_server):
    import asyncpg

    from support.postgres import _run_sync

    url = postgres_server.create_database_sync(prefix="programme")
    result = _programme(_env(tmp_path, QAF_DATABASE_URL=url), capture_output=True)
    assert result.returncode == 0, result.stderr
    assert "(the database is not migrated: run qaf migrate)" in result.stdout

    async def tables() -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await connection.close()
        return [r["tablename"] for r in rows]

    assert _run_sync(tables()) == []


@pytest.mark.parametrize("council", ["coventry", "hackney"])
def test_qaf_programme_for_a_council_that_is_not_enabled_says_so(tmp_path, council):
    # Coventry is installed but not enabled here; Hackney is not installed at all.
    result = _programme(_env(tmp_path, QAF_COUNCILS="haringey,bedford"), council=council, capture_output=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"qaf: council {council!r} is not enabled; enabled councils (QAF_COUNCILS): haringey, bedford"
    assert result.stdout == ""
    assert not list(tmp_path.glob("programme-*.csv"))


def test_qaf_cycle_for_a_council_without_cycles_says_why(tmp_path):
    env = _env(tmp_path, QAF_COUNCILS="coventry")
    assert _run("demo", env=env).returncode == 0
    result = _run("cycle", "coventry", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("qaf: Coventry Children's Services does not run monthly audit cycles")


# ---------------------------------------------------------------- qaf plugins


def test_qaf_plugins_in_a_normal_run_lists_the_councils_but_not_the_test_suites_example_plugin(tmp_path):
    """tests/example_plugin is installed with the dev dependencies, but it
    registers in the test suite's own entry-point group: an operator's
    `qaf plugins` never loads it (the suite's tests load it on purpose)."""
    result = _run("plugins", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert names == ["qaf.scales", "qaf.grading", "qaf.escalation_rules", "haringey"]
    assert "example" not in result.stdout
