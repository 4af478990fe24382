"""The app's PostgreSQL role: it owns nothing and may only add to and read
the trail (PLAT-12, docs/trail.md).

With ``QAF_MIGRATE_DATABASE_URL`` set to the owner's URL, migrations run as
the owner, and after them the role of ``QAF_DATABASE_URL`` is granted exactly
what the app needs on every table there is (so a table a later migration
adds is granted too): rows of every table but the trail, which it may only
INSERT and SELECT, and the migrations' record, which it may only read.
"""

from __future__ import annotations

APP_TABLES = "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grants(role: str) -> list[str]:
    """The statements, run as the owner, that give ``role`` the app's rights."""
    role = quote_ident(role)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        APP_TABLES.format(role=role),
        # The trail: add and read, nothing else. (Its triggers refuse UPDATE,
        # DELETE and TRUNCATE too; these refuse them before any trigger, and
        # ALTER TABLE … DISABLE TRIGGER needs the owner.)
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON trail FROM {role}",
        # The trail's sealed words (PLAT-13): retention empties them in
        # place; nobody running as the app deletes them.
        f"REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON trail_text FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON migration FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]


async def grant_app_role(owner_url: str, app_url: str) -> str | None:
    """Grant the role of ``app_url`` its rights, connected as the owner.
    Returns the role's name, or None if it is the owner itself (then there
    is nothing to restrict, and revoking would take the owner's own rights)."""
    import asyncpg

    app = await asyncpg.connect(app_url)
    try:
        role = await app.fetchval("SELECT current_user")
    finally:
        await app.close()
    owner = await asyncpg.connect(owner_url)
    try:
        if role == await owner.fetchval("SELECT current_user"):
            return None
        async with owner.transaction():
            for statement in grants(role):
                await owner.execute(statement)
    finally:
        await owner.close()
    return role
