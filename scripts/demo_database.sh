#!/bin/sh
# Prints the DATABASE_URL the demo should use: the configured one, else the
# server on 127.0.0.1:5432, else a throwaway cluster kept in .pgdata/ in the
# project folder (started as a non-root user, on port 54329).
set -eu
cd "$(dirname "$0")/.."
if [ -n "${DATABASE_URL:-}" ]; then echo "$DATABASE_URL"; exit 0; fi
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "postgresql://postgres@127.0.0.1:5432/atlas_demo"; exit 0
fi
port=54329
if ! pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
    mkdir -p .pgdata
    if [ "$(id -u)" -eq 0 ]; then chown "${ATLAS_PG_USER:-postgres}" .pgdata; fi
    if [ ! -f .pgdata/data/PG_VERSION ]; then
        scripts/pg_ctl_nonroot initdb -D "$PWD/.pgdata/data" -o "--username=postgres --auth=trust" >&2
    fi
    scripts/pg_ctl_nonroot start -w -D "$PWD/.pgdata/data" -l "$PWD/.pgdata/postgresql.log" \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$PWD/.pgdata'" >&2
fi
echo "postgresql://postgres@127.0.0.1:$port/atlas_demo"
