"""Partnership reports, scorecard and audit programme (issue 14 items 4-8):
scorecard indicators as data and their changes, a quarter's scorecard, the
year's audit programme and its themes, and a multi-agency audit's findings
and recommendations (CSCP-2, 3, 5, 6, 8)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-05T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "scorecard_indicator, indicator_change, scorecard_quarter, audit_programme(_theme), request_finding, request_recommendation"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    org = "organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT"
    return [
        f"""CREATE TABLE scorecard_indicator (
            id {key}, {org},
            key VARCHAR(64) NOT NULL,
            label VARCHAR(300) NOT NULL,
            priority VARCHAR(64) NOT NULL DEFAULT '',
            owner_agency VARCHAR(64) NOT NULL,
            definition TEXT NOT NULL DEFAULT '',
            direction VARCHAR(16) NOT NULL,
            unit VARCHAR(32) NOT NULL DEFAULT '',
            green DOUBLE PRECISION NOT NULL,
            amber DOUBLE PRECISION NOT NULL,
            active BOOLEAN NOT NULL DEFAULT TRUE,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            UNIQUE (organisation, key)
        )""",
        f"""CREATE TABLE indicator_change (
            id {key}, {org},
            indicator INTEGER NULL REFERENCES scorecard_indicator (id) ON DELETE RESTRICT,
            proposal JSON NOT NULL DEFAULT '{{}}',
            why TEXT NOT NULL DEFAULT '',
            workflow_key VARCHAR(130) NOT NULL,
            state VARCHAR(64) NOT NULL,
            proposed_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            proposed_at TIMESTAMPTZ NOT NULL,
            quorate BOOLEAN NULL,
            members_present INTEGER NULL,
            minute_reference VARCHAR(200) NOT NULL DEFAULT '',
            decided_by INTEGER NULL REFERENCES person (id) ON DELETE RESTRICT,
            decided_at TIMESTAMPTZ NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX indicator_change_organisation ON indicator_change (organisation)",
        f"""CREATE TABLE scorecard_quarter (
            id {key}, {org},
            year INTEGER NOT NULL,
            quarter INTEGER NOT NULL,
            workflow_key VARCHAR(130) NOT NULL,
            state VARCHAR(64) NOT NULL,
            created_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            UNIQUE (organisation, year, quarter)
        )""",
        f"""CREATE TABLE audit_programme (
            id {key}, {org},
            year INTEGER NOT NULL,
            workflow_key VARCHAR(130) NOT NULL,
            state VARCHAR(64) NOT NULL,
            created_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL,
            UNIQUE (organisation, year)
        )""",
        f"""CREATE TABLE audit_programme_theme (
            id {key},
            programme INTEGER NOT NULL REFERENCES audit_programme (id) ON DELETE RESTRICT,
            quarter INTEGER NOT NULL,
            theme VARCHAR(300) NOT NULL,
            UNIQUE (programme, quarter)
        )""",
        f"""CREATE TABLE request_finding (
            id {key}, {org},
            agency_request INTEGER NOT NULL REFERENCES agency_request (id) ON DELETE RESTRICT,
            line VARCHAR(64) NOT NULL,
            worked_well TEXT NOT NULL DEFAULT '',
            development TEXT NOT NULL DEFAULT '',
            recorded_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            recorded_at TIMESTAMPTZ NOT NULL,
            UNIQUE (agency_request, line)
        )""",
        f"""CREATE TABLE request_recommendation (
            id {key}, {org},
            agency_request INTEGER NOT NULL REFERENCES agency_request (id) ON DELETE RESTRICT,
            recommendation TEXT NOT NULL,
            agency VARCHAR(64) NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            by_whom VARCHAR(200) NOT NULL DEFAULT '',
            by_when DATE NOT NULL,
            raised_by INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
            raised_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE INDEX request_recommendation_request ON request_recommendation (agency_request)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
