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
    # PLAT-13: how many whole years each kind of record is kept after it
    # closed before `qaf retention --apply` anonymises it; None keeps it for
    # ever (core/services/retention.py, docs/retention.md).
    retain_years: dict[str, int | None] = msgspec.field(default_factory=lambda: dict(RETAIN_YEARS))
    # PLAT-14: who may read /metrics: these addresses or networks, or anyone
    # sending ``Authorization: Bearer <metrics_token>``.
    metrics_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    metrics_token: str = ""
    # Logs: one JSON object a line, plain text, or "auto" (text when stderr is a terminal).
    log_format: str = "auto"
    # Sessions (issue 15): signed out after this many minutes without a
    # request, and this many hours after signing in whatever happens.
    session_idle_minutes: int = 30
    session_max_hours: int = 10
    # Local usernames and passwords; off when every member of staff signs in
    # through the council's identity provider (OpenID Connect).
    local_passwords: bool = True
    # Administrators and the QA team give a second factor (TOTP) after their
    # local password; "off" only for demonstrations and the test suite.
    second_factor: bool = True
    # OpenID Connect (Microsoft Entra ID or any provider): the issuer whose
    # /.well-known/openid-configuration is read, this app's client id and
    # secret, and the provider's roles (app roles, or group ids) that give
    # each qaf role, "provider value=role key", first match wins.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_roles: tuple[tuple[str, str], ...] = ()
    oidc_provider_name: str = "your organisation's account"
    # Who a person who cannot sign in should ask, in the words the pages use.
    sign_in_contact: str = "your council's qaf administrator"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")
    # PLAT-7: an agency respondent's access ends after this many days without
    # signing in (QAF_RESPONDENT_IDLE_DAYS); their agency lead may invite them again.
    respondent_idle_days: int = 90
    # PLAT-10: how long an emailed invitation to choose a first password
    # works (QAF_INVITATION_DAYS), and a "forgot your password" link
    # (QAF_PASSWORD_RESET_MINUTES).
    invitation_days: int = 7
    password_reset_minutes: int = 60

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# PLAT-13: the defaults, each a default for the council to change to its own
# retention schedule (docs/retention.md): six years after closing, the "6+"
# most councils' schedules give quality-assurance and management records
# (Limitation Act 1980); notifications, copies of what the records say, two.
RETAIN_YEARS: dict[str, int | None] = {
    "audits": 6,
    "disputes": 6,
    "actions": 6,
    "follow_ups": 6,
    "work": 6,
    "notifications": 2,
}


def _retain_years(env: dict[str, str]) -> dict[str, int | None]:
    """``QAF_RETAIN_<KIND>_YEARS``: a whole number of years (1 to 100), or
    ``never``."""
    out = dict(RETAIN_YEARS)
    for kind in RETAIN_YEARS:
        name = f"QAF_RETAIN_{kind.upper()}_YEARS"
        raw = env.get(name, "").strip().lower()
        if not raw:
            continue
        if raw == "never":
            out[kind] = None
        elif raw.isdigit() and 1 <= int(raw) <= 100:
            out[kind] = int(raw)
        else:
            raise SettingsError(f"{name} must be a whole number of years from 1 to 100, or never, not {raw!r}")
    return out


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _positive(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number above 0, not {raw!r}")
    return int(raw)


def _networks(value: str) -> tuple[str, ...]:
    import ipaddress

    networks = _list(value)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise SettingsError(f"QAF_METRICS_ALLOW: {network!r} is not an address or network (such as 10.0.0.0/8)") from None
    return networks


def _choice(env: dict[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or allowed[0]
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value
def _role_map(value: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in _list(value):
        claim, sep, role = part.rpartition("=")
        if not sep or not claim.strip() or not role.strip():
            raise SettingsError(f"QAF_OIDC_ROLES must be 'provider role=qaf role' pairs separated by commas, not {part!r}")
        pairs.append((claim.strip(), role.strip()))
    return tuple(pairs)


def _secret_key(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Created with owner-only permissions: the key signs session and CSRF
    # cookies. Written whole to a file of this process's own, then linked
    # into place: processes starting at once on a new data directory (`qaf
    # serve --workers 2`, the suite's processes) all end up with the one key,
    # and none reads a key half written.
    own = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        try:
            os.link(own, path)
        except FileExistsError:
            key = path.read_text().strip()
    finally:
        own.unlink()
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
        retain_years=_retain_years(env),
        metrics_allow=_networks(env.get("QAF_METRICS_ALLOW", "127.0.0.1,::1")),
        metrics_token=env.get("QAF_METRICS_TOKEN", ""),
        log_format=_choice(env, "QAF_LOG_FORMAT", ("auto", "json", "text")),
        session_idle_minutes=_positive(env, "QAF_SESSION_IDLE_MINUTES", 30),
        session_max_hours=_positive(env, "QAF_SESSION_MAX_HOURS", 10),
        local_passwords=not env.get("QAF_LOCAL_PASSWORDS", "").strip() or _flag(env.get("QAF_LOCAL_PASSWORDS", "")),
        second_factor=env.get("QAF_SECOND_FACTOR", "required").strip().lower() not in {"off", "0", "false", "no"},
        oidc_issuer=env.get("QAF_OIDC_ISSUER", "").strip().rstrip("/"),
        oidc_client_id=env.get("QAF_OIDC_CLIENT_ID", "").strip(),
        oidc_client_secret=env.get("QAF_OIDC_CLIENT_SECRET", ""),
        oidc_roles=_role_map(env.get("QAF_OIDC_ROLES", "")),
        oidc_provider_name=env.get("QAF_OIDC_PROVIDER_NAME", "").strip() or "your organisation's account",
        sign_in_contact=env.get("QAF_SIGN_IN_CONTACT", "").strip() or "your council's qaf administrator",
        respondent_idle_days=_days(env, "QAF_RESPONDENT_IDLE_DAYS", 90),
        invitation_days=_days(env, "QAF_INVITATION_DAYS", 7),
        password_reset_minutes=_positive(env, "QAF_PASSWORD_RESET_MINUTES", 60),
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
