"""Piccolo's configuration module: the engine comes from qaf's settings.

``core.db.engine.bind`` replaces ``DB`` at run time (tests switch between
SQLite and PostgreSQL in one process).
"""

from piccolo.conf.apps import AppRegistry

from core.db.engine import engine_for
from core.settings import get_settings

DB = engine_for(get_settings().database_url)

APP_REGISTRY = AppRegistry(apps=["core.db.piccolo_app"])
