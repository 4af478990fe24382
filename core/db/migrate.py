"""Run the committed migrations against the bound engine."""

from __future__ import annotations

from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager


async def migrate() -> None:
    """Apply every pending migration; safe to call on every start."""
    manager = ForwardsMigrationManager(app_name="qaf", migration_id="all", fake=False)
    result = await manager.run()
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}")
