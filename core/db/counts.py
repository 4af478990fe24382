"""Summary tables of counts kept by deltas: each change adds what it changed
to its row, which the first change creates (an upsert). Two transactions
adding to one row both land, where a recount would let the later one
overwrite the earlier (PostgreSQL, read committed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from piccolo.table import Table


async def add_counts(table: type[Table], keys: Sequence[str], counts: Sequence[str], delta: Mapping[tuple, Sequence[int]]) -> None:
    """Add each delta (key values -> count values, in the order of ``keys``
    and ``counts``) to its row of ``table``; a delta of all noughts writes
    nothing. Call inside the transaction that made the change."""
    name = table._meta.tablename
    columns = (*keys, *counts)
    sql = (
        f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('{}' for _ in columns)})"
        f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in counts)
    )
    for key, values in sorted(delta.items()):
        if any(values):
            await table.raw(sql, *key, *values)
