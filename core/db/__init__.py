"""Piccolo tables, engine and migrations.

``PICCOLO_CONF`` must name our conf module before any table is imported, so
it is set here, in the package every table import passes through.
"""

import os

os.environ.setdefault("PICCOLO_CONF", "core.db.piccolo_conf")
