"""Action plans and learning records (CSCP-8, BED-6), and the plan, kind and
supervision review date of an action (BED-4).

``action.plan`` (a free-text label from before plans existed) is kept as it
is: dropping a column is not portable to every SQLite in use, and existing
rows keep their label. Plans are referred to by the new ``action_plan`` key.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-11-22T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "action plans, learning records, action plan/kind/review date"

_FK = "ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null"

# {id} is the engine's own auto-increment key (as Piccolo writes it).
STATEMENTS = [
    f"""CREATE TABLE "action_plan" ({{id}},
        "organisation" INTEGER NOT NULL REFERENCES "organisation" ("id") {_FK},
        "body" VARCHAR(64) NOT NULL DEFAULT '',
        "title" VARCHAR(200) NOT NULL DEFAULT '',
        "source_kind" VARCHAR(32) NOT NULL DEFAULT '',
        "source_detail" TEXT NOT NULL DEFAULT '',
        "allocation" INTEGER REFERENCES "allocation" ("id") {_FK},
        "dispute" INTEGER REFERENCES "dispute" ("id") {_FK},
        "status" VARCHAR(16) NOT NULL DEFAULT 'open',
        "created_by" INTEGER REFERENCES "person" ("id") {_FK},
        "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
        "completed_by" INTEGER REFERENCES "person" ("id") {_FK},
        "completed_at" TIMESTAMPTZ DEFAULT null)""",
    # A body's plans, open first: the monitoring list.
    'CREATE INDEX action_plan_body ON "action_plan" ("organisation", "body", "status")',
    f"""CREATE TABLE "learning_record" ({{id}},
        "organisation" INTEGER NOT NULL REFERENCES "organisation" ("id") {_FK},
        "action_plan" INTEGER NOT NULL REFERENCES "action_plan" ("id") {_FK},
        "learned" TEXT NOT NULL DEFAULT '',
        "channel" VARCHAR(64) NOT NULL DEFAULT '',
        "audience" VARCHAR(200) NOT NULL DEFAULT '',
        "shared_on" DATE NOT NULL DEFAULT CURRENT_DATE,
        "recorded_by" INTEGER REFERENCES "person" ("id") {_FK},
        "recorded_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)""",
    'CREATE INDEX learning_record_action_plan ON "learning_record" ("action_plan")',
    f'ALTER TABLE "action" ADD COLUMN "action_plan" INTEGER REFERENCES "action_plan" ("id") {_FK}',
    'CREATE INDEX action_action_plan ON "action" ("action_plan")',
    """ALTER TABLE "action" ADD COLUMN "kind" VARCHAR(32) NOT NULL DEFAULT ''""",
    'ALTER TABLE "action" ADD COLUMN "review_on" DATE DEFAULT null',
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        key = '"id" INTEGER PRIMARY KEY NOT NULL' if engine.engine_type == "sqlite" else '"id" SERIAL PRIMARY KEY NOT NULL'
        for statement in STATEMENTS:
            await engine.run_ddl(statement.replace("{id}", key))

    manager.add_raw(run)
    return manager
