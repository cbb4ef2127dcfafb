#!/usr/bin/env bash
# Makes sure two PgBouncer instances run on loopback in front of the local PostgreSQL
# (127.0.0.1:5432), for the compatibility tests (tests/suite/compat_pgbouncer.rs); safe to run again
# and again, and by several processes at once (a lock).
#   - installs Debian's pgbouncer with apt when missing
#   - 127.0.0.1:6432  pool_mode = transaction  (Supabase's and most managed services' default)
#   - 127.0.0.1:6433  pool_mode = session
#   - each has its admin console: database `pgbouncer` (admin users postgres and root; the
#     role palmdb_pool_monitor may read SHOW ... as a stats user)
#   - any database name reaches the database of the same name on 5432 (`* = ...`), 5 server
#     connections per database and user, auth_type trust (the test server trusts loopback too)
#   - config, pid files and logs under ~/.cache/palmdb/pgbouncer; pgbouncer refuses to run as
#     root, so it runs as `postgres` (-u) when started by root
# Usage: scripts/ensure-pgbouncer.sh [stop]
set -euo pipefail

log() { echo "ensure-pgbouncer: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

dir=${PALMDB_PGBOUNCER_DIR:-$HOME/.cache/palmdb/pgbouncer}
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

if [ "${1:-}" = stop ]; then
  for mode in transaction session; do
    pid_file=$dir/$mode/pgbouncer.pid
    if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      kill "$(cat "$pid_file")"
      log "stopped the $mode instance"
    fi
  done
  exit 0
fi

if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  log "installing pgbouncer"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 pgbouncer >/dev/null
  # The package starts its own instance on 6432 from /etc/pgbouncer: ours own that port here.
  as_root systemctl disable --now pgbouncer >/dev/null 2>&1 || as_root service pgbouncer stop >/dev/null 2>&1 || true
fi
bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

run_as=()
owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  run_as=(-u postgres)
  owner=postgres
fi

# port mode
start_instance() {
  local port=$1 mode=$2
  local home=$dir/$mode
  mkdir -p "$home"
  cat >"$home/pgbouncer.ini.new" <<EOF
; Written by scripts/ensure-pgbouncer.sh: palmdb's compatibility tests ($mode pooling).
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $home/userlist.txt
admin_users = postgres, root
stats_users = palmdb_pool_monitor
pool_mode = $mode
default_pool_size = 5
reserve_pool_size = 0
max_client_conn = 500
server_lifetime = 3600
server_idle_timeout = 60
; what drivers send at startup and PgBouncer cannot pass on to a shared server
ignore_startup_parameters = extra_float_digits
logfile = $home/pgbouncer.log
pidfile = $home/pgbouncer.pid
EOF
  : >"$home/userlist.txt.new"
  for user in postgres root palmdb_pool_monitor; do
    echo "\"$user\" \"\"" >>"$home/userlist.txt.new"
  done
  mv "$home/userlist.txt.new" "$home/userlist.txt"
  local changed=1
  if [ -f "$home/pgbouncer.ini" ] && cmp -s "$home/pgbouncer.ini.new" "$home/pgbouncer.ini"; then
    changed=0
  fi
  mv "$home/pgbouncer.ini.new" "$home/pgbouncer.ini"
  if [ "$(id -u)" = 0 ]; then
    # pgbouncer runs as postgres: it must reach its folder (the path through $HOME included).
    chown -R "$owner" "$home"
    local d=$home
    while [ "$d" != / ]; do
      d=$(dirname "$d")
      [ -d "$d" ] && chmod o+x "$d" 2>/dev/null || true
    done
  fi
  local pid_file=$home/pgbouncer.pid
  if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    if [ "$changed" = 1 ]; then
      log "restarting the $mode instance on $port (configuration changed)"
      kill "$(cat "$pid_file")"
      for _ in $(seq 50); do kill -0 "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
    else
      return 0
    fi
  fi
  log "starting the $mode instance on 127.0.0.1:$port"
  "$bin" -d "${run_as[@]}" "$home/pgbouncer.ini" 9>&-   # never hand the lock to the server
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "pgbouncer ($mode) did not start; its log:"
  tail -n 20 "$home/pgbouncer.log" >&2 || true
  exit 1
}

start_instance 6432 transaction
start_instance 6433 session
