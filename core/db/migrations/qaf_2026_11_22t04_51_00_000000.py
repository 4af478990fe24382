"""Constraints, report indexes and the append-only trail, on both engines."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-11-22T04:51:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "constraints, report indexes, append-only trail"

COMMON = [
    # One cycle per organisation and month: issuing twice is a no-op, not a duplicate.
    "CREATE UNIQUE INDEX cycle_org_month ON cycle (organisation, year, month)",
    "CREATE UNIQUE INDEX child_case_org_external ON child_case (organisation, external_id)",
    # "My audits": an auditor's allocations by state.
    "CREATE INDEX allocation_auditor_state ON allocation (auditor, state, due_at)",
    # The QA queue: an organisation's allocations in one state, oldest first.
    "CREATE INDEX allocation_org_state ON allocation (organisation, state, updated_at)",
    # Grade reports group by phase/domain/level within an organisation.
    "CREATE INDEX grade_report ON grade (organisation, phase, domain, level, allocation)",
    "CREATE INDEX grade_chain ON grade (allocation, phase, domain)",
    "CREATE INDEX notification_inbox ON notification (recipient, read_at, created_at)",
    "CREATE INDEX notification_outbox ON notification (email_state, email_next_at)",
    "CREATE INDEX trail_entity ON trail (entity, entity_id, at)",
    "CREATE INDEX deadline_open ON deadline (status, due_at)",
]

SQLITE = [
    """CREATE TRIGGER trail_no_update BEFORE UPDATE ON trail
       BEGIN SELECT RAISE(ABORT, 'the trail is append-only'); END""",
    """CREATE TRIGGER trail_no_delete BEFORE DELETE ON trail
       BEGIN SELECT RAISE(ABORT, 'the trail is append-only'); END""",
]

POSTGRES = [
    """CREATE FUNCTION trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the trail is append-only'; END $$""",
    """CREATE TRIGGER trail_no_change BEFORE UPDATE OR DELETE ON trail
       FOR EACH ROW EXECUTE FUNCTION trail_append_only()""",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        statements = COMMON + (SQLITE if engine.engine_type == "sqlite" else POSTGRES)
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
