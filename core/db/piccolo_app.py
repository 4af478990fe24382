import os

from piccolo.conf.apps import AppConfig

from core.db.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="qaf",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "migrations"),
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)
