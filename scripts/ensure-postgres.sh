#!/usr/bin/env bash
# Makes sure a PostgreSQL server is installed, running and reachable at 127.0.0.1:5432 on a
# Debian machine, with what the tests need; safe to run again and again.
#   - installs postgresql (and the C libraries palmdb builds against, libclang for pg_query's
#     bindings) with apt if absent
#   - creates and starts the cluster if it is down, with ssl=on (TLS tests)
#   - lets local connections in as `postgres` without a password (a test machine's setup)
#   - members of the role palmdb_password_auth must log in with a password (auth tests)
#   - pg_stat_statements is preloaded and HypoPG installed (insights: queries, advise);
#     enabling the preload restarts the cluster once
#   - autovacuum is off, so tests that count dead rows see the rows they made
set -euo pipefail

log() { echo "ensure-postgres: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
need_packages=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_packages+=(postgresql postgresql-contrib)
dpkg -s libssl-dev >/dev/null 2>&1 || need_packages+=(libssl-dev)
# pg_query (advise parses SQL with PostgreSQL's parser) generates its bindings with libclang.
dpkg -s libclang-dev >/dev/null 2>&1 || need_packages+=(libclang-dev)
command -v pkg-config >/dev/null 2>&1 || need_packages+=(pkg-config)
# The hardening tests: a TLS certificate for serve, the manifest hash checked by hand.
command -v openssl >/dev/null 2>&1 || need_packages+=(openssl)
command -v jq >/dev/null 2>&1 || need_packages+=(jq)
command -v python3 >/dev/null 2>&1 || need_packages+=(python3)
if [ ${#need_packages[@]} -gt 0 ]; then
  log "installing ${need_packages[*]}"
  as_root apt-get update -qq && apt_updated=1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need_packages[@]}" >/dev/null
fi
export apt_updated

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  log "creating cluster $version/main"
  as_root pg_createcluster "$version" main >/dev/null
fi
if ! dpkg -s "postgresql-$version-hypopg" >/dev/null 2>&1; then
  log "installing postgresql-$version-hypopg"
  [ "$apt_updated" = 1 ] || { as_root apt-get update -qq && apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    "postgresql-$version-hypopg" >/dev/null
fi
conf_dir=/etc/postgresql/$version/main
hba=$conf_dir/pg_hba.conf

set_conf() { # name value: append to conf.d so package upgrades keep the main file clean
  mkdir -p "$conf_dir/conf.d"
  local file=$conf_dir/conf.d/50-palmdb-tests.conf
  touch "$file"
  grep -q "^$1 " "$file" 2>/dev/null && sed -i "/^$1 /d" "$file"
  echo "$1 = $2" >>"$file"
}
if ! grep -Rqs "^ssl *= *on" "$conf_dir/postgresql.conf" "$conf_dir/conf.d"; then
  set_conf ssl on
fi
if ! grep -Rqs "^listen_addresses" "$conf_dir/postgresql.conf" "$conf_dir/conf.d"; then
  set_conf listen_addresses "'127.0.0.1'"
fi
# The dead-row tests count the dead rows they made: autovacuum must not remove them mid-test
# (a fresh Debian cluster has it on).
needs_reload=0
if ! grep -Rqs "^autovacuum *= *off" "$conf_dir/postgresql.conf" "$conf_dir/conf.d"; then
  set_conf autovacuum off
  needs_reload=1
fi
needs_restart=0
if ! grep -Rqs "^shared_preload_libraries *= *'[^']*pg_stat_statements" "$conf_dir/postgresql.conf" "$conf_dir/conf.d"; then
  set_conf shared_preload_libraries "'pg_stat_statements'"
  needs_restart=1
fi

# pg_hba.conf: the first matching line wins, so palmdb's two lines go first, in this order:
# password logins for the auth tests' group, then password-less local logins for everyone
# else (a fresh Debian cluster asks 127.0.0.1 for scram-sha-256 further down).
wanted=$'host all +palmdb_password_auth 127.0.0.1/32 scram-sha-256 # palmdb tests\nhost all all 127.0.0.1/32 trust # palmdb tests: local test server only'
changed_hba=0
if [ "$(head -n 2 "$hba")" != "$wanted" ]; then
  others=$(grep -v '# palmdb tests' "$hba" || true)
  printf '%s\n%s\n' "$wanted" "$others" >"$hba"
  changed_hba=1
fi

if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
  log "starting cluster $version/main"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
elif [ $needs_restart = 1 ]; then
  log "restarting cluster $version/main to preload pg_stat_statements"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main restart
elif [ $changed_hba = 1 ]; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi

for _ in $(seq 1 60); do
  if pg_isready -q -h 127.0.0.1 -p 5432; then break; fi
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p 5432 || { log "PostgreSQL did not start; see /var/log/postgresql/"; exit 1; }

# The hba change above may have been made while the server ran: make sure it is read.
if [ $changed_hba = 1 ] || [ $needs_reload = 1 ]; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
fi

psql -h 127.0.0.1 -U postgres -d postgres -qAtc \
  "DO \$\$ BEGIN
     IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'palmdb_password_auth') THEN
       CREATE ROLE palmdb_password_auth NOLOGIN;
     END IF;
   END \$\$;" >/dev/null
log "PostgreSQL $version is running at 127.0.0.1:5432"
