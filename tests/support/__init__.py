"""Real test infrastructure: a throw-away PostgreSQL server, a loopback SMTP
server and headless Chromium helpers (with axe-core accessibility checks).

The pytest fixtures live in :mod:`support.fixtures`; load them with
``pytest_plugins = ["support.fixtures"]`` in ``tests/conftest.py``.
"""
