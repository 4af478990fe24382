"""Standing grades: the latest auditor, moderated and final grade of each
domain of each audit, kept beside the grade chain, so reports and the QA
queue read one row per domain instead of searching the chain (issue: scale)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import upkeep
from core.db.engine import current

ID = "2026-11-22T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "standing_grade: the latest grade of each phase per audit and domain; follow-up report indexes"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    stamp = "TIMESTAMP WITH TIME ZONE" if engine_type == "postgres" else "TIMESTAMPTZ"
    return [
        f"""CREATE TABLE standing_grade (
            id {key},
            allocation INTEGER NOT NULL REFERENCES allocation (id) ON DELETE RESTRICT,
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            domain VARCHAR(64) NOT NULL DEFAULT '',
            due_at {stamp} NOT NULL,
            previous INTEGER NULL,
            auditor INTEGER NULL,
            team INTEGER NOT NULL DEFAULT 0,
            auditor_level VARCHAR(64) NULL,
            moderated_level VARCHAR(64) NULL,
            final_level VARCHAR(64) NULL,
            final_rank SMALLINT NULL,
            final_grade INTEGER NULL
        )""",
        # One row per audit and domain; refresh deletes by allocation.
        "CREATE UNIQUE INDEX standing_grade_allocation ON standing_grade (allocation, domain)",
        # A report's period is a due_at range of one organisation: the figures
        # come from the index alone.
        "CREATE INDEX standing_grade_report ON standing_grade"
        " (organisation, due_at, domain, final_level, auditor_level, moderated_level, final_rank, previous, allocation)",
        # Re-audit movement: only re-audits (a partial index; about one audit in twelve).
        "CREATE INDEX standing_grade_reaudit ON standing_grade (organisation, due_at, domain, final_rank, previous)"
        " WHERE previous IS NOT NULL",
        # One domain over a span (a report's trend reads the overall grade of
        # each earlier period; quotes walk one domain back from the latest).
        "CREATE INDEX standing_grade_domain ON standing_grade (organisation, domain, due_at, final_rank, final_level)",
        # The report's follow-up counts: opened in a period; closed in it, and
        # still open (done_at NULL) or done after a date, past their due date.
        "CREATE INDEX follow_up_report_opened ON follow_up (organisation, created_at)",
        "CREATE INDEX follow_up_report_done ON follow_up (organisation, done_at, due_at, created_at)",
        # Escalations raised in a period: the period's notifications, by instant.
        # (Partial: escalations are a small share of all notifications.)
        "CREATE INDEX notification_escalations ON notification (organisation, created_at, kind, allocation)"
        " WHERE kind >= 'escalation:' AND kind < 'escalation;'",
        # "Audits I completed most recently": an auditor's, newest first, a page at a time.
        "CREATE INDEX allocation_auditor_finalised ON allocation (auditor, finalised_at, id)",
        # A report's counts (allocated, completed, on time, overdue) from the index alone.
        "CREATE INDEX allocation_report_counts ON allocation (organisation, due_at, finalised_at, submitted_at)",
        f"""CREATE TABLE grade_month (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            month VARCHAR(7) NOT NULL,
            domain VARCHAR(64) NOT NULL,
            final_level VARCHAR(64) NOT NULL,
            final_rank SMALLINT NOT NULL,
            n INTEGER NOT NULL DEFAULT 0,
            by_moderation INTEGER NOT NULL DEFAULT 0,
            by_dispute INTEGER NOT NULL DEFAULT 0
        )""",
        # The upsert's conflict target, and a report's range of months.
        "CREATE UNIQUE INDEX grade_month_key ON grade_month (organisation, month, domain, final_level, final_rank)",
        f"""CREATE TABLE agreement_month (
            id {key},
            organisation INTEGER NOT NULL REFERENCES organisation (id) ON DELETE RESTRICT,
            month VARCHAR(7) NOT NULL,
            auditor INTEGER NOT NULL,
            team INTEGER NOT NULL DEFAULT 0,
            moderated INTEGER NOT NULL DEFAULT 0,
            agreed INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE UNIQUE INDEX agreement_month_key ON agreement_month (organisation, month, auditor, team)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)
        # Filled after the migrations by today's code (core/db/upkeep.py),
        # never by importing the services into a migration (issue 18).
        await upkeep.request(engine)

    manager.add_raw(run)
    return manager
