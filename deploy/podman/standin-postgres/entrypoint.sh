#!/bin/sh
# The official postgres image's contract, the part docker-compose.yml uses: a
# first start initialises $PGDATA (UTF8) with POSTGRES_USER / POSTGRES_PASSWORD and
# creates POSTGRES_DB; then PostgreSQL serves on every interface with password auth.
set -eu
if [ "$(id -u)" = 0 ]; then
    chown -R postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # SQL_ASCII (what a C locale gives without --encoding) breaks the migration.
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    # Initialised on a private socket: until the real start, pg_isready (the health
    # check) finds nothing, so nobody connects to a server about to restart.
    init_socket=$(mktemp -d)
    pg_ctl --pgdata="$PGDATA" --wait --silent start \
        --options="-c listen_addresses='' -c unix_socket_directories=$init_socket"
    if [ "$database" != postgres ]; then
        createdb --host="$init_socket" --username="$user" "$database"
    fi
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
    echo "initialised $PGDATA: database $database, owner $user, UTF8"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
