#!/bin/sh
# Runs a command as on a machine where PostgreSQL was never installed, to prove that `make demo` and
# `make test` then take the embedded path (docs/testing.md "Which PostgreSQL"). It needs root (unshare); the
# machine's own PostgreSQL keeps running, unseen:
# - its own network namespace: nothing answers at 127.0.0.1:5432 (Redis, which is not PostgreSQL, is
#   started inside on 127.0.0.1:6379 for the tests that use it);
# - its own mount namespace: /usr/lib/postgresql, /usr/share/postgresql*, /etc/postgresql* and
#   /run/postgresql are empty, so no PostgreSQL binary is on PATH or in /usr/lib/postgresql; /etc is a
#   copy without the `postgres` user; the project's .pgdata/ is an empty tmpfs, so the real one is untouched;
# - its own PID namespace: every process started inside (servers included) ends with the command.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" != --inside ]; then
    if [ "$(id -u)" -ne 0 ]; then echo "without_postgres: needs root (namespaces)" >&2; exit 2; fi
    if ! command -v ip >/dev/null 2>&1; then
        apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends iproute2 >&2
    fi
    scratch=$(mktemp -d /tmp/atlas-without-pg.XXXXXX)
    status=0
    unshare --mount --net --pid --fork --mount-proc --propagation private "$0" --inside "$scratch" "$@" \
        || status=$?
    rmdir "$scratch" 2>/dev/null || true
    exit "$status"
fi
scratch=$2
shift 2

ip link set lo up
mount -t tmpfs tmpfs "$scratch"
cp -a /etc "$scratch/etc"
rm -rf "$scratch/etc/postgresql" "$scratch/etc/postgresql-common"
for f in passwd group shadow gshadow; do
    if [ -f "$scratch/etc/$f" ]; then sed -i '/^postgres:/d' "$scratch/etc/$f"; fi
done
mount --bind "$scratch/etc" /etc
for d in /usr/lib/postgresql /usr/share/postgresql /usr/share/postgresql-common /run/postgresql; do
    if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d"; fi
done
mkdir -p "$root/.pgdata"
mount -t tmpfs tmpfs "$root/.pgdata"

for program in pg_ctl initdb postgres psql pg_isready; do
    if command -v "$program" >/dev/null 2>&1; then
        echo "without_postgres: $program is still found at $(command -v "$program")" >&2
        exit 1
    fi
done
if getent passwd postgres >/dev/null; then echo "without_postgres: user postgres still exists" >&2; exit 1; fi
if command -v redis-server >/dev/null 2>&1; then
    redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$scratch" --daemonize yes \
        --logfile "$scratch/redis.log"
fi
echo "without_postgres: no PostgreSQL binaries, no postgres user, nothing on 127.0.0.1:5432; running: $*" >&2
cd "$root"
"$@"
