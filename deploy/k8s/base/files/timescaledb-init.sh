#!/bin/sh
# TimescaleDB first-start initialisation (docker-entrypoint-initdb.d: runs once, on an empty data
# directory, as the superuser). The ingest creates the schema itself on start
# (nexus/ingest/schema.py); it needs the extension enabled by a superuser and a role that owns
# the database, so it never runs as the superuser.
set -eu
: "${NEXUS_DB_USER:?is not set (Secret nexus-secrets)}"
: "${NEXUS_DB_PASSWORD:?is not set (Secret nexus-secrets)}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_user="$NEXUS_DB_USER" -v app_password="$NEXUS_DB_PASSWORD" -v app_db="$POSTGRES_DB" <<'SQL'
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
ALTER DATABASE :"app_db" OWNER TO :"app_user";
ALTER SCHEMA public OWNER TO :"app_user";
SQL
