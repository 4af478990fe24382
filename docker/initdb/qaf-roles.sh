#!/bin/sh
# Runs once, on the database's first start (postgres image:
# /docker-entrypoint-initdb.d). The owner role owns the database and runs
# the migrations; the app's role owns nothing and may only add to and read
# the trail (granted by `qaf migrate`; docs/trail.md).
# tests/test_commands.py runs this script too, with names of its own.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner="${QAF_OWNER_ROLE:-qaf_owner}" -v owner_password="$QAF_OWNER_PASSWORD" \
    -v app="${QAF_APP_ROLE:-qaf_app}" -v app_password="$QAF_APP_PASSWORD" \
    -v database="${QAF_DATABASE_NAME:-qaf}" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"database" OWNER :"owner";
\connect :"database"
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
