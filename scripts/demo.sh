#!/usr/bin/env bash
# The demo: a fresh palm_demo database, migrated and filled with synthetic data; one user's
# stats; health checks; a backup, verified and restored into a second database; the admin API.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-postgres.sh
cargo build --release --quiet
palmdb=./target/release/palmdb
export DATABASE_URL=${DEMO_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/palm_demo}

# The demo's own backup folder, emptied first so `backup list` shows this run only.
export BACKUP_DIR=${DEMO_BACKUP_DIR:-/tmp/palm_demo_backups}
rm -rf -- "${BACKUP_DIR:?}" && mkdir -p -- "$BACKUP_DIR"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS palm_demo WITH (FORCE)" -c "CREATE DATABASE palm_demo"
step palmdb migrate
$palmdb migrate
step palmdb migrate status
$palmdb migrate status

# Stats: a small synthetic dataset, then one user's figures and a page of orders.
step palmdb demo-data --users 2000 --seed 1
$palmdb demo-data --users 2000 --seed 1
demo_user=$(psql "$DATABASE_URL" -Atc "SELECT upper(email) FROM users ORDER BY (SELECT count(*) FROM preorders AS p WHERE p.user_id = users.id) DESC, id LIMIT 1")
step palmdb stats user "$demo_user"
$palmdb stats user "$demo_user"
step palmdb stats orders --status refunded --limit 5
$palmdb stats orders --status refunded --limit 5
step palmdb stats orders --status shipped
$palmdb stats orders --status shipped || echo "(exit $?)"

# palmdb health and maintain: the checks a DBA runs first, and what maintenance would do.
step palmdb health
# health exits 1 on warnings and 2 on criticals (the Nagios convention); on a freshly loaded
# demo database warnings are expected (e.g. a cold cache right after loading) and
# showing them is the point, so only 3 (cannot connect or read) stops this `set -e` script.
health_status=0
$palmdb health --format table || health_status=$?
[ "$health_status" -le 2 ] || exit "$health_status"
step palmdb maintain --dry-run
$palmdb maintain --dry-run


# palmdb backup: a consistent backup of the demo database, then what the backup folder holds.
step palmdb backup create --json
$palmdb backup create --json
step palmdb backup list
$palmdb backup list
step palmdb backup status --max-age 24h
$palmdb backup status --max-age 24h


# palmdb backup verify and restore: prove the newest backup whole and restorable, restore it
# into a second database the restore creates (every object from the schema the backup holds,
# over two connections, the database named only once complete), and
# compare the row counts table by table; the restored database is at the backup's migration
# version.
step palmdb backup verify latest --restore-test
$palmdb backup verify latest --restore-test
restored_url=${DATABASE_URL%/*}/palm_demo_restored
PGOPTIONS=--client-min-messages=warning psql "${DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS palm_demo_restored WITH (FORCE)"
step "DATABASE_URL=.../palm_demo_restored palmdb restore latest --create-database   (a new database, named once complete)"
DATABASE_URL=$restored_url $palmdb restore latest --create-database
step "DATABASE_URL=.../palm_demo_restored palmdb migrate status"
DATABASE_URL=$restored_url $palmdb migrate status
step "row counts: palm_demo vs palm_demo_restored"
counts="SELECT 'users', count(*) FROM users UNION ALL SELECT 'preorders', count(*) FROM preorders
        UNION ALL SELECT 'palm_analysis_sessions', count(*) FROM palm_analysis_sessions
        UNION ALL SELECT 'user_images', count(*) FROM user_images
        UNION ALL SELECT 'webhook_logs', count(*) FROM webhook_logs"
original=$(psql "$DATABASE_URL" -AtF ' ' -c "$counts")
restored=$(psql "$restored_url" -AtF ' ' -c "$counts")
paste -d ' ' <(echo "$original") <(echo "$restored" | cut -d' ' -f2) | awk '{ printf "%-24s %10s %10s\n", $1, $2, $3 }'
if [ "$original" = "$restored" ]; then
    echo "counts match"
else
    echo "counts differ" >&2
    exit 1
fi

# palmdb serve: the admin API on a free loopback port, with a throwaway token.
step "PALMDB_ADMIN_TOKEN=... palmdb serve --listen 127.0.0.1:0 &"
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
serve_log=$(mktemp)
PALMDB_ADMIN_TOKEN=$token $palmdb serve --listen 127.0.0.1:0 2>"$serve_log" &
serve_pid=$!
for _ in $(seq 50); do
    base=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$serve_log" | head -1 || true)
    [[ -n "$base" ]] && break
    sleep 0.1
done
cat "$serve_log"
step "curl $base/health   (no token)"
curl -s -o /dev/null -w '%{http_code}\n' "$base/health"
step "curl -H 'Authorization: Bearer ...' $base/health"
health_body=$(curl -s -H "Authorization: Bearer $token" "$base/health")
sed -n 1,12p <<<"$health_body"
echo "  ..."
step "curl -H 'Authorization: Bearer ...' $base/metrics | grep -E '^palmdb_(up|health_status|backup_status)'"
metrics_body=$(curl -s -H "Authorization: Bearer $token" "$base/metrics")
grep -E '^palmdb_(up|health_status|backup_status) ' <<<"$metrics_body"
step "kill -TERM \$serve_pid"
kill -TERM "$serve_pid"
wait "$serve_pid" && echo "exited $?"
rm -f "$serve_log"

