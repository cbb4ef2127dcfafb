#!/usr/bin/env bash
# The demo: a fresh palm_demo database, migrated, and palmdb's view of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-postgres.sh
cargo build --release --quiet
palmdb=./target/release/palmdb
export DATABASE_URL=${DEMO_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/palm_demo}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS palm_demo WITH (FORCE)" -c "CREATE DATABASE palm_demo"
step palmdb migrate
$palmdb migrate
step palmdb migrate status
$palmdb migrate status

# palmdb backup: a consistent backup of the demo database, then what the backup folder holds.
export BACKUP_DIR=${DEMO_BACKUP_DIR:-/tmp/palm_demo_backups}
step palmdb backup create --json
$palmdb backup create --json
step palmdb backup list
$palmdb backup list
step palmdb backup status --max-age 24h
$palmdb backup status --max-age 24h

step palmdb health
# health exits 1 on warnings and 2 on criticals (the Nagios convention); on a freshly loaded
# demo database warnings are expected (e.g. stale statistics: autovacuum is off on CI) and
# showing them is the point, so only 3 (cannot connect or read) stops this `set -e` script.
health_status=0
$palmdb health --format table || health_status=$?
[ "$health_status" -le 2 ] || exit "$health_status"
step palmdb maintain --dry-run
$palmdb maintain --dry-run
