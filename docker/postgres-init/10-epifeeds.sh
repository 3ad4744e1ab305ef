#!/usr/bin/env bash
# Runs once, when the postgres service initialises an empty data directory
# (mounted at /docker-entrypoint-initdb.d by docker-compose.yml).
#   - databases `warehouse` (epifeeds landing/dbt/dq schemas) and `airflow` (Airflow metadata),
#     owned by the superuser the platform connects as (POSTGRES_USER);
#   - role + database `metabase` for Metabase's own application database;
#   - role `bi_reader`: a read-only login for BI tools on the warehouse. It only gets CONNECT here;
#     USAGE/SELECT on the marts schema are granted by the platform once dbt has created it.
# Passwords come from the service's environment (METABASE_DB_PASSWORD, BI_READER_PASSWORD).
set -euo pipefail
: "${METABASE_DB_PASSWORD:?set METABASE_DB_PASSWORD (docker/env.example)}"
: "${BI_READER_PASSWORD:?set BI_READER_PASSWORD (docker/env.example)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
    -v superuser="$POSTGRES_USER" \
    -v metabase_password="$METABASE_DB_PASSWORD" \
    -v bi_reader_password="$BI_READER_PASSWORD" <<'SQL'
SELECT 'CREATE DATABASE warehouse OWNER ' || quote_ident(:'superuser')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'warehouse') \gexec
SELECT 'CREATE DATABASE airflow OWNER ' || quote_ident(:'superuser')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'airflow') \gexec

SELECT 'CREATE ROLE metabase LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'metabase') \gexec
ALTER ROLE metabase WITH LOGIN PASSWORD :'metabase_password';
SELECT 'CREATE DATABASE metabase OWNER metabase'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'metabase') \gexec

SELECT 'CREATE ROLE bi_reader LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bi_reader') \gexec
ALTER ROLE bi_reader WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    CONNECTION LIMIT 20 PASSWORD :'bi_reader_password';
-- Defaults for every session (a session may change them; its privileges are what hold: bi_access.py).
ALTER ROLE bi_reader SET default_transaction_read_only = on;
ALTER ROLE bi_reader SET statement_timeout = '120s';
ALTER ROLE bi_reader SET idle_in_transaction_session_timeout = '60s';
REVOKE ALL ON DATABASE warehouse FROM PUBLIC;
GRANT CONNECT ON DATABASE warehouse TO bi_reader;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE metabase FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE template1 FROM PUBLIC;
GRANT ALL ON DATABASE metabase TO metabase;
SQL
