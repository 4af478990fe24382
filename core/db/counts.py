"""Summary tables of counts kept by deltas: each change adds what it changed
to its row, which the first change creates (an upsert). Two transactions
adding to one row both land, where a recount would let the later one
overwrite the earlier (PostgreSQL, read committed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from piccolo.table import Table

# Rows a statement carries: a rebuild adds tens of thousands of rows, and one
# statement a row was one round trip each (issue 18 item 5: at scale 1 the
# upgrade's rebuild spent minutes on them). 400 rows of at most 10 values stay
# well inside both databases' limits on bound values (SQLite 32,766, asyncpg 32,767).
ROWS_A_STATEMENT = 400


async def add_counts(table: type[Table], keys: Sequence[str], counts: Sequence[str], delta: Mapping[tuple, Sequence[int]]) -> None:
    """Add each delta (key values -> count values, in the order of ``keys``
    and ``counts``) to its row of ``table``; a delta of all noughts writes
    nothing. Call inside the transaction that made the change.

    The rows go in key order, several to a statement (each key once in a
    statement, as PostgreSQL's ON CONFLICT DO UPDATE requires), so two
    writers take the rows' locks in the same order."""
    name = table._meta.tablename
    columns = (*keys, *counts)
    row = "(" + ", ".join("{}" for _ in columns) + ")"
    rows = [(*key, *values) for key, values in sorted(delta.items()) if any(values)]
    for i in range(0, len(rows), ROWS_A_STATEMENT):
        chunk = rows[i : i + ROWS_A_STATEMENT]
        sql = (
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES {', '.join(row for _ in chunk)}"
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in counts)
        )
        await table.raw(sql, *(value for values in chunk for value in values))
