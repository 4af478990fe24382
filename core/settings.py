"""Deployment settings, read once from ``QAF_*`` environment variables.

Every setting has a safe default so ``qaf serve`` works on a fresh machine:
the embedded SQLite file lives in ``QAF_DATA_DIR`` and a secret key is
generated there on first use rather than shipped in the code.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

import msgspec


class SettingsError(ValueError):
    """A QAF_ setting that cannot work; the message says which and why."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    data_dir: Path
    database_url: str
    councils: tuple[str, ...]
    secret_key: str
    # Plugins named here are not loaded (datasette-style allow/block lists).
    plugins_block: tuple[str, ...] = ()
    # Log every hook call and which plugin answered (QAF_PLUGINS_TRACE=1).
    plugins_trace: bool = False
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_tls: str = "none"  # none | starttls | tls
    smtp_username: str = ""
    smtp_password: str = ""
    mail_from: str = "qaf@localhost"
    base_url: str = "http://127.0.0.1:8000"
    # How often the background sweep issues due cycles and acts on deadlines.
    sweep_seconds: int = 60
    debug: bool = False
    # PostgreSQL connection pool size; 0 opens a connection per query.
    database_pool_size: int = 10
    # PLAT-6: the largest evidence file accepted, in bytes (10 MiB).
    evidence_max_bytes: int = 10 * 1024 * 1024
    # PostgreSQL: the owner's URL, for migrations; the app then connects
    # (database_url) as a role that owns nothing (core/db/roles.py).
    migrate_database_url: str = ""
    # PLAT-7: an agency respondent's access ends after this many days without
    # signing in (QAF_RESPONDENT_IDLE_DAYS); their agency lead may invite them again.
    respondent_idle_days: int = 90

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _positive(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of bytes above 0, not {raw!r}")
    return int(raw)


def _secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Created with owner-only permissions: the key signs session and CSRF cookies.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("QAF_DATA_DIR", "var")).resolve()
    database_url = env.get("QAF_DATABASE_URL") or f"sqlite:///{data_dir / 'qaf.sqlite3'}"
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        councils=_list(env.get("QAF_COUNCILS", "haringey")),
        secret_key=env.get("QAF_SECRET_KEY") or _secret_key(data_dir),
        plugins_block=_list(env.get("QAF_PLUGINS_BLOCK", "")),
        plugins_trace=_flag(env.get("QAF_PLUGINS_TRACE", "")),
        smtp_host=env.get("QAF_SMTP_HOST", ""),
        smtp_port=int(env.get("QAF_SMTP_PORT", "25")),
        # Mail to a host is encrypted unless the deployment says otherwise.
        smtp_tls=env.get("QAF_SMTP_TLS") or ("starttls" if env.get("QAF_SMTP_HOST") else "none"),
        smtp_username=env.get("QAF_SMTP_USERNAME", ""),
        smtp_password=env.get("QAF_SMTP_PASSWORD", ""),
        mail_from=env.get("QAF_MAIL_FROM", "qaf@localhost"),
        base_url=env.get("QAF_BASE_URL", "http://127.0.0.1:8000"),
        sweep_seconds=int(env.get("QAF_SWEEP_SECONDS", "60")),
        debug=_flag(env.get("QAF_DEBUG", "")),
        database_pool_size=int(env.get("QAF_DATABASE_POOL_SIZE", "10")),
        evidence_max_bytes=_positive(env, "QAF_EVIDENCE_MAX_BYTES", 10 * 1024 * 1024),
        migrate_database_url=env.get("QAF_MIGRATE_DATABASE_URL", ""),
        respondent_idle_days=_days(env, "QAF_RESPONDENT_IDLE_DAYS", 90),
    )


def _days(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of days above 0, not {raw!r}")
    return int(raw)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
