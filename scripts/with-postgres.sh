#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server on loopback, then stop it.
#
#   scripts/with-postgres.sh pytest -q
#
# The server lives in a temporary directory, listens on 127.0.0.1 on a free port, and
# is stopped and deleted when the command ends (or fails, or is interrupted). The
# command sees LICENSOR_TEST_DATABASE_URL and LICENSOR_TEST_PG_BIN. initdb refuses to
# run as root, so as root the server runs as the unprivileged "postgres" user.
set -euo pipefail

pg_bin=""
for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [[ -x "$dir/initdb" ]]; then pg_bin="$dir"; break; fi
done
if [[ -z "$pg_bin" ]]; then
  pg_bin="$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"
fi
if [[ ! -x "$pg_bin/initdb" ]]; then
  echo "with-postgres: PostgreSQL server binaries not found; install Debian's 'postgresql' package" >&2
  exit 1
fi

as_owner=()
if [[ $(id -u) -eq 0 ]]; then
  owner=postgres
  id -u "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
  as_owner=(runuser -u "$owner" --)
fi

workdir="$(mktemp -d -t licensor-pg.XXXXXX)"
chmod 755 "$workdir"
[[ ${#as_owner[@]} -gt 0 ]] && chown "$owner" "$workdir"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
  "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap stop EXIT INT TERM

"${as_owner[@]}" "$pg_bin/initdb" -D "$workdir/data" -U licensor --auth=trust -E UTF8 \
  --locale=C.UTF-8 >"$workdir/initdb.log" 2>&1 || { cat "$workdir/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $port -k $workdir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null || { cat "$workdir/server.log" >&2; exit 1; }
"$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U licensor licensor_test

export LICENSOR_TEST_DATABASE_URL="postgresql+psycopg://licensor@127.0.0.1:$port/licensor_test"
export LICENSOR_TEST_PG_BIN="$pg_bin"
echo "with-postgres: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit $status
