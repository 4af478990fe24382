"""Summary tables of counts kept by deltas: each change adds what it changed
to its row, which the first change creates (an upsert). Two transactions
adding to one row both land, where a recount would let the later one
overwrite the earlier (PostgreSQL, read committed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from piccolo.table import Table

# Rows a statement carries: a rebuild adds tens of thousands of rows, and one
# statement a row was one round trip each (issue 18 item 5: at scale 1 the
# upgrade's rebuild spent minutes on them).
ROWS_A_STATEMENT = 500


def _literal(value) -> str:
    """A key or count written into the statement: an integer, or text quoted
    as SQL quotes it (the same on SQLite and PostgreSQL). Bound values went
    through Piccolo's query builder at about 13 microseconds each, most of a
    rebuild's own time at scale 1."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a count's key or value must be an integer or text, not {type(value).__name__}")
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


async def add_counts(table: type[Table], keys: Sequence[str], counts: Sequence[str], delta: Mapping[tuple, Sequence[int]]) -> None:
    """Add each delta (key values -> count values, in the order of ``keys``
    and ``counts``) to its row of ``table``; a delta of all noughts writes
    nothing. Call inside the transaction that made the change.

    The rows go in key order, several to a statement (each key once in a
    statement, as PostgreSQL's ON CONFLICT DO UPDATE requires), so two
    writers take the rows' locks in the same order."""
    from core.db.engine import current

    name = table._meta.tablename
    columns = (*keys, *counts)
    rows = ["(" + ", ".join(map(_literal, (*key, *values))) + ")" for key, values in sorted(delta.items()) if any(values)]
    for i in range(0, len(rows), ROWS_A_STATEMENT):
        await current().run_ddl(
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES {', '.join(rows[i : i + ROWS_A_STATEMENT])}"
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in counts)
        )
