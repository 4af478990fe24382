"""Sign-in as councils run it (issue 15): API tokens that expire and can be
revoked; every sign-in attempt kept for throttling (no password, and the
username and address only as keyed digests); a second factor (TOTP) and its
recovery codes for local accounts; and the identity-provider subject a person
signed in as (OpenID Connect)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-05T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "api_token expiry and revocation; sign_in_attempt; person TOTP; recovery_code; person.oidc_subject"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    return [
        "ALTER TABLE api_token ADD COLUMN expires_at TIMESTAMPTZ NULL",
        "ALTER TABLE api_token ADD COLUMN revoked_at TIMESTAMPTZ NULL",
        f"""CREATE TABLE sign_in_attempt (
            id {key},
            at TIMESTAMPTZ NOT NULL,
            account VARCHAR(64) NOT NULL,
            address VARCHAR(64) NOT NULL,
            person INTEGER NULL REFERENCES person (id) ON DELETE RESTRICT,
            outcome VARCHAR(32) NOT NULL
        )""",
        "CREATE INDEX sign_in_attempt_account ON sign_in_attempt (account, at)",
        "CREATE INDEX sign_in_attempt_address ON sign_in_attempt (address, at)",
        "ALTER TABLE person ADD COLUMN totp_secret VARCHAR(64) NOT NULL DEFAULT ''",
        "ALTER TABLE person ADD COLUMN totp_confirmed_at TIMESTAMPTZ NULL",
        "ALTER TABLE person ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE person ADD COLUMN oidc_subject VARCHAR(255) NOT NULL DEFAULT ''",
        f"""CREATE TABLE recovery_code (
            id {key},
            person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            code_hash VARCHAR(64) NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            used_at TIMESTAMPTZ NULL
        )""",
        "CREATE INDEX recovery_code_person ON recovery_code (person)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)
        # Tokens made before tokens expired last 90 days from now on, not for
        # ever. Plain SQL, frozen: no table class or service of today's code.
        import datetime as dt

        from piccolo.querystring import QueryString

        until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=90)
        await engine.run_querystring(QueryString("UPDATE api_token SET expires_at = {} WHERE expires_at IS NULL", until))

    manager.add_raw(run)
    return manager
