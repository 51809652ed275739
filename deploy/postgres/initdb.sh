#!/bin/sh
# Run once by the postgres image when its data volume is new (docker-entrypoint-initdb.d):
# the role `serve` and `worker` use (DATABASE_USER, default licensor) beside the owner
# `licensor migrate` uses (POSTGRES_USER), so the application cannot switch the audit
# trail's append-only triggers off (docs/security.md). docs/deploy.md does the same on a
# host by hand.
set -eu
psql -v ON_ERROR_STOP=1 -v owner="$POSTGRES_USER" -v app="${DATABASE_USER:-licensor}" \
  -v app_password="$DATABASE_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE :"app" LOGIN PASSWORD :'app_password';
-- Through PgBouncer Licensor sends no startup options: the statement timeout is the role's.
ALTER ROLE :"app" SET statement_timeout = '10s';
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app";
SQL
