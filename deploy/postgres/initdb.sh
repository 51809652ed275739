#!/bin/sh
# Run once by the postgres image when its data volume is new (docker-entrypoint-initdb.d):
# the role `serve` and `worker` use beside the owner `licensor migrate` uses, so the
# application cannot switch the audit trail's append-only triggers off (docs/security.md).
set -eu
psql -v ON_ERROR_STOP=1 -v app_password="$DATABASE_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE licensor LOGIN PASSWORD :'app_password';
-- Through PgBouncer Licensor sends no startup options: the statement timeout is the role's.
ALTER ROLE licensor SET statement_timeout = '10s';
ALTER DEFAULT PRIVILEGES FOR ROLE licensor_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO licensor;
ALTER DEFAULT PRIVILEGES FOR ROLE licensor_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO licensor;
SQL
