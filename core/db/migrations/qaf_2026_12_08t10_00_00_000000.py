"""Follow-ups awaiting a person (issue 19 item 1): ``follow_up_assignee``,
one row for each person in a follow-up's ``assignees`` list, indexed by the
person; and ``action_owner_status``, one owner's actions by status and due date.

"Follow-ups awaiting me" (the actions page and every home) looked for the
person in the JSON list of every open follow-up of the council: 4,674 at
scale 1, 60-130 ms of SQL, and no index on either database reaches inside a
JSON list. The list stays the record; this table is written with it
(``core.services.follow_ups``) and filled here from the follow-ups already
held (``json_each`` on SQLite, ``jsonb_array_elements_text`` on PostgreSQL)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db.engine import current

ID = "2026-12-08T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "follow_up_assignee: who each follow-up asks, by person; action_owner_status"


def _statements(engine_type: str) -> list[str]:
    key = "SERIAL PRIMARY KEY" if engine_type == "postgres" else "INTEGER PRIMARY KEY"
    if engine_type == "postgres":
        people = "jsonb_array_elements_text(CAST(f.assignees AS jsonb)) AS j(value)"
    else:
        people = "json_each(f.assignees) AS j"
    return [
        f"""CREATE TABLE follow_up_assignee (
            id {key},
            follow_up INTEGER NOT NULL REFERENCES follow_up (id) ON DELETE CASCADE,
            person INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT
        )""",
        # A person once per follow-up (the unique index below).
        f"""INSERT INTO follow_up_assignee (follow_up, person)
            SELECT DISTINCT f.id, CAST(j.value AS INTEGER) FROM follow_up f, {people} ORDER BY 1, 2""",
        "CREATE UNIQUE INDEX follow_up_assignee_person ON follow_up_assignee (person, follow_up)",
        "CREATE INDEX follow_up_assignee_follow_up ON follow_up_assignee (follow_up)",
        # The Actions page and every home: one owner's open actions by due
        # date, and their closed ones (through ``action_open_due`` SQLite
        # walked every open action of the council for one owner's).
        "CREATE INDEX action_owner_status ON action (owner, status, due_at)",
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="qaf", description=DESCRIPTION)

    async def run():
        engine = current()
        for statement in _statements(engine.engine_type):
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
