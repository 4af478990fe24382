"""The returns of agency requests, found by index on SQLite too (issue 19).

``allocation_agency_request`` indexes every audit, and all but the
partnership's returns have no request: at scale 1, 99,975 rows of NULL.
SQLite's statistics (``ANALYZE``, which the generated data and any
``PRAGMA optimize`` leave) then say that one request has 99,975 returns, and
the planner read the whole ``allocation`` table for six requests' returns
instead: the partnership's "Requests to agencies" page took 170 ms of CPU a
request, and 23 s from a cold disk. This index holds only the returns, so its
statistics say what they are (20 rows, 4 a request); SQLite uses it for any
``agency_request = ?`` or ``IN (…)``, which implies ``IS NOT NULL``
(0.7 ms). PostgreSQL planned well without it; the same SQL keeps the two
databases alike."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-09T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "allocation_agency_request_set: agency returns by their request, without the audits that answer none"

STATEMENTS = [
    "CREATE INDEX allocation_agency_request_set ON allocation (agency_request) WHERE agency_request IS NOT NULL",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
