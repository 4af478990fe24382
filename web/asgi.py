"""The app for each worker process of ``qaf serve --workers N`` (uvicorn's
factory): settings from the same QAF_ variables, logs as the parent's."""

from __future__ import annotations

import os


def worker_app():
    from core.logs import configure
    from core.settings import get_settings
    from web.app import create_app

    settings = get_settings()
    configure(settings.log_format, access=os.environ.get("QAF_ACCESS_LOG", "1") != "0")
    return create_app(settings)
