#!/usr/bin/env bash
# Load benchmark of `palmdb serve` (not a test): 50 concurrent clients on loopback for 30 s
# against GET /health and GET /metrics, with wrk. Reports requests/s, latency p50/p99, errors
# (socket errors + non-2xx answers), the health queries the server ran, the transactions the
# benchmark database committed during the run (the database's view of them) and the most database
# sessions `palmdb serve` held, sampled from pg_stat_activity every 200 ms. Writes
# docs/benchmarks/serve.md.
#
#   bash scripts/bench-serve.sh          (takes /tmp/palmdb-bench.lock; about 2 minutes)
#
# Env: BENCH_DURATION (30s), BENCH_CLIENTS (50), BENCH_POOL (4), BENCH_ADMIN_URL
# (postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${PALMDB_BENCH_LOCKED:-}" != 1 ]]; then
    # Build before taking the lock, so other benchmarks do not wait for the compiler.
    cargo build --release --quiet
    export PALMDB_BENCH_LOCKED=1
    exec flock /tmp/palmdb-bench.lock bash "$0" "$@"
fi

DURATION=${BENCH_DURATION:-30s}
CLIENTS=${BENCH_CLIENTS:-50}
POOL=${BENCH_POOL:-4}
ADMIN_URL=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=palmdb_bench_serve
DB_URL=${ADMIN_URL%/*}/$DB
OUT=docs/benchmarks/serve.md
WORK=$(mktemp -d)
SERVER_PID=

cleanup() {
    [[ -n "$SERVER_PID" ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
    echo "installing wrk..." >&2
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
bash scripts/ensure-postgres.sh >/dev/null
cargo build --release --quiet
palmdb=./target/release/palmdb

# A small Palm database, migrated, with one backup so /metrics has backup figures too.
psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
DATABASE_URL=$DB_URL $palmdb migrate >/dev/null
psql "$DB_URL" -q >/dev/null <<'SQL'
CREATE TABLE bench_items (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO bench_items SELECT g, 'item ' || g FROM generate_series(1, 100000) g;
ANALYZE bench_items;
SQL
DATABASE_URL=$DB_URL $palmdb backup create --quiet --dir "$WORK/backups" >/dev/null

TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Starts the server with extra flags; sets BASE and SERVER_PID.
start_server() {
    DATABASE_URL=$DB_URL PALMDB_ADMIN_TOKEN=$TOKEN $palmdb serve --listen 127.0.0.1:0 \
        --dir "$WORK/backups" --pool-size "$POOL" "$@" 2>"$WORK/serve.log" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        BASE=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/serve.log" | head -1 || true)
        [[ -n "$BASE" ]] && return 0
        sleep 0.1
    done
    echo "palmdb serve did not start:" >&2; cat "$WORK/serve.log" >&2; exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID"
    SERVER_PID=
}

# The most sessions named `palmdb serve` seen while the file $WORK/sampling exists.
sample_sessions() {
    local max=0 n
    while [[ -e "$WORK/sampling" ]]; do
        n=$(psql "$ADMIN_URL" -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'palmdb serve' AND datname = '$DB'")
        (( n > max )) && max=$n
        sleep 0.2
    done
    echo "$max" >"$WORK/max_sessions"
}

# Transactions committed in the benchmark database so far (the statistics collector's view).
committed() {
    psql "$ADMIN_URL" -Atc "SELECT pg_stat_clear_snapshot(); SELECT xact_commit FROM pg_stat_database WHERE datname = '$DB'" | tail -1
}

# Converts wrk's latency ("1.23ms", "850.00us", "1.02s") to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
        else { printf "%s", v }
    }'
}

ROWS=()
# run LABEL PATH [serve flags...]
run() {
    local label=$1 path=$2
    shift 2
    start_server "$@"
    # Warm up the pool and the cache, and check the endpoint answers 200.
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE$path")
    [[ "$code" == 200 ]] || { echo "$path answered $code before the run" >&2; exit 1; }
    local xact_before xact_after
    xact_before=$(committed)
    touch "$WORK/sampling"
    sample_sessions &
    local sampler=$!
    wrk -t2 -c"$CLIENTS" -d"$DURATION" --latency --timeout 10s \
        -H "Authorization: Bearer $TOKEN" "$BASE$path" >"$WORK/wrk.txt"
    rm -f "$WORK/sampling"
    wait "$sampler"
    local collections
    collections=$(curl -s -H "Authorization: Bearer $TOKEN" "$BASE/metrics" \
        | awk '/^palmdb_health_collections_total / {print $2}')
    # Stopping the server ends its sessions, which flushes their statistics.
    stop_server
    sleep 0.5
    xact_after=$(committed)
    cat "$WORK/wrk.txt" >&2
    local rps p50 p99 requests socket non2xx errors
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/wrk.txt")
    requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")")
    socket=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$WORK/wrk.txt")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/wrk.txt")
    errors=$(( ${socket:-0} + ${non2xx:-0} ))
    ROWS+=("| \`GET $path\` | $label | $requests | $rps | $p50 | $p99 | $errors | $collections | $((xact_after - xact_before)) | $(cat "$WORK/max_sessions") / $POOL |")
}

run "cache 1 s (default)" /health
run "cache 1 s (default)" /metrics
run "no cache (\`--cache-ttl 0s\`): single-flight only" /health --cache-ttl 0s
run "no cache (\`--cache-ttl 0s\`): single-flight only" /metrics --cache-ttl 0s

mkdir -p docs/benchmarks
{
    echo "# \`palmdb serve\` under load"
    echo
    echo "Measured by \`bash scripts/bench-serve.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, shared;"
    echo "PostgreSQL $(psql "$ADMIN_URL" -Atc 'SHOW server_version' | cut -d' ' -f1), release build)."
    echo "wrk: $CLIENTS connections, 2 threads, $DURATION per row, loopback, a valid bearer token."
    echo "Database: migrated, one 100,000-row table, one backup. Pool size $POOL."
    echo "Errors are socket errors plus non-2xx answers. Sessions: the most \`palmdb serve\`"
    echo "sessions in \`pg_stat_activity\`, sampled every 200 ms during the run, against the pool size."
    echo "Health queries: \`palmdb_health_collections_total\` at the end of the run (the server's own"
    echo "count, warm-up included). DB transactions: \`xact_commit\` of the benchmark database over"
    echo "the run, the database's own view: about three per health query (tokio-postgres prepares, then"
    echo "executes; the pool checks the connection before reuse)."
    echo
    echo "| endpoint | server | requests | requests/s | p50 ms | p99 ms | errors | health queries | DB transactions | max DB sessions |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
} >"$OUT"
cat "$OUT"
