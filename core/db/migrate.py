"""Run the committed migrations against the bound engine."""

from __future__ import annotations

import contextlib
import io
import logging

from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager

log = logging.getLogger("qaf.db")


async def migrate() -> str:
    """Apply every pending migration; safe to call on every start.

    Piccolo prints its progress; it is captured and returned (and logged)
    so commands that print their own output stay readable.
    """
    manager = ForwardsMigrationManager(app_name="qaf", migration_id="all", fake=False)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = await manager.run()
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}\n{printed.getvalue()}")
    log.info("migrations: %s", printed.getvalue().strip().replace("\n", "; "))
    return printed.getvalue()
