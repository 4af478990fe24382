"""A throw-away PostgreSQL server for the test session.

``PostgresServer().start()`` runs ``initdb`` into a fresh temporary directory
and starts ``postgres`` on a free loopback TCP port with durability switched
off (fsync, synchronous_commit, full_page_writes), so a cluster is up in a
couple of seconds.  ``stop()`` kills it (``pg_ctl stop -m immediate``) and
removes the directory.

* PostgreSQL refuses to run as root, so when the tests run as root every
  server command is run as the ``postgres`` OS user via ``runuser``.
* The bin dir is ``$QAF_TEST_PG_BIN`` if set, else
  ``/usr/lib/postgresql/15/bin``, else ``pg_config --bindir``.
* If ``$QAF_TEST_DATABASE_URL`` is set (e.g.
  ``postgresql://user:pw@host:5432/postgres``) no server is started; that
  server is used instead and databases are created on it.

The cluster superuser is ``qaf`` with ``trust`` authentication, so URLs look
like ``postgresql://qaf@127.0.0.1:PORT/NAME``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"
SUPERUSER = "qaf"
HOST = "127.0.0.1"

INSTALL_HINT = (
    "PostgreSQL 15 server binaries (initdb, pg_ctl, postgres) were not found in "
    "$QAF_TEST_PG_BIN, /usr/lib/postgresql/15/bin or `pg_config --bindir`.\n"
    "Install postgresql-15: apt-get install postgresql-15\n"
    "(or run `bash .ci/run`, which installs it; or set QAF_TEST_PG_BIN to a "
    "PostgreSQL bin dir; or set QAF_TEST_DATABASE_URL to use an existing server)."
)

_SERVER_FLAGS = (
    "-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c max_wal_size=1GB -c checkpoint_timeout=1h"
)

_SAFE_NAME = re.compile(r"[^a-z0-9_]+")


class PostgresError(RuntimeError):
    """The test PostgreSQL server could not be found, started or used."""


def _has_server_binaries(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def find_pg_bin() -> Path:
    """Return the PostgreSQL bin dir, or raise :class:`PostgresError` with an install hint."""
    override = os.environ.get("QAF_TEST_PG_BIN")
    if override:
        path = Path(override)
        if _has_server_binaries(path):
            return path
        raise PostgresError(
            f"QAF_TEST_PG_BIN={override!r} does not contain executable initdb, pg_ctl and postgres.\n"
            + INSTALL_HINT
        )
    if _has_server_binaries(DEFAULT_BIN_DIR):
        return DEFAULT_BIN_DIR
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out and _has_server_binaries(Path(out)):
            return Path(out)
    raise PostgresError(INSTALL_HINT)


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _traversable_by_others(path: Path) -> bool:
    """True if every directory from / down to ``path`` is o+x (so ``postgres`` can reach it)."""
    path = path.resolve()
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _run_sync(coro):
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def unique_database_name(prefix: str = "test") -> str:
    prefix = _SAFE_NAME.sub("_", prefix.lower()).strip("_")[:40] or "test"
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresServer:
    """A PostgreSQL server for tests: a private temporary cluster, or an external one.

    Usage::

        server = PostgresServer().start()
        url = await server.create_database()   # postgresql://qaf@127.0.0.1:PORT/test_ab12...
        ...
        server.stop()
    """

    def __init__(
        self,
        *,
        external_url: str | None = None,
        bin_dir: str | Path | None = None,
        start_timeout: int = 60,
    ) -> None:
        if external_url is None:
            external_url = os.environ.get("QAF_TEST_DATABASE_URL") or None
        self.external_url = external_url
        self._bin_dir = Path(bin_dir) if bin_dir else None
        self.start_timeout = start_timeout
        self.host = HOST
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.startup_seconds: float | None = None
        self._running = False
        self._created: list[str] = []

    # ------------------------------------------------------------------ info
    @property
    def external(self) -> bool:
        return self.external_url is not None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def data_dir(self) -> Path:
        assert self.tmpdir is not None
        return self.tmpdir / "data"

    @property
    def log_file(self) -> Path:
        assert self.tmpdir is not None
        return self.tmpdir / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        """``postgresql://`` URL of database ``dbname`` on this server."""
        if self.external_url is not None:
            parts = urlsplit(self.external_url)
            return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
        if not self._running:
            raise PostgresError("PostgresServer.url() called before start()")
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database (used to create/drop databases)."""
        if self.external_url is not None:
            return self.external_url
        return self.url("postgres")

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> PostgresServer:
        if self._running:
            return self
        if self.external:
            self._running = True
            self.startup_seconds = 0.0
            return self
        began = time.monotonic()
        bin_dir = self._bin_dir or find_pg_bin()
        if not _has_server_binaries(bin_dir):
            raise PostgresError(f"{bin_dir} lacks initdb/pg_ctl/postgres.\n" + INSTALL_HINT)
        self._bin_dir = bin_dir
        self._as_user = self._resolve_os_user()
        self.tmpdir = self._make_tmpdir()
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_postgres()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Kill the server (immediate shutdown) and delete its directory. Idempotent."""
        if self.external:
            if self._created:
                names, self._created = self._created, []
                try:
                    _run_sync(self._drop_many(names))
                except Exception:  # pragma: no cover - best effort cleanup
                    pass
            self._running = False
            return
        if self.tmpdir is None:
            return
        if self._running or (self.data_dir / "postmaster.pid").exists():
            try:
                self._run(
                    [self._tool("pg_ctl"), "-D", str(self.data_dir), "stop", "-m", "immediate", "-w", "-t", "30"],
                    check=False,
                )
            except (OSError, subprocess.SubprocessError):
                pass
        self._running = False
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None
        atexit.unregister(self.stop)

    # -------------------------------------------------------------- databases
    async def create_database(self, name: str | None = None, *, prefix: str = "test", template: str | None = None) -> str:
        """Create a new database (uniquely named unless ``name`` given), empty or
        a copy of ``template``; return its URL."""
        import asyncpg

        if not self._running:
            raise PostgresError("PostgresServer.create_database() called before start()")
        name = name or unique_database_name(prefix)
        statement = f"CREATE DATABASE {_quote_ident(name)}"
        if template is not None:
            statement += f" TEMPLATE {_quote_ident(template)}"
        for _ in range(100):
            conn = await asyncpg.connect(self.admin_url, timeout=30)
            try:
                await conn.execute(statement)
                break
            except asyncpg.ObjectInUseError:
                # A connection to the template is still closing.
                await asyncio.sleep(0.05)
            finally:
                await conn.close()
        else:
            raise PostgresError(f"template database {template} stayed in use")
        if self.external:
            self._created.append(name)  # dropped when the session ends
        return self.url(name)

    async def drop_database(self, name: str) -> None:
        await self._drop_many([name])
        if name in self._created:
            self._created.remove(name)

    def create_database_sync(self, name: str | None = None, *, prefix: str = "test") -> str:
        """:meth:`create_database` for sync code (runs in a helper thread)."""
        return _run_sync(self.create_database(name, prefix=prefix))

    async def _drop_many(self, names: list[str]) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url, timeout=30)
        try:
            for name in names:
                await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()

    # --------------------------------------------------------------- internals
    def _tool(self, name: str) -> str:
        assert self._bin_dir is not None
        return str(self._bin_dir / name)

    @staticmethod
    def _resolve_os_user() -> pwd.struct_passwd | None:
        """The OS user to run the server as: ``postgres`` when we are root, else ourselves."""
        if os.geteuid() != 0:
            return None
        try:
            user = pwd.getpwnam(PG_OS_USER)
        except KeyError:
            raise PostgresError(
                "Running as root, but PostgreSQL refuses to run as root and there is no "
                f"'{PG_OS_USER}' OS user to run it as.\n"
                "Install postgresql-15 (apt-get install postgresql-15), which creates it, "
                "or create one: useradd --system --home /var/lib/postgresql postgres"
            ) from None
        if shutil.which("runuser") is None:
            raise PostgresError("Running as root needs `runuser` (util-linux) to start PostgreSQL as 'postgres'.")
        return user

    def _make_tmpdir(self) -> Path:
        parent = Path(tempfile.gettempdir())
        if self._as_user is not None and not _traversable_by_others(parent):
            parent = Path("/tmp")
        # Unix socket paths are limited to ~107 bytes.
        if len(str(parent)) > 60:
            parent = Path("/tmp")
        path = Path(tempfile.mkdtemp(prefix="qaf-pg-", dir=parent))
        if self._as_user is not None:
            os.chown(path, self._as_user.pw_uid, self._as_user.pw_gid)
        return path

    def _run(self, argv: list[str], *, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        if self._as_user is not None:
            argv = ["runuser", "-u", self._as_user.pw_name, "--", *argv]
        env = dict(os.environ)
        env.pop("PGDATA", None)
        env["LC_ALL"] = "C.UTF-8"
        if self._as_user is not None:
            env["HOME"] = str(self.tmpdir)
            env["USER"] = env["LOGNAME"] = self._as_user.pw_name
        proc = subprocess.run(
            argv,
            cwd=self.tmpdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout or self.start_timeout + 30,
        )
        if check and proc.returncode != 0:
            raise PostgresError(
                f"`{' '.join(argv)}` failed with exit code {proc.returncode}:\n"
                f"{proc.stdout}{proc.stderr}{self._log_tail()}"
            )
        return proc

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- {self.log_file} (tail) ---\n{tail}\n" if tail else ""

    def _initdb(self) -> None:
        base = [
            self._tool("initdb"),
            "-D", str(self.data_dir),
            "--auth=trust",
            "-U", SUPERUSER,
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        ]
        proc = self._run([*base, "--locale=C.UTF-8"], check=False)
        if proc.returncode != 0:
            # A libc without the C.UTF-8 locale: plain C collation still stores UTF-8.
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._run([*base, "--locale=C"])

    def _start_postgres(self) -> None:
        last_error: PostgresError | None = None
        for _attempt in range(5):
            self.port = free_port(self.host)
            options = f"-h {self.host} -p {self.port} -k {self.tmpdir} {_SERVER_FLAGS}"
            proc = self._run(
                [
                    self._tool("pg_ctl"),
                    "-D", str(self.data_dir),
                    "-l", str(self.log_file),
                    "-w", "-t", str(self.start_timeout),
                    "-o", options,
                    "start",
                ],
                check=False,
            )
            if proc.returncode == 0:
                self._running = True
                return
            log = self._log_tail()
            last_error = PostgresError(
                f"PostgreSQL failed to start on {self.host}:{self.port} (pg_ctl exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}{log}"
            )
            # Port grabbed by someone else between free_port() and bind: retry on a new one.
            if "could not bind" not in log and "already in use" not in log:
                break
            self._run([self._tool("pg_ctl"), "-D", str(self.data_dir), "stop", "-m", "immediate"], check=False)
        assert last_error is not None
        raise last_error
