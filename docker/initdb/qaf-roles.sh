#!/bin/sh
# Runs once, on the database's first start (postgres image:
# /docker-entrypoint-initdb.d). The owner role owns the database and runs
# the migrations; the app's role owns nothing and may only add to and read
# the trail (granted by `qaf migrate`; docs/trail.md).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$QAF_OWNER_PASSWORD" -v app_password="$QAF_APP_PASSWORD" <<'SQL'
CREATE ROLE qaf_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE qaf_app LOGIN PASSWORD :'app_password';
CREATE DATABASE qaf OWNER qaf_owner;
\connect qaf
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
